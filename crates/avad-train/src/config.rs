//! Training configuration: the [`TrainConfig`] serde struct, the named presets (the official recipes of VadCLIP's
//! and AVadCLIP's `src/*_option.py` / `src/*_train*.py`, plus small synthetic-benchmark ones) and the layering
//! preset → TOML file → command-line flags.
//!
//! A TOML file overrides only the keys it names (tables are merged key by key into the preset), so
//! `[model]\nattn_window = 8` changes one value of the preset's model and keeps the rest.
//!
//! A configuration file is outside data: it may be at most [`MAX_CONFIG_BYTES`], and [`TrainConfig::validate`]
//! checks the sizes it declares against caps ([`MAX_BATCH_SIZE`], [`MAX_FRAME_FACTOR`], the model caps of
//! `avad_infer::checkpoint::limits`) before anything is built from it.

use std::path::Path;

use avad_infer::StudentInput;
use avad_model::{LossConfig, ModelConfig};
use serde::{Deserialize, Serialize};

use crate::error::{Result, TrainError};
use crate::optim::AdamWConfig;

/// How training batches are drawn from the training list (the official loaders of `src/xd_train.py` and
/// `src/ucf_train.py`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Batching {
    /// XD-Violence: one shuffled loader over all rows, normal and abnormal mixed, `batch_size` rows per step; the
    /// last, smaller batch is kept (PyTorch `DataLoader(shuffle=True)` without `drop_last`).
    Mixed,
    /// UCF-Crime: separate shuffled normal and anomaly loaders (`drop_last=True`), `batch_size` rows of each per
    /// step (normal first, then anomaly); an epoch ends when the shorter loader is exhausted.
    Paired,
}

/// Which data the per-epoch model selection ("best checkpoint") is judged on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Selection {
    /// A held-out split of the training list (by video, stratified normal/abnormal). The default.
    Validation,
    /// The test list with its annotations: the official code's (leaky) selection, for reproduction only.
    Test,
    /// No selection: the last epoch is the final model.
    LastEpoch,
}

/// Which label map names the classes (and so the text prompts).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LabelSet {
    /// XD-Violence, 7 classes (also used by CCTV-Fights in the official code).
    Xd,
    /// UCF-Crime, 14 classes.
    Ucf,
}

/// Every setting of a training run (serde; presets below; TOML and flags override).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// Name of the preset the run started from (informational).
    pub preset: String,
    /// Seed of model init, shuffling, the validation split and dropout.
    pub seed: u64,
    /// Number of epochs.
    pub epochs: usize,
    /// Batching scheme.
    pub batching: Batching,
    /// Rows per step (mixed), or rows of each kind per step (paired).
    pub batch_size: usize,
    /// AdamW learning rate.
    pub lr: f64,
    /// AdamW β₁.
    pub beta1: f64,
    /// AdamW β₂.
    pub beta2: f64,
    /// AdamW ε.
    pub eps: f64,
    /// AdamW decoupled weight decay.
    pub weight_decay: f64,
    /// MultiStepLR milestones (epoch indices at which the lr is multiplied by `gamma`).
    pub milestones: Vec<usize>,
    /// MultiStepLR factor.
    pub gamma: f64,
    /// Model selection rule.
    pub selection: Selection,
    /// Fraction of the training videos held out for validation (by video, stratified; 0 disables the split).
    pub val_fraction: f64,
    /// Official epoch loop: after each epoch reload the best checkpoint's weights (not the optimiser state).
    pub reload_best: bool,
    /// Write a resumable checkpoint every this many steps inside an epoch (0: only at epoch ends).
    pub save_every_steps: usize,
    /// Label map of the class names.
    pub labels: LabelSet,
    /// Frames per snippet when expanding snippet scores to frames for frame-level metrics (XD/UCF 16, CCTV 4).
    pub frame_factor: usize,
    /// Build a seeded random-weight CLIP text encoder of `model.clip_text`'s shape instead of loading real CLIP
    /// weights (synthetic demos and tests only; the text features then carry no language knowledge).
    pub random_clip: bool,
    /// Which features the model reads in its visual slot: `visual`, or `audio` for the audio-only student. The
    /// UKD weight of a student is `loss.ukd_weight`.
    #[serde(default)]
    pub modality: StudentInput,
    /// Model architecture.
    pub model: ModelConfig,
    /// Loss terms and weights.
    pub loss: LossConfig,
}

