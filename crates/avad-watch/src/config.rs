//! `cameras.toml`: the cameras, their models and thresholds, and the outputs. Every field is documented in
//! docs/watch.md; the command-line flags of `avad watch` build the same structure for sources given on the command
//! line.
//!
//! ```toml
//! clip_model = "models/clip-vit-base-patch16"
//! wav2clip = "models/Wav2CLIP.pt"
//! model = "runs/bundle.json"      # default model of every camera
//! lookahead = 2
//!
//! [events]                        # defaults of every camera
//! on = 0.6
//! off = 0.4
//!
//! [outputs]
//! jsonl = "-"
//! mqtt = { host = "127.0.0.1", prefix = "avad" }
//! webhooks = [{ url = "http://127.0.0.1:8080/hook" }]
//!
//! [[camera]]
//! name = "gate"
//! source = "rtsp://10.0.0.5:554/stream1"
//!
//! [[camera]]
//! name = "yard"
//! source = "/dev/video0"
//! events = { on = 0.7 }
//! ```

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Result, WatchError};
use crate::events::EventRules;
use crate::outputs::{MqttConfig, WebhookConfig};

/// Per-camera event settings that override the file's `[events]` (missing fields keep those).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventOverrides {
    /// See [`EventRules::on`].
    pub on: Option<f32>,
    /// See [`EventRules::off`].
    pub off: Option<f32>,
    /// See [`EventRules::min_duration_s`].
    pub min_duration_s: Option<f64>,
    /// See [`EventRules::max_quiet_s`].
    pub max_quiet_s: Option<f64>,
    /// See [`EventRules::cooldown_s`].
    pub cooldown_s: Option<f64>,
}

impl EventOverrides {
    /// `base` with these overrides applied.
    pub fn apply(&self, base: EventRules) -> EventRules {
        EventRules {
            on: self.on.unwrap_or(base.on),
            off: self.off.unwrap_or(base.off),
            min_duration_s: self.min_duration_s.unwrap_or(base.min_duration_s),
            max_quiet_s: self.max_quiet_s.unwrap_or(base.max_quiet_s),
            cooldown_s: self.cooldown_s.unwrap_or(base.cooldown_s),
            ..base
        }
    }
}

/// One camera.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CameraConfig {
    /// Name in events, topics and metrics (letters, digits, `-`, `_`).
    pub name: String,
    /// Anything FFmpeg opens: `rtsp://` (over TCP), `http(s)://` (HLS, MJPEG), `/dev/videoN`, `-` (MPEG-TS on
    /// standard input), or a file.
    pub source: String,
    /// Checkpoint or bundle (default: the file's `model`).
    #[serde(default)]
    pub model: Option<PathBuf>,
    /// Files: play at the file's own pace (as a camera would deliver it) instead of as fast as possible.
    #[serde(default)]
    pub realtime: bool,
    /// Files: play at this multiple of the file's own pace (implies `realtime`; 1 = real time, 8 = eight times
    /// faster). For replays and soak tests: scores arrive paced, so their latency is the model's, not a backlog's.
    #[serde(default)]
    pub speed: Option<f64>,
    /// Files: start again at the end.
    #[serde(default, rename = "loop")]
    pub loop_file: bool,
    /// Event settings for this camera.
    #[serde(default)]
    pub events: EventOverrides,
}

impl CameraConfig {
    /// The source as logs and APIs show it: without a password or secret-looking query values
    /// ([`redact_source`]).
    pub fn shown_source(&self) -> String {
        redact_source(&self.source)
    }

    /// `text` (an error or a log line) with the source's credentials replaced as in [`Self::shown_source`].
    pub fn redact(&self, text: &str) -> String {
        let shown = self.shown_source();
        if shown == self.source {
            text.to_string()
        } else {
            text.replace(&self.source, &shown)
        }
    }

    /// How fast a file is played relative to its own pace: `None` = as fast as it can be scored.
    pub fn pace(&self) -> Option<f64> {
        self.speed.or(self.realtime.then_some(1.0))
    }
}

/// Reconnection after a source fails or ends (live sources).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReconnectConfig {
    /// First wait, seconds.
    pub initial_s: f64,
    /// Longest wait, seconds (the wait doubles after each failure, ±20 % jitter).
    pub max_s: f64,
    /// Seconds without a new snippet after which a live source is restarted (the watchdog).
    pub watchdog_s: f64,
}

impl Default for ReconnectConfig {
    fn default() -> Self {
        Self {
            initial_s: 1.0,
            max_s: 30.0,
            watchdog_s: 10.0,
        }
    }
}

