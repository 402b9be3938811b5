#!/usr/bin/env bash
# UKD study: the paper's Table 6 on the synthetic benchmark, over several seeds.
#
# For each seed: `avad synth` data (demo sizes), the AVadCLIP teacher (synth-teacher), then students distilled from
# it with `avad distill` (synth-student): visual without UKD (weight 0), with the official XD weight 1e-8, with a
# weight chosen on the validation split, and audio-only without / with UKD; plus the VadCLIP baseline (synth-vadclip)
# for reference. Every model scores the test list
# (`avad predict`) and is evaluated with `avad eval` (A-branch frame AP and XD mAP@IoU AVG). Prints two markdown
# tables: the weight search (seed 1's validation split) and mean ± std over the seeds.
#
# The recipe is the demo's (crates/avad-cli/src/commands/demo.rs): sequence length 64, lr 1e-3, milestone at 4/5 of
# the epochs, batch 16, random-weight 1-layer CLIP text encoder, selection on a 10 % validation split.
#
# Usage: tools/ukd_study.sh            (from the repository root; builds the release binary first)
# Environment: WORK (default ukd-study), SEEDS ("1 2 3"), TRAIN (480), TEST (100), DIM (128), MAXLEN (400),
#   EPOCHS (10), SEARCH ("1e-6 1e-5 1e-4 1e-3 1e-2 1e-1 1": candidate weights tried on the first seed's
#   validation split; the one with the best validation AP2 is "the chosen weight"),
#   CHOSEN (skip the search and use this weight), AVAD (path of a prebuilt binary).
# Rerunning resumes: finished trainings and evaluations are kept.

set -euo pipefail

WORK=${WORK:-ukd-study}
SEEDS=${SEEDS:-"1 2 3"}
TRAIN=${TRAIN:-480}
TEST=${TEST:-100}
DIM=${DIM:-128}
MAXLEN=${MAXLEN:-400}
EPOCHS=${EPOCHS:-10}
SEARCH=${SEARCH:-"1e-6 1e-5 1e-4 1e-3 1e-2 1e-1 1"}
CHOSEN=${CHOSEN:-}
OFFICIAL=1e-8

if [[ -z "${AVAD:-}" ]]; then
    cargo build --release --quiet
    AVAD=target/release/avad
fi
mkdir -p "$WORK"
LOG="$WORK/study.log"
log() { echo "[$(date +%H:%M:%S)] $*" | tee -a "$LOG" >&2; }

milestone=$(( (EPOCHS * 4 + 4) / 5 ))
recipe="$WORK/recipe.toml"
printf '# tools/ukd_study.sh: the demo recipe on top of the synth-* presets\nlr = 1e-3\nmilestones = [%d]\n\n[model]\nvisual_length = 64\n' \
    "$milestone" >"$recipe"

data_dir() { echo "$WORK/seed$1/data"; }

make_data() { # seed
    local d; d=$(data_dir "$1")
    if [[ ! -f "$d/test.csv" ]]; then
        log "seed $1: synthetic benchmark ($TRAIN train / $TEST test videos, ${DIM}-d) → $d"
        "$AVAD" synth --out "$d" --seed "$1" --train "$TRAIN" --test "$TEST" --dim "$DIM" --max-len "$MAXLEN" >/dev/null
    fi
}

train_teacher() { # seed
    local out="$WORK/seed$1/teacher"
    if [[ ! -f "$out/model.json" ]]; then
        log "seed $1: teacher → $out"
        "$AVAD" train --preset synth-teacher --train-list "$(data_dir "$1")/train.csv" --config "$recipe" \
            --epochs "$EPOCHS" --seed "$1" --out "$out" --no-progress >>"$LOG" 2>&1
    fi
}

train_vadclip() { # seed: the visual-only VadCLIP baseline (no FE net), for reference
    local out="$WORK/seed$1/vadclip"
    if [[ ! -f "$out/model.json" ]]; then
        log "seed $1: VadCLIP baseline → $out"
        "$AVAD" train --preset synth-vadclip --train-list "$(data_dir "$1")/train.csv" --config "$recipe" \
            --epochs "$EPOCHS" --seed "$1" --out "$out" --no-progress >>"$LOG" 2>&1
    fi
}

distill() { # seed modality weight → run folder
    local out="$WORK/seed$1/$2-w$3"
    if [[ ! -f "$out/model.json" ]]; then
        log "seed $1: $2 student, UKD weight $3 → $out"
        "$AVAD" distill --preset synth-student --teacher "$WORK/seed$1/teacher/model.json" --modality "$2" \
            --ukd-weight "$3" --train-list "$(data_dir "$1")/train.csv" --config "$recipe" --epochs "$EPOCHS" \
            --seed "$1" --out "$out" --no-progress >>"$LOG" 2>&1
    fi
}

