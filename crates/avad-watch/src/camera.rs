//! One camera: connect, decode, encode each snippet, score it live, track events, send everything out; reconnect
//! when the source fails.
//!
//! Per connection: avad-media decodes (live mode for live sources: times from 0, read timeouts), a feed thread
//! takes its snippets as they come and, for live sources, drops a snippet that arrives while two are already
//! waiting (scoring fell behind: counted, never queued without bound); this thread encodes the frame (CLIP) and, for audio models, the
//! 1 s audio window once complete ([`crate::audio`]), then pushes both into [`LiveScorer`]. Camera time continues
//! across reconnects: a new connection starts where the wall clock is (never before the previous snippet's end).
//!
//! Clips and snapshots (`[clips]`): a live connection keeps the source's encoded packets in avad-media's
//! [`Recorder`] (held from an open event's start minus the pre-roll); a file source is cut again from the file.
//! The frame with the top score of the open (or about to open) event is kept for the snapshot. Both are written
//! when the event ends, before its `end` message goes out with their paths.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use avad_infer::{LiveScore, LiveScorer, LiveWindow, ModelBundle, Predictor};
use avad_media::{AudioState, DecodeOptions, MediaError, RecordOptions, Recorder, Snippet};
use avad_pipeline::Encoders;
use burn::prelude::*;

use crate::audio::LiveAudio;
use crate::config::{CameraConfig, ClipsConfig, ReconnectConfig};
use crate::error::{Result, WatchError};
use crate::events::{EventMessage, EventRules, EventTracker, MessageKind, ScoredSnippet};
use crate::metrics::CameraStats;
use crate::outputs::{Dispatcher, Outgoing, ScoreLine};

/// Everything a camera thread shares with the others.
pub struct Shared<'a, B: Backend> {
    /// The encoders (one copy for all cameras).
    pub encoders: &'a Encoders<B>,
    /// Where scores and events go.
    pub outputs: &'a Dispatcher,
    /// Set on SIGINT / SIGTERM.
    pub stop: &'a AtomicBool,
    /// Frames per snippet.
    pub stride: usize,
    /// Trailing window (None: the model's chunk length) and lookahead.
    pub live_window: Option<usize>,
    /// Lookahead K.
    pub lookahead: usize,
    /// Reconnection settings.
    pub reconnect: ReconnectConfig,
    /// Clips and snapshots of events (None: off).
    pub clips: Option<ClipsConfig>,
}

/// A camera's state kept between connections.
pub struct Camera<'a, B: Backend> {
    cfg: CameraConfig,
    bundle: &'a ModelBundle<B>,
    /// Events (behind a lock so that shutdown can end them even if this camera's thread is stuck).
    pub tracker: Arc<Mutex<EventTracker>>,
    /// Counters.
    pub stats: Arc<CameraStats>,
    /// Camera time at which the next connection may start (end of the last snippet).
    next_start_s: f64,
    /// Next snippet index on the camera's timeline.
    next_index: usize,
    /// When the camera started (wall clock).
    started: (Instant, SystemTime),
    /// This connection's mapping of reader time to camera time: `camera = reader + shift` (set by its first
    /// snippet).
    shift: Option<f64>,
    /// This connection's packet ring (live sources with clips on).
    recorder: Option<Recorder>,
    /// The frame for the snapshot: the top-scoring snippet of the open event, or of the run of snippets at or
    /// above `on` that may open one.
    peak: Option<Peak>,
}

/// A kept frame and the score it had.
struct Peak {
    index: usize,
    score: f32,
    frame: image::RgbImage,
}

/// Metadata of a snippet waiting for its score.
struct Waiting {
    index: usize,
    start_s: f64,
    end_s: f64,
    audio: AudioState,
    arrived: Instant,
    /// The snippet's frame (kept only with snapshots on).
    frame: Option<image::RgbImage>,
}

