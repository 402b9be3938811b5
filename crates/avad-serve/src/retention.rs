//! Retention: a sweeper that removes uploads (`--keep-uploads`) and reports (`--keep-results`) of finished jobs once
//! they are older than the retention time, and stored camera event messages (`--keep-events`, `avad serve --watch`)
//! older than theirs; and the durations those flags take.
//!
//! Each removal is two-phase, so it is atomic for readers and survives a crash: the job is first marked in the
//! database (upload `removing`; status `expired` with its report path kept), from when on no request opens the files
//! (the API answers `410 Gone`); then the files are deleted, and only then is the mark completed (upload `removed`;
//! report path cleared). A process that dies in between leaves a mark whose files the next sweep (by any process
//! sharing the database) deletes. Every process sweeps; the marking `UPDATE`s make that safe. Event messages have no
//! files: they are deleted by the time they arrived (`received_ms`, indexed), in batches.

use std::time::Duration;

use crate::db::{now_ms, Db};
use crate::storage::Storage;

/// How long finished jobs keep their files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Uploads of finished jobs are removed this long after the job finished (`None`: kept).
    pub keep_uploads: Option<Duration>,
    /// Reports of done jobs are removed (the job becomes `expired`) this long after it finished (`None`: kept).
    pub keep_results: Option<Duration>,
    /// Stored camera event messages are deleted this long after they arrived (`None`: kept).
    pub keep_events: Option<Duration>,
    /// Time between sweeps.
    pub every: Duration,
}

/// What one sweep removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Swept {
    /// Uploads deleted.
    pub uploads: usize,
    /// Jobs whose reports were deleted.
    pub results: usize,
    /// Camera event messages deleted.
    pub events: u64,
}

/// One sweep: marks what has expired, then deletes the files of every mark (this sweep's and any left by a crash).
pub async fn sweep(db: &Db, storage: &Storage, r: &Retention) -> sqlx::Result<Swept> {
    sweep_in_batches(db, storage, r, EVENT_BATCH).await
}

/// [`sweep`], deleting event messages `batch` at a time.
async fn sweep_in_batches(
    db: &Db,
    storage: &Storage,
    r: &Retention,
    batch: i64,
) -> sqlx::Result<Swept> {
    let now = now_ms();
    let mut swept = Swept::default();
    if let Some(keep) = r.keep_results {
        db.expire_results(cutoff(now, keep)).await?;
    }
    for (id, base) in db.expired_with_results().await? {
        storage.remove_results(&base);
        db.finish_expiry(&id).await?;
        swept.results += 1;
    }
    if let Some(keep) = r.keep_uploads {
        db.mark_uploads_for_removal(cutoff(now, keep)).await?;
    }
    for id in db.uploads_being_removed().await? {
        let _ = std::fs::remove_file(storage.upload(&id));
        db.upload_removed(&id).await?;
        swept.uploads += 1;
    }
    if let Some(keep) = r.keep_events {
        let cut = cutoff(now, keep);
        loop {
            let n = db.delete_camera_events_before(cut, batch).await?;
            swept.events += n;
            if n < batch as u64 {
                break;
            }
        }
    }
    Ok(swept)
}

/// Camera event messages deleted per statement (short transactions beside the writer of new ones).
const EVENT_BATCH: i64 = 5000;

/// `now_ms - keep`, saturating (a retention longer than the epoch removes nothing).
fn cutoff(now_ms: i64, keep: Duration) -> i64 {
    now_ms.saturating_sub(i64::try_from(keep.as_millis()).unwrap_or(i64::MAX))
}

