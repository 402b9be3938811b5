//! Events from live scores, with hysteresis (the shape of Frigate's events: `new` / `update` / `end` messages with
//! the event's state `before` and `after` the change).
//!
//! Rules ([`EventRules`], per camera), applied to each scored snippet in order:
//! - **start**: snippets with `anomaly_score ≥ on` in a row for at least `min_duration_s` (from the first one's
//!   start to the last one's end) open an event that starts at the first of them (`new`); a snippet below `on`
//!   before that resets the count. No event starts within `cooldown_s` after the previous one ended.
//! - **refresh**: while open, every snippet with `score ≥ off` is *hot*: it extends the event and counts for its
//!   label and modality; an `update` goes out when the label changes or the top score rises by at least
//!   `update_delta`.
//! - **end**: `max_quiet_s` seconds (snippet time) without a hot snippet end the event at the end of its last hot
//!   snippet (`end`); so does the end of the stream, a reconnect, or shutdown ([`EventTracker::close`]).
//! - **label**: the most frequent argmax over the abnormal classes (columns 1..) of the hot snippets (ties: lower
//!   column), as `avad detect` labels its events.
//! - **modality**: from the mean audio share (`‖W ⊙ R‖ / (‖v‖ + ‖W ⊙ R‖)` of the teacher's fusion, see `avad
//!   detect --help`) over the hot snippets: `audio` when ≥ `audio_share_audio`, `visual` when <
//!   `audio_share_visual` or the model has no audio gate (visual models), else `both`. A heuristic, documented as
//!   such in docs/watch.md.

use serde::{Deserialize, Serialize};

/// Thresholds and times of the event rules (module docs). Times are seconds of stream time.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EventRules {
    /// Score that starts an event.
    pub on: f32,
    /// Score that keeps an event open.
    pub off: f32,
    /// How long the score must stay at or above `on` before an event starts.
    pub min_duration_s: f64,
    /// Seconds below `off` that end an event.
    pub max_quiet_s: f64,
    /// Seconds after an event's end during which no new event starts.
    pub cooldown_s: f64,
    /// Rise of the top score that sends an `update`.
    pub update_delta: f32,
    /// Mean audio share at or above which an event's modality is `audio`.
    pub audio_share_audio: f32,
    /// Mean audio share below which an event's modality is `visual`.
    pub audio_share_visual: f32,
}

impl Default for EventRules {
    fn default() -> Self {
        Self {
            on: 0.6,
            off: 0.4,
            min_duration_s: 1.0,
            max_quiet_s: 5.0,
            cooldown_s: 0.0,
            update_delta: 0.05,
            audio_share_audio: 0.5,
            audio_share_visual: 0.2,
        }
    }
}

impl EventRules {
    /// Checks the thresholds: `0 ≤ off ≤ on ≤ 1`, times ≥ 0.
    pub fn check(&self) -> Result<(), String> {
        if !(0.0..=1.0).contains(&self.on) || !(0.0..=self.on).contains(&self.off) {
            return Err(format!(
                "event thresholds need 0 <= off <= on <= 1 (on {}, off {})",
                self.on, self.off
            ));
        }
        for (name, v) in [
            ("min_duration_s", self.min_duration_s),
            ("max_quiet_s", self.max_quiet_s),
            ("cooldown_s", self.cooldown_s),
        ] {
            if !(v >= 0.0 && v.is_finite()) {
                return Err(format!("{name} must be a finite number >= 0, not {v}"));
            }
        }
        Ok(())
    }
}

/// One scored snippet as the tracker sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoredSnippet {
    /// Snippet index on the camera's timeline.
    pub index: usize,
    /// Start, seconds of camera time.
    pub start_s: f64,
    /// End, seconds of camera time.
    pub end_s: f64,
    /// Start as UTC, RFC 3339.
    pub start_utc: String,
    /// End as UTC, RFC 3339.
    pub end_utc: String,
    /// C-branch anomaly probability.
    pub anomaly_score: f32,
    /// A-branch class probabilities, column 0 = normal.
    pub probs: Vec<f32>,
    /// Audio share of the teacher's fusion (`None` for visual models).
    pub audio_share: Option<f32>,
}

