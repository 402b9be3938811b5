//! Uncertainty-driven knowledge distillation (UKD, the paper's uncertainty-driven feature distillation; AVadCLIP
//! `src/xd_train_s.py`, `src/model_s.py`): a student (the VadCLIP-XD temporal model plus the FE net,
//! `ModelConfig::avadclip_student_xd`) is trained with the task losses plus
//! `ukd_weight · mean((X_av − μ)² / (1e-6 + 2·e^θ) + θ)`, where X_av is the fused feature of a **frozen**
//! [`Teacher`] computed on the same batch without gradient.
//!
//! Two students:
//! * **visual** (`modality = visual`): the official `AVADCLIP_MODEL` (`src/model_s.py`), fed the visual features.
//! * **audio** (`modality = audio`): avad's reading of the paper's Table 6 "audio model" (the official code has
//!   none): the same architecture fed the audio (Wav2CLIP) features in the visual slot, distilled to the same X_av.
//!
//! The weight is `cfg.loss.ukd_weight`: the official 1e-8 (XD) / 1e-7 (CCTV) in the `xd-student` /
//! `cctv-student` presets. With weight 0 the teacher is not run and the student trains on the task losses alone
//! (the "without UKD" rows of Table 6).
//!
//! [`distill_plain`] adds a plain alternative (not in the paper or the official code): distillation of the
//! teacher's snippet scores or of its fused feature by a fixed loss ([`PlainDistill`], module `kd`), optionally
//! on top of UKD. `avad distill --distill scores|features` selects it; UKD alone stays the default. Both run the
//! trainer's loop ([`crate::train`]); only the step's loss differs.

pub use crate::kd::{DistillKind, PlainDistill};

use avad_infer::StudentInput;
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;

use crate::build::ClipSource;
use crate::config::TrainConfig;
use crate::data::Dataset;
use crate::error::{Result, TrainError};
use crate::eval::TestSet;
use crate::step::Distillation;
use crate::teacher::Teacher;
use crate::text::class_names;
use crate::trainer::{train_with_teacher, TrainOptions, TrainSummary};

/// Checks that `cfg` (a student) can be distilled from `teacher` on `data`.
pub fn check_compatible<B: Backend>(
    cfg: &TrainConfig,
    teacher: &Teacher<B>,
    data: &Dataset,
) -> Result<()> {
    let bad = |m: String| Err(TrainError::Config(m));
    if !cfg.is_student() {
        return bad(format!(
            "preset `{}` is not a student (no FE net): distil with a `*-student` preset",
            cfg.preset
        ));
    }
    let t = &teacher.config;
    if t.visual_length != cfg.model.visual_length {
        return bad(format!(
            "the teacher was trained with visual_length {} but the student uses {}: set [model] visual_length = {} \
             (e.g. the same --config as the teacher)",
            t.visual_length, cfg.model.visual_length, t.visual_length
        ));
    }
    if t.embed_dim != cfg.model.visual_width {
        return bad(format!(
            "the teacher's fused feature is {}-d but the student's is {}-d",
            t.embed_dim, cfg.model.visual_width
        ));
    }
    if teacher.class_names != class_names(cfg.labels) {
        return bad(format!(
            "the teacher's classes ({}) differ from the student's label map {:?}",
            teacher.class_names.join(", "),
            cfg.labels
        ));
    }
    if data.visual_width != t.visual_width {
        return bad(format!(
            "visual features are {}-d, the teacher expects {}",
            data.visual_width, t.visual_width
        ));
    }
    if let Some(ta) = teacher.audio_width() {
        if data.audio_width != Some(ta) {
            return bad(format!(
                "the teacher needs {ta}-d audio features, the data has {:?}",
                data.audio_width
            ));
        }
    }
    let input = match cfg.modality {
        StudentInput::Visual => Some(data.visual_width),
        StudentInput::Audio => data.audio_width,
    };
    if input != Some(cfg.model.visual_width) {
        return bad(format!(
            "the {} student reads {}-d features but its model is {}-d",
            cfg.modality.as_str(),
            input.map_or_else(|| "no".to_string(), |w| w.to_string()),
            cfg.model.visual_width
        ));
    }
    Ok(())
}

/// Trains the student `cfg` with UKD against the frozen `teacher` (see the module docs). `train_data` must hold
/// both the visual features and, for an audio-visual teacher or an audio student, the audio features; `test`'s
/// videos must hold the student's inputs (audio in the visual slot for an audio student). Checkpoints, resume and
/// model selection are those of [`crate::train`]; every checkpoint names the teacher in its `source`.
pub fn distill<B: AutodiffBackend>(
    cfg: &TrainConfig,
    clip: &ClipSource,
    teacher: &Teacher<B::InnerBackend>,
    train_data: &Dataset,
    test: Option<&TestSet>,
    opts: &TrainOptions,
    device: &B::Device,
) -> Result<TrainSummary> {
    let distill = Distillation {
        teacher,
        plain: None,
    };
    distill_with::<B>(cfg, clip, distill, train_data, test, opts, device)
}

/// [`distill`] with a plain distillation term (`plain`: the teacher's snippet scores or fused feature, see
/// [`PlainDistill`]) in the loss, in addition to the UKD term when `cfg.loss.ukd_weight > 0`. The teacher runs on
/// every step. Checkpoints, resume (give the same `plain` again: it is not part of the stored configuration) and
/// model selection are those of [`crate::train`].
#[allow(clippy::too_many_arguments)]
pub fn distill_plain<B: AutodiffBackend>(
    cfg: &TrainConfig,
    plain: PlainDistill,
    clip: &ClipSource,
    teacher: &Teacher<B::InnerBackend>,
    train_data: &Dataset,
    test: Option<&TestSet>,
    opts: &TrainOptions,
    device: &B::Device,
) -> Result<TrainSummary> {
    let distill = Distillation {
        teacher,
        plain: Some(plain),
    };
    distill_with::<B>(cfg, clip, distill, train_data, test, opts, device)
}

/// The run of [`distill`] and [`distill_plain`]: checks the student against the teacher and the data (and a plain
/// distillation's weight), then trains through the trainer's loop with `distill` in every step.
fn distill_with<B: AutodiffBackend>(
    cfg: &TrainConfig,
    clip: &ClipSource,
    distill: Distillation<'_, B::InnerBackend>,
    train_data: &Dataset,
    test: Option<&TestSet>,
    opts: &TrainOptions,
    device: &B::Device,
) -> Result<TrainSummary> {
    check_compatible(cfg, distill.teacher, train_data)?;
    if let Some(plain) = distill.plain {
        if !(plain.weight.is_finite() && plain.weight >= 0.0) {
            return Err(TrainError::Config(format!(
                "the distillation weight must be ≥ 0 (got {})",
                plain.weight
            )));
        }
    }
    train_with_teacher::<B>(cfg, clip, train_data, test, opts, device, Some(distill))
}
