//! Data from list CSVs and `.npy` features (via avad-core): the training [`Dataset`] (per-row `process_feat` to
//! the model length, multi-hot labels from the label strings), the annotated test set, and prediction inputs.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use avad_core::features::{process_feat, Features};
use avad_core::lists::{read_list, unique_videos, ListEntry};
use avad_core::npy::read_npy;

use crate::config::LabelSet;
use crate::data::{Dataset, FeatureLoader, Row, Sample};
use crate::error::{Result, TrainError};
use crate::text::label_map;

/// Loads `.npy` visual (and audio) features of a row and applies `process_feat` to each (spec §4 "Sampling").
#[derive(Debug, Clone)]
pub struct NpyLoader {
    /// Model length T (256).
    pub visual_length: usize,
    /// Expected visual width.
    pub visual_width: usize,
    /// Expected audio width (audio models).
    pub audio_width: Option<usize>,
}

/// Reads a `[T, D]` feature file, checking the width.
pub fn read_features(path: &Path, width: Option<usize>) -> Result<Features> {
    let a = read_npy(path)?;
    if a.shape.len() != 2 || a.rows() == 0 {
        return Err(TrainError::Data(format!(
            "{}: shape {:?}, expected [T, D] with T ≥ 1",
            path.display(),
            a.shape
        )));
    }
    if let Some(w) = width {
        if a.cols() != w {
            return Err(TrainError::Data(format!(
                "{}: width {}, expected {w}",
                path.display(),
                a.cols()
            )));
        }
    }
    Ok(Features::new(a.rows(), a.cols(), a.data))
}

impl FeatureLoader for NpyLoader {
    fn load(&self, row: &Row) -> Result<Sample> {
        let vp = row
            .visual_path
            .as_ref()
            .ok_or_else(|| TrainError::Data(format!("{}: no feature path", row.source)))?;
        let (v, length) = process_feat(
            &read_features(vp, Some(self.visual_width))?,
            self.visual_length,
        );
        let audio = match self.audio_width {
            None => None,
            Some(da) => {
                let ap = row.audio_path.as_ref().ok_or_else(|| {
                    TrainError::Data(format!(
                        "{}: the list has no audio_path column but the model needs audio",
                        row.source
                    ))
                })?;
                if !ap.is_file() {
                    return Err(TrainError::Data(format!(
                        "{}: audio feature file is missing",
                        ap.display()
                    )));
                }
                Some(
                    process_feat(&read_features(ap, Some(da))?, self.visual_length)
                        .0
                        .data,
                )
            }
        };
        Ok(Sample {
            visual: v.data,
            audio,
            length,
        })
    }
}

/// The width of the first visual and audio files of `entries` (to size a model with random CLIP weights).
pub fn probe_widths(entries: &[ListEntry]) -> Result<(usize, Option<usize>)> {
    let e = entries
        .first()
        .ok_or_else(|| TrainError::Data("the list is empty".into()))?;
    let v = read_npy(&e.path)?.cols();
    let a = match &e.audio_path {
        Some(p) if p.is_file() => Some(read_npy(p)?.cols()),
        _ => None,
    };
    Ok((v, a))
}

/// Loads a training list as a [`Dataset`]. Features are read through an [`NpyLoader`] when batches are drawn; with
/// `preload_limit_bytes` ≥ the processed size of the whole set they are read once up front instead.
pub fn load_training_set(
    list: &Path,
    features_dir: Option<&Path>,
    labels: LabelSet,
    visual_length: usize,
    visual_width: usize,
    audio_width: Option<usize>,
    preload_limit_bytes: usize,
) -> Result<Dataset> {
    let entries = read_list(list, features_dir)?;
    let map = label_map(labels);
    let rows: Vec<Row> = entries
        .iter()
        .map(|e| Row {
            video: e.video.clone(),
            source: e.path.display().to_string(),
            labels: map.multi_hot(&e.label),
            visual_path: Some(e.path.clone()),
            audio_path: e.audio_path.clone(),
            sample: None,
        })
        .collect();
    let loader = NpyLoader {
        visual_length,
        visual_width,
        audio_width,
    };
    let bytes = rows.len() * visual_length * (visual_width + audio_width.unwrap_or(0)) * 4;
    let rows = if bytes <= preload_limit_bytes {
        rows.into_iter()
            .map(|mut r| {
                r.sample = Some(Arc::new(loader.load(&r)?));
                Ok(r)
            })
            .collect::<Result<Vec<_>>>()?
    } else {
        rows
    };
    Dataset::new(
        rows,
        visual_length,
        visual_width,
        audio_width,
        map.names.len(),
        Some(Arc::new(loader)),
    )
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

/// Reads a video's full-length features (no resampling); audio must have the same number of rows.
pub fn read_video_features(
    v: &VideoInput,
    need_audio: bool,
) -> Result<(Features, Option<Features>)> {
    let vis = read_features(&v.visual, None)?;
    let aud = if need_audio {
        let p = v.audio.as_ref().ok_or_else(|| {
            TrainError::Data(format!(
                "{}: the list has no audio_path but the model needs audio",
                v.name
            ))
        })?;
        if !p.is_file() {
            return Err(TrainError::Data(format!(
                "{}: audio feature file {} is missing (the teacher needs audio; a model bundle with a visual student, \
                 written by `avad distill`, scores such videos with the student)",
                v.name,
                p.display()
            )));
        }
        let a = read_features(p, None)?;
        if a.rows != vis.rows {
            return Err(TrainError::Data(format!(
                "{}: audio has {} rows but visual has {} (one audio row per visual snippet is required)",
                v.name, a.rows, vis.rows
            )));
        }
        Some(a)
    } else {
        None
    };
    Ok((vis, aud))
}

/// Loads an annotated test list for per-epoch frame-level metrics: full-length features of the first crop of
/// each video and frame ground truth built from `annotations` (avad-core, strict: list and annotations must agree).
pub fn load_test_set(
    list: &Path,
    features_dir: Option<&Path>,
    annotations: &Path,
    frame_factor: usize,
    need_audio: bool,
    labels: LabelSet,
) -> Result<crate::trainer::TestSet> {
    use avad_core::ground_truth::{build_ground_truth, read_annotations, Strictness, VideoSpec};
    let inputs = read_videos(list, features_dir)?;
    let mut feats = Vec::with_capacity(inputs.len());
    let mut specs = Vec::with_capacity(inputs.len());
    for v in &inputs {
        let (vis, aud) = read_video_features(v, need_audio)?;
        specs.push(VideoSpec {
            video: v.name.clone(),
            label: v.label.clone(),
            snippets: vis.rows,
        });
        feats.push((vis, aud));
    }
    let ann = read_annotations(annotations)?;
    let (truths, warnings) = build_ground_truth(
        &specs,
        &ann,
        annotations,
        &label_map(labels),
        frame_factor,
        Strictness::Strict,
    )?;
    for w in warnings {
        tracing::warn!("{w}");
    }
    let videos = inputs
        .into_iter()
        .zip(feats)
        .zip(truths)
        .map(|((v, (vis, aud)), gt)| crate::eval::TestVideo {
            name: v.name,
            visual: vis.data,
            audio: aud.map(|a| a.data),
            frame_gt: gt.frame_labels.iter().map(|&x| x != 0).collect(),
        })
        .collect();
    Ok(crate::trainer::TestSet { videos })
}
