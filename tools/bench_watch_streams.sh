#!/usr/bin/env bash
# Frame-to-score latency of `avad watch` at real time for 1, 2, 4 and 8 live streams (docs/benchmarks.md, "avad
# watch: streams on 2 cores"). A real RTSP server on loopback (scripts/rtsp_server.py --passthrough: the clip's
# H.264 + AAC sent as they are, at real time, no re-encoding) serves a 30 fps 720p clip with sound, looped to SECONDS
# seconds with `ffmpeg -stream_loop` (stream copy); `avad watch` opens one RTSP session per stream. For each N it
# prints p50 / p99 of `latency_s` (a snippet's last frame decoded → its score, lookahead wait included) over the
# snippets after the first WARMUP seconds, snippets scored and dropped, and avad's CPU use.
#
#   tools/bench_watch_streams.sh OUT_DIR SECONDS [N...] -- --model M --clip-model C --wav2clip W [watch flags]
#
# Needs a release build (target/release/avad), ffmpeg, python3 and the RTSP server's packages
# (scripts/install-deps.sh). Default N = 1 2 4 8, lookahead 0 (the latency of the model alone; pass
# --lookahead K to include K snippets of waiting).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:?usage: tools/bench_watch_streams.sh OUT_DIR SECONDS [N...] -- avad watch model flags}
seconds=${2:?seconds of stream per run, e.g. 60}
shift 2
counts=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do counts+=("$1"); shift; done
[ "${1:-}" = "--" ] && shift
[ ${#counts[@]} -eq 0 ] && counts=(1 2 4 8)
warmup=${WARMUP:-10}
mkdir -p "$out"
# The stream: BENCH_CLIP (an H.264 + AAC MP4, sent as it is), or by default a 30 fps 1280x720 H.264 + AAC clip
# made once from Big Buck Bunny (fixtures/media, 24 fps VP8/Vorbis: frames repeated to 30 fps, keyframe every 2 s,
# like a camera's main stream). Looped to SECONDS + 5 s by stream copy.
src=${BENCH_CLIP:-}
if [ -z "$src" ]; then
  src="$out/bbb_720p30.mp4"
  [ -s "$src" ] || ffmpeg -v error -y -i fixtures/media/moviepy_big_buck_bunny_0_30.webm -t 10 -vf fps=30 \
    -c:v libx264 -preset veryfast -crf 23 -g 60 -pix_fmt yuv420p -c:a aac -b:a 128k -ar 48000 "$src"
fi
clip="$out/clip_$(basename "$src" .mp4)_${seconds}s.mp4"
if [ ! -s "$clip" ]; then
  src_s=$(ffprobe -v error -show_entries format=duration -of csv=p=0 "$src")
  loops=$(python3 -c "import math; print(math.ceil($seconds / $src_s) + 1)")
  ffmpeg -v error -y -stream_loop "$loops" -i "$src" -t "$((seconds + 5))" -c copy "$clip"
fi
echo "stream: $(ffprobe -v error -show_entries stream=codec_name,width,height,avg_frame_rate -of csv=p=0 "$clip" | tr '\n' ' ')"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
python3 scripts/rtsp_server.py --passthrough --port "$port" --mount "cam=$clip" > "$out/rtsp.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 100); do grep -q READY "$out/rtsp.log" && break; sleep 0.2; done
grep -q READY "$out/rtsp.log" || { cat "$out/rtsp.log"; exit 1; }
url="rtsp://127.0.0.1:$port/cam"
echo "cpu: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; load before: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-3s %9s %9s %8s %8s %6s\n' N p50_s p99_s scored dropped cpu%
for n in "${counts[@]}"; do
  jsonl="$out/n$n.jsonl"
  : > "$jsonl"
  sources=()
  for i in $(seq "$n"); do sources+=("cam$i=$url"); done
  t0=$(date +%s.%N)
  target/release/avad watch "${sources[@]}" --scores --jsonl "$jsonl" --lookahead 0 "$@" \
    > "$out/n$n.stdout" 2> "$out/n$n.log" &
  pid=$!
  # the streams end after SECONDS + 5 s of play; wait for avad to finish (it reconnects to a finished stream,
  # so stop it once every camera has passed SECONDS of stream)
  sleep "$((seconds + 8))"
  cpu_ticks=$(awk '{print $14 + $15}' /proc/$pid/stat 2>/dev/null || echo 0)
  elapsed=$(python3 -c "import time; print(time.time() - $t0)")
  kill -TERM $pid 2>/dev/null || true
  wait $pid 2>/dev/null || true
  python3 - "$jsonl" "$out/n$n.log" "$n" "$warmup" "$cpu_ticks" "$elapsed" "$(getconf CLK_TCK)" <<'PY'
import json, re, sys
path, log, n, warmup, ticks, elapsed, hz = sys.argv[1:]
rows = [json.loads(l) for l in open(path) if l.strip()]
scores = [r for r in rows if r.get("type") == "score"]
start = {}
for r in scores:
    start.setdefault(r["camera"], r["start_s"])
lat = sorted(r["latency_s"] for r in scores if r["start_s"] - start[r["camera"]] >= float(warmup))
def q(p):
    return lat[min(len(lat) - 1, int(p * len(lat)))] if lat else float("nan")
dropped = sum(int(m) for m in re.findall(r"snippets scored, (\d+) dropped", open(log).read()))
cpu = 100.0 * float(ticks) / float(hz) / float(elapsed)
print(f"{n:<3} {q(0.5):9.3f} {q(0.99):9.3f} {len(scores):8d} {dropped:8d} {cpu:6.0f}")
PY
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
