//! avad-watch: `avad watch` as a library — camera streams scored as they play, events out to JSON lines, MQTT and
//! webhooks.
//!
//! - [`config`]: `cameras.toml` ([`WatchConfig`]).
//! - [`camera`]: one camera's loop: connect, decode, encode, score live ([`avad_infer::online`]), reconnect.
//! - [`audio`]: the live cut of each snippet's audio window (the same windows as `avad detect`).
//! - [`events`]: events with hysteresis, `new` / `update` / `end` messages (with the event's clip and snapshot).
//! - [`outputs`]: JSON lines, MQTT, signed webhooks, each behind a bounded queue.
//! - [`metrics`]: Prometheus metrics and health over HTTP (loopback, bearer token).
//!
//! User documentation: docs/watch.md.

#![warn(missing_docs)]

pub mod audio;
pub mod camera;
pub mod config;
pub mod error;
pub mod events;
pub mod metrics;
pub mod outputs;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use avad_infer::ModelBundle;
use avad_pipeline::Encoders;
use burn::prelude::*;

pub use camera::{Camera, Shared};
pub use config::{CameraConfig, ClipsConfig, WatchConfig};
pub use error::{Result, WatchError};
pub use events::{EventMessage, EventRules, EventState, EventTracker, MessageKind};
pub use metrics::{CameraStats, Metrics};
pub use outputs::{Dispatcher, JsonLines, Mqtt, Output, ScoreLine, Webhook};

/// How long shutdown may take after SIGINT / SIGTERM (the cameras stop within a snippet, then the outputs get the
/// rest of this).
pub const SHUTDOWN_DEADLINE: Duration = Duration::from_millis(4500);
/// How long the outputs may take to deliver what they hold when every source has ended by itself.
pub const DRAIN_DEADLINE: Duration = Duration::from_secs(30);

/// Builds the outputs `cfg.outputs` names, counting into `metrics`.
pub fn build_outputs(cfg: &WatchConfig, metrics: &Metrics) -> Result<Dispatcher> {
    build_outputs_with(cfg, metrics, Vec::new())
}

/// [`build_outputs`] plus `extra` outputs of the caller's own (`avad serve --watch` adds the one that stores and
/// streams events), each on its own thread behind its own queue like the others.
pub fn build_outputs_with(
    cfg: &WatchConfig,
    metrics: &Metrics,
    extra: Vec<Box<dyn Output>>,
) -> Result<Dispatcher> {
    let o = &cfg.outputs;
    let mut outputs: Vec<Box<dyn Output>> = extra;
    if let Some(path) = &o.jsonl {
        outputs.push(Box::new(JsonLines::open(path, o.scores)?));
    }
    if let Some(m) = &o.mqtt {
        outputs.push(Box::new(Mqtt::connect(m.clone())?));
    }
    for w in &o.webhooks {
        outputs.push(Box::new(Webhook::new(w.clone())?));
    }
    if outputs.is_empty() {
        tracing::warn!("no outputs configured: events are only logged");
    }
    Dispatcher::new(outputs, o.queue, metrics)
}

/// Loads each model named by the cameras once.
pub fn load_models<B: Backend>(
    cfg: &WatchConfig,
    device: &B::Device,
) -> Result<BTreeMap<PathBuf, ModelBundle<B>>> {
    let mut models = BTreeMap::new();
    for c in &cfg.cameras {
        let path = cfg.model_of(c).to_path_buf();
        if let std::collections::btree_map::Entry::Vacant(slot) = models.entry(path) {
            let bundle = ModelBundle::<B>::load(slot.key(), device)?;
            slot.insert(bundle);
        }
    }
    Ok(models)
}

/// Runs every camera until each one's source ends for good (files without `loop`) or `stop` is set; then ends
/// open events, flushes the outputs and returns within [`SHUTDOWN_DEADLINE`] of the stop (or, when the sources
/// ended by themselves, once the outputs have delivered everything or [`DRAIN_DEADLINE`] has passed).
pub fn run_watch<B: Backend>(
    cfg: &WatchConfig,
    encoders: &Encoders<B>,
    models: &BTreeMap<PathBuf, ModelBundle<B>>,
    outputs: Dispatcher,
    metrics: &Metrics,
    stop: &AtomicBool,
) -> Result<Vec<(String, std::sync::Arc<CameraStats>)>> {
    cfg.check()?;
    for c in &cfg.cameras {
        let path = cfg.model_of(c);
        for m in &models[path].members {
            if m.predictor.visual_width != encoders.visual_width()
                && m.role != avad_infer::Role::AudioStudent
            {
                return Err(WatchError::Config(format!(
                    "camera {}: the model {} expects {}-d visual features, the CLIP model gives {}-d",
                    c.name,
                    path.display(),
                    m.predictor.visual_width,
                    encoders.visual_width()
                )));
            }
        }
    }
    let shared = Shared {
        encoders,
        outputs: &outputs,
        stop,
        stride: cfg.stride,
        live_window: cfg.live_window,
        lookahead: cfg.lookahead,
        reconnect: cfg.reconnect,
        clips: cfg.clips.clone(),
    };
    let mut cameras: Vec<Camera<'_, B>> = cfg
        .cameras
        .iter()
        .map(|c| {
            let bundle = &models[cfg.model_of(c)];
            let stats = std::sync::Arc::new(metrics.camera(&c.name));
            Camera::new(c.clone(), bundle, c.events.apply(cfg.events), stats)
        })
        .collect();
    let stats: Vec<_> = cameras
        .iter()
        .map(|c| (c.name().to_string(), std::sync::Arc::clone(&c.stats)))
        .collect();
    std::thread::scope(|scope| {
        for cam in cameras.iter_mut() {
            let shared = &shared;
            let name = format!("avad-cam-{}", cam.name());
            let spawned = std::thread::Builder::new()
                .name(name)
                .spawn_scoped(scope, move || cam.run(shared));
            if let Err(e) = spawned {
                tracing::error!("cannot start a camera thread: {e}");
                stop.store(true, Ordering::Relaxed);
            }
        }
    });
    // every camera has returned: their open events were ended by their own loops
    let ended = Instant::now();
    let mut stopped_at = stop.load(Ordering::Relaxed).then_some(ended);
    outputs.shutdown(|| {
        if stopped_at.is_none() && stop.load(Ordering::Relaxed) {
            stopped_at = Some(Instant::now());
        }
        match stopped_at {
            Some(t) => t.elapsed() >= SHUTDOWN_DEADLINE.saturating_sub(Duration::from_millis(500)),
            None => ended.elapsed() >= DRAIN_DEADLINE,
        }
    });
    let failed: Vec<String> = stats
        .iter()
        .filter_map(|(name, s)| {
            let e = s.error.lock().ok()?.clone()?;
            Some(format!("camera {name}: {e}"))
        })
        .collect();
    if !failed.is_empty() {
        return Err(WatchError::Config(failed.join("; ")));
    }
    Ok(stats)
}
