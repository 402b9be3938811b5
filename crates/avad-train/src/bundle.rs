//! Model bundles and automatic modality fallback (spec §2.5, issue 6).
//!
//! The AVadCLIP teacher needs audio for every video; the distilled students do not. A **bundle** is a small JSON
//! file naming a teacher and its students, so that one `--model` argument scores every video with the best model
//! its inputs allow:
//!
//! ```json
//! {"format": "avad-bundle", "teacher": "teacher/model.json",
//!  "visual_student": "student/model.json", "audio_student": "audio-student/model.json"}
//! ```
//!
//! Paths are relative to the bundle file (absolute paths work too); every entry is optional, `format` too.
//! `avad distill` writes or updates one (`OUT/bundle.json` by default).
//!
//! **Per-video rule** ([`ModelBundle::choose`]):
//! 1. the teacher, when the bundle has one and the video's audio feature file exists and is not silent;
//! 2. else the visual student (or, for a single visual-only checkpoint, that model), with the reason: the list
//!    has no audio column, the audio file is missing, or the audio is silent;
//! 3. else (a teacher alone) a missing audio file is an error, as before bundles existed.
//!
//! The audio student is never picked automatically (every listed video has visual features); it scores a list
//! when it is given alone (`--model audio-student/model.json`).
//!
//! **Silence rule** ([`is_silent`]): audio features are silent when they are constant over time — the largest,
//! over the feature dimensions, of the per-dimension standard deviation over rows is below [`SILENCE_STD`]
//! (1e-6). Wav2CLIP standardises each log-mel spectrogram, so a silent (all-zero) track gives an all-zero
//! spectrogram for every snippet and therefore identical embedding rows. Features with fewer than 2 rows cannot
//! be judged and count as not silent.

use std::path::{Component, Path, PathBuf};

use avad_core::features::Features;
use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::checkpoint::Checkpoint;
use crate::config::Modality;
use crate::error::{Result, TrainError};
use crate::lists::{read_features, VideoInput};
use crate::predict::{Predictor, VideoScores};

/// Value of [`BundleSpec::format`].
pub const BUNDLE_FORMAT: &str = "avad-bundle";
/// Silence threshold on the largest per-dimension standard deviation over time (see the module docs).
pub const SILENCE_STD: f64 = 1e-6;

fn bundle_format() -> String {
    BUNDLE_FORMAT.into()
}

/// The JSON of a bundle file: paths of the member checkpoints, relative to the bundle file's folder.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundleSpec {
    /// Always [`BUNDLE_FORMAT`] (optional when reading).
    #[serde(default = "bundle_format")]
    pub format: String,
    /// The audio-visual teacher.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub teacher: Option<String>,
    /// The visual-only student (scores videos without usable audio).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visual_student: Option<String>,
    /// The audio-only student.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio_student: Option<String>,
}

