#!/usr/bin/env bash
# Runs the GPU checks of docs/gpu.md on a CUDA machine, from the repository root, with gpu/ made by
# tools/gpu_pack.sh. Writes logs and JSON to $OUT (default gpu/out).
#   tools/gpu_check.sh parity      CLIP (f32, bf16) and model (f32) parity fixtures on CUDA
#   tools/gpu_check.sh bench       avad bench on CUDA + tools/bench_official.py (official PyTorch code, HF CLIP)
#   tools/gpu_check.sh xd-train    synthetic features of XD-Violence's size, then `avad train --preset xd-teacher`
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=${OUT:-$ROOT/gpu/out}
mkdir -p "$OUT"
export CUDA_PATH=${CUDA_PATH:-/usr/local/cuda}
export LD_LIBRARY_PATH=$CUDA_PATH/lib64:${LD_LIBRARY_PATH:-}
# CubeCL: keep compiled kernels and autotune results under target/ so a second run does not pay NVRTC again.
printf '[compilation]\ncache = "target"\n\n[autotune]\ncache = "target"\n' > cubecl.toml
for f in gpu/*.xz; do [ -f "${f%.xz}" ] || xz -dk "$f"; done
chmod +x gpu/avad gpu/parity-* 2>/dev/null
# The test binaries read fixtures from the path they were built at (/work/main).
if [ ! -d /work/main/fixtures ]; then mkdir -p /work && ln -sfn "$ROOT" /work/main; fi
AVAD=$ROOT/gpu/avad

parity() {
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee "$OUT/gpu.txt"
  timeout 200 gpu/parity-clip --test-threads 1 --nocapture > "$OUT/parity-clip-f32.log" 2>&1
  echo "parity-clip f32 rc=$?"
  AVAD_TEST_DTYPE=bf16 timeout 200 gpu/parity-clip --test-threads 1 --nocapture > "$OUT/parity-clip-bf16.log" 2>&1
  echo "parity-clip bf16 rc=$?"
  timeout 200 gpu/parity-model --test-threads 1 --nocapture > "$OUT/parity-model-f32.log" 2>&1
  echo "parity-model f32 rc=$?"
  grep -h "test result\|FAILED\|panicked" "$OUT"/parity-*.log
}

# The official code imports ftfy, regex, torchvision, pkg_resources, scipy and tqdm at import time; where the machine
# lacks them, install the carried wheels (ftfy, regex) or put minimal stand-ins on the path (gpu/pystubs: the
# benchmarks use none of their functions).
pyprep() {
  local extra=""
  if ! python3 -c "import ftfy, regex" 2>/dev/null; then
    python3 -m pip install -q --no-index --find-links gpu/wheels --target gpu/pylib ftfy regex wcwidth
    extra="$ROOT/gpu/pylib"
  fi
  for m in torchvision pkg_resources scipy tqdm; do
    python3 -c "import $m" 2>/dev/null || { extra="$extra:$ROOT/gpu/pystubs/$m"; echo "stand-in for $m"; }
  done
  export PYTHONPATH="${extra#:}${PYTHONPATH:+:$PYTHONPATH}"
}

bench() {
  pyprep
  local up=$ROOT/gpu/upstream
  # avad: both training steps (batch 96, T 256), one prediction chunk, CLIP ViT-B/16 at batch 256 (f32, f16, bf16).
  timeout 300 "$AVAD" bench --device cuda --warmup 5 --iters 20 --out "$OUT/avad-bench-f32.json" "$@" \
    > "$OUT/avad-bench-f32.log" 2>&1
  echo "avad bench f32 rc=$?"; grep -v INFO "$OUT/avad-bench-f32.log" | tail -8
  for dt in f16 bf16; do
    timeout 120 "$AVAD" bench --device cuda --dtype $dt --workload clip-image --warmup 3 --iters 10 \
      --out "$OUT/avad-bench-clip-$dt.json" > "$OUT/avad-bench-clip-$dt.log" 2>&1
    echo "avad bench clip $dt rc=$?"; grep -v INFO "$OUT/avad-bench-clip-$dt.log" | tail -2
  done
  # The official code and HF CLIP on the same workloads, then the ratio table against avad's f32 run.
  timeout 300 python3 tools/bench_official.py --device cuda --vadclip "$up/vadclip" --avadclip "$up/avadclip" \
    --warmup 5 --iters 20 --clip-dtypes fp32,fp16,bf16 --json "$OUT/official-bench.json" \
    --compare "$OUT/avad-bench-f32.json" > "$OUT/official-bench.log" 2>&1
  echo "official bench rc=$?"; tail -25 "$OUT/official-bench.log"
}

xd_train() {
  local data=${XD_DATA:-/tmp/xd-synth}
  # XD-Violence's training list: 3,954 videos × 10 crops; its test list: 800 videos.
  /usr/bin/time -v "$AVAD" synth --out "$data" --seed 234 --train 3954 --test 800 --crops 10 --dim 512 \
    > "$OUT/xd-synth.log" 2>&1
  echo "synth rc=$?"; tail -3 "$OUT/xd-synth.log"
  # No CLIP weights on the machine: the text tower has ViT-B/16's shape with seeded random weights.
  printf 'random_clip = true\n' > "$OUT/xd-random-clip.toml"
  /usr/bin/time -v "$AVAD" train --device cuda --preset xd-teacher --config "$OUT/xd-random-clip.toml" \
    --train-list "$data/train.csv" --out "$ROOT/gpu/xd-teacher" --no-progress "$@" > "$OUT/xd-train.log" 2>&1
  echo "train rc=$?"; tail -25 "$OUT/xd-train.log"
}

case "${1:-}" in
  parity) shift; parity "$@" ;;
  bench) shift; bench "$@" ;;
  xd-train) shift; xd_train "$@" ;;
  *) sed -n 2,7p "$0"; exit 2 ;;
esac
