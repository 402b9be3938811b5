//! `avad serve --watch cameras.toml`: the cameras of an `avad watch` configuration, watched in the same process.
//!
//! The watch itself (avad-watch) runs on its own threads; its output for the server is a [`CameraHub`]: each
//! event message given to [`CameraHub::event`] is broadcast at once to the `/v1/events/stream` clients (a
//! [`tokio::sync::broadcast`] channel: a slow client lags and is told how many items it missed, it never holds
//! anything up) and queued for the database ([`store`] writes it to the `camera_events` table); each score given to
//! [`CameraHub::score`] updates the camera's last score and is broadcast too. The hub is called from an avad-watch
//! output thread, which sits behind its own bounded queue: nothing here can stall scoring.
//!
//! Shutdown (SIGINT / SIGTERM, [`CameraHub::shutdown`]): the hub holds the watch's stop flag
//! ([`CameraHub::stop_flag`]); setting it makes avad-watch end each camera's open event and hand the `end` messages
//! to its outputs before `run_watch` returns, after which the caller says so ([`CameraHub::watch_ended`]); the hub
//! then waits until [`store`] has written everything queued before it, so the `end` rows are in the database before
//! the process exits. Every wait is bounded.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use tokio::sync::{broadcast, mpsc, oneshot, watch};

use crate::db::{now_ms, CameraEvent, Db};

/// How many items a stream client may fall behind before it lags (and is told so).
const LIVE_CAPACITY: usize = 256;
/// How many event messages may wait for the database.
const STORE_CAPACITY: usize = 1024;

/// One item of the live stream: the SSE event name (`new`, `update`, `end`, `score`) and its JSON data.
#[derive(Debug, Clone)]
pub struct LiveItem {
    /// The SSE event name.
    pub kind: String,
    /// The camera.
    pub camera: String,
    /// JSON text.
    pub data: String,
}

/// What the server knows of one camera.
#[derive(Debug, Clone, Default)]
pub struct CameraState {
    /// Name.
    pub name: String,
    /// Source with any credentials redacted.
    pub source: String,
    /// The latest snippet's anomaly score.
    pub last_score: Option<f64>,
    /// When it arrived, Unix ms.
    pub last_score_ms: Option<i64>,
    /// Event messages received since the start.
    pub events: u64,
}

/// What the database writer is given: a message to store, or a flush to answer once everything queued before it
/// is written.
#[derive(Debug)]
enum StoreItem {
    Event(CameraEvent),
    Flush(oneshot::Sender<()>),
}

/// Renders the watch's Prometheus metrics (avad-watch's `Metrics::render`).
type MetricsRender = Box<dyn Fn() -> String + Send + Sync>;

struct Inner {
    cameras: Mutex<Vec<CameraState>>,
    live: broadcast::Sender<LiveItem>,
    store_tx: mpsc::Sender<StoreItem>,
    store_rx: Mutex<Option<mpsc::Receiver<StoreItem>>>,
    /// The watch's stop flag.
    stop: Arc<AtomicBool>,
    /// `true` once the watch has returned (its outputs delivered what they held).
    ended: watch::Sender<bool>,
    metrics: OnceLock<MetricsRender>,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inner")
            .field("cameras", &self.cameras)
            .field("stop", &self.stop)
            .field("ended", &*self.ended.borrow())
            .field("metrics", &self.metrics.get().is_some())
            .finish_non_exhaustive()
    }
}

/// What [`CameraHub::shutdown`] got done in its time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shutdown {
    /// The watch returned (its open events were ended and handed to the outputs).
    pub watch_ended: bool,
    /// Every event message queued for the database was written.
    pub stored: bool,
}

/// The cameras' side of the server: their state, the live channel and the queue to the database.
#[derive(Debug, Clone)]
pub struct CameraHub {
    inner: Arc<Inner>,
}

impl CameraHub {
    /// A hub for the cameras `(name, source)`; the caller gives each source as the API may show it (avad-watch's
    /// `CameraConfig::shown_source`: no password, no secret-looking query values).
    pub fn new(cameras: impl IntoIterator<Item = (String, String)>) -> Self {
        let (live, _) = broadcast::channel(LIVE_CAPACITY);
        let (store_tx, store_rx) = mpsc::channel(STORE_CAPACITY);
        let cameras = cameras
            .into_iter()
            .map(|(name, source)| CameraState {
                name,
                source,
                ..Default::default()
            })
            .collect();
        Self {
            inner: Arc::new(Inner {
                cameras: Mutex::new(cameras),
                live,
                store_tx,
                store_rx: Mutex::new(Some(store_rx)),
                stop: Arc::new(AtomicBool::new(false)),
                ended: watch::Sender::new(false),
                metrics: OnceLock::new(),
            }),
        }
    }