fn rfc3339(t: SystemTime) -> String {
    let t: time::OffsetDateTime = t.into();
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

fn is_live(source: &str) -> bool {
    avad_media::is_live_source(std::path::Path::new(source))
}

/// Standard input (`-`) or an FFmpeg `pipe:` URL.
fn is_pipe(source: &str) -> bool {
    source == "-" || source.starts_with("pipe:")
}

impl<'a, B: Backend> Camera<'a, B> {
    /// A camera scored by `bundle` with events by `rules`, counting into `stats`.
    pub fn new(
        cfg: CameraConfig,
        bundle: &'a ModelBundle<B>,
        rules: EventRules,
        stats: Arc<CameraStats>,
    ) -> Self {
        let tracker = EventTracker::new(&cfg.name, rules, bundle.class_names().to_vec());
        Self {
            cfg,
            bundle,
            tracker: Arc::new(Mutex::new(tracker)),
            stats,
            next_start_s: 0.0,
            next_index: 0,
            started: (Instant::now(), SystemTime::now()),
            shift: None,
            recorder: None,
            peak: None,
        }
    }

    /// The camera's name.
    pub fn name(&self) -> &str {
        &self.cfg.name
    }

    fn send_end(&mut self, shared: &Shared<'_, B>) {
        let end = self.tracker.lock().ok().and_then(|mut t| t.close());
        if let Some(mut m) = end {
            self.save_media(shared, &mut m);
            shared.outputs.send(&Outgoing::Event(Box::new(m)));
        }
        self.peak = None;
    }

    /// An `end` message with clips on: writes the event's clip and snapshot and puts their paths in it. Failures
    /// are logged; the message goes out without the path.
    fn save_media(&mut self, shared: &Shared<'_, B>, m: &mut EventMessage) {
        let (Some(c), Some(shift)) = (&shared.clips, self.shift) else {
            return;
        };
        let ev = &m.after;
        let base = c.dir.join(&self.cfg.name).join(&ev.id);
        if c.clip {
            let from = ev.start_s - c.pre_roll_s - shift;
            let to = ev.end_s + c.post_roll_s - shift;
            let out = base.with_extension("mp4");
            let written = match &self.recorder {
                Some(rec) => rec.write_clip(&out, from, to),
                None if !is_live(&self.cfg.source) => avad_media::clip_from_file(
                    std::path::Path::new(&self.cfg.source),
                    &out,
                    from,
                    to,
                ),
                None => Err(MediaError::Clip {
                    path: out.clone(),
                    reason: "the live source's packets were not recorded".into(),
                }),
            };
            match written {
                Ok(info) => m.after.clip = Some(info.path.display().to_string()),
                Err(e) => tracing::warn!("camera {}: event {}: {e}", self.cfg.name, m.after.id),
            }
        }
        if c.snapshot {
            let top = m.after.top_index;
            if let Some(p) = self.peak.take().filter(|p| p.index == top) {
                let out = base.with_extension("jpg");
                let mut jpeg = Vec::new();
                let encoded = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 90)
                    .encode_image(&p.frame)
                    .map_err(|e| e.to_string())
                    .and_then(|()| {
                        avad_core::files::write_atomic(&out, &jpeg).map_err(|e| e.to_string())
                    });
                match encoded {
                    Ok(()) => m.after.snapshot = Some(out.display().to_string()),
                    Err(e) => tracing::warn!(
                        "camera {}: event {}: snapshot {}: {e}",
                        self.cfg.name,
                        m.after.id,
                        out.display()
                    ),
                }
            }
        }
    }

    /// Runs until the source ends for good (a file without `loop`) or `shared.stop` is set.
    pub fn run(&mut self, shared: &Shared<'_, B>) {
        let live = is_live(&self.cfg.source);
        let mut backoff = shared.reconnect.initial_s.max(0.05);
        let mut first = true;
        while !shared.stop.load(Ordering::Relaxed) {
            if !first {
                self.stats.reconnects.inc();
            }
            first = false;
            let scored_before = self.stats.scored.get();
            let result = self.connection(shared, live);
            self.send_end(shared);
            let scored_any = self.stats.scored.get() > scored_before;
            // A pipe (`-`, `pipe:`) that ended was closed by its writer: it cannot be reopened.
            let once = (!live && !self.cfg.loop_file) || is_pipe(&self.cfg.source);
            match result {
                Ok(()) if once => return,
                Ok(()) if !live => continue, // loop the file
                Ok(()) => {
                    tracing::warn!("camera {}: the stream ended; reconnecting", self.cfg.name)
                }
                Err(e) if once => {
                    let e = self.cfg.redact(&e.to_string());
                    tracing::error!("camera {}: {e}", self.cfg.name);
                    if let Ok(mut err) = self.stats.error.lock() {
                        *err = Some(e);
                    }
                    return;
                }
                Err(e) => tracing::warn!(
                    "camera {}: {}; reconnecting",
                    self.cfg.name,
                    self.cfg.redact(&e.to_string())
                ),
            }
            if scored_any {
                backoff = shared.reconnect.initial_s.max(0.05);
            }
            let jitter = 0.8 + 0.4 * rand::random::<f64>();
            let wait = Duration::from_secs_f64(backoff * jitter);
            tracing::info!(
                "camera {}: reconnecting in {:.1} s",
                self.cfg.name,
                wait.as_secs_f64()
            );
            let until = Instant::now() + wait;
            while Instant::now() < until && !shared.stop.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(50));
            }
            backoff = (backoff * 2.0).min(shared.reconnect.max_s.max(backoff));
        }
    }

    /// One connection: open, score until the stream ends, fails, stalls or the watch stops.
    fn connection(&mut self, shared: &Shared<'_, B>, live: bool) -> Result<()> {
        let rules = *self
            .tracker
            .lock()
            .map_err(|_| WatchError::Config("poisoned".into()))?
            .rules();
        let record = shared
            .clips
            .as_ref()
            .filter(|c| c.clip && live)
            .map(|c| RecordOptions {
                // the pre-roll, the time an event needs to start, and the scoring delay (with room to spare)
                keep_s: c.pre_roll_s + rules.min_duration_s + 20.0,
                max_s: c.max_length_s + c.pre_roll_s + c.post_roll_s,
                ..RecordOptions::default()
            });
        let opts = DecodeOptions {
            stride: shared.stride,
            record,
            ..DecodeOptions::default()
        };
        let reader = avad_media::open(&self.cfg.source, &opts)?;
        self.recorder = reader.recorder().cloned();
        self.shift = None;
        let has_audio = reader.info().has_audio();
        let status = if has_audio {
            avad_infer::AudioStatus::Present
        } else {
            avad_infer::AudioStatus::Missing
        };
        let (member, reason) = self.bundle.choose(status)?;
        let predictor: &Predictor<B> = &member.predictor;
        let model_name = match member.role {
            avad_infer::Role::Teacher => "teacher",
            avad_infer::Role::VisualStudent => "student",
            avad_infer::Role::Visual => "vadclip",
            avad_infer::Role::AudioStudent => {
                return Err(WatchError::Config(format!(
                    "camera {}: an audio-only student cannot watch a camera",
                    self.cfg.name
                )))
            }
        };
        let rule = LiveWindow {
            window: shared.live_window.unwrap_or(predictor.visual_length),
            lookahead: shared.lookahead,
        };
        let mut scorer = LiveScorer::new(predictor, rule)?;
        tracing::info!(
            "camera {}: connected to {} ({}); scored by the {model_name} ({reason}), window {} lookahead {}",
            self.cfg.name,
            self.cfg.shown_source(),
            reader.info().stream_list(),
            rule.window,
            rule.lookahead
        );
        let needs_audio = predictor.needs_audio();
        // camera time of this connection's time 0
        let offset = if live {
            self.started
                .0
                .elapsed()
                .as_secs_f64()
                .max(self.next_start_s)
        } else {
            self.next_start_s
        };
        let feed = Feed::start(reader, live, Arc::clone(&self.stats))?;
        let mut audio = LiveAudio::new();
        let mut waiting: VecDeque<Waiting> = VecDeque::new();
        let mut visual_ready: VecDeque<Vec<f32>> = VecDeque::new(); // rows waiting for their audio window
        let mut first_pts: Option<f64> = None;
        let paced_start = Instant::now();
        let watchdog = Duration::from_secs_f64(shared.reconnect.watchdog_s.max(0.5));
        let mut last_snippet = Instant::now();
        let end: Result<()> = loop {
            if shared.stop.load(Ordering::Relaxed) {
                break Ok(());
            }
            let snippet = match feed.rx.recv_timeout(Duration::from_millis(200)) {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => break Err(e.into()),
                Err(RecvTimeoutError::Disconnected) => break Ok(()),
                Err(RecvTimeoutError::Timeout) if live && last_snippet.elapsed() > watchdog => {
                    break Err(WatchError::Stalled(format!(
                        "{}: no snippet for {:.0} s (watchdog)",
                        self.cfg.source,
                        watchdog.as_secs_f64()
                    )))
                }
                Err(RecvTimeoutError::Timeout) => continue,
            };
            last_snippet = Instant::now();
            let (snippet, mut arrived) = snippet;
            let t0 = *first_pts.get_or_insert(snippet.start_s);
            self.shift.get_or_insert(offset - t0);
            if let (Some(speed), false) = (self.cfg.pace(), live) {
                // A paced file's snippet arrives when its last frame is due, as a camera's would (the reader
                // decodes ahead, so the time it was decoded says nothing about latency).
                let due = Duration::from_secs_f64(((snippet.end_s - t0) / speed).max(0.0));
                let now = paced_start.elapsed();
                if due > now {
                    std::thread::sleep(due - now);
                }
                arrived = arrived.max(paced_start + due);
            }
            let meta = Waiting {
                index: self.next_index,
                start_s: offset + snippet.start_s - t0,
                end_s: offset + snippet.end_s - t0,
                audio: snippet.audio_state,
                arrived,
                frame: None,
            };
            self.next_index += 1;
            self.next_start_s = meta.end_s;
            let size = shared.encoders.image_size() as u32;
            let frame = match image::RgbImage::from_raw(
                snippet.frame.width,
                snippet.frame.height,
                snippet.frame.data,
            ) {
                Some(f) => f,
                None => {
                    break Err(WatchError::Config(
                        "decoded frame has the wrong size".into(),
                    ))
                }
            };
            let pixels = avad_clip::preprocess::clip_pixels(&frame, size);
            let mut meta = meta;
            if shared.clips.as_ref().is_some_and(|c| c.snapshot) {
                meta.frame = Some(frame);
            }
            let path = std::path::Path::new(&self.cfg.source);
            let visual = match shared.encoders.encode_images(pixels, 1, path) {
                Ok(v) => v,
                Err(e) => break Err(e.into()),
            };
            waiting.push_back(meta);
            if needs_audio {
                audio.push_snippet(&snippet.audio);
                visual_ready.push_back(visual);
                let windows = audio.ready_windows(false);
                if let Err(e) = self.score_with_audio(
                    shared,
                    &mut scorer,
                    &mut visual_ready,
                    windows,
                    &mut waiting,
                    model_name,
                ) {
                    break Err(e);
                }
            } else {
                match scorer.push(&visual, None) {
                    Ok(s) => self.emit(shared, s.into_iter().collect(), &mut waiting, model_name),
                    Err(e) => break Err(e.into()),
                }
            }
        };
        // Whatever happened, score what has arrived: the remaining audio windows (zero-padded), then the last K.
        if needs_audio {
            let windows = audio.ready_windows(true);
            self.score_with_audio(
                shared,
                &mut scorer,
                &mut visual_ready,
                windows,
                &mut waiting,
                model_name,
            )?;
        }
        let rest = scorer.finish()?;
        self.emit(shared, rest, &mut waiting, model_name);
        end
    }

    fn score_with_audio(
        &mut self,
        shared: &Shared<'_, B>,
        scorer: &mut LiveScorer<'_, B>,
        visual_ready: &mut VecDeque<Vec<f32>>,
        windows: Vec<Vec<f32>>,
        waiting: &mut VecDeque<Waiting>,
        model_name: &str,
    ) -> Result<()> {
        if windows.is_empty() {
            return Ok(());
        }
        let refs: Vec<&[f32]> = windows.iter().map(Vec::as_slice).collect();
        let path = std::path::Path::new(&self.cfg.source);
        let emb =
            shared
                .encoders
                .encode_audio(&refs, avad_wav2clip::Normalisation::PerSegment, path)?; // [n, 512]
        let da = avad_wav2clip::EMBED_DIM;
        for row in emb.chunks_exact(da) {
            let visual = visual_ready
                .pop_front()
                .expect("one audio window per pushed snippet");
            let s = scorer.push(&visual, Some(row))?;
            self.emit(shared, s.into_iter().collect(), waiting, model_name);
        }
        Ok(())
    }

    /// Sends the scores out and feeds them to the event tracker.
    fn emit(
        &mut self,
        shared: &Shared<'_, B>,
        scores: Vec<LiveScore>,
        waiting: &mut VecDeque<Waiting>,
        model_name: &str,
    ) {
        let names = self.bundle.class_names();
        for s in scores {
            // the scorer counts from 0 per connection; `waiting` holds this connection's unscored snippets in order
            let Some(meta) = waiting.pop_front() else {
                continue;
            };
            let latency = meta.arrived.elapsed().as_secs_f64();
            let at = |camera_s: f64| {
                rfc3339(self.started.1 + Duration::from_secs_f64(camera_s.max(0.0)))
            };
            let top = s
                .probs
                .iter()
                .enumerate()
                .fold(0, |best, (i, p)| if *p > s.probs[best] { i } else { best });
            let line = ScoreLine {
                kind: "score".into(),
                camera: self.cfg.name.clone(),
                snippet: avad_pipeline::SnippetRow {
                    index: meta.index,
                    start_s: meta.start_s,
                    end_s: meta.end_s,
                    anomaly_score: s.anomaly_score,
                    top_class: names.get(top).cloned().unwrap_or_default(),
                    probs: s.probs.clone(),
                    audio: meta.audio.as_str().to_string(),
                    audio_gate: s.audio_gate,
                    audio_share: s.audio_share,
                },
                start_time: at(meta.start_s),
                model: model_name.to_string(),
                latency_s: latency,
            };
            let scored = ScoredSnippet {
                index: meta.index,
                start_s: meta.start_s,
                end_s: meta.end_s,
                start_utc: line.start_time.clone(),
                end_utc: at(meta.end_s),
                anomaly_score: s.anomaly_score,
                probs: s.probs,
                audio_share: s.audio_share,
            };
            shared.outputs.send(&Outgoing::Score(Box::new(line)));
            self.stats.scored.inc();
            self.stats.latency.observe(latency);
            let msgs = match self.tracker.lock() {
                Ok(mut t) => t.observe(&scored),
                Err(_) => Vec::new(),
            };
            for mut m in msgs {
                if m.kind == MessageKind::New {
                    self.stats.event_started(&m.after.label);
                }
                if m.kind == MessageKind::End {
                    self.save_media(shared, &mut m);
                    self.peak = None;
                }
                shared.outputs.send(&Outgoing::Event(Box::new(m)));
            }
            self.keep_for_clips(shared, &meta, s.anomaly_score);
        }
    }

    /// After a scored snippet: keeps its frame if it is the (candidate) peak, and holds the packet ring from the
    /// open event's start minus the pre-roll.
    fn keep_for_clips(&mut self, shared: &Shared<'_, B>, meta: &Waiting, score: f32) {
        let Some(c) = &shared.clips else {
            return;
        };
        let (open, on) = match self.tracker.lock() {
            Ok(t) => (
                t.open_event().map(|e| (e.start_s, e.top_index)),
                t.rules().on,
            ),
            Err(_) => return,
        };
        let candidate = || {
            meta.frame.clone().map(|frame| Peak {
                index: meta.index,
                score,
                frame,
            })
        };
        match open {
            Some((_, top)) if top == meta.index => self.peak = candidate(),
            Some(_) => {}
            None if score >= on => {
                if self.peak.as_ref().is_none_or(|p| score > p.score) {
                    self.peak = candidate();
                }
            }
            None => self.peak = None,
        }
        if let (Some(rec), Some(shift)) = (&self.recorder, self.shift) {
            rec.hold_from(open.map(|(start, _)| start - c.pre_roll_s - shift));
        }
    }
}

