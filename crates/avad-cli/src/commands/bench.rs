//! `avad bench`: time avad's training steps, prediction, CLIP image encoder and Wav2CLIP audio encoder (the
//! workloads `tools/bench_official.py` times with the official PyTorch code; docs/benchmarks.md).

use std::path::PathBuf;

use anyhow::Context;
use avad_train::bench::{self, BenchConfig, Workload};

use crate::backend::{DeviceArgs, DeviceKind, Precision};

/// Time the training step, prediction, CLIP and Wav2CLIP workloads with random weights of the official sizes.
///
/// Workloads: `train-teacher` and `train-vadclip` (one training step: forward on [B, 256, 512], losses, backward,
/// AdamW), `predict-chunk` (the teacher on one 256-snippet chunk; on `--device cpu` with the fast engine that
/// `avad predict` / `detect` use there, `predict-chunk-burn` through the burn modules), `clip-image` (CLIP ViT-B/16 image encoder on a
/// batch of 224² images), `gemm` (that encoder's largest matrix product), `wav2clip` (Wav2CLIP embeddings of a
/// batch of one-second 16 kHz windows, spectrogram included). On `--device cpu`, `clip-image` and `wav2clip` time
/// the fast CPU encoders that `avad extract` / `detect` use there; `clip-image-burn` and `wav2clip-burn` time the
/// burn models (the reference path) on any device. Each is run `--warmup` times untimed, then `--iters` times; the
/// report gives median and mean seconds per iteration and the throughput. The CPU backend uses
/// `RAYON_NUM_THREADS` threads (default: all).
#[derive(clap::Args)]
pub struct Args {
    /// Workload to run (repeat for several): train-teacher, train-vadclip, predict-chunk, predict-chunk-burn,
    /// clip-image, gemm, clip-image-burn, wav2clip, wav2clip-burn. Default: train-teacher, train-vadclip,
    /// predict-chunk, clip-image, wav2clip.
    #[arg(long = "workload", value_name = "NAME")]
    pub workloads: Vec<String>,
    /// Videos per training step (official: 96).
    #[arg(long, default_value_t = BenchConfig::default().batch)]
    pub batch: usize,
    /// Images per CLIP image-encoder batch (`clip-image`, `gemm`).
    #[arg(long, default_value_t = BenchConfig::default().clip_batch)]
    pub clip_batch: usize,
    /// One-second audio windows per Wav2CLIP batch (`wav2clip`, `wav2clip-burn`).
    #[arg(long, default_value_t = BenchConfig::default().wav2clip_batch)]
    pub wav2clip_batch: usize,
    /// Timed iterations per workload.
    #[arg(long, default_value_t = BenchConfig::default().iters)]
    pub iters: usize,
    /// Untimed warm-up iterations before them.
    #[arg(long, default_value_t = BenchConfig::default().warmup)]
    pub warmup: usize,
    /// Seed of the random weights and inputs.
    #[arg(long, default_value_t = BenchConfig::default().seed)]
    pub seed: u64,
    /// Print the report as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Also write the JSON report to this file.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Tiny model sizes instead of the official ones (for tests).
    #[arg(long, hide = true)]
    pub small: bool,
    /// Device; `--dtype f16|bf16` (CUDA) applies to `clip-image`, `clip-image-burn` and `gemm` only (training and
    /// Wav2CLIP run in f32).
    #[command(flatten)]
    pub device: DeviceArgs,
}

/// Runs `avad bench`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let workloads = args
        .workloads
        .iter()
        .map(|w| w.parse::<Workload>())
        .collect::<Result<Vec<_>, _>>()?;
    let cfg = BenchConfig {
        workloads,
        batch: args.batch,
        clip_batch: args.clip_batch,
        wav2clip_batch: args.wav2clip_batch,
        cpu: args.device.device == DeviceKind::Cpu,
        iters: args.iters,
        warmup: args.warmup,
        seed: args.seed,
        small: args.small,
    };
    if args.device.dtype != Precision::F32
        && (cfg.workloads.is_empty()
            || cfg.workloads.iter().any(|w| {
                !matches!(
                    w,
                    Workload::ClipImage | Workload::ClipImageBurn | Workload::Gemm
                )
            }))
    {
        anyhow::bail!(
            "--dtype {} applies to the clip-image, clip-image-burn and gemm workloads only: pick them with \
             --workload",
            args.device.dtype
        );
    }
    let report = crate::with_infer_backend!(args.device, |B, device| Ok(bench::run::<
        burn::backend::Autodiff<B>,
    >(&cfg, &device)?))?;
    let json = serde_json::to_string_pretty(&report)?;
    if let Some(out) = &args.out {
        avad_core::files::write_atomic(out, json.as_bytes())
            .with_context(|| format!("writing {}", out.display()))?;
    }
    if args.json {
        println!("{json}");
    } else {
        print!("{}", report.to_table());
    }
    Ok(())
}
