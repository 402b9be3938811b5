//! The state of `avad serve` in SQLite or PostgreSQL through sqlx's `Any` driver: every query is written once, with
//! `$N` placeholders both databases accept, and the embedded migrations create the same tables in both.
//!
//! Jobs move `queued → running → done | failed`, or to `cancelled` when deleted before they finish. A worker claims a
//! job with one atomic `UPDATE … WHERE status = 'queued' OR (running and lease expired)`, renews its lease while it
//! works, and can finish the job only while the lease is still its own, so no job completes twice.

use std::time::{SystemTime, UNIX_EPOCH};

use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Row};

use crate::token::{self, Scope};

/// The embedded migrations (`crates/avad-serve/migrations`).
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A job's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Waiting for a worker.
    Queued,
    /// A worker holds its lease.
    Running,
    /// Finished with a report.
    Done,
    /// Finished with an error.
    Failed,
    /// Deleted before it finished.
    Cancelled,
    /// Was done; its report was removed after the retention time (`--keep-results`).
    Expired,
}

impl Status {
    /// The name stored in the database and shown by the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Done => "done",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
            Self::Expired => "expired",
        }
    }

    fn parse(s: &str) -> Self {
        match s {
            "queued" => Self::Queued,
            "running" => Self::Running,
            "done" => Self::Done,
            "cancelled" => Self::Cancelled,
            "expired" => Self::Expired,
            _ => Self::Failed,
        }
    }

    /// True for the states a job never leaves.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            Self::Done | Self::Failed | Self::Cancelled | Self::Expired
        )
    }
}

/// One row of the `jobs` table.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    /// Server-generated identifier (a UUIDv7).
    pub id: String,
    /// State.
    pub status: Status,
    /// 0..1.
    pub progress: f64,
    /// The client's file name, kept as data only (never part of a path).
    pub file_name: String,
    /// Size of the upload.
    pub size_bytes: i64,
    /// The worker holding (or last holding) the lease.
    pub lease_owner: Option<String>,
    /// When the lease ends, Unix ms.
    pub lease_expires: Option<i64>,
    /// How many times a worker claimed the job.
    pub attempts: i64,
    /// Unix ms.
    pub created_ms: i64,
    /// Unix ms.
    pub updated_ms: i64,
    /// First claim, Unix ms.
    pub started_ms: Option<i64>,
    /// Done, failed or cancelled, Unix ms.
    pub finished_ms: Option<i64>,
    /// The JSON report (path on the shared storage).
    pub result_path: Option<String>,
    /// Why the job failed.
    pub error: Option<String>,
    /// The upload is gone or going (`removing` or `removed` by the retention sweeper): never read it.
    pub upload_gone: bool,
    /// When the retention sweeper removed the upload, Unix ms.
    pub upload_removed_ms: Option<i64>,
    /// When the report expired (status `expired`), Unix ms.
    pub expired_ms: Option<i64>,
}

const JOB_COLUMNS: &str =
    "id, status, progress, file_name, size_bytes, lease_owner, lease_expires, attempts, \
                           created_ms, updated_ms, started_ms, finished_ms, result_path, error, upload_state, \
                           upload_removed_ms, expired_ms";

fn job_from_row(r: &AnyRow) -> sqlx::Result<Job> {
    Ok(Job {
        id: r.try_get("id")?,
        status: Status::parse(&r.try_get::<String, _>("status")?),
        progress: r.try_get("progress")?,
        file_name: r.try_get("file_name")?,
        size_bytes: r.try_get("size_bytes")?,
        lease_owner: r.try_get("lease_owner")?,
        lease_expires: r.try_get("lease_expires")?,
        attempts: r.try_get("attempts")?,
        created_ms: r.try_get("created_ms")?,
        updated_ms: r.try_get("updated_ms")?,
        started_ms: r.try_get("started_ms")?,
        finished_ms: r.try_get("finished_ms")?,
        result_path: r.try_get("result_path")?,
        error: r.try_get("error")?,
        upload_gone: r.try_get::<Option<String>, _>("upload_state")?.is_some(),
        upload_removed_ms: r.try_get("upload_removed_ms")?,
        expired_ms: r.try_get("expired_ms")?,
    })
}

