//! `avad distill`: train a visual-only (or audio-only) student with uncertainty-driven distillation (UKD) from a
//! frozen teacher checkpoint, and write a model bundle (teacher + student) for automatic modality fallback.

use std::path::PathBuf;

use anyhow::Context;
use avad_train::bundle::{BundleSpec, Role};
use avad_train::lists::{load_test_set, load_training_set, probe_widths};
use avad_train::{distill, ClipSource, Modality, ResumeMode, Teacher, TrainOptions};

use super::train;
use crate::backend::DeviceArgs;

/// Arguments of `avad distill`.
///
/// The student is the VadCLIP-XD temporal model plus the feature-enhancement net (`*-student` presets); its loss is
/// the teacher's task losses plus `ukd_weight · mean((X_av − μ)²/(1e-6 + 2e^θ) + θ)` against the teacher's fused
/// feature X_av. Presets: xd-student (official weight 1e-8), cctv-student (1e-7), synth-student.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The frozen teacher: a checkpoint JSON (model.json) or its training folder.
    #[arg(long)]
    pub teacher: PathBuf,
    /// Training list CSV with audio (`path,audio_path,label`): the teacher reads both streams.
    #[arg(long)]
    pub train_list: PathBuf,
    /// Which features the student reads: `visual` (the official student) or `audio` (avad's audio-only student,
    /// the paper's Table 6 audio model). Default: the preset's (visual).
    #[arg(long, value_name = "visual|audio")]
    pub modality: Option<Modality>,
    /// Preset: xd-student, cctv-student or synth-student.
    #[arg(long, default_value = "xd-student")]
    pub preset: String,
    /// Weight of the UKD loss in the total (preset: 1e-8 XD, 1e-7 CCTV; 0 trains the student without UKD).
    #[arg(long)]
    pub ukd_weight: Option<f64>,
    /// Bundle file to write or update with the teacher and this student (default: OUT/bundle.json).
    #[arg(long)]
    pub bundle: Option<PathBuf>,
    /// Test list CSV, for per-epoch test metrics (with --annotations) and --select-on-test.
    #[arg(long)]
    pub test_list: Option<PathBuf>,
    /// Folder to find feature files in when the list's paths do not exist.
    #[arg(long)]
    pub features_dir: Option<PathBuf>,
    /// Test annotations, for frame-level test metrics.
    #[arg(long)]
    pub annotations: Option<PathBuf>,
    /// TOML file overriding preset values (e.g. `[loss] ukd_weight = 0.01`, `[model] visual_length = 64`).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Output folder (checkpoints, history.jsonl, config.toml, model.json, bundle.json).
    #[arg(long)]
    pub out: PathBuf,
    /// Number of epochs.
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Random seed (init, shuffling, validation split).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Batch size.
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
    /// Select the best epoch on the TEST set (the official, optimistic protocol).
    #[arg(long)]
    pub select_on_test: bool,
    /// No model selection: the last epoch is the final model.
    #[arg(long, conflicts_with = "select_on_test")]
    pub select_last: bool,
    /// Official epoch loop: after an epoch that does not improve, continue from the best weights.
    #[arg(long)]
    pub reload_best: bool,
    /// CLIP text weights for the student (omit with synth-student, which uses a seeded random text encoder).
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

