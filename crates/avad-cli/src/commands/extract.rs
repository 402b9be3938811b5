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

    /// The encoders' engine on a device of kind `kind`; `fast` on CUDA is an error.
    pub fn encoder_engine(self, kind: DeviceKind) -> anyhow::Result<EncoderEngine> {
        Ok(match (self, kind) {
            (EngineArg::Auto | EngineArg::Fast, DeviceKind::Cpu) => EncoderEngine::FastCpu,
            (EngineArg::Auto | EngineArg::Reference, _) => EncoderEngine::Reference,
            (EngineArg::Fast, DeviceKind::Cuda(_)) => anyhow::bail!(
                "--engine fast runs on the CPU only: leave it out (or use --engine reference) with --device cuda"
            ),
        })
    }
}

/// How videos are cut into snippets and encoded (everything but the weights), shared by `avad extract`, `avad
/// detect` and `avad serve`.
#[derive(clap::Args, Debug, Clone)]
pub struct SnippetArgs {
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

impl SnippetArgs {
    /// Fails unless `--stride` and `--batch` are at least 1.
    pub fn check(&self) -> anyhow::Result<()> {
        if self.stride == 0 || self.batch == 0 {
            anyhow::bail!("--stride and --batch must be at least 1");
        }
        Ok(())
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

/// The encoders' weights and [`SnippetArgs`], shared by `avad extract` and `avad detect`.
#[derive(clap::Args, Debug)]
pub struct EncoderArgs {
    /// CLIP weights: a Hugging Face CLIPModel folder or an OpenAI-named safetensors file.
    #[arg(long)]
    pub clip_model: PathBuf,
    /// Wav2CLIP weights (`Wav2CLIP.pt` or safetensors with the same keys).
    #[arg(long)]
    pub wav2clip: PathBuf,
    /// Frame sampling, batch and engine.
    #[command(flatten)]
    pub snippets: SnippetArgs,
}

impl EncoderArgs {
    /// Loads CLIP's image tower and Wav2CLIP onto `device` (of kind `kind`) for the engine `--engine` selects.
    pub fn load<B: burn::tensor::backend::Backend>(
        &self,
        device: &B::Device,
        kind: DeviceKind,
    ) -> anyhow::Result<Encoders<B>> {
        let engine = self.snippets.engine.encoder_engine(kind)?;
        let enc = Encoders::<B>::load(&self.clip_model, &self.wav2clip, device, engine)?;
        tracing::info!("encoders: {} engine", engine.as_str());
        Ok(enc)
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
    /// Process only shard I of N (video i of the sorted list when i % N == I), e.g. `--shard 0/4`. Without it the
    /// shard comes from the environment: a Slurm array task (`SLURM_ARRAY_TASK_ID` of `SLURM_ARRAY_TASK_COUNT`) or a
    /// Kubernetes indexed job (`JOB_COMPLETION_INDEX` of `AVAD_SHARD_COUNT`, which you set to the completions);
    /// `--shard 0/1` processes everything whatever the environment says.
    #[arg(long)]
    pub shard: Option<Shard>,
    /// Where the shard came from (`--shard` or the environment variables), set by [`run`].
    #[arg(skip)]
    pub shard_source: Option<String>,
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
pub fn run(mut args: Args) -> anyhow::Result<()> {
    args.encoders.snippets.check()?;
    if let Some((shard, source)) = resolve_shard(args.shard, &|k| std::env::var(k).ok())? {
        args.shard = Some(shard);
        args.shard_source = Some(source);
    }
    run_inference(&args.device, &args)
}

/// The variable that gives the shard count of a Kubernetes indexed job (Kubernetes exports the index,
/// `JOB_COMPLETION_INDEX`, but not the number of completions).
pub const SHARD_COUNT_ENV: &str = "AVAD_SHARD_COUNT";

/// The shard of this run and where it came from: `--shard` when given; else a Slurm array task
/// (`SLURM_ARRAY_TASK_ID` − `SLURM_ARRAY_TASK_MIN`, divided by `SLURM_ARRAY_TASK_STEP`, of `SLURM_ARRAY_TASK_COUNT`;
/// min 0 and step 1 when unset); else a Kubernetes indexed job (`JOB_COMPLETION_INDEX` of [`SHARD_COUNT_ENV`]);
/// else `None` (every video). `env` reads a variable (empty counts as unset). Malformed or inconsistent values are
/// errors naming the variables.
pub fn resolve_shard(
    explicit: Option<Shard>,
    env: &dyn Fn(&str) -> Option<String>,
) -> anyhow::Result<Option<(Shard, String)>> {
    if let Some(s) = explicit {
        return Ok(Some((s, "--shard".into())));
    }
    let var = |k: &str| {
        env(k)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    let number = |k: &str, v: &str| -> anyhow::Result<usize> {
        v.parse::<usize>().map_err(|_| {
            anyhow::anyhow!("{k}=`{v}` is not a whole number >= 0 (or give --shard I/N)")
        })
    };
    if let Some(id) = var("SLURM_ARRAY_TASK_ID") {
        let id = number("SLURM_ARRAY_TASK_ID", &id)?;
        let count = var("SLURM_ARRAY_TASK_COUNT").ok_or_else(|| {
            anyhow::anyhow!(
                "SLURM_ARRAY_TASK_ID is set but SLURM_ARRAY_TASK_COUNT is not: give --shard I/N"
            )
        })?;
        let count = number("SLURM_ARRAY_TASK_COUNT", &count)?;
        let min = match var("SLURM_ARRAY_TASK_MIN") {
            Some(v) => number("SLURM_ARRAY_TASK_MIN", &v)?,
            None => 0,
        };
        let step = match var("SLURM_ARRAY_TASK_STEP") {
            Some(v) => number("SLURM_ARRAY_TASK_STEP", &v)?.max(1),
            None => 1,
        };
        let offset = id.checked_sub(min).filter(|o| o % step == 0);
        return match offset.map(|o| o / step) {
            Some(index) if index < count => Ok(Some((
                Shard { index, count },
                "SLURM_ARRAY_TASK_ID/SLURM_ARRAY_TASK_COUNT".into(),
            ))),
            _ => anyhow::bail!(
                "SLURM_ARRAY_TASK_ID={id} (SLURM_ARRAY_TASK_MIN={min}, SLURM_ARRAY_TASK_STEP={step}) is not one of the \
                 SLURM_ARRAY_TASK_COUNT={count} tasks of an evenly spaced array: give --shard I/N"
            ),
        };
    }
    if let Some(index) = var("JOB_COMPLETION_INDEX") {
        let index = number("JOB_COMPLETION_INDEX", &index)?;
        let count = var(SHARD_COUNT_ENV).ok_or_else(|| {
            anyhow::anyhow!(
                "JOB_COMPLETION_INDEX is set (a Kubernetes indexed job) but {SHARD_COUNT_ENV} is not: set it to the \
                 job's completions (Kubernetes does not export them), or give --shard I/N"
            )
        })?;
        let count = number(SHARD_COUNT_ENV, &count)?;
        if index >= count {
            anyhow::bail!(
                "JOB_COMPLETION_INDEX={index} is not below {SHARD_COUNT_ENV}={count}: need 0 <= index < count"
            );
        }
        return Ok(Some((
            Shard { index, count },
            format!("JOB_COMPLETION_INDEX/{SHARD_COUNT_ENV}"),
        )));
    }
    if let Some(count) = var(SHARD_COUNT_ENV) {
        anyhow::bail!(
            "{SHARD_COUNT_ENV}={count} is set but JOB_COMPLETION_INDEX is not: give both (a Kubernetes indexed job), \
             or --shard I/N"
        );
    }
    Ok(None)
}

impl InferCommand for Args {
    /// Extracts the features of every video of the shard.
    fn run_on<B: burn::tensor::backend::Backend>(&self, device: &B::Device) -> anyhow::Result<()> {
        let all = list_videos(&self.videos)
            .with_context(|| format!("listing videos in {}", self.videos.display()))?;
        let videos = shard_videos(&all, self.shard);
        if let Some(s) = self.shard {
            tracing::info!(
                "shard {}/{} (from {}): {} of {} videos",
                s.index,
                s.count,
                self.shard_source.as_deref().unwrap_or("--shard"),
                videos.len(),
                all.len()
            );
        }
        let enc = self.encoders.load::<B>(device, self.device.device)?;
        let opts = self.encoders.snippets.feature_options(self.crops, false);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(
        explicit: Option<&str>,
        vars: &[(&str, &str)],
    ) -> anyhow::Result<Option<(Shard, String)>> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let env = move |k: &str| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        resolve_shard(explicit.map(|s| s.parse().unwrap()), &env)
    }

    fn shard(r: anyhow::Result<Option<(Shard, String)>>) -> (usize, usize, String) {
        let (s, from) = r.unwrap().unwrap();
        (s.index, s.count, from)
    }

    #[test]
    fn shard_from_slurm_kubernetes_or_flag() {
        assert!(resolve(None, &[]).unwrap().is_none());
        let slurm = [
            ("SLURM_ARRAY_TASK_ID", "2"),
            ("SLURM_ARRAY_TASK_COUNT", "3"),
        ];
        assert_eq!(shard(resolve(None, &slurm)).0, 2);
        // Arrays that start at 1 or step by 2 map onto 0..N.
        let from_one = [
            ("SLURM_ARRAY_TASK_ID", "3"),
            ("SLURM_ARRAY_TASK_MIN", "1"),
            ("SLURM_ARRAY_TASK_COUNT", "4"),
        ];
        let (i, n, _) = shard(resolve(None, &from_one));
        assert_eq!((i, n), (2, 4));
        let stepped = [
            ("SLURM_ARRAY_TASK_ID", "5"),
            ("SLURM_ARRAY_TASK_MIN", "1"),
            ("SLURM_ARRAY_TASK_STEP", "2"),
            ("SLURM_ARRAY_TASK_COUNT", "3"),
        ];
        assert_eq!(shard(resolve(None, &stepped)).0, 2);
        let k8s = [("JOB_COMPLETION_INDEX", "1"), ("AVAD_SHARD_COUNT", "4")];
        let (i, n, from) = shard(resolve(None, &k8s));
        assert_eq!(
            (i, n, from.as_str()),
            (1, 4, "JOB_COMPLETION_INDEX/AVAD_SHARD_COUNT")
        );
        // The flag wins over the environment.
        assert_eq!(
            shard(resolve(Some("0/1"), &slurm)),
            (0, 1, "--shard".into())
        );
    }

    #[test]
    fn malformed_shard_variables_are_errors() {
        for (vars, needle) in [
            (
                &[
                    ("SLURM_ARRAY_TASK_ID", "x"),
                    ("SLURM_ARRAY_TASK_COUNT", "3"),
                ][..],
                "SLURM_ARRAY_TASK_ID=`x`",
            ),
            (
                &[("SLURM_ARRAY_TASK_ID", "1")][..],
                "SLURM_ARRAY_TASK_COUNT is not",
            ),
            (
                &[
                    ("SLURM_ARRAY_TASK_ID", "3"),
                    ("SLURM_ARRAY_TASK_COUNT", "3"),
                ][..],
                "is not one of",
            ),
            (
                &[
                    ("SLURM_ARRAY_TASK_ID", "0"),
                    ("SLURM_ARRAY_TASK_COUNT", "0"),
                ][..],
                "is not one of",
            ),
            (
                &[("JOB_COMPLETION_INDEX", "2")][..],
                "AVAD_SHARD_COUNT is not",
            ),
            (
                &[("JOB_COMPLETION_INDEX", "2"), ("AVAD_SHARD_COUNT", "2")][..],
                "not below",
            ),
            (
                &[("JOB_COMPLETION_INDEX", "-1"), ("AVAD_SHARD_COUNT", "2")][..],
                "JOB_COMPLETION_INDEX=`-1`",
            ),
            (
                &[("AVAD_SHARD_COUNT", "2")][..],
                "JOB_COMPLETION_INDEX is not",
            ),
        ] {
            let e = resolve(None, vars).unwrap_err().to_string();
            assert!(e.contains(needle), "{vars:?}: {e}");
        }
    }
}
