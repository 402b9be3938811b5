//! `avad wav2clip`: Wav2CLIP audio embeddings of a WAV file (utterance or frame mode), printed as JSON or a summary.

use std::path::PathBuf;

use anyhow::Context;
use avad_wav2clip::{read_wav, resample, Normalisation, Wav2Clip, SAMPLE_RATE};

use crate::backend::{run_inference, DeviceArgs, InferCommand};

/// Arguments of `avad wav2clip`.
#[derive(clap::Args)]
pub struct Args {
    /// Wav2CLIP weights: the original `Wav2CLIP.pt` or a safetensors file with the same keys (f32 or f16).
    #[arg(long)]
    pub model: PathBuf,
    /// Audio file (WAV: PCM u8/s16/s24/s32 or float; any channel count and rate; averaged to mono, resampled to
    /// 16 kHz).
    #[arg(long)]
    pub audio: PathBuf,
    /// Frame mode: frame length in 16 kHz samples (with --hop-length); one embedding row per frame.
    #[arg(long, requires = "hop_length")]
    pub frame_length: Option<usize>,
    /// Frame mode: hop between frames in 16 kHz samples (with --frame-length).
    #[arg(long, requires = "frame_length")]
    pub hop_length: Option<usize>,
    /// Standardise each frame's spectrogram on its own instead of over all frames of the file (the package's
    /// behaviour, the default).
    #[arg(long)]
    pub per_frame_norm: bool,
    /// Print one JSON object {"embeds": [[512 floats], ...], "sample_rate": 16000, "samples": N, ...}.
    #[arg(long)]
    pub json: bool,
    /// Device and float type (`--device cuda` on a GPU build).
    #[command(flatten)]
    pub device: DeviceArgs,
}

/// Runs `avad wav2clip`.
pub fn run(args: Args) -> anyhow::Result<()> {
    run_inference(&args.device, &args)
}

impl InferCommand for Args {
    /// Embeds the audio file and prints the embeddings.
    fn run_on<B: burn::tensor::backend::Backend>(&self, device: &B::Device) -> anyhow::Result<()> {
        let model = Wav2Clip::<B>::load(&self.model, device)
            .with_context(|| format!("loading Wav2CLIP weights from {}", self.model.display()))?;
        let wav = read_wav(&self.audio)?;
        let x = resample(&wav.samples, wav.sample_rate, SAMPLE_RATE)?;
        let norm = if self.per_frame_norm {
            Normalisation::PerSegment
        } else {
            Normalisation::Shared
        };
        let embeds = match (self.frame_length, self.hop_length) {
            (Some(f), Some(h)) => model.embed_frames(&x, f, h, norm),
            _ => model.embed_utterance(&x),
        }
        .with_context(|| format!("embedding {}", self.audio.display()))?;
        let [rows, dim] = embeds.dims();
        let values = embeds
            .into_data()
            .convert::<f32>()
            .into_vec::<f32>()
            .map_err(|e| anyhow::anyhow!("reading embeddings back: {e:?}"))?;
        let matrix: Vec<&[f32]> = values.chunks(dim).collect();
        if self.json {
            let out = serde_json::json!({
                "embeds": matrix,
                "sample_rate": SAMPLE_RATE,
                "samples": x.len(),
                "source_sample_rate": wav.sample_rate,
                "source_channels": wav.channels,
                "frame_length": self.frame_length,
                "hop_length": self.hop_length,
                "normalisation": norm,
            });
            println!("{out}");
        } else {
            println!(
                "{}: {} Hz, {} channel(s) -> {} samples at {} Hz ({:.2} s)",
                self.audio.display(),
                wav.sample_rate,
                wav.channels,
                x.len(),
                SAMPLE_RATE,
                x.len() as f64 / SAMPLE_RATE as f64
            );
            let mode = match (self.frame_length, self.hop_length) {
                (Some(f), Some(h)) => format!("frame mode (frame {f}, hop {h} samples)"),
                _ => "utterance mode".to_string(),
            };
            println!("{rows} embedding(s) of {dim} dims, {mode}");
            for (i, row) in matrix.iter().enumerate().take(5) {
                let norm2 = row.iter().map(|v| v * v).sum::<f32>().sqrt();
                let head: Vec<String> = row.iter().take(4).map(|v| format!("{v:+.4}")).collect();
                println!("  [{i}] |e| = {norm2:.4}  [{}, ...]", head.join(", "));
            }
            if rows > 5 {
                println!("  ... ({} more rows; use --json for all values)", rows - 5);
            }
        }
        Ok(())
    }
}
