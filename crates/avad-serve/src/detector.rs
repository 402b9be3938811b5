//! What a worker runs on an uploaded video: [`Detector`], and [`PipelineDetector`], the detection `avad detect` runs
//! (avad-pipeline's `detect_with_model` with loaded encoders and model).

use std::path::Path;

use avad_infer::ModelBundle;
use avad_pipeline::{DetectReport, Encoders, FeatureOptions, ScoreOptions};
use burn::tensor::backend::Backend;

/// Turns one video file into a detection report.
pub trait Detector {
    /// Scores `video`; `progress` is called with the fraction done (0..1) as the work goes on.
    fn detect(&self, video: &Path, progress: &mut dyn FnMut(f64)) -> anyhow::Result<DetectReport>;
}

/// `avad detect` with models loaded once: the same encoders, model, feature options and scoring.
pub struct PipelineDetector<B: Backend> {
    encoders: Encoders<B>,
    model: ModelBundle<B>,
    options: FeatureOptions,
    scoring: ScoreOptions,
}

impl<B: Backend> PipelineDetector<B> {
    /// A detector from loaded encoders, a checkpoint or bundle, and the options `avad detect` would use.
    pub fn new(
        encoders: Encoders<B>,
        model: ModelBundle<B>,
        options: FeatureOptions,
        scoring: ScoreOptions,
    ) -> Self {
        Self {
            encoders,
            model,
            options,
            scoring,
        }
    }
}

/// About how many snippets `video` gives at `stride` (from the header; `None` when it does not say).
fn expected_snippets(video: &Path, stride: usize, max: Option<usize>) -> Option<f64> {
    let info = avad_media::probe(video).ok()?;
    let v = info.video?;
    let frames = match (v.header_frames, v.avg_fps, v.duration_s.or(info.duration_s)) {
        (Some(n), _, _) if n > 0 => n as f64,
        (_, Some(fps), Some(d)) => fps * d,
        _ => return None,
    };
    let n = (frames / stride.max(1) as f64).ceil().max(1.0);
    Some(max.map_or(n, |m| n.min(m as f64)))
}

impl<B: Backend> Detector for PipelineDetector<B> {
    fn detect(&self, video: &Path, progress: &mut dyn FnMut(f64)) -> anyhow::Result<DetectReport> {
        let expected = expected_snippets(video, self.options.stride, self.options.max_snippets);
        let mut on_snippet = |done: usize| {
            if let Some(n) = expected {
                progress((done as f64 / n).min(0.99));
            }
        };
        Ok(avad_pipeline::detect::detect_with_model(
            &self.encoders,
            &self.model,
            video,
            &self.options,
            &self.scoring,
            &mut on_snippet,
        )?)
    }
}
