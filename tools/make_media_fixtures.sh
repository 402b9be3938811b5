#!/usr/bin/env bash
# Regenerates the FFmpeg-CLI reference data that crates/avad-media's tests compare against.
#
# Usage:   bash tools/make_media_fixtures.sh            (run from anywhere; writes fixtures/media/reference/)
# Needs:   ffmpeg + ffprobe (Debian 12: FFmpeg 5.1.9, `scripts/install-deps.sh`), python3 (standard library only).
# Inputs:  the media files in fixtures/media/ (copied unchanged from the project's test-media collection and from Zulko/moviepy;
#          provenance and licences in fixtures/media/SOURCES.md). Nothing is downloaded.
#          Two tiny synthetic A/V-sync clips are generated here (step 0) if missing, or always with --synthetic:
#            synthetic_av_sync.mp4: 64x48 H.264 25 fps, 4 s, black with white frames in [1.92, 2.12) s (decoded
#              frames 48-52); AAC stereo 48 kHz starting at 0.3 s (-itsoffset), silent except a 1 kHz beep
#              (L 0.5, R 0.25 amplitude) in [2.0, 2.2) s of stream time.
#            synthetic_av_sync_negative.mkv: the same video with that audio shifted by -0.5 s (audio stream starts
#              at -0.22 s, beep in [1.5, 1.7) s), copied without re-encoding, negative timestamps kept.
# Outputs (all small text files, committed):
#   reference/frame_counts.tsv       file, nb_read_frames (ffprobe -count_frames), snippets at stride 16 and 4
#   reference/<file>.frames.sha256   SHA-256 of every sampled frame of the CLI's
#                                    `-vf "select=not(mod(n\,16))" -vsync 0 -pix_fmt rgb24 -f rawvideo` output
#                                    (the CLI's default colour handling: the stream's tagged matrix and range)
#   reference/<file>.audio.tsv       per-snippet sample count, RMS and peak of the CLI's 16 kHz mono signal
#                                    (`-af aformat=sample_fmts=fltp,pan=mono|c0=0.5*c0+0.5*c1,aresample=16000`,
#                                    i.e. the channel mean, not -ac 1), cut by the snippet rule of
#                                    crates/avad-media/src/snippet.rs re-implemented here from ffprobe frame pts.
set -euo pipefail
cd "$(dirname "$0")/.."
M=fixtures/media
R=$M/reference
mkdir -p "$R"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# 0. Synthetic A/V-sync clips (libx264 + FFmpeg's native AAC encoder; outputs depend on their versions, so they
#    are only regenerated on request).
if [ "${1:-}" = "--synthetic" ] || [ ! -f "$M/synthetic_av_sync.mp4" ] || [ ! -f "$M/synthetic_av_sync_negative.mkv" ]; then
  V="color=c=black:s=64x48:r=25:d=4,drawbox=c=white:t=fill:enable='between(t,1.91,2.11)'"
  A="aevalsrc=exprs='if(between(t,1.7,1.9),0.5*sin(2*PI*1000*t),0)|if(between(t,1.7,1.9),0.25*sin(2*PI*1000*t),0)':s=48000:d=3.7"
  ffmpeg -v error -y -f lavfi -i "$V" -itsoffset 0.3 -f lavfi -i "$A" -c:v libx264 -pix_fmt yuv420p -g 25 -bf 2 \
    -c:a aac -b:a 64k -map_metadata -1 -fflags +bitexact -f mp4 "$M/synthetic_av_sync.mp4"
  ffmpeg -v error -y -i "$M/synthetic_av_sync.mp4" -itsoffset -0.5 -i "$M/synthetic_av_sync.mp4" -map 0:v -map 1:a \
    -c copy -avoid_negative_ts disabled -fflags +bitexact "$M/synthetic_av_sync_negative.mkv"
fi

videos=(moviepy_big_buck_bunny_0_30.webm intel_car-detection.mp4 moviepy_fire2.mp4 moviepy_smpte-2997.mp4
        moviepy_video_with_failing_audio.mp4 moviepy_test_video_1x1.mp4 small_webm.webm
        intel_one-by-one-person-detection.mp4 synthetic_av_sync.mp4 synthetic_av_sync_negative.mkv)

