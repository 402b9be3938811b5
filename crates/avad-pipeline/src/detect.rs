//! `avad detect` as a library: one video → features → a trained model → per-snippet scores and events.
//!
//! - `anomaly_score` is the C-branch probability `sigmoid(logits1)` (the score VadCLIP/AVadCLIP evaluate AP on);
//!   class probabilities are the A-branch `softmax(logits2)` (column 0 = normal); `top_class` is their argmax.
//! - Events are maximal runs of consecutive snippets with `anomaly_score >= threshold`; an event's class is the most
//!   frequent argmax over the abnormal classes (columns 1..) of its snippets (ties: lower column), its peak is its
//!   highest-scoring snippet.
//! - A model that needs audio on a video without audio gets all-zero audio features (`audio_features: "zeros"`).
//! - Teacher with adaptive fusion (`X_av = v + W ⊙ R`): `audio_gate` = mean of the gate W over D and `audio_share` =
//!   `‖W ⊙ R‖ / (‖v‖ + ‖W ⊙ R‖)` per snippet (see `avad_infer::VideoScores`); `None` (JSON `null`, empty CSV cell)
//!   for models without a gate.

use std::path::Path;
use std::time::Instant;

use avad_core::features::Features;
use avad_infer::{
    is_silent, replay_live, AudioStatus, LiveWindow, ModelBundle, Predictor, VideoScores,
};
use avad_media::AudioState;
use burn::prelude::*;
use serde::Serialize;

use crate::error::{PipelineError, Result};
use crate::features::{extract_video, Encoders, ExtractedVideo, FeatureOptions, StageTimes};

/// One snippet's row of the report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SnippetRow {
    /// Snippet index.
    pub index: usize,
    /// Start, seconds.
    pub start_s: f64,
    /// End, seconds.
    pub end_s: f64,
    /// C-branch anomaly probability.
    pub anomaly_score: f32,
    /// Argmax of `probs`.
    pub top_class: String,
    /// A-branch class probabilities, in `class_names` order.
    pub probs: Vec<f32>,
    /// `present`, `silent` or `none`.
    pub audio: String,
    /// Mean over D of the adaptive fusion gate W (0..1): how far the fusion lets through the residual R (computed from
    /// [v, a]) at this snippet. `None` for models without a gate (student, VadCLIP, ablation fusions).
    pub audio_gate: Option<f32>,
    /// Audio contribution share `‖W ⊙ R‖ / (‖v‖ + ‖W ⊙ R‖)` (0..1): the size of the term fusion adds relative to
    /// the visual feature v. `None` exactly when `audio_gate` is.
    pub audio_share: Option<f32>,
}

/// A detected event: consecutive snippets above the threshold.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    /// First snippet.
    pub first: usize,
    /// Last snippet (inclusive).
    pub last: usize,
    /// Start of the first snippet, seconds.
    pub start_s: f64,
    /// End of the last snippet, seconds.
    pub end_s: f64,
    /// Majority abnormal class.
    pub class: String,
    /// Highest anomaly score in the event.
    pub peak_score: f32,
    /// Snippet of the peak.
    pub peak_index: usize,
}

/// The whole result for one video.
#[derive(Debug, Clone, Serialize)]
pub struct DetectReport {
    /// The video file.
    pub video: String,
    /// `teacher` (audio-visual), `student` (visual, FE net) or `vadclip` (visual).
    pub model: String,
    /// Audio state of the file.
    pub audio: String,
    /// `wav2clip`, `zeros` (model needs audio, file has none) or `unused` (visual model).
    pub audio_features: String,
    /// Threshold used for events.
    pub threshold: f32,
    /// Class names (column order of `probs`, index 0 = normal).
    pub class_names: Vec<String>,
    /// One row per snippet.
    pub snippets: Vec<SnippetRow>,
    /// Detected events.
    pub events: Vec<Event>,
    /// Snippet thumbnails (PNG-encodable), not serialised.
    #[serde(skip)]
    pub thumbnails: Vec<image::RgbImage>,
    /// Where the time went (logged by the CLI; not serialised, so reports of the same video compare equal).
    #[serde(skip)]
    pub timing: StageTimes,
}

/// Which model a predictor holds: `teacher`, `student` or `vadclip`.
pub fn model_kind<B: Backend>(p: &Predictor<B>) -> &'static str {
    if p.needs_audio() {
        "teacher"
    } else if p.model.fe_net.is_some() {
        "student"
    } else {
        "vadclip"
    }
}

