//! `avad serve --watch cameras.toml`: the cameras of an `avad watch` configuration, watched in the same process.
//!
//! The watch itself (avad-watch) runs on its own threads; its output for the server is a [`CameraHub`]: each
//! event message given to [`CameraHub::event`] is broadcast at once to the `/v1/events/stream` clients (a
//! [`tokio::sync::broadcast`] channel: a slow client lags and is told how many items it missed, it never holds
//! anything up) and queued for the database ([`store`] writes it to the `camera_events` table); each score given to
//! [`CameraHub::score`] updates the camera's last score and is broadcast too. The hub is called from an avad-watch
//! output thread, which sits behind its own bounded queue: nothing here can stall scoring.

use std::sync::{Arc, Mutex};

use tokio::sync::{broadcast, mpsc};

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

#[derive(Debug)]
struct Inner {
    cameras: Mutex<Vec<CameraState>>,
    live: broadcast::Sender<LiveItem>,
    store_tx: mpsc::Sender<CameraEvent>,
    store_rx: Mutex<Option<mpsc::Receiver<CameraEvent>>>,
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
            }),
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
        if self.inner.store_tx.blocking_send(row).is_err() {
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
    fn take_store_rx(&self) -> Option<mpsc::Receiver<CameraEvent>> {
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
    while let Some(e) = rx.recv().await {
        if let Err(err) = db.insert_camera_event(&e).await {
            tracing::warn!("camera {}: storing an event message: {err}", e.camera);
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
        let row = rx.try_recv().unwrap();
        assert_eq!(
            (row.camera.as_str(), row.kind.as_str(), row.label.as_str()),
            ("yard", "new", "x")
        );
        assert_eq!(live.try_recv().unwrap().kind, "new");
        assert_eq!(live.try_recv().unwrap().kind, "score");
        assert_eq!(hub.cameras()[0].last_score, Some(0.5));
        assert_eq!(hub.cameras()[0].events, 1);
    }
}
