//! `avad serve` end to end: the real binary on 127.0.0.1 (an ephemeral port), real HTTP over TCP, the SQLite queue,
//! and the tiny random-weight models the watch tests use. Tokens and scopes (401 / 403), security headers, the
//! OpenAPI document, the
//! upload cap (413, nothing left on disk), a clip scored exactly like `avad detect --json`, a corrupt file failing
//! with a clear error, `kill -9` during an upload and during a job (restart: the partial upload is gone and the job
//! completes once), and the failed-token rate limit (429).

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{
    avad_command, avad_ok, create_token, read_http_response, root, HttpResponse, KillOnDrop,
    Server, TinyModels,
};

fn media(name: &str) -> PathBuf {
    root().join("fixtures/media").join(name)
}

/// Starts `avad serve` with the tiny models on an ephemeral loopback port with `storage` and `extra` flags.
fn start(m: &TinyModels, storage: &Path, extra: &[&str]) -> Server {
    common::start_serve(Some(m), storage, extra, Duration::from_secs(60))
}

/// Creates a token with `scope` in `storage`'s database and returns it.
fn token(storage: &Path, name: &str, scope: &str) -> String {
    create_token(storage, name, scope, &[])
}

/// How a request sends its body.
enum Upload<'a> {
    None,
    /// With `Content-Length`, written on another thread while the answer is read.
    Sized(&'a [u8]),
    /// `Transfer-Encoding: chunked`, in 16 KiB chunks, written on another thread while the answer is read (so an
    /// early 413 is seen even though the server stops reading).
    Chunked(Vec<u8>),
}

/// One request over a fresh connection (`Connection: close`).
fn request(
    addr: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Upload,
) -> HttpResponse {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let framing = match &body {
        Upload::None => String::new(),
        Upload::Sized(b) => format!("Content-Length: {}\r\n", b.len()),
        Upload::Chunked(_) => "Transfer-Encoding: chunked\r\n".into(),
    };
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nOrigin: http://evil.example\r\n{auth}{framing}\
         Content-Type: application/octet-stream\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let writer = match body {
        Upload::None => None,
        Upload::Sized(b) => {
            let (mut w, b) = (s.try_clone().unwrap(), b.to_vec());
            Some(std::thread::spawn(move || {
                let _ = w.write_all(&b);
            }))
        }
        Upload::Chunked(b) => {
            let mut w = s.try_clone().unwrap();
            Some(std::thread::spawn(move || {
                for c in b.chunks(16 << 10) {
                    if write!(w, "{:x}\r\n", c.len()).is_err()
                        || w.write_all(c).is_err()
                        || w.write_all(b"\r\n").is_err()
                    {
                        return;
                    }
                }
                let _ = w.write_all(b"0\r\n\r\n");
            }))
        }
    };
    let response = read_http_response(&mut s, &format!("{method} {path}"));
    if let Some(w) = writer {
        let _ = w.join();
    }
    response
}

fn get(addr: &str, path: &str, token: Option<&str>) -> HttpResponse {
    request(addr, "GET", path, token, Upload::None)
}

/// Uploads `bytes` as `name`; asserts 202 and returns the job id.
fn submit(addr: &str, token: &str, name: &str, bytes: &[u8]) -> String {
    let r = request(
        addr,
        "POST",
        &format!("/v1/jobs?name={name}"),
        Some(token),
        Upload::Sized(bytes),
    );
    assert_eq!(r.status, 202, "{}", String::from_utf8_lossy(&r.body));
    let id = r.json()["id"].as_str().unwrap().to_string();
    assert_eq!(
        r.header("Location"),
        Some(format!("/v1/jobs/{id}").as_str())
    );
    assert!(r.header("Retry-After").is_some());
    id
}