/// How the features of a video become scores and events.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScoreOptions {
    /// Anomaly-score threshold for events.
    pub threshold: f32,
    /// `None`: the offline chunking ([`Predictor::predict`]); `Some`: the live rule of `avad watch`
    /// ([`avad_infer::online`]).
    pub live: Option<LiveWindow>,
}

impl ScoreOptions {
    /// Offline scoring with events at `threshold`.
    pub fn offline(threshold: f32) -> Self {
        Self {
            threshold,
            live: None,
        }
    }

    /// The feature options this scoring needs: the live rule normalises each snippet's audio window on its own,
    /// as `avad watch` does (a live stream has no whole track to normalise over).
    fn features(&self, opts: &FeatureOptions) -> FeatureOptions {
        let mut opts = opts.clone();
        if self.live.is_some() {
            opts.audio_normalisation = avad_wav2clip::Normalisation::PerSegment;
        }
        opts
    }

    fn predict<B: Backend>(
        &self,
        p: &Predictor<B>,
        visual: &[f32],
        audio: Option<&[f32]>,
    ) -> Result<VideoScores> {
        Ok(match self.live {
            None => p.predict(visual, audio)?,
            Some(rule) => replay_live(p, rule, visual, audio)?,
        })
    }
}

/// Runs the whole detection on `video` (centre crop, `opts.crops` must be 1).
pub fn detect_video<B: Backend>(
    enc: &Encoders<B>,
    predictor: &Predictor<B>,
    video: &Path,
    opts: &FeatureOptions,
    scoring: &ScoreOptions,
) -> Result<DetectReport> {
    let f = extract_video(enc, video, &scoring.features(opts), &mut |_| {})?;
    report(f, predictor, video, scoring)
}

/// [`detect_video`] with a model bundle (or a single checkpoint loaded as one, [`ModelBundle`]): the teacher when
/// the clip has audio that is not silent (the file's audio state is `present` and the Wav2CLIP features are not
/// constant, [`is_silent`]), else the visual student.
/// [`DetectReport::model`] says which model scored the clip.
pub fn detect_video_bundle<B: Backend>(
    enc: &Encoders<B>,
    bundle: &ModelBundle<B>,
    video: &Path,
    opts: &FeatureOptions,
    scoring: &ScoreOptions,
) -> Result<DetectReport> {
    let f = extract_video(enc, video, &scoring.features(opts), &mut |_| {})?;
    report_bundle(f, bundle, video, scoring)
}

/// What `avad detect` runs with a loaded model file: [`detect_video_bundle`] for a bundle, [`detect_video`] with its
/// one model otherwise; `on_snippet` is called with the number of snippets encoded so far (progress).
pub fn detect_with_model<B: Backend>(
    enc: &Encoders<B>,
    model: &ModelBundle<B>,
    video: &Path,
    opts: &FeatureOptions,
    scoring: &ScoreOptions,
    on_snippet: &mut dyn FnMut(usize),
) -> Result<DetectReport> {
    let f = extract_video(enc, video, &scoring.features(opts), on_snippet)?;
    if model.is_bundle {
        return report_bundle(f, model, video, scoring);
    }
    let member = model
        .members
        .first()
        .ok_or_else(|| PipelineError::Invalid("the model file holds no model".into()))?;
    report(f, &member.predictor, video, scoring)
}

fn report_bundle<B: Backend>(
    f: ExtractedVideo,
    bundle: &ModelBundle<B>,
    video: &Path,
    scoring: &ScoreOptions,
) -> Result<DetectReport> {
    let status = match (f.audio_state, &f.audio) {
        (AudioState::None, _) | (_, None) => AudioStatus::Missing,
        (AudioState::Silent, _) => AudioStatus::Silent,
        (_, Some(a)) if f.t > 0 && is_silent(&Features::new(f.t, a.len() / f.t, a.clone())) => {
            AudioStatus::Silent
        }
        _ => AudioStatus::Present,
    };
    let (member, reason) = bundle.choose(status)?;
    tracing::info!(
        "{}: scored by the {} ({reason})",
        video.display(),
        member.role.as_str()
    );
    report(f, &member.predictor, video, scoring)
}

