//! CLIP for avad: ViT image encoder, causal text encoder (from token ids or from token embeddings, for learnable
//! prompts), OpenAI's BPE tokenizer, and CLIP's image preprocessing (a Pillow-exact bicubic resize), with weights
//! loaded from Hugging Face `CLIPModel` or OpenAI-named safetensors files.
//!
//! ```no_run
//! use avad_clip::{ClipModel, Tokenizer, preprocess};
//! type B = burn_flex::Flex;
//! let dev = Default::default();
//! let model = ClipModel::<B>::load("clip-vit-base-patch16", &dev).unwrap();
//! let pixels = preprocess::load_clip_pixels::<B>(&["frame.png".as_ref()], 224, &dev).unwrap();
//! let img = model.encode_image(pixels).unwrap(); // [1, 512]
//! let tok = Tokenizer::new();
//! let ids = tok.tokenize_batch::<B>(&["fighting"], &dev);
//! let txt = model.encode_text_ids(ids).unwrap(); // [1, 512]
//! ```

#![warn(missing_docs)]

pub mod config;
pub mod error;
pub mod fast_vision;
pub mod layers;
pub mod layout;
pub mod model;
pub mod preprocess;
pub mod testing;
pub mod text;
pub mod tokenizer;
pub mod vision;

pub use config::{Activation, ClipConfig, ClipTextConfig, ClipVisionConfig};
pub use error::ClipError;
pub use fast_vision::{FastVisionEncoder, FastVisionOptions};
pub use layout::{detect_layout, WeightLayout};
pub use model::ClipModel;
pub use text::ClipTextModel;
pub use tokenizer::{Tokenizer, CONTEXT_LENGTH, EOT_TOKEN, SOT_TOKEN};
pub use vision::ClipVisionModel;
