#!/bin/sh
# Make sure WebKit can run for the WebKit scenarios (tests/browser/test_webkit.py): Debian's
# WebKitWebDriver (webkit2gtk-driver, which brings WebKitGTK's MiniBrowser) and a virtual
# display (xvfb) for it. Playwright cannot drive Debian's WebKit and cannot download its own
# here; Selenium (a pinned test dependency) drives WebKitWebDriver. Kept if present, else
# installed as root; without them the WebKit tests skip, naming what is missing.
set -u
MINIBROWSER=/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/MiniBrowser
have() {
  [ -x /usr/bin/WebKitWebDriver ] && [ -x "$MINIBROWSER" ] && { [ -n "${DISPLAY:-}" ] || command -v Xvfb >/dev/null 2>&1; }
}
if have; then exit 0; fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "ensure_webkit: installing Debian's webkit2gtk-driver and xvfb packages" >&2
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq webkit2gtk-driver xvfb >/dev/null) && have && exit 0
fi
echo "ensure_webkit: WebKitWebDriver, MiniBrowser or Xvfb missing and not installable: the WebKit tests will skip" >&2
exit 0