/// Clips and snapshots of events (`[clips]`; off unless given): at an event's end, an MP4 of the stream from
/// `pre_roll_s` before its start to `post_roll_s` after its end, copied without re-encoding, and a JPEG of the
/// frame with the event's top score, written to `<dir>/<camera>/<event id>.mp4|.jpg`; their paths are in the
/// `end` message (`after.clip`, `after.snapshot`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClipsConfig {
    /// Folder for clips and snapshots (one subfolder per camera).
    pub dir: PathBuf,
    /// Seconds before the event's start (the clip starts at the keyframe at or before that).
    #[serde(default = "default_roll")]
    pub pre_roll_s: f64,
    /// Seconds after the event's end (what has arrived when the event ends: about `max_quiet_s` plus the
    /// scoring delay).
    #[serde(default = "default_roll")]
    pub post_roll_s: f64,
    /// Longest clip in seconds; live sources keep at most this much (plus the rolls) of encoded stream in memory.
    #[serde(default = "default_max_clip")]
    pub max_length_s: f64,
    /// Write the MP4 clip.
    #[serde(default = "yes")]
    pub clip: bool,
    /// Write the JPEG snapshot.
    #[serde(default = "yes")]
    pub snapshot: bool,
}

fn default_roll() -> f64 {
    5.0
}
fn default_max_clip() -> f64 {
    300.0
}
fn yes() -> bool {
    true
}

impl ClipsConfig {
    /// Clips into `dir` with the default settings.
    pub fn new(dir: PathBuf) -> Self {
        Self {
            dir,
            pre_roll_s: default_roll(),
            post_roll_s: default_roll(),
            max_length_s: default_max_clip(),
            clip: true,
            snapshot: true,
        }
    }

    fn check(&self) -> Result<()> {
        for (name, v) in [
            ("pre_roll_s", self.pre_roll_s),
            ("post_roll_s", self.post_roll_s),
        ] {
            if !(v.is_finite() && (0.0..=600.0).contains(&v)) {
                return Err(WatchError::Config(format!(
                    "clips.{name} must be between 0 and 600 seconds, not {v}"
                )));
            }
        }
        if !(self.max_length_s.is_finite() && (1.0..=3600.0).contains(&self.max_length_s)) {
            return Err(WatchError::Config(format!(
                "clips.max_length_s must be between 1 and 3600 seconds, not {}",
                self.max_length_s
            )));
        }
        Ok(())
    }
}

/// Where events and scores go.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputsConfig {
    /// JSON lines: `-` for stdout or a file to append to.
    #[serde(default)]
    pub jsonl: Option<String>,
    /// Also write every snippet's score to the JSON lines.
    #[serde(default)]
    pub scores: bool,
    /// An MQTT broker.
    #[serde(default)]
    pub mqtt: Option<MqttConfig>,
    /// Webhooks.
    #[serde(default)]
    pub webhooks: Vec<WebhookConfig>,
    /// Items each output may hold before new ones are dropped (counted).
    #[serde(default = "default_queue")]
    pub queue: usize,
}

fn default_queue() -> usize {
    1024
}

impl Default for OutputsConfig {
    fn default() -> Self {
        Self {
            jsonl: None,
            scores: false,
            mqtt: None,
            webhooks: Vec::new(),
            queue: default_queue(),
        }
    }
}

/// The whole watch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WatchConfig {
    /// CLIP weights (Hugging Face folder or OpenAI-named safetensors).
    pub clip_model: PathBuf,
    /// Wav2CLIP weights.
    pub wav2clip: PathBuf,
    /// Default model of every camera: a checkpoint or a teacher/student bundle (sources without sound use the
    /// bundle's visual student, as `avad detect` does).
    #[serde(default)]
    pub model: Option<PathBuf>,
    /// Keep every N-th frame: one snippet per N frames (the stride the model was trained on).
    #[serde(default = "default_stride")]
    pub stride: usize,
    /// Snippets the model sees per run, W (default: the model's chunk length, 256).
    #[serde(default)]
    pub live_window: Option<usize>,
    /// Later snippets a score has seen, K: the delay in snippets (`avad_infer::online`).
    #[serde(default = "default_lookahead")]
    pub lookahead: usize,
    /// Default event settings.
    #[serde(default)]
    pub events: EventRules,
    /// Outputs.
    #[serde(default)]
    pub outputs: OutputsConfig,
    /// Reconnection and watchdog.
    #[serde(default)]
    pub reconnect: ReconnectConfig,
    /// Prometheus metrics and health over HTTP (off unless given).
    #[serde(default)]
    pub metrics: Option<crate::metrics::MetricsConfig>,
    /// Clips and snapshots of events (off unless given).
    #[serde(default)]
    pub clips: Option<ClipsConfig>,
    /// The cameras.
    #[serde(default, rename = "camera")]
    pub cameras: Vec<CameraConfig>,
}