fn report<B: Backend>(
    f: ExtractedVideo,
    predictor: &Predictor<B>,
    video: &Path,
    scoring: &ScoreOptions,
) -> Result<DetectReport> {
    let threshold = scoring.threshold;
    if f.width != predictor.visual_width {
        return Err(PipelineError::Invalid(format!(
            "{}: CLIP gives {}-d features but the model expects {}-d",
            video.display(),
            f.width,
            predictor.visual_width
        )));
    }
    let (audio, audio_features) = match (predictor.audio_width, &f.audio) {
        (None, _) => (None, "unused"),
        (Some(da), Some(a)) if da == avad_wav2clip::EMBED_DIM => (Some(a.clone()), "wav2clip"),
        (Some(da), Some(_)) => {
            return Err(PipelineError::Invalid(format!(
                "the model expects {da}-d audio features, Wav2CLIP gives {}",
                avad_wav2clip::EMBED_DIM
            )))
        }
        (Some(da), None) => (Some(vec![0.0; f.t * da]), "zeros"),
    };
    let model_started = Instant::now();
    let scores = scoring.predict(predictor, &f.visual[0], audio.as_deref())?;
    let mut timing = f.timing;
    timing.model_s = model_started.elapsed().as_secs_f64();
    timing.total_s += timing.model_s;
    let c = scores.num_class;
    let names = &predictor.class_names;
    let snippets: Vec<SnippetRow> = (0..f.t)
        .map(|i| {
            let probs = scores.probs[i * c..(i + 1) * c].to_vec();
            let top = argmax(&probs);
            SnippetRow {
                index: i,
                start_s: f.snippets[i].start_s,
                end_s: f.snippets[i].end_s,
                anomaly_score: scores.prob1[i],
                top_class: names.get(top).cloned().unwrap_or_default(),
                probs,
                audio: f.snippets[i].audio_state.as_str().to_string(),
                audio_gate: scores.audio_gate.as_ref().map(|g| g[i]),
                audio_share: scores.audio_share.as_ref().map(|g| g[i]),
            }
        })
        .collect();
    let events = find_events(&snippets, names, threshold);
    Ok(DetectReport {
        video: video.display().to_string(),
        model: model_kind(predictor).into(),
        audio: match f.audio_state {
            AudioState::None => "none".into(),
            s => s.as_str().to_string(),
        },
        audio_features: audio_features.into(),
        threshold,
        class_names: names.clone(),
        snippets,
        events,
        thumbnails: f.thumbnails,
        timing,
    })
}

fn argmax(v: &[f32]) -> usize {
    let mut best = 0;
    for (i, x) in v.iter().enumerate() {
        if *x > v[best] {
            best = i;
        }
    }
    best
}

/// Merges consecutive snippets with `anomaly_score >= threshold` into events (see the module docs).
pub fn find_events(rows: &[SnippetRow], class_names: &[String], threshold: f32) -> Vec<Event> {
    let mut events = Vec::new();
    let mut i = 0;
    while i < rows.len() {
        if rows[i].anomaly_score < threshold {
            i += 1;
            continue;
        }
        let first = i;
        while i < rows.len() && rows[i].anomaly_score >= threshold {
            i += 1;
        }
        let last = i - 1;
        let mut votes = vec![0usize; class_names.len()];
        let mut peak = first;
        for r in &rows[first..=last] {
            if r.probs.len() > 1 {
                votes[1 + argmax(&r.probs[1..])] += 1;
            }
            if r.anomaly_score > rows[peak].anomaly_score {
                peak = r.index;
            }
        }
        let mut cls = 1.min(class_names.len().saturating_sub(1));
        for (k, &n) in votes.iter().enumerate().skip(1) {
            if n > votes[cls] {
                cls = k;
            }
        }
        events.push(Event {
            first,
            last,
            start_s: rows[first].start_s,
            end_s: rows[last].end_s,
            class: class_names.get(cls).cloned().unwrap_or_default(),
            peak_score: rows[peak].anomaly_score,
            peak_index: peak,
        });
    }
    events
}

impl DetectReport {
    /// The report as pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    }

    /// One CSV row per snippet:
    /// `index,start_s,end_s,anomaly_score,top_class,audio,audio_gate,audio_share,<class probabilities...>`
    /// (`audio_gate`/`audio_share` empty for models without a fusion gate).
    pub fn to_csv(&self) -> String {
        let opt = |x: Option<f32>| x.map(|v| format!("{v:.6}")).unwrap_or_default();
        let mut s = String::from(
            "index,start_s,end_s,anomaly_score,top_class,audio,audio_gate,audio_share",
        );
        for c in &self.class_names {
            s.push_str(&format!(",p_{c}"));
        }
        s.push('\n');
        for r in &self.snippets {
            s.push_str(&format!(
                "{},{:.3},{:.3},{:.6},{},{},{},{}",
                r.index,
                r.start_s,
                r.end_s,
                r.anomaly_score,
                r.top_class,
                r.audio,
                opt(r.audio_gate),
                opt(r.audio_share)
            ));
            for p in &r.probs {
                s.push_str(&format!(",{p:.6}"));
            }
            s.push('\n');
        }
        s
    }
}
