#!/bin/sh
# Make sure Debian's Firefox ESR exists for the Firefox scenarios (tests/browser/test_firefox.py):
# keep one that is there, else install the package (as root). Playwright drives it over
# WebDriver BiDi; its own Firefox build cannot be downloaded here. Without one the Firefox
# tests skip, naming the package.
set -u
if [ -n "${AUTHFETCH_FIREFOX:-}" ] && [ -x "$AUTHFETCH_FIREFOX" ]; then exit 0; fi
if command -v firefox-esr >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "ensure_firefox: installing Debian's firefox-esr package" >&2
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq firefox-esr >/dev/null) && exit 0
fi
echo "ensure_firefox: no firefox-esr found and none could be installed: the Firefox tests will skip (set AUTHFETCH_FIREFOX=/path/to/firefox)" >&2
exit 0
