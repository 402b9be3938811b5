//! The faster formulations used in the forward pass equal the plain ones they replace: the im2col GEMM of
//! `Conv1d::forward_time_major` against burn's `conv1d`, the packed-QKV self-attention against the per-projection
//! `forward_qkv`, and the prompt cut after the last EOT slot against the full 77-position text tower.

use avad_core::testing::max_abs_diff;
use avad_model::nn::Conv1d;
use avad_model::prompt::assemble_prompt;
use avad_model::temporal::{window_mask, MultiheadAttention};
use avad_model::{AvadClip, ModelConfig};
use avad_nn::init::Init;
use burn::prelude::*;
use burn::tensor::Distribution;

type B = burn_flex::Flex;

fn randn<const D: usize>(shape: [usize; D]) -> Tensor<B, D> {
    Tensor::random(shape, Distribution::Normal(0.0, 1.0), &Default::default())
}

fn diff<const D: usize>(a: Tensor<B, D>, b: Tensor<B, D>) -> f32 {
    assert_eq!(a.dims(), b.dims());
    max_abs_diff(
        &a.into_data().to_vec::<f32>().unwrap(),
        &b.into_data().to_vec::<f32>().unwrap(),
    )
}

#[test]
fn conv1d_time_major_equals_burn_conv1d() {
    let dev = Default::default();
    // (k, padding, dilation): the GCN residual (5, 2, 1), the TCN downsample (1, 0, 1), and others.
    for (k, padding, dilation) in [(5, 2, 1), (1, 0, 1), (3, 1, 2), (2, 0, 1), (3, 0, 1)] {
        for t in [5, 9, 33] {
            let conv = Conv1d::<B>::new([6, 4, k], padding, dilation, Init::Random, &dev);
            let x = randn([2, t, 4]); // [B, T, in]
            let fast = conv.forward_time_major(x.clone());
            let reference = conv.forward(x.swap_dims(1, 2)).swap_dims(1, 2);
            let err = diff(fast, reference);
            assert!(err < 1e-5, "k {k} p {padding} d {dilation} T {t}: {err}");
        }
    }
}

#[test]
fn packed_qkv_self_attention_equals_separate_projections() {
    let dev = Default::default();
    for heads in [1, 2, 4] {
        let mha = MultiheadAttention::<B>::new(16, heads, Init::Random, &dev);
        let x = randn([3, 8, 16]); // [N, L, d]
        for mask in [None, Some(window_mask::<B>(8, 4, &dev))] {
            let fast = mha.forward(x.clone(), mask.clone());
            let reference = mha.forward_qkv(x.clone(), x.clone(), mask);
            let err = diff(fast, reference);
            assert!(err < 1e-5, "{heads} heads: {err}");
        }
    }
}

#[test]
fn text_features_equal_the_full_length_tower() {
    let dev = Default::default();
    let mut cfg = ModelConfig::vadclip_xd();
    cfg.clip_text.num_hidden_layers = 2;
    let model = AvadClip::<B>::new(&cfg, &dev).unwrap();
    // Class rows of different token lengths, so the EOT slots differ.
    let ids: Vec<Vec<u32>> = (0..7)
        .map(|i| {
            let mut row = vec![49406];
            row.extend((0..=i as u32 % 4).map(|j| 320 + j));
            row.push(49407);
            row
        })
        .collect();
    let text = model.class_text(&ids).unwrap();
    let cut = model.text_features(&text).unwrap(); // [C, E]
    let (emb, slots) = assemble_prompt(
        model.text_prompt_embeddings.val(),
        &text,
        model.prompt_prefix,
        model.prompt_postfix,
    )
    .unwrap(); // all 77 positions, as upstream
    let full = model.clipmodel.encode_embeddings(emb, &slots).unwrap();
    let err = diff(cut, full);
    assert!(err < 1e-5, "{err}");
}
