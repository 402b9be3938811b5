//! The HTTP API (axum): jobs under `/v1`, `/metrics`, and the open `/healthz` and `/readyz`; the web UI's static
//! files under `/ui/` (open: the page holds no data, it asks for a token) and media links under `/media/` (open, each
//! checked by its own signed ticket). Every other route needs `Authorization: Bearer <token>`: `GET` a `read` token,
//! `POST` and `DELETE` a `submit` token. Failed token checks are rate-limited per client address; every response
//! carries security headers; there is no CORS.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{ConnectInfo, Path, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;

use crate::db::{now_ms, AuthToken, Db, Job, Status};
use crate::media;
use crate::ratelimit::FailureLimiter;
use crate::storage::Storage;
use crate::token::Scope;

/// What every handler shares.
#[derive(Debug)]
pub struct AppState {
    /// The state database.
    pub db: Db,
    /// The storage folder.
    pub storage: Storage,
    /// Failed token checks per client address.
    pub limiter: FailureLimiter,
    /// Largest accepted upload, bytes.
    pub max_upload: u64,
    /// Seconds a client should wait before polling a new job.
    pub retry_after_s: u64,
    /// Counters for `/metrics`.
    pub counters: Counters,
    /// Most bytes of uploads the storage folder may hold (`--max-storage`): beyond it an upload answers 507.
    pub max_storage: Option<u64>,
    /// Bytes of the uploads this process is receiving now (counted against `max_storage`).
    pub receiving: AtomicU64,
    /// The watched cameras (`avad serve --watch`); `None`: no cameras, no events.
    pub cameras: Option<crate::cameras::CameraHub>,
}

impl AppState {
    /// An upload refused for storage (507), counted in `uploads_storage_full`.
    fn storage_full(&self) -> ApiError {
        self.counters
            .uploads_storage_full
            .fetch_add(1, Ordering::Relaxed);
        ApiError::StorageFull
    }

    /// `e`, with a 507 counted in `uploads_storage_full` (for an upload's storage errors, [`io_error`]).
    fn counted(&self, e: ApiError) -> ApiError {
        match e {
            ApiError::StorageFull => self.storage_full(),
            other => other,
        }
    }
}

/// Counters since the process started.
#[derive(Debug, Default)]
pub struct Counters {
    /// Jobs accepted.
    pub uploads: AtomicU64,
    /// Uploads refused for their size.
    pub uploads_too_large: AtomicU64,
    /// Requests with a missing, invalid or too small token.
    pub auth_failures: AtomicU64,
    /// Requests refused by the rate limit.
    pub rate_limited: AtomicU64,
    /// Uploads refused because the storage is full (507).
    pub uploads_storage_full: AtomicU64,
}

/// An error answer: a status and a JSON `{"error": …}` body.
#[derive(Debug)]
pub enum ApiError {
    /// 400.
    BadRequest(String),
    /// 401 (with `WWW-Authenticate: Bearer`).
    Unauthorized(&'static str),
    /// 403.
    Forbidden(String),
    /// 404.
    NotFound,
    /// 409: the job is not in a state that has what was asked for.
    Conflict(String),
    /// 410: what was asked for was removed after its retention time.
    Gone(String),
    /// 413.
    TooLarge(u64),
    /// 429 with `Retry-After` seconds.
    TooMany(u64),
    /// 500 (details logged, not shown).
    Internal(String),
    /// 503.
    Unavailable(&'static str),
    /// 507: the storage is full.
    StorageFull,
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        Self::Internal(format!("database: {e}"))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, msg) = match &self {
            Self::BadRequest(m) => (StatusCode::BAD_REQUEST, m.clone()),
            Self::Unauthorized(m) => (StatusCode::UNAUTHORIZED, m.to_string()),
            Self::Forbidden(m) => (StatusCode::FORBIDDEN, m.clone()),
            Self::NotFound => (StatusCode::NOT_FOUND, "not found".into()),
            Self::Conflict(m) => (StatusCode::CONFLICT, m.clone()),
            Self::Gone(m) => (StatusCode::GONE, m.clone()),
            Self::TooLarge(max) => (
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the upload is larger than the limit of {max} bytes"),
            ),
            Self::TooMany(_) => (
                StatusCode::TOO_MANY_REQUESTS,
                "too many failed token checks from this address; try again later".into(),
            ),
            Self::Internal(m) => {
                tracing::error!("internal error: {m}");
                (StatusCode::INTERNAL_SERVER_ERROR, "internal error".into())
            }
            Self::Unavailable(m) => (StatusCode::SERVICE_UNAVAILABLE, m.to_string()),
            Self::StorageFull => (
                StatusCode::INSUFFICIENT_STORAGE,
                "the server's storage is full".into(),
            ),
        };
        let mut r = (status, Json(ErrorBody { error: msg })).into_response();
        match self {
            Self::Unauthorized(_) => {
                r.headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            Self::TooMany(secs) => {
                r.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(secs));
            }
            _ => {}
        }
        r
    }
}

/// The whole application: protected routes behind the token check, health routes open, headers on everything.
pub fn router(state: Arc<AppState>) -> Router {
    let protected = Router::new()
        .route("/v1/jobs", get(list_jobs).post(create_job))
        .route("/v1/jobs/{id}", get(get_job).delete(delete_job))
        .route("/v1/jobs/{id}/report", get(get_report))
        .route("/v1/jobs/{id}/video", get(get_video))
        .route("/v1/jobs/{id}/video-link", get(get_video_link))
        .route("/v1/cameras", get(list_cameras))
        .route("/v1/events", get(list_events))
        .route("/v1/events/stream", get(event_stream))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(openapi_json))
        .fallback(|| async { ApiError::NotFound })
        .layer(middleware::from_fn_with_state(state.clone(), require_token));
    protected
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/media/{ticket}", get(get_media))
        .merge(crate::ui::routes())
        .layer(middleware::map_response(security_headers))
        .with_state(state)
}