impl BundleSpec {
    /// Reads and checks a bundle file.
    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| TrainError::io(path, e))?;
        let spec: Self = serde_json::from_str(&text)
            .map_err(|e| TrainError::ckpt(path, format!("not a model bundle: {e}")))?;
        if spec.format != BUNDLE_FORMAT {
            return Err(TrainError::ckpt(
                path,
                format!("format is `{}`, not `{BUNDLE_FORMAT}`", spec.format),
            ));
        }
        if spec.teacher.is_none() && spec.visual_student.is_none() && spec.audio_student.is_none() {
            return Err(TrainError::ckpt(path, "the bundle names no model"));
        }
        Ok(spec)
    }

    /// Writes the bundle atomically.
    pub fn write(&self, path: &Path) -> Result<()> {
        let text = serde_json::to_string_pretty(self)
            .map_err(|e| TrainError::ckpt(path, e.to_string()))?;
        Ok(avad_core::npy::write_atomic(path, text.as_bytes())?)
    }

    /// True when `path` is a JSON file that looks like a bundle (its `format` is [`BUNDLE_FORMAT`], or it has a
    /// member key and no checkpoint `model_config`).
    pub fn is_bundle_file(path: &Path) -> bool {
        if !path.is_file() {
            return false;
        }
        let Ok(text) = std::fs::read_to_string(path) else {
            return false;
        };
        let Ok(serde_json::Value::Object(m)) = serde_json::from_str::<serde_json::Value>(&text)
        else {
            return false;
        };
        m.get("format").and_then(|f| f.as_str()) == Some(BUNDLE_FORMAT)
            || (!m.contains_key("model_config")
                && ["teacher", "visual_student", "audio_student"]
                    .iter()
                    .any(|k| m.contains_key(*k)))
    }

    /// Creates or updates the bundle at `bundle`: sets the teacher (when given) and the member `role` to `model`
    /// (paths stored relative to the bundle's folder when possible), keeping the other entries.
    pub fn update(bundle: &Path, teacher: Option<&Path>, role: Role, model: &Path) -> Result<Self> {
        let mut spec = if bundle.is_file() {
            Self::read(bundle)?
        } else {
            Self {
                format: BUNDLE_FORMAT.into(),
                ..Self::default()
            }
        };
        let dir = bundle.parent().unwrap_or(Path::new("."));
        let rel = |p: &Path| relative_path(dir, p).to_string_lossy().into_owned();
        if let Some(t) = teacher {
            spec.teacher = Some(rel(t));
        }
        let m = Some(rel(model));
        match role {
            Role::Teacher => spec.teacher = m,
            Role::VisualStudent | Role::Visual => spec.visual_student = m,
            Role::AudioStudent => spec.audio_student = m,
        }
        spec.write(bundle)?;
        Ok(spec)
    }
}

/// `target` relative to the folder `base` (both made absolute first); `target` itself when that fails.
pub fn relative_path(base: &Path, target: &Path) -> PathBuf {
    let abs = |p: &Path| -> Option<PathBuf> {
        let p = if p.is_absolute() {
            p.to_path_buf()
        } else {
            std::env::current_dir().ok()?.join(p)
        };
        // Lexical normalisation (no symlink resolution): drop `.`, fold `..`.
        let mut out = PathBuf::new();
        for c in p.components() {
            match c {
                Component::CurDir => {}
                Component::ParentDir => {
                    out.pop();
                }
                c => out.push(c),
            }
        }
        Some(out)
    };
    let (Some(b), Some(t)) = (abs(base), abs(target)) else {
        return target.to_path_buf();
    };
    let bc: Vec<_> = b.components().collect();
    let tc: Vec<_> = t.components().collect();
    let common = bc.iter().zip(&tc).take_while(|(x, y)| x == y).count();
    if common == 0 {
        return t;
    }
    let mut rel = PathBuf::new();
    for _ in common..bc.len() {
        rel.push("..");
    }
    for c in &tc[common..] {
        rel.push(c);
    }
    rel
}

/// The role a model plays in a bundle; also the `model` column of `scored_by.csv`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The audio-visual teacher.
    Teacher,
    /// The visual student (FE net, visual features).
    VisualStudent,
    /// The audio student (FE net, audio features in the visual slot).
    AudioStudent,
    /// A visual-only model that is not a student (VadCLIP), given as a single checkpoint.
    Visual,
}

impl Role {
    /// `teacher`, `visual_student`, `audio_student` or `visual`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Teacher => "teacher",
            Self::VisualStudent => "visual_student",
            Self::AudioStudent => "audio_student",
            Self::Visual => "visual",
        }
    }
}

/// What the audio of one video looks like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AudioStatus {
    /// The audio feature file exists and is not silent.
    Present,
    /// The file exists but its features are constant over time ([`is_silent`]).
    Silent,
    /// The list names an audio file that does not exist.
    Missing,
    /// The list has no audio column.
    NotListed,
}

impl AudioStatus {
    /// Short text for logs and `scored_by.csv`.
    pub fn reason(self) -> &'static str {
        match self {
            Self::Present => "audio present",
            Self::Silent => "audio silent",
            Self::Missing => "audio file missing",
            Self::NotListed => "no audio in list",
        }
    }
}

