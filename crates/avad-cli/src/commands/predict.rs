//! `avad predict`: score the videos of a list with a trained checkpoint or a model bundle and write `<video>.npy`
//! files, plus `scored_by.csv` naming the model that scored each video.

use std::path::PathBuf;

use anyhow::Context;
use avad_infer::{read_stored_features, read_videos, ModelBundle};

use super::extract::EngineArg;
use crate::backend::{run_inference, DeviceArgs, InferCommand};

/// Arguments of `avad predict`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Checkpoint (a model.json/best.json/last.json file or a training output folder), or a model bundle JSON
    /// (`bundle.json` from `avad distill`: teacher + students). With a bundle each video is scored by the teacher
    /// when its audio feature file exists and is not silent, else by the visual student.
    #[arg(long)]
    pub model: PathBuf,
    /// List CSV of the videos to score (the first crop of each video is used).
    #[arg(long)]
    pub list: PathBuf,
    /// Folder to find feature files in when the list's paths do not exist.
    #[arg(long)]
    pub features_dir: Option<PathBuf>,
    /// Output folder: `<video>.npy` float32 [T, C] = softmax(logits2) (column 0 = normal), read by `avad eval`,
    /// and `scored_by.csv` (`video,model,reason`).
    #[arg(long)]
    pub out: PathBuf,
    /// Also write the C-branch scores sigmoid(logits1) as `OUT/c_branch/<video>.npy` float32 [T].
    #[arg(long)]
    pub c_branch: bool,
    /// Score with the live rule of `avad watch` instead of the offline chunking (see `--live-window`).
    #[command(flatten)]
    pub live: LiveArgs,
    /// How the model computes: `fast` (weights packed once, fp32 CPU kernels; scores within 1e-4 of `reference`),
    /// `reference` (burn's generic ops, the path the parity tests check), or `auto` (fast on the CPU for every
    /// model the fast path implements, reference on CUDA).
    #[arg(long, value_enum, default_value_t = EngineArg::Auto)]
    pub engine: EngineArg,
    /// Device and float type (`--device cuda` on a GPU build).
    #[command(flatten)]
    pub device: DeviceArgs,
}

/// `--live-window` / `--lookahead`: the live scoring rule (`avad_infer::online`), shared by `predict`, `detect`
/// and `watch`.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct LiveArgs {
    /// Score each snippet as a live stream does: the model runs on the trailing window of the last W snippets
    /// each time one arrives (W ≤ the model's chunk length, 256). Without it (predict, detect): offline chunking.
    #[arg(long, value_name = "W")]
    pub live_window: Option<usize>,
    /// Live rule: a snippet's score is reported K snippets after it arrives, having seen K later snippets
    /// (0 = causal; each step of K adds one snippet, 16 frames, of delay). predict / detect: 0; watch: 2.
    #[arg(long, value_name = "K")]
    pub lookahead: Option<usize>,
}

impl LiveArgs {
    /// The live rule of `predict` / `detect`, when `--live-window` is given (lookahead 0 unless given).
    pub fn rule(&self) -> anyhow::Result<Option<avad_infer::LiveWindow>> {
        match (self.live_window, self.lookahead) {
            (None, Some(_)) => anyhow::bail!("--lookahead needs --live-window (the live rule)"),
            (None, None) => Ok(None),
            (Some(window), k) => Ok(Some(avad_infer::LiveWindow {
                window,
                lookahead: k.unwrap_or(0),
            })),
        }
    }
}

impl Args {
    /// `avad predict --model MODEL --list LIST --out OUT`, every other flag at its default.
    pub fn new(model: PathBuf, list: PathBuf, out: PathBuf) -> Self {
        Self {
            model,
            list,
            features_dir: None,
            out,
            c_branch: false,
            live: LiveArgs::default(),
            engine: EngineArg::Auto,
            device: DeviceArgs::default(),
        }
    }
}

/// Runs `avad predict`.
pub fn run(args: Args) -> anyhow::Result<()> {
    run_inference(&args.device, &args)
}

impl InferCommand for Args {
    /// Scores every video of the list and writes `<video>.npy` files and `scored_by.csv`.
    fn run_on<B: burn::tensor::backend::Backend>(&self, device: &B::Device) -> anyhow::Result<()> {
        let mut bundle = ModelBundle::<B>::load(&self.model, device)
            .with_context(|| format!("loading {}", self.model.display()))?;
        if self.engine != EngineArg::Auto {
            // (Loading already chose `auto`.)
            bundle.set_engine(self.engine.model_engine())?;
        }
        let videos = read_videos(&self.list, self.features_dir.as_deref())?;
        std::fs::create_dir_all(&self.out)
            .with_context(|| format!("creating {}", self.out.display()))?;
        if self.c_branch {
            std::fs::create_dir_all(self.out.join("c_branch"))?;
        }
        let pb = indicatif::ProgressBar::new(videos.len() as u64);
        let mut scored_by = String::from("video,model,reason\n");
        let mut counts: std::collections::BTreeMap<(&'static str, String), usize> =
            Default::default();
        for v in &videos {
            let f = read_stored_features(v).with_context(|| format!("reading {}", v.name))?;
            let r = match self.live.rule()? {
                None => bundle.score(&f),
                Some(rule) => bundle.score_live(&f, rule),
            }
            .with_context(|| format!("scoring {}", v.name))?;
            let s = &r.scores;
            avad_core::npy::write_npy_f32(
                &self.out.join(format!("{}.npy", v.name)),
                &[s.t, s.num_class],
                &s.probs,
            )?;
            if self.c_branch {
                avad_core::npy::write_npy_f32(
                    &self.out.join("c_branch").join(format!("{}.npy", v.name)),
                    &[s.t],
                    &s.prob1,
                )?;
            }
            scored_by.push_str(&format!("{},{},{}\n", v.name, r.role.as_str(), r.reason));
            *counts
                .entry((r.role.as_str(), r.reason.clone()))
                .or_default() += 1;
            pb.inc(1);
        }
        pb.finish_and_clear();
        avad_core::files::write_atomic(&self.out.join("scored_by.csv"), scored_by.as_bytes())?;
        let summary: Vec<String> = counts
            .iter()
            .map(|((m, why), n)| format!("{n} by {m} ({why})"))
            .collect();
        tracing::info!("scored {} videos: {}", videos.len(), summary.join(", "));
        println!(
            "wrote {} predictions ({} classes: {}) to {} — {}",
            videos.len(),
            bundle.class_names().len(),
            bundle.class_names().join(", "),
            self.out.display(),
            summary.join(", ")
        );
        Ok(())
    }
}
