//! Model sizes, read from a Hugging Face `CLIPModel` `config.json` (or inferred from OpenAI weight shapes).

use serde::{Deserialize, Serialize};

use crate::error::ClipError;

/// Activation used in the transformer MLPs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Activation {
    /// `x * sigmoid(1.702 x)` (OpenAI CLIP).
    QuickGelu,
    /// Exact (erf) GELU.
    Gelu,
}

impl Activation {
    /// Parses a Hugging Face `hidden_act` string (`quick_gelu`, `gelu`).
    pub fn from_hf(name: &str) -> Result<Self, ClipError> {
        match name {
            "quick_gelu" => Ok(Self::QuickGelu),
            "gelu" => Ok(Self::Gelu),
            other => Err(ClipError::Config(format!(
                "unsupported hidden_act {other:?} (expected quick_gelu or gelu)"
            ))),
        }
    }
}

fn d_quick_gelu() -> String {
    "quick_gelu".into()
}
fn d_eps() -> f64 {
    1e-5
}

/// Text tower sizes (HF `CLIPTextConfig`; defaults are the HF defaults = OpenAI ViT-B text tower).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClipTextConfig {
    /// Vocabulary size (49408 for the OpenAI BPE).
    #[serde(default = "d_vocab")]
    pub vocab_size: usize,
    /// Transformer width.
    #[serde(default = "d_text_hidden")]
    pub hidden_size: usize,
    /// MLP hidden width.
    #[serde(default = "d_text_inter")]
    pub intermediate_size: usize,
    /// Number of transformer blocks.
    #[serde(default = "d_layers")]
    pub num_hidden_layers: usize,
    /// Attention heads.
    #[serde(default = "d_text_heads")]
    pub num_attention_heads: usize,
    /// Context length (77).
    #[serde(default = "d_ctx")]
    pub max_position_embeddings: usize,
    /// `quick_gelu` or `gelu`.
    #[serde(default = "d_quick_gelu")]
    pub hidden_act: String,
    /// LayerNorm epsilon.
    #[serde(default = "d_eps")]
    pub layer_norm_eps: f64,
}

fn d_vocab() -> usize {
    49408
}
fn d_text_hidden() -> usize {
    512
}
fn d_text_inter() -> usize {
    2048
}
fn d_layers() -> usize {
    12
}
fn d_text_heads() -> usize {
    8
}
fn d_ctx() -> usize {
    77
}

impl Default for ClipTextConfig {
    fn default() -> Self {
        serde_json::from_str("{}").expect("defaults")
    }
}

/// Vision tower sizes (HF `CLIPVisionConfig`; defaults are the HF defaults, ViT-B/32).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClipVisionConfig {
    /// Transformer width.
    #[serde(default = "d_vis_hidden")]
    pub hidden_size: usize,
    /// MLP hidden width.
    #[serde(default = "d_vis_inter")]
    pub intermediate_size: usize,
    /// Number of transformer blocks.
    #[serde(default = "d_layers")]
    pub num_hidden_layers: usize,
    /// Attention heads.
    #[serde(default = "d_vis_heads")]
    pub num_attention_heads: usize,
    /// Input channels (3).
    #[serde(default = "d_channels")]
    pub num_channels: usize,
    /// Square input size in pixels (224).
    #[serde(default = "d_image")]
    pub image_size: usize,
    /// Square patch size (32 or 16).
    #[serde(default = "d_patch")]
    pub patch_size: usize,
    /// `quick_gelu` or `gelu`.
    #[serde(default = "d_quick_gelu")]
    pub hidden_act: String,
    /// LayerNorm epsilon.
    #[serde(default = "d_eps")]
    pub layer_norm_eps: f64,
}

fn d_vis_hidden() -> usize {
    768
}
fn d_vis_inter() -> usize {
    3072
}
fn d_vis_heads() -> usize {
    12
}
fn d_channels() -> usize {
    3
}
fn d_image() -> usize {
    224
}
fn d_patch() -> usize {
    32
}

impl Default for ClipVisionConfig {
    fn default() -> Self {
        serde_json::from_str("{}").expect("defaults")
    }
}

impl ClipVisionConfig {
    /// Patches per side.
    pub fn grid(&self) -> usize {
        self.image_size / self.patch_size
    }
    /// Sequence length: patches + class token.
    pub fn num_positions(&self) -> usize {
        self.grid() * self.grid() + 1
    }
}

/// Whole-model config (HF `CLIPConfig`). `projection_dim` is the **top-level** value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClipConfig {
    /// Text tower.
    #[serde(default)]
    pub text_config: ClipTextConfig,
    /// Vision tower.
    #[serde(default)]
    pub vision_config: ClipVisionConfig,
    /// Shared embedding size after the projections.
    #[serde(default = "d_proj")]
    pub projection_dim: usize,
}

fn d_proj() -> usize {
    512
}

impl ClipConfig {
    /// Reads a HF `config.json`.
    pub fn from_json_file(path: &std::path::Path) -> Result<Self, ClipError> {
        let text = std::fs::read_to_string(path).map_err(|e| ClipError::Io {
            path: path.display().to_string(),
            error: e,
        })?;
        let cfg: Self = serde_json::from_str(&text)
            .map_err(|e| ClipError::Config(format!("{}: {e}", path.display())))?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Checks divisibility constraints and the activation names.
    pub fn validate(&self) -> Result<(), ClipError> {
        let v = &self.vision_config;
        let t = &self.text_config;
        Activation::from_hf(&v.hidden_act)?;
        Activation::from_hf(&t.hidden_act)?;
        if v.patch_size == 0 || !v.image_size.is_multiple_of(v.patch_size) {
            return Err(ClipError::Config(format!(
                "image_size {} is not a multiple of patch_size {}",
                v.image_size, v.patch_size
            )));
        }
        for (name, hidden, heads) in [
            ("vision", v.hidden_size, v.num_attention_heads),
            ("text", t.hidden_size, t.num_attention_heads),
        ] {
            if heads == 0 || !hidden.is_multiple_of(heads) {
                return Err(ClipError::Config(format!(
                    "{name} hidden_size {hidden} is not divisible by num_attention_heads {heads}"
                )));
            }
        }
        Ok(())
    }
}
