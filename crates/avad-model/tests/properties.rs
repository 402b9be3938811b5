//! Property tests of the model parts: window masks, windowed attention, adj4, distance graph, the no-op AV-prompt
//! softmax, batched top-k.

mod common;

use avad_model::graph::{adj4, distance_adj};
use avad_model::losses::{topk_mean_over_time, topk_size};
use avad_model::prompt::{visual_prompt, PromptVariant};
use avad_model::temporal::{window_blocks, window_mask, window_mask_data, MultiheadAttention};
use avad_nn::init::Init;
use burn::prelude::*;
use burn::tensor::Distribution;
use common::*;

fn rand3(shape: [usize; 3], seed: u64) -> Tensor<B, 3> {
    <B as Backend>::seed(&device(), seed);
    Tensor::random(shape, Distribution::Normal(0.0, 1.0), &device())
}

fn vec_of<const D: usize>(t: &Tensor<B, D>) -> Vec<f32> {
    t.to_data().convert::<f32>().to_vec().unwrap()
}

/// The official `build_attention_mask` loop, `true` where the additive mask is −inf.
fn official_mask(len: usize, w: usize) -> Vec<bool> {
    let mut m = vec![true; len * len];
    for i in 0..len / w {
        let (s, e) = if (i + 1) * w < len {
            (i * w, (i + 1) * w)
        } else {
            (i * w, len)
        };
        for r in s..e {
            for c in s..e {
                m[r * len + c] = false;
            }
        }
    }
    m
}

#[test]
fn window_masks_are_block_diagonal_and_match_official_for_divisors() {
    for w in [1, 4, 8, 64, 256] {
        let m = window_mask_data(256, w);
        assert_eq!(m, official_mask(256, w), "window {w}");
        for i in 0..256 {
            for j in 0..256 {
                assert_eq!(!m[i * 256 + j], i / w == j / w);
            }
        }
    }
    // Non-divisor: last block clipped (official would leave rows 240.. fully masked).
    let b = window_blocks(256, 48);
    assert_eq!(b.last().unwrap().clone(), 240..256);
    assert_eq!(b.len(), 6);
    let m = window_mask_data(256, 48);
    assert!(!m[255 * 256 + 240] && m[255 * 256 + 239]);
    assert!(official_mask(256, 48)[250 * 256..251 * 256]
        .iter()
        .all(|&x| x));
}

#[test]
fn windowed_attention_equals_masked_full_attention() {
    let dev = device();
    <B as Backend>::seed(&dev, 3);
    let mha = MultiheadAttention::<B>::new(16, 2, Init::Random, &dev);
    let x = rand3([2, 40, 16], 5);
    for w in [4, 8, 12, 40, 64] {
        let blocked =
            mha.forward_pattern(x.clone(), avad_model::temporal::AttentionPattern::Window(w));
        let masked = mha.forward(x.clone(), Some(window_mask::<B>(40, w.min(40), &dev)));
        let d = vec_of(&blocked)
            .iter()
            .zip(vec_of(&masked))
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(d < 1e-5, "window {w}: {d}");
    }
    // Different windows give different results (the mask matters).
    let a =
        vec_of(&mha.forward_pattern(x.clone(), avad_model::temporal::AttentionPattern::Window(4)));
    let b = vec_of(&mha.forward_pattern(x, avad_model::temporal::AttentionPattern::Window(8)));
    assert!(a.iter().zip(&b).any(|(p, q)| (p - q).abs() > 1e-3));
}

