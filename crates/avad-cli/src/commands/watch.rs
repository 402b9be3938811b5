//! `avad watch`: score camera streams (or files played as streams) live and send events out.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::Context;
use avad_infer::ModelBundle;
use avad_pipeline::Encoders;
use avad_watch::config::{CameraConfig, EventOverrides, OutputsConfig};
use avad_watch::outputs::{MqttConfig, WebhookConfig};
use avad_watch::WatchConfig;

use super::extract::EngineArg;
use super::predict::LiveArgs;
use crate::backend::{run_inference, DeviceArgs, DeviceKind, InferCommand};

/// Printed after the options of `avad watch --help`.
const WATCH_HELP: &str = "\
Sources: rtsp:// (over TCP), http(s):// (HLS, MJPEG), /dev/videoN, - (MPEG-TS on stdin), or a file
(scored as fast as possible, or at its own pace with --realtime). NAME=SOURCE names a camera (default cam1, cam2…).

Each snippet (16 frames) is scored when K more have arrived (--lookahead K, default 2), by the model run on the
last W snippets (--live-window W, default the model's 256). `avad detect VIDEO --live-window W --lookahead K`
gives the same scores for a file. Events: score >= --on for --min-duration seconds starts one, >= --off keeps it,
--max-quiet seconds below --off end it. Messages: JSON lines {\"type\": \"new\"|\"update\"|\"end\", \"before\", \"after\"}
and, with --scores, {\"type\": \"score\", …} per snippet. MQTT topics: <prefix>/events, <prefix>/<camera>/<label>
ON|OFF, <prefix>/<camera>/score, <prefix>/available (last will: offline). Webhooks are signed as Standard Webhooks
specifies with the whsec_ secret in $AVAD_WEBHOOK_SECRET. --clips DIR: an MP4 clip (stream copy) and a JPEG of
the peak frame per event, named in the `end` message. SIGINT / SIGTERM end open events and exit.
Many cameras, per-camera settings: --config cameras.toml. See docs/watch.md.";

/// Arguments of `avad watch`.
#[derive(clap::Args, Debug)]
#[command(after_help = WATCH_HELP)]
pub struct Args {
    /// Sources to watch, `NAME=SOURCE` or `SOURCE` (see below). Added to the cameras of --config.
    pub sources: Vec<String>,
    /// A cameras.toml (docs/watch.md); flags given here override its settings.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Checkpoint or model bundle (teacher + visual student: sources without sound use the student).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// CLIP weights: a Hugging Face CLIPModel folder or an OpenAI-named safetensors file.
    #[arg(long)]
    pub clip_model: Option<PathBuf>,
    /// Wav2CLIP weights (`Wav2CLIP.pt` or safetensors with the same keys).
    #[arg(long)]
    pub wav2clip: Option<PathBuf>,
    /// Keep every N-th frame: one snippet per N frames (the stride the model was trained on; default 16).
    #[arg(long)]
    pub stride: Option<usize>,
    /// How the encoders compute (see `avad detect --help`).
    #[arg(long, value_enum, default_value_t = EngineArg::Auto)]
    pub engine: EngineArg,
    /// The live rule.
    #[command(flatten)]
    pub live: LiveArgs,
    /// Files given as sources: play them at their own pace, as a camera would deliver them.
    #[arg(long)]
    pub realtime: bool,
    /// Files given as sources: play them at X times their own pace (implies --realtime; e.g. 8 for a quick
    /// replay through the event rules). Latency is then counted from when each snippet is due.
    #[arg(long, value_name = "X")]
    pub speed: Option<f64>,
    /// Files given as sources: start again at the end.
    #[arg(long = "loop")]
    pub loop_file: bool,
    /// Write JSON lines here (`-` = stdout, the default when no other output is set).
    #[arg(long, value_name = "FILE|-")]
    pub jsonl: Option<String>,
    /// Also write every snippet's score to the JSON lines.
    #[arg(long)]
    pub scores: bool,
    /// Publish to an MQTT broker: mqtt://[user@]host[:port][/prefix] (password from $AVAD_MQTT_PASSWORD).
    #[arg(long, value_name = "URL")]
    pub mqtt: Option<String>,
    /// POST signed event messages to this URL (repeatable); the secret is read from $AVAD_WEBHOOK_SECRET.
    #[arg(long, value_name = "URL")]
    pub webhook: Vec<String>,
    /// Score that starts an event (default 0.6).
    #[arg(long)]
    pub on: Option<f32>,
    /// Score that keeps an event open (default 0.4).
    #[arg(long)]
    pub off: Option<f32>,
    /// Seconds the score must stay >= --on before an event starts (default 1).
    #[arg(long)]
    pub min_duration: Option<f64>,
    /// Seconds below --off that end an event (default 5).
    #[arg(long)]
    pub max_quiet: Option<f64>,
    /// Seconds after an event during which no new one starts (default 0).
    #[arg(long)]
    pub cooldown: Option<f64>,
    /// Write a clip (MP4 by stream copy, from --pre-roll before the event to --post-roll after it) and a JPEG
    /// of the top-scoring frame of each event into DIR/<camera>/<event id>.mp4|.jpg; the `end` message names them.
    #[arg(long, value_name = "DIR")]
    pub clips: Option<PathBuf>,
    /// Seconds of stream before an event's start in its clip (default 5).
    #[arg(long, value_name = "S", requires = "clips")]
    pub pre_roll: Option<f64>,
    /// Seconds of stream after an event's end in its clip (default 5; at most what has arrived when the event
    /// ends, about --max-quiet plus the scoring delay).
    #[arg(long, value_name = "S", requires = "clips")]
    pub post_roll: Option<f64>,
    /// Serve Prometheus metrics and /healthz here, e.g. 127.0.0.1:9464 (/metrics needs
    /// `Authorization: Bearer $AVAD_METRICS_TOKEN`).
    #[arg(long, value_name = "ADDR")]
    pub metrics: Option<std::net::SocketAddr>,
    /// Device, float type and CPU threads.
    #[command(flatten)]
    pub device: DeviceArgs,
}

impl Args {
    /// The watch configuration: --config's file (if any) with the flags applied and the sources added.
    pub fn config(&self) -> anyhow::Result<WatchConfig> {
        let mut cfg = match &self.config {
            Some(p) => WatchConfig::from_file(p)?,
            None => WatchConfig {
                clip_model: self
                    .clip_model
                    .clone()
                    .context("--clip-model is required (or give it in --config)")?,
                wav2clip: self
                    .wav2clip
                    .clone()
                    .context("--wav2clip is required (or give it in --config)")?,
                model: None,
                stride: 16,
                live_window: None,
                lookahead: 2,
                events: Default::default(),
                outputs: OutputsConfig::default(),
                reconnect: Default::default(),
                metrics: None,
                clips: None,
                cameras: Vec::new(),
            },
        };
        if let Some(p) = &self.clip_model {
            cfg.clip_model = p.clone();
        }
        if let Some(p) = &self.wav2clip {
            cfg.wav2clip = p.clone();
        }
        if let Some(m) = &self.model {
            cfg.model = Some(m.clone());
        }
        if let Some(s) = self.stride {
            cfg.stride = s;
        }
        if let Some(addr) = self.metrics {
            cfg.metrics = Some(avad_watch::metrics::MetricsConfig::new(addr));
        }
        if let Some(dir) = &self.clips {
            let c = cfg
                .clips
                .get_or_insert_with(|| avad_watch::ClipsConfig::new(dir.clone()));
            c.dir = dir.clone();
        }
        if let Some(c) = cfg.clips.as_mut() {
            c.pre_roll_s = self.pre_roll.unwrap_or(c.pre_roll_s);
            c.post_roll_s = self.post_roll.unwrap_or(c.post_roll_s);
        }
        if let Some(w) = self.live.live_window {
            cfg.live_window = Some(w);
        }
        if let Some(k) = self.live.lookahead {
            cfg.lookahead = k;
        }
        cfg.events = EventOverrides {
            on: self.on,
            off: self.off,
            min_duration_s: self.min_duration,
            max_quiet_s: self.max_quiet,
            cooldown_s: self.cooldown,
        }
        .apply(cfg.events);
        let o = &mut cfg.outputs;
        if let Some(j) = &self.jsonl {
            o.jsonl = Some(j.clone());
        }
        o.scores |= self.scores;
        if let Some(url) = &self.mqtt {
            let mut m = MqttConfig::from_url(url)?;
            if m.username.is_some() {
                m.password_env = Some("AVAD_MQTT_PASSWORD".into());
            }
            o.mqtt = Some(m);
        }
        o.webhooks
            .extend(self.webhook.iter().map(|u| WebhookConfig::new(u)));
        if o.jsonl.is_none() && o.mqtt.is_none() && o.webhooks.is_empty() {
            o.jsonl = Some("-".into());
        }
        for s in &self.sources {
            let (name, source) = match s.split_once('=') {
                Some((n, src)) if !n.contains('/') && !n.contains(':') => {
                    (n.to_string(), src.to_string())
                }
                _ => (format!("cam{}", cfg.cameras.len() + 1), s.clone()),
            };
            cfg.cameras.push(CameraConfig {
                name,
                source,
                model: None,
                realtime: self.realtime,
                speed: self.speed,
                loop_file: self.loop_file,
                events: EventOverrides::default(),
            });
        }
        cfg.check()?;
        Ok(cfg)
    }
}

/// Runs `avad watch`.
pub fn run(args: Args) -> anyhow::Result<()> {
    args.config()?; // configuration errors before anything loads
    run_inference(&args.device, &args)
}

/// A watch configuration's models, by checkpoint path (`avad_watch::load_models`).
pub(crate) type WatchModels<B> = BTreeMap<PathBuf, ModelBundle<B>>;

/// The models of a watch configuration, with `engine` for their prediction, and the encoders it names, on `device`
/// (of kind `kind`): what `avad watch` and `avad serve --watch` run the cameras with.
pub(crate) fn load_watch_models<B: burn::tensor::backend::Backend>(
    cfg: &WatchConfig,
    engine: EngineArg,
    device: &B::Device,
    kind: DeviceKind,
) -> anyhow::Result<(WatchModels<B>, Encoders<B>)> {
    let mut models = avad_watch::load_models::<B>(cfg, device)?;
    for bundle in models.values_mut() {
        bundle.set_engine(engine.model_engine())?;
    }
    let encoders = Encoders::<B>::load(
        &cfg.clip_model,
        &cfg.wav2clip,
        device,
        engine.encoder_engine(kind)?,
    )?;
    Ok((models, encoders))
}

impl InferCommand for Args {
    fn run_on<B: burn::tensor::backend::Backend>(&self, device: &B::Device) -> anyhow::Result<()> {
        let cfg = self.config()?;
        let stop = Arc::new(AtomicBool::new(false));
        {
            let stop = Arc::clone(&stop);
            ctrlc::set_handler(move || {
                if stop.swap(true, Ordering::Relaxed) {
                    std::process::exit(130); // a second signal: leave now
                }
                tracing::info!("stopping: ending open events and flushing outputs");
            })
            .context("installing the SIGINT/SIGTERM handler")?;
        }
        let (models, encoders) =
            load_watch_models::<B>(&cfg, self.engine, device, self.device.device)?;
        let metrics = Arc::new(avad_watch::Metrics::new());
        let _server = match &cfg.metrics {
            Some(m) => Some(avad_watch::metrics::serve(m, Arc::clone(&metrics))?),
            None => None,
        };
        let outputs = avad_watch::build_outputs(&cfg, &metrics)?;
        let out_stats = outputs.stats();
        tracing::info!(
            "watching {} camera(s): {}",
            cfg.cameras.len(),
            cfg.cameras
                .iter()
                .map(|c| format!("{}={}", c.name, c.source))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let stats = avad_watch::run_watch::<B>(&cfg, &encoders, &models, outputs, &metrics, &stop)?;
        for (name, s) in stats {
            tracing::info!(
                "camera {name}: {} snippets scored, {} dropped, {} events, {} reconnects",
                s.scored.get(),
                s.dropped.get(),
                s.events_started.get(),
                s.reconnects.get()
            );
        }
        for (name, s) in out_stats {
            tracing::info!(
                "output {name}: {} delivered, {} dropped, {} failed",
                s.delivered.get(),
                s.dropped.get(),
                s.failed.get()
            );
        }
        Ok(())
    }
}
