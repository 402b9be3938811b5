//! `avad distill` and the automatic modality fallback of `avad predict` end to end on a tiny synthetic benchmark
//! (32-d features): teacher → visual and audio students → one bundle; a test video whose audio file is missing and
//! one whose audio is silent are scored by the visual student and reported as such in `scored_by.csv`, the others
//! by the teacher; a teacher alone still refuses a video without audio.

mod common;

use std::path::{Path, PathBuf};

use common::{avad_command, ok_stdout as ok, DistillBench};

/// The recipe of both tests' runs (`--config`).
const RECIPE: &str = "lr = 1e-3\n[model]\nvisual_length = 32\n";
/// The flags of both tests' runs: one epoch.
const FLAGS: &[&str] = &[
    "--epochs",
    "1",
    "--batch-size",
    "8",
    "--val-fraction",
    "0.25",
    "--no-progress",
];

/// `video → (model, reason)` from a `scored_by.csv`.
fn scored_by(dir: &Path) -> std::collections::BTreeMap<String, (String, String)> {
    let text = std::fs::read_to_string(dir.join("scored_by.csv")).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("video,model,reason"));
    lines
        .map(|l| {
            let f: Vec<&str> = l.splitn(3, ',').collect();
            (f[0].to_string(), (f[1].to_string(), f[2].to_string()))
        })
        .collect()
}

#[test]
fn distill_then_bundle_falls_back_to_the_student_without_audio() {
    let cfg = avad_core::synth::SynthConfig {
        seed: 11,
        train: 24,
        test: 5,
        min_len: 20,
        max_len: 120,
        dim: 32,
        ..Default::default()
    };
    let bench = DistillBench::new(&cfg, RECIPE, FLAGS);
    let (tmp, data, data_dir, teacher) = (&bench.tmp, &bench.data, &bench.data_dir, &bench.teacher);

    // Visual student (UKD on) and audio student, both into one bundle.
    let student = tmp.path().join("student");
    let mut c = bench.distill(
        &["--ukd-weight", "0.01"],
        &teacher.join("model.json"),
        &student,
    );
    let stdout = ok(c.output().unwrap());
    assert!(stdout.contains("visual student"), "{stdout}");
    let bundle = student.join("bundle.json");
    let audio_student = tmp.path().join("audio-student");
    let mut c = bench.distill(&["--modality", "audio"], teacher, &audio_student);
    c.arg("--bundle").arg(&bundle);
    ok(c.output().unwrap());
    let spec: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&bundle).unwrap()).unwrap();
    assert_eq!(spec["format"], "avad-bundle");
    assert_eq!(spec["teacher"], "../teacher/model.json");
    assert_eq!(spec["visual_student"], "model.json");
    assert_eq!(spec["audio_student"], "../audio-student/model.json");
    let history = std::fs::read_to_string(student.join("history.jsonl")).unwrap();
    assert!(
        history.contains("\"loss4\""),
        "raw UKD loss is logged: {history}"
    );

    // The audio student alone scores the list from the audio features.
    let pa = tmp.path().join("pred-audio");
    ok(
        common::predict_command(&audio_student.join("model.json"), &data.test_list, &pa)
            .output()
            .unwrap(),
    );
    assert!(scored_by(&pa)
        .values()
        .all(|(m, r)| m == "audio_student" && r == "audio-only model"));

    // Break the audio of two test videos: one file missing, one silent (constant rows).
    let tests: Vec<_> = data.videos.iter().filter(|v| v.split == "test").collect();
    let audio_of = |name: &str| -> PathBuf { data_dir.join("audio").join(format!("{name}.npy")) };
    let missing = &tests[0];
    let silent = &tests[1];
    std::fs::remove_file(audio_of(&missing.name)).unwrap();
    let row: Vec<f32> = (0..32).map(|d| d as f32 * 0.01).collect();
    let flat: Vec<f32> = row
        .iter()
        .cycle()
        .take(silent.snippets * 32)
        .copied()
        .collect();
    avad_core::npy::write_npy_f32(&audio_of(&silent.name), &[silent.snippets, 32], &flat).unwrap();

    // A teacher alone cannot score the video without audio and says how to.
    let res = common::predict_command(
        &teacher.join("model.json"),
        &data.test_list,
        &tmp.path().join("pred-teacher"),
    )
    .output()
    .unwrap();
    assert!(!res.status.success());
    let err = String::from_utf8_lossy(&res.stderr);
    assert!(
        err.contains(&missing.name) && err.contains("bundle"),
        "{err}"
    );

    // The bundle scores every video and records who scored it.
    let pb = tmp.path().join("pred-bundle");
    let stdout = ok(common::predict_command(&bundle, &data.test_list, &pb)
        .arg("--c-branch")
        .output()
        .unwrap());
    assert!(
        stdout.contains("1 by visual_student (audio file missing)"),
        "{stdout}"
    );
    let by = scored_by(&pb);
    assert_eq!(by.len(), tests.len());
    assert_eq!(
        by[&missing.name],
        (
            "visual_student".to_string(),
            "audio file missing".to_string()
        )
    );
    assert_eq!(
        by[&silent.name],
        ("visual_student".to_string(), "audio silent".to_string())
    );
    for v in &tests[2..] {
        assert_eq!(
            by[&v.name],
            ("teacher".to_string(), "audio present".to_string())
        );
    }
    for v in &tests {
        let a = avad_core::npy::read_npy(&pb.join(format!("{}.npy", v.name))).unwrap();
        assert_eq!(a.shape, vec![v.snippets, 7], "{}", v.name);
    }
    // `avad eval` reads the bundle's output like any other.
    ok(avad_command()
        .args(["eval", "--lenient", "--scores"])
        .arg(&pb)
        .arg("--list")
        .arg(&data.test_list)
        .arg("--annotations")
        .arg(&data.annotations_multiclass)
        .output()
        .unwrap());
}

#[test]
fn plain_distillation_options_train_and_are_checked() {
    let cfg = avad_core::synth::SynthConfig {
        seed: 12,
        train: 16,
        test: 4,
        min_len: 20,
        max_len: 60,
        dim: 32,
        visual_trace: 0.2,
        ..Default::default()
    };
    let bench = DistillBench::new(&cfg, RECIPE, FLAGS);
    let (tmp, teacher) = (&bench.tmp, &bench.teacher);

    // --kd-weight belongs to the plain distillations.
    let res = bench
        .distill(&["--kd-weight", "2"], teacher, &tmp.path().join("refused"))
        .output()
        .unwrap();
    assert!(!res.status.success());
    assert!(String::from_utf8_lossy(&res.stderr).contains("--distill scores"));

    for kind in ["scores", "features"] {
        let out = tmp.path().join(kind);
        let args = ["--ukd-weight", "0", "--distill", kind, "--kd-weight", "0.5"];
        let stdout = ok(bench.distill(&args, teacher, &out).output().unwrap());
        assert!(
            stdout.contains(&format!("{kind} distillation weight 5e-1")),
            "{stdout}"
        );
        let history = std::fs::read_to_string(out.join("history.jsonl")).unwrap();
        let row: serde_json::Value = serde_json::from_str(history.lines().next().unwrap()).unwrap();
        let l4 = row["loss4"].as_f64().unwrap();
        assert!(l4.is_finite() && l4 > 0.0, "raw {kind} loss {l4}");
        let meta = std::fs::read_to_string(out.join("model.json")).unwrap();
        assert!(meta.contains(&format!("{kind} distillation")), "{meta}");
        assert!(out.join("bundle.json").is_file());
    }
}
