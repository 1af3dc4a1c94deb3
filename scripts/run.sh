#!/usr/bin/env bash
# Sets up (once) and runs the main job: the bundled example workflow.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/latentloom run workflows/utility_example.json "$@"
