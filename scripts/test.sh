#!/usr/bin/env bash
# The whole test suite, exactly as CI runs it (.ci/run calls this script).
# Installs the Debian packages avad needs (FFmpeg dev libraries) if they are missing, then builds once in release
# mode (the same artifacts `scripts/demo.sh` uses), runs every test of every crate, then builds the Python package and
# runs its tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cargo fmt --all -- --check
# No crate may have modules that name each other in a loop (docs/architecture.md).
python3 tools/module_graph.py > /dev/null
cargo test --workspace --release
# The Python package (python/, docs/python.md): wheel + pytest against the binaries built above.
bash scripts/test_python.sh
