//! The fast CPU forward pass (`FastModel`: prepacked avad-kernels GEMMs) against the burn model it replaces in
//! prediction (`AvadClip::forward_with_text_features`): every output within 1e-4, on random weights of every preset
//! and variant (windows with a clipped tail, several heads, several chunks of different valid lengths, fusions,
//! prompt variants, the student's FE net) and on the parity fixtures; independent of the thread count (bitwise).

mod common;

use avad_kernels::KernelChoice;
use avad_model::text_tower::set_text_width;
use avad_model::{
    AvadClip, FastModel, FastModelOptions, FusionKind, ModelConfig, ModelOutput, PromptVariant,
};
use burn::prelude::*;
use common::*;

const TOL: f32 = 1e-4;

fn host<const D: usize>(t: &Tensor<B, D>) -> Vec<f32> {
    t.to_data().convert::<f32>().to_vec().unwrap()
}

/// Seeded test inputs in [-1.0, 1.0).
fn noise(n: usize, seed: u64) -> Vec<f32> {
    avad_core::testing::uniform(n, seed, -1.0, 1.0)
}

/// Visual features whose rows are partly similar (a shared direction plus noise of varying size), so that the
/// similarity graph has entries on both sides of its 0.7 threshold.
fn visual(n: usize, t: usize, d: usize, seed: u64) -> Vec<f32> {
    let base = noise(d, seed ^ 0xABCD);
    let eps = noise(n * t * d, seed);
    let mut out = Vec::with_capacity(n * t * d);
    for r in 0..n * t {
        let sigma = [0.1f32, 0.5, 1.0, 2.0][r % 4];
        for k in 0..d {
            out.push(3.0 * base[k] + sigma * 3.0 * eps[r * d + k]);
        }
    }
    out
}

fn small(mut c: ModelConfig, d: usize, t: usize) -> ModelConfig {
    c.visual_width = d;
    c.embed_dim = d;
    c.visual_length = t;
    c.clip_text.num_hidden_layers = 1;
    c.clip_text.num_attention_heads = 2;
    set_text_width(&mut c.clip_text, d);
    if let Some(a) = c.audio.as_mut() {
        a.input_width = d + 8;
        a.channels = vec![d, d, d];
    }
    c
}

struct Case {
    visual: Vec<f32>,
    audio: Option<Vec<f32>>,
    text: Vec<f32>,
    lengths: Vec<usize>,
    t: usize,
    d: usize,
}

impl Case {
    fn new(model: &AvadClip<B>, lengths: &[usize], seed: u64) -> Self {
        let [t, d] = model.frame_position_embeddings.dims();
        let n = lengths.len();
        let da = model
            .temporalconvnet
            .as_ref()
            .map(|tcn| tcn.network[0].conv1.weight_v.dims()[1]);
        let classes = model.alpha.as_ref().map_or(7, |a| a.dims()[0]);
        Self {
            visual: visual(n, t, d, seed),
            audio: da.map(|da| noise(n * t * da, seed + 1)),
            text: noise(classes * d, seed + 2),
            lengths: lengths.to_vec(),
            t,
            d,
        }
    }

    fn reference(&self, model: &AvadClip<B>) -> ModelOutput<B> {
        let n = self.lengths.len();
        let dev = device();
        let vis = Tensor::<B, 3>::from_data(
            TensorData::new(self.visual.clone(), [n, self.t, self.d]),
            &dev,
        );
        let aud = self.audio.as_ref().map(|a| {
            let da = a.len() / (n * self.t);
            Tensor::<B, 3>::from_data(TensorData::new(a.clone(), [n, self.t, da]), &dev)
        });
        let c = self.text.len() / self.d;
        let text = Tensor::<B, 2>::from_data(TensorData::new(self.text.clone(), [c, self.d]), &dev);
        model
            .forward_with_text_features(vis, aud, &self.lengths, text)
            .unwrap()
    }
}

