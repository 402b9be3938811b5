#!/usr/bin/env bash
# Installs the system packages avad needs to build and test on Debian 12 (run as root, or with sudo available).
# FFmpeg 5.1 development libraries (ffmpeg-next), clang/libclang for bindgen, pkg-config, the ffmpeg CLI used by tests,
# and python3 for tools/module_graph.py.
set -euo pipefail
packages=(pkg-config clang libclang-dev python3 ffmpeg libavcodec-dev libavformat-dev libavutil-dev libavfilter-dev
          libavdevice-dev libswscale-dev libswresample-dev)
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
