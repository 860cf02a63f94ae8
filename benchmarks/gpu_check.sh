#!/usr/bin/env bash
# One prepared GPU session (about 9-10 minutes on an H100/H200): the GPU tests, the LM head
# alone (the Triton prototype of triton_head.py against fused_head, ~1 minute; it decides
# issue 13), then the GPU benchmark on the three bf16 shapes with a corpus small enough for
# the time box. tests/test_gpu.py includes the device-sync count (no sync per batch in
# packed and padded rows); bench_host.py --device cuda gives the host cost beside a GPU.
# Run from the repository root:  bash benchmarks/gpu_check.sh [python]
set -u
PY=${1:-python}
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" HF_HUB_OFFLINE=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
timeout 300 "$PY" -m pytest -q -p no:cacheprovider tests/test_gpu.py tests/test_triton_head.py \
    -W ignore::FutureWarning
echo "tests exit $?"
timeout 150 "$PY" benchmarks/bench_gpu.py --triton-head only
echo "head bench exit $?"
timeout 330 "$PY" benchmarks/bench_gpu.py --n-texts 1000 --triton-head no \
    --shapes gpt2-small,qwen2.5-0.5b,llama-1b --methods surprisal,surprisal-packed,hf-batched
echo "bench exit $?"
timeout 120 "$PY" benchmarks/bench_host.py --n-texts 5000 --repeats 1 --device cuda
echo "host bench exit $?"