fn default_stride() -> usize {
    16
}
fn default_lookahead() -> usize {
    2
}

impl WatchConfig {
    /// Reads and checks a TOML file; relative paths in it are taken from the file's folder.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| WatchError::Config(format!("{}: {e}", path.display())))?;
        let mut cfg: WatchConfig = toml::from_str(&text)
            .map_err(|e| WatchError::Config(format!("{}: {e}", path.display())))?;
        let base = path.parent().unwrap_or(Path::new("."));
        let rebase = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        rebase(&mut cfg.clip_model);
        rebase(&mut cfg.wav2clip);
        if let Some(m) = cfg.model.as_mut() {
            rebase(m);
        }
        for c in &mut cfg.cameras {
            if let Some(m) = c.model.as_mut() {
                rebase(m);
            }
        }
        if let Some(c) = cfg.clips.as_mut() {
            rebase(&mut c.dir);
        }
        cfg.check()
            .map_err(|e| WatchError::Config(format!("{}: {e}", path.display())))?;
        Ok(cfg)
    }

    /// Checks what can be checked without loading anything.
    pub fn check(&self) -> Result<()> {
        if self.cameras.is_empty() {
            return Err(WatchError::Config(
                "no cameras: give a source or a [[camera]] table".into(),
            ));
        }
        if self.stride == 0 {
            return Err(WatchError::Config("stride must be at least 1".into()));
        }
        self.events.check().map_err(WatchError::Config)?;
        if let Some(c) = &self.clips {
            c.check()?;
        }
        let mut names = std::collections::BTreeSet::new();
        for c in &self.cameras {
            let ok = !c.name.is_empty()
                && c.name
                    .chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_');
            if !ok {
                return Err(WatchError::Config(format!(
                    "camera name `{}`: use letters, digits, `-` and `_` (it becomes an MQTT topic level)",
                    c.name
                )));
            }
            if !names.insert(&c.name) {
                return Err(WatchError::Config(format!(
                    "two cameras are named `{}`",
                    c.name
                )));
            }
            if c.model.is_none() && self.model.is_none() {
                return Err(WatchError::Config(format!(
                    "camera `{}` has no model: set `model` for it or for the whole file",
                    c.name
                )));
            }
            if let Some(v) = c.speed {
                if !(v.is_finite() && (0.01..=1000.0).contains(&v)) {
                    return Err(WatchError::Config(format!(
                        "camera `{}`: speed must be between 0.01 and 1000, not {v}",
                        c.name
                    )));
                }
            }
            c.events
                .apply(self.events)
                .check()
                .map_err(|e| WatchError::Config(format!("camera `{}`: {e}", c.name)))?;
        }
        Ok(())
    }

    /// The model of `camera`.
    pub fn model_of<'a>(&'a self, camera: &'a CameraConfig) -> &'a Path {
        camera
            .model
            .as_deref()
            .or(self.model.as_deref())
            .expect("checked by WatchConfig::check")
    }
}

