//! `avad train`: train a VadCLIP / AVadCLIP model from list CSVs and `.npy` features (presets of spec §4).

use std::path::PathBuf;

use anyhow::Context;
use avad_train::lists::{load_training_set, probe_widths};
use avad_train::{train, ClipSource, ResumeMode, Selection, TrainConfig, TrainOptions};

use crate::backend::DeviceArgs;

/// Arguments of `avad train`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Training list CSV (`path,label` or `path,audio_path,label`).
    #[arg(long)]
    pub train_list: PathBuf,
    /// Test list CSV, for per-epoch test metrics (with --annotations) and --select-on-test.
    #[arg(long)]
    pub test_list: Option<PathBuf>,
    /// Folder to find feature files in when the list's paths do not exist.
    #[arg(long)]
    pub features_dir: Option<PathBuf>,
    /// Test annotations (`<video> s1 e1 …`, frames), for frame-level test metrics.
    #[arg(long)]
    pub annotations: Option<PathBuf>,
    /// Preset: xd-teacher, xd-vadclip, cctv-teacher, ucf-vadclip, synth-teacher, synth-vadclip.
    #[arg(long, default_value = "xd-teacher")]
    pub preset: String,
    /// TOML file overriding preset values (any key of the printed config, e.g. `lr = 2e-5`, `[model] attn_window = 8`).
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

/// Resolves preset → TOML → flags.
pub fn resolve_config(args: &Args) -> anyhow::Result<TrainConfig> {
    let mut cfg = TrainConfig::preset(&args.preset)?;
    if let Some(path) = &args.config {
        cfg = cfg.merge_toml_file(path)?;
    }
    if let Some(v) = args.epochs {
        cfg.epochs = v;
    }
    if let Some(v) = args.seed {
        cfg.seed = v;
    }
    if let Some(v) = args.batch_size {
        cfg.batch_size = v;
    }
    if let Some(v) = args.lr {
        cfg.lr = v;
    }
    if let Some(v) = args.val_fraction {
        cfg.val_fraction = v;
    }
    if let Some(v) = args.save_every {
        cfg.save_every_steps = v;
    }
    if args.select_on_test {
        cfg.selection = Selection::Test;
    }
    if args.select_last {
        cfg.selection = Selection::LastEpoch;
    }
    if args.reload_best {
        cfg.reload_best = true;
    }
    Ok(cfg)
}

/// Runs `avad train`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let mut cfg = resolve_config(&args)?;
    let entries = avad_core::lists::read_list(&args.train_list, args.features_dir.as_deref())?;
    let (vw, aw) = probe_widths(&entries)
        .with_context(|| format!("reading features of {}", args.train_list.display()))?;
    if cfg.random_clip && args.clip_model.is_none() && vw != cfg.model.visual_width {
        tracing::info!(
            "random CLIP: feature width {vw} (preset {}), sizing the model to it",
            cfg.model.visual_width
        );
        cfg.set_feature_width(vw);
    }
    if args.print_config {
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
        args.features_dir.as_deref(),
        cfg.labels,
        cfg.model.visual_length,
        cfg.model.visual_width,
        audio_width,
        2 << 30,
    )?;
    let test = match (&args.test_list, &args.annotations) {
        (Some(list), Some(ann)) => Some(avad_train::lists::load_test_set(
            list,
            args.features_dir.as_deref(),
            ann,
            cfg.frame_factor,
            audio_width.is_some(),
            cfg.labels,
        )?),
        (Some(_), None) => {
            tracing::warn!("--test-list without --annotations: no test metrics");
            None
        }
        _ => None,
    };
    let clip = match &args.clip_model {
        Some(p) => ClipSource::Pretrained(p.clone()),
        None => ClipSource::Random,
    };
    let mut opts = TrainOptions::new(&args.out);
    opts.resume = if args.resume {
        ResumeMode::Require
    } else if args.fresh {
        ResumeMode::Never
    } else {
        ResumeMode::Auto
    };
    opts.stop_after_steps = args.stop_after_steps;
    opts.progress_bar = !args.no_progress;
    let trained = crate::with_train_backend!(args.device, |B, device| Ok(train::<B>(
        &cfg,
        &clip,
        &data,
        test.as_ref(),
        &opts,
        &device
    )))?;
    match trained {
        Ok(summary) => {
            let best = summary
                .progress
                .best_epoch
                .map(|e| format!(", best epoch {}", e + 1))
                .unwrap_or_default();
            println!(
                "trained {} epochs ({} steps this run{}{}): {}",
                summary.progress.history.len(),
                summary.steps_run,
                if summary.resumed { ", resumed" } else { "" },
                best,
                summary.model_json.display()
            );
            Ok(())
        }
        Err(avad_train::TrainError::Stopped { steps }) => {
            eprintln!("stopped after {steps} steps as requested; rerun the same command to resume");
            std::process::exit(3);
        }
        Err(e) => Err(e.into()),
    }
}
