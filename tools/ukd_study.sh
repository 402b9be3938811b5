#!/usr/bin/env bash
# UKD study: does distillation from the audio-visual teacher transfer anything to a visual student?
#
# The paper's Table 6 on the synthetic benchmark, swept over the strength of the faint visual trace that
# `avad synth --visual-trace S` gives the audio-only events (docs/synth.md; S = 0 is the original benchmark, where
# an audio-only event leaves nothing in the video and a visual student cannot learn about it from anyone).
#
# For each strength S and seed: `avad synth` data, the AVadCLIP teacher (synth-teacher), the VadCLIP baseline
# (synth-vadclip), and visual students (`avad distill --preset synth-student`): without UKD (weight 0), with UKD at
# the official XD weight 1e-8, with UKD at a weight chosen on the validation split (of the first seed, per
# strength: never on test), and, when KD_FLAGS is set, with another distillation (e.g. `--distill scores`).
# Every model scores the test list (`avad predict`), is evaluated with `avad eval` (A-branch frame AP, XD mAP@IoU
# AVG), and its events found at 5 % false alarms are counted per modality from the scores and videos.json (the
# rule of `avad_core::synth::events_found`: an event is found when its mean anomaly score is above the 95th
# percentile of the normal test videos' snippet scores). Prints the weight searches and, per strength, mean ± std
# over the seeds.
#
# Recipe: sequence length 64, lr 1e-3, batch BATCH, milestone at the last epoch, random-weight 1-layer CLIP text
# encoder, selection on a 10 % validation split.
#
# Usage: tools/ukd_study.sh            (from the repository root; builds the release binary first)
# Environment: WORK (default ukd-study), STRENGTHS ("0 0.1 0.2 0.4"), SEEDS ("1 2 3 4 5"), TRAIN (224), TEST (64),
#   DIM (64), MAXLEN (160), EPOCHS (8), BATCH (8), SEARCH ("1e-5 1e-4": candidate UKD weights tried on the
#   first seed's validation split at each strength; the best validation AP2 is "the chosen weight"),
#   KD_FLAGS (extra `avad distill` flags of the alternative student; default "--distill scores --kd-weight 1",
#   empty = no such row),
#   KD_NAME (its row name), AVAD (path of a prebuilt binary), THREADS (RAYON_NUM_THREADS, default 1).
# Rerunning resumes: finished trainings and evaluations are kept (so KD_FLAGS can be added in a second run).

set -euo pipefail

WORK=${WORK:-ukd-study}
STRENGTHS=${STRENGTHS:-"0 0.1 0.2 0.4"}
SEEDS=${SEEDS:-"1 2 3 4 5"}
TRAIN=${TRAIN:-224}
TEST=${TEST:-64}
DIM=${DIM:-64}
MAXLEN=${MAXLEN:-160}
EPOCHS=${EPOCHS:-8}
BATCH=${BATCH:-8}
SEARCH=${SEARCH:-"1e-5 1e-4"}
KD_FLAGS=${KD_FLAGS-"--distill scores --kd-weight 1"}
KD_NAME=${KD_NAME:-"Visual student, teacher-score distillation (weight 1)"}
OFFICIAL=1e-8
export RAYON_NUM_THREADS=${THREADS:-1}

if [[ -z "${AVAD:-}" ]]; then
    cargo build --release --quiet --bin avad
    AVAD=target/release/avad
fi
mkdir -p "$WORK"
LOG="$WORK/study.log"
log() { echo "[$(date +%H:%M:%S)] $*" | tee -a "$LOG" >&2; }

milestone=$(( EPOCHS > 1 ? EPOCHS - 1 : 1 ))
recipe="$WORK/recipe.toml"
printf '# tools/ukd_study.sh\nlr = 1e-3\nbatch_size = %d\nmilestones = [%d]\n\n[model]\nvisual_length = 64\n' \
    "$BATCH" "$milestone" >"$recipe"

dir() { echo "$WORK/s$1/seed$2"; }           # strength seed
data_dir() { echo "$(dir "$1" "$2")/data"; }

make_data() { # strength seed
    local d; d=$(data_dir "$1" "$2")
    if [[ ! -f "$d/test.csv" ]]; then
        log "S=$1 seed $2: synthetic benchmark ($TRAIN train / $TEST test, ${DIM}-d, visual trace $1) → $d"
        "$AVAD" synth --out "$d" --seed "$2" --train "$TRAIN" --test "$TEST" --dim "$DIM" --max-len "$MAXLEN" \
            --visual-trace "$1" >/dev/null
    fi
}

train_preset() { # strength seed preset name
    local out; out="$(dir "$1" "$2")/$4"
    if [[ ! -f "$out/model.json" ]]; then
        log "S=$1 seed $2: $3 → $out"
        "$AVAD" train --preset "$3" --train-list "$(data_dir "$1" "$2")/train.csv" --config "$recipe" \
            --epochs "$EPOCHS" --seed "$2" --out "$out" --no-progress >>"$LOG" 2>&1
    fi
}

