//! `avad detect`: one video → per-snippet anomaly scores, classes and events (text, JSON, CSV, HTML).

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use avad_infer::ModelBundle;
use avad_pipeline::{render_html, ScoreOptions};

use super::extract::EncoderArgs;
use super::predict::LiveArgs;
use crate::backend::{run_inference, DeviceArgs, InferCommand};

/// Printed after the options of `avad detect --help`: the per-snippet fields of the report.
const FIELDS_HELP: &str = "\
Per-snippet fields (JSON `snippets[]`, CSV columns, text lines):
  anomaly_score  C-branch probability sigmoid(logits1); events are runs with anomaly_score >= --threshold
  top_class      argmax of the A-branch class probabilities p_<class> (softmax(logits2), column 0 = normal)
  audio          present | silent | none: the snippet's audio track
  audio_gate     teacher (adaptive fusion X_av = v + W*R) only: mean over the feature dimensions of the gate
                 W = sigmoid(Linear([v, a])), 0..1: how far the fusion lets through the residual R
                 (computed from [v, a]).
                 null / empty for student, VadCLIP and models without a fusion gate
  audio_share    teacher only: |W*R| / (|v| + |W*R|), 0..1: the size of what audio added relative to the
                 visual feature v (low when R is small even if the gate is open); null / empty otherwise
The HTML report draws audio_gate (solid) and audio_share (dashed) under the score timeline.
See docs/extract.md.";

/// Arguments of `avad detect`.
#[derive(clap::Args, Debug)]
#[command(after_help = FIELDS_HELP)]
pub struct Args {
    /// The video file.
    pub video: PathBuf,
    /// Checkpoint (a model.json/best.json/last.json file or a training output folder), or a model bundle JSON
    /// from `avad distill`: the teacher scores clips with audio, the visual student clips without (or silent) audio.
    #[arg(long)]
    pub model: PathBuf,
    /// The encoders and the frame sampling.
    #[command(flatten)]
    pub encoders: EncoderArgs,
    /// Print the full report as JSON on stdout (instead of the text summary); fields below.
    #[arg(long)]
    pub json: bool,
    /// Write one CSV row per snippet to this file
    /// (`index,start_s,end_s,anomaly_score,top_class,audio,audio_gate,audio_share,p_<class>...`).
    #[arg(long)]
    pub csv: Option<PathBuf>,
    /// Write a self-contained HTML report to this file (score timeline, audio gate/share curves, class curves).
    #[arg(long)]
    pub html: Option<PathBuf>,
    /// Anomaly-score threshold for events.
    #[arg(long, default_value_t = 0.5)]
    pub threshold: f32,
    /// Replay the live rule of `avad watch` on this file (per-window audio standardisation, trailing-window
    /// scores): what `avad watch` reports for the same video.
    #[command(flatten)]
    pub live: LiveArgs,
    /// Device and float type (`--device cuda --dtype bf16` on a GPU build).
    #[command(flatten)]
    pub device: DeviceArgs,
}

/// Runs `avad detect`.
pub fn run(args: Args) -> anyhow::Result<()> {
    args.encoders.snippets.check()?;
    run_inference(&args.device, &args)
}

impl InferCommand for Args {
    /// Extracts the video's features, scores them and writes the reports.
    fn run_on<B: burn::tensor::backend::Backend>(&self, device: &B::Device) -> anyhow::Result<()> {
        let t0 = Instant::now();
        let mut bundle = ModelBundle::<B>::load(&self.model, device)
            .with_context(|| format!("loading {}", self.model.display()))?;
        bundle.set_engine(self.encoders.snippets.engine.model_engine())?;
        let enc = self.encoders.load::<B>(device, self.device.device)?;
        let load_s = t0.elapsed().as_secs_f64();
        let opts = self
            .encoders
            .snippets
            .feature_options(1, self.html.is_some());
        let scoring = ScoreOptions {
            threshold: self.threshold,
            live: self.live.rule()?,
        };
        let t1 = Instant::now();
        let report = avad_pipeline::detect::detect_with_model(
            &enc,
            &bundle,
            &self.video,
            &opts,
            &scoring,
            &mut |_| {},
        )?;
        let run_s = t1.elapsed().as_secs_f64();
        let media_s = report.snippets.last().map(|s| s.end_s).unwrap_or(0.0)
            - report.snippets.first().map(|s| s.start_s).unwrap_or(0.0);
        tracing::info!(
            "{} snippets ({media_s:.1} s of video) in {run_s:.1} s (+{load_s:.1} s loading): real-time factor {:.3}",
            report.snippets.len(),
            run_s / media_s.max(1e-9)
        );
        let t = &report.timing;
        tracing::info!(
            "time by stage (overlapping): decode wait {:.2} s, preprocess {:.2} s, CLIP {:.2} s (waited {:.2} s), \
             Wav2CLIP {:.2} s, model {:.2} s",
            t.decode_wait_s,
            t.preprocess_s,
            t.clip_s,
            t.clip_wait_s,
            t.wav2clip_s,
            t.model_s
        );
        if let Some(p) = &self.csv {
            avad_core::files::write_atomic(p, report.to_csv().as_bytes())?;
        }
        if let Some(p) = &self.html {
            avad_core::files::write_atomic(p, render_html(&report).as_bytes())?;
        }
        if self.json {
            println!("{}", report.to_json());
        } else {
            println!(
                "{}: {} snippets, model {}, audio {} (features: {})",
                report.video,
                report.snippets.len(),
                report.model,
                report.audio,
                report.audio_features
            );
            if report.audio_features == "zeros" {
                println!("note: the video has no audio; the audio-visual model was given all-zero audio features");
            }
            for r in &report.snippets {
                let gate = match (r.audio_gate, r.audio_share) {
                    (Some(g), Some(s)) => format!(" gate {g:.3} share {s:.3}"),
                    _ => String::new(),
                };
                println!(
                    "{:5} {:8.2} {:8.2} {:.3} {:<10} {}{gate}",
                    r.index, r.start_s, r.end_s, r.anomaly_score, r.top_class, r.audio
                );
            }
            println!(
                "{} events (threshold {})",
                report.events.len(),
                report.threshold
            );
            for e in &report.events {
                println!(
                    "  {:.2}-{:.2} s  {}  peak {:.3} (snippet {})",
                    e.start_s, e.end_s, e.class, e.peak_score, e.peak_index
                );
            }
        }
        Ok(())
    }
}
