//! Teacher-score distillation beats no distillation (issue #17; docs/results.md "UKD"): on the synthetic benchmark
//! with a faint visual trace of the audio-only events (`avad synth --visual-trace 0.1`), a visual student distilled
//! from the audio-visual teacher with `avad distill --distill scores` has a clearly higher A-branch frame AP than
//! the same student trained without distillation (same data, seed and recipe).
//!
//! This is one (strength, seed) pair of `tools/ukd_study.sh` (S = 0.1, seed 2, the study's sizes and recipe),
//! where the study measured +10.3 AP points (S = 0.1: +8.5 ± 2.3 over 3 seeds; pooled over 16 pairs at 4
//! strengths +4.7 ± 8.3, better on 13). What it does not claim, because the study did not find it: that the
//! student finds more of the faint-trace (audio-only) events. The gain comes from the teacher's dense snippet
//! scores teaching the student where the anomalies are not, about as much without any trace; the audio-only event
//! counts are printed, not asserted.

mod common;

use std::path::Path;

use avad_core::synth::{events_found_in_dir, Modality, SynthConfig};
use common::{avad_command, ok_stdout as ok, DistillBench};

/// A-branch frame AP of the scores in `dir` (`avad eval --json`).
fn eval_ap(dir: &Path, data: &avad_core::synth::SynthSummary) -> f64 {
    let json = ok(avad_command()
        .args(["eval", "--json", "--lenient", "--scores"])
        .arg(dir)
        .arg("--list")
        .arg(&data.test_list)
        .arg("--annotations")
        .arg(&data.annotations_multiclass)
        .output()
        .unwrap());
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    v["ap"].as_f64().unwrap()
}

#[test]
fn score_distillation_beats_no_distillation_on_faint_trace_data() {
    // One thread, as in the study (the float sums, and so the trajectories, follow the thread count).
    std::env::set_var("RAYON_NUM_THREADS", "1");
    let cfg = SynthConfig {
        seed: SEED,
        train: 224,
        test: 64,
        max_len: 160,
        dim: 64,
        visual_trace: 0.1,
        ..Default::default()
    };
    let seed = SEED.to_string();
    let bench = DistillBench::new(
        &cfg,
        "lr = 1e-3\nbatch_size = 8\nmilestones = [7]\n\n[model]\nvisual_length = 64\n",
        &["--epochs", "8", "--seed", &seed, "--no-progress"],
    );
    let data = &bench.data;
    let mut results = Vec::new();
    for (name, extra) in [
        ("plain", &[][..]),
        ("scores", &["--distill", "scores", "--kd-weight", "1"][..]),
    ] {
        let out = bench.tmp.path().join(name);
        let args = [&["--modality", "visual", "--ukd-weight", "0"][..], extra].concat();
        let mut c = bench.distill(&args, &bench.teacher.join("model.json"), &out);
        ok(c.output().unwrap());
        let scores = out.join("test-scores");
        ok(
            common::predict_command(&out.join("model.json"), &data.test_list, &scores)
                .output()
                .unwrap(),
        );
        let f = events_found_in_dir(&data.videos, &scores, Modality::AudioOnly, 0.05).unwrap();
        let ap = eval_ap(&scores, data);
        eprintln!(
            "{name}: A-branch AP {ap:.4}, audio-only events found {}/{}",
            f.found, f.total
        );
        results.push(ap);
    }
    let (plain_ap, kd_ap) = (results[0], results[1]);
    assert!(
        kd_ap >= plain_ap + MARGIN,
        "score distillation AP {kd_ap:.4}, without distillation {plain_ap:.4} (required margin {MARGIN})"
    );
}

/// The study's seed 2 at S = 0.1: without distillation AP 0.2977, with score distillation 0.4012.
const SEED: u64 = 2;
/// Required A-branch AP gain (measured +0.103; the seed spread of the no-distillation student is ±0.12).
const MARGIN: f64 = 0.05;
