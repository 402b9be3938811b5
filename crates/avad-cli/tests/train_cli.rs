//! `avad train` / `avad predict` end to end on a tiny synthetic benchmark: a run killed with SIGKILL mid-training
//! resumes from its last checkpoint when rerun (it does not restart), and `avad predict` writes the [T, C] score
//! files `avad eval` reads.

mod common;

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::avad_command;

fn synth(dir: &Path) -> avad_core::synth::SynthSummary {
    let cfg = avad_core::synth::SynthConfig {
        seed: 3,
        train: 12,
        test: 4,
        min_len: 20,
        max_len: 300,
        ..Default::default()
    };
    avad_core::synth::generate(&cfg, dir).unwrap()
}

fn global_step(out: &Path) -> Option<u64> {
    let text = std::fs::read_to_string(out.join("last.json")).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v["progress"]["global_step"].as_u64()
}

#[test]
fn killed_training_resumes_then_predicts() {
    let tmp = tempfile::tempdir().unwrap();
    let data = synth(&tmp.path().join("data"));
    let out = tmp.path().join("run");
    let train_args = |extra: &[&str]| {
        let mut c = avad_command();
        c.args(["train", "--preset", "synth-teacher", "--train-list"])
            .arg(&data.train_list)
            .arg("--out")
            .arg(&out)
            .args([
                "--epochs",
                "2",
                "--batch-size",
                "4",
                "--save-every",
                "1",
                "--val-fraction",
                "0.25",
                "--no-progress",
            ])
            .args(extra);
        c
    };
    // 9 training videos / 4 → 3 steps per epoch, 6 in all. Kill the process once 2 steps are checkpointed.
    let mut child = train_args(&[])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    loop {
        if global_step(&out).is_some_and(|s| s >= 2) {
            break;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("training ended before it could be killed: {status}");
        }
        assert!(
            start.elapsed() < Duration::from_secs(300),
            "no checkpoint after 300 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let at_kill = global_step(&out).unwrap();
    assert!(
        !out.join("model.json").exists(),
        "the killed run must not look finished"
    );

    // Rerun the same command: it resumes.
    let res = train_args(&[]).output().unwrap();
    let stdout = String::from_utf8_lossy(&res.stdout);
    assert!(
        res.status.success(),
        "{}",
        String::from_utf8_lossy(&res.stderr)
    );
    assert!(stdout.contains("resumed"), "{stdout}");
    let total = global_step(&out).unwrap();
    let ran: u64 = stdout
        .split('(')
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap();
    assert_eq!(
        ran + at_kill,
        total,
        "only the remaining steps run after a resume: {stdout}"
    );
    assert!(out.join("model.json").is_file());
    let history = std::fs::read_to_string(out.join("history.jsonl")).unwrap();
    assert_eq!(history.lines().count(), 2);

    // Predict the test list: one [T, 7] file per video, rows summing to 1.
    let pred = tmp.path().join("pred");
    common::assert_success(
        common::predict_command(&out, &data.test_list, &pred)
            .arg("--c-branch")
            .output()
            .unwrap(),
    );
    let tests: Vec<_> = data.videos.iter().filter(|v| v.split == "test").collect();
    assert_eq!(tests.len(), 4);
    for v in tests {
        let a = avad_core::npy::read_npy(&pred.join(format!("{}.npy", v.name))).unwrap();
        assert_eq!(a.shape, vec![v.snippets, 7], "{}", v.name);
        for r in 0..a.rows() {
            assert!((a.row(r).iter().sum::<f32>() - 1.0).abs() < 1e-4);
        }
        let c = avad_core::npy::read_npy(&pred.join("c_branch").join(format!("{}.npy", v.name)))
            .unwrap();
        assert_eq!(c.shape, vec![v.snippets]);
    }

    // `--engine reference` (burn) scores like the default (the fast CPU engine) within 1e-4.
    let pred_ref = tmp.path().join("pred-reference");
    common::assert_success(
        common::predict_command(&out, &data.test_list, &pred_ref)
            .args(["--engine", "reference"])
            .output()
            .unwrap(),
    );
    for v in data.videos.iter().filter(|v| v.split == "test") {
        let name = format!("{}.npy", v.name);
        let fast = avad_core::npy::read_npy(&pred.join(&name)).unwrap();
        let reference = avad_core::npy::read_npy(&pred_ref.join(&name)).unwrap();
        assert_eq!(fast.shape, reference.shape);
        let d = avad_core::testing::max_abs_diff(&fast.data, &reference.data);
        assert!(d < 1e-4, "{}: fast vs reference differ by {d}", v.name);
    }

    // A stop requested by the debug flag exits with code 3 and is resumable as well.
    let out2 = tmp.path().join("run2");
    let mut c = avad_command();
    c.args(["train", "--preset", "synth-vadclip", "--train-list"])
        .arg(&data.train_list)
        .arg("--out")
        .arg(&out2)
        .args([
            "--epochs",
            "1",
            "--batch-size",
            "4",
            "--no-progress",
            "--stop-after-steps",
            "1",
        ]);
    let res = c.output().unwrap();
    assert_eq!(
        res.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&res.stderr)
    );
    assert_eq!(global_step(&out2), Some(1));
}
