#!/usr/bin/env bash
# Installs the system packages avad needs to build and test on Debian 12 (run as root, or with sudo available).
# FFmpeg 5.1 development libraries (ffmpeg-next), clang/libclang for bindgen, pkg-config, the ffmpeg CLI used by tests,
# python3 for tools/module_graph.py, and for scripts/rtsp_server.py (the RTSP server of the live-input tests,
# crates/avad-media/tests/live_rtsp.rs): python3-gi, GStreamer's RTSP server and the plugins it re-encodes with
# (base: decodebin, audio conversion, Vorbis/Opus; good: RTP payloaders, VP8, Matroska/MP4 demuxers; bad: h264parse;
# ugly: x264enc; libav: AAC encoder, H.264 decoder), and the MQTT broker and clients of the `avad watch` tests
# (crates/avad-cli/tests/watch_cli.rs: mosquitto, mosquitto_sub), and for `avad serve`'s tests a PostgreSQL server
# (serve_postgres.rs, started on loopback by the test) and Chromium (serve_ui.rs, the web UI in a headless browser);
# python3-venv for the Python package's and the serve tests' virtual environments (under target/).
set -euo pipefail
packages=(pkg-config clang libclang-dev python3 python3-venv ffmpeg libavcodec-dev libavformat-dev libavutil-dev libavfilter-dev
          libavdevice-dev libswscale-dev libswresample-dev
          python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base gstreamer1.0-plugins-good
          gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly gstreamer1.0-libav
          mosquitto mosquitto-clients postgresql chromium)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all system packages present"
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "install-deps: installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
