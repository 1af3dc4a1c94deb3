#!/usr/bin/env bash
# Creates .venv and installs Latentloom into it; does nothing when already up to date.
# The pinned CPU torch goes in first: an unpinned torch requirement would pull gigabytes of CUDA packages.
set -euo pipefail
cd "$(dirname "$0")/.."
TORCH_VERSION="${LATENTLOOM_TORCH:-2.13.0}"
VENV=.venv
PY="$VENV/bin/python"
stamp="$VENV/.latentloom-installed"
want="$(sha256sum pyproject.toml | cut -d' ' -f1) torch==$TORCH_VERSION"

compile_sources() {
    # Byte-compile our packages (a few milliseconds when nothing changed): where PYTHONDONTWRITEBYTECODE is set,
    # Python never caches them, and every server start, `latentloom run` and test subprocess would compile them
    # again, a third of a second each. A file that does not compile is reported when it is imported.
    "$PY" -m compileall -q graph_engine model_library nodes web latentloom cluster >/dev/null 2>&1 || true
}

if [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
    compile_sources
    exit 0
fi

pip_install() {
    # this machine's pip configuration names local indexes that warn for every package: keep only real messages
    local log rc=0
    log=$(mktemp)
    "$PY" -m pip install --quiet --disable-pip-version-check "$@" >"$log" 2>&1 || rc=$?
    grep -v "is ignored: it is neither" "$log" >&2 || true
    rm -f "$log"
    return $rc
}

echo "setting up .venv (once)..." >&2
[ -x "$PY" ] || python3 -m venv "$VENV"
pip_install "torch==$TORCH_VERSION"
pip_install -e ".[test]"
if "$PY" -c "import torchvision" >/dev/null 2>&1; then
    echo "torchvision got installed; it breaks transformers and diffusers here: uninstall it" >&2
    exit 1
fi
compile_sources
echo "$want" > "$stamp"