distill() { # strength seed name weight [extra flags...]
    local s=$1 seed=$2 name=$3 w=$4; shift 4
    local out; out="$(dir "$s" "$seed")/$name"
    if [[ ! -f "$out/model.json" ]]; then
        log "S=$s seed $seed: visual student $name (UKD weight $w $*) → $out"
        "$AVAD" distill --preset synth-student --teacher "$(dir "$s" "$seed")/teacher/model.json" \
            --modality visual --ukd-weight "$w" "$@" --train-list "$(data_dir "$s" "$seed")/train.csv" \
            --config "$recipe" --epochs "$EPOCHS" --seed "$seed" --out "$out" --no-progress >>"$LOG" 2>&1
    fi
}

evaluate() { # strength seed run-name
    local d run; d=$(data_dir "$1" "$2"); run="$(dir "$1" "$2")/$3"
    if [[ ! -f "$run/eval.json" ]]; then
        "$AVAD" predict --model "$run/model.json" --list "$d/test.csv" --out "$run/test-scores" >/dev/null 2>>"$LOG"
        "$AVAD" eval --json --lenient --scores "$run/test-scores" --list "$d/test.csv" \
            --annotations "$d/annotations_multiclasses.txt" >"$run/eval.json.tmp" 2>>"$LOG"
        mv "$run/eval.json.tmp" "$run/eval.json"
    fi
}

best_val() { # run-folder → best validation AP2 (the selection metric)
    python3 -c '
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
print("%.4f" % max(r["selection_metric"] for r in rows if r.get("selection_metric") is not None))' "$1/history.jsonl"
}

seeds=($SEEDS)
first=${seeds[0]}
started=$(date +%s)
search_md=""
declare -A chosen

for s in $STRENGTHS; do
    # 1. The weight search on the first seed's validation split.
    make_data "$s" "$first"
    train_preset "$s" "$first" synth-teacher teacher
    best_w=""; best_ap=-1
    row="| $s |"
    for w in 0 "$OFFICIAL" $SEARCH; do
        distill "$s" "$first" "ukd-w$w" "$w"
        ap=$(best_val "$(dir "$s" "$first")/ukd-w$w")
        row+=" $ap |"
        if [[ "$w" != 0 && "$w" != "$OFFICIAL" ]] && python3 -c "import sys; sys.exit(0 if $ap > $best_ap else 1)"; then
            best_w=$w; best_ap=$ap
        fi
    done
    chosen[$s]=$best_w
    search_md+="$row $best_w |\n"
    log "S=$s: chosen UKD weight $best_w (validation AP2 $best_ap, seed $first)"

    # 2. Every model of every seed.
    for seed in "${seeds[@]}"; do
        make_data "$s" "$seed"
        train_preset "$s" "$seed" synth-teacher teacher
        evaluate "$s" "$seed" teacher
        train_preset "$s" "$seed" synth-vadclip vadclip
        evaluate "$s" "$seed" vadclip
        for w in 0 "$OFFICIAL" "$best_w"; do
            distill "$s" "$seed" "ukd-w$w" "$w"
            evaluate "$s" "$seed" "ukd-w$w"
        done
        if [[ -n "$KD_FLAGS" ]]; then
            # shellcheck disable=SC2086
            distill "$s" "$seed" kd 0 $KD_FLAGS
            evaluate "$s" "$seed" kd
        fi
    done
done

# 3. Tables.
echo "Weight search (visual student, seed $first, best validation AP2 on the 10 % validation split):"
echo
header="| trace strength | 0 | $OFFICIAL |"; sep="|---|---|---|"
for w in $SEARCH; do header+=" $w |"; sep+="---|"; done
echo "$header chosen |"; echo "$sep---|"
printf "%b" "$search_md"
echo
chosen_args=()
for s in $STRENGTHS; do chosen_args+=("$s=${chosen[$s]}"); done
python3 - "$WORK" "$OFFICIAL" "$KD_FLAGS" "$KD_NAME" "$SEEDS" "${chosen_args[@]}" <<'EOF'
import json, os, statistics, struct, sys
work, official, kd_flags, kd_name, seeds = sys.argv[1:6]
seeds = seeds.split()
chosen = dict(a.split("=") for a in sys.argv[6:])

def read_npy(path):
    """float32 [T, C] or [T] .npy (little-endian, C order), stdlib only."""
    with open(path, "rb") as f:
        raw = f.read()
    hlen = struct.unpack("<H", raw[8:10])[0] if raw[6] == 1 else struct.unpack("<I", raw[8:12])[0]
    start = 10 + hlen if raw[6] == 1 else 12 + hlen
    header = eval(raw[start - hlen:start].decode("latin1"))
    assert header["descr"] == "<f4" and not header["fortran_order"], header
    shape = header["shape"]
    n = 1
    for d in shape:
        n *= d
    data = struct.unpack(f"<{n}f", raw[start:start + 4 * n])
    if len(shape) == 1:
        return list(data)
    c = shape[1]
    return [1.0 - data[i * c] for i in range(shape[0])]  # anomaly = 1 − P(normal)