/// A camera source as the API shows it: the password (or, without one, the user) of a URL replaced by `***`, and
/// the values of query parameters that look like secrets (`password`, `token`, `key`, `secret`, `auth`, `sig…`)
/// too.
pub fn redact_source(source: &str) -> String {
    let Some(scheme_end) = source.find("://") else {
        return source.to_string();
    };
    let rest_start = scheme_end + 3;
    let authority_end = source[rest_start..]
        .find(['/', '?', '#'])
        .map_or(source.len(), |i| rest_start + i);
    let authority = &source[rest_start..authority_end];
    let mut out = source[..rest_start].to_string();
    match authority.rfind('@') {
        Some(at) => {
            let creds = &authority[..at];
            match creds.find(':') {
                Some(c) => out.push_str(&format!("{}:***", &creds[..c])),
                None => out.push_str("***"),
            }
            out.push_str(&authority[at..]);
        }
        None => out.push_str(authority),
    }
    let tail = &source[authority_end..];
    let (before_query, query_and_more) = match tail.find('?') {
        Some(q) => (&tail[..q], Some(&tail[q + 1..])),
        None => (tail, None),
    };
    out.push_str(before_query);
    if let Some(qm) = query_and_more {
        let (query, fragment) = match qm.find('#') {
            Some(h) => (&qm[..h], &qm[h..]),
            None => (qm, ""),
        };
        let secretive = [
            "pass",
            "pwd",
            "token",
            "key",
            "secret",
            "auth",
            "sig",
            "credential",
        ];
        let parts: Vec<String> = query
            .split('&')
            .map(|p| match p.split_once('=') {
                Some((k, _)) if secretive.iter().any(|s| k.to_ascii_lowercase().contains(s)) => {
                    format!("{k}=***")
                }
                _ => p.to_string(),
            })
            .collect();
        out.push('?');
        out.push_str(&parts.join("&"));
        out.push_str(fragment);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_lose_their_credentials() {
        assert_eq!(
            redact_source("rtsp://admin:hunter2@10.0.0.5:554/stream1"),
            "rtsp://admin:***@10.0.0.5:554/stream1"
        );
        assert_eq!(redact_source("rtsp://tok@cam/x"), "rtsp://***@cam/x");
        assert_eq!(
            redact_source("https://cam/live.m3u8?user=a&password=b&token=c#f"),
            "https://cam/live.m3u8?user=a&password=***&token=***#f"
        );
        assert_eq!(redact_source("/dev/video0"), "/dev/video0");
        assert_eq!(redact_source("/tmp/a@b.webm"), "/tmp/a@b.webm");
        assert_eq!(redact_source("http://host/path@x"), "http://host/path@x");
        // errors and log lines that quote the source lose the credentials too
        let cam: CameraConfig =
            toml::from_str("name = \"gate\"\nsource = \"rtsp://admin:hunter2@10.0.0.5/s\"")
                .unwrap();
        assert_eq!(
            cam.redact("rtsp://admin:hunter2@10.0.0.5/s: Connection refused"),
            "rtsp://admin:***@10.0.0.5/s: Connection refused"
        );
    }

    #[test]
    fn parses_the_documented_example_and_checks_it() {
        let doc = include_str!("config.rs");
        let example: String = doc
            .lines()
            .skip_while(|l| !l.starts_with("//! ```toml"))
            .skip(1)
            .take_while(|l| !l.starts_with("//! ```"))
            .map(|l| l.trim_start_matches("//!").trim_start().to_string() + "\n")
            .collect();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cameras.toml");
        std::fs::write(&path, &example).unwrap();
        let cfg = WatchConfig::from_file(&path).unwrap();
        assert_eq!(cfg.cameras.len(), 2);
        assert_eq!(cfg.lookahead, 2);
        assert_eq!(
            cfg.clip_model,
            dir.path().join("models/clip-vit-base-patch16")
        );
        let yard = cfg.cameras[1].events.apply(cfg.events);
        assert_eq!((yard.on, yard.off), (0.7, 0.4));
        assert_eq!(cfg.outputs.webhooks.len(), 1);
        assert_eq!(cfg.outputs.mqtt.as_ref().unwrap().port, 1883);
        // errors name the file and the problem
        std::fs::write(&path, example.replace("name = \"yard\"", "name = \"gate\"")).unwrap();
        let e = WatchConfig::from_file(&path).unwrap_err().to_string();
        assert!(
            e.contains("cameras.toml") && e.contains("two cameras are named `gate`"),
            "{e}"
        );
        std::fs::write(&path, example.replace("lookahead", "look_ahead")).unwrap();
        let e = WatchConfig::from_file(&path).unwrap_err().to_string();
        assert!(e.contains("look_ahead"), "unknown keys are errors: {e}");
    }

    #[test]
    fn the_reference_in_docs_watch_md_parses() {
        let doc = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/watch.md"));
        let section = doc.split("## `cameras.toml`").nth(1).expect("the section");
        let block = section
            .split("```toml\n")
            .nth(1)
            .and_then(|b| b.split("```").next())
            .expect("a toml block");
        let cfg: WatchConfig = toml::from_str(block).unwrap();
        cfg.check().unwrap();
        assert_eq!(cfg.cameras.len(), 2);
        assert!(cfg.cameras[1].loop_file && cfg.cameras[1].realtime);
        assert_eq!(cfg.metrics.unwrap().listen.port(), 9464);
        assert_eq!(cfg.outputs.webhooks[0].attempts, 5);
    }

    #[test]
    fn speed_sets_the_pace_of_a_file_and_is_bounded() {
        let doc = |extra: &str| {
            format!("model = \"m.json\"\nclip_model = \"c\"\nwav2clip = \"w\"\n[[camera]]\nname = \"a\"\nsource = \"f.mp4\"\n{extra}")
        };
        let pace = |extra: &str| {
            let cfg: WatchConfig = toml::from_str(&doc(extra)).unwrap();
            cfg.check().map(|_| cfg.cameras[0].pace())
        };
        assert_eq!(pace("").unwrap(), None, "as fast as it can be scored");
        assert_eq!(pace("realtime = true").unwrap(), Some(1.0));
        assert_eq!(pace("speed = 8.0").unwrap(), Some(8.0));
        for bad in ["speed = 0.0", "speed = -1.0", "speed = nan", "speed = 1e9"] {
            let e = pace(bad).unwrap_err().to_string();
            assert!(
                e.contains("camera `a`: speed must be between"),
                "{bad}: {e}"
            );
        }
    }
}
