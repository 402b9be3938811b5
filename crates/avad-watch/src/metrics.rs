//! Prometheus metrics and health of a running watch, served over HTTP (axum on a small tokio runtime).
//!
//! - `GET /healthz`: `200 ok` (no credential: for load balancers and supervisors).
//! - `GET /metrics`: the Prometheus text format; needs `Authorization: Bearer <token>` (compared in constant time;
//!   the token comes from the environment variable `AVAD_METRICS_TOKEN` unless configured otherwise).
//!
//! The listener binds 127.0.0.1 unless told otherwise. Metrics (prefix `avad_`, base units):
//! `avad_snippets_total`, `avad_dropped_snippets_total`, `avad_reconnects_total` and
//! `avad_snippet_latency_seconds` (histogram: arrival of a snippet's last frame to its score) per `camera`;
//! `avad_events_total` per `camera` and `label`; `avad_last_frame_timestamp_seconds` per `camera` (Unix time);
//! `avad_output_messages_total` per `output` and `result` (`delivered`, `dropped`, `failed`).

use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use serde::{Deserialize, Serialize};

use crate::error::{Result, WatchError};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CameraLabels {
    camera: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EventLabels {
    camera: String,
    label: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutputLabels {
    output: String,
    result: String,
}

fn latency_histogram() -> Histogram {
    // 10 ms … ~41 s: a snippet's score normally comes after the lookahead (K · 0.5–0.7 s) plus compute
    Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(
        0.01, 2.0, 13,
    ))
}

/// Every metric of a watch (module docs). Cheap to clone handles out of: cameras and outputs hold their own.
pub struct Metrics {
    registry: Registry,
    snippets: Family<CameraLabels, Counter>,
    dropped: Family<CameraLabels, Counter>,
    reconnects: Family<CameraLabels, Counter>,
    latency: Family<CameraLabels, Histogram, fn() -> Histogram>,
    last_frame: Family<CameraLabels, Gauge<f64, AtomicU64>>,
    events: Family<EventLabels, Counter>,
    outputs: Family<OutputLabels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// An empty registry with every metric family registered.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("avad");
        let snippets = Family::<CameraLabels, Counter>::default();
        let dropped = Family::<CameraLabels, Counter>::default();
        let reconnects = Family::<CameraLabels, Counter>::default();
        let latency = Family::<CameraLabels, Histogram, fn() -> Histogram>::new_with_constructor(
            latency_histogram,
        );
        let last_frame = Family::<CameraLabels, Gauge<f64, AtomicU64>>::default();
        let events = Family::<EventLabels, Counter>::default();
        let outputs = Family::<OutputLabels, Counter>::default();
        registry.register("snippets", "Snippets scored", snippets.clone());
        registry.register(
            "dropped_snippets",
            "Snippets dropped because scoring fell behind a live source",
            dropped.clone(),
        );
        registry.register(
            "reconnects",
            "Connections to a source after the first",
            reconnects.clone(),
        );
        registry.register_with_unit(
            "snippet_latency",
            "Time from the arrival of a snippet's last frame to its score",
            prometheus_client::registry::Unit::Seconds,
            latency.clone(),
        );
        registry.register_with_unit(
            "last_frame_timestamp",
            "Unix time of the last decoded snippet",
            prometheus_client::registry::Unit::Seconds,
            last_frame.clone(),
        );
        registry.register("events", "Events started", events.clone());
        registry.register(
            "output_messages",
            "Messages per output: delivered, dropped (queue full) or failed (after retries)",
            outputs.clone(),
        );
        Self {
            registry,
            snippets,
            dropped,
            reconnects,
            latency,
            last_frame,
            events,
            outputs,
        }
    }

    /// The handles of one camera.
    pub fn camera(&self, camera: &str) -> CameraStats {
        let l = CameraLabels {
            camera: camera.to_string(),
        };
        CameraStats {
            camera: camera.to_string(),
            scored: self.snippets.get_or_create(&l).clone(),
            dropped: self.dropped.get_or_create(&l).clone(),
            reconnects: self.reconnects.get_or_create(&l).clone(),
            latency: self.latency.get_or_create(&l).clone(),
            last_frame: self.last_frame.get_or_create(&l).clone(),
            events: self.events.clone(),
            events_started: Counter::default(),
            error: Mutex::new(None),
        }
    }

    /// The handles of one output.
    pub fn output(&self, output: &str) -> OutputStats {
        let get = |result: &str| {
            self.outputs
                .get_or_create(&OutputLabels {
                    output: output.to_string(),
                    result: result.to_string(),
                })
                .clone()
        };
        OutputStats {
            delivered: get("delivered"),
            dropped: get("dropped"),
            failed: get("failed"),
        }
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut s = String::new();
        // writing into a String cannot fail
        let _ = prometheus_client::encoding::text::encode(&mut s, &self.registry);
        s
    }
}