/// An event's state, as sent in `before` / `after`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventState {
    /// Unique id (`<camera>-<UTC start, compact>-<random>`).
    pub id: String,
    /// Camera name.
    pub camera: String,
    /// Dominant abnormal class.
    pub label: String,
    /// Score of the latest hot snippet.
    pub score: f32,
    /// Highest score so far.
    pub top_score: f32,
    /// Snippet of the top score.
    pub top_index: usize,
    /// `audio`, `visual` or `both` (module docs).
    pub modality: String,
    /// Start, UTC (RFC 3339).
    pub start_time: String,
    /// End, UTC (RFC 3339): the end of the last hot snippet so far (final once `has_ended`).
    pub end_time: String,
    /// Start, seconds of camera time.
    pub start_s: f64,
    /// End, seconds of camera time (as `end_time`).
    pub end_s: f64,
    /// First snippet of the event.
    pub first_index: usize,
    /// Last hot snippet.
    pub last_index: usize,
    /// True in the `end` message.
    pub has_ended: bool,
    /// `end` message with clips on (`[clips]`): the MP4 (or Matroska) clip of the event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clip: Option<String>,
    /// `end` message with snapshots on: the JPEG of the frame with the top score.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<String>,
}

/// `new`, `update` or `end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MessageKind {
    /// An event started (`before` = `after`).
    New,
    /// Its label or top score changed.
    Update,
    /// It ended.
    End,
}

/// One event message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventMessage {
    /// What happened.
    #[serde(rename = "type")]
    pub kind: MessageKind,
    /// The state before the change.
    pub before: EventState,
    /// The state after it.
    pub after: EventState,
}

/// The open event and what its label and modality are computed from.
#[derive(Debug, Clone)]
struct Open {
    state: EventState,
    /// Hot snippets' argmax votes per class.
    votes: Vec<usize>,
    /// Sum and count of the hot snippets' audio shares.
    share_sum: f64,
    share_n: usize,
    /// Whether the model reports an audio share at all.
    gated: bool,
}

/// Applies [`EventRules`] to one camera's scores.
#[derive(Debug)]
pub struct EventTracker {
    camera: String,
    rules: EventRules,
    class_names: Vec<String>,
    /// Snippets at or above `on` in a row that have not opened an event yet.
    pending: Vec<ScoredSnippet>,
    open: Option<Open>,
    /// End (camera time) of the last event, for the cooldown.
    last_end_s: Option<f64>,
    /// Events started so far.
    started: u64,
}

fn argmax_abnormal(probs: &[f32]) -> usize {
    let mut best = 1.min(probs.len().saturating_sub(1));
    for (i, p) in probs.iter().enumerate().skip(1) {
        if *p > probs[best] {
            best = i;
        }
    }
    best
}

impl EventTracker {
    /// A tracker for `camera` whose model's classes are `class_names` (index 0 = normal).
    pub fn new(camera: &str, rules: EventRules, class_names: Vec<String>) -> Self {
        Self {
            camera: camera.to_string(),
            rules,
            class_names,
            pending: Vec::new(),
            open: None,
            last_end_s: None,
            started: 0,
        }
    }

    /// Events started so far.
    pub fn started(&self) -> u64 {
        self.started
    }

    /// The rules applied.
    pub fn rules(&self) -> &EventRules {
        &self.rules
    }

    /// The open event, if any.
    pub fn open_event(&self) -> Option<&EventState> {
        self.open.as_ref().map(|o| &o.state)
    }

