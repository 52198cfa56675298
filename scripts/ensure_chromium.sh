#!/bin/sh
# Make sure a Chromium exists for the browser tests: keep one that is there, else Playwright's
# own download (where its host is reachable), else Debian's chromium package (as root).
set -u
PY="${1:-.venv/bin/python}"

if [ -n "${AUTHFETCH_CHROMIUM:-}" ] && [ -x "$AUTHFETCH_CHROMIUM" ]; then exit 0; fi
if command -v chromium >/dev/null 2>&1; then exit 0; fi
if "$PY" - <<'PYEOF' 2>/dev/null
import os, sys
from playwright.sync_api import sync_playwright
with sync_playwright() as p:
    sys.exit(0 if os.path.exists(p.chromium.executable_path) else 1)
PYEOF
then exit 0; fi

echo "ensure_chromium: trying Playwright's own Chromium download" >&2
if timeout 300 "$PY" -m playwright install chromium >/dev/null 2>&1; then exit 0; fi

if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "ensure_chromium: installing Debian's chromium package" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null && exit 0
fi
echo "ensure_chromium: no Chromium found and none could be installed; set AUTHFETCH_CHROMIUM=/path/to/chromium" >&2
exit 1
