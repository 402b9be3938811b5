//! Training on avad-core's synthetic audio-visual benchmark through the list loader (`lists.rs`): the teacher's
//! training loss decreases and both branches are scored on the validation split and on the annotated test list.

use avad_core::metrics::ap::average_precision;
use avad_core::synth::{generate, SynthConfig};
use avad_train::lists::{load_test_set, load_training_set};
use avad_train::{train, ClipSource, TrainConfig, TrainOptions};

type B = burn::backend::Autodiff<burn_flex::Flex>;

#[test]
fn teacher_trains_on_synthetic_lists() {
    let tmp = tempfile::tempdir().unwrap();
    let synth = generate(
        &SynthConfig {
            seed: 5,
            train: 32,
            test: 8,
            min_len: 20,
            max_len: 120,
            ..Default::default()
        },
        &tmp.path().join("data"),
    )
    .unwrap();
    let mut cfg = TrainConfig::synth_teacher();
    // Keep the test fast: a 64-snippet model (process_feat averages longer videos down to 64) with 1 layer.
    cfg.model.visual_length = 64;
    cfg.model.visual_layers = 1;
    cfg.epochs = 4;
    cfg.batch_size = 8;
    cfg.lr = 2e-4;
    cfg.val_fraction = 0.25;
    let audio = cfg.model.audio.as_ref().map(|a| a.input_width);
    let data =
        load_training_set(&synth.train_list, None, cfg.labels, 64, 512, audio, 1 << 30).unwrap();
    assert_eq!(data.len(), 32);
    assert!(
        data.rows.iter().all(|r| r.sample.is_some()),
        "small sets are preloaded"
    );
    let test = load_test_set(
        &synth.test_list,
        None,
        &synth.annotations,
        16,
        true,
        cfg.labels,
    )
    .unwrap();
    assert_eq!(test.videos.len(), 8);
    let out = tmp.path().join("run");
    let s = train::<B>(
        &cfg,
        &ClipSource::Random,
        &data,
        Some(&test),
        &TrainOptions::new(&out),
        &Default::default(),
    )
    .unwrap();
    let h = &s.progress.history;
    for r in h {
        eprintln!(
            "epoch {} loss {:.4} val {:?} test {:?}",
            r.epoch, r.loss, r.val, r.test
        );
    }
    assert_eq!(h.len(), 4);
    assert!(
        h[3].loss < 0.85 * h[0].loss,
        "loss {} → {}",
        h[0].loss,
        h[3].loss
    );
    assert!(h.iter().all(|r| r.val.is_some() && r.test.is_some()));
    let t = h[3].test.as_ref().unwrap();
    let frames: Vec<u8> = test
        .videos
        .iter()
        .flat_map(|v| v.frame_gt.iter().map(|&y| y as u8))
        .collect();
    assert_eq!(t["n"].as_u64().unwrap() as usize, frames.len());
    assert!(frames.len() > 8 * 16);
    // A seeded random scorer on the same frames: the trained A-branch must beat it by a clear margin.
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let random: Vec<f64> = frames
        .iter()
        .map(|_| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (state >> 11) as f64 / (1u64 << 53) as f64
        })
        .collect();
    let random_ap = average_precision(&frames, &random).unwrap();
    let ap2 = t["ap2"].as_f64().unwrap();
    eprintln!("test AP2 {ap2:.4} vs random scorer {random_ap:.4}");
    assert!(ap2 > random_ap + 0.15, "AP2 {ap2} vs random {random_ap}");
}

#[test]
fn missing_audio_is_an_error_naming_the_video() {
    let tmp = tempfile::tempdir().unwrap();
    let synth = generate(
        &SynthConfig {
            seed: 2,
            train: 2,
            test: 3,
            min_len: 20,
            max_len: 40,
            ..Default::default()
        },
        tmp.path(),
    )
    .unwrap();
    let videos = avad_infer::read_videos(&synth.test_list, None).unwrap();
    assert_eq!(videos.len(), 3);
    let v = &videos[1];
    std::fs::remove_file(v.audio.as_ref().unwrap()).unwrap();
    assert!(avad_infer::read_video_features(&videos[0], true).is_ok());
    let e = avad_infer::read_video_features(v, true)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(&v.name) && e.contains("audio feature file"),
        "{e}"
    );
    // A visual-only model does not need it.
    assert!(avad_infer::read_video_features(v, false).is_ok());
}
