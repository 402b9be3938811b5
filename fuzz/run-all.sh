#!/usr/bin/env bash
# Runs avad's fuzz targets back to back, one libFuzzer process at a time (docs/hostile-input.md, "Fuzzing").
#
#   fuzz/run-all.sh                      # every target, 360 s each
#   SECS=60 TARGETS="npy wav" fuzz/run-all.sh
#
# Each target fuzzes a scratch corpus `fuzz/corpus-run/<target>` (git-ignored), seeded read-only from the committed
# `fuzz/corpus/<target>`; crashes land in `fuzz/artifacts/<target>/` (git-ignored: copy the ones you fix to
# `fuzz/artifacts-kept/<target>/`). Logs: $LOGS/<target>.log, one line per target in $LOGS/summary.log.
# libFuzzer runs in-process (no -jobs/-workers: those fork helper processes); -rss_limit_mb and -timeout make an
# input using over 2 GB or over 1 s a failure.
set -u
cd "$(dirname "$0")/.."
SECS=${SECS:-360}
LOGS=${LOGS:-/tmp/fuzz-logs}
TARGETS=${TARGETS:-"npy list_csv annotations wav safetensors pytorch checkpoint_json bundle_json train_toml tokenizer media_snippets"}
BUILD_FLAGS=${BUILD_FLAGS:-"-O -a"}
mkdir -p "$LOGS"
for t in $TARGETS; do
    mkdir -p "fuzz/corpus-run/$t"
    start=$(date -u +%FT%TZ)
    # shellcheck disable=SC2086
    cargo +nightly fuzz run $BUILD_FLAGS "$t" "fuzz/corpus-run/$t" "fuzz/corpus/$t" -- \
        -max_total_time="$SECS" -rss_limit_mb=2048 -timeout=1 -print_final_stats=1 \
        >"$LOGS/$t.log" 2>&1
    rc=$?
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$LOGS/$t.log" | grep -o '[0-9]*$' | tail -1)
    cov=$(grep -E '^#[0-9]+' "$LOGS/$t.log" | tail -1 | grep -o 'cov: [0-9]* ft: [0-9]*')
    echo "$t start=$start end=$(date -u +%FT%TZ) secs=$SECS exit=$rc execs=${execs:-?} ${cov:-}" >>"$LOGS/summary.log"
done