/// Largest TOML configuration file read.
pub const MAX_CONFIG_BYTES: usize = 1 << 20;
/// Largest `batch_size` (official: 96 / 128 rows).
pub const MAX_BATCH_SIZE: usize = 4096;
/// Largest `frame_factor` (frames per snippet: 16 or 4).
pub const MAX_FRAME_FACTOR: usize = 1024;

/// Names of the built-in presets, for help texts.
pub const PRESET_NAMES: &[&str] = &[
    "xd-teacher",
    "xd-vadclip",
    "cctv-teacher",
    "ucf-vadclip",
    "synth-teacher",
    "synth-vadclip",
    "xd-student",
    "cctv-student",
    "synth-student",
];

/// The official UKD loss weight on XD-Violence (`src/xd_train_s.py`: `loss4 * 1e-8`).
pub const UKD_WEIGHT_XD: f64 = 1e-8;
/// The official UKD loss weight on CCTV-Fights (`src/cctv_train_s.py`: `loss4 * 1e-7`).
pub const UKD_WEIGHT_CCTV: f64 = 1e-7;

impl TrainConfig {
    /// AVadCLIP teacher on XD-Violence (`WanshunSu/AVadCLIP: src/xd_option.py`, `src/xd_train_t.py`): seed 234,
    /// AdamW 1e-5, MultiStepLR [3,6,10] γ 0.1, 10 epochs, mixed batches of 96, 2 layers / window 4, focal CLASM.
    pub fn xd_teacher() -> Self {
        Self {
            preset: "xd-teacher".into(),
            seed: 234,
            epochs: 10,
            batching: Batching::Mixed,
            batch_size: 96,
            lr: 1e-5,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.01,
            milestones: vec![3, 6, 10],
            gamma: 0.1,
            selection: Selection::Validation,
            val_fraction: 0.1,
            reload_best: false,
            save_every_steps: 100,
            labels: LabelSet::Xd,
            frame_factor: 16,
            random_clip: false,
            modality: StudentInput::Visual,
            model: ModelConfig::avadclip_teacher_xd(),
            loss: LossConfig::avadclip_teacher(),
        }
    }

    /// VadCLIP on XD-Violence (`nwpu-zxr/VadCLIP: src/xd_option.py`, `src/xd_train.py`): as [`Self::xd_teacher`]
    /// but visual-only, 1 layer / window 64, plain CLASM.
    pub fn xd_vadclip() -> Self {
        Self {
            preset: "xd-vadclip".into(),
            model: ModelConfig::vadclip_xd(),
            loss: LossConfig::vadclip_xd(),
            ..Self::xd_teacher()
        }
    }

    /// AVadCLIP teacher on CCTV-Fights (`src/cctv_option.py`, `src/cctv_train_t.py`): seed 214, XD label map,
    /// ×4 frame expansion. The official loop `break`s after epoch 0 once AP improves, which it always does at
    /// epoch 0, so the preset trains **1 epoch**.
    pub fn cctv_teacher() -> Self {
        Self {
            preset: "cctv-teacher".into(),
            seed: 214,
            epochs: 1,
            frame_factor: 4,
            ..Self::xd_teacher()
        }
    }

    /// VadCLIP on UCF-Crime (`src/ucf_option.py`, `src/ucf_train.py`): AdamW 2e-5, MultiStepLR [4,8], 10 epochs,
    /// 64 normal + 64 anomaly rows per step, 2 layers / window 8, 14 classes, loss3 /13·0.1.
    pub fn ucf_vadclip() -> Self {
        Self {
            preset: "ucf-vadclip".into(),
            batching: Batching::Paired,
            batch_size: 64,
            lr: 2e-5,
            milestones: vec![4, 8],
            labels: LabelSet::Ucf,
            model: ModelConfig::vadclip_ucf(),
            loss: LossConfig::vadclip_ucf(),
            ..Self::xd_teacher()
        }
    }

