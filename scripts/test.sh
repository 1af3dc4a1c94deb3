#!/usr/bin/env bash
# Sets up (once) and runs the whole test suite, browser tests included.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/browser.sh
bash scripts/frontends.sh
# one worker per CPU (at most 4), a test file's tests on one worker (they share its servers); torch on one thread in
# each, so the workers do not fight over the cores (tiny test models gain nothing from more)
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
exec .venv/bin/python -m pytest -q -n auto --maxprocesses 4 --dist loadfile "$@"