#[test]
fn adj4_matches_per_video_reference_and_has_its_properties() {
    let t = 24;
    // Rows with shared segment directions so that cosines fall on both sides of 0.7.
    let base = rand3([1, 4, 8], 11);
    let noise = rand3([3, t, 8], 12);
    let idx: Vec<i64> = (0..3 * t * 8)
        .map(|k| ((k / 8 % t) / 6) as i64 * 8 + (k % 8) as i64)
        .collect();
    let base_flat = base.reshape([32]);
    let rows = base_flat
        .select(
            0,
            Tensor::from_data(TensorData::new(idx, [3 * t * 8]), &device()),
        )
        .reshape([3, t, 8]);
    let x = rows + noise * 0.5;
    let lengths = [7usize, 24, 1];
    let a = adj4(x.clone(), &lengths);
    let av = vec_of(&a);
    let xv = vec_of(&x);
    let mut above = 0;
    for (b, &len) in lengths.iter().enumerate() {
        for i in 0..t {
            let row = &av[(b * t + i) * t..(b * t + i + 1) * t];
            if i >= len {
                assert!(row.iter().all(|&v| v == 0.0), "padded row not zero");
                continue;
            }
            assert!(
                row[len..].iter().all(|&v| v == 0.0),
                "padded column not zero"
            );
            assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-5, "row sum");
            // Reference: thresholded cosine, softmax over the valid columns.
            let xi = &xv[(b * t + i) * 8..(b * t + i + 1) * 8];
            let logits: Vec<f64> = (0..len)
                .map(|j| {
                    let xj = &xv[(b * t + j) * 8..(b * t + j + 1) * 8];
                    let dot: f64 = xi.iter().zip(xj).map(|(p, q)| (*p * *q) as f64).sum();
                    let ni: f64 = xi.iter().map(|p| (*p * *p) as f64).sum::<f64>().sqrt();
                    let nj: f64 = xj.iter().map(|p| (*p * *p) as f64).sum::<f64>().sqrt();
                    let c = dot / (ni * nj + 1e-20);
                    if c > 0.7 {
                        above += 1;
                        c
                    } else {
                        0.0
                    }
                })
                .collect();
            let m = logits.iter().cloned().fold(f64::MIN, f64::max);
            let z: f64 = logits.iter().map(|l| (l - m).exp()).sum();
            for j in 0..len {
                let want = ((logits[j] - m).exp() / z) as f32;
                assert!(
                    (row[j] - want).abs() < 1e-5,
                    "adj4[{b},{i},{j}] {} vs {want}",
                    row[j]
                );
            }
        }
    }
    assert!(
        above > 3 * 24,
        "test data should have many cosines above the threshold"
    );
    // Length 1: the single valid entry is 1.
    assert_eq!(av[2 * t * t], 1.0);
}

#[test]
fn distance_adjacency_is_exp_minus_distance_over_e() {
    let d = vec_of(&distance_adj::<B>(256, &device()));
    assert_eq!(d[0], 1.0);
    for (i, j) in [(0usize, 1usize), (3, 10), (255, 0), (100, 101)] {
        let want = (-((i as f32 - j as f32).abs()) / std::f32::consts::E).exp();
        assert!((d[i * 256 + j] - want).abs() < 1e-7);
        assert_eq!(d[i * 256 + j], d[j * 256 + i]);
    }
}

#[test]
fn official_av_prompt_softmax_equals_plain_add_and_paper_variant_differs() {
    let t: Tensor<B, 2> = rand3([1, 7, 16], 21).reshape([7, 16]);
    let x = rand3([3, 20, 16], 22);
    let l1 = rand3([3, 20, 1], 23) * 3.0;
    let lengths = [20usize, 9, 1];
    let add = visual_prompt(
        t.clone(),
        x.clone(),
        l1.clone(),
        &lengths,
        PromptVariant::Add,
    );
    let soft = visual_prompt(
        t.clone(),
        x.clone(),
        l1.clone(),
        &lengths,
        PromptVariant::Softmax,
    );
    let paper = visual_prompt(t, x, l1, &lengths, PromptVariant::Paper);
    let (a, s, p) = (vec_of(&add), vec_of(&soft), vec_of(&paper));
    let d = a
        .iter()
        .zip(&s)
        .map(|(u, v)| (u - v).abs())
        .fold(0f32, f32::max);
    assert!(d < 1e-6, "softmax AV prompt differs from add by {d}");
    let dp = a
        .iter()
        .zip(&p)
        .map(|(u, v)| (u - v).abs())
        .fold(0f32, f32::max);
    assert!(dp > 1e-2, "paper variant should differ from add");
}

#[test]
fn batched_topk_mean_matches_naive_per_video() {
    let v = rand3([3, 50, 4], 31);
    let lengths = [50usize, 17, 1];
    let got = vec_of(&topk_mean_over_time(v.clone(), &lengths).unwrap());
    let vv = vec_of(&v);
    for (b, &len) in lengths.iter().enumerate() {
        for c in 0..4 {
            let mut col: Vec<f32> = (0..len).map(|t| vv[(b * 50 + t) * 4 + c]).collect();
            col.sort_by(|p, q| q.partial_cmp(p).unwrap());
            let k = topk_size(len);
            let want = col[..k].iter().sum::<f32>() / k as f32;
            assert!((got[b * 4 + c] - want).abs() < 1e-6);
        }
    }
    assert_eq!((topk_size(15), topk_size(16), topk_size(256)), (1, 2, 17));
    assert!(topk_mean_over_time(v, &[50, 0, 1]).is_err());
}