    /// Small fast preset for the synthetic benchmark (not from the paper): the teacher architecture with a
    /// random-weight 1-layer CLIP text encoder, 5 epochs, batches of 16, lr 1e-4 (10× the official, because the
    /// run is short), milestones [4]. Feature width follows the synthetic data (set `model.visual_width`,
    /// `model.embed_dim` and `model.clip_text.hidden_size` together if it is not 512).
    pub fn synth_teacher() -> Self {
        let mut model = ModelConfig::avadclip_teacher_xd();
        model.clip_text.num_hidden_layers = 1;
        Self {
            preset: "synth-teacher".into(),
            epochs: 5,
            batch_size: 16,
            lr: 1e-4,
            milestones: vec![4],
            save_every_steps: 0,
            random_clip: true,
            model,
            ..Self::xd_teacher()
        }
    }

    /// [`Self::synth_teacher`]'s schedule with the VadCLIP-XD architecture (the visual-only baseline).
    pub fn synth_vadclip() -> Self {
        let mut model = ModelConfig::vadclip_xd();
        model.clip_text.num_hidden_layers = 1;
        Self {
            preset: "synth-vadclip".into(),
            model,
            loss: LossConfig::vadclip_xd(),
            ..Self::synth_teacher()
        }
    }

    /// AVadCLIP visual student on XD-Violence (`src/xd_train_s.py`, `src/model_s.py`): the teacher's recipe (seed
    /// 234, AdamW 1e-5, [3,6,10], 10 epochs, batches of 96, focal CLASM) with the VadCLIP-XD temporal model
    /// (1 layer, window 64) + FE net, distilled from a frozen teacher with UKD weight **1e-8** (the official
    /// value; see docs/training.md for a weight that transfers knowledge).
    pub fn xd_student() -> Self {
        Self {
            preset: "xd-student".into(),
            model: ModelConfig::avadclip_student_xd(),
            loss: LossConfig::avadclip_student(UKD_WEIGHT_XD),
            ..Self::xd_teacher()
        }
    }

    /// AVadCLIP visual student on CCTV-Fights (`src/cctv_train_s.py`): seed 214, XD label map, ×4 frames, UKD
    /// weight **1e-7**. Unlike the CCTV teacher the student script has no early `break`: 10 epochs.
    pub fn cctv_student() -> Self {
        Self {
            preset: "cctv-student".into(),
            seed: 214,
            frame_factor: 4,
            loss: LossConfig::avadclip_student(UKD_WEIGHT_CCTV),
            ..Self::xd_student()
        }
    }

    /// [`Self::synth_teacher`]'s schedule with the student architecture (VadCLIP-XD temporal model + FE net) and
    /// the random 1-layer CLIP, for distillation on the synthetic benchmark. UKD weight: the official XD 1e-8
    /// (override with `--ukd-weight`; docs/results.md compares weights).
    pub fn synth_student() -> Self {
        let mut model = ModelConfig::avadclip_student_xd();
        model.clip_text.num_hidden_layers = 1;
        Self {
            preset: "synth-student".into(),
            model,
            loss: LossConfig::avadclip_student(UKD_WEIGHT_XD),
            ..Self::synth_teacher()
        }
    }

    /// The AdamW hyperparameters of this run (all but the learning rate, which the schedule gives per epoch).
    pub fn adamw(&self) -> AdamWConfig {
        AdamWConfig {
            beta1: self.beta1,
            beta2: self.beta2,
            eps: self.eps,
            weight_decay: self.weight_decay,
        }
    }

    /// True for a student architecture (FE net: a log-variance head that UKD trains).
    pub fn is_student(&self) -> bool {
        self.model.fe_net
    }