/// Max abs difference of every output of the fast path against the burn path.
fn compare(model: &AvadClip<B>, case: &Case, opts: FastModelOptions, what: &str) -> f32 {
    let fast = FastModel::new(model, opts).unwrap();
    let got = fast
        .forward(
            &case.visual,
            case.audio.as_deref(),
            &case.lengths,
            &case.text,
        )
        .unwrap();
    let want = case.reference(model);
    let mut worst = 0.0f32;
    let mut check = |name: &str, g: &[f32], w: Vec<f32>| {
        assert_eq!(g.len(), w.len(), "{what}: {name} length");
        assert!(g.iter().all(|v| v.is_finite()), "{what}: {name} not finite");
        let err = avad_core::testing::max_abs_diff(g, &w);
        eprintln!("{what}: {name} max abs err {err:.2e}");
        assert!(err <= TOL, "{what}: {name} max abs err {err:e}");
        worst = worst.max(err);
    };
    check(
        "visual_features",
        &got.visual_features,
        host(&want.visual_features),
    );
    check("features", &got.features, host(&want.features));
    check("logits1", &got.logits1, host(&want.logits1));
    check("logits2", &got.logits2, host(&want.logits2));
    match (&got.audio_features, &want.audio_features) {
        (Some(g), Some(w)) => check("audio_features", g, host(w)),
        (None, None) => {}
        _ => panic!("{what}: audio features present on one side only"),
    }
    match (&got.fusion_gate, &want.fusion_gate) {
        (Some(g), Some(w)) => check("fusion_gate", g, host(w)),
        (None, None) => {}
        _ => panic!("{what}: gate present on one side only"),
    }
    match (&got.fusion_residual, &want.fusion_residual) {
        (Some(g), Some(w)) => check("fusion_residual", g, host(w)),
        (None, None) => {}
        _ => panic!("{what}: gated residual present on one side only"),
    }
    worst
}

/// Asserts that the similarity graph of the case's first chunk has entries on both sides of the threshold (rows
/// neither uniform nor all one-hot), so the comparison covers it.
fn assert_graph_exercised(model: &AvadClip<B>, case: &Case) {
    use avad_model::graph::adj4;
    use avad_model::temporal::AttentionPattern;
    let (t, d) = (case.t, case.d);
    let vis = Tensor::<B, 3>::from_data(
        TensorData::new(case.visual[..t * d].to_vec(), [1, t, d]),
        &device(),
    );
    let x = vis + model.frame_position_embeddings.val().unsqueeze_dim::<3>(0);
    let x = model
        .temporal
        .forward(x, AttentionPattern::Window(model.attn_window));
    let len = case.lengths[0];
    let adj = host(&adj4(x, &[len]));
    let uniform = (0..len)
        .filter(|&i| {
            let row = &adj[i * t..i * t + len];
            let (lo, hi) = row
                .iter()
                .fold((f32::MAX, f32::MIN), |(a, b), &v| (a.min(v), b.max(v)));
            hi - lo < 1e-6
        })
        .count();
    assert!(
        uniform < len,
        "every row of the similarity graph is uniform: nothing above the threshold"
    );
}

fn model(cfg: &ModelConfig, seed: u64) -> AvadClip<B> {
    let _rng = avad_nn::init::seeded::<B>(&device(), seed);
    AvadClip::<B>::new_without_text(cfg, &device()).unwrap()
}

#[test]
fn every_preset_matches_burn_on_random_weights() {
    // T = 42: windows of 4 and 8 leave a clipped tail; window 64 is clamped to one window of 42 (GEMM path).
    let lengths = [42, 17, 1];
    for (name, cfg) in [
        ("teacher", ModelConfig::avadclip_teacher_xd()),
        ("vadclip-xd", ModelConfig::vadclip_xd()),
        ("vadclip-ucf", ModelConfig::vadclip_ucf()),
        ("student", ModelConfig::avadclip_student_xd()),
    ] {
        let cfg = small(cfg, 32, 42);
        let m = model(&cfg, 7);
        let case = Case::new(&m, &lengths, 11);
        assert_graph_exercised(&m, &case);
        compare(&m, &case, FastModelOptions::default(), name);
    }
}

#[test]
fn heads_windows_fusions_and_prompts_match_burn() {
    let base = small(ModelConfig::avadclip_teacher_xd(), 32, 40);
    let mut variants: Vec<(String, ModelConfig)> = Vec::new();
    for (heads, window) in [(4, 4), (2, 20), (1, 40), (8, 3), (2, 17)] {
        let mut c = base.clone();
        c.visual_head = heads;
        c.attn_window = window;
        variants.push((format!("{heads} heads, window {window}"), c));
    }
    for fusion in [FusionKind::Add, FusionKind::ConcatLinear] {
        let mut c = base.clone();
        c.fusion = fusion;
        if fusion == FusionKind::Add {
            c.audio.as_mut().unwrap().input_width = 32;
        }
        variants.push((format!("fusion {fusion:?}"), c));
    }
    for prompt in [PromptVariant::Add, PromptVariant::Paper] {
        let mut c = base.clone();
        c.prompt = prompt;
        variants.push((format!("prompt {prompt:?}"), c));
    }
    let mut c = small(ModelConfig::vadclip_xd(), 32, 40);
    c.prompt = PromptVariant::Paper;
    variants.push(("vadclip, paper prompt".into(), c));
    for (i, (name, cfg)) in variants.iter().enumerate() {
        let m = model(cfg, 100 + i as u64);
        let case = Case::new(&m, &[40, 23], 200 + i as u64);
        compare(&m, &case, FastModelOptions::default(), name);
    }
}

