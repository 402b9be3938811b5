//! `Predictor` on the CPU backend runs the fast engine by default, and its scores equal the reference (burn)
//! engine's within 1e-4: class probabilities, C-branch probabilities, the audio gate and share, on videos of several
//! chunks, for the teacher, VadCLIP and the student.

use avad_core::testing::max_abs_diff;
use avad_infer::{ModelEngine, Predictor};
use avad_model::text_tower::set_text_width;
use avad_model::{AvadClip, ModelConfig};

type B = burn_flex::Flex;

fn small(mut c: ModelConfig) -> ModelConfig {
    let d = 32;
    c.visual_width = d;
    c.embed_dim = d;
    c.visual_length = 32;
    c.clip_text.num_hidden_layers = 1;
    c.clip_text.num_attention_heads = 2;
    set_text_width(&mut c.clip_text, d);
    if let Some(a) = c.audio.as_mut() {
        a.input_width = 24;
        a.channels = vec![d, d, d];
    }
    c
}

/// Seeded test inputs in [-2.0, 2.0).
fn noise(n: usize, seed: u64) -> Vec<f32> {
    avad_core::testing::uniform(n, seed, -2.0, 2.0)
}

#[test]
fn fast_engine_is_the_cpu_default_and_scores_like_the_reference() {
    let dev = Default::default();
    let names: Vec<String> = ["normal", "fighting", "shooting", "riot"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    for cfg in [
        ModelConfig::avadclip_teacher_xd(),
        ModelConfig::vadclip_xd(),
        ModelConfig::avadclip_student_xd(),
    ] {
        let mut cfg = small(cfg);
        cfg.num_class = names.len();
        let model = {
            let _rng = avad_nn::init::seeded::<B>(&dev, 5);
            AvadClip::<B>::new(&cfg, &dev).unwrap()
        };
        let fast = Predictor::new(model.clone(), names.clone()).unwrap();
        assert_eq!(fast.engine(), ModelEngine::FastCpu);
        let reference = Predictor::new(model, names.clone())
            .unwrap()
            .with_engine(ModelEngine::Reference)
            .unwrap();
        assert_eq!(reference.engine(), ModelEngine::Reference);
        for t in [75, 32, 5] {
            let visual = noise(t * 32, t as u64);
            let audio = cfg.audio.as_ref().map(|a| noise(t * a.input_width, 99));
            let a = fast.predict(&visual, audio.as_deref()).unwrap();
            let b = reference.predict(&visual, audio.as_deref()).unwrap();
            assert_eq!((a.t, a.num_class), (b.t, b.num_class));
            let what = format!("{:?} T {t}", cfg.fusion);
            assert!(max_abs_diff(&a.prob1, &b.prob1) < 1e-4, "{what}: prob1");
            assert!(max_abs_diff(&a.probs, &b.probs) < 1e-4, "{what}: probs");
            assert_eq!(a.audio_gate.is_some(), b.audio_gate.is_some(), "{what}");
            if let (Some(x), Some(y)) = (&a.audio_gate, &b.audio_gate) {
                assert_eq!(x.len(), t);
                assert!(max_abs_diff(x, y) < 1e-4, "{what}: gate");
            }
            assert_eq!(a.audio_share.is_some(), b.audio_share.is_some(), "{what}");
            if let (Some(x), Some(y)) = (&a.audio_share, &b.audio_share) {
                assert!(max_abs_diff(x, y) < 1e-4, "{what}: share");
            }
        }
    }
    assert_eq!(ModelEngine::parse("fast").unwrap(), ModelEngine::FastCpu);
    assert!(ModelEngine::parse("gpu").is_err());
}
