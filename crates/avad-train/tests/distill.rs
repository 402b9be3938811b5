//! UKD distillation on a tiny in-memory audio-visual set: the UKD term really trains the student (a
//! weight > 0 changes the result, and only then does the log-variance head move), the frozen teacher's checkpoint
//! is left untouched, and the audio-only student trains on the audio features.

mod common;

use std::path::Path;

use avad_infer::StudentInput;
use avad_nn::WeightMap;
use avad_train::{
    build_model, distill, train, ClipSource, Selection, Teacher, TrainCheckpoint, TrainConfig,
    TrainOptions,
};

type B = burn::backend::Autodiff<burn_flex::Flex>;
type I = burn_flex::Flex;

fn student_config(weight: f64) -> TrainConfig {
    let mut cfg = common::shrink(TrainConfig::synth_student());
    cfg.epochs = 2;
    cfg.selection = Selection::LastEpoch;
    cfg.loss.ukd_weight = weight;
    cfg
}

fn weights(json: &Path) -> WeightMap {
    TrainCheckpoint::open(json).unwrap().load_weights().unwrap()
}

fn max_abs_diff(a: &WeightMap, b: &WeightMap, key: &str) -> f32 {
    avad_core::testing::max_abs_diff(&common::values(a, key), &common::values(b, key))
}

fn file_bytes(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for e in walk(dir) {
        out.push((e.display().to_string(), std::fs::read(&e).unwrap()));
    }
    out.sort();
    out
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut v = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            v.extend(walk(&p));
        } else {
            v.push(p);
        }
    }
    v
}

/// A teacher of the small test config trained for one epoch on `data`, in `dir/teacher` (returned).
fn train_teacher_one_epoch(
    data: &avad_train::Dataset,
    dir: &std::path::Path,
) -> std::path::PathBuf {
    let mut cfg = common::small_config();
    cfg.epochs = 1;
    let out = dir.join("teacher");
    train::<B>(
        &cfg,
        &ClipSource::Random,
        data,
        None,
        &TrainOptions::new(&out),
        &Default::default(),
    )
    .unwrap();
    out
}

#[test]
fn ukd_gradient_flows_and_teacher_stays_frozen() {
    let data = common::toy_dataset(12, 5);
    let dev = Default::default();
    let tmp = tempfile::tempdir().unwrap();

    let tdir = train_teacher_one_epoch(&data, tmp.path());
    let before = file_bytes(&tdir);
    let teacher = Teacher::<I>::load(&tdir, &dev).unwrap();

    let run = |name: &str, weight: f64| {
        let out = tmp.path().join(name);
        let s = distill::<B>(
            &student_config(weight),
            &ClipSource::Random,
            &teacher,
            &data,
            None,
            &TrainOptions::new(&out),
            &dev,
        )
        .unwrap();
        (s, out)
    };
    let (s0, out0) = run("w0", 0.0);
    let (s1, out1) = run("w1", 1.0);

    // The teacher's files are byte-identical after two distillations.
    assert_eq!(file_bytes(&tdir), before, "the teacher checkpoint changed");

    // Raw UKD loss is logged only when the term is on.
    assert!(s0.progress.history.iter().all(|r| r.loss4.is_none()));
    let l4: Vec<f64> = s1
        .progress
        .history
        .iter()
        .map(|r| r.loss4.unwrap())
        .collect();
    assert!(l4.iter().all(|x| x.is_finite()), "{l4:?}");

    // Same seed, same batches: only the UKD term differs, and it changes the trained student.
    let (w0, w1) = (weights(&s0.model_json), weights(&s1.model_json));
    let theta = "fe_net.theta.theta.0.weight";
    let mu = "fe_net.conv.0.conv.0.weight";
    assert!(
        max_abs_diff(&w0, &w1, mu) > 1e-5,
        "UKD did not change the mean branch"
    );
    // θ enters the loss only through UKD: without it the log-variance head keeps its initial weights.
    let (fresh, _) = build_model::<I>(&student_config(0.0), &ClipSource::Random, &dev).unwrap();
    let init = fresh.to_weights();
    assert_eq!(max_abs_diff(&w0, &init, theta), 0.0, "θ moved without UKD");
    assert!(
        max_abs_diff(&w1, &init, theta) > 1e-5,
        "θ did not move with UKD"
    );
    // Checkpoints name their teacher.
    let meta = TrainCheckpoint::open(&out1).unwrap().meta;
    assert!(meta.source.unwrap().contains("distilled"));
    assert!(TrainCheckpoint::open(&out0)
        .unwrap()
        .meta
        .train_config
        .unwrap()
        .is_student());

    // A student with UKD weight > 0 cannot be trained without a teacher.
    let e = train::<B>(
        &student_config(1e-8),
        &ClipSource::Random,
        &data,
        None,
        &TrainOptions::new(tmp.path().join("no-teacher")),
        &dev,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("avad distill"), "{e}");
}

#[test]
fn audio_student_trains_on_audio_and_checks_shapes() {
    let data = common::toy_dataset(10, 8);
    let dev = Default::default();
    let tmp = tempfile::tempdir().unwrap();
    let tdir = train_teacher_one_epoch(&data, tmp.path());
    let teacher = Teacher::<I>::load(&tdir, &dev).unwrap();

    let mut cfg = student_config(0.1);
    cfg.modality = StudentInput::Audio;
    cfg.selection = Selection::Validation;
    let s = distill::<B>(
        &cfg,
        &ClipSource::Random,
        &teacher,
        &data,
        None,
        &TrainOptions::new(tmp.path().join("audio")),
        &dev,
    )
    .unwrap();
    assert!(s
        .progress
        .history
        .iter()
        .all(|r| r.val.is_some() && r.loss4.is_some()));
    let saved = TrainCheckpoint::open(&s.model_json)
        .unwrap()
        .meta
        .train_config
        .unwrap();
    assert_eq!(saved.modality, StudentInput::Audio);

    // Mismatches are refused up front: another sequence length, a non-student preset, a student as teacher.
    let mut bad = student_config(0.1);
    bad.model.visual_length = 32;
    let e = distill::<B>(
        &bad,
        &ClipSource::Random,
        &teacher,
        &data,
        None,
        &TrainOptions::new(tmp.path().join("bad")),
        &dev,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("visual_length"), "{e}");
    let teacher_cfg = common::small_config(); // the teacher's (non-student) config
    let e = distill::<B>(
        &teacher_cfg,
        &ClipSource::Random,
        &teacher,
        &data,
        None,
        &TrainOptions::new(tmp.path().join("bad2")),
        &dev,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("not a student"), "{e}");
    assert!(Teacher::<I>::load(&s.model_json, &dev).is_err());
}