/// Serves `router(state)` on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: Arc<AppState>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        router(state).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

async fn security_headers(mut r: Response) -> Response {
    let h = r.headers_mut();
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    // The UI's page sets its own (narrow) policy; everything else gets one that allows nothing.
    h.entry(header::CONTENT_SECURITY_POLICY)
        .or_insert(HeaderValue::from_static(
            "default-src 'none'; frame-ancestors 'none'; base-uri 'none'",
        ));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// The scope a request needs: `read` to look, `submit` to change anything.
fn needed_scope(method: &Method) -> Scope {
    if method == Method::GET || method == Method::HEAD {
        Scope::Read
    } else {
        Scope::Submit
    }
}

async fn require_token(
    State(st): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
    next: Next,
) -> Response {
    let ip = peer.ip();
    if let Some(wait) = st.limiter.blocked(ip) {
        st.counters.rate_limited.fetch_add(1, Ordering::Relaxed);
        return ApiError::TooMany(wait).into_response();
    }
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim);
    let Some(presented) = presented else {
        st.counters.auth_failures.fetch_add(1, Ordering::Relaxed);
        return ApiError::Unauthorized("a bearer token is required").into_response();
    };
    let auth = match st.db.authenticate_token(presented).await {
        Ok(Some(t)) => t,
        Ok(None) => {
            st.limiter.fail(ip);
            st.counters.auth_failures.fetch_add(1, Ordering::Relaxed);
            tracing::warn!("{ip}: invalid or revoked token");
            return ApiError::Unauthorized("invalid or revoked token").into_response();
        }
        Err(e) => return ApiError::from(e).into_response(),
    };
    let need = needed_scope(req.method());
    let scope = auth.scope;
    if scope < need {
        st.counters.auth_failures.fetch_add(1, Ordering::Relaxed);
        return ApiError::Forbidden(format!(
            "this needs a `{need}` token (this one is `{scope}`)"
        ))
        .into_response();
    }
    let mut req = req;
    req.extensions_mut().insert(auth);
    next.run(req).await
}

#[utoipa::path(get, path = "/healthz", tag = "health", security(()),
    responses((status = 200, description = "The process runs", body = String)))]
async fn healthz() -> &'static str {
    "ok\n"
}

#[utoipa::path(get, path = "/readyz", tag = "health", security(()),
    responses((status = 200, description = "The database answers and the storage folder exists", body = String),
        (status = 503, description = "Not ready", body = ErrorBody)))]
async fn readyz(State(st): State<Arc<AppState>>) -> Result<&'static str, ApiError> {
    if !st.db.ping().await {
        return Err(ApiError::Unavailable("the database does not answer"));
    }
    if !st.storage.root().join("uploads").is_dir() {
        return Err(ApiError::Unavailable("the storage folder is missing"));
    }
    Ok("ready\n")
}

/// RFC 3339 text of Unix milliseconds.
fn rfc3339(ms: i64) -> Option<String> {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
}

/// A job as the API shows it (no server paths, no lease owner).
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct JobView {
    /// Server-generated identifier (a UUID).
    pub id: String,
    /// `queued`, `running`, `done`, `failed`, `cancelled`, or `expired` (was done; its report was removed after
    /// the retention time, `--keep-results`).
    #[schema(example = "running")]
    pub status: String,
    /// Fraction done, 0 to 1.
    pub progress: f64,
    /// The file name the client gave (data only).
    pub file_name: String,
    /// Size of the upload in bytes.
    pub size_bytes: i64,
    /// How many times a worker took the job (more than 1 after a worker died).
    pub attempts: i64,
    /// RFC 3339.
    pub created_at: Option<String>,
    /// RFC 3339.
    pub updated_at: Option<String>,
    /// RFC 3339, first claim by a worker.
    pub started_at: Option<String>,
    /// RFC 3339, when it became done, failed or cancelled.
    pub finished_at: Option<String>,
    /// Why the job failed.
    pub error: Option<String>,
    /// The report's URL once the job is done (`null` again once it expired).
    pub report: Option<String>,
    /// RFC 3339: when the report was removed (status `expired`).
    pub expired_at: Option<String>,
    /// RFC 3339: when the uploaded video was removed after the retention time (`--keep-uploads`); `null` while it
    /// is kept.
    pub video_removed_at: Option<String>,
}

impl From<&Job> for JobView {
    fn from(j: &Job) -> Self {
        Self {
            id: j.id.clone(),
            status: j.status.as_str().into(),
            progress: j.progress,
            file_name: j.file_name.clone(),
            size_bytes: j.size_bytes,
            attempts: j.attempts,
            created_at: rfc3339(j.created_ms),
            updated_at: rfc3339(j.updated_ms),
            started_at: j.started_ms.and_then(rfc3339),
            finished_at: j.finished_ms.and_then(rfc3339),
            error: j.error.clone(),
            report: (j.status == Status::Done).then(|| format!("/v1/jobs/{}/report", j.id)),
            expired_at: j.expired_ms.and_then(rfc3339),
            video_removed_at: j
                .upload_gone
                .then(|| j.upload_removed_ms.unwrap_or(j.updated_ms))
                .and_then(rfc3339),
        }
    }
}

/// One page of jobs, newest first.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct JobPage {
    /// The jobs.
    pub jobs: Vec<JobView>,
    /// Pass as `cursor` for the next page; `null` on the last one.
    pub next_cursor: Option<String>,
}

/// The formats of a report.
#[derive(Debug, utoipa::ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum ReportFormat {
    /// `avad detect --json`.
    Json,
    /// `avad detect --csv`.
    Csv,
    /// `avad detect --html`: a self-contained page (score timeline, class curves, events; no script).
    Html,
}

