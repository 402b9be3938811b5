//! Model bundles and automatic modality fallback.
//!
//! The AVadCLIP teacher needs audio for every video; the students distilled from it do not (the paper's
//! uncertainty-driven feature distillation exists for inference without audio). A **bundle** is a small JSON
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
//! Whether a video's audio is present, silent or missing is decided by [`crate::inputs`] ([`AudioStatus`], with
//! its silence rule).

use std::path::{Component, Path, PathBuf};

use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::checkpoint::Checkpoint;
use crate::error::{InferError, Result};
use crate::inputs::{AudioStatus, StoredFeatures, StudentInput};
use crate::json::{parse_json, read_json_bytes, write_json};
use crate::online::{replay_live, LiveWindow};
use crate::predict::{ModelEngine, Predictor, VideoScores};

/// Value of [`BundleSpec::format`].
pub const BUNDLE_FORMAT: &str = "avad-bundle";

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
        let bytes = read_json_bytes(path)?;
        Self::parse(&bytes, path)
    }

    /// Parses and checks the bytes of a bundle file; `path` names it in errors (the entry point of
    /// [`BundleSpec::read`] and of the fuzz target `bundle_json`).
    pub fn parse(bytes: &[u8], path: &Path) -> Result<Self> {
        let spec: Self = parse_json(bytes, path, "not a model bundle")?;
        if spec.format != BUNDLE_FORMAT {
            return Err(InferError::ckpt(
                path,
                format!("format is `{}`, not `{BUNDLE_FORMAT}`", spec.format),
            ));
        }
        if spec.teacher.is_none() && spec.visual_student.is_none() && spec.audio_student.is_none() {
            return Err(InferError::ckpt(path, "the bundle names no model"));
        }
        Ok(spec)
    }

    /// Writes the bundle atomically.
    pub fn write(&self, path: &Path) -> Result<()> {
        write_json(path, self)
    }

    /// True when `path` is a JSON file that looks like a bundle (its `format` is [`BUNDLE_FORMAT`], or it has a
    /// member key and no checkpoint `model_config`).
    pub fn is_bundle_file(path: &Path) -> bool {
        if !path.is_file() {
            return false;
        }
        let Ok(bytes) = crate::json::read_json_bytes(path) else {
            return false;
        };
        Self::looks_like_bundle(&bytes)
    }

    /// [`BundleSpec::is_bundle_file`] on the file's bytes.
    pub fn looks_like_bundle(bytes: &[u8]) -> bool {
        let Ok(serde_json::Value::Object(m)) = serde_json::from_slice::<serde_json::Value>(bytes)
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

/// One loaded member of a bundle.
#[derive(Debug)]
pub struct BundleMember<B: Backend> {
    /// Its role.
    pub role: Role,
    /// The loaded model.
    pub predictor: Predictor<B>,
    /// The checkpoint JSON.
    pub path: PathBuf,
}

/// A teacher and its students (or a single checkpoint), choosing the model per video.
#[derive(Debug)]
pub struct ModelBundle<B: Backend> {
    /// The loaded models (at most one per role).
    pub members: Vec<BundleMember<B>>,
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
    if m.audio.is_some() {
        Role::Teacher
    } else if ck.meta.student_input() == StudentInput::Audio {
        Role::AudioStudent
    } else if m.fe_net {
        Role::VisualStudent
    } else {
        Role::Visual
    }
}

impl<B: Backend> ModelBundle<B> {
    /// Chooses the model engine of every member ([`Predictor::set_engine`]; members load with
    /// [`ModelEngine::Auto`]).
    pub fn set_engine(&mut self, engine: ModelEngine) -> Result<()> {
        for m in &mut self.members {
            m.predictor.set_engine(engine)?;
        }
        Ok(())
    }

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
                let ck: Checkpoint = Checkpoint::open(&p)
                    .map_err(|e| InferError::ckpt(path, format!("{}: {e}", want.as_str())))?;
                let got = role_of(&ck);
                let ok = match want {
                    Role::Teacher => got == Role::Teacher,
                    Role::VisualStudent => matches!(got, Role::VisualStudent | Role::Visual),
                    Role::AudioStudent => got == Role::AudioStudent,
                    Role::Visual => false,
                };
                if !ok {
                    return Err(InferError::ckpt(
                        path,
                        format!(
                            "{} is listed as {} but is a {} model",
                            ck.path.display(),
                            want.as_str(),
                            got.as_str()
                        ),
                    ));
                }
                members.push(BundleMember {
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
            let ck: Checkpoint = Checkpoint::open(path)?;
            Ok(Self {
                members: vec![BundleMember {
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
                    return Err(InferError::ckpt(
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
    pub fn member(&self, role: Role) -> Option<&BundleMember<B>> {
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
    pub fn choose(&self, audio: AudioStatus) -> Result<(&BundleMember<B>, String)> {
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
                AudioStatus::Missing | AudioStatus::NotListed => Err(InferError::Data(format!(
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
                _ => Err(InferError::Data(format!(
                    "{}: the audio student needs the audio features",
                    audio.reason()
                ))),
            };
        }
        Err(InferError::Data("the bundle has no model".into()))
    }

    /// Scores one video (features from [`crate::inputs::read_stored_features`]) with the member [`Self::choose`]
    /// picks.
    pub fn score(&self, f: &StoredFeatures) -> Result<BundleScores> {
        self.score_by(f, |p, v, a| p.predict(v, a))
    }

    /// Like [`ModelBundle::score`], with the live rule `rule` ([`crate::online`]) instead of the offline chunking:
    /// the scores `avad watch` would report for this video.
    pub fn score_live(&self, f: &StoredFeatures, rule: LiveWindow) -> Result<BundleScores> {
        self.score_by(f, |p, v, a| replay_live(p, rule, v, a))
    }

    /// Chooses the member for `f` and scores its inputs with `predict` (predictor, visual-slot, audio-slot).
    fn score_by(
        &self,
        f: &StoredFeatures,
        predict: impl Fn(&Predictor<B>, &[f32], Option<&[f32]>) -> Result<VideoScores>,
    ) -> Result<BundleScores> {
        let (m, reason) = self.choose(f.audio_status)?;
        let audio = f.audio.as_ref().map(|a| a.data.as_slice());
        let scores = match m.role {
            Role::Teacher => predict(&m.predictor, &f.visual.data, audio)?,
            Role::VisualStudent | Role::Visual => predict(&m.predictor, &f.visual.data, None)?,
            Role::AudioStudent => predict(
                &m.predictor,
                audio.ok_or_else(|| InferError::Data("no audio features".into()))?,
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
