//! `avad predict`: score the videos of a list with a trained checkpoint and write `<video>.npy` files.

use std::path::PathBuf;

use anyhow::Context;
use avad_train::lists::{read_video_features, read_videos};
use avad_train::Predictor;

use crate::backend::{cpu_device, InferBackend};

/// Arguments of `avad predict`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Checkpoint: a model.json/best.json/last.json file or a training output folder.
    #[arg(long)]
    pub model: PathBuf,
    /// List CSV of the videos to score (the first crop of each video is used).
    #[arg(long)]
    pub list: PathBuf,
    /// Folder to find feature files in when the list's paths do not exist.
    #[arg(long)]
    pub features_dir: Option<PathBuf>,
    /// Output folder: `<video>.npy` float32 [T, C] = softmax(logits2) (column 0 = normal), read by `avad eval`.
    #[arg(long)]
    pub out: PathBuf,
    /// Also write the C-branch scores sigmoid(logits1) as `OUT/c_branch/<video>.npy` float32 [T].
    #[arg(long)]
    pub c_branch: bool,
}

/// Runs `avad predict`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let device = cpu_device();
    let predictor = Predictor::<InferBackend>::from_checkpoint(&args.model, &device)
        .with_context(|| format!("loading {}", args.model.display()))?;
    let videos = read_videos(&args.list, args.features_dir.as_deref())?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    if args.c_branch {
        std::fs::create_dir_all(args.out.join("c_branch"))?;
    }
    let pb = indicatif::ProgressBar::new(videos.len() as u64);
    for v in &videos {
        let (vis, aud) = read_video_features(v, predictor.needs_audio())?;
        let s = predictor
            .predict(&vis.data, aud.as_ref().map(|a| a.data.as_slice()))
            .with_context(|| format!("scoring {}", v.name))?;
        avad_core::npy::write_npy_f32(
            &args.out.join(format!("{}.npy", v.name)),
            &[s.t, s.num_class],
            &s.probs,
        )?;
        if args.c_branch {
            avad_core::npy::write_npy_f32(
                &args.out.join("c_branch").join(format!("{}.npy", v.name)),
                &[s.t],
                &s.prob1,
            )?;
        }
        pb.inc(1);
    }
    pb.finish_and_clear();
    println!(
        "wrote {} predictions ({} classes: {}) to {}",
        videos.len(),
        predictor.class_names.len(),
        predictor.class_names.join(", "),
        args.out.display()
    );
    Ok(())
}