evaluate() { # seed run-folder
    local d; d=$(data_dir "$1")
    if [[ ! -f "$2/eval.json" ]]; then
        "$AVAD" predict --model "$2/model.json" --list "$d/test.csv" --out "$2/test-scores" >/dev/null 2>>"$LOG"
        "$AVAD" eval --json --lenient --scores "$2/test-scores" --list "$d/test.csv" \
            --annotations "$d/annotations_multiclasses.txt" >"$2/eval.json" 2>>"$LOG"
    fi
}

# Best validation AP2 (the selection metric) and the last epoch's raw UKD loss of a run.
val_summary() { # run-folder
    python3 - "$1/history.jsonl" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
best = max(r["selection_metric"] for r in rows if r.get("selection_metric") is not None)
l4 = rows[-1].get("loss4")
print(f"{best:.4f} {'-' if l4 is None else f'{l4:.4g}'}")
EOF
}

seeds=($SEEDS)
first=${seeds[0]}
started=$(date +%s)

# 1. Teacher and the weight search on the first seed.
make_data "$first"
train_teacher "$first"
if [[ -z "$CHOSEN" ]]; then
    search_table="| UKD weight | best validation AP2 (video level, seed $first) | raw L_UKD, last epoch |\n|---|---|---|\n"
    best_w=""; best_ap=-1
    for w in 0 "$OFFICIAL" $SEARCH; do
        distill "$first" visual "$w"
        read -r ap l4 <<<"$(val_summary "$WORK/seed$first/visual-w$w")"
        search_table+="| $w | $ap | $l4 |\n"
        if [[ "$w" != 0 && "$w" != "$OFFICIAL" ]] && python3 -c "import sys; sys.exit(0 if $ap > $best_ap else 1)"; then
            best_w=$w; best_ap=$ap
        fi
    done
    CHOSEN=$best_w
    log "chosen UKD weight (best validation AP2 among $SEARCH): $CHOSEN"
fi

# 2. Every model of every seed.
for s in "${seeds[@]}"; do
    make_data "$s"
    train_teacher "$s"
    evaluate "$s" "$WORK/seed$s/teacher"
    for w in 0 "$OFFICIAL" "$CHOSEN"; do
        distill "$s" visual "$w"
        evaluate "$s" "$WORK/seed$s/visual-w$w"
    done
    for w in 0 "$CHOSEN"; do
        distill "$s" audio "$w"
        evaluate "$s" "$WORK/seed$s/audio-w$w"
    done
    train_vadclip "$s"
    evaluate "$s" "$WORK/seed$s/vadclip"
done

# 3. Tables.
if [[ -n "${search_table:-}" ]]; then
    echo "Weight search (visual student, seed $first, validation split of the training list):"
    echo
    printf "%b" "$search_table"
    echo
fi
python3 - "$WORK" "$CHOSEN" "$OFFICIAL" "${seeds[@]}" <<'EOF'
import json, statistics, sys
work, chosen, official, seeds = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
rows = [
    ("Audio student, without UKD", "audio-w0", "0"),
    ("Audio student, with UKD", f"audio-w{chosen}", chosen),
    ("Visual student, without UKD", "visual-w0", "0"),
    ("Visual student, UKD at the official weight", f"visual-w{official}", official),
    ("Visual student, UKD at the chosen weight", f"visual-w{chosen}", chosen),
    ("Audio-visual teacher", "teacher", "–"),
    ("VadCLIP baseline (visual, no FE net), for reference", "vadclip", "–"),
]
def stat(xs):
    m = 100 * statistics.mean(xs)
    s = 100 * statistics.stdev(xs) if len(xs) > 1 else 0.0
    return f"{m:.2f} ± {s:.2f}"
print(f"Test set, A-branch, mean ± sample std over seeds {', '.join(seeds)} (per-seed values in brackets):")
print()
print("| model | UKD weight | AP (%) | mAP AVG (%) |")
print("|---|---|---|---|")
for name, run, w in rows:
    ap, mp = [], []
    for s in seeds:
        r = json.load(open(f"{work}/seed{s}/{run}/eval.json"))
        ap.append(r["ap"]); mp.append(r["map_avg"] or 0.0)
    per = lambda xs: "[" + ", ".join(f"{100*x:.2f}" for x in xs) + "]"
    print(f"| {name} | {w} | {stat(ap)} {per(ap)} | {stat(mp)} {per(mp)} |")
EOF
log "done in $(( ($(date +%s) - started) / 60 )) min"