/// Counters of one camera (handles into [`Metrics`]).
pub struct CameraStats {
    camera: String,
    /// Snippets scored.
    pub scored: Counter,
    /// Snippets dropped because scoring fell behind a live source.
    pub dropped: Counter,
    /// Connections after the first.
    pub reconnects: Counter,
    /// Arrival-to-score latency.
    pub latency: Histogram,
    /// Unix time of the last decoded snippet.
    pub last_frame: Gauge<f64, AtomicU64>,
    events: Family<EventLabels, Counter>,
    /// Events started (all labels).
    pub events_started: Counter,
    /// Why the camera stopped for good, when it was an error (a file that cannot be scored).
    pub error: Mutex<Option<String>>,
}

impl CameraStats {
    /// Counts an event of `label` that started.
    pub fn event_started(&self, label: &str) {
        self.events
            .get_or_create(&EventLabels {
                camera: self.camera.clone(),
                label: label.to_string(),
            })
            .inc();
        self.events_started.inc();
    }
}

/// Counters of one output (handles into [`Metrics`]).
#[derive(Clone, Debug, Default)]
pub struct OutputStats {
    /// Items delivered.
    pub delivered: Counter,
    /// Items dropped because the output's queue was full.
    pub dropped: Counter,
    /// Deliveries that failed (after retries).
    pub failed: Counter,
}

/// Where and how the metrics are served.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// Address to listen on (default 127.0.0.1:9464; another host only when given).
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// Environment variable with the bearer token `/metrics` requires.
    #[serde(default = "default_token_env")]
    pub token_env: String,
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 9464))
}
fn default_token_env() -> String {
    "AVAD_METRICS_TOKEN".into()
}

impl MetricsConfig {
    /// Listen on `listen` with the default token variable.
    pub fn new(listen: SocketAddr) -> Self {
        Self {
            listen,
            token_env: default_token_env(),
        }
    }
}

/// True when `given` equals `expected`, in time independent of where they differ.
fn constant_time_eq(given: &[u8], expected: &[u8]) -> bool {
    let mut diff = given.len() ^ expected.len();
    for (i, e) in expected.iter().enumerate() {
        diff |= usize::from(given.get(i).copied().unwrap_or(0) ^ e);
    }
    diff == 0
}