    /// Feeds the next scored snippet; returns the messages it causes (at most two: an `end` then a `new` cannot
    /// happen on one snippet, but an `end` and nothing else, or a `new`, or an `update`).
    pub fn observe(&mut self, s: &ScoredSnippet) -> Vec<EventMessage> {
        let r = self.rules;
        let mut out = Vec::new();
        if let Some(open) = self.open.as_mut() {
            if s.anomaly_score >= r.off {
                let before = open.state.clone();
                Self::absorb(open, s, &self.class_names, &r);
                let after = &open.state;
                if after.label != before.label
                    || after.top_score >= before.top_score + r.update_delta
                {
                    out.push(EventMessage {
                        kind: MessageKind::Update,
                        before,
                        after: after.clone(),
                    });
                }
                return out;
            }
            if s.end_s - open.state.end_s >= r.max_quiet_s {
                out.extend(self.close());
            }
            return out;
        }
        let cooling = self
            .last_end_s
            .is_some_and(|end| s.start_s < end + r.cooldown_s);
        if s.anomaly_score < r.on || cooling {
            self.pending.clear();
            return out;
        }
        self.pending.push(s.clone());
        let first = &self.pending[0];
        if s.end_s - first.start_s + 1e-9 < r.min_duration_s {
            return out;
        }
        let pending = std::mem::take(&mut self.pending);
        let first = &pending[0];
        self.started += 1;
        let compact: String = first
            .start_utc
            .chars()
            .filter(|c| c.is_ascii_digit())
            .take(14)
            .collect();
        let id = format!(
            "{}-{compact}-{:06x}",
            self.camera,
            rand::random::<u32>() & 0xff_ffff
        );
        let mut open = Open {
            state: EventState {
                id,
                camera: self.camera.clone(),
                label: String::new(),
                score: first.anomaly_score,
                top_score: first.anomaly_score,
                top_index: first.index,
                modality: String::new(),
                start_time: first.start_utc.clone(),
                end_time: first.end_utc.clone(),
                start_s: first.start_s,
                end_s: first.end_s,
                first_index: first.index,
                last_index: first.index,
                has_ended: false,
                clip: None,
                snapshot: None,
            },
            votes: vec![0; self.class_names.len().max(2)],
            share_sum: 0.0,
            share_n: 0,
            gated: first.audio_share.is_some(),
        };
        for p in &pending {
            Self::absorb(&mut open, p, &self.class_names, &r);
        }
        out.push(EventMessage {
            kind: MessageKind::New,
            before: open.state.clone(),
            after: open.state.clone(),
        });
        self.open = Some(open);
        out
    }

    /// Ends the open event now (stream end, reconnect, shutdown): its `end` message, if one was open.
    pub fn close(&mut self) -> Option<EventMessage> {
        self.pending.clear();
        let open = self.open.take()?;
        let before = open.state.clone();
        let mut after = open.state;
        after.has_ended = true;
        self.last_end_s = Some(after.end_s);
        Some(EventMessage {
            kind: MessageKind::End,
            before,
            after,
        })
    }

