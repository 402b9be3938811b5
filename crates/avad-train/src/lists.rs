//! Data from list CSVs and `.npy` features (via avad-core and avad-infer's feature reading): the training
//! [`Dataset`] (per-row `process_feat` to the model length, multi-hot labels from the label strings) and the
//! annotated test set.

use std::path::Path;
use std::sync::Arc;

use avad_core::features::process_feat;
use avad_core::lists::{read_list, ListEntry};
use avad_core::npy::read_npy;
use avad_infer::{read_features, read_video_features, read_videos};

use crate::config::LabelSet;
use crate::data::{Dataset, FeatureLoader, Row, Sample};
use crate::error::{Result, TrainError};
use crate::eval::{TestSet, TestVideo};
use crate::text::label_map;

/// Loads `.npy` visual (and audio) features of a row and applies `process_feat` to each (the official training
/// sampling of `src/utils/tools.py: process_feat`).
#[derive(Debug, Clone)]
pub struct NpyLoader {
    /// Model length T (256).
    pub visual_length: usize,
    /// Expected visual width.
    pub visual_width: usize,
    /// Expected audio width (audio models).
    pub audio_width: Option<usize>,
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

/// Loads an annotated test list for per-epoch frame-level metrics: full-length features of the first crop of
/// each video and frame ground truth built from `annotations` (avad-core, strict: list and annotations must agree).
pub fn load_test_set(
    list: &Path,
    features_dir: Option<&Path>,
    annotations: &Path,
    frame_factor: usize,
    need_audio: bool,
    labels: LabelSet,
) -> Result<TestSet> {
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
        .map(|((v, (vis, aud)), gt)| TestVideo {
            name: v.name,
            visual: vis.data,
            audio: aud.map(|a| a.data),
            frame_gt: gt.frame_labels.iter().map(|&x| x != 0).collect(),
        })
        .collect();
    Ok(TestSet { videos })
}
