//! Import of official PyTorch checkpoints (VadCLIP `model_xd.pth` / `model_ucf.pth`, AVadCLIP teacher `.pth`,
//! state dicts including the frozen `clipmodel.*`) into avad checkpoints (`model.json` + `model.safetensors`).
//!
//! Upstream stores no hyperparameters in its checkpoints. The number of temporal layers, the CLIP text shape and
//! the class count (teacher `alpha`) are read from the tensors; the attention window is not recoverable from the
//! weights and comes from the preset (XD 64, UCF 8, AVadCLIP teacher 4) unless overridden.

use std::path::{Path, PathBuf};

use avad_infer::{write_model_checkpoint, CheckpointMeta};
use avad_model::text_tower::CLIP_PREFIX;
use avad_model::AvadClip;
use avad_nn::WeightMap;
use burn::prelude::*;

use crate::config::TrainConfig;
use crate::error::{Result, TrainError};
use crate::text::{class_names, infer_text_config};

/// Which official model a `.pth` holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportKind {
    /// VadCLIP `CLIPVAD` (`nwpu-zxr/VadCLIP`).
    Vadclip,
    /// AVadCLIP teacher `AVADCLIP` (`WanshunSu/AVadCLIP: src/model_t.py`).
    AvadclipTeacher,
}

impl ImportKind {
    /// Parses `vadclip` / `avadclip-teacher`.
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "vadclip" => Ok(Self::Vadclip),
            "avadclip-teacher" => Ok(Self::AvadclipTeacher),
            other => Err(TrainError::Config(format!(
                "unknown import kind `{other}` (vadclip, avadclip-teacher)"
            ))),
        }
    }

    /// The preset an import of this kind defaults to.
    pub fn default_preset(self) -> &'static str {
        match self {
            Self::Vadclip => "xd-vadclip",
            Self::AvadclipTeacher => "xd-teacher",
        }
    }
}

/// Options of [`import_official`].
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// The model kind.
    pub kind: ImportKind,
    /// Preset whose model config (attention window, label map) is the starting point.
    pub preset: String,
    /// Overrides the attention window (not stored in upstream checkpoints).
    pub attn_window: Option<usize>,
    /// Overrides the temporal transformer's head count (upstream: 1; not stored in checkpoints).
    pub visual_head: Option<usize>,
    /// Overrides the CLIP text head count (default: width / 64, OpenAI's rule; 8 for ViT-B/16).
    pub clip_heads: Option<usize>,
}

impl ImportOptions {
    /// Defaults for `kind`: its default preset, no overrides.
    pub fn new(kind: ImportKind) -> Self {
        Self {
            kind,
            preset: kind.default_preset().to_string(),
            attn_window: None,
            visual_head: None,
            clip_heads: None,
        }
    }
}

/// What an import produced.
#[derive(Debug, Clone)]
pub struct ImportSummary {
    /// The written `model.json`.
    pub model_json: PathBuf,
    /// Tensors read from the `.pth`.
    pub tensors_read: usize,
    /// `clipmodel.*` keys not used (vision tower, `logit_scale`).
    pub ignored_clip_keys: usize,
    /// Other unused keys (should be empty).
    pub unused_keys: Vec<String>,
}

/// Reads `pth` (PyTorch or safetensors state dict with official key names), builds the model to check every
/// tensor, and writes an avad checkpoint into folder `out`.
pub fn import_official<B: Backend>(
    pth: &Path,
    out: &Path,
    opts: &ImportOptions,
    device: &B::Device,
) -> Result<ImportSummary> {
    let sd = WeightMap::load(pth)?;
    let mut cfg = TrainConfig::preset(&opts.preset)?;
    if let Some(h) = sd.get("temporal.resblocks.0.attn.in_proj_weight") {
        cfg.set_feature_width(h.shape[1]);
    }
    let m = &mut cfg.model;
    // Shapes recoverable from the tensors.
    let layers = (0..)
        .take_while(|i| {
            sd.get(&format!("temporal.resblocks.{i}.attn.in_proj_weight"))
                .is_some()
        })
        .count();
    if layers == 0 {
        return Err(TrainError::ckpt(
            pth,
            "no `temporal.resblocks.0.*`: not a VadCLIP / AVadCLIP state dict",
        ));
    }
    m.visual_layers = layers;
    if let Some(w) = opts.attn_window {
        m.attn_window = w;
    }
    if let Some(h) = opts.visual_head {
        m.visual_head = h;
    }
    let has_audio = sd.get("temporalconvnet.network.0.conv1.weight_v").is_some()
        || sd.get("temporalconvnet.network.0.net.0.weight_v").is_some();
    match (opts.kind, has_audio) {
        (ImportKind::Vadclip, true) => {
            return Err(TrainError::ckpt(
                pth,
                "has an audio TCN: use --from avadclip-teacher",
            ))
        }
        (ImportKind::AvadclipTeacher, false) => {
            return Err(TrainError::ckpt(
                pth,
                "has no audio TCN: use --from vadclip",
            ))
        }
        _ => {}
    }
    if let Some(a) = sd.get("alpha") {
        m.num_class = a.shape.first().copied().unwrap_or(m.num_class);
    }
    if let Some(p) = sd.get("frame_position_embeddings.weight") {
        m.visual_length = p.shape[0];
    }
    let clip_sd = sd.with_prefix_stripped(CLIP_PREFIX);
    m.clip_text = infer_text_config(&clip_sd)
        .map_err(|e| TrainError::ckpt(pth, format!("clipmodel.*: {e}")))?;
    if let Some(h) = opts.clip_heads {
        m.clip_text.num_attention_heads = h;
    }
    let (model, report) = AvadClip::<B>::from_weights(&cfg.model, &sd, device)?;
    let names = class_names(cfg.labels);
    if names.len() != cfg.model.num_class {
        return Err(TrainError::ckpt(
            pth,
            format!(
                "{} classes but the {:?} label map has {}",
                cfg.model.num_class,
                cfg.labels,
                names.len()
            ),
        ));
    }
    let mut meta: CheckpointMeta =
        CheckpointMeta::new(cfg.model.clone(), names, "model.safetensors");
    meta.source = Some(format!(
        "imported from {} ({:?}, preset {})",
        pth.display(),
        opts.kind,
        opts.preset
    ));
    let model_json = write_model_checkpoint(out, meta, &model.to_weights())?;
    Ok(ImportSummary {
        model_json,
        tensors_read: sd.len(),
        ignored_clip_keys: report.ignored_clip_keys,
        unused_keys: report.unused_keys,
    })
}
