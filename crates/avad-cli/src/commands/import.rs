//! `avad import`: convert an official VadCLIP / AVadCLIP-teacher PyTorch checkpoint into an avad checkpoint.

use std::path::PathBuf;

use avad_train::{import_official, ImportKind, ImportOptions};

use crate::backend::{cpu_device, CpuBackend};

/// Arguments of `avad import`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Which official model the file holds: `vadclip` or `avadclip-teacher`.
    #[arg(long = "from")]
    pub from: String,
    /// The official checkpoint (`.pth`/`.pt` state dict, or safetensors with the official key names).
    pub path: PathBuf,
    /// Output folder; receives model.json + model.safetensors.
    #[arg(long)]
    pub out: PathBuf,
    /// Preset giving the values upstream checkpoints do not store (default: xd-vadclip / xd-teacher;
    /// use ucf-vadclip for VadCLIP's UCF model).
    #[arg(long)]
    pub preset: Option<String>,
    /// Temporal attention window (not stored in the checkpoint; XD 64, UCF 8, AVadCLIP teacher 4).
    #[arg(long)]
    pub attn_window: Option<usize>,
    /// Heads of the temporal transformer (upstream 1).
    #[arg(long)]
    pub visual_heads: Option<usize>,
    /// Heads of the CLIP text encoder (default width/64, i.e. 8 for ViT-B/16).
    #[arg(long)]
    pub clip_heads: Option<usize>,
}

/// Runs `avad import`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let kind = ImportKind::parse(&args.from)?;
    let mut opts = ImportOptions::new(kind);
    if let Some(p) = args.preset {
        opts.preset = p;
    }
    opts.attn_window = args.attn_window;
    opts.visual_head = args.visual_heads;
    opts.clip_heads = args.clip_heads;
    let s = import_official::<CpuBackend>(&args.path, &args.out, &opts, &cpu_device())?;
    if !s.unused_keys.is_empty() {
        tracing::warn!(
            "{} keys were not used: {}",
            s.unused_keys.len(),
            s.unused_keys.join(", ")
        );
    }
    println!(
        "imported {} tensors ({} CLIP vision/other keys ignored) → {}",
        s.tensors_read,
        s.ignored_clip_keys,
        s.model_json.display()
    );
    Ok(())
}