/// The body of every error answer.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// What went wrong.
    pub error: String,
}

/// A job id from a path: only the server's own UUIDs, anything else is not found.
fn parse_id(id: &str) -> Result<String, ApiError> {
    uuid::Uuid::parse_str(id)
        .map(|u| u.to_string())
        .map_err(|_| ApiError::NotFound)
}

/// The client's file name as data: control characters dropped, at most 255 characters, `upload` when empty.
fn clean_name(name: Option<&String>) -> String {
    let n: String = name
        .map(|s| s.chars().filter(|c| !c.is_control()).take(255).collect())
        .unwrap_or_default();
    if n.trim().is_empty() {
        "upload".into()
    } else {
        n
    }
}

fn io_error(e: std::io::Error) -> ApiError {
    if e.kind() == std::io::ErrorKind::StorageFull || e.kind() == std::io::ErrorKind::QuotaExceeded
    {
        ApiError::StorageFull
    } else {
        ApiError::Internal(format!("storage: {e}"))
    }
}

/// Counts bytes of an upload in [`AppState::receiving`] until dropped.
struct Receiving<'a> {
    counter: &'a AtomicU64,
    bytes: u64,
}

impl Receiving<'_> {
    fn add(&mut self, n: u64) -> u64 {
        self.bytes += n;
        self.counter.fetch_add(n, Ordering::SeqCst) + n
    }
}

impl Drop for Receiving<'_> {
    fn drop(&mut self) {
        self.counter.fetch_sub(self.bytes, Ordering::SeqCst);
    }
}

/// Removes a partial upload unless disarmed (on every early return, and when the client goes away).
struct PartialGuard(Option<std::path::PathBuf>);

impl Drop for PartialGuard {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = std::fs::remove_file(p);
        }
    }
}

#[utoipa::path(post, path = "/v1/jobs", tag = "jobs",
    params(("name" = Option<String>, Query, description = "The video's file name, kept as data only")),
    request_body(content(("application/octet-stream")),
                 description = "The video's bytes, streamed (Content-Length or chunked)"),
    responses(
        (status = 202, description = "Accepted: a new queued job", body = JobView,
         headers(("Location" = String, description = "The job's URL"),
                 ("Retry-After" = u64, description = "Seconds to wait before polling"))),
        (status = 400, description = "Empty or broken upload", body = ErrorBody),
        (status = 401, description = "No token, or an invalid or revoked one", body = ErrorBody),
        (status = 403, description = "The token's scope is too small", body = ErrorBody),
        (status = 413, description = "Larger than --max-upload; nothing is kept", body = ErrorBody),
        (status = 429, description = "Too many failed token checks from this address", body = ErrorBody),
        (status = 507, description = "The storage is full (the disk, or --max-storage); nothing is kept",
         body = ErrorBody)))]
async fn create_job(
    State(st): State<Arc<AppState>>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let name = clean_name(q.get("name"));
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > st.max_upload) {
        st.counters
            .uploads_too_large
            .fetch_add(1, Ordering::Relaxed);
        return Err(ApiError::TooLarge(st.max_upload));
    }
    // --max-storage: the uploads kept (the database's count) plus those arriving now, this one included.
    let stored = match st.max_storage {
        Some(_) => st.db.stored_upload_bytes().await?.max(0) as u64,
        None => 0,
    };
    let mut receiving = Receiving {
        counter: &st.receiving,
        bytes: 0,
    };
    let over_quota = |arriving: u64| st.max_storage.is_some_and(|max| stored + arriving > max);
    if over_quota(st.receiving.load(Ordering::SeqCst) + declared.unwrap_or(0)) {
        return Err(st.storage_full());
    }
    let (path, file) = st
        .storage
        .create_partial()
        .map_err(|e| st.counted(io_error(e)))?;
    let mut guard = PartialGuard(Some(path.clone()));
    let mut file = tokio::fs::File::from_std(file);
    let mut stream = body.into_data_stream();
    let mut size: u64 = 0;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| ApiError::BadRequest(format!("reading the upload: {e}")))?;
        size += chunk.len() as u64;
        if size > st.max_upload {
            st.counters
                .uploads_too_large
                .fetch_add(1, Ordering::Relaxed);
            return Err(ApiError::TooLarge(st.max_upload));
        }
        if over_quota(receiving.add(chunk.len() as u64)) {
            return Err(st.storage_full());
        }
        file.write_all(&chunk)
            .await
            .map_err(|e| st.counted(io_error(e)))?;
    }
    if size == 0 {
        return Err(ApiError::BadRequest("the upload is empty".into()));
    }
    file.flush().await.map_err(|e| st.counted(io_error(e)))?;
    file.sync_all().await.map_err(|e| st.counted(io_error(e)))?;
    if st.max_storage.is_some() {
        // Once more with the uploads that other requests completed meanwhile (now in the database).
        let stored = st.db.stored_upload_bytes().await?.max(0) as u64;
        if st
            .max_storage
            .is_some_and(|max| stored + st.receiving.load(Ordering::SeqCst) > max)
        {
            return Err(st.storage_full());
        }
    }
    let id = uuid::Uuid::now_v7().to_string();
    let target = st.storage.upload(&id);
    // Renamed while still open (and locked), so a restarting process never takes it for a stale partial.
    tokio::fs::rename(&path, &target)
        .await
        .map_err(|e| st.counted(io_error(e)))?;
    guard.0 = None;
    drop(file);
    let job = match st.db.insert_job(&id, &name, size as i64).await {
        Ok(j) => j,
        Err(e) => {
            let _ = std::fs::remove_file(&target);
            return Err(e.into());
        }
    };
    drop(receiving); // now counted by the database
    st.counters.uploads.fetch_add(1, Ordering::Relaxed);
    tracing::info!("job {id}: accepted ({size} bytes)");
    let mut r = (StatusCode::ACCEPTED, Json(JobView::from(&job))).into_response();
    let h = r.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&format!("/v1/jobs/{id}")) {
        h.insert(header::LOCATION, v);
    }
    h.insert(header::RETRY_AFTER, HeaderValue::from(st.retry_after_s));
    Ok(r)
}

