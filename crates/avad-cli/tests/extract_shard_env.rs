//! `avad extract` without `--shard` takes its share from the environment: a Slurm array task
//! (`SLURM_ARRAY_TASK_ID` of `SLURM_ARRAY_TASK_COUNT`) or a Kubernetes indexed job (`JOB_COMPLETION_INDEX` of
//! `AVAD_SHARD_COUNT`); an explicit `--shard` wins; malformed values fail before any model is loaded. Three shards
//! from the three sources cover every video exactly once.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{avad_command, root};

const VARS: [&str; 6] = [
    "SLURM_ARRAY_TASK_ID",
    "SLURM_ARRAY_TASK_COUNT",
    "SLURM_ARRAY_TASK_MIN",
    "SLURM_ARRAY_TASK_STEP",
    "JOB_COMPLETION_INDEX",
    "AVAD_SHARD_COUNT",
];

const CLIPS: [&str; 3] = [
    "moviepy_fire2.mp4",
    "moviepy_video_with_failing_audio.mp4",
    "moviepy_test_video_1x1.mp4",
];

/// `avad extract` of `list` into `out` with only the environment variables `env` of [`VARS`] set.
fn extract(list: &Path, out: &Path, w2c: &Path, env: &[(&str, &str)], extra: &[&str]) -> Output {
    let mut c: Command = avad_command();
    for v in VARS {
        c.env_remove(v);
    }
    c.envs(env.iter().copied())
        .arg("extract")
        .arg("--videos")
        .arg(list)
        .arg("--clip-model")
        .arg(root().join("fixtures/clip/tiny_hf"))
        .arg("--wav2clip")
        .arg(w2c)
        .arg("--out")
        .arg(out)
        .args(["--max-snippets", "2", "--batch", "2"])
        .args(extra);
    let o = c.output().unwrap();
    eprintln!(
        "env {env:?} {extra:?}\nstdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

/// Names of the videos with a done-marker in `out`.
fn done(out: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(out.join("done"))
        .map(|rd| {
            rd.map(|e| {
                e.unwrap()
                    .path()
                    .file_stem()
                    .unwrap()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn extract_takes_its_shard_from_slurm_or_kubernetes_variables() {
    let tmp = tempfile::tempdir().unwrap();
    let w2c = tmp.path().join("wav2clip.safetensors");
    avad_wav2clip::testing::save_formula_weights::<burn_flex::Flex>(&w2c, &burn_flex::FlexDevice)
        .unwrap();
    let mut paths: Vec<PathBuf> = CLIPS
        .iter()
        .map(|c| root().join("fixtures/media").join(c))
        .collect();
    let list = tmp.path().join("videos.txt");
    std::fs::write(
        &list,
        paths
            .iter()
            .map(|p| format!("{}\n", p.display()))
            .collect::<String>(),
    )
    .unwrap();
    // `avad extract` sorts the list by path; shard I gets video I of 3.
    paths.sort();
    let stem = |i: usize| paths[i].file_stem().unwrap().to_string_lossy().into_owned();

    // Slurm array task 1 of 3.
    let slurm = tmp.path().join("slurm");
    let o = extract(
        &list,
        &slurm,
        &w2c,
        &[
            ("SLURM_ARRAY_TASK_ID", "1"),
            ("SLURM_ARRAY_TASK_COUNT", "3"),
        ],
        &[],
    );
    assert!(o.status.success());
    assert_eq!(done(&slurm), vec![stem(1)]);
    let log = String::from_utf8_lossy(&o.stderr);
    assert!(
        log.contains("shard 1/3 (from SLURM_ARRAY_TASK_ID/SLURM_ARRAY_TASK_COUNT): 1 of 3 videos"),
        "{log}"
    );

    // Kubernetes indexed job: index 2, count from AVAD_SHARD_COUNT.
    let k8s = tmp.path().join("k8s");
    let o = extract(
        &list,
        &k8s,
        &w2c,
        &[("JOB_COMPLETION_INDEX", "2"), ("AVAD_SHARD_COUNT", "3")],
        &[],
    );
    assert!(o.status.success());
    assert_eq!(done(&k8s), vec![stem(2)]);
    assert!(String::from_utf8_lossy(&o.stderr)
        .contains("shard 2/3 (from JOB_COMPLETION_INDEX/AVAD_SHARD_COUNT): 1 of 3 videos"));

    // An explicit --shard wins over the environment.
    let flag = tmp.path().join("flag");
    let o = extract(
        &list,
        &flag,
        &w2c,
        &[
            ("SLURM_ARRAY_TASK_ID", "1"),
            ("SLURM_ARRAY_TASK_COUNT", "3"),
        ],
        &["--shard", "0/3"],
    );
    assert!(o.status.success());
    assert_eq!(done(&flag), vec![stem(0)]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("shard 0/3 (from --shard): 1 of 3 videos"));

    // The three shards cover every video exactly once.
    let mut all: Vec<String> = [&slurm, &k8s, &flag].iter().flat_map(|d| done(d)).collect();
    all.sort();
    let mut want: Vec<String> = (0..3).map(stem).collect();
    want.sort();
    assert_eq!(all, want);

    // Malformed or incomplete values: a clear error before anything is loaded or written.
    for (env, needle) in [
        (
            &[("JOB_COMPLETION_INDEX", "two"), ("AVAD_SHARD_COUNT", "3")][..],
            "JOB_COMPLETION_INDEX=`two` is not a whole number",
        ),
        (
            &[("JOB_COMPLETION_INDEX", "1")][..],
            "AVAD_SHARD_COUNT is not",
        ),
        (
            &[
                ("SLURM_ARRAY_TASK_ID", "4"),
                ("SLURM_ARRAY_TASK_COUNT", "3"),
            ][..],
            "SLURM_ARRAY_TASK_ID=4",
        ),
    ] {
        let bad = tmp.path().join("bad");
        let o = extract(&list, &bad, &w2c, env, &[]);
        assert!(!o.status.success(), "{env:?} must fail");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(needle), "{env:?}: {err}");
        assert!(!bad.exists(), "{env:?}: nothing may be written");
    }
}