#[test]
fn every_fusion_kind_runs_round_trips_and_add_is_a_sum() {
    use avad_model::fusion::Fusion;
    use avad_model::FusionKind;
    use avad_nn::{load_weights, save_weights};
    let dev = device();
    let v = rand3([2, 10, 8], 41);
    let a = rand3([2, 10, 8], 42);
    for kind in [
        "adaptive",
        "add",
        "concat-linear",
        "cross-attention",
        "none",
    ] {
        let k = FusionKind::parse(kind).unwrap();
        let f = Fusion::<B>::new(k, 8, 8, Init::Random, &dev).unwrap();
        let Some(f) = f else {
            assert_eq!(k, FusionKind::None);
            continue;
        };
        let out = f.forward(v.clone(), a.clone());
        assert_eq!(out.dims(), [2, 10, 8]);
        let sd = save_weights(&f, "");
        let mut g = Fusion::<B>::new(k, 8, 8, Init::Placeholder, &dev)
            .unwrap()
            .unwrap();
        assert!(load_weights(&mut g, &sd, "")
            .unwrap()
            .unused_keys
            .is_empty());
        let d = vec_of(&out)
            .iter()
            .zip(vec_of(&g.forward(v.clone(), a.clone())))
            .map(|(p, q)| (p - q).abs())
            .fold(0f32, f32::max);
        assert_eq!(d, 0.0, "{kind} round trip");
        if k == FusionKind::Add {
            let want = vec_of(&(v.clone() + a.clone()));
            assert_eq!(vec_of(&out), want);
        }
        if k == FusionKind::Adaptive {
            assert!(sd.get("temporalgatedresidual.gate_proj.0.weight").is_some());
            assert!(sd
                .get("temporalgatedresidual.residual_proj.2.bias")
                .is_some());
        }
    }
    assert!(FusionKind::parse("mean").is_err());
    assert!(Fusion::<B>::new(FusionKind::Add, 8, 4, Init::Random, &dev).is_err());
}

#[test]
fn fresh_models_of_every_preset_run_and_validate_inputs() {
    use avad_model::text_tower::set_text_width;
    use avad_model::{AvadClip, ModelConfig};
    let dev = device();
    let small = |mut c: ModelConfig| {
        c.visual_width = 16;
        c.embed_dim = 16;
        c.visual_length = 32;
        c.clip_text.num_hidden_layers = 1;
        c.clip_text.num_attention_heads = 2;
        set_text_width(&mut c.clip_text, 16);
        if let Some(a) = c.audio.as_mut() {
            a.input_width = 16;
            a.channels = vec![16, 16, 16];
        }
        c.attn_window = c.attn_window.min(8);
        c
    };
    let ids = vec![vec![49406u32, 320, 49407], vec![49406, 1000, 2000, 49407]];
    for cfg in [
        ModelConfig::vadclip_xd(),
        ModelConfig::vadclip_ucf(),
        ModelConfig::avadclip_teacher_xd(),
        ModelConfig::avadclip_student_xd(),
    ] {
        let mut cfg = small(cfg);
        cfg.num_class = 2;
        let m = AvadClip::<B>::new(&cfg, &dev).unwrap();
        let text = m.class_text(&ids).unwrap();
        let visual = rand3([2, 32, 16], 51);
        let audio = cfg.audio.as_ref().map(|_| rand3([2, 32, 16], 52));
        let out = m
            .forward(visual.clone(), audio.clone(), &[32, 5], &text)
            .unwrap();
        assert_eq!(out.logits1.dims(), [2, 32, 1]);
        assert_eq!(out.logits2.dims(), [2, 32, 2]);
        assert_eq!(out.theta.is_some(), cfg.fe_net);
        assert!(vec_of(&out.logits2).iter().all(|v| v.is_finite()));
        // Wrong inputs are errors, not panics.
        assert!(m
            .forward(visual.clone(), audio.clone(), &[32, 0], &text)
            .is_err());
        assert!(m
            .forward(visual.clone(), audio.clone(), &[32], &text)
            .is_err());
        let flipped = if audio.is_some() {
            None
        } else {
            Some(rand3([2, 32, 16], 53))
        };
        assert!(m.forward(visual, flipped, &[32, 5], &text).is_err());
        // serde round trip of the config.
        let json = serde_json::to_string(&cfg).unwrap();
        assert_eq!(serde_json::from_str::<ModelConfig>(&json).unwrap(), cfg);
    }
    let mut bad = ModelConfig::vadclip_xd();
    bad.fusion = avad_model::FusionKind::Adaptive;
    assert!(bad.validate().is_err());
}