/// Runs [`sweep`] every `r.every` until the process ends (does nothing when nothing is ever removed).
pub async fn run(db: Db, storage: Storage, r: Retention) {
    if r.keep_uploads.is_none() && r.keep_results.is_none() && r.keep_events.is_none() {
        return;
    }
    let mut tick = tokio::time::interval(r.every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match sweep(&db, &storage, &r).await {
            Ok(s) if s.uploads + s.results > 0 || s.events > 0 => tracing::info!(
                "retention: removed {} uploads, the reports of {} jobs and {} camera event messages",
                s.uploads,
                s.results,
                s.events
            ),
            Ok(_) => {}
            Err(e) => tracing::warn!("retention sweep: {e}"),
        }
    }
}

/// Parses a retention time: a whole number with a unit `s`, `m`, `h` or `d` (`90s`, `30m`, `24h`, `7d`; a bare
/// number is seconds), or `forever` (`None`: never removed).
pub fn parse_duration(s: &str) -> Result<Option<Duration>, String> {
    let t = s.trim();
    if t.eq_ignore_ascii_case("forever") {
        return Ok(None);
    }
    let (num, unit) = match t.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => (&t[..i], &t[i..]),
        None => (t, "s"),
    };
    let n: u64 = num
        .parse()
        .map_err(|_| format!("`{s}`: expected a number with s, m, h or d (`7d`), or `forever`"))?;
    let secs = match unit {
        "s" => Some(n),
        "m" => n.checked_mul(60),
        "h" => n.checked_mul(3600),
        "d" => n.checked_mul(86_400),
        _ => {
            return Err(format!(
                "`{s}`: the unit must be s, m, h or d (`7d`), or `forever`"
            ))
        }
    }
    .ok_or_else(|| format!("`{s}` is too long"))?;
    Ok(Some(Duration::from_secs(secs)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::Status;

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("90"), Ok(Some(Duration::from_secs(90))));
        assert_eq!(parse_duration("30m"), Ok(Some(Duration::from_secs(1800))));
        assert_eq!(parse_duration("24h"), Ok(Some(Duration::from_secs(86_400))));
        assert_eq!(parse_duration("7d"), Ok(Some(Duration::from_secs(604_800))));
        assert_eq!(parse_duration("forever"), Ok(None));
        for bad in ["", "d", "7w", "-1s", "1.5h", "7 d", "99999999999999999999d"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        // Longer than the epoch: nothing is ever old enough.
        let huge = parse_duration("100000000000d").unwrap().unwrap();
        assert!(cutoff(now_ms(), huge) < 0);
    }

    /// A temporary folder holding a storage folder and a SQLite database, and a runtime to use them on.
    fn test_store() -> (tempfile::TempDir, tokio::runtime::Runtime, Db, Storage) {
        let dir = tempfile::tempdir().unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let storage = Storage::open(&dir.path().join("s")).unwrap();
        let db = rt
            .block_on(Db::connect(&format!(
                "sqlite://{}",
                dir.path().join("t.db").display()
            )))
            .unwrap();
        (dir, rt, db, storage)
    }

    #[test]
    fn expired_files_are_removed_and_the_jobs_marked_and_a_crash_between_is_finished() {
        let (_dir, rt, db, storage) = test_store();
        rt.block_on(async {
            for id in ["done", "failed", "queued"] {
                db.insert_job(id, "a.mp4", 5).await.unwrap();
                std::fs::write(storage.upload(id), b"video").unwrap();
            }
            let base = Storage::result_base("done", 1);
            db.claim("W", 60_000, 3).await.unwrap().unwrap();
            for ext in ["json", "csv", "html"] {
                std::fs::write(storage.path(&format!("{base}.{ext}")), b"r").unwrap();
            }
            assert!(db.complete("done", "W", &base).await.unwrap());
            db.claim("W", 60_000, 3).await.unwrap().unwrap();
            assert!(db.fail("failed", "W", "bad").await.unwrap());
            assert_eq!(db.stored_upload_bytes().await.unwrap(), 15);
            // Not old enough yet: nothing happens.
            let keep = Retention {
                keep_uploads: Some(Duration::from_secs(3600)),
                keep_results: Some(Duration::from_secs(3600)),
                keep_events: None,
                every: Duration::from_secs(1),
            };
            assert_eq!(sweep(&db, &storage, &keep).await.unwrap(), Swept::default());
            // A crash after marking (step 1) and before deleting: the next sweep deletes and finishes.
            let now = now_ms() + 1;
            assert_eq!(db.expire_results(now).await.unwrap(), 1);
            assert_eq!(db.mark_uploads_for_removal(now).await.unwrap(), 2);
            let j = db.job("done").await.unwrap().unwrap();
            assert_eq!(j.status, Status::Expired);
            assert!(j.upload_gone && j.expired_ms.is_some());
            assert_eq!(
                sweep(&db, &storage, &keep).await.unwrap(),
                Swept {
                    uploads: 2,
                    results: 1,
                    events: 0
                }
            );
            let j = db.job("done").await.unwrap().unwrap();
            assert_eq!(
                (j.status, j.result_path.as_deref()),
                (Status::Expired, None)
            );
            assert!(j.upload_removed_ms.is_some());
            assert_eq!(
                db.job("failed").await.unwrap().unwrap().status,
                Status::Failed
            );
            let q = db.job("queued").await.unwrap().unwrap();
            assert!(!q.upload_gone, "an unfinished job keeps its upload");
            let left = |sub: &str| {
                let mut v: Vec<String> = std::fs::read_dir(storage.root().join(sub))
                    .unwrap()
                    .flatten()
                    .map(|e| e.file_name().to_string_lossy().to_string())
                    .collect();
                v.sort();
                v
            };
            assert_eq!(left("uploads"), ["queued"]);
            assert_eq!(left("results"), Vec::<String>::new());
            assert_eq!(db.stored_upload_bytes().await.unwrap(), 5);
            // Nothing more to do.
            assert_eq!(sweep(&db, &storage, &keep).await.unwrap(), Swept::default());
        });
    }

    #[test]
    fn camera_events_older_than_their_retention_are_deleted_and_newer_ones_kept() {
        use crate::db::CameraEvent;
        let (_dir, rt, db, storage) = test_store();
        rt.block_on(async {
            let now = now_ms();
            let hour = 3_600_000;
            // 3 days, 2 days, 1 hour, and now; plus 7 more of 5 days
            let ages = [3 * 24 * hour, 2 * 24 * hour, hour, 0];
            let mut n = 0;
            let mut insert = |age: i64| {
                n += 1;
                let e = CameraEvent {
                    id: format!("{:08}-{}", n, uuid::Uuid::now_v7()),
                    camera: "yard".into(),
                    label: "x".into(),
                    kind: "new".into(),
                    event_id: format!("e{n}"),
                    received_ms: now - age,
                    message: "{}".into(),
                };
                let db = db.clone();
                async move { db.insert_camera_event(&e).await.unwrap() }
            };
            for age in ages {
                insert(age).await;
            }
            for _ in 0..7 {
                insert(5 * 24 * hour).await;
            }
            let mut keep = Retention {
                keep_uploads: None,
                keep_results: None,
                keep_events: None,
                every: Duration::from_secs(1),
            };
            // `forever`: nothing goes
            assert_eq!(sweep(&db, &storage, &keep).await.unwrap(), Swept::default());
            keep.keep_events = Some(Duration::from_secs(24 * 3600));
            // in batches of 3: 9 old ones take 4 statements
            let s = sweep_in_batches(&db, &storage, &keep, 3).await.unwrap();
            assert_eq!(s.events, 2 + 7, "{s:?}");
            let left = db
                .list_camera_events(&Default::default(), 100)
                .await
                .unwrap();
            let mut ages: Vec<i64> = left.iter().map(|e| now - e.received_ms).collect();
            ages.sort();
            assert_eq!(ages, [0, hour]);
            assert_eq!(sweep(&db, &storage, &keep).await.unwrap(), Swept::default());
        });
    }
}