/// The silence rule of the module docs: `rows ≥ 2` and `max_d std_t(x[t, d]) < SILENCE_STD`.
pub fn is_silent(f: &Features) -> bool {
    if f.rows < 2 || f.dim == 0 {
        return false;
    }
    let n = f.rows as f64;
    (0..f.dim).all(|d| {
        let mean = (0..f.rows)
            .map(|t| f64::from(f.data[t * f.dim + d]))
            .sum::<f64>()
            / n;
        let var = (0..f.rows)
            .map(|t| (f64::from(f.data[t * f.dim + d]) - mean).powi(2))
            .sum::<f64>()
            / n;
        var.sqrt() < SILENCE_STD
    })
}

/// One loaded member of a bundle.
#[derive(Debug)]
pub struct Member<B: Backend> {
    /// Its role.
    pub role: Role,
    /// The loaded model.
    pub predictor: Predictor<B>,
    /// The checkpoint JSON.
    pub path: PathBuf,
}

/// The inputs of one video as read for a bundle: full-length visual features, the audio features when the file
/// exists, and the audio's status.
#[derive(Debug, Clone)]
pub struct VideoFeatures {
    /// [T, D] visual features.
    pub visual: Features,
    /// [T, Da] audio features (when the file exists).
    pub audio: Option<Features>,
    /// Present, silent, missing or not listed.
    pub audio_status: AudioStatus,
}

/// Reads a video's features without failing on a missing audio file (see [`AudioStatus`]). Audio that exists
/// must have one row per visual snippet.
pub fn read_video_inputs(v: &VideoInput) -> Result<VideoFeatures> {
    let visual = read_features(&v.visual, None)?;
    let (audio, status) = match &v.audio {
        None => (None, AudioStatus::NotListed),
        Some(p) if !p.is_file() => (None, AudioStatus::Missing),
        Some(p) => {
            let a = read_features(p, None)?;
            if a.rows != visual.rows {
                return Err(TrainError::Data(format!(
                    "{}: audio has {} rows but visual has {} (one audio row per visual snippet is required)",
                    v.name, a.rows, visual.rows
                )));
            }
            let s = if is_silent(&a) {
                AudioStatus::Silent
            } else {
                AudioStatus::Present
            };
            (Some(a), s)
        }
    };
    Ok(VideoFeatures {
        visual,
        audio,
        audio_status: status,
    })
}

/// A teacher and its students (or a single checkpoint), choosing the model per video.
#[derive(Debug)]
pub struct ModelBundle<B: Backend> {
    /// The loaded models (at most one per role).
    pub members: Vec<Member<B>>,
    /// True when loaded from a bundle file (false: a single checkpoint).
    pub is_bundle: bool,
}

/// Which member scored a video, and why.
#[derive(Debug, Clone)]
pub struct BundleScores {
    /// The scores.
    pub scores: VideoScores,
    /// The member's role.
    pub role: Role,
    /// Why it was chosen (e.g. `audio present`, `audio file missing`).
    pub reason: String,
}

/// The role of a single checkpoint, from its architecture and training configuration.
fn role_of(ck: &Checkpoint) -> Role {
    let m = &ck.meta.model_config;
    let modality = ck.meta.train_config.as_ref().map(|c| c.modality);
    if m.audio.is_some() {
        Role::Teacher
    } else if modality == Some(Modality::Audio) {
        Role::AudioStudent
    } else if m.fe_net {
        Role::VisualStudent
    } else {
        Role::Visual
    }
}

