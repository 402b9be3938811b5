//! The worker loop: claim a job with a lease, renew the lease (and record progress) while the detector runs, write
//! the report atomically, and mark the job done or failed only while the lease is still this worker's.

use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::runtime::Handle;

use crate::db::{Db, Job};
use crate::detector::Detector;
use crate::storage::Storage;

/// How a worker takes and holds jobs.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// This worker's name in `lease_owner` (unique per process).
    pub owner: String,
    /// How long a lease lasts without renewal; a dead worker's job is taken again after it.
    pub lease: Duration,
    /// How often to look for work when the queue is empty.
    pub poll: Duration,
    /// Claims after which a job whose worker keeps dying is failed instead of retried.
    pub max_attempts: i64,
}

/// The job a worker is running now (so a shutdown can hand it back to the queue).
pub type CurrentJob = Arc<Mutex<Option<String>>>;

/// Runs jobs until `stop` is set, on the calling thread (the detector's models never cross threads); database
/// calls run on `rt`.
pub fn run(
    rt: &Handle,
    db: &Db,
    storage: &Storage,
    detector: &dyn Detector,
    cfg: &WorkerConfig,
    current: &CurrentJob,
    stop: &AtomicBool,
) {
    let lease_ms = cfg.lease.as_millis() as i64;
    while !stop.load(Ordering::SeqCst) {
        if let Err(e) = rt.block_on(db.fail_exhausted(cfg.max_attempts)) {
            tracing::warn!("checking for exhausted jobs: {e}");
        }
        let job = match rt.block_on(db.claim(&cfg.owner, lease_ms, cfg.max_attempts)) {
            Ok(Some(job)) => job,
            Ok(None) => {
                sleep_unless_stopped(cfg.poll, stop);
                continue;
            }
            Err(e) => {
                tracing::warn!("claiming a job: {e}");
                sleep_unless_stopped(cfg.poll, stop);
                continue;
            }
        };
        *current.lock().unwrap_or_else(|e| e.into_inner()) = Some(job.id.clone());
        run_job(rt, db, storage, detector, cfg, &job);
        *current.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
}

fn sleep_unless_stopped(d: Duration, stop: &AtomicBool) {
    let step = Duration::from_millis(50);
    let mut left = d;
    while !left.is_zero() && !stop.load(Ordering::SeqCst) {
        let s = left.min(step);
        std::thread::sleep(s);
        left -= s;
    }
}

/// Runs one claimed job to its end.
fn run_job(
    rt: &Handle,
    db: &Db,
    storage: &Storage,
    detector: &dyn Detector,
    cfg: &WorkerConfig,
    job: &Job,
) {
    tracing::info!("job {}: attempt {}", job.id, job.attempts);
    let lease_ms = cfg.lease.as_millis() as i64;
    let progress = Arc::new(AtomicU64::new(0f64.to_bits()));
    let renewer = {
        let (db, id, owner, progress) = (
            db.clone(),
            job.id.clone(),
            cfg.owner.clone(),
            progress.clone(),
        );
        let every = (cfg.lease / 3).clamp(Duration::from_millis(100), Duration::from_secs(2));
        rt.spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.tick().await;
            loop {
                tick.tick().await;
                let p = f64::from_bits(progress.load(Ordering::Relaxed));
                match db.renew(&id, &owner, lease_ms, p).await {
                    Ok(true) => {}
                    Ok(false) => {
                        tracing::warn!("job {id}: lease lost (expired and taken, or cancelled)");
                        return;
                    }
                    Err(e) => tracing::warn!("job {id}: renewing the lease: {e}"),
                }
            }
        })
    };
    let video = storage.upload(&job.id);
    let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| {
        detector.detect(&video, &mut |p| {
            progress.store(p.to_bits(), Ordering::Relaxed)
        })
    }));
    renewer.abort();
    let result = match outcome {
        Ok(Ok(mut report)) => {
            // The report names the upload by the client's file name, not by its place on the server.
            report.video = job.file_name.clone();
            write_report(storage, job, &report)
        }
        Ok(Err(e)) => Err(describe_error(&e, &video, &job.file_name)),
        Err(panic) => {
            let what = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            Err(format!("internal error while scoring the video: {what}"))
        }
    };
    match result {
        Ok(base) => match rt.block_on(db.complete(&job.id, &cfg.owner, &base)) {
            Ok(true) => tracing::info!("job {}: done", job.id),
            Ok(false) => {
                tracing::warn!(
                    "job {}: finished after losing its lease; result dropped",
                    job.id
                );
                storage.remove_results(&base);
            }
            Err(e) => tracing::warn!("job {}: marking it done: {e}", job.id),
        },
        Err(msg) => {
            tracing::warn!("job {}: failed: {msg}", job.id);
            if let Err(e) = rt.block_on(db.fail(&job.id, &cfg.owner, &msg)) {
                tracing::warn!("job {}: marking it failed: {e}", job.id);
            }
        }
    }
}

/// Writes the JSON, CSV and HTML report of `job`, each atomically; returns their common path (relative, no
/// extension). When one cannot be written (a full disk) none is left behind.
fn write_report(
    storage: &Storage,
    job: &Job,
    report: &avad_pipeline::DetectReport,
) -> Result<String, String> {
    let base = Storage::result_base(&job.id, job.attempts);
    let write = |ext: &str, bytes: &[u8]| {
        avad_core::files::write_atomic(&storage.path(&format!("{base}.{ext}")), bytes)
            .map_err(|e| format!("cannot write the report: {e}"))
    };
    let all = write("json", report.to_json().as_bytes())
        .and_then(|_| write("csv", report.to_csv().as_bytes()))
        .and_then(|_| write("html", avad_pipeline::render_html(report).as_bytes()));
    if let Err(e) = all {
        storage.remove_results(&base);
        return Err(e);
    }
    Ok(base)
}

/// The error of a failed detection, with the upload's path on the server replaced by the client's file name.
fn describe_error(e: &anyhow::Error, video: &Path, file_name: &str) -> String {
    format!("{e:#}").replace(
        &video.display().to_string(),
        &format!("upload {file_name:?}"),
    )
}