    /// The preset called `name` (one of [`PRESET_NAMES`]).
    pub fn preset(name: &str) -> Result<Self> {
        Ok(match name {
            "xd-teacher" => Self::xd_teacher(),
            "xd-vadclip" => Self::xd_vadclip(),
            "cctv-teacher" => Self::cctv_teacher(),
            "ucf-vadclip" => Self::ucf_vadclip(),
            "synth-teacher" => Self::synth_teacher(),
            "synth-vadclip" => Self::synth_vadclip(),
            "xd-student" => Self::xd_student(),
            "cctv-student" => Self::cctv_student(),
            "synth-student" => Self::synth_student(),
            other => {
                return Err(TrainError::Config(format!(
                    "unknown preset `{other}` (known: {})",
                    PRESET_NAMES.join(", ")
                )))
            }
        })
    }

    /// Sets the feature width everywhere it must agree (visual, text embedding, CLIP text width and projection).
    /// Only meaningful with a random CLIP (real CLIP ViT-B/16 is 512).
    pub fn set_feature_width(&mut self, width: usize) {
        self.model.visual_width = width;
        self.model.embed_dim = width;
        avad_model::text_tower::set_text_width(&mut self.model.clip_text, width);
        if let Some(a) = self.model.audio.as_mut() {
            a.input_width = width;
            for c in a.channels.iter_mut() {
                *c = width;
            }
        }
    }

    /// Overrides the keys present in the TOML text `text` (deep merge of tables; `origin` names it in errors).
    pub fn merge_toml_str(self, text: &str, origin: &Path) -> Result<Self> {
        let bad = |msg: String| TrainError::ConfigFile {
            path: origin.to_path_buf(),
            msg,
        };
        let user: toml::Table = toml::from_str(text).map_err(|e| bad(e.to_string()))?;
        let base = toml::Table::try_from(&self)
            .map_err(|e| bad(format!("cannot serialise the preset: {e}")))?;
        let mut merged = base;
        merge_tables(&mut merged, user);
        // The old spelling `model.clip_text.width` sets the MLP to 4 × width while deserialising: check it first.
        let width = merged
            .get("model")
            .and_then(|m| m.get("clip_text"))
            .and_then(|c| c.get("width"))
            .and_then(toml::Value::as_integer);
        avad_infer::checkpoint::check_old_text_width(width.and_then(|w| u64::try_from(w).ok()))
            .map_err(bad)?;
        // `model.audio` is an Option: TOML has no null, so an absent table means "no audio path" (serde's struct
        // default would otherwise fill in the teacher's TCN).
        let has_audio = merged
            .get("model")
            .and_then(|m| m.as_table())
            .is_some_and(|m| m.contains_key("audio"));
        let mut cfg: TrainConfig = toml::Value::Table(merged)
            .try_into()
            .map_err(|e: toml::de::Error| bad(e.to_string()))?;
        if !has_audio {
            cfg.model.audio = None;
        }
        Ok(cfg)
    }

    /// Overrides the keys present in the TOML file at `path`.
    pub fn merge_toml_file(self, path: &Path) -> Result<Self> {
        let len = std::fs::metadata(path)
            .map_err(|e| TrainError::io(path, e))?
            .len();
        if len > MAX_CONFIG_BYTES as u64 {
            return Err(TrainError::ConfigFile {
                path: path.to_path_buf(),
                msg: format!("{len} bytes: larger than the cap of {MAX_CONFIG_BYTES} bytes"),
            });
        }
        let bytes = std::fs::read(path).map_err(|e| TrainError::io(path, e))?;
        self.merge_toml_bytes(&bytes, path)
    }

    /// Overrides the keys present in the TOML bytes read from `path` (which names the file in errors): the entry
    /// point of [`TrainConfig::merge_toml_file`] and of the fuzz target `train_toml`.
    pub fn merge_toml_bytes(self, bytes: &[u8], path: &Path) -> Result<Self> {
        let bad = |msg: String| TrainError::ConfigFile {
            path: path.to_path_buf(),
            msg,
        };
        if bytes.len() > MAX_CONFIG_BYTES {
            return Err(bad(format!(
                "{} bytes: larger than the cap of {MAX_CONFIG_BYTES} bytes",
                bytes.len()
            )));
        }
        let text = std::str::from_utf8(bytes).map_err(|e| bad(format!("not UTF-8 text ({e})")))?;
        self.merge_toml_str(text, path)
    }