impl<B: Backend> ModelBundle<B> {
    /// Loads a bundle file, or a single checkpoint (JSON file or training folder) as a one-member bundle.
    pub fn load(path: &Path, device: &B::Device) -> Result<Self> {
        if BundleSpec::is_bundle_file(path) {
            let spec = BundleSpec::read(path)?;
            let dir = path.parent().unwrap_or(Path::new("."));
            let mut members = Vec::new();
            for (want, rel) in [
                (Role::Teacher, &spec.teacher),
                (Role::VisualStudent, &spec.visual_student),
                (Role::AudioStudent, &spec.audio_student),
            ] {
                let Some(rel) = rel else { continue };
                let p = dir.join(rel);
                let ck = Checkpoint::open(&p)
                    .map_err(|e| TrainError::ckpt(path, format!("{}: {e}", want.as_str())))?;
                let got = role_of(&ck);
                let ok = match want {
                    Role::Teacher => got == Role::Teacher,
                    Role::VisualStudent => matches!(got, Role::VisualStudent | Role::Visual),
                    Role::AudioStudent => got == Role::AudioStudent,
                    Role::Visual => false,
                };
                if !ok {
                    return Err(TrainError::ckpt(
                        path,
                        format!(
                            "{} is listed as {} but is a {} model",
                            ck.path.display(),
                            want.as_str(),
                            got.as_str()
                        ),
                    ));
                }
                members.push(Member {
                    role: want,
                    predictor: Predictor::from_checkpoint(&ck.path, device)?,
                    path: ck.path,
                });
            }
            let b = Self {
                members,
                is_bundle: true,
            };
            b.check_classes(path)?;
            Ok(b)
        } else {
            let ck = Checkpoint::open(path)?;
            Ok(Self {
                members: vec![Member {
                    role: role_of(&ck),
                    predictor: Predictor::from_checkpoint(&ck.path, device)?,
                    path: ck.path,
                }],
                is_bundle: false,
            })
        }
    }

