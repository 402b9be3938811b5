//! `avad train`: train a VadCLIP / AVadCLIP model from list CSVs and `.npy` features (the presets reproduce the
//! official recipes), and the flags `avad distill` shares with it ([`TrainFlags`]).

use std::path::PathBuf;

use anyhow::Context;
use avad_train::lists::{load_test_set, load_training_set, probe_widths};
use avad_train::{
    train, ClipSource, ResumeMode, Selection, TestSet, TrainConfig, TrainError, TrainOptions,
    TrainSummary,
};

use crate::backend::DeviceArgs;

/// The flags of `avad train` that `avad distill` shares: test data, output, overrides of the preset's recipe, resume,
/// selection, CLIP text weights, device.
#[derive(clap::Args, Debug, Clone)]
pub struct TrainFlags {
    /// Test list CSV, for per-epoch test metrics (with --annotations) and --select-on-test.
    #[arg(long)]
    pub test_list: Option<PathBuf>,
    /// Folder to find feature files in when the list's paths do not exist.
    #[arg(long)]
    pub features_dir: Option<PathBuf>,
    /// Test annotations (`<video> s1 e1 …`, frames), for frame-level test metrics.
    #[arg(long)]
    pub annotations: Option<PathBuf>,
    /// TOML file overriding preset values (any key of the printed config, e.g. `lr = 2e-5`,
    /// `[model] attn_window = 8`, `[loss] ukd_weight = 0.01`).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Output folder (checkpoints, history.jsonl, config.toml, model.json).
    #[arg(long)]
    pub out: PathBuf,
    /// Number of epochs.
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Random seed (init, shuffling, validation split, dropout).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Batch size (mixed: rows per step; paired: rows of each kind per step).
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// AdamW learning rate.
    #[arg(long)]
    pub lr: Option<f64>,
    /// Fraction of training videos held out for validation (by video, stratified).
    #[arg(long)]
    pub val_fraction: Option<f64>,
    /// Write a resumable checkpoint every N steps (0: only at epoch ends).
    #[arg(long)]
    pub save_every: Option<usize>,
    /// Require resuming from OUT/last.json (by default a run resumes automatically when it exists).
    #[arg(long, conflicts_with = "fresh")]
    pub resume: bool,
    /// Never resume; fail if OUT/last.json exists.
    #[arg(long)]
    pub fresh: bool,
    /// Select the best epoch on the TEST set (the official, optimistic protocol); needs --test-list and --annotations.
    #[arg(long)]
    pub select_on_test: bool,
    /// No model selection: the last epoch is the final model.
    #[arg(long, conflicts_with = "select_on_test")]
    pub select_last: bool,
    /// Official epoch loop: after an epoch that does not improve, continue from the best weights.
    #[arg(long)]
    pub reload_best: bool,
    /// CLIP text weights: a Hugging Face CLIP folder (model.safetensors) or OpenAI-named safetensors.
    /// Omit only with a `synth-*` preset, which uses a seeded random-weight text encoder.
    #[arg(long)]
    pub clip_model: Option<PathBuf>,
    /// Print the resolved configuration as TOML and exit.
    #[arg(long)]
    pub print_config: bool,
    /// Hide the progress bar.
    #[arg(long)]
    pub no_progress: bool,
    /// Debugging: save a checkpoint and stop after this many optimiser steps (exit code 3).
    #[arg(long, hide = true)]
    pub stop_after_steps: Option<u64>,
    /// Device (`--device cpu|cuda[:N]`); training runs in f32.
    #[command(flatten)]
    pub device: DeviceArgs,
}

impl TrainFlags {
    /// Flags as given on a command line that names only `--out`.
    pub fn new(out: PathBuf) -> Self {
        Self {
            test_list: None,
            features_dir: None,
            annotations: None,
            config: None,
            out,
            epochs: None,
            seed: None,
            batch_size: None,
            lr: None,
            val_fraction: None,
            save_every: None,
            resume: false,
            fresh: false,
            select_on_test: false,
            select_last: false,
            reload_best: false,
            clip_model: None,
            print_config: false,
            no_progress: false,
            stop_after_steps: None,
            device: DeviceArgs::default(),
        }
    }

    /// Resolves preset `preset` → `--config` TOML → flags.
    pub fn resolve_config(&self, preset: &str) -> anyhow::Result<TrainConfig> {
        let mut cfg = TrainConfig::preset(preset)?;
        if let Some(path) = &self.config {
            cfg = cfg.merge_toml_file(path)?;
        }
        if let Some(v) = self.epochs {
            cfg.epochs = v;
        }
        if let Some(v) = self.seed {
            cfg.seed = v;
        }
        if let Some(v) = self.batch_size {
            cfg.batch_size = v;
        }
        if let Some(v) = self.lr {
            cfg.lr = v;
        }
        if let Some(v) = self.val_fraction {
            cfg.val_fraction = v;
        }
        if let Some(v) = self.save_every {
            cfg.save_every_steps = v;
        }
        if self.select_on_test {
            cfg.selection = Selection::Test;
        }
        if self.select_last {
            cfg.selection = Selection::LastEpoch;
        }
        if self.reload_best {
            cfg.reload_best = true;
        }
        Ok(cfg)
    }

