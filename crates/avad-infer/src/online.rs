//! Live scoring: snippets arrive one at a time and each needs a score within a bounded delay.
//!
//! The temporal model looks at a whole chunk at once (its window attention and its similarity and distance graphs
//! see snippets after the one being scored), so a live score cannot be the offline one. The rule here, used by
//! `avad watch` and replayed on files by `avad detect --live-window W --lookahead K`:
//!
//! - each time snippet `n` arrives (0-based), the model runs on the **trailing window** of the last
//!   `min(W, n + 1)` snippets (`W ≤` the model's chunk length, 256), exactly as [`Predictor::predict`] scores a
//!   video of that length;
//! - the score reported is the one of snippet `n − K` (its row in that window): `K` is the **lookahead**, the number
//!   of later snippets the reported score has seen. The delay is K snippets (K · 16 frames) plus the compute time;
//!   K = 0 is fully causal.
//! - when the stream ends ([`LiveScorer::finish`]), the last K snippets are reported from the final window.
//!
//! Snippet `n`'s score therefore depends on snippets `max(0, n + K + 1 − W) ..= n + K` only (on fewer at the end),
//! which is what the tests check. What it costs in accuracy against the offline chunking is measured in
//! docs/results.md ("Live scoring").

use std::collections::VecDeque;

use burn::prelude::*;

use crate::error::{InferError, Result};
use crate::predict::{Predictor, VideoScores};

/// The live rule's two numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LiveWindow {
    /// Snippets the model sees per run, W (1 ..= the model's chunk length).
    pub window: usize,
    /// Later snippets a reported score has seen, K (< W).
    pub lookahead: usize,
}

impl LiveWindow {
    /// Checks the rule against `predictor`'s chunk length: `1 ≤ W ≤ chunk length` and `K < W`.
    pub fn check<B: Backend>(&self, predictor: &Predictor<B>) -> Result<()> {
        let (w, k) = (self.window, self.lookahead);
        if w == 0 || w > predictor.visual_length {
            return Err(InferError::Data(format!(
                "live window {w} must be between 1 and the model's chunk length {}",
                predictor.visual_length
            )));
        }
        if k >= w {
            return Err(InferError::Data(format!(
                "lookahead {k} must be smaller than the live window {w}"
            )));
        }
        Ok(())
    }
}

/// The live score of one snippet.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveScore {
    /// Snippet index (0-based, in arrival order).
    pub index: usize,
    /// C-branch anomaly probability.
    pub anomaly_score: f32,
    /// A-branch class probabilities [C], column 0 = normal.
    pub probs: Vec<f32>,
    /// Mean fusion gate (teacher with adaptive fusion), see [`crate::VideoScores::audio_gate`].
    pub audio_gate: Option<f32>,
    /// Audio share (teacher with adaptive fusion), see [`crate::VideoScores::audio_share`].
    pub audio_share: Option<f32>,
}

/// Scores snippets as they arrive with the trailing-window rule of the module docs.
#[derive(Debug)]
pub struct LiveScorer<'p, B: Backend> {
    predictor: &'p Predictor<B>,
    rule: LiveWindow,
    /// The last ≤ W visual rows [D] and, for audio models, audio rows [Da].
    visual: VecDeque<Vec<f32>>,
    audio: VecDeque<Vec<f32>>,
    /// Snippets pushed so far.
    pushed: usize,
    /// Next snippet to report.
    next: usize,
}

impl<'p, B: Backend> LiveScorer<'p, B> {
    /// A scorer for one stream; fails when `rule` does not fit the model ([`LiveWindow::check`]).
    pub fn new(predictor: &'p Predictor<B>, rule: LiveWindow) -> Result<Self> {
        rule.check(predictor)?;
        Ok(Self {
            predictor,
            rule,
            visual: VecDeque::with_capacity(rule.window),
            audio: VecDeque::with_capacity(rule.window),
            pushed: 0,
            next: 0,
        })
    }

    /// The rule this scorer applies.
    pub fn rule(&self) -> LiveWindow {
        self.rule
    }

    /// Snippets pushed so far.
    pub fn pushed(&self) -> usize {
        self.pushed
    }

