//! avad-serve: `avad serve`, an HTTP service that runs `avad detect` on uploaded videos.
//!
//! - [`db`]: jobs and tokens in SQLite (the default, WAL) or PostgreSQL, one code path (sqlx `Any`), embedded
//!   migrations, leases that expire so a dead worker's job is taken again.
//! - [`token`]: scopes, random tokens, hashes. [`ratelimit`]: failed token checks per client address.
//! - [`storage`]: the uploads and reports folder; [`http`]: the API and its OpenAPI document; [`media`]: videos
//!   with byte ranges and signed media links; [`ui`]: the web UI's embedded files; [`detector`] and [`worker`]: the
//!   jobs; [`retention`]: the sweeper that removes old uploads and reports.
//!
//! [`cameras`]: `avad serve --watch`, the cameras of an `avad watch` configuration and their events.
//!
//! Routes, tokens and an example: `docs/serve.md`.

#![warn(missing_docs)]

pub mod cameras;
pub mod db;
pub mod detector;
pub mod http;
pub mod media;
pub mod ratelimit;
pub mod retention;
pub mod storage;
pub mod token;
pub mod ui;
pub mod worker;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

pub use db::{Db, Job, Status, TokenRow};
pub use detector::{Detector, PipelineDetector};
pub use token::Scope;

/// How `avad serve` runs.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// The storage folder (uploads, reports, and the SQLite database unless `database` says otherwise).
    pub storage: PathBuf,
    /// `sqlite://FILE` or `postgres://…`; `None`: `sqlite://<storage>/avad-serve.db`.
    pub database: Option<String>,
    /// Address of the HTTP API.
    pub listen: SocketAddr,
    /// Largest accepted upload, bytes.
    pub max_upload: u64,
    /// Run jobs only: no HTTP.
    pub worker_only: bool,
    /// Serve the API only: no worker (`avad serve --no-worker`; jobs are run by `--worker-only` processes sharing
    /// the database and the storage folder).
    pub no_worker: bool,
    /// How long a job's lease lasts without renewal.
    pub lease: Duration,
    /// Claims after which a job whose worker keeps dying fails.
    pub max_attempts: i64,
    /// Failed token checks per client address per `auth_window` before 429.
    pub auth_failures: u32,
    /// The window of `auth_failures`.
    pub auth_window: Duration,
    /// How often an idle worker looks for jobs.
    pub poll: Duration,
    /// How long finished jobs keep their uploads and reports, and how often the sweeper looks.
    pub retention: retention::Retention,
    /// Most bytes of uploads the storage folder may hold (`--max-storage`); `None`: the disk is the limit.
    pub max_storage: Option<u64>,
}

impl ServeConfig {
    /// The database URL in force.
    pub fn database_url(&self) -> String {
        database_url(&self.storage, self.database.as_deref())
    }
}

/// `database`, or the default SQLite file in `storage`.
pub fn database_url(storage: &Path, database: Option<&str>) -> String {
    match database {
        Some(d) => d.to_string(),
        None => format!("sqlite://{}", storage.join("avad-serve.db").display()),
    }
}

/// After SIGINT / SIGTERM, how long the watched cameras may take to stop (avad-watch ends their open events and its
/// outputs deliver within about 4.5 s of the stop).
pub const CAMERAS_STOP_WAIT: Duration = Duration::from_secs(7);
/// Then how long the database may take to store the event messages still queued.
pub const CAMERAS_STORE_WAIT: Duration = Duration::from_secs(3);

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?)
}

/// A name for this worker's leases: host, process and a random part.
fn worker_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "host".into());
    let tag = uuid::Uuid::new_v4().simple().to_string();
    format!("{host}-{}-{}", std::process::id(), &tag[..8])
}

/// Runs the server: removes stale partial uploads, opens (and migrates) the database, serves the API (unless
/// `worker_only`) and runs jobs with `detector` on the calling thread (unless `no_worker`) until SIGINT or
/// SIGTERM. Prints `READY http://ADDR` (or `READY worker`) on stdout once it takes requests. `detector` may be
/// `None` only with `no_worker` (an API process loads no models).
pub fn serve(cfg: &ServeConfig, detector: Option<&dyn Detector>) -> anyhow::Result<()> {
    serve_with_cameras(cfg, detector, None)
}