#[utoipa::path(get, path = "/v1/jobs/{id}", tag = "jobs",
    params(("id" = String, Path, description = "Job identifier")),
    responses((status = 200, description = "The job", body = JobView),
        (status = 401, description = "No token, or an invalid or revoked one", body = ErrorBody),
        (status = 404, description = "No such job", body = ErrorBody),
        (status = 429, description = "Too many failed token checks from this address", body = ErrorBody)))]
async fn get_job(
    State(st): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Json<JobView>, ApiError> {
    let id = parse_id(&id)?;
    let job = st.db.job(&id).await?.ok_or(ApiError::NotFound)?;
    Ok(Json(JobView::from(&job)))
}

/// The `next_cursor` of a page of `limit` rows: the last row's id when the page is full (more may follow), else
/// none.
fn next_cursor<T>(rows: &[T], limit: i64, id: impl Fn(&T) -> &str) -> Option<String> {
    (rows.len() as i64 == limit)
        .then(|| rows.last().map(|r| id(r).to_string()))
        .flatten()
}

/// The `limit` (1 to 100, default 20) and `cursor` (a `next_cursor` this server gave) of a paged list.
fn page_params(q: &HashMap<String, String>) -> Result<(i64, Option<String>), ApiError> {
    let limit = match q.get("limit") {
        None => 20,
        Some(s) => match s.parse::<i64>() {
            Ok(n) if (1..=100).contains(&n) => n,
            _ => {
                return Err(ApiError::BadRequest(
                    "`limit` must be a whole number from 1 to 100".into(),
                ))
            }
        },
    };
    let cursor = match q.get("cursor") {
        None => None,
        Some(c) => Some(
            uuid::Uuid::parse_str(c)
                .map_err(|_| ApiError::BadRequest("`cursor` is not one this server gave".into()))?
                .to_string(),
        ),
    };
    Ok((limit, cursor))
}

#[utoipa::path(get, path = "/v1/jobs", tag = "jobs",
    params(("limit" = Option<i64>, Query, minimum = 1, maximum = 100, description = "Jobs per page, 1 to 100 (20)"),
           ("cursor" = Option<String>, Query, pattern = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$",
            description = "`next_cursor` of the previous page")),
    responses((status = 200, description = "Jobs, newest first", body = JobPage),
        (status = 400, description = "Bad `limit` or `cursor`", body = ErrorBody),
        (status = 401, description = "No token, or an invalid or revoked one", body = ErrorBody),
        (status = 429, description = "Too many failed token checks from this address", body = ErrorBody)))]
async fn list_jobs(
    State(st): State<Arc<AppState>>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Json<JobPage>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let (limit, cursor) = page_params(&q)?;
    let jobs = st.db.list_jobs(limit, cursor.as_deref()).await?;
    let next = next_cursor(&jobs, limit, |j| &j.id);
    Ok(Json(JobPage {
        jobs: jobs.iter().map(JobView::from).collect(),
        next_cursor: next,
    }))
}

#[utoipa::path(delete, path = "/v1/jobs/{id}", tag = "jobs",
    params(("id" = String, Path, description = "Job identifier")),
    responses((status = 204, description = "The job and its files were removed (a queued job never runs; a running \
one's worker loses its lease and drops its result)"),
        (status = 401, description = "No token, or an invalid or revoked one", body = ErrorBody),
        (status = 403, description = "The token's scope is too small", body = ErrorBody),
        (status = 404, description = "No such job", body = ErrorBody),
        (status = 429, description = "Too many failed token checks from this address", body = ErrorBody)))]
async fn delete_job(
    State(st): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = parse_id(&id)?;
    let job = st.db.job(&id).await?.ok_or(ApiError::NotFound)?;
    // An unfinished job is cancelled first (its lease ends, so a worker running it can no longer complete it),
    // then removed like a finished one: afterwards the job is gone (404) whatever state it was in.
    if !job.status.is_final() {
        st.db.cancel_job(&id).await?;
    }
    st.db.delete_finished_job(&id).await?;
    st.storage.remove_job_files(&id);
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[utoipa::path(get, path = "/v1/jobs/{id}/report", tag = "jobs",
    params(("id" = String, Path, description = "Job identifier"),
           ("format" = Option<ReportFormat>, Query, description = "`json` (default), `csv` or `html`")),
    responses((status = 200, description = "The `avad detect` report (JSON), its per-snippet table (CSV), or the \
self-contained HTML page of `avad detect --html` (score timeline, class curves, events; no script)",
               content((Object = "application/json"), (String = "text/csv"), (String = "text/html"))),
        (status = 400, description = "Unknown format", body = ErrorBody),
        (status = 401, description = "No token, or an invalid or revoked one", body = ErrorBody),
        (status = 404, description = "No such job, or no HTML report (a job done by an older server)", body = ErrorBody),
        (status = 409, description = "The job is not done", body = ErrorBody),
        (status = 410, description = "The report was removed after the retention time (--keep-results)",
         body = ErrorBody),
        (status = 429, description = "Too many failed token checks from this address", body = ErrorBody)))]
async fn get_report(
    State(st): State<Arc<AppState>>,
    Path(id): Path<String>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let id = parse_id(&id)?;
    let (ext, content_type) = match q.get("format").map(String::as_str) {
        None | Some("json") => ("json", "application/json"),
        Some("csv") => ("csv", "text/csv; charset=utf-8"),
        Some("html") => ("html", "text/html; charset=utf-8"),
        Some(_) => {
            return Err(ApiError::BadRequest(
                "`format` must be json, csv or html".into(),
            ))
        }
    };
    let job = st.db.job(&id).await?.ok_or(ApiError::NotFound)?;
    let base = match (job.status, &job.result_path) {
        (Status::Done, Some(b)) => b.clone(),
        (Status::Expired, _) => return Err(report_expired()),
        (s, _) => {
            return Err(ApiError::Conflict(format!(
                "the job is {}; its report exists once it is done",
                s.as_str()
            )))
        }
    };
    let bytes = match tokio::fs::read(st.storage.path(&format!("{base}.{ext}"))).await {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            // Expired between the look-up and the read, or an HTML report a server before it existed never wrote.
            let now = st.db.job(&id).await?.ok_or(ApiError::NotFound)?;
            return Err(match now.status {
                Status::Expired => report_expired(),
                _ if ext == "html" => ApiError::NotFound,
                _ => ApiError::Internal(format!("the report of {id} is missing")),
            });
        }
        Err(e) => {
            return Err(ApiError::Internal(format!(
                "reading the report of {id}: {e}"
            )))
        }
    };
    let mut r = Response::new(Body::from(bytes));
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if ext == "html" {
        // The page has inline styles and SVG, no script; file names in it are escaped as text.
        r.headers_mut().insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(REPORT_PAGE_CSP),
        );
    }
    if ext == "csv" {
        if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{id}.csv\"")) {
            r.headers_mut().insert(header::CONTENT_DISPOSITION, v);
        }
    }
    Ok(r)
}