/// The running HTTP server; stops when dropped.
pub struct MetricsServer {
    /// The bound address (the port is chosen by the system when the configured one is 0).
    pub addr: SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Starts serving `metrics` as `cfg` says (module docs); fails when the token variable is unset or empty, or the
/// address cannot be bound.
pub fn serve(cfg: &MetricsConfig, metrics: Arc<Metrics>) -> Result<MetricsServer> {
    use axum::http::{header, HeaderMap, StatusCode};
    use axum::routing::get;
    let token = std::env::var(&cfg.token_env).unwrap_or_default();
    if token.trim().is_empty() {
        return Err(WatchError::Config(format!(
            "metrics on {}: set a bearer token in the environment variable {} (every route but /healthz needs it)",
            cfg.listen, cfg.token_env
        )));
    }
    let listener = std::net::TcpListener::bind(cfg.listen).map_err(|e| {
        WatchError::Config(format!("metrics: cannot listen on {}: {e}", cfg.listen))
    })?;
    listener
        .set_nonblocking(true)
        .map_err(|e| WatchError::Config(format!("metrics: {e}")))?;
    let addr = listener
        .local_addr()
        .map_err(|e| WatchError::Config(format!("metrics: {e}")))?;
    let expected = format!("Bearer {}", token.trim());
    let app = axum::Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route(
            "/metrics",
            get(move |headers: HeaderMap| {
                let metrics = Arc::clone(&metrics);
                let expected = expected.clone();
                async move {
                    let given = headers
                        .get(header::AUTHORIZATION)
                        .map(|v| v.as_bytes())
                        .unwrap_or_default();
                    if !constant_time_eq(given, expected.as_bytes()) {
                        return (
                            StatusCode::UNAUTHORIZED,
                            [(header::WWW_AUTHENTICATE, "Bearer")],
                            "a bearer token is required\n".to_string(),
                        );
                    }
                    (
                        StatusCode::OK,
                        [(
                            header::CONTENT_TYPE,
                            "application/openmetrics-text; version=1.0.0; charset=utf-8",
                        )],
                        metrics.render(),
                    )
                }
            }),
        );
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::Builder::new()
        .name("avad-metrics".into())
        .spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    tracing::error!("metrics: cannot start the runtime: {e}");
                    return;
                }
            };
            rt.block_on(async move {
                let listener = match tokio::net::TcpListener::from_std(listener) {
                    Ok(l) => l,
                    Err(e) => {
                        tracing::error!("metrics: {e}");
                        return;
                    }
                };
                let served = axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = rx.await;
                    })
                    .await;
                if let Err(e) = served {
                    tracing::error!("metrics server: {e}");
                }
            });
        })
        .map_err(|e| WatchError::Config(format!("metrics: cannot start the server thread: {e}")))?;
    tracing::info!(
        "metrics on http://{addr}/metrics (bearer token from ${})",
        cfg.token_env
    );
    Ok(MetricsServer {
        addr,
        shutdown: Some(tx),
        thread: Some(thread),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_named_metrics_with_base_units() {
        let m = Metrics::new();
        let cam = m.camera("gate");
        cam.scored.inc_by(3);
        cam.latency.observe(0.25);
        cam.event_started("fighting");
        m.output("mqtt").dropped.inc();
        let text = m.render();
        for needle in [
            "avad_snippets_total{camera=\"gate\"} 3",
            "avad_snippet_latency_seconds_count{camera=\"gate\"} 1",
            "avad_events_total{camera=\"gate\",label=\"fighting\"} 1",
            "avad_output_messages_total{output=\"mqtt\",result=\"dropped\"} 1",
            "avad_last_frame_timestamp_seconds{camera=\"gate\"}",
        ] {
            assert!(text.contains(needle), "{needle} missing from\n{text}");
        }
        assert!(constant_time_eq(b"Bearer x", b"Bearer x"));
        assert!(!constant_time_eq(b"Bearer y", b"Bearer x"));
        assert!(!constant_time_eq(b"Bearer x2", b"Bearer x"));
        assert!(!constant_time_eq(b"", b"Bearer x"));
    }

    #[test]
    fn the_metrics_table_listens_on_loopback_unless_told_otherwise() {
        let cfg: MetricsConfig = toml::from_str("").unwrap();
        assert!(cfg.listen.ip().is_loopback(), "{cfg:?}");
        assert_eq!(cfg.listen.port(), 9464);
        assert_eq!(cfg.token_env, "AVAD_METRICS_TOKEN");
        let cfg: MetricsConfig = toml::from_str("listen = \"0.0.0.0:9000\"").unwrap();
        assert!(cfg.listen.ip().is_unspecified());
    }
}