    /// The watch's stop flag: the caller runs the watch with it (`avad_watch::run_watch`'s `stop`), and
    /// [`CameraHub::shutdown`] sets it.
    pub fn stop_flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.inner.stop)
    }

    /// Says that the watch has returned (call it once `run_watch` is back, whether it succeeded or not): every
    /// message it produced has been handed to the hub.
    pub fn watch_ended(&self) {
        self.inner.ended.send_replace(true);
    }

    /// Gives the hub the watch's metrics (e.g. `move || metrics.render()` over avad-watch's `Metrics`): they are
    /// added to the server's `/metrics`. Only the first call counts.
    pub fn set_metrics(&self, render: impl Fn() -> String + Send + Sync + 'static) {
        let _ = self.inner.metrics.set(Box::new(render));
    }

    /// The watch's metrics in the Prometheus text format (ending with `# EOF`), when [`CameraHub::set_metrics`] was
    /// called.
    pub fn metrics_text(&self) -> Option<String> {
        self.inner.metrics.get().map(|render| render())
    }

    /// Stops the watch and waits, at most `watch_wait`, until it has returned (avad-watch ends the open events and
    /// its outputs deliver their `end` messages to this hub), then, at most `store_wait`, until the database writer
    /// has stored every message queued so far. For SIGINT / SIGTERM: after it the process may exit without losing
    /// an `end`.
    pub async fn shutdown(&self, watch_wait: Duration, store_wait: Duration) -> Shutdown {
        self.inner.stop.store(true, Ordering::SeqCst);
        let mut ended = self.inner.ended.subscribe();
        let watch_ended = matches!(
            tokio::time::timeout(watch_wait, ended.wait_for(|e| *e)).await,
            Ok(Ok(_))
        );
        let deadline = Instant::now() + store_wait;
        let (tx, rx) = oneshot::channel();
        let stored =
            match tokio::time::timeout(store_wait, self.inner.store_tx.send(StoreItem::Flush(tx)))
                .await
            {
                Ok(Ok(())) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    matches!(tokio::time::timeout(left, rx).await, Ok(Ok(())))
                }
                _ => false,
            };
        Shutdown {
            watch_ended,
            stored,
        }
    }

    /// The cameras' states, in configuration order.
    pub fn cameras(&self) -> Vec<CameraState> {
        self.inner
            .cameras
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// A receiver of the live items from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<LiveItem> {
        self.inner.live.subscribe()
    }

    /// An event message (`{"type": "new"|"update"|"end", "before": …, "after": …}`) from a camera: broadcast and
    /// queued for the database. Blocks while the database queue is full, so call it from an output thread (never
    /// from async code).
    pub fn event(&self, message: &serde_json::Value) {
        let kind = message["type"].as_str().unwrap_or("update").to_string();
        let after = &message["after"];
        let text = |k: &str| after[k].as_str().unwrap_or_default().to_string();
        let camera = text("camera");
        let data = message.to_string();
        if let Ok(mut cams) = self.inner.cameras.lock() {
            if let Some(c) = cams.iter_mut().find(|c| c.name == camera) {
                c.events += 1;
            }
        }
        let _ = self.inner.live.send(LiveItem {
            kind: kind.clone(),
            camera: camera.clone(),
            data: data.clone(),
        });
        let row = CameraEvent {
            id: uuid::Uuid::now_v7().to_string(),
            camera,
            label: text("label"),
            kind,
            event_id: text("id"),
            received_ms: now_ms(),
            message: data,
        };
        if self
            .inner
            .store_tx
            .blocking_send(StoreItem::Event(row))
            .is_err()
        {
            tracing::warn!(
                "camera events: the database writer is gone; an event message was not stored"
            );
        }
    }

    /// A snippet's score line (`{"type": "score", "camera": …, "anomaly_score": …, …}`): the camera's last score, and
    /// broadcast.
    pub fn score(&self, line: &serde_json::Value) {
        let camera = line["camera"].as_str().unwrap_or_default().to_string();
        let score = line["anomaly_score"].as_f64();
        if let Ok(mut cams) = self.inner.cameras.lock() {
            if let Some(c) = cams.iter_mut().find(|c| c.name == camera) {
                c.last_score = score;
                c.last_score_ms = Some(now_ms());
            }
        }
        let _ = self.inner.live.send(LiveItem {
            kind: "score".into(),
            camera,
            data: line.to_string(),
        });
    }

    /// The database queue's receiving end (once: [`store`] takes it).
    fn take_store_rx(&self) -> Option<mpsc::Receiver<StoreItem>> {
        self.inner
            .store_rx
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
    }
}