    /// Adds the next snippet's features (`visual` [D]; `audio` [Da] for audio models) and returns the score of
    /// snippet `pushed − 1 − K` once there is one.
    pub fn push(&mut self, visual: &[f32], audio: Option<&[f32]>) -> Result<Option<LiveScore>> {
        let p = self.predictor;
        if visual.len() != p.visual_width {
            return Err(InferError::Data(format!(
                "visual features have {} values, the model expects {}",
                visual.len(),
                p.visual_width
            )));
        }
        match (p.audio_width, audio) {
            (Some(da), Some(a)) if a.len() == da => self.audio.push_back(a.to_vec()),
            (Some(da), Some(a)) => {
                return Err(InferError::Data(format!(
                    "audio features have {} values, the model expects {da}",
                    a.len()
                )))
            }
            (Some(_), None) => {
                return Err(InferError::Data("this model needs audio features".into()))
            }
            (None, _) => {}
        }
        self.visual.push_back(visual.to_vec());
        if self.visual.len() > self.rule.window {
            self.visual.pop_front();
            self.audio.pop_front();
        }
        self.pushed += 1;
        if self.pushed <= self.rule.lookahead {
            return Ok(None);
        }
        let scores = self.score_window(1)?;
        Ok(scores.into_iter().next())
    }

    /// Ends the stream: the scores of the last K snippets (fewer if fewer were pushed), from the final window.
    pub fn finish(&mut self) -> Result<Vec<LiveScore>> {
        let left = self.pushed - self.next;
        if left == 0 {
            return Ok(Vec::new());
        }
        self.score_window(left)
    }

    /// Runs the model on the current window and returns the scores of the next `count` unreported snippets.
    fn score_window(&mut self, count: usize) -> Result<Vec<LiveScore>> {
        let first_in_window = self.pushed - self.visual.len();
        let visual: Vec<f32> = self.visual.iter().flatten().copied().collect(); // [len, D]
        let audio: Option<Vec<f32>> = self
            .predictor
            .audio_width
            .map(|_| self.audio.iter().flatten().copied().collect()); // [len, Da]
        let s = self.predictor.predict(&visual, audio.as_deref())?;
        let c = s.num_class;
        let mut out = Vec::with_capacity(count);
        for _ in 0..count {
            let row = self.next - first_in_window;
            out.push(LiveScore {
                index: self.next,
                anomaly_score: s.prob1[row],
                probs: s.probs[row * c..(row + 1) * c].to_vec(),
                audio_gate: s.audio_gate.as_ref().map(|g| g[row]),
                audio_share: s.audio_share.as_ref().map(|g| g[row]),
            });
            self.next += 1;
        }
        Ok(out)
    }
}

/// Replays the live rule over a whole video's features (`visual` [T, D], `audio` [T, Da]): the scores `avad
/// watch` would have reported for it, in the shape of [`Predictor::predict`]'s.
pub fn replay_live<B: Backend>(
    predictor: &Predictor<B>,
    rule: LiveWindow,
    visual: &[f32],
    audio: Option<&[f32]>,
) -> Result<VideoScores> {
    let d = predictor.visual_width;
    if visual.is_empty() || !visual.len().is_multiple_of(d) {
        return Err(InferError::Data(format!(
            "visual features have {} values, not a multiple of D = {d}",
            visual.len()
        )));
    }
    let t = visual.len() / d;
    let da = match (predictor.audio_width, audio) {
        (Some(da), Some(a)) if a.len() == t * da => Some(da),
        (Some(da), Some(a)) => {
            return Err(InferError::Data(format!(
                "audio features have {} values, expected [{t}, {da}]",
                a.len()
            )))
        }
        (Some(_), None) => return Err(InferError::Data("this model needs audio features".into())),
        (None, _) => None,
    };
    let mut scorer = LiveScorer::new(predictor, rule)?;
    let mut rows = Vec::with_capacity(t);
    for i in 0..t {
        let a = da.zip(audio).map(|(da, a)| &a[i * da..(i + 1) * da]);
        rows.extend(scorer.push(&visual[i * d..(i + 1) * d], a)?);
    }
    rows.extend(scorer.finish()?);
    let gated = rows.first().is_some_and(|r| r.audio_gate.is_some());
    Ok(VideoScores {
        t,
        num_class: predictor.class_names.len(),
        prob1: rows.iter().map(|r| r.anomaly_score).collect(),
        probs: rows.iter().flat_map(|r| r.probs.iter().copied()).collect(),
        audio_gate: gated.then(|| rows.iter().filter_map(|r| r.audio_gate).collect()),
        audio_share: gated.then(|| rows.iter().filter_map(|r| r.audio_share).collect()),
    })
}
