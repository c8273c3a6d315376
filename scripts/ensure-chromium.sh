#!/usr/bin/env bash
# Make sure Debian's chromium exists: the dashboard's browser test drives it
# through Playwright's Python API (Playwright downloads no browser here).
# As root on Debian/Ubuntu we install it; otherwise we say exactly what to install.
set -euo pipefail

CHROMIUM=/usr/bin/chromium

if [ -x "$CHROMIUM" ]; then
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "chromium not found: installing it with apt-get (chromium), for the dashboard's browser test"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq chromium >/dev/null
  [ -x "$CHROMIUM" ] && exit 0
fi
echo "error: $CHROMIUM not found; the dashboard's browser test needs a headless Chromium there" \
     "(Debian: sudo apt-get install -y chromium) or run the tests without it: make test-fast" >&2
exit 1
