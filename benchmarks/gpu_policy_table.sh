#!/usr/bin/env bash
# The policy table on one GPU: the hunyuan engine in benchmark mode (random weights), the same
# trace against none, fixed (2) and dynamic, a fresh `foleyserve serve` each (docs/benchmarks.md).
# Each policy runs as its own command so that a run cut short still leaves the ones before it.
#   OUT=out benchmarks/gpu_policy_table.sh [count=20] [rate_per_s=1.0] [steps=10] [duration_s=8]
set -u
OUT=${OUT:-out}
count=${1:-20} rate=${2:-1.0} steps=${3:-10} duration=${4:-8}
mkdir -p "$OUT"
export FOLEYSERVE_ENGINE=hunyuan FOLEYSERVE_HUNYUAN_RANDOM_WEIGHTS=true PYTHONUNBUFFERED=1
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
for policy in none fixed dynamic; do
  python3 -m foleyserve bench policies --policy "$policy" --fit-from "$policy" \
    --rate "$rate" --count "$count" --durations "$duration" --steps "$steps" \
    --work-dir /tmp/bench-gpu --save "$OUT/gpu-$policy.json" >>"$OUT/gpu.txt" 2>&1
  tail -n 30 "/tmp/bench-gpu/$policy-1w/server.log" >>"$OUT/gpu.txt" 2>/dev/null
done
nvidia-smi --query-gpu=name,memory.total --format=csv >>"$OUT/gpu.txt" 2>&1