/// The feed thread between avad-media and the scorer (module docs).
struct Feed {
    rx: Receiver<std::result::Result<(Snippet, Instant), MediaError>>,
}

impl Feed {
    fn start(reader: avad_media::MediaReader, live: bool, stats: Arc<CameraStats>) -> Result<Self> {
        // Live: a short queue, oldest-first drop when full. Files: a blocking queue (nothing is dropped).
        let (tx, rx) = sync_channel(if live { 2 } else { 4 });
        std::thread::Builder::new()
            .name("avad-watch-feed".into())
            .spawn(move || {
                for item in reader {
                    let item = item.map(|s| (s, Instant::now()));
                    if let Ok((s, _)) = &item {
                        let t = s
                            .wall_clock
                            .unwrap_or_else(SystemTime::now)
                            .duration_since(std::time::UNIX_EPOCH)
                            .map(|d| d.as_secs_f64())
                            .unwrap_or(0.0);
                        stats.last_frame.set(t);
                    }
                    if !live || item.is_err() {
                        if tx.send(item).is_err() {
                            return;
                        }
                        continue;
                    }
                    match tx.try_send(item) {
                        Ok(()) => {}
                        Err(TrySendError::Full(_)) => {
                            stats.dropped.inc();
                        }
                        Err(TrySendError::Disconnected(_)) => return,
                    }
                }
            })
            .map_err(|e| WatchError::Output(format!("cannot start a feed thread: {e}")))?;
        Ok(Self { rx })
    }
}
