#!/usr/bin/env bash
# Sets up (once) and runs the whole test suite, browser tests included.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/browser.sh
bash scripts/frontends.sh
exec .venv/bin/python -m pytest -q "$@"
