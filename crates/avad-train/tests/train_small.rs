//! Training the AVadCLIP teacher architecture (shrunk) on a tiny synthetic set: the loss decreases, both
//! branches are evaluated every epoch, checkpoints are written and the final model predicts.

mod common;

use avad_infer::Predictor;
use avad_nn::WeightMap;
use avad_train::{train, ClipSource, TrainCheckpoint, TrainOptions};

type B = burn::backend::Autodiff<burn_flex::Flex>;

#[test]
fn teacher_loss_decreases_and_model_predicts() {
    let data = common::toy_dataset(12, 5);
    let cfg = common::small_config();
    let dir = tempfile::tempdir().unwrap();
    let opts = TrainOptions::new(dir.path());
    let dev = Default::default();
    let summary = train::<B>(&cfg, &ClipSource::Random, &data, None, &opts, &dev).unwrap();
    let h = &summary.progress.history;
    assert_eq!(h.len(), cfg.epochs);
    for r in h {
        eprintln!(
            "epoch {} loss {:.4} (l1 {:.4} l2 {:.4} l3 {:.4}) val {}",
            r.epoch,
            r.loss,
            r.loss1,
            r.loss2,
            r.loss3,
            r.val.as_ref().unwrap()
        );
    }
    let first = h[0].loss;
    let last = h.last().unwrap().loss;
    assert!(last < 0.7 * first, "loss went from {first} to {last}");
    assert!(h
        .iter()
        .all(|r| r.val.is_some() && r.selection_metric.is_some()));
    let best = summary.progress.best_epoch.unwrap();
    assert!(h[best].is_best);

    for f in [
        "last.json",
        "best.json",
        "model.json",
        "history.jsonl",
        "config.toml",
    ] {
        assert!(dir.path().join(f).is_file(), "{f} missing");
    }
    // The frozen CLIP text tower is written once, beside the trained weights (checkpoint layout).
    let ck = TrainCheckpoint::open(dir.path()).unwrap();
    let clip_file = ck.meta.clip_weights.as_deref().expect("a shared CLIP file");
    let keys = |rel: &str| -> Vec<String> {
        let sd = WeightMap::load_safetensors(dir.path().join(rel)).unwrap();
        sd.iter().map(|(k, _)| k.to_string()).collect()
    };
    let clip_keys = keys(clip_file);
    assert!(!clip_keys.is_empty() && clip_keys.iter().all(|k| k.starts_with("clipmodel.")));
    assert!(keys(&ck.meta.weights)
        .iter()
        .all(|k| !k.starts_with("clipmodel.")));
    // The final model loads and predicts whole videos (longer than T → two chunks).
    let p = Predictor::<burn_flex::Flex>::from_checkpoint(dir.path(), &dev).unwrap();
    let t = 100;
    let visual = vec![0.1f32; t * common::D];
    let audio = vec![0.0f32; t * common::D];
    let s = p.predict(&visual, Some(&audio)).unwrap();
    assert_eq!(
        (s.t, s.num_class, s.prob1.len(), s.probs.len()),
        (t, 7, t, t * 7)
    );
    for row in s.probs.chunks(7) {
        assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-4);
    }
    assert!(p.predict(&visual, None).is_err(), "teacher needs audio");
}
