#!/usr/bin/env bash
# Soak test of `avad watch`: plays a clip in a loop (as fast as it can be scored) until the camera time reaches
# MINUTES minutes of stream, sampling the process's resident memory every few seconds, then prints a summary:
# RSS after warm-up (first and last tenth of the run, min / max) and the median score latency of the first and the
# last tenth of the snippets. Results and the exact command go to docs/benchmarks.md ("avad watch soak").
#
#   tools/soak_watch.sh OUT_DIR MINUTES -- [extra avad watch flags: --model M --clip-model C --wav2clip W ...]
#
# Needs a release build (target/release/avad) and python3. Without model flags it writes tiny random-weight models
# (the test fixtures' sizes) into OUT_DIR first.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:?usage: tools/soak_watch.sh OUT_DIR MINUTES -- [avad watch flags]}
minutes=${2:?minutes of stream time}
shift 2
[ "${1:-}" = "--" ] && shift
mkdir -p "$out"
clip=${SOAK_CLIP:-fixtures/media/moviepy_big_buck_bunny_0_30.webm}
models=("$@")
if [ ${#models[@]} -eq 0 ]; then
  cargo run --release -q -p avad-pipeline --example make_test_models -- "$out/models" 24 >/dev/null
  models=(--model "$out/models/ckpt/model.json" --clip-model fixtures/clip/tiny_hf
          --wav2clip "$out/models/wav2clip_formula.safetensors")
fi
jsonl="$out/scores.jsonl"
rss="$out/rss.tsv"
: > "$jsonl"
: > "$rss"
target/release/avad watch "soak=$clip" --loop --scores --jsonl "$jsonl" "${models[@]}" 2> "$out/watch.log" &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
start=$(date +%s)
while kill -0 $pid 2>/dev/null; do
  sleep 5
  kb=$(awk '/VmRSS/ {print $2}' /proc/$pid/status 2>/dev/null || echo 0)
  last=$(tail -n 1 "$jsonl" 2>/dev/null | python3 -c 'import sys,json
try: print(json.loads(sys.stdin.read()).get("end_s", 0))
except Exception: print(0)')
  printf '%s\t%s\t%s\n' "$(( $(date +%s) - start ))" "$kb" "$last" >> "$rss"
  if python3 -c "import sys; sys.exit(0 if float('$last') >= $minutes * 60 else 1)"; then
    break
  fi
done
kill -TERM $pid 2>/dev/null || true
wait $pid 2>/dev/null || true
python3 - "$rss" "$jsonl" "$minutes" <<'EOF'
import json, statistics, sys
rss = [l.split("\t") for l in open(sys.argv[1]) if l.strip()]
rows = [(int(t), int(kb), float(s)) for t, kb, s in rss if int(kb) > 0]
n = len(rows)
warm = rows[max(1, n // 10):]
first, last = warm[: max(1, len(warm) // 10)], warm[-max(1, len(warm) // 10):]
mb = lambda xs: [kb / 1024 for _, kb, _ in xs]
scores = [json.loads(l) for l in open(sys.argv[2]) if '"type":"score"' in l]
lat = [s["latency_s"] for s in scores]
k = max(1, len(lat) // 10)
print(f"stream time {scores[-1]['end_s'] / 60:.1f} min in {rows[-1][0] / 60:.1f} min wall, {len(scores)} snippets")
print(f"RSS after warm-up: {min(mb(warm)):.1f}-{max(mb(warm)):.1f} MB; first tenth mean {statistics.mean(mb(first)):.1f} MB,"
      f" last tenth mean {statistics.mean(mb(last)):.1f} MB"
      f" ({100 * (statistics.mean(mb(last)) / statistics.mean(mb(first)) - 1):+.1f} %)")
print(f"median latency: first tenth {1000 * statistics.median(lat[:k]):.1f} ms,"
      f" last tenth {1000 * statistics.median(lat[-k:]):.1f} ms")
EOF
