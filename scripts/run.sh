#!/usr/bin/env bash
# Sets up (once) and runs the main job: the server with the canvas on http://127.0.0.1:8188, after writing the
# built-in demo model into models/checkpoints when that folder has no model, and the example picture that the
# img2img and inpaint workflows read into input/ when it is missing. Extra arguments go to `serve`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
models='\.(safetensors|ckpt|pt|pth|bin|sft)$'
if ! ls models/checkpoints 2>/dev/null | grep -qiE "$models"; then
    .venv/bin/latentloom demo-model    # writes input/example.png too
fi
[ -e input/example.png ] || .venv/bin/python -m latentloom.example_image input
exec .venv/bin/latentloom serve "$@"
