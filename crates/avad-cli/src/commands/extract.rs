//! `avad extract`: videos → CLIP visual + Wav2CLIP audio features and AVadCLIP list CSVs (resumable, shardable).

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use avad_pipeline::{
    list_videos, run_extract, shard_videos, EncoderEngine, Encoders, ExtractEvent, FeatureOptions,
    Shard,
};

use crate::backend::{run_inference, DeviceArgs, DeviceKind, InferCommand};

/// `--engine`: how the encoders compute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum EngineArg {
    /// `fast` on the CPU, `reference` on CUDA.
    #[default]
    Auto,
    /// Prepacked fp32 CPU kernels for the CLIP image tower, Wav2CLIP and the temporal model's prediction (AVX-512
    /// where the CPU has it); CPU only.
    Fast,
    /// burn's generic tensor ops on the chosen device (the path the parity tests compare against).
    Reference,
}

impl EngineArg {
    /// The same choice for the temporal model's prediction (`avad_infer::ModelEngine`).
    pub fn model_engine(self) -> avad_infer::ModelEngine {
        match self {
            EngineArg::Auto => avad_infer::ModelEngine::Auto,
            EngineArg::Fast => avad_infer::ModelEngine::FastCpu,
            EngineArg::Reference => avad_infer::ModelEngine::Reference,
        }
    }
}

/// The encoders and the frame sampling, shared by `avad extract` and `avad detect`.
#[derive(clap::Args, Debug)]
pub struct EncoderArgs {
    /// CLIP weights: a Hugging Face CLIPModel folder or an OpenAI-named safetensors file.
    #[arg(long)]
    pub clip_model: PathBuf,
    /// Wav2CLIP weights (`Wav2CLIP.pt` or safetensors with the same keys).
    #[arg(long)]
    pub wav2clip: PathBuf,
    /// Keep every N-th decoded frame: one snippet per N frames (a model must get the stride of the features it was
    /// trained on).
    #[arg(long, default_value_t = 16)]
    pub stride: usize,
    /// Stop each video after this many snippets.
    #[arg(long)]
    pub max_snippets: Option<usize>,
    /// Snippets per CLIP forward pass.
    #[arg(long, default_value_t = 8)]
    pub batch: usize,
    /// How the encoders compute: `fast` (prepacked fp32 CPU kernels; features within 1e-4 of `reference`), `reference`
    /// (burn's generic ops), or `auto` (fast on the CPU, reference on CUDA).
    #[arg(long, value_enum, default_value_t = EngineArg::Auto)]
    pub engine: EngineArg,
}

impl EncoderArgs {
    /// Fails unless `--stride` and `--batch` are at least 1.
    pub fn check(&self) -> anyhow::Result<()> {
        if self.stride == 0 || self.batch == 0 {
            anyhow::bail!("--stride and --batch must be at least 1");
        }
        Ok(())
    }

    /// The engine `--engine` asks for on a device of kind `kind`; `fast` on CUDA is an error.
    pub fn engine(&self, kind: DeviceKind) -> anyhow::Result<EncoderEngine> {
        Ok(match (self.engine, kind) {
            (EngineArg::Auto | EngineArg::Fast, DeviceKind::Cpu) => EncoderEngine::FastCpu,
            (EngineArg::Auto | EngineArg::Reference, _) => EncoderEngine::Reference,
            (EngineArg::Fast, DeviceKind::Cuda(_)) => anyhow::bail!(
                "--engine fast runs on the CPU only: leave it out (or use --engine reference) with --device cuda"
            ),
        })
    }

    /// Loads CLIP's image tower and Wav2CLIP onto `device` (of kind `kind`) for the engine `--engine` selects.
    pub fn load<B: burn::tensor::backend::Backend>(
        &self,
        device: &B::Device,
        kind: DeviceKind,
    ) -> anyhow::Result<Encoders<B>> {
        let engine = self.engine(kind)?;
        let enc = Encoders::<B>::load(&self.clip_model, &self.wav2clip, device, engine)?;
        tracing::info!("encoders: {} engine", engine.as_str());
        Ok(enc)
    }

