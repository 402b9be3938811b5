#!/usr/bin/env bash
# Builds what a GPU machine needs to run docs/gpu.md's checks, into gpu/ (git-ignored, ≤ 64 MiB):
#   gpu/avad.xz               the `avad` binary built with `--features cuda` (runs on CPU machines too)
#   gpu/parity-clip.xz        avad-clip's parity tests on CUDA (test-only `cuda` feature)
#   gpu/parity-model.xz       avad-model's parity tests on CUDA
#   gpu/upstream/{vadclip,avadclip}/src   the official code for tools/bench_official.py (optional: --upstream DIR DIR)
# Usage: tools/gpu_pack.sh [--upstream VADCLIP_CHECKOUT AVADCLIP_CHECKOUT]
# Build machine: no CUDA needed; cudarc binds CUDA 13.0 (the H100 driver's) and loads libcuda/libnvrtc at run time.
set -euo pipefail
cd "$(dirname "$0")/.."
export CUDARC_CUDA_VERSION=${CUDARC_CUDA_VERSION:-13000}
TD=target-cuda
mkdir -p gpu
cargo build --release --features cuda --target-dir "$TD" --bin avad
strip -o gpu/avad "$TD/release/avad"
cargo test --release --target-dir "$TD" -p avad-clip -p avad-model --test parity \
  --features avad-clip/cuda,avad-model/cuda --no-run --message-format=json 2>/dev/null |
  python3 -c '
import json, sys, shutil, subprocess
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] == "parity":
        crate = m["package_id"].split("#")[0].rsplit("/", 1)[-1].replace("avad-", "")
        subprocess.run(["strip", "-o", f"gpu/parity-{crate}", m["executable"]], check=True)
        print("packed", f"gpu/parity-{crate}")
'
for f in avad parity-clip parity-model; do
  test -f "gpu/$f" || { echo "gpu/$f was not built" >&2; exit 1; }
  xz -T0 -6 -f "gpu/$f"
done
if [ "${1:-}" = "--upstream" ]; then
  rm -rf gpu/upstream && mkdir -p gpu/upstream/vadclip gpu/upstream/avadclip
  cp -r "$2/src" gpu/upstream/vadclip/ && cp -r "$3/src" gpu/upstream/avadclip/
fi
du -sh gpu