/// Runs `avad distill`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let mut cfg = train::resolve_config(&train::Args {
        train_list: args.train_list.clone(),
        test_list: args.test_list.clone(),
        features_dir: args.features_dir.clone(),
        annotations: args.annotations.clone(),
        preset: args.preset.clone(),
        config: args.config.clone(),
        out: args.out.clone(),
        epochs: args.epochs,
        seed: args.seed,
        batch_size: args.batch_size,
        lr: args.lr,
        val_fraction: args.val_fraction,
        save_every: args.save_every,
        resume: args.resume,
        fresh: args.fresh,
        select_on_test: args.select_on_test,
        select_last: args.select_last,
        reload_best: args.reload_best,
        clip_model: args.clip_model.clone(),
        print_config: args.print_config,
        no_progress: args.no_progress,
        stop_after_steps: args.stop_after_steps,
        device: args.device.clone(),
    })?;
    if let Some(m) = args.modality {
        cfg.modality = m;
    }
    if let Some(w) = args.ukd_weight {
        cfg.loss.ukd_weight = w;
    }
    anyhow::ensure!(
        cfg.is_student(),
        "preset `{}` is not a student (no FE net): use xd-student, cctv-student or synth-student",
        cfg.preset
    );
    let entries = avad_core::lists::read_list(&args.train_list, args.features_dir.as_deref())?;
    let (vw, aw) = probe_widths(&entries)
        .with_context(|| format!("reading features of {}", args.train_list.display()))?;
    let input_width = match cfg.modality {
        Modality::Visual => vw,
        Modality::Audio => aw.with_context(|| {
            format!(
                "--modality audio needs audio features: {} has no (existing) audio_path",
                args.train_list.display()
            )
        })?,
    };
    if cfg.random_clip && args.clip_model.is_none() && input_width != cfg.model.visual_width {
        tracing::info!(
            "random CLIP: feature width {input_width} (preset {}), sizing the student to it",
            cfg.model.visual_width
        );
        cfg.set_feature_width(input_width);
    }
    if args.print_config {
        print!("{}", cfg.to_toml()?);
        return Ok(());
    }
    cfg.validate()?;
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

    let result = crate::with_train_backend!(args.device, |B, device| {
        type I = <B as burn::tensor::backend::AutodiffBackend>::InnerBackend;
        let teacher = Teacher::<I>::load(&args.teacher, &device)
            .with_context(|| format!("loading the teacher {}", args.teacher.display()))?;
        // The teacher reads the visual and (its) audio features; an audio student reads the audio ones.
        let audio_width = teacher.audio_width().or(match cfg.modality {
            Modality::Audio => aw,
            Modality::Visual => None,
        });
        let data = load_training_set(
            &args.train_list,
            args.features_dir.as_deref(),
            cfg.labels,
            cfg.model.visual_length,
            vw,
            audio_width,
            2 << 30,
        )?;
        let test = match (&args.test_list, &args.annotations) {
            (Some(list), Some(ann)) => {
                let mut t = load_test_set(
                    list,
                    args.features_dir.as_deref(),
                    ann,
                    cfg.frame_factor,
                    cfg.modality == Modality::Audio,
                    cfg.labels,
                )?;
                if cfg.modality == Modality::Audio {
                    for v in &mut t.videos {
                        v.visual = v.audio.take().unwrap_or_default();
                    }
                }
                Some(t)
            }
            (Some(_), None) => {
                tracing::warn!("--test-list without --annotations: no test metrics");
                None
            }
            _ => None,
        };
        let r = distill::<B>(&cfg, &clip, &teacher, &data, test.as_ref(), &opts, &device);
        Ok::<_, anyhow::Error>((r, teacher.path))
    });
    let (trained, teacher_json) = result?;
    match trained {
        Ok(summary) => {
            let role = match cfg.modality {
                Modality::Visual => Role::VisualStudent,
                Modality::Audio => Role::AudioStudent,
            };
            let bundle = args
                .bundle
                .clone()
                .unwrap_or_else(|| args.out.join("bundle.json"));
            BundleSpec::update(&bundle, Some(&teacher_json), role, &summary.model_json)?;
            let best = summary
                .progress
                .best_epoch
                .map(|e| format!(", best epoch {}", e + 1))
                .unwrap_or_default();
            println!(
                "distilled a {} student (UKD weight {:e}) for {} epochs ({} steps this run{}{}): {}\nbundle (teacher + student): {}",
                cfg.modality.as_str(),
                cfg.loss.ukd_weight,
                summary.progress.history.len(),
                summary.steps_run,
                if summary.resumed { ", resumed" } else { "" },
                best,
                summary.model_json.display(),
                bundle.display()
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
