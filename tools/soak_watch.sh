#!/usr/bin/env bash
# Soak test of `avad watch`: plays a clip in a loop until the camera time reaches MINUTES minutes of stream,
# sampling the process's resident memory every few seconds, then prints a summary: RSS after warm-up (first and last
# tenth of the run, min / max), the median and p99 latency of each tenth of the snippets and the trend of the
# latency over the run (least squares, ms per 10 minutes of stream). Results and the exact command go to
# docs/benchmarks.md ("avad watch soak").
#
#   tools/soak_watch.sh OUT_DIR MINUTES -- [extra avad watch flags: --model M --clip-model C --wav2clip W ...]
#
# SPEED (default 6) plays the clip at that multiple of its own pace (`avad watch --speed`): a paced snippet counts as
# arrived when it is due, so its latency is the model's (plus the lookahead wait), not time spent queueing behind a
# reader that decodes ahead. SPEED=0 plays as fast as it can be scored (latency is then mostly that queue).
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
speed=${SPEED:-6}
pace=()
[ "$speed" != 0 ] && pace=(--speed "$speed")
echo "cpu: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; load before: $(cut -d' ' -f1-3 /proc/loadavg); speed ${speed}"
target/release/avad watch "soak=$clip" --loop "${pace[@]}" --scores --jsonl "$jsonl" "${models[@]}" 2> "$out/watch.log" &
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
t = [s["end_s"] for s in scores]
k = max(1, len(lat) // 10)
print(f"stream time {scores[-1]['end_s'] / 60:.1f} min in {rows[-1][0] / 60:.1f} min wall, {len(scores)} snippets")
print(f"RSS after warm-up: {min(mb(warm)):.1f}-{max(mb(warm)):.1f} MB; first tenth mean {statistics.mean(mb(first)):.1f} MB,"
      f" last tenth mean {statistics.mean(mb(last)):.1f} MB"
      f" ({100 * (statistics.mean(mb(last)) / statistics.mean(mb(first)) - 1):+.1f} %)")
tenths = [lat[i * k:(i + 1) * k] for i in range(10)]
p99 = lambda xs: sorted(xs)[min(len(xs) - 1, int(0.99 * len(xs)))]
print("median latency per tenth (ms): " + " ".join(f"{1000 * statistics.median(x):.0f}" for x in tenths if x))
print("p99 latency per tenth (ms):    " + " ".join(f"{1000 * p99(x):.0f}" for x in tenths if x))
# least-squares slope of latency against stream time, over the snippets after the first tenth (warm-up)
xs, ys = t[k:], lat[k:]
mx, my = statistics.mean(xs), statistics.mean(ys)
slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)
print(f"median latency: first tenth {1000 * statistics.median(lat[:k]):.1f} ms,"
      f" last tenth {1000 * statistics.median(lat[-k:]):.1f} ms; after warm-up mean {1000 * my:.1f} ms,"
      f" trend {1000 * slope * 600:+.2f} ms per 10 min of stream")
EOF