#[test]
fn output_does_not_depend_on_threads_and_portable_kernels_agree() {
    let cfg = small(ModelConfig::avadclip_teacher_xd(), 48, 64);
    let m = model(&cfg, 3);
    let case = Case::new(&m, &[64, 30], 5);
    let run = |threads: usize, kernel: KernelChoice| {
        let fast = FastModel::new(&m, FastModelOptions { threads, kernel }).unwrap();
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        pool.install(|| {
            fast.forward(
                &case.visual,
                case.audio.as_deref(),
                &case.lengths,
                &case.text,
            )
            .unwrap()
        })
    };
    let one = run(1, KernelChoice::Auto);
    let two = run(2, KernelChoice::Auto);
    assert_eq!(one.logits1, two.logits1);
    assert_eq!(one.logits2, two.logits2);
    assert_eq!(one.features, two.features);
    compare(
        &m,
        &case,
        FastModelOptions {
            threads: 0,
            kernel: KernelChoice::Portable,
        },
        "portable kernels",
    );
}

#[test]
fn unsupported_models_and_bad_inputs_are_errors() {
    let mut cfg = small(ModelConfig::avadclip_teacher_xd(), 32, 16);
    cfg.fusion = FusionKind::CrossAttention;
    cfg.audio.as_mut().unwrap().input_width = 32;
    let m = model(&cfg, 1);
    assert!(FastModel::new(&m, FastModelOptions::default()).is_err());

    let cfg = small(ModelConfig::avadclip_teacher_xd(), 32, 16);
    let m = model(&cfg, 1);
    let fast = FastModel::new(&m, FastModelOptions::default()).unwrap();
    let case = Case::new(&m, &[16], 2);
    assert!(fast
        .forward(&case.visual, None, &case.lengths, &case.text)
        .is_err());
    assert!(fast
        .forward(
            &case.visual[1..],
            case.audio.as_deref(),
            &case.lengths,
            &case.text
        )
        .is_err());
    assert!(fast
        .forward(&case.visual, case.audio.as_deref(), &[17], &case.text)
        .is_err());
    assert!(fast
        .forward(&case.visual, case.audio.as_deref(), &[0], &case.text)
        .is_err());
    assert!(fast
        .forward(
            &case.visual,
            case.audio.as_deref(),
            &case.lengths,
            &case.text[1..]
        )
        .is_err());
}

/// The parity fixtures (D = 32, T = 256, lengths 97, 256, 256; weights of the official code): the fast path on
/// their inputs and class text equals the burn path.
#[test]
fn parity_fixtures_match_burn() {
    for name in ["vadclip", "avadclip_teacher", "avadclip_student"] {
        let io = Io::load(name);
        let cfg = fixture_config(name);
        let sd = fixture_state_dict(name);
        let (m, _) = AvadClip::<B>::from_weights(&cfg, &sd, &device()).unwrap();
        let text = m.class_text(&io.token_ids()).unwrap();
        let tf = m.text_features(&text).unwrap();
        let lengths = io.lengths();
        let [_, t, d] = io.tensor::<3>("visual").dims();
        let case = Case {
            visual: io.f32s("visual"),
            audio: cfg.audio.as_ref().map(|_| io.f32s("audio")),
            text: host(&tf),
            lengths,
            t,
            d,
        };
        compare(&m, &case, FastModelOptions::default(), name);
    }
}

/// Work buffers are reused between calls: a call after others (of other shapes) gives the same result (bitwise) as
/// the first call of a fresh model.
#[test]
fn repeated_calls_give_the_same_results() {
    for cfg in [
        ModelConfig::avadclip_teacher_xd(),
        ModelConfig::avadclip_student_xd(),
    ] {
        let cfg = small(cfg, 32, 24);
        let m = model(&cfg, 9);
        let a = Case::new(&m, &[24, 10, 3], 1);
        let b = Case::new(&m, &[7], 2);
        let run = |f: &FastModel, c: &Case| {
            f.forward(&c.visual, c.audio.as_deref(), &c.lengths, &c.text)
                .unwrap()
        };
        let fresh = run(
            &FastModel::new(&m, FastModelOptions::default()).unwrap(),
            &b,
        );
        let used = FastModel::new(&m, FastModelOptions::default()).unwrap();
        run(&used, &a);
        run(&used, &b);
        run(&used, &a);
        let again = run(&used, &b);
        assert_eq!(fresh.logits1, again.logits1);
        assert_eq!(fresh.logits2, again.logits2);
        assert_eq!(fresh.features, again.features);
        assert_eq!(fresh.audio_features, again.audio_features);
    }
}
