//! `avad serve --watch cameras.toml` end to end: the real binary on an ephemeral loopback port, a camera that plays
//! a fixture file as fast as it decodes (looping) through the tiny random-weight models with low event thresholds,
//! and a camera URL with credentials (never reachable). Checks `/v1/cameras` (credentials redacted), that
//! `/v1/events` gets a `new` and an `end` for the camera, its filters and pages, the OpenAPI entries, the
//! Server-Sent Events stream (`text/event-stream`, well-formed frames of live events and scores), 401 without a
//! token on the three routes, and the cameras' metrics in the server's `/metrics` (and on the configuration's own
//! `[metrics]` address). A second test stops a server with SIGTERM while an event is open: its `end` is stored
//! before the process exits, and `--keep-events` later removes the stored messages.

mod common;

use std::io::{Read, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use common::{
    avad_command, create_token, free_port, http, root, start_ready, KillOnDrop, TinyModels,
};

/// The environment variable with the token of the configuration's own `[metrics]` endpoint.
const METRICS_TOKEN_ENV: &str = "AVAD_SERVE_CAMERAS_TEST_METRICS_TOKEN";

/// Writes a cameras.toml (`common::write_cameras_toml`: `yard` plays the fixture in a loop, `gate` is an RTSP URL
/// with a password) with metrics on `127.0.0.1:metrics_port`.
fn write_config(m: &TinyModels, dir: &Path, metrics_port: u16) -> std::path::PathBuf {
    let metrics = format!(
        "[metrics]\nlisten = \"127.0.0.1:{metrics_port}\"\ntoken_env = \"{METRICS_TOKEN_ENV}\"\n"
    );
    common::write_cameras_toml(m, dir, None, &metrics)
}

fn get(addr: &str, path: &str, token: Option<&str>) -> common::HttpResponse {
    http(addr, "GET", path, token, &[], None)
}

/// The value of the sample `series` (name and labels, exactly) in a Prometheus text, if there.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
}

/// `yard`'s scored snippets in the server's `/metrics` (checked to be one exposition with the server's series).
fn yard_snippets(addr: &str, token: &str) -> f64 {
    let r = get(addr, "/metrics", Some(token));
    assert_eq!(r.status, 200);
    let text = String::from_utf8_lossy(&r.body).to_string();
    assert!(text.contains("avad_serve_uploads_total"), "{text}");
    assert_eq!(text.matches("# EOF").count(), 1, "{text}");
    assert!(text.trim_end().ends_with("# EOF"), "{text}");
    sample(&text, "avad_snippets_total{camera=\"yard\"}")
        .unwrap_or_else(|| panic!("no snippets of yard in /metrics:\n{text}"))
}

/// The event messages of `/v1/events` + `query` (one page).
fn events(addr: &str, token: &str, query: &str) -> (Vec<serde_json::Value>, Option<String>) {
    let r = get(addr, &format!("/v1/events{query}"), Some(token));
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let v = r.json();
    (
        v["events"].as_array().unwrap().clone(),
        v["next_cursor"].as_str().map(str::to_string),
    )
}

/// Decodes what has arrived of a chunked body; returns the decoded bytes (complete chunks only).
fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(i) = b.windows(2).position(|w| w == b"\r\n") {
        let Ok(n) = usize::from_str_radix(String::from_utf8_lossy(&b[..i]).trim(), 16) else {
            break;
        };
        if n == 0 || b.len() < i + 4 + n {
            break;
        }
        out.extend_from_slice(&b[i + 2..i + 2 + n]);
        b = &b[i + 4 + n..];
    }
    out
}