/// The policy of the HTML report: its own inline styles and `data:` images, nothing else (no script at all).
pub const REPORT_PAGE_CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; \
form-action 'none'; frame-ancestors 'none'; base-uri 'none'";

fn report_expired() -> ApiError {
    ApiError::Gone("the report was removed after the retention time (--keep-results)".into())
}

/// A link that opens a job's video without a token (for a `<video>` element, which cannot send one).
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct VideoLink {
    /// `/media/{ticket}`: the video, with byte ranges, until `expires_at`, while the token that asked is live.
    pub url: String,
    /// RFC 3339.
    pub expires_at: Option<String>,
}

/// The job `id` and its upload: 404 when either is missing, 410 when the upload was removed after its retention time.
async fn job_with_video(st: &AppState, id: &str) -> Result<Job, ApiError> {
    let job = st.db.job(id).await?.ok_or(ApiError::NotFound)?;
    if job.upload_gone {
        return Err(ApiError::Gone(
            "the video was removed after the retention time (--keep-uploads)".into(),
        ));
    }
    if !st.storage.upload(&job.id).is_file() {
        return Err(ApiError::NotFound);
    }
    Ok(job)
}

async fn video_response(
    st: &AppState,
    job: &Job,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let path = st.storage.upload(&job.id);
    media::serve_file(&path, headers, media::content_type(&job.file_name))
        .await
        .ok_or(ApiError::NotFound)
}

#[utoipa::path(get, path = "/v1/jobs/{id}/video", tag = "jobs",
    params(("id" = String, Path, description = "Job identifier"),
           ("Range" = Option<String>, Header, description = "One byte range, `bytes=START-END`")),
    responses((status = 200, description = "The uploaded video (its type from the file name's extension)",
               content((String = "video/*"), (String = "application/octet-stream")),
               headers(("Accept-Ranges" = String, description = "`bytes`"))),
        (status = 206, description = "The requested byte range",
         content((String = "video/*"), (String = "application/octet-stream")),
         headers(("Content-Range" = String, description = "`bytes START-END/LENGTH`"))),
        (status = 401, description = "No token, or an invalid or revoked one", body = ErrorBody),
        (status = 404, description = "No such job, or its video was removed", body = ErrorBody),
        (status = 410, description = "The video was removed after the retention time (--keep-uploads)",
         body = ErrorBody),
        (status = 416, description = "The range is outside the file"),
        (status = 429, description = "Too many failed token checks from this address", body = ErrorBody)))]
async fn get_video(
    State(st): State<Arc<AppState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let id = parse_id(&id)?;
    let job = job_with_video(&st, &id).await?;
    video_response(&st, &job, &headers).await
}

#[utoipa::path(get, path = "/v1/jobs/{id}/video-link", tag = "jobs",
    params(("id" = String, Path, description = "Job identifier")),
    responses((status = 200, description = "A link to the video that needs no token, valid for an hour", body = VideoLink),
        (status = 401, description = "No token, or an invalid or revoked one", body = ErrorBody),
        (status = 404, description = "No such job, or its video was removed", body = ErrorBody),
        (status = 410, description = "The video was removed after the retention time (--keep-uploads)",
         body = ErrorBody),
        (status = 429, description = "Too many failed token checks from this address", body = ErrorBody)))]
async fn get_video_link(
    State(st): State<Arc<AppState>>,
    Path(id): Path<String>,
    axum::Extension(auth): axum::Extension<AuthToken>,
) -> Result<Json<VideoLink>, ApiError> {
    let id = parse_id(&id)?;
    let job = job_with_video(&st, &id).await?;
    let expires = now_ms() + media::LINK_LIFETIME_MS;
    let ticket = media::issue(&auth.hash, &job.id, expires, &auth.id);
    Ok(Json(VideoLink {
        url: format!("/media/{ticket}"),
        expires_at: rfc3339(expires),
    }))
}

