#!/usr/bin/env bash
# Puts an older ComfyUI frontend (1.35.9) beside the one the test extra installs, for the browser tests that serve
# it with --front-end-root; once. Without it those tests skip, saying why.
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=1.35.9
TARGET=".venv/frontends/comfyui-$VERSION"
[ -f "$TARGET/comfyui_frontend_package/static/index.html" ] && exit 0
echo "installing ComfyUI's frontend $VERSION for the browser tests (once)..." >&2
log=$(mktemp)
if ! .venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps --target "$TARGET" \
        "comfyui-frontend-package==$VERSION" >"$log" 2>&1; then
    grep -v "is ignored: it is neither" "$log" >&2 || true
    echo "installing ComfyUI's frontend $VERSION failed: its browser tests will skip" >&2
    rm -rf "$TARGET"
fi
rm -f "$log"
