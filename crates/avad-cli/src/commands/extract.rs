//! `avad extract`: videos → CLIP visual + Wav2CLIP audio features and AVadCLIP list CSVs (resumable, shardable).

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use avad_pipeline::{
    list_videos, run_extract, shard_videos, Encoders, ExtractEvent, FeatureOptions, Shard,
};

use crate::backend::DeviceArgs;

/// Arguments of `avad extract`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// A folder of video files (not recursive) or a text file with one video path per line.
    #[arg(long)]
    pub videos: PathBuf,
    /// CLIP weights: a Hugging Face CLIPModel folder or an OpenAI-named safetensors file.
    #[arg(long)]
    pub clip_model: PathBuf,
    /// Wav2CLIP weights (`Wav2CLIP.pt` or safetensors with the same keys).
    #[arg(long)]
    pub wav2clip: PathBuf,
    /// Output folder (visual/, audio/, done/, list.csv, list_visual_only.csv).
    #[arg(long)]
    pub out: PathBuf,
    /// 1: centre crop (CLIP preprocessing); 10: AVadCLIP's 10-crop.
    #[arg(long, default_value_t = 1, value_parser = parse_crops)]
    pub crops: usize,
    /// Keep every N-th decoded frame (one snippet per N frames).
    #[arg(long, default_value_t = 16)]
    pub stride: usize,
    /// Stop each video after this many snippets.
    #[arg(long)]
    pub max_snippets: Option<usize>,
    /// Process only shard I of N (video i of the sorted list when i % N == I), e.g. `--shard 0/4`.
    #[arg(long)]
    pub shard: Option<Shard>,
    /// Snippets per CLIP forward pass.
    #[arg(long, default_value_t = 8)]
    pub batch: usize,
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
    if args.stride == 0 || args.batch == 0 {
        anyhow::bail!("--stride and --batch must be at least 1");
    }
    crate::with_infer_backend!(args.device, |B, device| run_on::<B>(&args, &device))
}

fn run_on<B: burn::tensor::backend::Backend>(
    args: &Args,
    device: &B::Device,
) -> anyhow::Result<()> {
    let all = list_videos(&args.videos)
        .with_context(|| format!("listing videos in {}", args.videos.display()))?;
    let videos = shard_videos(&all, args.shard);
    if let Some(s) = args.shard {
        tracing::info!(
            "shard {}/{}: {} of {} videos",
            s.index,
            s.count,
            videos.len(),
            all.len()
        );
    }
    let enc = Encoders::<B>::load(&args.clip_model, &args.wav2clip, device)?;
    let opts = FeatureOptions {
        crops: args.crops,
        stride: args.stride,
        max_snippets: args.max_snippets,
        batch: args.batch,
        thumbnails: false,
    };
    let pb = indicatif::ProgressBar::new(videos.len() as u64);
    pb.set_style(
        indicatif::ProgressStyle::with_template(
            "{bar:30} {pos}/{len} videos {elapsed_precise} {msg}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let start = Instant::now();
    let (mut snippets_total, mut videos_done, mut in_video) = (0usize, 0usize, 0usize);
    let summary = run_extract(&enc, &videos, &args.out, &opts, &mut |ev| {
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