#[utoipa::path(get, path = "/media/{ticket}", tag = "jobs", security(()),
    params(("ticket" = String, Path, description = "The ticket of a link from `/v1/jobs/{id}/video-link`"),
           ("Range" = Option<String>, Header, description = "One byte range, `bytes=START-END`")),
    responses((status = 200, description = "The uploaded video (its type from the file name's extension)",
               content((String = "video/*"), (String = "application/octet-stream")),
               headers(("Accept-Ranges" = String, description = "`bytes`"))),
        (status = 206, description = "The requested byte range",
         content((String = "video/*"), (String = "application/octet-stream")),
         headers(("Content-Range" = String, description = "`bytes START-END/LENGTH`"))),
        (status = 404, description = "No such link (unknown, expired, or its token was revoked), or no video",
         body = ErrorBody),
        (status = 410, description = "The video was removed after the retention time (--keep-uploads)",
         body = ErrorBody),
        (status = 416, description = "The range is outside the file")))]
async fn get_media(
    State(st): State<Arc<AppState>>,
    Path(ticket): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let t = media::Ticket::parse(&ticket).ok_or(ApiError::NotFound)?;
    let key = st
        .db
        .live_token_hash(&t.token_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    if !t.is_valid(&key, now_ms()) {
        return Err(ApiError::NotFound);
    }
    let job = job_with_video(&st, &t.job).await?;
    video_response(&st, &job, &headers).await
}

/// The label of the `avad_serve_jobs` gauge.
#[derive(Clone, Debug, Hash, PartialEq, Eq, prometheus_client::encoding::EncodeLabelSet)]
struct StatusLabels {
    status: String,
}

#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus / OpenMetrics text: the server's `avad_serve_*` series, and with \
`--watch` the cameras' `avad_*` series (as `avad watch` exports them)", body = String,
         content_type = "application/openmetrics-text"),
        (status = 401, description = "No token, or an invalid or revoked one", body = ErrorBody),
        (status = 429, description = "Too many failed token checks from this address", body = ErrorBody)))]
async fn metrics(State(st): State<Arc<AppState>>) -> Result<Response, ApiError> {
    use prometheus_client::encoding::text::encode;
    use prometheus_client::metrics::counter::Counter;
    use prometheus_client::metrics::family::Family;
    use prometheus_client::metrics::gauge::Gauge;
    use prometheus_client::registry::Registry;

    let mut reg = Registry::with_prefix("avad_serve");
    let jobs = Family::<StatusLabels, Gauge>::default();
    for (status, n) in st.db.count_by_status().await? {
        jobs.get_or_create(&StatusLabels { status }).set(n);
    }
    reg.register("jobs", "Jobs in the database by status", jobs);
    let c = &st.counters;
    for (name, help, v) in [
        ("uploads", "Jobs accepted by this process", &c.uploads),
        (
            "uploads_too_large",
            "Uploads refused for their size (413)",
            &c.uploads_too_large,
        ),
        (
            "auth_failures",
            "Requests with a missing, invalid or too small token",
            &c.auth_failures,
        ),
        (
            "rate_limited",
            "Requests refused by the failed-token rate limit (429)",
            &c.rate_limited,
        ),
        (
            "uploads_storage_full",
            "Uploads refused because the storage is full (507: the disk, or --max-storage)",
            &c.uploads_storage_full,
        ),
    ] {
        let counter = Counter::<u64>::default();
        counter.inc_by(v.load(Ordering::Relaxed));
        reg.register(name, help, counter);
    }
    let mut text = String::new();
    encode(&mut text, &reg).map_err(|e| ApiError::Internal(format!("metrics: {e}")))?;
    if let Some(cameras) = st.cameras.as_ref().and_then(|h| h.metrics_text()) {
        text = join_exposition(&text, &cameras);
    }
    let mut r = Response::new(Body::from(text));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
    );
    Ok(r)
}

/// Two OpenMetrics texts as one (their metric names are distinct: `avad_serve_*` and the watch's `avad_*`): the
/// first without its closing `# EOF`, then the second, which keeps its own.
fn join_exposition(first: &str, second: &str) -> String {
    let head = first
        .trim_end()
        .strip_suffix("# EOF")
        .unwrap_or(first.trim_end());
    let mut out = String::with_capacity(head.len() + second.len() + 1);
    out.push_str(head.trim_end());
    if !out.is_empty() {
        out.push('\n');
    }
    out.push_str(second);
    if !out.ends_with('\n') {
        out.push('\n');
    }
    out
}

/// A watched camera (`avad serve --watch`).
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct CameraView {
    /// Name (as in the configuration and in its events).
    pub name: String,
    /// Source, with any credentials in it replaced by `***`.
    #[schema(example = "rtsp://admin:***@10.0.0.5:554/stream1")]
    pub source: String,
    /// Whether the camera is being scored: a score arrived in the last 10 seconds.
    pub active: bool,
    /// The latest snippet's anomaly score.
    pub last_score: Option<f64>,
    /// RFC 3339: when the latest score arrived.
    pub last_score_at: Option<String>,
    /// Event messages received from this camera since the server started.
    pub events: u64,
}

/// The watched cameras.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct CameraList {
    /// In configuration order; empty without `--watch`.
    pub cameras: Vec<CameraView>,
}

#[utoipa::path(get, path = "/v1/cameras", tag = "cameras",
    responses((status = 200, description = "The cameras of `--watch` (none without it)", body = CameraList),
        (status = 401, description = "No token, or an invalid or revoked one", body = ErrorBody),
        (status = 429, description = "Too many failed token checks from this address", body = ErrorBody)))]
async fn list_cameras(State(st): State<Arc<AppState>>) -> Json<CameraList> {
    let now = now_ms();
    let cameras = st
        .cameras
        .as_ref()
        .map(|h| h.cameras())
        .unwrap_or_default()
        .into_iter()
        .map(|c| CameraView {
            active: c.last_score_ms.is_some_and(|t| now - t <= 10_000),
            last_score_at: c.last_score_ms.and_then(rfc3339),
            name: c.name,
            source: c.source,
            last_score: c.last_score,
            events: c.events,
        })
        .collect();
    Json(CameraList { cameras })
}

