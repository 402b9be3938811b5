//! `avad synth`: write the synthetic audio-visual benchmark (features, lists, annotations).

use std::path::PathBuf;

use avad_core::synth::{generate, SynthConfig};

/// Generate the synthetic audio-visual benchmark in the real formats (see docs/synth.md).
///
/// Writes `visual/<video>__<crop>.npy` and `audio/<video>.npy` ([T, 512] float32), `train.csv` and `test.csv`
/// (`path,audio_path,label`), `annotations.txt` and `annotations_multiclasses.txt` for the test set, and
/// `videos.json` (every event with its class and modality).
#[derive(clap::Args)]
pub struct Args {
    /// Output folder (created if missing).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Seed; the benchmark is a pure function of it.
    #[arg(long, default_value_t = SynthConfig::default().seed)]
    pub seed: u64,
    /// Number of training videos.
    #[arg(long, default_value_t = SynthConfig::default().train)]
    pub train: usize,
    /// Number of test videos.
    #[arg(long, default_value_t = SynthConfig::default().test)]
    pub test: usize,
    /// Longest video in snippets (the shortest is 20).
    #[arg(long, default_value_t = SynthConfig::default().max_len)]
    pub max_len: usize,
    /// Visual crops per training video (`__0`..; the test list uses crop 0).
    #[arg(long, default_value_t = 1)]
    pub crops: usize,
    /// Feature width (512 like CLIP ViT-B/16 and Wav2CLIP; smaller widths make fast experiments).
    #[arg(long, default_value_t = SynthConfig::default().dim)]
    pub dim: usize,
    /// Strength of a faint visual correlate of the audio-only events (e.g. 0.2): each also adds
    /// `strength · amplitude · w_c` (a per-class "reaction" direction, 1–3 snippets late, lingering 2 snippets) to
    /// the video. 0 (default) = the original benchmark, byte for byte. See docs/synth.md.
    #[arg(long, default_value_t = 0.0, value_name = "S")]
    pub visual_trace: f64,
}

/// Runs `avad synth`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let cfg = SynthConfig {
        seed: args.seed,
        train: args.train,
        test: args.test,
        max_len: args.max_len,
        crops: args.crops,
        dim: args.dim,
        visual_trace: args.visual_trace,
        ..SynthConfig::default()
    };
    let s = generate(&cfg, &args.out)?;
    let anomalous = s.videos.iter().filter(|v| v.label != "A").count();
    println!(
        "wrote {} videos ({} anomalous) to {}\n  train list  {}\n  test list   {}\n  annotations {}",
        s.videos.len(),
        anomalous,
        s.root.display(),
        s.train_list.display(),
        s.test_list.display(),
        s.annotations_multiclass.display()
    );
    Ok(())
}
