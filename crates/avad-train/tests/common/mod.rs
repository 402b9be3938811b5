//! A tiny in-memory audio-visual data set and a small config for training tests.

#![allow(dead_code)]

use std::sync::Arc;

use avad_train::{Dataset, Row, Sample, TrainConfig};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Feature width of the test data.
pub const D: usize = 32;
/// Padded length of the test model.
pub const T: usize = 64;

/// `n` normal and `n` abnormal videos of length 24..=64: Gaussian noise, and in abnormal videos a segment of
/// `seg` snippets shifted along a fixed visual direction (class "fighting") or a fixed audio direction
/// (class "explosion", every third abnormal video).
pub fn toy_dataset(n: usize, seed: u64) -> Dataset {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let dir_v: Vec<f32> = (0..D)
        .map(|i| if i % 2 == 0 { 1.0 } else { -1.0 })
        .collect();
    let dir_a: Vec<f32> = (0..D).map(|i| if i < D / 2 { 1.0 } else { -1.0 }).collect();
    let mut rows = Vec::new();
    for v in 0..2 * n {
        let abnormal = v >= n;
        let len = rng.random_range(24..=T);
        let mut visual = vec![0f32; T * D];
        let mut audio = vec![0f32; T * D];
        for i in 0..len * D {
            visual[i] = rng.random_range(-1.0..1.0);
            audio[i] = rng.random_range(-1.0..1.0);
        }
        let mut labels = vec![0f32; 7];
        if abnormal {
            let audio_only = v % 3 == 0;
            labels[if audio_only { 6 } else { 1 }] = 1.0;
            let seg = 8.min(len);
            let start = rng.random_range(0..=len - seg);
            for t in start..start + seg {
                for k in 0..D {
                    if audio_only {
                        audio[t * D + k] += 1.5 * dir_a[k];
                    } else {
                        visual[t * D + k] += 1.5 * dir_v[k];
                    }
                }
            }
        } else {
            labels[0] = 1.0;
        }
        rows.push(Row {
            video: format!("video{v:03}"),
            source: format!("video{v:03}.npy"),
            visual_path: None,
            audio_path: None,
            labels,
            sample: Some(Arc::new(Sample {
                visual,
                audio: Some(audio),
                length: len,
            })),
        });
    }
    Dataset::new(rows, T, D, Some(D), 7, None).unwrap()
}

/// The synth-teacher preset shrunk to D = 32, T = 64, a 1-layer 4-head random CLIP.
pub fn small_config() -> TrainConfig {
    shrink(TrainConfig::synth_teacher())
}

/// A synth preset shrunk to the test data (D = 32, T = 64, a 4-head random CLIP), with batches of 8, lr 1e-3, 6
/// epochs (milestone 5) and a 20 % validation split.
pub fn shrink(mut cfg: TrainConfig) -> TrainConfig {
    cfg.set_feature_width(D);
    cfg.model.visual_length = T;
    cfg.model.clip_text.num_attention_heads = 4;
    cfg.batch_size = 8;
    cfg.lr = 1e-3;
    cfg.epochs = 6;
    cfg.milestones = vec![5];
    cfg.val_fraction = 0.2;
    cfg
}

/// The values of tensor `key` of `sd` as f32.
pub fn values(sd: &avad_nn::WeightMap, key: &str) -> Vec<f32> {
    sd.f32_values(key)
        .unwrap_or_else(|e| panic!("tensor `{key}`: {e}"))
}

/// The valid lengths a fixture stores as its `lengths` tensor.
pub fn lengths(sd: &avad_nn::WeightMap) -> Vec<usize> {
    sd.get("lengths")
        .unwrap()
        .clone()
        .convert::<i64>()
        .to_vec::<i64>()
        .unwrap()
        .into_iter()
        .map(|l| l as usize)
        .collect()
}
