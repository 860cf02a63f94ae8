#!/usr/bin/env bash
# The oldest transformers that pyproject.toml admits (transformers>=4.46), actually tested: a
# venv with the CPU build of torch 2.13.0, transformers 4.46.x and the package, then the
# core tests. Run from anywhere; needs PyPI (transformers 4.46 and its tokenizers/hub pins).
#
#   bash scripts/test_lowest_transformers.sh             # ~4 min the first time on 2 CPU cores
#   TRANSFORMERS_SPEC="transformers==4.57.6" bash scripts/test_lowest_transformers.sh
#
# The venv is kept (SURPRISAL_LOWEST_VENV, default .venv-lowest) so a rerun only tests.
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1
export PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
venv=${SURPRISAL_LOWEST_VENV:-.venv-lowest}
spec=${TRANSFORMERS_SPEC:-transformers==4.46.3}
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
# shellcheck disable=SC1091
. "$venv/bin/activate"
python -m pip install -q torch==2.13.0                   # the CPU build first, so nothing pulls CUDA
python -m pip install -q "$spec" -e ".[test]"            # the pinned transformers wins the resolve
python -c "import torch, transformers; print('torch', torch.__version__, '| transformers', transformers.__version__)"
# The core: every score path against the float64 oracle, deltas (KV-cache reuse), generation.
python -m pytest -q -p no:cacheprovider tests/test_score.py tests/test_delta.py "$@"
