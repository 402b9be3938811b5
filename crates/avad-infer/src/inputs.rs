//! What a model reads: which features go into its visual slot ([`StudentInput`]), the videos of a list and their
//! feature files ([`VideoInput`], [`read_videos`]), and the state of a video's audio ([`AudioStatus`], with the
//! silence rule [`is_silent`]).
//!
//! **Silence rule** ([`is_silent`]): audio features are silent when they are constant over time — the largest,
//! over the feature dimensions, of the per-dimension standard deviation over rows is below [`SILENCE_STD`]
//! (1e-6). Wav2CLIP standardises each log-mel spectrogram, so a silent (all-zero) track gives an all-zero
//! spectrogram for every snippet and therefore identical embedding rows. Features with fewer than 2 rows cannot
//! be judged and count as not silent.

use std::path::{Path, PathBuf};

use avad_core::features::Features;
use avad_core::lists::{read_list, unique_videos};
use avad_core::npy::read_npy;
use serde::{Deserialize, Serialize};

use crate::error::{InferError, Result};

/// Silence threshold on the largest per-dimension standard deviation over time (see the module docs).
pub const SILENCE_STD: f64 = 1e-6;

/// Which features a model reads in its visual slot: the training configuration's `modality` (`--modality` of
/// `avad distill`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StudentInput {
    /// The visual (CLIP) features, as every official model does; an audio model also reads the audio features
    /// in its audio slot.
    #[default]
    Visual,
    /// The audio (Wav2CLIP) features in the visual slot: avad's audio-only student (the paper's Table 6 "audio
    /// model"; the official code has none). Only for visual-only architectures (no audio path).
    Audio,
}

impl StudentInput {
    /// `visual` / `audio`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Visual => "visual",
            Self::Audio => "audio",
        }
    }
}

impl std::str::FromStr for StudentInput {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "visual" => Ok(Self::Visual),
            "audio" => Ok(Self::Audio),
            other => Err(format!("unknown modality `{other}` (visual or audio)")),
        }
    }
}

/// One video to score: name, feature files, label string.
#[derive(Debug, Clone)]
pub struct VideoInput {
    /// Video name (output file stem).
    pub name: String,
    /// Visual feature file.
    pub visual: PathBuf,
    /// Audio feature file, if the list has one.
    pub audio: Option<PathBuf>,
    /// The list's label string.
    pub label: String,
}

/// The videos of a test list (the first crop of each video, in list order).
pub fn read_videos(list: &Path, features_dir: Option<&Path>) -> Result<Vec<VideoInput>> {
    let entries = read_list(list, features_dir)?;
    let uniq = unique_videos(&entries);
    if uniq.len() < entries.len() {
        tracing::info!(
            "{}: {} rows, scoring the first crop of each of {} videos",
            list.display(),
            entries.len(),
            uniq.len()
        );
    }
    Ok(uniq
        .into_iter()
        .map(|e| VideoInput {
            name: e.video.clone(),
            visual: e.path.clone(),
            audio: e.audio_path.clone(),
            label: e.label.clone(),
        })
        .collect())
}

/// Reads a `[T, D]` feature file, checking the width when one is given.
pub fn read_features(path: &Path, width: Option<usize>) -> Result<Features> {
    let a = read_npy(path)?;
    if a.shape.len() != 2 || a.rows() == 0 {
        return Err(InferError::Data(format!(
            "{}: shape {:?}, expected [T, D] with T ≥ 1",
            path.display(),
            a.shape
        )));
    }
    if let Some(w) = width {
        if a.cols() != w {
            return Err(InferError::Data(format!(
                "{}: width {}, expected {w}",
                path.display(),
                a.cols()
            )));
        }
    }
    Ok(Features::new(a.rows(), a.cols(), a.data))
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

/// The features of one video as read from the files its list entry names: full-length visual features, the audio
/// features when the file exists, and the audio's status.
#[derive(Debug, Clone)]
pub struct StoredFeatures {
    /// [T, D] visual features.
    pub visual: Features,
    /// [T, Da] audio features (when the file exists).
    pub audio: Option<Features>,
    /// Present, silent, missing or not listed.
    pub audio_status: AudioStatus,
}

/// Reads a video's features without failing on a missing audio file (see [`AudioStatus`]). Audio that exists
/// must have one row per visual snippet.
pub fn read_stored_features(v: &VideoInput) -> Result<StoredFeatures> {
    let visual = read_features(&v.visual, None)?;
    let (audio, audio_status) = match &v.audio {
        None => (None, AudioStatus::NotListed),
        Some(p) if !p.is_file() => (None, AudioStatus::Missing),
        Some(p) => {
            return StoredFeatures::from_features(&v.name, visual, Some(read_features(p, None)?))
        }
    };
    Ok(StoredFeatures {
        visual,
        audio,
        audio_status,
    })
}

impl StoredFeatures {
    /// The features of video `name` given in memory (the Python package's `Model.predict`), with the audio status
    /// [`read_stored_features`] gives an existing audio file: `Present`, or `Silent` by [`is_silent`]; no audio is
    /// `NotListed`. Audio must have one row per visual snippet (an error naming `name` otherwise).
    pub fn from_features(name: &str, visual: Features, audio: Option<Features>) -> Result<Self> {
        let audio_status = match &audio {
            None => AudioStatus::NotListed,
            Some(a) if a.rows != visual.rows => {
                return Err(InferError::Data(format!(
                    "{name}: audio has {} rows but visual has {} (one audio row per visual snippet is required)",
                    a.rows, visual.rows
                )))
            }
            Some(a) if is_silent(a) => AudioStatus::Silent,
            Some(_) => AudioStatus::Present,
        };
        Ok(Self {
            visual,
            audio,
            audio_status,
        })
    }
}

/// Reads a video's full-length features (no resampling) for a model that needs audio (`need_audio`) or not: unlike
/// [`read_stored_features`], a missing audio file is an error when the model needs audio.
pub fn read_video_features(
    v: &VideoInput,
    need_audio: bool,
) -> Result<(Features, Option<Features>)> {
    if !need_audio {
        return Ok((read_features(&v.visual, None)?, None));
    }
    let f = read_stored_features(v)?;
    match (f.audio_status, &v.audio) {
        (AudioStatus::NotListed, _) | (_, None) => Err(InferError::Data(format!(
            "{}: the list has no audio_path but the model needs audio",
            v.name
        ))),
        (AudioStatus::Missing, Some(p)) => Err(InferError::Data(format!(
            "{}: audio feature file {} is missing (the teacher needs audio; a model bundle with a visual student, \
             written by `avad distill`, scores such videos with the student)",
            v.name,
            p.display()
        ))),
        (AudioStatus::Present | AudioStatus::Silent, Some(_)) => Ok((f.visual, f.audio)),
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
    fn student_input_parses_and_prints() {
        assert_eq!(
            "audio".parse::<StudentInput>().unwrap(),
            StudentInput::Audio
        );
        assert!("both".parse::<StudentInput>().is_err());
        for s in [StudentInput::Visual, StudentInput::Audio] {
            assert_eq!(s.as_str().parse::<StudentInput>().unwrap(), s);
        }
    }
}