/// [`serve`], with the watched cameras of `avad serve --watch`: their event messages are stored and offered under
/// `/v1/cameras`, `/v1/events` and `/v1/events/stream` (the caller runs the watch with the hub's
/// [`cameras::CameraHub::stop_flag`], feeds the hub, and calls [`cameras::CameraHub::watch_ended`] once the watch has
/// returned). On SIGINT / SIGTERM the watch is stopped and the `end` messages of its open events are stored before
/// the process exits (at most [`CAMERAS_STOP_WAIT`] + [`CAMERAS_STORE_WAIT`]).
pub fn serve_with_cameras(
    cfg: &ServeConfig,
    detector: Option<&dyn Detector>,
    cameras: Option<cameras::CameraHub>,
) -> anyhow::Result<()> {
    if cfg.worker_only && cameras.is_some() {
        anyhow::bail!("--watch needs the HTTP API: it cannot go with --worker-only");
    }
    if cfg.worker_only && cfg.no_worker {
        anyhow::bail!("--worker-only and --no-worker leave nothing to run");
    }
    let detector = match (detector, cfg.no_worker) {
        (_, true) => None,
        (Some(d), false) => Some(d),
        (None, false) => anyhow::bail!("a worker needs a detector (the model flags)"),
    };
    let rt = runtime()?;
    let storage = storage::Storage::open(&cfg.storage).map_err(|e| {
        anyhow::anyhow!(
            "cannot use the storage folder {}: {e}",
            cfg.storage.display()
        )
    })?;
    let removed = storage.remove_stale_partials()?;
    if removed > 0 {
        tracing::info!("removed {removed} half-received uploads");
    }
    let db = rt.block_on(Db::connect(&cfg.database_url()))?;
    rt.spawn(retention::run(db.clone(), storage.clone(), cfg.retention));
    if let Some(hub) = &cameras {
        rt.spawn(cameras::store(hub.clone(), db.clone()));
    }
    let stop = Arc::new(AtomicBool::new(false));
    let current: worker::CurrentJob = Default::default();
    let wcfg = worker::WorkerConfig {
        owner: worker_name(),
        lease: cfg.lease,
        poll: cfg.poll,
        max_attempts: cfg.max_attempts,
    };
    {
        // SIGINT / SIGTERM: stop the watched cameras and store the `end` of their open events (bounded), hand the
        // running job back to the queue and leave (a partial upload is removed by the next start; the database is
        // consistent at every step). A second signal leaves at once.
        let (db, owner, current) = (db.clone(), wcfg.owner.clone(), current.clone());
        let hub = cameras.clone();
        rt.spawn(async move {
            wait_for_signal().await;
            if let Some(hub) = hub {
                tokio::spawn(async {
                    wait_for_signal().await;
                    tracing::warn!("a second signal: leaving now");
                    std::process::exit(130);
                });
                tracing::info!("stopping the cameras: ending open events and storing them");
                let done = hub.shutdown(CAMERAS_STOP_WAIT, CAMERAS_STORE_WAIT).await;
                if !done.watch_ended {
                    tracing::warn!(
                        "the cameras did not stop within {} s; their open events may have no stored end",
                        CAMERAS_STOP_WAIT.as_secs()
                    );
                } else if !done.stored {
                    tracing::warn!("not every event message reached the database in time");
                }
            }
            let job = current.lock().unwrap_or_else(|e| e.into_inner()).clone();
            if let Some(id) = job {
                if let Ok(true) = db.release(&id, &owner).await {
                    tracing::info!("job {id}: handed back to the queue");
                }
            }
            tracing::info!("stopping");
            std::process::exit(0);
        });
    }
    if cfg.worker_only {
        println!("READY worker");
    } else {
        let listener = rt
            .block_on(tokio::net::TcpListener::bind(cfg.listen))
            .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", cfg.listen))?;
        let addr = listener.local_addr()?;
        if !addr.ip().is_loopback() {
            tracing::warn!(
                "listening on {addr}, reachable from other machines: put it behind a TLS reverse proxy"
            );
        }
        let state = Arc::new(http::AppState {
            db: db.clone(),
            storage: storage.clone(),
            limiter: ratelimit::FailureLimiter::new(cfg.auth_failures, cfg.auth_window),
            max_upload: cfg.max_upload,
            retry_after_s: 2,
            counters: Default::default(),
            max_storage: cfg.max_storage,
            receiving: Default::default(),
            cameras: cameras.clone(),
        });
        let stop_http = stop.clone();
        let http_task = rt.spawn(async move {
            if let Err(e) = http::serve(listener, state, std::future::pending()).await {
                tracing::error!("HTTP server: {e}");
            }
            stop_http.store(true, Ordering::SeqCst);
        });
        if cfg.no_worker {
            tracing::info!(
                "listening on http://{addr} (API only: --worker-only processes run the jobs)"
            );
        } else {
            tracing::info!("listening on http://{addr}");
        }
        println!("READY http://{addr}");
        if detector.is_none() {
            // API only: wait for the server (a signal ends the process).
            let _ = rt.block_on(http_task);
            return Ok(());
        }
    }
    if let Some(detector) = detector {
        worker::run(rt.handle(), &db, &storage, detector, &wcfg, &current, &stop);
    }
    Ok(())
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Creates a token named `name` with `scope` in the database at `url`; returns its row and the secret, which
/// exists nowhere else (only its hash is stored).
pub fn token_create(url: &str, name: &str, scope: Scope) -> anyhow::Result<(TokenRow, String)> {
    let secret = token::generate();
    let row = runtime()?.block_on(async {
        let db = Db::connect(url).await?;
        anyhow::Ok(db.insert_token(name, scope, &token::hash(&secret)).await?)
    })?;
    Ok((row, secret))
}

/// Every token in the database at `url`.
pub fn token_list(url: &str) -> anyhow::Result<Vec<TokenRow>> {
    runtime()?.block_on(async { anyhow::Ok(Db::connect(url).await?.list_tokens().await?) })
}

/// Revokes the tokens with identifier or name `key` in the database at `url`; returns how many.
pub fn token_revoke(url: &str, key: &str) -> anyhow::Result<u64> {
    runtime()?.block_on(async { anyhow::Ok(Db::connect(url).await?.revoke_token(key).await?) })
}
