//! Deterministic "formula" weights shared with `tools/make_wav2clip_fixtures.py`, so parity tests need no
//! committed copy of the 11 M ResNet-18 parameters. Each value is an integer-hash uniform in [-1, 1) scaled per
//! tensor kind, computed in f32 and rounded to f16 (see the script's docstring for the exact rule).

use std::path::Path;

use avad_nn::{weight_shapes, WeightMap};
use burn::tensor::backend::Backend;

use crate::model::{Wav2Clip, WINDOW_KEY};
use crate::spectrogram::{periodic_hann, N_FFT};

fn fnv1a64(s: &str) -> u64 {
    s.bytes().fold(0xCBF2_9CE4_8422_2325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01B3)
    })
}

/// `r_i ∈ [-1, 1)` for `i < n`: splitmix64 of `fnv1a64(key) ^ ((i + 1) · golden)`, top 24 bits.
pub fn formula_r(key: &str, n: usize) -> Vec<f32> {
    let seed = fnv1a64(key);
    (1..=n as u64)
        .map(|i| {
            let mut x = seed ^ i.wrapping_mul(0x9E37_79B9_7F4A_7C15);
            x ^= x >> 30;
            x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
            x ^= x >> 27;
            x = x.wrapping_mul(0x94D0_49BB_1331_11EB);
            x ^= x >> 31;
            let u = (x >> 40) as f32 / (1u32 << 24) as f32;
            2.0 * u - 1.0
        })
        .collect()
}

/// The formula value of tensor `key` with `shape` (f16-rounded, returned as f32).
pub fn formula_value(key: &str, shape: &[usize]) -> Vec<f32> {
    let n: usize = shape.iter().product();
    let r = formula_r(key, n);
    let f = |v: f32| half::f16::from_f32(v).to_f32();
    let map: Box<dyn Fn(f32) -> f32> = if key.ends_with("running_mean") {
        Box::new(|r| 0.2f32 * r)
    } else if key.ends_with("running_var") {
        Box::new(|r| 1.0f32 + 0.5f32 * r)
    } else if key.contains(".bn") || key.contains(".downsample.1.") {
        if key.ends_with("weight") {
            Box::new(|r| 1.0f32 + 0.25f32 * r)
        } else {
            Box::new(|r| 0.1f32 * r)
        }
    } else if key.ends_with("bias") {
        Box::new(|r| 0.05f32 * r)
    } else {
        let fan_in: usize = shape[1..].iter().product();
        let scale = (3.0f64 / fan_in as f64).sqrt() as f32;
        Box::new(move |r| r * scale)
    };
    r.into_iter().map(|v| f(map(v))).collect()
}

/// The complete formula weights (same keys as `Wav2CLIP.pt`, incl. the window and `num_batches_tracked`); the
/// keys and shapes come from the model itself (`B` only sizes the placeholders, nothing is allocated).
pub fn formula_weights<B: Backend>(device: &B::Device) -> WeightMap {
    let mut w = WeightMap::with_source("<formula weights>");
    for (key, shape) in weight_shapes(&mut Wav2Clip::<B>::placeholder(device), "") {
        let data = formula_value(&key, &shape);
        if key.ends_with("running_var") {
            let nbt = key.replace("running_var", "num_batches_tracked");
            w.insert_f32(nbt, vec![], vec![1000.0]);
        }
        w.insert_f32(key, shape, data);
    }
    w.insert_f32(WINDOW_KEY, vec![N_FFT], periodic_hann(N_FFT));
    w
}

/// Writes [`formula_weights`] as an f16 safetensors file (the window stays f32, as in a converted `Wav2CLIP.pt`).
pub fn save_formula_weights<B: Backend>(path: &Path, device: &B::Device) -> crate::Result<()> {
    Ok(formula_weights::<B>(device)
        .to_f16(&[WINDOW_KEY])?
        .save_safetensors(path)?)
}