# 1. Frame counts (independent of avad: ffprobe decodes every frame and counts).
{
  printf 'file\tnb_read_frames\tsnippets_stride16\tsnippets_stride4\n'
  for f in "${videos[@]}"; do
    n=$(ffprobe -v error -count_frames -select_streams v:0 -show_entries stream=nb_read_frames \
      -of default=nw=1:nk=1 "$M/$f" | grep -E '^[0-9]+$' | head -1)
    printf '%s\t%s\t%s\t%s\n' "$f" "$n" $(( (n + 15) / 16 )) $(( (n + 3) / 4 ))
  done
} > "$R/frame_counts.tsv"

# 2. Per-frame SHA-256 of the CLI's sampled RGB24 frames.
for f in "${videos[@]}"; do
  [ "$f" = intel_one-by-one-person-detection.mp4 ] && continue  # 88 frames; covered by counts only
  ffmpeg -v error -i "$M/$f" -vf "select=not(mod(n\,16))" -vsync 0 -pix_fmt rgb24 -f rawvideo -y "$tmp/frames.rgb"
  # Frame size (autorotation by 180 degrees, the only rotation among these files, keeps it).
  w=$(ffprobe -v error -select_streams v:0 -show_entries stream=width -of default=nw=1:nk=1 "$M/$f" | head -1)
  h=$(ffprobe -v error -select_streams v:0 -show_entries stream=height -of default=nw=1:nk=1 "$M/$f" | head -1)
  python3 - "$tmp/frames.rgb" "$w" "$h" > "$R/$f.frames.sha256" <<'PY'
import hashlib, sys
data = open(sys.argv[1], "rb").read()
size = int(sys.argv[2]) * int(sys.argv[3]) * 3
assert len(data) % size == 0, (len(data), size)
for i in range(len(data) // size):
    print(hashlib.sha256(data[i * size:(i + 1) * size]).hexdigest())
PY
done

# 3. Per-snippet audio statistics from the CLI's 16 kHz channel-mean signal (files whose audio has no timestamp
#    gap; moviepy_fire2.mp4 has a 155 ms gap the CLI does not fill, and is checked live in the test instead).
for f in moviepy_big_buck_bunny_0_30.webm intel_car-detection.mp4 moviepy_smpte-2997.mp4 \
         moviepy_video_with_failing_audio.mp4; do
  ch=$(ffprobe -v error -select_streams a:0 -show_entries stream=channels -of csv=p=0 "$M/$f")
  if [ "$ch" = 1 ]; then pan="pan=mono|c0=c0"; else pan="pan=mono|c0=0.5*c0+0.5*c1"; fi
  ffmpeg -v error -i "$M/$f" -vn -af "aformat=sample_fmts=fltp,$pan,aresample=16000" -f f32le -y "$tmp/audio.f32"
  ffprobe -v error -select_streams v:0 -show_entries frame=best_effort_timestamp_time,pkt_duration_time \
    -of json "$M/$f" > "$tmp/vframes.json"
  a0=$(ffprobe -v error -select_streams a:0 -show_entries frame=best_effort_timestamp_time \
    -of csv=p=0 "$M/$f" | awk 'NR == 1')
  python3 - "$tmp/audio.f32" "$tmp/vframes.json" "$a0" > "$R/$f.audio.tsv" <<'PY'
import array, json, math, sys
sig = array.array("f"); sig.frombytes(open(sys.argv[1], "rb").read())
frames = []
for fr in json.load(open(sys.argv[2]))["frames"]:
    dur = fr.get("pkt_duration_time")
    frames.append((float(fr["best_effort_timestamp_time"]), float(dur) if dur not in (None, "N/A") else None))
a0 = round(float(sys.argv[3]) * 16000)
print("snippet\tsamples\trms\tpeak")
stride = 16
for i, k in enumerate(range(0, len(frames), stride)):
    start = frames[k][0]
    if k + stride < len(frames):
        end = frames[k + stride][0]
    else:
        last, dur = frames[-1]
        end = last + (dur if dur else 0.0)
    s, e = round(start * 16000), round(end * 16000)
    seg = [sig[g - a0] if 0 <= g - a0 < len(sig) else 0.0 for g in range(s, e)]
    rms = math.sqrt(sum(v * v for v in seg) / len(seg)) if seg else 0.0
    peak = max((abs(v) for v in seg), default=0.0)
    print(f"{i}\t{len(seg)}\t{rms:.9g}\t{peak:.9g}")
PY
done
echo "wrote $(ls "$R" | wc -l) files to $R"
