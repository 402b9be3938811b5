//! `avad serve`: the HTML report (escaped, no script, behind a token), retention (`--keep-uploads`,
//! `--keep-results`: the sweeper removes the files, the job says so and its routes answer 410, not 500), and the
//! storage limit (`--max-storage`: 507 and nothing left behind, with a declared length and streamed).

mod common;

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use common::{create_token, http, read_http_response, root, Server, TinyModels};

const CLIP: &str = "fixtures/media/synthetic_av_sync.mp4";

/// Starts `avad serve` (a worker with `models`, else API only) on an ephemeral loopback port with `storage` and
/// `extra` flags.
fn start(models: Option<&TinyModels>, storage: &Path, extra: &[&str]) -> Server {
    common::start_serve(models, storage, extra, Duration::from_secs(60))
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().to_string())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Uploads `bytes` as `name` (URL-encoded by the caller) with `Content-Length`; returns the status and body.
fn upload(addr: &str, token: &str, name: &str, bytes: &[u8]) -> common::HttpResponse {
    http(
        addr,
        "POST",
        &format!("/v1/jobs?name={name}"),
        Some(token),
        &[],
        Some(bytes),
    )
}

/// Uploads `bytes` with `Transfer-Encoding: chunked` (no declared length, so the server counts as it receives);
/// returns the status.
fn upload_chunked(addr: &str, token: &str, bytes: &[u8]) -> u16 {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    write!(
        s,
        "POST /v1/jobs?name=chunked.mp4 HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut w = s.try_clone().unwrap();
    let body = bytes.to_vec();
    let writer = std::thread::spawn(move || {
        for c in body.chunks(4096) {
            if write!(w, "{:x}\r\n", c.len()).is_err()
                || w.write_all(c).is_err()
                || w.write_all(b"\r\n").is_err()
            {
                return;
            }
        }
        let _ = w.write_all(b"0\r\n\r\n");
    });
    let status = read_http_response(&mut s, "chunked upload").status;
    let _ = writer.join();
    status
}

/// Polls job `id` until `done(job)`; returns the job.
fn wait_until(
    addr: &str,
    token: &str,
    id: &str,
    secs: u64,
    what: &str,
    done: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let until = Instant::now() + Duration::from_secs(secs);
    loop {
        let r = http(
            addr,
            "GET",
            &format!("/v1/jobs/{id}"),
            Some(token),
            &[],
            None,
        );
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        let j = r.json();
        if done(&j) {
            return j;
        }
        assert!(Instant::now() < until, "job {id}: never {what}: {j}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn the_html_report_is_escaped_self_contained_and_needs_a_token() {
    let m = TinyModels::new(11);
    let dir = tempfile::tempdir().unwrap();
    let storage = dir.path().join("s");
    let t = create_token(&storage, "uploader", "submit", &[]);
    let srv = start(Some(&m), &storage, &[]);
    let a = srv.addr.as_str();
    let clip = std::fs::read(root().join(CLIP)).unwrap();
    // `<img src=x onerror=alert(1)>&"'.mp4`, URL-encoded.
    let r = upload(
        a,
        &t,
        "%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E%26%22%27.mp4",
        &clip,
    );
    assert_eq!(r.status, 202, "{}", String::from_utf8_lossy(&r.body));
    let id = r.json()["id"].as_str().unwrap().to_string();
    let path = format!("/v1/jobs/{id}/report?format=html");
    // Not done yet (or just done): never without a token.
    assert_eq!(http(a, "GET", &path, None, &[], None).status, 401);
    let job = wait_until(a, &t, &id, 300, "done", |j| {
        j["status"] != "queued" && j["status"] != "running"
    });
    assert_eq!(job["status"], "done", "{job}");
    assert_eq!(http(a, "GET", &path, None, &[], None).status, 401);
    assert_eq!(
        http(a, "GET", &path, Some("avad_wrong"), &[], None).status,
        401
    );
    let r = http(a, "GET", &path, Some(&t), &[], None);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Content-Type"), Some("text/html; charset=utf-8"));
    let csp = r.header("Content-Security-Policy").unwrap();
    assert!(csp.starts_with("default-src 'none'"), "{csp}");
    assert!(!csp.contains("script"), "no script may run: {csp}");
    assert_eq!(r.header("X-Content-Type-Options"), Some("nosniff"));
    let page = String::from_utf8(r.body).unwrap();
    assert!(page.starts_with("<!DOCTYPE html>"), "{page}");
    assert!(
        page.contains("&lt;img src=x onerror=alert(1)&gt;&amp;&quot;'.mp4"),
        "the file name is shown as text: {page}"
    );
    assert!(!page.contains("<img src=x"), "{page}");
    assert!(!page.to_lowercase().contains("<script"), "{page}");
    // Self-contained: a timeline, no link to anything else.
    assert!(
        page.contains("<svg") && page.contains("<polyline"),
        "{page}"
    );
    for outside in ["src='http", "src=\"http", "href=", "@import", "url("] {
        assert!(!page.contains(outside), "{outside} in the page");
    }
    // JSON and CSV still work; an unknown format is 400.
    let json = http(
        a,
        "GET",
        &format!("/v1/jobs/{id}/report"),
        Some(&t),
        &[],
        None,
    );
    assert_eq!(json.json()["video"], "<img src=x onerror=alert(1)>&\"'.mp4");
    let r = http(
        a,
        "GET",
        &format!("/v1/jobs/{id}/report?format=xml"),
        Some(&t),
        &[],
        None,
    );
    assert_eq!(r.status, 400);
    // The report of one job only: another id is 404.
    let other = format!(
        "/v1/jobs/{}/report?format=html",
        "00000000-0000-7000-8000-000000000000"
    );
    assert_eq!(http(a, "GET", &other, Some(&t), &[], None).status, 404);
}

#[test]
fn retention_removes_old_uploads_and_reports_and_the_job_says_so() {
    let m = TinyModels::new(11);
    let dir = tempfile::tempdir().unwrap();
    let storage = dir.path().join("s");
    let t = create_token(&storage, "uploader", "submit", &[]);
    let srv = start(
        Some(&m),
        &storage,
        &[
            "--keep-uploads",
            "2s",
            "--keep-results",
            "5s",
            "--sweep-every",
            "1",
        ],
    );
    let a = srv.addr.as_str();
    let r = upload(
        a,
        &t,
        "clip.mp4",
        &std::fs::read(root().join(CLIP)).unwrap(),
    );
    assert_eq!(r.status, 202);
    let id = r.json()["id"].as_str().unwrap().to_string();
    let done = wait_until(a, &t, &id, 300, "done", |j| {
        j["status"] != "queued" && j["status"] != "running"
    });
    assert_eq!(done["status"], "done", "{done}");
    assert!(
        done["video_removed_at"].is_null() && done["expired_at"].is_null(),
        "{done}"
    );
    let video = format!("/v1/jobs/{id}/video");
    let link = format!("/v1/jobs/{id}/video-link");
    let report = format!("/v1/jobs/{id}/report");
    assert_eq!(http(a, "GET", &video, Some(&t), &[], None).status, 200);
    let media = http(a, "GET", &link, Some(&t), &[], None).json()["url"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(http(a, "GET", &media, None, &[], None).status, 200);

    // The upload goes first (2 s): the job stays done with its report; its video answers 410.
    let j = wait_until(a, &t, &id, 30, "lost its video", |j| {
        !j["video_removed_at"].is_null()
    });
    assert_eq!(j["status"], "done", "{j}");
    for p in [&video, &link] {
        let r = http(a, "GET", p, Some(&t), &[], None);
        assert_eq!(r.status, 410, "{p}");
        assert!(r.json()["error"]
            .as_str()
            .unwrap()
            .contains("--keep-uploads"));
    }
    assert_eq!(http(a, "GET", &media, None, &[], None).status, 410);
    assert_eq!(files_in(&storage.join("uploads")), Vec::<String>::new());
    assert_eq!(http(a, "GET", &report, Some(&t), &[], None).status, 200);

    // Then the report (5 s): the job is `expired`, its report answers 410 in every format.
    let j = wait_until(a, &t, &id, 30, "expired", |j| j["status"] == "expired");
    assert!(j["report"].is_null() && !j["expired_at"].is_null(), "{j}");
    for f in ["", "?format=csv", "?format=html"] {
        let r = http(a, "GET", &format!("{report}{f}"), Some(&t), &[], None);
        assert_eq!(r.status, 410, "{f}");
        assert!(r.json()["error"]
            .as_str()
            .unwrap()
            .contains("--keep-results"));
    }
    // The sweeper finishes with the files right after marking the job.
    let until = Instant::now() + Duration::from_secs(10);
    while !files_in(&storage.join("results")).is_empty() {
        assert!(
            Instant::now() < until,
            "{:?}",
            files_in(&storage.join("results"))
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let list = http(a, "GET", "/v1/jobs", Some(&t), &[], None);
    assert_eq!(list.status, 200);
    assert_eq!(list.json()["jobs"][0]["status"], "expired");
    // An expired job can still be deleted.
    assert_eq!(
        http(a, "DELETE", &format!("/v1/jobs/{id}"), Some(&t), &[], None).status,
        204
    );
    assert_eq!(
        http(a, "GET", &format!("/v1/jobs/{id}"), Some(&t), &[], None).status,
        404
    );
}

#[test]
fn the_storage_limit_answers_507_and_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let storage = dir.path().join("s");
    let t = create_token(&storage, "uploader", "submit", &[]);
    // API only: the jobs stay queued, so their uploads stay.
    let srv = start(None, &storage, &["--max-storage", "25000"]);
    let a = srv.addr.as_str();
    let clip = std::fs::read(root().join(CLIP)).unwrap();
    assert!(clip.len() > 10_000 && clip.len() < 12_500);
    let first = upload(a, &t, "1.mp4", &clip);
    assert_eq!(first.status, 202);
    assert_eq!(upload(a, &t, "2.mp4", &clip).status, 202);
    // A third would pass 25 000 bytes: refused with a declared length and when streamed without one.
    let r = upload(a, &t, "3.mp4", &clip);
    assert_eq!(r.status, 507, "{}", String::from_utf8_lossy(&r.body));
    assert!(r.json()["error"]
        .as_str()
        .unwrap()
        .contains("storage is full"));
    assert_eq!(upload_chunked(a, &t, &clip), 507);
    std::thread::sleep(Duration::from_millis(200));
    let uploads = files_in(&storage.join("uploads"));
    assert_eq!(uploads.len(), 2, "no partial upload is left: {uploads:?}");
    assert!(uploads.iter().all(|f| !f.starts_with(".partial")));
    let list = http(a, "GET", "/v1/jobs", Some(&t), &[], None).json();
    assert_eq!(list["jobs"].as_array().unwrap().len(), 2, "{list}");
    let metrics = String::from_utf8(http(a, "GET", "/metrics", Some(&t), &[], None).body).unwrap();
    assert!(
        metrics.contains("avad_serve_uploads_storage_full_total 2"),
        "{metrics}"
    );
    // Deleting a job frees its space.
    let id = first.json()["id"].as_str().unwrap().to_string();
    assert_eq!(
        http(a, "DELETE", &format!("/v1/jobs/{id}"), Some(&t), &[], None).status,
        204
    );
    assert_eq!(upload_chunked(a, &t, &clip), 202);
    assert_eq!(files_in(&storage.join("uploads")).len(), 2);
}
