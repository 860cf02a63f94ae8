#!/usr/bin/env bash
# One prepared GPU session (fits in ~8 minutes on an H100/H200): the GPU tests, then the
# GPU benchmark on the three bf16 shapes with a corpus small enough for the time box.
# Run from the repository root:  bash benchmarks/gpu_check.sh [python]
set -u
PY=${1:-python}
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" HF_HUB_OFFLINE=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
timeout 240 "$PY" -m pytest -q -p no:cacheprovider tests/test_gpu.py -W ignore::FutureWarning
echo "tests exit $?"
timeout 330 "$PY" benchmarks/bench_gpu.py --n-texts 1000 \
    --shapes gpt2-small,qwen2.5-0.5b,llama-1b --methods surprisal,surprisal-packed,hf-batched
echo "bench exit $?"
