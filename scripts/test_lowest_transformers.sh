#!/usr/bin/env bash
# The oldest transformers that pyproject.toml admits (transformers>=4.53), actually tested: a
# venv with the CPU build of torch 2.13.0, transformers 4.53.0 and the package, then the
# core tests. Run from anywhere; needs PyPI (transformers 4.53 and its tokenizers/hub pins).
# 4.46-4.52 work with torch 2.13 but fail on Gemma-2 with a shared prefix (a HybridCache of
# the prefix's length cannot take the targets), hence 4.53.
#
#   bash scripts/test_lowest_transformers.sh             # about 5 min on 2 CPU cores (3.5 min tests)
#   TRANSFORMERS_SPEC="transformers==4.57.6" bash scripts/test_lowest_transformers.sh -x
#
# The venv is kept (SURPRISAL_LOWEST_VENV, default .venv-lowest) so a rerun only tests.
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1
export PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
venv=${SURPRISAL_LOWEST_VENV:-.venv-lowest}
spec=${TRANSFORMERS_SPEC:-transformers==4.53.0}
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
# shellcheck disable=SC1091
. "$venv/bin/activate"
python -m pip install -q torch==2.13.0                   # the CPU build first, so nothing pulls CUDA
python -m pip install -q "$spec" -e ".[test]"            # the pinned transformers wins the resolve
python -c "import torch, transformers; print('torch', torch.__version__, '| transformers', transformers.__version__)"
# The core: every score path against the float64 oracle, deltas (KV-cache reuse), and the
# packaging tests (no deprecation warning on the cache paths, import stays light).
python -m pytest -q -p no:cacheprovider tests/test_score.py tests/test_delta.py \
  tests/test_packaging.py "$@"
