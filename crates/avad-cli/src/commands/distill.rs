//! `avad distill`: train a visual-only (or audio-only) student with uncertainty-driven distillation (UKD) from a
//! frozen teacher checkpoint, and write a model bundle (teacher + student) for automatic modality fallback.

use std::path::PathBuf;

use anyhow::Context;
use avad_infer::{BundleSpec, Role, StudentInput};
use avad_train::distill::{distill_plain, DistillKind, PlainDistill};
use avad_train::lists::{load_training_set, probe_widths};
use avad_train::{distill, Teacher};

use super::train::{finished_run, TrainFlags};

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
    pub modality: Option<StudentInput>,
    /// Preset: xd-student, cctv-student or synth-student.
    #[arg(long, default_value = "xd-student")]
    pub preset: String,
    /// Weight of the UKD loss in the total (preset: 1e-8 XD, 1e-7 CCTV; 0 trains the student without UKD).
    #[arg(long)]
    pub ukd_weight: Option<f64>,
    /// Distillation: `ukd` (default: the official uncertainty-driven feature distillation only), `scores` (also
    /// match the teacher's snippet scores: BCE on the C branch, cross-entropy on the A branch) or `features` (also
    /// match the teacher's fused feature X_av by mean squared error). `scores` and `features` keep the UKD term
    /// at --ukd-weight (set it to 0 for the plain loss alone). See docs/training.md.
    #[arg(long, value_name = "ukd|scores|features", default_value = "ukd")]
    pub distill: DistillArg,
    /// Weight of the `scores` / `features` distillation term (default 1).
    #[arg(long, value_name = "W")]
    pub kd_weight: Option<f64>,
    /// Bundle file to write or update with the teacher and this student (default: OUT/bundle.json).
    #[arg(long)]
    pub bundle: Option<PathBuf>,
    /// The flags shared with `avad train`.
    #[command(flatten)]
    pub flags: TrainFlags,
}

/// `--distill`: which distillation.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum DistillArg {
    /// The official UKD term only.
    Ukd,
    /// UKD (at --ukd-weight) plus teacher-score distillation.
    Scores,
    /// UKD (at --ukd-weight) plus mean-squared feature distillation to X_av.
    Features,
}

/// Runs `avad distill`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let flags = &args.flags;
    let mut cfg = flags.resolve_config(&args.preset)?;
    if let Some(m) = args.modality {
        cfg.modality = m;
    }
    if let Some(w) = args.ukd_weight {
        cfg.loss.ukd_weight = w;
    }
    let plain = match args.distill {
        DistillArg::Ukd => {
            anyhow::ensure!(
                args.kd_weight.is_none(),
                "--kd-weight needs --distill scores or --distill features"
            );
            None
        }
        DistillArg::Scores | DistillArg::Features => Some(PlainDistill {
            kind: if args.distill == DistillArg::Scores {
                DistillKind::Scores
            } else {
                DistillKind::Features
            },
            weight: args.kd_weight.unwrap_or(1.0),
        }),
    };
    anyhow::ensure!(
        cfg.is_student(),
        "preset `{}` is not a student (no FE net): use xd-student, cctv-student or synth-student",
        cfg.preset
    );
    let entries = avad_core::lists::read_list(&args.train_list, flags.features_dir.as_deref())?;
    let (vw, aw) = probe_widths(&entries)
        .with_context(|| format!("reading features of {}", args.train_list.display()))?;
    let input_width = match cfg.modality {
        StudentInput::Visual => vw,
        StudentInput::Audio => aw.with_context(|| {
            format!(
                "--modality audio needs audio features: {} has no (existing) audio_path",
                args.train_list.display()
            )
        })?,
    };
    flags.fit_random_clip(&mut cfg, input_width);
    if flags.print_config {
        print!("{}", cfg.to_toml()?);
        return Ok(());
    }
    cfg.validate()?;
    let clip = flags.clip_source();
    let opts = flags.train_options();

    let result = crate::with_train_backend!(flags.device, |B, device| {
        type I = <B as burn::tensor::backend::AutodiffBackend>::InnerBackend;
        let teacher = Teacher::<I>::load(&args.teacher, &device)
            .with_context(|| format!("loading the teacher {}", args.teacher.display()))?;
        // The teacher reads the visual and (its) audio features; an audio student reads the audio ones.
        let audio_width = teacher.audio_width().or(match cfg.modality {
            StudentInput::Audio => aw,
            StudentInput::Visual => None,
        });
        let data = load_training_set(
            &args.train_list,
            flags.features_dir.as_deref(),
            cfg.labels,
            cfg.model.visual_length,
            vw,
            audio_width,
            2 << 30,
        )?;
        let audio_student = cfg.modality == StudentInput::Audio;
        let mut test = flags.test_set(&cfg, audio_student)?;
        if let (Some(t), true) = (test.as_mut(), audio_student) {
            // The audio student reads the audio features in its visual slot.
            for v in &mut t.videos {
                v.visual = v.audio.take().unwrap_or_default();
            }
        }
        let r = match plain {
            Some(p) => distill_plain::<B>(
                &cfg,
                p,
                &clip,
                &teacher,
                &data,
                test.as_ref(),
                &opts,
                &device,
            ),
            None => distill::<B>(&cfg, &clip, &teacher, &data, test.as_ref(), &opts, &device),
        };
        Ok::<_, anyhow::Error>((r, teacher.path))
    });
    let (trained, teacher_json) = result?;
    let (summary, run) = finished_run(trained)?;
    let role = match cfg.modality {
        StudentInput::Visual => Role::VisualStudent,
        StudentInput::Audio => Role::AudioStudent,
    };
    let bundle = args
        .bundle
        .clone()
        .unwrap_or_else(|| flags.out.join("bundle.json"));
    BundleSpec::update(&bundle, Some(&teacher_json), role, &summary.model_json)?;
    let extra = plain
        .map(|p| format!(", {} distillation weight {:e}", p.kind.as_str(), p.weight))
        .unwrap_or_default();
    println!(
        "distilled a {} student (UKD weight {:e}{extra}) for {run}: {}\nbundle (teacher + student): {}",
        cfg.modality.as_str(),
        cfg.loss.ukd_weight,
        summary.model_json.display(),
        bundle.display()
    );
    Ok(())
}
