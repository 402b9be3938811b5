//! `avad detect` with a model bundle: on real clips, the teacher scores a clip with sound and the visual
//! student scores clips without an audio stream or with a silent one; the report says which model scored it.

use std::path::{Path, PathBuf};

use avad_infer::{write_model_checkpoint, BundleSpec, ModelBundle, Role};
use avad_pipeline::{EncoderEngine, Encoders, FeatureOptions, ScoreOptions};
use avad_train::testing::write_tiny_checkpoint;
use avad_train::{build_model, ClipSource, LabelSet, TrainCheckpointMeta, TrainConfig};
use avad_wav2clip::testing::save_formula_weights;

type B = burn_flex::Flex;

fn media(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/media")
        .join(name)
}

/// A random-weight visual student (FE net) of CLIP's width, as `avad distill` would save it.
fn write_student(dir: &Path, width: usize) -> PathBuf {
    let mut cfg = TrainConfig::synth_student();
    cfg.set_feature_width(width);
    cfg.model.visual_length = 32;
    let (model, cfg) = build_model::<B>(&cfg, &ClipSource::Random, &Default::default()).unwrap();
    let mut meta = TrainCheckpointMeta::new(
        cfg.model.clone(),
        avad_train::text::class_names(LabelSet::Xd),
        "model.safetensors",
    );
    meta.train_config = Some(cfg);
    write_model_checkpoint(dir, meta, &model.to_weights()).unwrap()
}

#[test]
fn bundle_scores_clips_without_sound_with_the_student() {
    let tmp = tempfile::tempdir().unwrap();
    let w = tmp.path().join("wav2clip.safetensors");
    save_formula_weights::<burn_flex::Flex>(&w, &burn_flex::FlexDevice).unwrap();
    let dev = Default::default();
    let enc = Encoders::<B>::load(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/clip/tiny_hf"),
        &w,
        &dev,
        EncoderEngine::FastCpu,
    )
    .unwrap();
    let teacher = write_tiny_checkpoint::<B>(
        &tmp.path().join("teacher"),
        enc.visual_width(),
        Some(avad_wav2clip::EMBED_DIM),
        7,
        &dev,
    )
    .unwrap();
    let student = write_student(&tmp.path().join("student"), enc.visual_width());
    let bundle_json = tmp.path().join("bundle.json");
    BundleSpec::update(&bundle_json, Some(&teacher), Role::VisualStudent, &student).unwrap();
    let bundle = ModelBundle::<B>::load(&bundle_json, &dev).unwrap();
    assert!(bundle.is_bundle && bundle.members.len() == 2);
    let opts = FeatureOptions {
        max_snippets: Some(4),
        ..FeatureOptions::default()
    };
    let detect = |clip: &str| {
        avad_pipeline::detect::detect_video_bundle(
            &enc,
            &bundle,
            &media(clip),
            &opts,
            &ScoreOptions::offline(0.5),
        )
        .unwrap()
    };
    let r = detect("moviepy_fire2.mp4");
    assert_eq!(
        (
            r.model.as_str(),
            r.audio.as_str(),
            r.audio_features.as_str()
        ),
        ("teacher", "present", "wav2clip")
    );
    let r = detect("moviepy_test_video_1x1.mp4");
    assert_eq!(
        (
            r.model.as_str(),
            r.audio.as_str(),
            r.audio_features.as_str()
        ),
        ("student", "none", "unused")
    );
    assert!(r.snippets.iter().all(|s| s.probs.len() == 7));
    let r = detect("intel_car-detection.mp4");
    assert_eq!((r.model.as_str(), r.audio.as_str()), ("student", "silent"));
}
