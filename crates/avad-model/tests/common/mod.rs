//! Shared helpers of the integration tests: fixture loading and comparisons.
#![allow(dead_code)]

use std::path::PathBuf;

use avad_model::text_tower::deserialize_text_config;
use avad_model::{AudioTcnConfig, ModelConfig};
use avad_nn::WeightMap;
use burn::prelude::*;

#[cfg(not(feature = "cuda"))]
pub type B = burn_flex::Flex;
/// With `--features cuda` (test-only feature) the tests run on CUDA device 0 in f32 (docs/gpu.md).
#[cfg(feature = "cuda")]
pub type B = burn::backend::Cuda;
pub type AD = burn::backend::Autodiff<B>;

pub fn device() -> burn::tensor::Device<B> {
    Default::default()
}

/// The tolerance of a comparison: `cpu` on the CPU backend, at least 1e-3 on CUDA (the CUDA issue's f32 limit).
pub fn tol(cpu: f32) -> f32 {
    if cfg!(feature = "cuda") {
        cpu.max(1e-3)
    } else {
        cpu
    }
}

pub fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/model")
}

pub fn config_json() -> serde_json::Value {
    let text = std::fs::read_to_string(fixture_dir().join("config.json"))
        .expect("fixtures/model/config.json");
    serde_json::from_str(&text).expect("config.json parses")
}

/// The model config of fixture `name` (vadclip, avadclip_teacher, avadclip_student), from config.json.
pub fn fixture_config(name: &str) -> ModelConfig {
    let j = config_json();
    let dims = &j["dims"];
    let u = |v: &serde_json::Value| v.as_u64().expect("integer") as usize;
    let d = u(&dims["visual_width"]);
    let m = &j["models"][name];
    let ct = &j["clip_text"];
    let base = match name {
        "vadclip" => ModelConfig::vadclip_xd(),
        "avadclip_teacher" => ModelConfig::avadclip_teacher_xd(),
        "avadclip_student" => ModelConfig::avadclip_student_xd(),
        other => panic!("unknown fixture {other}"),
    };
    ModelConfig {
        num_class: u(&dims["num_class"]),
        embed_dim: u(&dims["embed_dim"]),
        visual_length: u(&dims["visual_length"]),
        visual_width: d,
        visual_head: u(&m["visual_head"]),
        visual_layers: u(&m["visual_layers"]),
        attn_window: u(&m["attn_window"]),
        prompt_prefix: u(&dims["prompt_prefix"]),
        prompt_postfix: u(&dims["prompt_postfix"]),
        audio: base.audio.as_ref().map(|_| AudioTcnConfig {
            input_width: d,
            channels: vec![d; 3],
            ..AudioTcnConfig::default()
        }),
        fusion: base.fusion,
        prompt: base.prompt,
        fe_net: base.fe_net,
        learnable_alpha: base.learnable_alpha,
        // The fixture script writes the tower's shape in the model files' first spelling (width, layers, …).
        clip_text: deserialize_text_config(ct.clone()).expect("clip_text of config.json"),
    }
}

/// The official state dict of fixture `name`, with the full CLIP token table rebuilt from the stored rows
/// (rows of unused tokens are zero; the model never reads them).
pub fn fixture_state_dict(name: &str) -> WeightMap {
    let mut sd = WeightMap::load(fixture_dir().join(format!("{name}.safetensors")))
        .expect("fixture state dict");
    avad_model::testing::expand_token_table(&mut sd);
    sd
}

/// Inputs and outputs of fixture `name`.
pub struct Io {
    pub sd: WeightMap,
}

impl Io {
    pub fn load(name: &str) -> Self {
        Self {
            sd: WeightMap::load(fixture_dir().join(format!("{name}_io.safetensors")))
                .expect("fixture io"),
        }
    }

    pub fn data(&self, k: &str) -> TensorData {
        self.sd
            .get(k)
            .unwrap_or_else(|| panic!("io tensor {k}"))
            .clone()
    }

    pub fn tensor<const D: usize>(&self, k: &str) -> Tensor<B, D> {
        Tensor::from_data(self.data(k).convert::<f32>(), &device())
    }

    pub fn tensor_on<BB: Backend, const D: usize>(
        &self,
        k: &str,
        dev: &BB::Device,
    ) -> Tensor<BB, D> {
        Tensor::from_data(self.data(k).convert::<f32>(), dev)
    }

    pub fn f32s(&self, k: &str) -> Vec<f32> {
        self.data(k).convert::<f32>().to_vec().unwrap()
    }

    pub fn lengths(&self) -> Vec<usize> {
        self.data("lengths")
            .convert::<i64>()
            .to_vec::<i64>()
            .unwrap()
            .into_iter()
            .map(|v| v as usize)
            .collect()
    }

    pub fn token_ids(&self) -> Vec<Vec<u32>> {
        let d = self.data("word_tokens");
        let [c, l] = [d.shape[0], d.shape[1]];
        let v: Vec<i64> = d.convert::<i64>().to_vec().unwrap();
        (0..c)
            .map(|i| v[i * l..(i + 1) * l].iter().map(|&x| x as u32).collect())
            .collect()
    }

    pub fn scalar(&self, k: &str) -> f32 {
        self.f32s(k)[0]
    }
}

/// Max |a − b| over all elements; panics on shape mismatch.
pub fn max_abs_diff<BB: Backend, const D: usize>(
    a: &Tensor<BB, D>,
    b: &[f32],
    b_shape: &[usize],
) -> f32 {
    assert_eq!(a.dims().to_vec(), b_shape.to_vec(), "shape");
    let av: Vec<f32> = a.to_data().convert::<f32>().to_vec().unwrap();
    avad_core::testing::max_abs_diff(&av, b)
}

pub fn assert_close<BB: Backend, const D: usize>(
    io: &Io,
    key: &str,
    got: &Tensor<BB, D>,
    tol: f32,
) -> f32 {
    let want = io.data(key);
    let shape = want.shape.to_vec();
    let want: Vec<f32> = want.convert::<f32>().to_vec().unwrap();
    assert!(
        want.iter().all(|v| v.is_finite()),
        "{key}: reference not finite"
    );
    let tol = self::tol(tol);
    let err = max_abs_diff(got, &want, &shape);
    let scale = want.iter().fold(0f32, |m, v| m.max(v.abs()));
    eprintln!("{key}: max abs err {err:.3e} (max |ref| {scale:.3e})");
    assert!(err <= tol, "{key}: max abs err {err:e} > {tol:e}");
    err
}

pub fn scalar_of<BB: Backend>(t: &Tensor<BB, 1>) -> f32 {
    t.to_data().convert::<f32>().to_vec::<f32>().unwrap()[0]
}

pub fn assert_scalar(io: &Io, key: &str, got: &Tensor<impl Backend, 1>, tol: f32) {
    let tol = self::tol(tol);
    let want = io.scalar(key);
    let g = scalar_of(got);
    eprintln!(
        "{key}: got {g:.7} want {want:.7} err {:.3e}",
        (g - want).abs()
    );
    assert!((g - want).abs() <= tol, "{key}: {g} vs {want}");
}