#[test]
fn watched_cameras_store_list_and_stream_their_events() {
    let m = TinyModels::new(11);
    let tmp = tempfile::tempdir().unwrap();
    let storage = tmp.path().join("state");
    let metrics_port = free_port();
    let cfg = write_config(&m, tmp.path(), metrics_port);
    let read = create_token(&storage, "reader", "read", &[]);
    let mut cmd = avad_command();
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--storage"])
        .arg(&storage)
        .arg("--watch")
        .arg(&cfg)
        .args(m.args())
        .env(METRICS_TOKEN_ENV, "metrics-secret");
    let (_server, url, _stdout): (KillOnDrop, String, _) =
        start_ready(cmd, "avad serve --watch", Duration::from_secs(120));
    let a = url.strip_prefix("http://").unwrap().to_string();
    let a = a.as_str();

    // no token: 401 on each new route
    for path in ["/v1/cameras", "/v1/events", "/v1/events/stream"] {
        let r = get(a, path, None);
        assert_eq!(r.status, 401, "GET {path} without a token");
        assert_eq!(r.header("WWW-Authenticate"), Some("Bearer"));
        assert_eq!(get(a, path, Some("avad_wrong")).status, 401, "GET {path}");
    }

    // the cameras, credentials redacted
    let r = get(a, "/v1/cameras", Some(&read));
    assert_eq!(r.status, 200);
    let body = String::from_utf8_lossy(&r.body).to_string();
    assert!(!body.contains("hunter2") && !body.contains("abc"), "{body}");
    let cams = r.json()["cameras"].as_array().unwrap().clone();
    assert_eq!(cams.len(), 2, "{body}");
    assert_eq!(cams[0]["name"], "yard");
    assert!(cams[0]["source"]
        .as_str()
        .unwrap()
        .ends_with("moviepy_big_buck_bunny_0_30.webm"));
    assert_eq!(cams[1]["name"], "gate");
    assert_eq!(
        cams[1]["source"],
        "rtsp://admin:***@127.0.0.1:9/stream1?token=***"
    );

    // wait for a complete event of `yard` in the database
    let deadline = Instant::now() + Duration::from_secs(240);
    let all = loop {
        let (evs, _) = events(a, &read, "?camera=yard&limit=100");
        let has = |k: &str| evs.iter().any(|e| e["type"] == k);
        if has("new") && has("end") {
            break evs;
        }
        assert!(
            Instant::now() < deadline,
            "no new + end event of yard within 240 s: {evs:?}"
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    // newest first; each row matches its message
    for w in all.windows(2) {
        assert!(
            w[0]["id"].as_str().unwrap() > w[1]["id"].as_str().unwrap(),
            "not newest first: {w:?}"
        );
    }
    for e in &all {
        assert_eq!(e["camera"], "yard");
        assert_eq!(e["message"]["type"], e["type"]);
        assert_eq!(e["message"]["after"]["camera"], "yard");
        assert_eq!(e["message"]["after"]["label"], e["label"]);
        assert_eq!(e["message"]["after"]["id"], e["event_id"]);
    }
    let end = all.iter().find(|e| e["type"] == "end").unwrap();
    let new = all
        .iter()
        .find(|e| e["type"] == "new" && e["event_id"] == end["event_id"])
        .expect("the ended event's `new` is stored");
    assert!(new["id"].as_str().unwrap() < end["id"].as_str().unwrap());
    assert_eq!(end["message"]["after"]["has_ended"], true);

    // filters
    let label = end["label"].as_str().unwrap().to_string();
    let encoded: String = label
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    let (by_label, _) = events(a, &read, &format!("?label={encoded}&limit=100"));
    assert!(!by_label.is_empty());
    assert!(by_label.iter().all(|e| e["label"] == label.as_str()));
    assert!(events(a, &read, "?label=no-such-label").0.is_empty());
    assert!(events(a, &read, "?camera=gate").0.is_empty());
    assert!(events(a, &read, "?since=2999-01-01T00:00:00Z").0.is_empty());
    assert!(events(a, &read, "?until=2000-01-01T00:00:00Z").0.is_empty());
    assert!(!events(
        a,
        &read,
        "?since=2000-01-01T00:00:00Z&until=2999-01-01T00:00:00Z"
    )
    .0
    .is_empty());
    let at = end["received_at"].as_str().unwrap().to_string();
    let (until_end, _) = events(a, &read, &format!("?camera=yard&until={at}&limit=100"));
    assert!(until_end.iter().any(|e| e["id"] == end["id"]));
    let (since_end, _) = events(a, &read, &format!("?camera=yard&since={at}&limit=100"));
    assert!(since_end.iter().any(|e| e["id"] == end["id"]));
    for bad in ["?since=yesterday", "?until=1", "?limit=0", "?cursor=nope"] {
        let r = get(a, &format!("/v1/events{bad}"), Some(&read));
        assert_eq!(r.status, 400, "{bad}");
    }
    // pages: limit 1, then the cursor gives the next older one
    let (first, cursor) = events(a, &read, "?camera=yard&limit=1");
    assert_eq!(first.len(), 1);
    let cursor = cursor.expect("a next_cursor on a full page");
    let (second, _) = events(a, &read, &format!("?camera=yard&limit=1&cursor={cursor}"));
    assert_eq!(second.len(), 1);
    assert!(second[0]["id"].as_str().unwrap() < first[0]["id"].as_str().unwrap());

    // the cameras now have scores
    let cams = get(a, "/v1/cameras", Some(&read)).json()["cameras"]
        .as_array()
        .unwrap()
        .clone();
    assert!(cams[0]["last_score"].is_number(), "{cams:?}");
    assert!(cams[0]["events"].as_u64().unwrap() >= 2, "{cams:?}");
    assert_eq!(cams[1]["events"], 0);

    // the cameras' metrics in the server's /metrics, counting on
    let scored = yard_snippets(a, &read);
    assert!(scored > 0.0);
    let deadline = Instant::now() + Duration::from_secs(60);
    while yard_snippets(a, &read) <= scored {
        assert!(
            Instant::now() < deadline,
            "yard's snippets stayed at {scored}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let r = get(a, "/metrics", Some(&read));
    let text = String::from_utf8_lossy(&r.body).to_string();
    assert!(
        sample(&text, "avad_snippets_total{camera=\"gate\"}").is_some(),
        "{text}"
    );
    assert!(
        text.contains("avad_output_messages_total{output=\"serve\",result=\"delivered\"}"),
        "{text}"
    );
    // … and on the configuration's own [metrics] address, with its own token
    let own = format!("127.0.0.1:{metrics_port}");
    assert_eq!(get(&own, "/metrics", Some("wrong")).status, 401);
    let r = get(&own, "/metrics", Some("metrics-secret"));
    assert_eq!(r.status, 200);
    let text = String::from_utf8_lossy(&r.body).to_string();
    assert!(
        sample(&text, "avad_snippets_total{camera=\"yard\"}").is_some_and(|n| n > 0.0),
        "{text}"
    );

    // OpenAPI entries
    let doc = get(a, "/openapi.json", Some(&read)).json();
    for p in ["/v1/cameras", "/v1/events", "/v1/events/stream"] {
        assert!(
            doc["paths"][p]["get"].is_object(),
            "{p} missing in the OpenAPI document"
        );
    }
    assert!(
        doc["paths"]["/v1/events/stream"]["get"]["responses"]["200"]["content"]
            ["text/event-stream"]
            .is_object()
    );

    // the live stream: a well-formed text/event-stream with scores and event messages as they happen
    let mut s = std::net::TcpStream::connect(a).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        s,
        "GET /v1/events/stream?camera=yard&scores=true HTTP/1.1\r\nHost: {a}\r\nAuthorization: Bearer {read}\r\n\r\n"
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(240);
    let mut raw = Vec::new();
    let mut buf = [0u8; 16384];
    let (mut saw_score, mut saw_event) = (false, false);
    while !(saw_score && saw_event) {
        assert!(
            Instant::now() < deadline,
            "no score and event on the stream within 240 s: {}",
            String::from_utf8_lossy(&raw)
        );
        match s.read(&mut buf) {
            Ok(0) => panic!("the stream closed: {}", String::from_utf8_lossy(&raw)),
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut =>
            {
                continue
            }
            Err(e) => panic!("reading the stream: {e}"),
        }
        let Some(split) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&raw[..split]).to_lowercase();
        assert!(head.starts_with("http/1.1 200"), "{head}");
        assert!(head.contains("content-type: text/event-stream"), "{head}");
        let body = if head.contains("transfer-encoding: chunked") {
            dechunk(&raw[split + 4..])
        } else {
            raw[split + 4..].to_vec()
        };
        let text = String::from_utf8(body).expect("the stream is UTF-8");
        // complete frames only (each ends with a blank line)
        let complete = match text.rfind("\n\n") {
            Some(i) => &text[..i],
            None => continue,
        };
        for frame in complete.split("\n\n").filter(|f| !f.is_empty()) {
            let mut name = None;
            let mut data = String::new();
            for line in frame.lines() {
                if line.starts_with(':') {
                    continue; // a comment (keep-alive)
                } else if let Some(v) = line.strip_prefix("event:") {
                    name = Some(v.trim().to_string());
                } else if let Some(v) = line.strip_prefix("data:") {
                    data.push_str(v.trim_start());
                } else {
                    panic!("not an SSE field line: {line:?} in {frame:?}");
                }
            }
            let Some(name) = name else { continue };
            let v: serde_json::Value = serde_json::from_str(&data)
                .unwrap_or_else(|e| panic!("frame data is not JSON ({e}): {frame:?}"));
            match name.as_str() {
                "score" => {
                    assert_eq!(v["type"], "score");
                    assert_eq!(v["camera"], "yard");
                    assert!(v["anomaly_score"].is_number(), "{v}");
                    saw_score = true;
                }
                "new" | "update" | "end" => {
                    assert_eq!(v["type"], name.as_str());
                    assert_eq!(v["after"]["camera"], "yard");
                    saw_event = true;
                }
                "lagged" => assert!(v["missed"].is_number()),
                other => panic!("unexpected SSE event {other:?}"),
            }
        }
    }
}

/// Writes a cameras.toml whose one camera, `porch`, plays the fixture at its own pace (30 s) with thresholds of 0:
/// an event starts at the first snippet and stays open until the file ends.
fn write_open_event_config(m: &TinyModels, dir: &Path) -> std::path::PathBuf {
    let media = root().join("fixtures/media/moviepy_big_buck_bunny_0_30.webm");
    let rest = format!(
        r#"[events]
on = 0.0
off = 0.0
min_duration_s = 0.0

[[camera]]
name = "porch"
source = {media:?}
realtime = true
"#,
        media = media.display().to_string(),
    );
    common::write_watch_config(m, &dir.join("open.toml"), &rest)
}

/// A server without cameras on `storage` (API only); `extra` flags after the usual ones.
fn api_only(storage: &Path, extra: &[&str]) -> common::Server {
    common::start_serve(None, storage, extra, Duration::from_secs(30))
}

#[test]
fn sigterm_stores_the_end_of_open_events_before_exiting_and_keep_events_removes_them() {
    let m = TinyModels::new(12);
    let tmp = tempfile::tempdir().unwrap();
    let storage = tmp.path().join("state");
    let cfg = write_open_event_config(&m, tmp.path());
    let read = create_token(&storage, "reader", "read", &[]);
    let cfg = cfg.display().to_string();
    let mut server = common::start_serve(
        Some(&m),
        &storage,
        &["--watch", &cfg],
        Duration::from_secs(120),
    );
    let a = server.addr.clone();

    // an event that is open: its `new` is stored, no `end`
    let deadline = Instant::now() + Duration::from_secs(120);
    let open_id = loop {
        let (evs, _) = events(&a, &read, "?camera=porch&limit=100");
        assert!(
            !evs.iter().any(|e| e["type"] == "end"),
            "an event of porch ended by itself (the file is 30 s long): {evs:?}"
        );
        if let Some(new) = evs.iter().find(|e| e["type"] == "new") {
            break new["event_id"].as_str().unwrap().to_string();
        }
        assert!(
            Instant::now() < deadline,
            "no event of porch started within 120 s"
        );
        std::thread::sleep(Duration::from_millis(200));
    };

    // SIGTERM: the process ends the event, stores its `end`, and exits (0) within a few seconds
    let t = Instant::now();
    let pid = server.process.0.id() as libc::pid_t;
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let status = loop {
        if let Some(s) = server.process.0.try_wait().unwrap() {
            break s;
        }
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "avad serve --watch still runs 20 s after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let took = t.elapsed();
    assert!(status.success(), "{status:?}");
    assert!(took < Duration::from_secs(12), "the shutdown took {took:?}");
    eprintln!(
        "serve_cameras: SIGTERM to exit in {:.2} s",
        took.as_secs_f64()
    );
    drop(server);

    // the same storage, without cameras: the event's `end` is there, after its `new`
    let api = api_only(&storage, &[]);
    let (evs, _) = events(&api.addr, &read, "?camera=porch&limit=100");
    let of_event: Vec<&serde_json::Value> = evs
        .iter()
        .filter(|e| e["event_id"] == open_id.as_str())
        .collect();
    let end = of_event
        .iter()
        .find(|e| e["type"] == "end")
        .unwrap_or_else(|| panic!("no stored end of {open_id}: {evs:?}"));
    assert_eq!(end["message"]["after"]["has_ended"], true, "{end}");
    assert_eq!(end["message"]["before"]["has_ended"], false, "{end}");
    let new = of_event.iter().find(|e| e["type"] == "new").unwrap();
    assert!(new["id"].as_str().unwrap() < end["id"].as_str().unwrap());
    assert_eq!(
        evs.iter().filter(|e| e["type"] == "end").count(),
        1,
        "{evs:?}"
    );
    drop(api);

    // --keep-events: messages older than that are removed by the sweeper
    let api = api_only(&storage, &["--keep-events", "1s", "--sweep-every", "1"]);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (evs, _) = events(&api.addr, &read, "?limit=100");
        if evs.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "--keep-events 1s left {} messages after 20 s",
            evs.len()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}