    /// The configuration as TOML text (the format `--config` reads).
    pub fn to_toml(&self) -> Result<String> {
        toml::to_string_pretty(self)
            .map_err(|e| TrainError::Config(format!("cannot serialise config: {e}")))
    }

    /// Checks the values and the model configuration.
    pub fn validate(&self) -> Result<()> {
        let err = |m: String| Err(TrainError::Config(m));
        if self.epochs == 0 {
            return err("epochs must be ≥ 1".into());
        }
        if self.batch_size == 0 || self.batch_size > MAX_BATCH_SIZE {
            return err(format!(
                "batch_size {} must lie in 1..={MAX_BATCH_SIZE}",
                self.batch_size
            ));
        }
        if !(self.lr > 0.0 && self.lr.is_finite()) {
            return err(format!("lr {} must be positive", self.lr));
        }
        if !(0.0..1.0).contains(&self.beta1) || !(0.0..1.0).contains(&self.beta2) {
            return err(format!(
                "betas ({}, {}) must lie in [0, 1)",
                self.beta1, self.beta2
            ));
        }
        if self.eps.is_nan() || self.eps <= 0.0 || self.weight_decay < 0.0 {
            return err(format!(
                "eps {} must be > 0 and weight_decay {} ≥ 0",
                self.eps, self.weight_decay
            ));
        }
        if self.gamma.is_nan() || self.gamma <= 0.0 {
            return err(format!("gamma {} must be > 0", self.gamma));
        }
        if !(0.0..0.9).contains(&self.val_fraction) {
            return err(format!(
                "val_fraction {} must lie in [0, 0.9)",
                self.val_fraction
            ));
        }
        if self.selection == Selection::Validation && self.val_fraction == 0.0 {
            return err("selection = validation needs val_fraction > 0 (or use --select-on-test / last-epoch)".into());
        }
        if self.frame_factor == 0 || self.frame_factor > MAX_FRAME_FACTOR {
            return err(format!(
                "frame_factor {} must lie in 1..={MAX_FRAME_FACTOR}",
                self.frame_factor
            ));
        }
        let classes = match self.labels {
            LabelSet::Xd => 7,
            LabelSet::Ucf => 14,
        };
        if self.model.num_class != classes {
            return err(format!(
                "model.num_class = {} but the {:?} label map has {classes} classes",
                self.model.num_class, self.labels
            ));
        }
        if self.modality == StudentInput::Audio && self.model.audio.is_some() {
            return err("modality = audio feeds the audio features to the visual slot: it needs a visual-only model (no [model.audio])".into());
        }
        if !(self.loss.ukd_weight >= 0.0 && self.loss.ukd_weight.is_finite()) {
            return err(format!(
                "loss.ukd_weight {} must be ≥ 0",
                self.loss.ukd_weight
            ));
        }
        if self.loss.focal && !self.model.learnable_alpha {
            return err("loss.focal needs model.learnable_alpha".into());
        }
        avad_infer::checkpoint::check_model_config(&self.model).map_err(TrainError::Config)?;
        Ok(())
    }
}

