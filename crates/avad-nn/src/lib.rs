//! avad-nn: the pieces that CLIP, Wav2CLIP and the anomaly model share, so that each exists once.
//!
//! - [`weights`]: [`WeightMap`], named tensors as stored in a weight file (safetensors or a PyTorch `.pt`/`.pth`),
//!   with the one decoder from f16/bf16/f64 to f32 and atomic safetensors writing.
//! - [`params`]: [`WeightVisitor`] and [`VisitWeights`]: each module names its weights in one `visit_weights`
//!   function, which serves both loading (with shape checks and a list of unused keys) and saving.
//! - [`layers`]: [`Linear`] (PyTorch layout `[out, in]`), [`LayerNorm`], the activations.
//! - [`init`]: PyTorch's initialisers, and lazy placeholders for modules that are about to be loaded.
//! - [`mask`]: the additive causal attention mask.
//!
//! Module graph: `error` ← `weights` ← `params` ← `init` ← `layers`; `mask` stands alone.

#![warn(missing_docs)]

pub mod error;
pub mod init;
pub mod layers;
pub mod mask;
pub mod params;
pub mod weights;

pub use error::{NnError, Result};
pub use layers::{gelu, quick_gelu, LayerNorm, Linear};
pub use mask::causal_mask;
pub use params::{
    load_weights, save_weights, weight_shapes, LoadReport, VisitWeights, WeightVisitor,
};
pub use weights::WeightMap;
