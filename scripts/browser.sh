#!/usr/bin/env bash
# Installs Debian's Chromium for the canvas tests when it is missing (Playwright drives it; its own browser
# downloads cannot work offline). Without root or apt the browser tests skip, saying why.
set -euo pipefail
[ -x /usr/bin/chromium ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing chromium for the canvas tests (once)..." >&2
    if ! { apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }; then
        echo "installing chromium failed: the canvas browser tests will skip" >&2
    fi
else
    echo "no /usr/bin/chromium and no way to install it here: the canvas browser tests will skip" >&2
fi