/// Polls job `id` until its status is one of `states`; returns the job.
fn wait_for(addr: &str, token: &str, id: &str, states: &[&str], secs: u64) -> serde_json::Value {
    let until = Instant::now() + Duration::from_secs(secs);
    loop {
        let r = get(addr, &format!("/v1/jobs/{id}"), Some(token));
        assert_eq!(r.status, 200);
        let j = r.json();
        if states.contains(&j["status"].as_str().unwrap_or("")) {
            return j;
        }
        assert!(
            Instant::now() < until,
            "job {id} never reached {states:?}: {j}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn files_in(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// `avad detect --json` on `video` with the same models and `extra` flags.
fn detect_json(m: &TinyModels, video: &Path, extra: &[&str]) -> serde_json::Value {
    let mut args = vec![
        "detect".to_string(),
        video.display().to_string(),
        "--json".into(),
    ];
    args.extend(m.args());
    args.extend(extra.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    serde_json::from_slice(&avad_ok(&args).stdout).unwrap()
}

/// The report's snippets equal `avad detect`'s (same times, classes and scores).
fn assert_same_snippets(report: &serde_json::Value, detect: &serde_json::Value) {
    let a = report["snippets"].as_array().unwrap();
    let b = detect["snippets"].as_array().unwrap();
    assert!(!b.is_empty());
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(b) {
        for k in ["index", "start_s", "end_s", "top_class", "audio"] {
            assert_eq!(x[k], y[k], "{k}");
        }
        let close = |p: &serde_json::Value, q: &serde_json::Value| {
            (p.as_f64().unwrap() - q.as_f64().unwrap()).abs() <= 1e-6
        };
        assert!(
            close(&x["anomaly_score"], &y["anomaly_score"]),
            "{x} vs {y}"
        );
        let (px, py) = (
            x["probs"].as_array().unwrap(),
            y["probs"].as_array().unwrap(),
        );
        assert_eq!(px.len(), py.len());
        assert!(px.iter().zip(py).all(|(p, q)| close(p, q)), "{x} vs {y}");
    }
    assert_eq!(report["events"], detect["events"]);
}

const ZERO_ID: &str = "00000000-0000-7000-8000-000000000000";

#[test]
fn every_route_but_health_needs_a_token_of_the_right_scope() {
    let m = TinyModels::new(11);
    let dir = tempfile::tempdir().unwrap();
    let storage = dir.path().join("s");
    let read = token(&storage, "viewer", "read");
    let submit_tok = token(&storage, "uploader", "submit");
    let srv = start(&m, &storage, &[]);
    let a = srv.addr.as_str();

    for path in ["/healthz", "/readyz"] {
        let r = get(a, path, None);
        assert_eq!(r.status, 200, "{path}");
    }
    let job = format!("/v1/jobs/{ZERO_ID}");
    let report = format!("/v1/jobs/{ZERO_ID}/report");
    let report_html = format!("/v1/jobs/{ZERO_ID}/report?format=html");
    let video = format!("/v1/jobs/{ZERO_ID}/video");
    let video_link = format!("/v1/jobs/{ZERO_ID}/video-link");
    let routes = [
        ("GET", "/v1/jobs"),
        ("POST", "/v1/jobs"),
        ("GET", job.as_str()),
        ("DELETE", job.as_str()),
        ("GET", report.as_str()),
        ("GET", report_html.as_str()),
        ("GET", video.as_str()),
        ("GET", video_link.as_str()),
        ("GET", "/metrics"),
        ("GET", "/openapi.json"),
        ("GET", "/no/such/route"),
    ];
    for (method, path) in routes {
        let r = request(a, method, path, None, Upload::None);
        assert_eq!(r.status, 401, "{method} {path} without a token");
        assert_eq!(r.header("WWW-Authenticate"), Some("Bearer"));
    }
    // A read token may look but not change anything.
    for (method, path) in [("POST", "/v1/jobs"), ("DELETE", job.as_str())] {
        let r = request(a, method, path, Some(&read), Upload::Sized(b"x"));
        assert_eq!(r.status, 403, "{method} {path} with a read token");
    }
    let r = get(a, "/v1/jobs", Some(&read));
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["jobs"].as_array().unwrap().len(), 0);
    assert_eq!(get(a, &job, Some(&read)).status, 404);
    assert_eq!(get(a, "/v1/jobs/not-an-id", Some(&read)).status, 404);
    assert_eq!(get(a, "/v1/jobs?limit=0", Some(&read)).status, 400);
    assert_eq!(get(a, "/v1/jobs?cursor=..%2F..", Some(&read)).status, 400);
    let doc = get(a, "/openapi.json", Some(&read));
    assert_eq!(doc.status, 200);
    let doc = doc.json();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."), "{doc}");
    for p in [
        "/v1/jobs",
        "/v1/jobs/{id}",
        "/v1/jobs/{id}/report",
        "/healthz",
    ] {
        assert!(
            doc["paths"][p].is_object(),
            "{p} is not in the OpenAPI document"
        );
    }
    let metrics = get(a, "/metrics", Some(&read));
    assert_eq!(metrics.status, 200);
    assert!(String::from_utf8_lossy(&metrics.body).contains("avad_serve_auth_failures"));
    // Security headers on every answer, no CORS.
    for r in [
        get(a, "/healthz", None),
        get(a, "/v1/jobs", None),
        get(a, "/v1/jobs", Some(&read)),
    ] {
        assert_eq!(r.header("X-Content-Type-Options"), Some("nosniff"));
        assert_eq!(r.header("X-Frame-Options"), Some("DENY"));
        assert_eq!(r.header("Referrer-Policy"), Some("no-referrer"));
        assert!(r
            .header("Content-Security-Policy")
            .is_some_and(|c| c.contains("frame-ancestors 'none'")));
        assert!(r.header("Access-Control-Allow-Origin").is_none());
    }
    // A revoked token stops working at once; a submit token may submit (an empty body is refused as such).
    avad_ok(&[
        "serve",
        "token",
        "revoke",
        "viewer",
        "--storage",
        &storage.display().to_string(),
    ]);
    assert_eq!(get(a, "/v1/jobs", Some(&read)).status, 401);
    let r = request(a, "POST", "/v1/jobs", Some(&submit_tok), Upload::Sized(b""));
    assert_eq!(r.status, 400);
    let list = avad_ok(&[
        "serve",
        "token",
        "list",
        "--storage",
        &storage.display().to_string(),
    ]);
    let list = String::from_utf8(list.stdout).unwrap();
    assert!(
        list.contains("viewer") && list.contains("revoked") && !list.contains("avad_"),
        "{list}"
    );
}

#[test]
fn an_oversized_upload_gets_413_and_leaves_nothing_on_disk() {
    let m = TinyModels::new(11);
    let dir = tempfile::tempdir().unwrap();
    let storage = dir.path().join("s");
    let t = token(&storage, "uploader", "submit");
    let srv = start(&m, &storage, &["--max-upload", "100000"]);
    // Streamed without a length: refused once the cap is passed.
    let big = vec![7u8; 1 << 20];
    let r = request(
        &srv.addr,
        "POST",
        "/v1/jobs?name=big.mp4",
        Some(&t),
        Upload::Chunked(big.clone()),
    );
    assert_eq!(r.status, 413, "{}", String::from_utf8_lossy(&r.body));
    // Declared too large: refused before reading.
    let r = request(
        &srv.addr,
        "POST",
        "/v1/jobs?name=big.mp4",
        Some(&t),
        Upload::Sized(&big),
    );
    assert_eq!(r.status, 413);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(files_in(&storage.join("uploads")), Vec::<String>::new());
    assert_eq!(files_in(&storage.join("results")), Vec::<String>::new());
    let r = get(&srv.addr, "/v1/jobs", Some(&t));
    assert_eq!(r.json()["jobs"].as_array().unwrap().len(), 0);
    // Just under the cap is accepted (streamed too).
    let r = request(
        &srv.addr,
        "POST",
        "/v1/jobs?name=ok.bin",
        Some(&t),
        Upload::Chunked(vec![1u8; 99_000]),
    );
    assert_eq!(r.status, 202);
}

#[test]
fn a_clip_is_scored_like_avad_detect_and_a_corrupt_file_fails_clearly() {
    let m = TinyModels::new(11);
    let dir = tempfile::tempdir().unwrap();
    let storage = dir.path().join("s");
    let t = token(&storage, "uploader", "submit");
    let srv = start(&m, &storage, &[]);
    let a = srv.addr.as_str();
    let clip = media("moviepy_big_buck_bunny_0_30.webm");

    let bad = submit(a, &t, "broken.mp4", b"this is not a video at all");
    let good = submit(a, &t, "bunny%20clip.webm", &std::fs::read(&clip).unwrap());
    let failed = wait_for(a, &t, &bad, &["failed", "done"], 120);
    assert_eq!(failed["status"], "failed", "{failed}");
    let err = failed["error"].as_str().unwrap();
    assert!(err.contains("upload \"broken.mp4\""), "{err}");
    assert!(
        !err.contains(storage.to_str().unwrap()),
        "server paths leak: {err}"
    );
    assert_eq!(
        get(a, &format!("/v1/jobs/{bad}/report"), Some(&t)).status,
        409
    );

    let done = wait_for(a, &t, &good, &["done", "failed"], 300);
    assert_eq!(done["status"], "done", "{done}");
    assert_eq!(done["progress"], 1.0);
    assert_eq!(done["file_name"], "bunny clip.webm");
    assert_eq!(done["attempts"], 1);
    let report = get(a, &format!("/v1/jobs/{good}/report"), Some(&t));
    assert_eq!(report.status, 200);
    assert!(report
        .header("Content-Type")
        .unwrap()
        .starts_with("application/json"));
    let report = report.json();
    assert_eq!(report["video"], "bunny clip.webm");
    assert_same_snippets(&report, &detect_json(&m, &clip, &[]));
    let csv = get(a, &format!("/v1/jobs/{good}/report?format=csv"), Some(&t));
    assert_eq!(csv.status, 200);
    let csv = String::from_utf8(csv.body).unwrap();
    assert!(csv.starts_with("index,start_s,end_s,anomaly_score"));
    assert_eq!(
        csv.lines().count(),
        1 + report["snippets"].as_array().unwrap().len()
    );

    // Pagination: newest first, one per page.
    let p1 = get(a, "/v1/jobs?limit=1", Some(&t)).json();
    assert_eq!(p1["jobs"][0]["id"], good.as_str());
    let cursor = p1["next_cursor"].as_str().unwrap();
    let p2 = get(a, &format!("/v1/jobs?limit=1&cursor={cursor}"), Some(&t)).json();
    assert_eq!(p2["jobs"][0]["id"], bad.as_str());
    let p3 = get(a, &format!("/v1/jobs?limit=1&cursor={bad}"), Some(&t)).json();
    assert_eq!(p3["jobs"].as_array().unwrap().len(), 0);
    assert!(p3["next_cursor"].is_null());

    // Deleting a finished job removes it and its files.
    let r = request(
        a,
        "DELETE",
        &format!("/v1/jobs/{good}"),
        Some(&t),
        Upload::None,
    );
    assert_eq!(r.status, 204);
    assert_eq!(get(a, &format!("/v1/jobs/{good}"), Some(&t)).status, 404);
    assert!(!files_in(&storage.join("uploads")).contains(&good));
    assert!(files_in(&storage.join("results"))
        .iter()
        .all(|f| !f.starts_with(&good)));
    assert_eq!(get(a, "/healthz", None).status, 200);
}

#[test]
fn kill_9_during_an_upload_and_a_job_then_restart_completes_the_job_once() {
    let m = TinyModels::new(11);
    let dir = tempfile::tempdir().unwrap();
    let storage = dir.path().join("s");
    let t = token(&storage, "uploader", "submit");
    let clip = media("intel_one-by-one-person-detection.mp4");
    // Every 4th frame: a job of a few seconds, long enough to be killed in the middle.
    let flags = ["--lease", "2", "--stride", "4"];
    let srv = start(&m, &storage, &flags);
    let id = submit(&srv.addr, &t, "people.mp4", &std::fs::read(&clip).unwrap());
    wait_for(&srv.addr, &t, &id, &["running"], 120);
    // An upload in flight: half a chunked body, then the server dies.
    let mut up = TcpStream::connect(&srv.addr).unwrap();
    write!(
        up,
        "POST /v1/jobs?name=half.mp4 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {t}\r\n\
         Transfer-Encoding: chunked\r\n\r\n4000\r\n"
    )
    .unwrap();
    up.write_all(&[0u8; 0x4000]).unwrap();
    up.write_all(b"\r\n").unwrap();
    let until = Instant::now() + Duration::from_secs(10);
    while !files_in(&storage.join("uploads"))
        .iter()
        .any(|f| f.starts_with(".partial-"))
    {
        assert!(Instant::now() < until, "the partial upload never appeared");
        std::thread::sleep(Duration::from_millis(10));
    }
    let j = get(&srv.addr, &format!("/v1/jobs/{id}"), Some(&t)).json();
    assert_eq!(
        j["status"], "running",
        "the job ended before the kill: pick a longer clip"
    );
    drop(srv); // SIGKILL
    drop(up);

    let srv = start(&m, &storage, &flags);
    assert!(
        files_in(&storage.join("uploads"))
            .iter()
            .all(|f| !f.starts_with(".partial-")),
        "the half-received upload is removed at start"
    );
    let done = wait_for(&srv.addr, &t, &id, &["done", "failed"], 600);
    assert_eq!(done["status"], "done", "{done}");
    assert_eq!(
        done["attempts"], 2,
        "taken again once after the crash: {done}"
    );
    let report = get(&srv.addr, &format!("/v1/jobs/{id}/report"), Some(&t)).json();
    assert_same_snippets(&report, &detect_json(&m, &clip, &["--stride", "4"]));
    // Exactly one report: the killed attempt wrote none.
    let results = files_in(&storage.join("results"));
    let json: Vec<_> = results.iter().filter(|f| f.ends_with(".json")).collect();
    assert_eq!(json, [&format!("{id}-a2.json")], "{results:?}");
    let list = get(&srv.addr, "/v1/jobs", Some(&t)).json();
    assert_eq!(list["jobs"].as_array().unwrap().len(), 1, "{list}");
}

#[test]
fn failed_token_checks_are_rate_limited_per_address() {
    let m = TinyModels::new(11);
    let dir = tempfile::tempdir().unwrap();
    let storage = dir.path().join("s");
    let t = token(&storage, "viewer", "read");
    let srv = start(&m, &storage, &["--auth-failures-per-minute", "3"]);
    for _ in 0..3 {
        assert_eq!(get(&srv.addr, "/v1/jobs", Some("avad_wrong")).status, 401);
    }
    let r = get(&srv.addr, "/v1/jobs", Some("avad_wrong"));
    assert_eq!(r.status, 429);
    let wait: u64 = r.header("Retry-After").unwrap().parse().unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
    // The address is blocked for every token until the window ends; health stays open.
    assert_eq!(get(&srv.addr, "/v1/jobs", Some(&t)).status, 429);
    assert_eq!(get(&srv.addr, "/healthz", None).status, 200);
}

#[test]
fn the_default_listen_address_is_loopback() {
    // The flag's stated default…
    let help = String::from_utf8(avad_ok(&["serve", "--help"]).stdout).unwrap();
    assert!(help.contains("[default: 127.0.0.1:8080]"), "{help}");
    // …is what a server started without --listen binds: an API-only process (no models) reports the address of
    // its listener. When another program holds the port, the error names the address it tried instead.
    let dir = tempfile::tempdir().unwrap();
    let mut child = KillOnDrop(
        avad_command()
            .args(["serve", "--no-worker", "--storage"])
            .arg(dir.path().join("s"))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut out = child.0.stdout.take().unwrap();
    let mut err = child.0.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = Vec::new();
        let mut b = [0u8; 1];
        while out.read(&mut b).unwrap_or(0) == 1 && b[0] != b'\n' {
            line.push(b[0]);
        }
        let _ = tx.send(String::from_utf8_lossy(&line).to_string());
    });
    let first = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("avad serve neither started nor failed");
    if first.is_empty() {
        // It exited without READY: the port is taken.
        let _ = child.0.wait();
        let mut e = String::new();
        err.read_to_string(&mut e).unwrap();
        assert!(e.contains("cannot listen on 127.0.0.1:8080"), "{e}");
        eprintln!("port 8080 is in use here: the server named the loopback address it tried");
        return;
    }
    assert_eq!(first, "READY http://127.0.0.1:8080");
    let r = common::http("127.0.0.1:8080", "GET", "/healthz", None, &[], None);
    assert_eq!(r.status, 200);
    // Not reachable on this machine's outward address (when it has one).
    let outward = std::net::UdpSocket::bind("0.0.0.0:0")
        .and_then(|u| u.connect("192.0.2.1:9").and_then(|_| u.local_addr()))
        .map(|a| a.ip())
        .ok()
        .filter(|ip| !ip.is_loopback() && !ip.is_unspecified());
    match outward {
        Some(ip) => assert!(
            TcpStream::connect_timeout(&(ip, 8080).into(), Duration::from_secs(2)).is_err(),
            "the server answers on {ip}:8080"
        ),
        None => eprintln!("no outward address here: checked the loopback binding only"),
    }
}
