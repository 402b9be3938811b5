#!/usr/bin/env bash
# The main job: install missing system packages, build avad in release mode, and run `avad demo`
# (on the embedded synthetic benchmark when no data is given). Extra arguments go to `avad demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cargo run --release --bin avad -- demo "$@"