/// Recursively merges `over` into `base`: tables merge key by key, every other value replaces.
fn merge_tables(base: &mut toml::Table, over: toml::Table) {
    for (k, v) in over {
        match (base.get_mut(&k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge_tables(b, o),
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_match_the_official_recipes() {
        let xd = TrainConfig::xd_teacher();
        assert_eq!(
            (xd.seed, xd.epochs, xd.batch_size, xd.lr),
            (234, 10, 96, 1e-5)
        );
        assert_eq!(xd.milestones, vec![3, 6, 10]);
        assert_eq!((xd.model.visual_layers, xd.model.attn_window), (2, 4));
        assert!(xd.loss.focal);
        let v = TrainConfig::xd_vadclip();
        assert_eq!((v.model.visual_layers, v.model.attn_window), (1, 64));
        assert!(!v.loss.focal && v.model.audio.is_none());
        let u = TrainConfig::ucf_vadclip();
        assert_eq!(
            (u.lr, u.batching, u.batch_size, u.model.num_class),
            (2e-5, Batching::Paired, 64, 14)
        );
        assert_eq!(u.milestones, vec![4, 8]);
        assert_eq!((u.model.visual_layers, u.model.attn_window), (2, 8));
        let c = TrainConfig::cctv_teacher();
        assert_eq!((c.seed, c.frame_factor, c.model.num_class), (214, 4, 7));
        for name in PRESET_NAMES {
            let p = TrainConfig::preset(name).unwrap();
            p.validate().unwrap();
            assert_eq!(p.preset, *name);
            assert_eq!(
                (p.beta1, p.beta2, p.eps, p.weight_decay, p.gamma),
                (0.9, 0.999, 1e-8, 0.01, 0.1)
            );
        }
        assert!(TrainConfig::preset("nope").is_err());
        let s = TrainConfig::xd_student();
        assert_eq!((s.seed, s.epochs, s.lr, s.batch_size), (234, 10, 1e-5, 96));
        assert_eq!((s.model.visual_layers, s.model.attn_window), (1, 64));
        assert!(s.model.fe_net && s.model.audio.is_none() && s.loss.focal && s.is_student());
        assert_eq!(s.loss.ukd_weight, 1e-8);
        let c = TrainConfig::cctv_student();
        assert_eq!((c.seed, c.epochs, c.frame_factor), (214, 10, 4));
        assert_eq!(c.loss.ukd_weight, 1e-7);
        let y = TrainConfig::synth_student();
        assert!(y.random_clip && y.model.fe_net && y.modality == StudentInput::Visual);
        assert_eq!((y.epochs, y.batch_size, y.lr), (5, 16, 1e-4));
    }

    #[test]
    fn modality_and_ukd_weight_override_and_validate() {
        let cfg = TrainConfig::synth_student()
            .merge_toml_str(
                "modality = \"audio\"\n[loss]\nukd_weight = 0.01\n",
                Path::new("s.toml"),
            )
            .unwrap();
        assert_eq!(
            (cfg.modality, cfg.loss.ukd_weight),
            (StudentInput::Audio, 0.01)
        );
        cfg.validate().unwrap();
        assert!(TrainConfig::synth_teacher()
            .merge_toml_str("modality = \"audio\"\n", Path::new("t.toml"))
            .unwrap()
            .validate()
            .is_err());
        // Configurations written before the field existed still load (visual).
        let mut old = toml::Table::try_from(TrainConfig::xd_vadclip()).unwrap();
        old.remove("modality");
        let back: TrainConfig = toml::Value::Table(old).try_into().unwrap();
        assert_eq!(back.modality, StudentInput::Visual);
    }

    #[test]
    fn toml_overrides_only_named_keys() {
        let text = "epochs = 3\nlr = 0.5\n[model]\nattn_window = 8\n[loss]\nfocal_gamma = 4.0\n";
        let cfg = TrainConfig::xd_teacher()
            .merge_toml_str(text, Path::new("t.toml"))
            .unwrap();
        assert_eq!(
            (
                cfg.epochs,
                cfg.lr,
                cfg.model.attn_window,
                cfg.loss.focal_gamma
            ),
            (3, 0.5, 8, 4.0)
        );
        assert_eq!(
            cfg.model.visual_layers, 2,
            "untouched model key keeps the preset value"
        );
        assert_eq!(cfg.batch_size, 96);
        assert!(cfg.model.audio.is_some());
        // Unknown keys are errors that name the file.
        let e = TrainConfig::xd_teacher()
            .merge_toml_str("epoch = 3\n", Path::new("bad.toml"))
            .unwrap_err();
        assert!(e.to_string().contains("bad.toml"), "{e}");
    }

    #[test]
    fn toml_round_trip() {
        for name in PRESET_NAMES {
            let p = TrainConfig::preset(name).unwrap();
            let text = p.to_toml().unwrap();
            let back = TrainConfig::xd_vadclip()
                .merge_toml_str(&text, Path::new("x"))
                .unwrap();
            // The VadCLIP base has no audio table; a teacher preset's TOML adds it back.
            assert_eq!(back, p, "{name}");
        }
    }
}