def found(run, data):
    """Events found at 5 % false alarms per modality: {modality: (found, total)}."""
    videos = [v for v in json.load(open(f"{data}/videos.json"))["videos"] if v["split"] == "test"]
    scores = {v["name"]: read_npy(f"{run}/test-scores/{v['name']}.npy") for v in videos}
    normal = sorted(x for v in videos if not v["events"] for x in scores[v["name"]])
    thr = normal[min(int(len(normal) * 0.95 + 1e-9), len(normal) - 1)]
    out = {}
    for v in videos:
        a = scores[v["name"]]
        for e in v["events"]:
            f, t = out.get(e["modality"], (0, 0))
            hit = sum(a[e["start"]:e["end"]]) / (e["end"] - e["start"]) > thr
            out[e["modality"]] = (f + hit, t + 1)
    return out

def stat(xs):
    m = 100 * statistics.mean(xs)
    s = 100 * statistics.stdev(xs) if len(xs) > 1 else 0.0
    return f"{m:.1f} ± {s:.1f}"

rows = [
    ("Audio-visual teacher", "teacher", "–"),
    ("VadCLIP baseline (visual, no FE net)", "vadclip", "–"),
    ("Visual student, without UKD", "ukd-w0", "0"),
    ("Visual student, UKD at the official weight", f"ukd-w{official}", official),
    ("Visual student, UKD at the chosen weight", "ukd-w{chosen}", "{chosen}"),
]
if kd_flags:
    rows.append((kd_name, "kd", kd_flags))
print(f"Test set, A-branch, mean ± sample std over seeds {', '.join(seeds)}; events found at 5 % false alarms "
      "(found / total summed over the seeds):")
print()
print("| trace | model | UKD weight / flags | AP (%) | mAP AVG (%) | audio-only events found | visual-only | both |")
print("|---|---|---|---|---|---|---|---|")
per_seed = {}
for s in chosen:
    for name, run, w in rows:
        run = run.format(chosen=chosen[s]); w = w.format(chosen=chosen[s])
        ap, mp, cnt = [], [], {}
        for seed in seeds:
            d = f"{work}/s{s}/seed{seed}"
            r = json.load(open(f"{d}/{run}/eval.json"))
            ap.append(r["ap"]); mp.append(r["map_avg"] or 0.0)
            for k, (f, t) in found(f"{d}/{run}", f"{d}/data").items():
                f0, t0, per = cnt.get(k, (0, 0, []))
                cnt[k] = (f0 + f, t0 + t, per + [f])
        per_seed[(s, run)] = (ap, cnt)
        ev = lambda k: f"{cnt[k][0]} / {cnt[k][1]}" if k in cnt else "–"
        print(f"| {s} | {name} | {w} | {stat(ap)} | {stat(mp)} | {ev('audio_only')} | {ev('visual_only')} | {ev('both')} |")
print()
print("Paired differences to the visual student without UKD (same seed, same data), mean ± sample std over the "
      "seeds, and the seeds where it is better:")
print()
print("| trace | model | Δ AP (points) | Δ mAP AVG (points) | Δ events found (all modalities, per seed) |")
print("|---|---|---|---|---|")
for s in chosen:
    base_run = "ukd-w0"
    for name, run, w in rows:
        run = run.format(chosen=chosen[s])
        if run == base_run:
            continue
        dap, dmp, dev = [], [], []
        for seed in seeds:
            d = f"{work}/s{s}/seed{seed}"
            a = json.load(open(f"{d}/{base_run}/eval.json")); b = json.load(open(f"{d}/{run}/eval.json"))
            dap.append(b["ap"] - a["ap"]); dmp.append((b["map_avg"] or 0.0) - (a["map_avg"] or 0.0))
            fa = found(f"{d}/{base_run}", f"{d}/data"); fb = found(f"{d}/{run}", f"{d}/data")
            dev.append(sum(f for f, _ in fb.values()) - sum(f for f, _ in fa.values()))
        better = lambda xs: sum(x > 0 for x in xs)
        print(f"| {s} | {name} | {stat(dap)} ({better(dap)}/{len(seeds)}) | {stat(dmp)} ({better(dmp)}/{len(seeds)}) "
              f"| {statistics.mean(dev):+.1f} ± {statistics.stdev(dev) if len(dev) > 1 else 0:.1f} ({better(dev)}/{len(seeds)}) |")
print()
print("Per seed (A-branch AP %, audio-only events found):")
print()
for (s, run), (ap, cnt) in per_seed.items():
    print(f"- S={s} {run}: AP [{', '.join(f'{100*x:.1f}' for x in ap)}], audio-only found "
          f"{cnt.get('audio_only', (0, 0, []))[2]}")
EOF
log "done in $(( ($(date +%s) - started) / 60 )) min"