/// A stored event message of a watched camera.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct EventView {
    /// Identifier of this message (a UUID given on arrival; the page cursor).
    pub id: String,
    /// `new`, `update` or `end`.
    #[serde(rename = "type")]
    #[schema(example = "new")]
    pub kind: String,
    /// The camera.
    pub camera: String,
    /// The event's label.
    pub label: String,
    /// The event's identifier, shared by its `new`, `update`s and `end`.
    pub event_id: String,
    /// RFC 3339: when the message arrived (what `since` and `until` compare with).
    pub received_at: Option<String>,
    /// The message as `avad watch` sends it: `{"type", "before", "after"}` (docs/watch.md).
    #[schema(value_type = Object)]
    pub message: serde_json::Value,
}

/// One page of event messages, newest first.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct EventPage {
    /// The messages.
    pub events: Vec<EventView>,
    /// Pass as `cursor` for the next page; `null` on the last one.
    pub next_cursor: Option<String>,
}

/// Unix milliseconds of an RFC 3339 time.
fn parse_rfc3339(name: &str, s: &str) -> Result<i64, ApiError> {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64)
        .map_err(|_| ApiError::BadRequest(format!("`{name}` must be an RFC 3339 time")))
}

#[utoipa::path(get, path = "/v1/events", tag = "cameras",
    params(("camera" = Option<String>, Query, description = "Only this camera's messages"),
           ("label" = Option<String>, Query, description = "Only messages of events with this label"),
           ("since" = Option<String>, Query, format = DateTime, description = "RFC 3339: only messages that arrived at or after this"),
           ("until" = Option<String>, Query, format = DateTime, description = "RFC 3339: only messages that arrived at or before this"),
           ("limit" = Option<i64>, Query, minimum = 1, maximum = 100, description = "Messages per page, 1 to 100 (20)"),
           ("cursor" = Option<String>, Query, pattern = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$",
            description = "`next_cursor` of the previous page")),
    responses((status = 200, description = "Event messages, newest first", body = EventPage),
        (status = 400, description = "Bad `limit`, `cursor`, `since` or `until`", body = ErrorBody),
        (status = 401, description = "No token, or an invalid or revoked one", body = ErrorBody),
        (status = 429, description = "Too many failed token checks from this address", body = ErrorBody)))]
async fn list_events(
    State(st): State<Arc<AppState>>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Json<EventPage>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let (limit, before) = page_params(&q)?;
    let filter = crate::db::EventFilter {
        camera: q.get("camera").cloned(),
        label: q.get("label").cloned(),
        since_ms: q
            .get("since")
            .map(|s| parse_rfc3339("since", s))
            .transpose()?,
        until_ms: q
            .get("until")
            .map(|s| parse_rfc3339("until", s))
            .transpose()?,
        before,
    };
    let rows = st.db.list_camera_events(&filter, limit).await?;
    let next = next_cursor(&rows, limit, |e| &e.id);
    let events = rows
        .into_iter()
        .map(|e| EventView {
            received_at: rfc3339(e.received_ms),
            message: serde_json::from_str(&e.message).unwrap_or(serde_json::Value::Null),
            id: e.id,
            kind: e.kind,
            camera: e.camera,
            label: e.label,
            event_id: e.event_id,
        })
        .collect();
    Ok(Json(EventPage {
        events,
        next_cursor: next,
    }))
}

#[utoipa::path(get, path = "/v1/events/stream", tag = "cameras",
    params(("camera" = Option<String>, Query, description = "Only this camera's items"),
           ("scores" = Option<bool>, Query, description = "Also each snippet's score (`score` items; default false)")),
    responses((status = 200, description = "Server-Sent Events as they happen: `new`, `update` and `end` with the \
event message as data, `score` with the score line (with `scores=true`), and `lagged` with `{\"missed\": N}` when \
this client fell behind and missed N items. Comments keep the connection alive.",
        content_type = "text/event-stream", body = String),
        (status = 400, description = "Bad `scores`", body = ErrorBody),
        (status = 404, description = "No cameras are watched (the server runs without `--watch`)", body = ErrorBody),
        (status = 401, description = "No token, or an invalid or revoked one", body = ErrorBody),
        (status = 429, description = "Too many failed token checks from this address", body = ErrorBody)))]
async fn event_stream(
    State(st): State<Arc<AppState>>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Response, ApiError> {
    use axum::response::sse::{Event, KeepAlive, Sse};
    use tokio::sync::broadcast::error::RecvError;
    let Query(q) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let scores = match q.get("scores").map(String::as_str) {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => {
            return Err(ApiError::BadRequest(
                "`scores` must be true or false".into(),
            ))
        }
    };
    let camera = q.get("camera").cloned();
    // without --watch nothing would ever come: not found
    let rx = st.cameras.as_ref().ok_or(ApiError::NotFound)?.subscribe();
    let stream = futures_util::stream::unfold(rx, move |mut rx| {
        let camera = camera.clone();
        async move {
            loop {
                match rx.recv().await {
                    Ok(item) => {
                        if (item.kind == "score" && !scores)
                            || camera.as_ref().is_some_and(|c| *c != item.camera)
                        {
                            continue;
                        }
                        let ev = Event::default().event(item.kind).data(item.data);
                        return Some((Ok::<_, std::convert::Infallible>(ev), rx));
                    }
                    Err(RecvError::Lagged(n)) => {
                        let ev = Event::default()
                            .event("lagged")
                            .data(format!("{{\"missed\":{n}}}"));
                        return Some((Ok(ev), rx));
                    }
                    Err(RecvError::Closed) => return None,
                }
            }
        }
    });
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response())
}