    fn check_classes(&self, path: &Path) -> Result<()> {
        if let Some(first) = self.members.first() {
            for m in &self.members[1..] {
                if m.predictor.class_names != first.predictor.class_names {
                    return Err(TrainError::ckpt(
                        path,
                        format!(
                            "{} and {} have different classes",
                            first.role.as_str(),
                            m.role.as_str()
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    /// The member with `role`.
    pub fn member(&self, role: Role) -> Option<&Member<B>> {
        self.members.iter().find(|m| m.role == role)
    }

    /// Class names (shared by every member).
    pub fn class_names(&self) -> &[String] {
        self.members
            .first()
            .map(|m| m.predictor.class_names.as_slice())
            .unwrap_or(&[])
    }

    /// The member that scores a video whose audio is `audio` (the rule of the module docs), with the reason.
    pub fn choose(&self, audio: AudioStatus) -> Result<(&Member<B>, String)> {
        let teacher = self.member(Role::Teacher);
        let visual = self
            .member(Role::VisualStudent)
            .or_else(|| self.member(Role::Visual));
        if let Some(t) = teacher {
            if audio == AudioStatus::Present {
                return Ok((t, audio.reason().into()));
            }
        }
        if let Some(v) = visual {
            let reason = if teacher.is_some() || self.is_bundle {
                audio.reason()
            } else {
                "visual-only model"
            };
            return Ok((v, reason.into()));
        }
        if let Some(t) = teacher {
            return match audio {
                AudioStatus::Silent => Ok((t, "audio silent (no visual student)".into())),
                AudioStatus::Missing | AudioStatus::NotListed => Err(TrainError::Data(format!(
                    "{} and the teacher needs audio: give a model bundle with a visual student (`avad distill`) \
                     to score such videos",
                    audio.reason()
                ))),
                AudioStatus::Present => unreachable!("handled above"),
            };
        }
        if let Some(a) = self.member(Role::AudioStudent) {
            return match audio {
                AudioStatus::Present | AudioStatus::Silent => Ok((a, "audio-only model".into())),
                _ => Err(TrainError::Data(format!(
                    "{}: the audio student needs the audio features",
                    audio.reason()
                ))),
            };
        }
        Err(TrainError::Data("the bundle has no model".into()))
    }

    /// Scores one video (features from [`read_video_inputs`]) with the member [`Self::choose`] picks.
    pub fn score(&self, f: &VideoFeatures) -> Result<BundleScores> {
        let (m, reason) = self.choose(f.audio_status)?;
        let audio = f.audio.as_ref().map(|a| a.data.as_slice());
        let scores = match m.role {
            Role::Teacher => m.predictor.predict(&f.visual.data, audio)?,
            Role::VisualStudent | Role::Visual => m.predictor.predict(&f.visual.data, None)?,
            Role::AudioStudent => m.predictor.predict(
                audio.ok_or_else(|| TrainError::Data("no audio features".into()))?,
                None,
            )?,
        };
        Ok(BundleScores {
            scores,
            role: m.role,
            reason,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feats(rows: usize, dim: usize, f: impl Fn(usize, usize) -> f32) -> Features {
        let data = (0..rows * dim).map(|i| f(i / dim, i % dim)).collect();
        Features::new(rows, dim, data)
    }

    #[test]
    fn silence_rule() {
        // Identical rows (what Wav2CLIP gives for an all-zero track) are silent, whatever their value.
        assert!(is_silent(&feats(10, 4, |_, d| 0.3 * d as f32 - 1.0)));
        assert!(is_silent(&feats(10, 4, |_, _| 0.0)));
        // One dimension moving by 1e-3 over time is enough to count as sound.
        assert!(!is_silent(&feats(10, 4, |t, d| if d == 2 {
            1e-3 * t as f32
        } else {
            0.5
        })));
        // Float noise far below the threshold is still silence.
        assert!(is_silent(
            &feats(10, 4, |t, _| 1.0 + if t % 2 == 0 { 1e-8 } else { 0.0 })
        ));
        // A single row cannot be judged.
        assert!(!is_silent(&feats(1, 4, |_, _| 0.0)));
    }

    #[test]
    fn relative_paths() {
        assert_eq!(
            relative_path(Path::new("/a/b"), Path::new("/a/b/c/model.json")),
            PathBuf::from("c/model.json")
        );
        assert_eq!(
            relative_path(Path::new("/a/b/s"), Path::new("/a/b/t/model.json")),
            PathBuf::from("../t/model.json")
        );
        assert_eq!(
            relative_path(Path::new("/a/./b"), Path::new("/a/b/../b/m.json")),
            PathBuf::from("m.json")
        );
    }

    #[test]
    fn bundle_json_round_trip_and_detection() {
        let dir = tempfile::tempdir().unwrap();
        let b = dir.path().join("runs/bundle.json");
        std::fs::create_dir_all(b.parent().unwrap()).unwrap();
        let spec = BundleSpec::update(
            &b,
            Some(&dir.path().join("runs/teacher/model.json")),
            Role::VisualStudent,
            &dir.path().join("runs/student/model.json"),
        )
        .unwrap();
        assert_eq!(spec.teacher.as_deref(), Some("teacher/model.json"));
        assert_eq!(spec.visual_student.as_deref(), Some("student/model.json"));
        // A second distillation adds its student and keeps the others.
        let spec = BundleSpec::update(
            &b,
            None,
            Role::AudioStudent,
            &dir.path().join("a/model.json"),
        )
        .unwrap();
        assert_eq!(spec.audio_student.as_deref(), Some("../a/model.json"));
        assert_eq!(BundleSpec::read(&b).unwrap(), spec);
        assert!(BundleSpec::is_bundle_file(&b));
        // Minimal hand-written bundle: no format key.
        let h = dir.path().join("h.json");
        std::fs::write(&h, r#"{"teacher": "t/model.json"}"#).unwrap();
        assert!(BundleSpec::is_bundle_file(&h));
        assert_eq!(BundleSpec::read(&h).unwrap().format, BUNDLE_FORMAT);
        // A checkpoint JSON is not a bundle; an empty bundle is refused.
        let c = dir.path().join("c.json");
        std::fs::write(&c, r#"{"format": "avad-checkpoint", "model_config": {}}"#).unwrap();
        assert!(!BundleSpec::is_bundle_file(&c));
        std::fs::write(&h, r#"{"format": "avad-bundle"}"#).unwrap();
        assert!(BundleSpec::read(&h).is_err());
        std::fs::write(&h, r#"{"teacher": "t", "student": "s"}"#).unwrap();
        assert!(BundleSpec::read(&h).is_err(), "unknown key");
    }
}
