//! Deterministic "formula" weights shared with `tools/make_wav2clip_fixtures.py`, so parity tests need no
//! committed copy of the 11 M ResNet-18 parameters. Each value is an integer-hash uniform in [-1, 1) scaled per
//! tensor kind, computed in f32 and rounded to f16 (see the script's docstring for the exact rule).

use crate::model::{expected_tensors, Wav2ClipConfig, WINDOW_KEY};
use crate::spectrogram::{periodic_hann, N_FFT};
use crate::weights::{RawTensor, StateDict};

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

/// The complete formula state dict (same keys as `Wav2CLIP.pt`, incl. the window and `num_batches_tracked`).
pub fn formula_state_dict() -> StateDict {
    let mut sd = StateDict {
        source: "<formula weights>".into(),
        ..Default::default()
    };
    for (key, shape) in expected_tensors(&Wav2ClipConfig::default()) {
        let data = formula_value(&key, &shape);
        if key.ends_with("running_var") {
            let nbt = key.replace("running_var", "num_batches_tracked");
            sd.tensors.insert(
                nbt,
                RawTensor {
                    shape: vec![],
                    data: vec![1000.0],
                },
            );
        }
        sd.tensors.insert(key, RawTensor { shape, data });
    }
    sd.tensors.insert(
        WINDOW_KEY.into(),
        RawTensor {
            shape: vec![N_FFT],
            data: periodic_hann(N_FFT),
        },
    );
    sd
}