/// The OpenAPI document of this API, generated from the handlers' annotations.
#[derive(utoipa::OpenApi)]
#[openapi(
    info(title = "avad serve", description = "avad detect as an HTTP job service (docs/serve.md)."),
    paths(create_job, list_jobs, get_job, delete_job, get_report, get_video, get_video_link, get_media, metrics,
          healthz, readyz, openapi_json, list_cameras, list_events, event_stream),
    components(schemas(JobView, JobPage, ErrorBody, VideoLink, ReportFormat, CameraView, CameraList, EventView,
                       EventPage)),
    modifiers(&BearerAuth, &UploadBody),
    security(("bearer" = []))
)]
pub struct ApiDoc;

/// Declares the `bearer` security scheme the operations require.
struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        doc.components
            .get_or_insert_with(Default::default)
            .add_security_scheme(
                "bearer",
                SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
            );
    }
}

/// Declares the upload of `POST /v1/jobs` as what the handler takes: required, binary, at least one byte.
struct UploadBody;

impl utoipa::Modify for UploadBody {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::content::ContentBuilder;
        use utoipa::openapi::request_body::RequestBodyBuilder;
        use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
        use utoipa::openapi::Required;
        let Some(op) = doc
            .paths
            .paths
            .get_mut("/v1/jobs")
            .and_then(|p| p.post.as_mut())
        else {
            return;
        };
        let bytes = ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Binary)))
            .min_length(Some(1))
            .build();
        op.request_body = Some(
            RequestBodyBuilder::new()
                .description(Some(
                    "The video's bytes, streamed (Content-Length or chunked); an empty body is refused (400)",
                ))
                .required(Some(Required::True))
                .content(
                    "application/octet-stream",
                    ContentBuilder::new().schema(Some(bytes)).build(),
                )
                .build(),
        );
    }
}

#[utoipa::path(get, path = "/openapi.json", tag = "operations",
    responses((status = 200, description = "This document", body = Object),
        (status = 401, description = "No token, or an invalid or revoked one", body = ErrorBody),
        (status = 429, description = "Too many failed token checks from this address", body = ErrorBody)))]
async fn openapi_json() -> Json<utoipa::openapi::OpenApi> {
    Json(<ApiDoc as utoipa::OpenApi>::openapi())
}

#[cfg(test)]
mod tests {
    use utoipa::OpenApi;

    #[test]
    fn the_openapi_document_lists_every_route_and_the_bearer_scheme() {
        let doc = serde_json::to_value(super::ApiDoc::openapi()).unwrap();
        let paths = doc["paths"].as_object().unwrap();
        for p in [
            "/v1/jobs",
            "/v1/jobs/{id}",
            "/v1/jobs/{id}/report",
            "/metrics",
            "/healthz",
            "/readyz",
            "/openapi.json",
        ] {
            assert!(paths.contains_key(p), "{p} missing");
        }
        assert!(paths["/v1/jobs"]["post"]["responses"]["413"].is_object());
        let body = &paths["/v1/jobs"]["post"]["requestBody"];
        assert_eq!(body["required"], true);
        assert_eq!(
            body["content"]["application/octet-stream"]["schema"]["minLength"],
            1
        );
        for p in [
            "/v1/jobs/{id}/video",
            "/v1/jobs/{id}/video-link",
            "/media/{ticket}",
        ] {
            assert!(paths.contains_key(p), "{p} missing");
        }
        assert_eq!(
            paths["/media/{ticket}"]["get"]["security"],
            serde_json::json!([{}])
        );
        assert_eq!(
            doc["components"]["securitySchemes"]["bearer"]["scheme"],
            "bearer"
        );
        assert!(
            paths["/v1/jobs/{id}/report"]["get"]["responses"]["200"]["content"]["text/html"]
                .is_object()
        );
        assert!(paths["/v1/jobs/{id}/report"]["get"]["responses"]["410"].is_object());
        assert!(paths["/v1/jobs/{id}/video"]["get"]["responses"]["410"].is_object());
        assert!(paths["/v1/jobs"]["post"]["responses"]["507"].is_object());
        // Health needs no token.
        assert_eq!(
            paths["/healthz"]["get"]["security"],
            serde_json::json!([{}])
        );
    }

    #[test]
    fn the_cameras_metrics_follow_the_servers_under_one_eof() {
        let serve = "# HELP avad_serve_uploads Jobs.\n# TYPE avad_serve_uploads counter\navad_serve_uploads_total 1\n# EOF\n";
        let watch = "# HELP avad_snippets Snippets scored.\n# TYPE avad_snippets counter\navad_snippets_total{camera=\"yard\"} 3\n# EOF\n";
        let joined = super::join_exposition(serve, watch);
        assert_eq!(joined.matches("# EOF").count(), 1, "{joined}");
        assert!(joined.ends_with("# EOF\n"), "{joined}");
        assert!(joined.starts_with("# HELP avad_serve_uploads"), "{joined}");
        assert!(
            joined.contains("avad_serve_uploads_total 1\n# HELP avad_snippets"),
            "{joined}"
        );
        assert!(
            joined.contains("avad_snippets_total{camera=\"yard\"} 3\n"),
            "{joined}"
        );
    }

    #[test]
    fn a_full_disk_is_507() {
        use std::io::Write;
        // A real ENOSPC: /dev/full refuses every write with it.
        let e = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .and_then(|mut f| f.write_all(b"x").and_then(|_| f.flush()))
            .unwrap_err();
        assert_eq!(e.raw_os_error(), Some(28), "{e}");
        let r = axum::response::IntoResponse::into_response(super::io_error(e));
        assert_eq!(r.status(), axum::http::StatusCode::INSUFFICIENT_STORAGE);
        let other = std::io::Error::from(std::io::ErrorKind::PermissionDenied);
        let r = axum::response::IntoResponse::into_response(super::io_error(other));
        assert_eq!(r.status(), axum::http::StatusCode::INTERNAL_SERVER_ERROR);
    }
}
