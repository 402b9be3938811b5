#!/usr/bin/env bash
# The Python package's tests (python/tests): builds the abi3 wheel with maturin into the workspace's target folder,
# installs it into a virtual environment under target/ (created on first use; pip reaches PyPI for maturin, pytest,
# numpy and ray), and runs pytest, which compares the package with the `avad` binary built from the same tree.
#
# Run it after scripts/test.sh (as CI does): `cargo test --workspace --release` has then built target/release/avad,
# the make_test_models example and every dependency of the extension module with the same features, so maturin only
# compiles and links the `avad-python` crate itself. Alone, it builds what is missing first.
#
# Environment: CARGO_TARGET_DIR (default target), PYTHON (the interpreter for the venv, default python3),
# AVAD_PYTHON_NO_RAY=1 (skip installing ray: the Ray test is then skipped), extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-target}"
case "$target" in /*) ;; *) target="$PWD/$target" ;; esac
export CARGO_TARGET_DIR="$target"
venv="$target/venv-python"
started=$(date +%s)

if [ ! -x "$venv/bin/python" ]; then
  "${PYTHON:-python3}" -m venv "$venv"
fi
pip=("$venv/bin/python" -m pip install --quiet --disable-pip-version-check)
"${pip[@]}" "maturin>=1.9.4,<2" "pytest>=7" "numpy>=1.21"
if [ "${AVAD_PYTHON_NO_RAY:-0}" != 1 ]; then
  "${pip[@]}" "ray>=2.9"
fi

# The CLI and the test-model writer the tests compare against (no-ops after scripts/test.sh).
[ -x "$target/release/avad" ] || cargo build --release -p avad-cli
[ -x "$target/release/examples/make_test_models" ] || cargo build --release -p avad-pipeline --example make_test_models

# Whether maturin (which builds avad-python alone) sees the dependency features the workspace build used; a crate
# listed here is compiled a second time (python/Cargo.toml, "Feature alignment").
python3 python/tools/feature_check.py || echo "test_python: feature differences make the wheel build slower (not an error)"

# One abi3 wheel (CPython >= 3.9). `--compatibility linux`: the wheel links the system's FFmpeg libraries, which a
# manylinux tag would require bundling (docs/python.md, "Wheels").
# `maturin build --auditwheel repair` (a manylinux wheel, docs/python.md) patches the library in the target folder in
# place to load the FFmpeg copies it bundles; such a library cannot be packaged alone, so make cargo link it anew.
if grep -qa 'avad.libs' "$target/release/lib_avad.so" 2>/dev/null; then
  rm -f "$target/release/lib_avad.so" "$target"/release/deps/lib_avad*.so
fi
rm -rf "$target/wheels"
"$venv/bin/maturin" build --release --manifest-path python/Cargo.toml --out "$target/wheels" \
  --compatibility linux --quiet
"${pip[@]}" --force-reinstall --no-deps "$target"/wheels/avad-*.whl
built=$(date +%s)

# From the repository root with the installed package (not python/avad, which has no native module).
AVAD_BIN="$target/release/avad" AVAD_MAKE_TEST_MODELS="$target/release/examples/make_test_models" \
  "$venv/bin/pytest" python/tests -q -p no:cacheprovider "$@"
echo "python package: setup + wheel $((built - started)) s, tests $(($(date +%s) - built)) s"