    /// How to turn one video into features: these flags with `crops` crops, keeping thumbnails when `thumbnails`.
    pub fn feature_options(&self, crops: usize, thumbnails: bool) -> FeatureOptions {
        FeatureOptions {
            crops,
            stride: self.stride,
            max_snippets: self.max_snippets,
            batch: self.batch,
            thumbnails,
            ..FeatureOptions::default()
        }
    }
}

/// Arguments of `avad extract`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// A folder of video files (not recursive) or a text file with one video path per line.
    #[arg(long)]
    pub videos: PathBuf,
    /// Output folder (visual/, audio/, done/, list.csv, list_visual_only.csv).
    #[arg(long)]
    pub out: PathBuf,
    /// 1: centre crop (CLIP preprocessing); 10: AVadCLIP's 10-crop.
    #[arg(long, default_value_t = 1, value_parser = parse_crops)]
    pub crops: usize,
    /// Process only shard I of N (video i of the sorted list when i % N == I), e.g. `--shard 0/4`.
    #[arg(long)]
    pub shard: Option<Shard>,
    /// The encoders and the frame sampling.
    #[command(flatten)]
    pub encoders: EncoderArgs,
    /// Device and float type of the encoders (`--device cuda --dtype bf16` on a GPU build).
    #[command(flatten)]
    pub device: DeviceArgs,
}

fn parse_crops(s: &str) -> Result<usize, String> {
    match s {
        "1" => Ok(1),
        "10" => Ok(10),
        _ => Err(format!("--crops must be 1 or 10, not `{s}`")),
    }
}

/// Runs `avad extract`; fails (after finishing every other video) if any video failed.
pub fn run(args: Args) -> anyhow::Result<()> {
    args.encoders.check()?;
    run_inference(&args.device, &args)
}

impl InferCommand for Args {
    /// Extracts the features of every video of the shard.
    fn run_on<B: burn::tensor::backend::Backend>(&self, device: &B::Device) -> anyhow::Result<()> {
        let all = list_videos(&self.videos)
            .with_context(|| format!("listing videos in {}", self.videos.display()))?;
        let videos = shard_videos(&all, self.shard);
        if let Some(s) = self.shard {
            tracing::info!(
                "shard {}/{}: {} of {} videos",
                s.index,
                s.count,
                videos.len(),
                all.len()
            );
        }
        let enc = self.encoders.load::<B>(device, self.device.device)?;
        let opts = self.encoders.feature_options(self.crops, false);
        let pb = indicatif::ProgressBar::new(videos.len() as u64);
        pb.set_style(
            indicatif::ProgressStyle::with_template(
                "{bar:30} {pos}/{len} videos {elapsed_precise} {msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        let start = Instant::now();
        let (mut snippets_total, mut videos_done, mut in_video) = (0usize, 0usize, 0usize);
        let summary = run_extract(&enc, &videos, &self.out, &opts, &mut |ev| {
            let secs = start.elapsed().as_secs_f64().max(1e-9);
            match ev {
                ExtractEvent::Start { video } => {
                    in_video = 0;
                    pb.set_message(video.to_string());
                }
                ExtractEvent::Snippets { done } => {
                    snippets_total += done - in_video;
                    in_video = done;
                }
                ExtractEvent::Finished { outcome, .. } => {
                    if outcome == "done" {
                        videos_done += 1;
                    }
                    pb.inc(1);
                }
            }
            pb.set_message(format!(
                "{:.2} videos/s {:.1} snippets/s",
                videos_done as f64 / secs,
                snippets_total as f64 / secs
            ));
        })?;
        pb.finish_and_clear();
        println!(
            "extracted {} videos ({} snippets), skipped {} already done, {} failed, in {:.1} s",
            summary.processed.len(),
            summary.snippets,
            summary.skipped.len(),
            summary.failed.len(),
            start.elapsed().as_secs_f64()
        );
        for l in [&summary.list, &summary.visual_only_list]
            .into_iter()
            .flatten()
        {
            println!("list: {}", l.display());
        }
        if !summary.failed.is_empty() {
            eprintln!("failures:");
            for (p, e) in &summary.failed {
                let name = p.display().to_string();
                if e.starts_with(&name) {
                    eprintln!("  {e}");
                } else {
                    eprintln!("  {name}: {e}");
                }
            }
            anyhow::bail!("{} of {} videos failed", summary.failed.len(), videos.len());
        }
        Ok(())
    }
}
