#!/usr/bin/env bash
# Sets up (once) and runs the main job: the default text-to-image workflow on the first checkpoint in
# models/checkpoints, after writing the built-in demo model there when the folder has none.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
models='\.(safetensors|ckpt|pt|pth|bin|sft)$'
checkpoint=$(ls models/checkpoints 2>/dev/null | grep -iE "$models" | head -n 1 || true)
if [ -z "$checkpoint" ]; then
    .venv/bin/latentloom demo-model
    checkpoint=latentloom-demo-sd1-random-weights.safetensors
fi
exec .venv/bin/latentloom run workflows/text_to_image.json --set "4.ckpt_name=$checkpoint" "$@"