/// Writes the hub's event messages to the database until the hub is gone (spawn it on the server's runtime).
pub async fn store(hub: CameraHub, db: Db) {
    let Some(mut rx) = hub.take_store_rx() else {
        return;
    };
    drop(hub);
    while let Some(item) = rx.recv().await {
        match item {
            StoreItem::Event(e) => {
                if let Err(err) = db.insert_camera_event(&e).await {
                    tracing::warn!("camera {}: storing an event message: {err}", e.camera);
                }
            }
            StoreItem::Flush(done) => {
                let _ = done.send(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_broadcast_and_queued() {
        let hub = CameraHub::new([("yard".to_string(), "a.webm".to_string())]);
        let mut live = hub.subscribe();
        let mut rx = hub.take_store_rx().unwrap();
        let msg = serde_json::json!({"type": "new", "before": {}, "after": {"camera": "yard", "label": "x", "id": "e1"}});
        hub.event(&msg);
        hub.score(&serde_json::json!({"type": "score", "camera": "yard", "anomaly_score": 0.5}));
        let Ok(StoreItem::Event(row)) = rx.try_recv() else {
            panic!("no event queued")
        };
        assert_eq!(
            (row.camera.as_str(), row.kind.as_str(), row.label.as_str()),
            ("yard", "new", "x")
        );
        assert_eq!(live.try_recv().unwrap().kind, "new");
        assert_eq!(live.try_recv().unwrap().kind, "score");
        assert_eq!(hub.cameras()[0].last_score, Some(0.5));
        assert_eq!(hub.cameras()[0].events, 1);
    }

    fn message(kind: &str) -> serde_json::Value {
        serde_json::json!({"type": kind, "before": {}, "after": {"camera": "yard", "label": "x", "id": "e1"}})
    }

    #[test]
    fn shutdown_stops_the_watch_and_returns_once_its_end_message_is_stored() {
        let dir = tempfile::tempdir().unwrap();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let db = rt
            .block_on(Db::connect(&format!(
                "sqlite://{}",
                dir.path().join("t.db").display()
            )))
            .unwrap();
        let hub = CameraHub::new([("yard".to_string(), "a.webm".to_string())]);
        rt.spawn(store(hub.clone(), db.clone()));
        // A stand-in for the watch: an open event until stopped, then its `end` (a while later), then it returns.
        let watch = {
            let (hub, stop) = (hub.clone(), hub.stop_flag());
            std::thread::spawn(move || {
                hub.event(&message("new"));
                while !stop.load(Ordering::SeqCst) {
                    std::thread::sleep(Duration::from_millis(5));
                }
                std::thread::sleep(Duration::from_millis(300));
                hub.event(&message("end"));
                hub.watch_ended();
            })
        };
        let done = rt.block_on(hub.shutdown(Duration::from_secs(10), Duration::from_secs(5)));
        assert_eq!(
            done,
            Shutdown {
                watch_ended: true,
                stored: true
            }
        );
        let rows = rt
            .block_on(db.list_camera_events(&Default::default(), 10))
            .unwrap();
        let kinds: Vec<&str> = rows.iter().map(|r| r.kind.as_str()).collect();
        assert_eq!(kinds, ["end", "new"], "newest first");
        watch.join().unwrap();

        // A watch that never returns: the wait is bounded, and what was queued is still stored.
        let hub = CameraHub::new([("yard".to_string(), "a.webm".to_string())]);
        rt.spawn(store(hub.clone(), db.clone()));
        let t = Instant::now();
        let done = rt.block_on(hub.shutdown(Duration::from_millis(200), Duration::from_secs(5)));
        assert_eq!(
            done,
            Shutdown {
                watch_ended: false,
                stored: true
            }
        );
        assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
        assert!(hub.stop_flag().load(Ordering::SeqCst));
    }

    #[test]
    fn the_watch_metrics_are_rendered_once_given() {
        let hub = CameraHub::new([("yard".to_string(), "a.webm".to_string())]);
        assert_eq!(hub.metrics_text(), None);
        hub.set_metrics(|| "avad_snippets_total{camera=\"yard\"} 3\n# EOF\n".to_string());
        assert!(hub
            .metrics_text()
            .unwrap()
            .starts_with("avad_snippets_total"));
    }
}