    /// With a random CLIP (no `--clip-model`), sizes the model to features `width` wide.
    pub fn fit_random_clip(&self, cfg: &mut TrainConfig, width: usize) {
        if cfg.random_clip && self.clip_model.is_none() && width != cfg.model.visual_width {
            tracing::info!(
                "random CLIP: feature width {width} (preset {}), sizing the model to it",
                cfg.model.visual_width
            );
            cfg.set_feature_width(width);
        }
    }

    /// Where the CLIP text weights come from.
    pub fn clip_source(&self) -> ClipSource {
        match &self.clip_model {
            Some(p) => ClipSource::Pretrained(p.clone()),
            None => ClipSource::Random,
        }
    }

    /// The run options: output folder, resume mode, progress bar, stop step.
    pub fn train_options(&self) -> TrainOptions {
        let mut opts = TrainOptions::new(&self.out);
        opts.resume = if self.resume {
            ResumeMode::Require
        } else if self.fresh {
            ResumeMode::Never
        } else {
            ResumeMode::Auto
        };
        opts.stop_after_steps = self.stop_after_steps;
        opts.progress_bar = !self.no_progress;
        opts
    }

    /// The annotated test set for per-epoch test metrics (`--test-list` with `--annotations`), each video read with
    /// its audio features when `need_audio`.
    pub fn test_set(&self, cfg: &TrainConfig, need_audio: bool) -> anyhow::Result<Option<TestSet>> {
        match (&self.test_list, &self.annotations) {
            (Some(list), Some(ann)) => Ok(Some(load_test_set(
                list,
                self.features_dir.as_deref(),
                ann,
                cfg.frame_factor,
                need_audio,
                cfg.labels,
            )?)),
            (Some(_), None) => {
                tracing::warn!("--test-list without --annotations: no test metrics");
                Ok(None)
            }
            _ => Ok(None),
        }
    }
}

/// The summary of a finished run, said in words (`N epochs (S steps this run, resumed, best epoch E)`). A run
/// stopped by `--stop-after-steps` ends the process with exit code 3.
pub fn finished_run(
    result: avad_train::Result<TrainSummary>,
) -> anyhow::Result<(TrainSummary, String)> {
    match result {
        Ok(summary) => {
            let best = summary
                .progress
                .best_epoch
                .map(|e| format!(", best epoch {}", e + 1))
                .unwrap_or_default();
            let text = format!(
                "{} epochs ({} steps this run{}{})",
                summary.progress.history.len(),
                summary.steps_run,
                if summary.resumed { ", resumed" } else { "" },
                best
            );
            Ok((summary, text))
        }
        Err(TrainError::Stopped { steps }) => {
            eprintln!("stopped after {steps} steps as requested; rerun the same command to resume");
            std::process::exit(3);
        }
        Err(e) => Err(e.into()),
    }
}

/// Arguments of `avad train`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Training list CSV (`path,label` or `path,audio_path,label`).
    #[arg(long)]
    pub train_list: PathBuf,
    /// Preset: xd-teacher, xd-vadclip, cctv-teacher, ucf-vadclip, synth-teacher, synth-vadclip.
    #[arg(long, default_value = "xd-teacher")]
    pub preset: String,
    /// The flags shared with `avad distill`.
    #[command(flatten)]
    pub flags: TrainFlags,
}

impl Args {
    /// `avad train --train-list TRAIN_LIST --preset PRESET --out OUT`, every other flag at its default.
    pub fn new(train_list: PathBuf, preset: &str, out: PathBuf) -> Self {
        Self {
            train_list,
            preset: preset.into(),
            flags: TrainFlags::new(out),
        }
    }
}

/// Runs `avad train`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let flags = &args.flags;
    let mut cfg = flags.resolve_config(&args.preset)?;
    let entries = avad_core::lists::read_list(&args.train_list, flags.features_dir.as_deref())?;
    let (vw, aw) = probe_widths(&entries)
        .with_context(|| format!("reading features of {}", args.train_list.display()))?;
    flags.fit_random_clip(&mut cfg, vw);
    if flags.print_config {
        print!("{}", cfg.to_toml()?);
        return Ok(());
    }
    cfg.validate()?;
    if vw != cfg.model.visual_width {
        anyhow::bail!(
            "visual features are {vw} wide, the model expects {}",
            cfg.model.visual_width
        );
    }
    let audio_width = cfg.model.audio.as_ref().map(|a| a.input_width);
    if let (Some(need), Some(have)) = (audio_width, aw) {
        if need != have {
            anyhow::bail!("audio features are {have} wide, the model expects {need}");
        }
    }
    let data = load_training_set(
        &args.train_list,
        flags.features_dir.as_deref(),
        cfg.labels,
        cfg.model.visual_length,
        cfg.model.visual_width,
        audio_width,
        2 << 30,
    )?;
    let test = flags.test_set(&cfg, audio_width.is_some())?;
    let clip = flags.clip_source();
    let opts = flags.train_options();
    let trained = crate::with_train_backend!(flags.device, |B, device| Ok(train::<B>(
        &cfg,
        &clip,
        &data,
        test.as_ref(),
        &opts,
        &device
    )))?;
    let (summary, run) = finished_run(trained)?;
    println!("trained {run}: {}", summary.model_json.display());
    Ok(())
}