    /// Adds a hot snippet to the open event: extends it, updates the score, label and modality.
    fn absorb(open: &mut Open, s: &ScoredSnippet, names: &[String], r: &EventRules) {
        let st = &mut open.state;
        st.score = s.anomaly_score;
        if s.anomaly_score > st.top_score {
            st.top_score = s.anomaly_score;
            st.top_index = s.index;
        }
        st.end_s = st.end_s.max(s.end_s);
        st.end_time.clone_from(&s.end_utc);
        st.last_index = s.index;
        if s.probs.len() > 1 {
            open.votes[argmax_abnormal(&s.probs)] += 1;
        }
        let mut best = 1.min(open.votes.len() - 1);
        for (k, &n) in open.votes.iter().enumerate().skip(1) {
            if n > open.votes[best] {
                best = k;
            }
        }
        st.label = names.get(best).cloned().unwrap_or_else(|| "anomaly".into());
        if let Some(share) = s.audio_share {
            open.share_sum += share as f64;
            open.share_n += 1;
        }
        let mean = (open.share_n > 0).then(|| (open.share_sum / open.share_n as f64) as f32);
        st.modality = match (open.gated, mean) {
            (true, Some(m)) if m >= r.audio_share_audio => "audio",
            (true, Some(m)) if m >= r.audio_share_visual => "both",
            _ => "visual",
        }
        .to_string();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Vec<String> {
        ["A", "B1", "G"].iter().map(|s| s.to_string()).collect()
    }

    fn snip(i: usize, score: f32, top: usize, share: Option<f32>) -> ScoredSnippet {
        let mut probs = vec![0.1, 0.1, 0.1];
        probs[top] = 0.8;
        ScoredSnippet {
            index: i,
            start_s: i as f64 * 0.5,
            end_s: (i + 1) as f64 * 0.5,
            start_utc: format!("2026-12-01T00:00:{:02}Z", i / 2),
            end_utc: format!("2026-12-01T00:00:{:02}Z", i.div_ceil(2)),
            anomaly_score: score,
            probs,
            audio_share: share,
        }
    }

    fn run(t: &mut EventTracker, scores: &[f32]) -> Vec<(usize, EventMessage)> {
        let mut out = Vec::new();
        for (i, &s) in scores.iter().enumerate() {
            for m in t.observe(&snip(i, s, 1, Some(0.7))) {
                out.push((i, m));
            }
        }
        out
    }

    #[test]
    fn starts_after_min_duration_and_ends_after_quiet() {
        let rules = EventRules {
            min_duration_s: 1.0,
            max_quiet_s: 1.5,
            ..EventRules::default()
        };
        let mut t = EventTracker::new("cam", rules, names());
        // one hot snippet (0.5 s) is too short; then three in a row open at snippet 4 (1.0 s held at snippet 5)
        let msgs = run(
            &mut t,
            &[
                0.9, 0.1, 0.1, 0.1, 0.9, 0.9, 0.9, 0.5, 0.1, 0.1, 0.1, 0.1, 0.1,
            ],
        );
        let kinds: Vec<(usize, MessageKind)> = msgs.iter().map(|(i, m)| (*i, m.kind)).collect();
        assert_eq!(kinds[0], (5, MessageKind::New));
        let new = &msgs[0].1.after;
        assert_eq!((new.first_index, new.start_s), (4, 2.0));
        assert_eq!(new.label, "B1");
        assert_eq!(new.modality, "audio");
        // 0.5 ≥ off keeps it open (hot, snippet 7 ends at 4.0 s); quiet from 4.0 s: 1.5 s later = snippet 10's end
        let (i, end) = msgs.last().unwrap();
        assert_eq!((*i, end.kind), (10, MessageKind::End));
        assert!(end.after.has_ended && !end.before.has_ended);
        assert_eq!((end.after.last_index, end.after.end_s), (7, 4.0));
        assert_eq!(t.started(), 1);
        assert!(t.open_event().is_none());
    }

    #[test]
    fn updates_on_label_change_and_top_score_rise() {
        let mut t = EventTracker::new("cam", EventRules::default(), names());
        let mut msgs = Vec::new();
        let mut seq = vec![(0.7, 1), (0.7, 1), (0.72, 1), (0.9, 1)];
        seq.extend([(0.7, 2); 5]);
        for (i, (s, c)) in seq.into_iter().enumerate() {
            msgs.extend(t.observe(&snip(i, s, c, None)));
        }
        let kinds: Vec<MessageKind> = msgs.iter().map(|m| m.kind).collect();
        assert_eq!(
            kinds,
            [MessageKind::New, MessageKind::Update, MessageKind::Update]
        );
        assert_eq!(msgs[1].after.top_score, 0.9);
        // B1 has 4 votes (snippets 0–3); G's 5th vote (snippet 8) makes G the label (a 4–4 tie keeps B1)
        assert_eq!(
            (msgs[2].before.label.as_str(), msgs[2].after.label.as_str()),
            ("B1", "G")
        );
        assert_eq!(msgs[2].after.last_index, 8);
        assert_eq!(
            msgs[0].after.modality, "visual",
            "no audio share: a visual model"
        );
        let end = t.close().unwrap();
        assert_eq!(end.kind, MessageKind::End);
        assert!(t.close().is_none());
    }

    #[test]
    fn cooldown_blocks_new_events() {
        let rules = EventRules {
            min_duration_s: 0.0,
            max_quiet_s: 0.5,
            cooldown_s: 2.0,
            ..EventRules::default()
        };
        let mut t = EventTracker::new("cam", rules, names());
        let msgs = run(&mut t, &[0.9, 0.1, 0.9, 0.9, 0.1, 0.1, 0.1, 0.9]);
        let kinds: Vec<(usize, MessageKind)> = msgs.iter().map(|(i, m)| (*i, m.kind)).collect();
        // ends at snippet 1 (quiet 0.5 s after 0.5 s); snippets 2, 3 start before 0.5 + 2.0 s; snippet 7 may start
        assert_eq!(
            kinds,
            [
                (0, MessageKind::New),
                (1, MessageKind::End),
                (7, MessageKind::New)
            ]
        );
    }

    #[test]
    fn bad_thresholds_are_rejected() {
        let bad = EventRules {
            on: 0.3,
            off: 0.5,
            ..EventRules::default()
        };
        assert!(bad.check().unwrap_err().contains("off <= on"));
        assert!(EventRules::default().check().is_ok());
    }
}