/// A stored token, without its secret.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenRow {
    /// Identifier (for `token revoke`).
    pub id: String,
    /// Human name.
    pub name: String,
    /// Scope.
    pub scope: Scope,
    /// Unix ms.
    pub created_ms: i64,
    /// Unix ms when revoked.
    pub revoked_ms: Option<i64>,
}

/// A connection pool to the state database, migrated.
#[derive(Clone, Debug)]
pub struct Db {
    pool: AnyPool,
}

impl Db {
    /// Connects to `url` (`sqlite://FILE`, `postgres://…`), creating a SQLite file in WAL mode when missing, and
    /// runs the embedded migrations.
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        sqlx::any::install_default_drivers();
        let sqlite = url.starts_with("sqlite:");
        let url = if sqlite && !url.contains("mode=") {
            let sep = if url.contains('?') { '&' } else { '?' };
            format!("{url}{sep}mode=rwc")
        } else {
            url.to_string()
        };
        let pool = AnyPoolOptions::new()
            .max_connections(if sqlite { 4 } else { 8 })
            .connect(&url)
            .await
            .map_err(|e| anyhow::anyhow!("cannot open the database {}: {e}", redact(&url)))?;
        if sqlite {
            // WAL persists in the file: readers never block the writer, and a crash leaves the database consistent.
            sqlx::query("PRAGMA journal_mode = WAL")
                .fetch_optional(&pool)
                .await?;
        }
        MIGRATOR
            .run(&pool)
            .await
            .map_err(|e| anyhow::anyhow!("migrating the database: {e}"))?;
        Ok(Self { pool })
    }

    /// Answers when the database does (for `/readyz`).
    pub async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").fetch_one(&self.pool).await.is_ok()
    }

    /// Inserts a new queued job.
    pub async fn insert_job(
        &self,
        id: &str,
        file_name: &str,
        size_bytes: i64,
    ) -> sqlx::Result<Job> {
        let now = now_ms();
        sqlx::query(
            "INSERT INTO jobs (id, status, progress, file_name, size_bytes, attempts, created_ms, updated_ms) \
             VALUES ($1, 'queued', 0.0, $2, $3, 0, $4, $4)",
        )
        .bind(id)
        .bind(file_name)
        .bind(size_bytes)
        .bind(now)
        .execute(&self.pool)
        .await?;
        self.job(id).await?.ok_or_else(|| sqlx::Error::RowNotFound)
    }

    /// The job `id`, if it exists.
    pub async fn job(&self, id: &str) -> sqlx::Result<Option<Job>> {
        let row = sqlx::query(&format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(job_from_row).transpose()
    }

    /// Up to `limit` jobs, newest first, older than the job `before` when given.
    pub async fn list_jobs(&self, limit: i64, before: Option<&str>) -> sqlx::Result<Vec<Job>> {
        let rows = match before {
            Some(b) => {
                sqlx::query(&format!(
                    "SELECT {JOB_COLUMNS} FROM jobs WHERE id < $1 ORDER BY id DESC LIMIT $2"
                ))
                .bind(b)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?
            }
            None => {
                sqlx::query(&format!(
                    "SELECT {JOB_COLUMNS} FROM jobs ORDER BY id DESC LIMIT $1"
                ))
                .bind(limit)
                .fetch_all(&self.pool)
                .await?
            }
        };
        rows.iter().map(job_from_row).collect()
    }

    /// Counts of jobs per status (for `/metrics`).
    pub async fn count_by_status(&self) -> sqlx::Result<Vec<(String, i64)>> {
        let rows = sqlx::query("SELECT status, COUNT(*) AS n FROM jobs GROUP BY status")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("status")?, r.try_get("n")?)))
            .collect()
    }

    /// Marks a job that has not finished as cancelled; true when it was one.
    pub async fn cancel_job(&self, id: &str) -> sqlx::Result<bool> {
        let now = now_ms();
        let done = sqlx::query(
            "UPDATE jobs SET status = 'cancelled', lease_expires = NULL, finished_ms = $1, updated_ms = $1 \
             WHERE id = $2 AND status IN ('queued', 'running')",
        )
        .bind(now)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Removes a finished job's row; true when there was one.
    pub async fn delete_finished_job(&self, id: &str) -> sqlx::Result<bool> {
        let done = sqlx::query(
            "DELETE FROM jobs WHERE id = $1 AND status IN ('done', 'failed', 'cancelled', 'expired')",
        )
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Fails the running jobs whose lease expired after `max_attempts` claims (a file that kills its worker
    /// every time must not be retried forever); returns how many.
    pub async fn fail_exhausted(&self, max_attempts: i64) -> sqlx::Result<u64> {
        let now = now_ms();
        let done = sqlx::query(
            "UPDATE jobs SET status = 'failed', lease_expires = NULL, finished_ms = $1, updated_ms = $1, \
             error = 'the worker stopped during every attempt (' || CAST(attempts AS TEXT) || ' attempts)' \
             WHERE status = 'running' AND lease_expires < $1 AND attempts >= $2",
        )
        .bind(now)
        .bind(max_attempts)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    /// Atomically takes the oldest job that is queued, or running with an expired lease and fewer than
    /// `max_attempts` claims, for `owner` with a lease of `lease_ms`.
    pub async fn claim(
        &self,
        owner: &str,
        lease_ms: i64,
        max_attempts: i64,
    ) -> sqlx::Result<Option<Job>> {
        let now = now_ms();
        // The condition is repeated outside the subquery: when two workers pick the same row, PostgreSQL
        // re-checks it on the updated row, so only one of them takes it (SQLite runs one writer at a time).
        let row = sqlx::query(&format!(
            "UPDATE jobs SET status = 'running', lease_owner = $1, lease_expires = $2, attempts = attempts + 1, \
             progress = 0.0, updated_ms = $3, started_ms = COALESCE(started_ms, $3) \
             WHERE id = (SELECT id FROM jobs \
                         WHERE (status = 'queued' OR (status = 'running' AND lease_expires < $3)) \
                           AND attempts < $4 ORDER BY created_ms, id LIMIT 1) \
               AND (status = 'queued' OR (status = 'running' AND lease_expires < $3)) AND attempts < $4 \
             RETURNING {JOB_COLUMNS}"
        ))
        .bind(owner)
        .bind(now + lease_ms)
        .bind(now)
        .bind(max_attempts)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(job_from_row).transpose()
    }

    /// Extends `owner`'s lease on job `id` by `lease_ms` and records its progress; false when the lease is no
    /// longer `owner`'s (expired and taken, or the job was cancelled).
    pub async fn renew(
        &self,
        id: &str,
        owner: &str,
        lease_ms: i64,
        progress: f64,
    ) -> sqlx::Result<bool> {
        let now = now_ms();
        let done = sqlx::query(
            "UPDATE jobs SET lease_expires = $1, progress = $2, updated_ms = $3 \
             WHERE id = $4 AND lease_owner = $5 AND status = 'running'",
        )
        .bind(now + lease_ms)
        .bind(progress)
        .bind(now)
        .bind(id)
        .bind(owner)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Marks job `id` done with its report at `result_path`, only while `owner` holds it; false otherwise.
    pub async fn complete(&self, id: &str, owner: &str, result_path: &str) -> sqlx::Result<bool> {
        let now = now_ms();
        let done = sqlx::query(
            "UPDATE jobs SET status = 'done', progress = 1.0, result_path = $1, lease_expires = NULL, \
             finished_ms = $2, updated_ms = $2 WHERE id = $3 AND lease_owner = $4 AND status = 'running'",
        )
        .bind(result_path)
        .bind(now)
        .bind(id)
        .bind(owner)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Marks job `id` failed with `error`, only while `owner` holds it; false otherwise.
    pub async fn fail(&self, id: &str, owner: &str, error: &str) -> sqlx::Result<bool> {
        let now = now_ms();
        let done = sqlx::query(
            "UPDATE jobs SET status = 'failed', error = $1, lease_expires = NULL, finished_ms = $2, \
             updated_ms = $2 WHERE id = $3 AND lease_owner = $4 AND status = 'running'",
        )
        .bind(error)
        .bind(now)
        .bind(id)
        .bind(owner)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Hands job `id` back to the queue (a worker shutting down), only while `owner` holds it.
    pub async fn release(&self, id: &str, owner: &str) -> sqlx::Result<bool> {
        let now = now_ms();
        let done = sqlx::query(
            "UPDATE jobs SET status = 'queued', lease_owner = NULL, lease_expires = NULL, \
             attempts = attempts - 1, updated_ms = $1 WHERE id = $2 AND lease_owner = $3 AND status = 'running'",
        )
        .bind(now)
        .bind(id)
        .bind(owner)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Bytes of the uploads on disk (those not removed by retention), for `--max-storage`.
    pub async fn stored_upload_bytes(&self) -> sqlx::Result<i64> {
        let row = sqlx::query(
            "SELECT CAST(COALESCE(SUM(size_bytes), 0) AS BIGINT) AS n FROM jobs WHERE upload_state IS NULL",
        )
        .fetch_one(&self.pool)
        .await?;
        row.try_get("n")
    }

    /// Retention, step 1: marks the reports of jobs done before `cutoff_ms` as expired (status `expired`; the
    /// report path stays until [`Db::finish_expiry`]) and returns how many. From here on no reader opens them.
    pub async fn expire_results(&self, cutoff_ms: i64) -> sqlx::Result<u64> {
        let now = now_ms();
        let done = sqlx::query(
            "UPDATE jobs SET status = 'expired', expired_ms = $1, updated_ms = $1 \
             WHERE status = 'done' AND finished_ms < $2",
        )
        .bind(now)
        .bind(cutoff_ms)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    /// Retention: the expired jobs whose report files may still exist (`(id, result_path)`).
    pub async fn expired_with_results(&self) -> sqlx::Result<Vec<(String, String)>> {
        let rows = sqlx::query(
            "SELECT id, result_path FROM jobs WHERE status = 'expired' AND result_path IS NOT NULL LIMIT 500",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("id")?, r.try_get("result_path")?)))
            .collect()
    }

    /// Retention, step 2 (after deleting the files): the expired job `id` has no report files any more.
    pub async fn finish_expiry(&self, id: &str) -> sqlx::Result<()> {
        sqlx::query("UPDATE jobs SET result_path = NULL WHERE id = $1 AND status = 'expired'")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Retention, step 1: marks the uploads of jobs that finished (done, failed or expired) before `cutoff_ms` as
    /// `removing`; returns how many. From here on no reader opens them.
    pub async fn mark_uploads_for_removal(&self, cutoff_ms: i64) -> sqlx::Result<u64> {
        let now = now_ms();
        let done = sqlx::query(
            "UPDATE jobs SET upload_state = 'removing', updated_ms = $1 \
             WHERE upload_state IS NULL AND status IN ('done', 'failed', 'expired') AND finished_ms < $2",
        )
        .bind(now)
        .bind(cutoff_ms)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    /// Retention: the jobs whose upload is marked `removing` (its file may still exist).
    pub async fn uploads_being_removed(&self) -> sqlx::Result<Vec<String>> {
        let rows = sqlx::query("SELECT id FROM jobs WHERE upload_state = 'removing' LIMIT 500")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|r| r.try_get("id")).collect()
    }

    /// Retention, step 2 (after deleting the file): job `id`'s upload is removed.
    pub async fn upload_removed(&self, id: &str) -> sqlx::Result<()> {
        sqlx::query(
            "UPDATE jobs SET upload_state = 'removed', upload_removed_ms = $1 \
             WHERE id = $2 AND upload_state = 'removing'",
        )
        .bind(now_ms())
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Stores a new token's hash under `name` and `scope`; returns the token row.
    pub async fn insert_token(
        &self,
        name: &str,
        scope: Scope,
        hash: &str,
    ) -> sqlx::Result<TokenRow> {
        let id = uuid::Uuid::new_v4().simple().to_string()[..12].to_string();
        let now = now_ms();
        sqlx::query(
            "INSERT INTO tokens (id, name, scope, hash, created_ms) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&id)
        .bind(name)
        .bind(scope.as_str())
        .bind(hash)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(TokenRow {
            id,
            name: name.to_string(),
            scope,
            created_ms: now,
            revoked_ms: None,
        })
    }

    /// Every token, oldest first (revoked ones included).
    pub async fn list_tokens(&self) -> sqlx::Result<Vec<TokenRow>> {
        let rows = sqlx::query(
            "SELECT id, name, scope, created_ms, revoked_ms FROM tokens ORDER BY created_ms, id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(TokenRow {
                    id: r.try_get("id")?,
                    name: r.try_get("name")?,
                    scope: r
                        .try_get::<String, _>("scope")?
                        .parse()
                        .unwrap_or(Scope::Read),
                    created_ms: r.try_get("created_ms")?,
                    revoked_ms: r.try_get("revoked_ms")?,
                })
            })
            .collect()
    }

    /// Revokes the token with identifier or name `key`; returns how many tokens were revoked.
    pub async fn revoke_token(&self, key: &str) -> sqlx::Result<u64> {
        let done = sqlx::query(
            "UPDATE tokens SET revoked_ms = $1 WHERE (id = $2 OR name = $2) AND revoked_ms IS NULL",
        )
        .bind(now_ms())
        .bind(key)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    /// The scope of the live token `presented`, if any (see [`Db::authenticate_token`]).
    pub async fn authenticate(&self, presented: &str) -> sqlx::Result<Option<Scope>> {
        Ok(self.authenticate_token(presented).await?.map(|t| t.scope))
    }

    /// The live token `presented`, if any: every live token's hash is compared in constant time (no early exit), so
    /// timing says nothing about which bytes matched.
    pub async fn authenticate_token(&self, presented: &str) -> sqlx::Result<Option<AuthToken>> {
        let presented_hash = token::hash(presented);
        let rows = sqlx::query("SELECT id, hash, scope FROM tokens WHERE revoked_ms IS NULL")
            .fetch_all(&self.pool)
            .await?;
        let mut found = None;
        for r in &rows {
            let stored: String = r.try_get("hash")?;
            let scope: String = r.try_get("scope")?;
            let id: String = r.try_get("id")?;
            if token::hashes_match(&presented_hash, &stored) {
                if let Ok(scope) = scope.parse() {
                    found = Some(AuthToken {
                        id,
                        scope,
                        hash: stored,
                    });
                }
            }
        }
        Ok(found)
    }

    /// The stored hash of the live (not revoked) token `id`, if there is one.
    pub async fn live_token_hash(&self, id: &str) -> sqlx::Result<Option<String>> {
        let row = sqlx::query("SELECT hash FROM tokens WHERE id = $1 AND revoked_ms IS NULL")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| r.try_get("hash")).transpose()
    }
}

/// One stored event message of a watched camera (`avad serve --watch`).
#[derive(Debug, Clone, PartialEq)]
pub struct CameraEvent {
    /// A UUIDv7 given on arrival (newest first by it).
    pub id: String,
    /// The camera.
    pub camera: String,
    /// The event's label.
    pub label: String,
    /// `new`, `update` or `end`.
    pub kind: String,
    /// The event's own identifier (shared by its `new`, `update`s and `end`).
    pub event_id: String,
    /// When the message arrived, Unix ms.
    pub received_ms: i64,
    /// The whole message, JSON text.
    pub message: String,
}

/// Filters of [`Db::list_camera_events`].
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    /// Only this camera.
    pub camera: Option<String>,
    /// Only this label.
    pub label: Option<String>,
    /// Only messages that arrived at or after this, Unix ms.
    pub since_ms: Option<i64>,
    /// Only messages that arrived at or before this, Unix ms.
    pub until_ms: Option<i64>,
    /// Only messages older than this one (the page cursor).
    pub before: Option<String>,
}

impl Db {
    /// Stores a camera's event message.
    pub async fn insert_camera_event(&self, e: &CameraEvent) -> sqlx::Result<()> {
        sqlx::query(
            "INSERT INTO camera_events (id, camera, label, kind, event_id, received_ms, message) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&e.id)
        .bind(&e.camera)
        .bind(&e.label)
        .bind(&e.kind)
        .bind(&e.event_id)
        .bind(e.received_ms)
        .bind(&e.message)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Retention (`--keep-events`): deletes up to `batch` event messages that arrived before `cutoff_ms`; returns
    /// how many (fewer than `batch`: none older is left). Uses the `received_ms` index.
    pub async fn delete_camera_events_before(
        &self,
        cutoff_ms: i64,
        batch: i64,
    ) -> sqlx::Result<u64> {
        let done = sqlx::query(
            "DELETE FROM camera_events WHERE id IN \
             (SELECT id FROM camera_events WHERE received_ms < $1 LIMIT $2)",
        )
        .bind(cutoff_ms)
        .bind(batch)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    /// Up to `limit` stored event messages that pass `f`, newest first.
    pub async fn list_camera_events(
        &self,
        f: &EventFilter,
        limit: i64,
    ) -> sqlx::Result<Vec<CameraEvent>> {
        enum Arg<'a> {
            Text(&'a str),
            Int(i64),
        }
        let mut clauses: Vec<String> = Vec::new();
        let mut args: Vec<Arg<'_>> = Vec::new();
        for (clause, arg) in [
            ("camera = ", f.camera.as_deref().map(Arg::Text)),
            ("label = ", f.label.as_deref().map(Arg::Text)),
            ("received_ms >= ", f.since_ms.map(Arg::Int)),
            ("received_ms <= ", f.until_ms.map(Arg::Int)),
            ("id < ", f.before.as_deref().map(Arg::Text)),
        ] {
            if let Some(a) = arg {
                args.push(a);
                clauses.push(format!("{clause}${}", args.len()));
            }
        }
        let filter = if clauses.is_empty() {
            String::new()
        } else {
            format!("WHERE {} ", clauses.join(" AND "))
        };
        let sql = format!(
            "SELECT id, camera, label, kind, event_id, received_ms, message FROM camera_events {filter}\
             ORDER BY id DESC LIMIT ${}",
            args.len() + 1
        );
        let mut q = sqlx::query(&sql);
        for a in args {
            q = match a {
                Arg::Text(t) => q.bind(t),
                Arg::Int(i) => q.bind(i),
            };
        }
        let rows = q.bind(limit).fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| {
                Ok(CameraEvent {
                    id: r.try_get("id")?,
                    camera: r.try_get("camera")?,
                    label: r.try_get("label")?,
                    kind: r.try_get("kind")?,
                    event_id: r.try_get("event_id")?,
                    received_ms: r.try_get("received_ms")?,
                    message: r.try_get("message")?,
                })
            })
            .collect()
    }
}

/// A live token that a request presented.
#[derive(Debug, Clone, PartialEq)]
pub struct AuthToken {
    /// Its identifier.
    pub id: String,
    /// Its scope.
    pub scope: Scope,
    /// Its stored hash (the key of the media links it asks for).
    pub hash: String,
}

/// `url` with any password replaced by `***` (for error messages).
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.find(':') {
                Some(c) => format!("{}{}:***{}", &url[..s + 3], &creds[..c], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn temp_db(dir: &std::path::Path) -> Db {
        Db::connect(&format!("sqlite://{}", dir.join("t.db").display()))
            .await
            .unwrap()
    }

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn a_job_is_claimed_once_renewed_and_completed_only_by_its_owner() {
        let dir = tempfile::tempdir().unwrap();
        rt().block_on(async {
            let db = temp_db(dir.path()).await;
            let job = db.insert_job("j1", "a.mp4", 10).await.unwrap();
            assert_eq!(job.status, Status::Queued);
            let a = db.claim("A", 60_000, 3).await.unwrap().unwrap();
            assert_eq!(
                (a.id.as_str(), a.status, a.attempts),
                ("j1", Status::Running, 1)
            );
            // Nothing else to take while A's lease runs.
            assert!(db.claim("B", 60_000, 3).await.unwrap().is_none());
            assert!(db.renew("j1", "A", 60_000, 0.5).await.unwrap());
            assert!(!db.renew("j1", "B", 60_000, 0.5).await.unwrap());
            assert!(!db.complete("j1", "B", "r").await.unwrap());
            assert!(db.complete("j1", "A", "r").await.unwrap());
            // Completing twice does nothing.
            assert!(!db.complete("j1", "A", "r").await.unwrap());
            let j = db.job("j1").await.unwrap().unwrap();
            assert_eq!((j.status, j.progress), (Status::Done, 1.0));
        });
    }

    #[test]
    fn an_expired_lease_is_taken_again_and_the_old_owner_cannot_finish() {
        let dir = tempfile::tempdir().unwrap();
        rt().block_on(async {
            let db = temp_db(dir.path()).await;
            db.insert_job("j1", "a.mp4", 10).await.unwrap();
            db.claim("A", -1, 3).await.unwrap().unwrap();
            let b = db.claim("B", 60_000, 3).await.unwrap().unwrap();
            assert_eq!(b.attempts, 2);
            assert!(!db.complete("j1", "A", "r").await.unwrap());
            assert!(!db.fail("j1", "A", "x").await.unwrap());
            assert!(db.complete("j1", "B", "r").await.unwrap());
        });
    }

    #[test]
    fn a_job_that_outlives_its_attempts_fails() {
        let dir = tempfile::tempdir().unwrap();
        rt().block_on(async {
            let db = temp_db(dir.path()).await;
            db.insert_job("j1", "a.mp4", 10).await.unwrap();
            db.claim("A", -1, 2).await.unwrap().unwrap();
            db.claim("B", -1, 2).await.unwrap().unwrap();
            assert!(db.claim("C", 60_000, 2).await.unwrap().is_none());
            assert_eq!(db.fail_exhausted(2).await.unwrap(), 1);
            let j = db.job("j1").await.unwrap().unwrap();
            assert_eq!(j.status, Status::Failed);
            assert!(
                j.error.unwrap().contains("2 attempts"),
                "error names the attempts"
            );
        });
    }

    #[test]
    fn a_cancelled_job_is_neither_completed_nor_claimed_and_only_finished_jobs_are_deleted() {
        let dir = tempfile::tempdir().unwrap();
        rt().block_on(async {
            let db = temp_db(dir.path()).await;
            db.insert_job("j1", "a.mp4", 10).await.unwrap();
            db.claim("A", 60_000, 3).await.unwrap().unwrap();
            assert!(!db.delete_finished_job("j1").await.unwrap());
            assert!(db.cancel_job("j1").await.unwrap());
            assert!(!db.cancel_job("j1").await.unwrap());
            assert!(!db.renew("j1", "A", 60_000, 0.5).await.unwrap());
            assert!(!db.complete("j1", "A", "r").await.unwrap());
            assert!(db.claim("B", 60_000, 3).await.unwrap().is_none());
            assert_eq!(
                db.job("j1").await.unwrap().unwrap().status,
                Status::Cancelled
            );
            assert!(db.delete_finished_job("j1").await.unwrap());
            assert!(db.job("j1").await.unwrap().is_none());
        });
    }

    #[test]
    fn a_released_job_goes_back_to_the_queue() {
        let dir = tempfile::tempdir().unwrap();
        rt().block_on(async {
            let db = temp_db(dir.path()).await;
            db.insert_job("j1", "a.mp4", 10).await.unwrap();
            db.claim("A", 60_000, 3).await.unwrap().unwrap();
            assert!(!db.release("j1", "B").await.unwrap());
            assert!(db.release("j1", "A").await.unwrap());
            let b = db.claim("B", 60_000, 3).await.unwrap().unwrap();
            assert_eq!(b.attempts, 1, "a shutdown does not count as an attempt");
        });
    }

    #[test]
    fn tokens_authenticate_until_revoked() {
        let dir = tempfile::tempdir().unwrap();
        rt().block_on(async {
            let db = temp_db(dir.path()).await;
            let t = token::generate();
            let row = db
                .insert_token("ci", Scope::Submit, &token::hash(&t))
                .await
                .unwrap();
            assert_eq!(db.authenticate(&t).await.unwrap(), Some(Scope::Submit));
            assert_eq!(db.authenticate("avad_wrong").await.unwrap(), None);
            assert_eq!(db.revoke_token(&row.id).await.unwrap(), 1);
            assert_eq!(db.authenticate(&t).await.unwrap(), None);
            assert_eq!(db.list_tokens().await.unwrap().len(), 1);
        });
    }

    #[test]
    fn pages_go_newest_first() {
        let dir = tempfile::tempdir().unwrap();
        rt().block_on(async {
            let db = temp_db(dir.path()).await;
            for i in 0..5 {
                db.insert_job(&format!("j{i}"), "a", 1).await.unwrap();
            }
            let p1 = db.list_jobs(2, None).await.unwrap();
            assert_eq!(
                p1.iter().map(|j| j.id.as_str()).collect::<Vec<_>>(),
                ["j4", "j3"]
            );
            let p2 = db.list_jobs(2, Some("j3")).await.unwrap();
            assert_eq!(
                p2.iter().map(|j| j.id.as_str()).collect::<Vec<_>>(),
                ["j2", "j1"]
            );
        });
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact("postgres://avad:secret@db:5432/avad"),
            "postgres://avad:***@db:5432/avad"
        );
        assert_eq!(redact("sqlite://x.db"), "sqlite://x.db");
    }
}
