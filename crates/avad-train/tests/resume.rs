//! Stopping training mid-epoch and rerunning it resumes from `last.json` (not a restart) and ends with exactly
//! the weights of an uninterrupted run. One test per binary: the backend RNG is process-global.

mod common;

use avad_train::{train, ClipSource, ResumeMode, TrainCheckpoint, TrainError, TrainOptions};

type B = burn::backend::Autodiff<burn_flex::Flex>;

fn weights(dir: &std::path::Path) -> Vec<(String, Vec<f32>)> {
    let ck = TrainCheckpoint::open(&dir.join("model.json")).unwrap();
    ck.load_weights()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_vec::<f32>().unwrap()))
        .collect()
}

#[test]
fn stopped_run_resumes_and_matches_uninterrupted_run() {
    let data = common::toy_dataset(8, 11);
    let mut cfg = common::small_config();
    cfg.epochs = 3;
    cfg.batch_size = 4;
    cfg.save_every_steps = 2;
    let dev = Default::default();

    // Uninterrupted reference run.
    let full = tempfile::tempdir().unwrap();
    let ref_sum = train::<B>(
        &cfg,
        &ClipSource::Random,
        &data,
        None,
        &TrainOptions::new(full.path()),
        &dev,
    )
    .unwrap();
    assert!(!ref_sum.resumed);
    let steps_per_epoch = ref_sum.progress.history[0].steps as u64;
    assert!(steps_per_epoch >= 3);

    // Interrupted run: stop in the middle of epoch 2 (not on a periodic-save step).
    let part = tempfile::tempdir().unwrap();
    let stop_at = steps_per_epoch + 1;
    let mut opts = TrainOptions::new(part.path());
    opts.stop_after_steps = Some(stop_at);
    match train::<B>(&cfg, &ClipSource::Random, &data, None, &opts, &dev) {
        Err(TrainError::Stopped { steps }) => assert_eq!(steps, stop_at),
        other => panic!("expected a stop, got {other:?}"),
    }
    let last = TrainCheckpoint::open(&part.path().join("last.json")).unwrap();
    let p = last.meta.progress.clone().unwrap();
    assert_eq!((p.epoch, p.step_in_epoch, p.global_step), (1, 1, stop_at));
    assert!(last.meta.optimizer.is_some());
    assert!(!part.path().join("model.json").exists());

    // A fresh start over an existing run is refused.
    let mut never = TrainOptions::new(part.path());
    never.resume = ResumeMode::Never;
    assert!(train::<B>(&cfg, &ClipSource::Random, &data, None, &never, &dev).is_err());

    // Rerun: resumes (does not restart) and finishes.
    let mut opts = TrainOptions::new(part.path());
    opts.resume = ResumeMode::Require;
    let sum = train::<B>(&cfg, &ClipSource::Random, &data, None, &opts, &dev).unwrap();
    assert!(sum.resumed);
    assert_eq!(
        sum.steps_run,
        ref_sum.progress.global_step - stop_at,
        "only the remaining steps were run"
    );
    assert_eq!(ref_sum.steps_run, ref_sum.progress.global_step);
    assert_eq!(sum.progress.global_step, ref_sum.progress.global_step);
    assert_eq!(sum.progress.history.len(), 3);
    for (a, b) in sum.progress.history.iter().zip(&ref_sum.progress.history) {
        assert!(
            (a.loss - b.loss).abs() < 1e-9,
            "epoch {} mean loss {} vs {}",
            a.epoch,
            a.loss,
            b.loss
        );
        assert_eq!(a.is_best, b.is_best);
    }
    // Same final weights, bit for bit.
    let (wa, wb) = (weights(full.path()), weights(part.path()));
    assert_eq!(wa.len(), wb.len());
    let mut max = 0f32;
    for ((ka, va), (kb, vb)) in wa.iter().zip(&wb) {
        assert_eq!(ka, kb);
        for (x, y) in va.iter().zip(vb) {
            max = max.max((x - y).abs());
        }
    }
    assert_eq!(
        max, 0.0,
        "resumed run differs from the uninterrupted one by {max:e}"
    );

    // Running again on a finished run does nothing and reports it.
    let again = train::<B>(
        &cfg,
        &ClipSource::Random,
        &data,
        None,
        &TrainOptions::new(part.path()),
        &dev,
    )
    .unwrap();
    assert!(again.resumed && again.progress.finished);
    assert_eq!(again.progress.global_step, ref_sum.progress.global_step);
}
