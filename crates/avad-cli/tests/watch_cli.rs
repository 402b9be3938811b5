//! `avad watch` end to end with real components on loopback: the scores of a watched file, and of the same file
//! served by a real RTSP server (scripts/rtsp_server.py, GStreamer), equal `avad detect`'s replay of the live rule
//! on the file; the camera survives a server restart and SIGTERM; a mosquitto broker receives new/update/end and ON/OFF, and the last will when avad is
//! killed with SIGKILL; a webhook receiver (scripts/webhook_receiver.py, an independent Python verifier) checks
//! every signature, sees retries under the same id after 500s, and a hanging receiver does not slow scoring.
//! mosquitto and python3 come from scripts/install-deps.sh; the tests fail (not skip) without them.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{avad_command, avad_ok, root, start_ready, KillOnDrop, TinyModels};

/// A whsec_ secret for the tests (24 random-looking bytes).
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn media(name: &str) -> String {
    root()
        .join("fixtures/media")
        .join(name)
        .display()
        .to_string()
}

fn json_lines(p: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(p)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// A child process killed when dropped.
/// `GET path` on 127.0.0.1:`port` with an optional bearer token: (status, body).
fn http_get(port: u16, path: &str, token: Option<&str>) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// The value of the sample `name` (with its labels) in a Prometheus text exposition.
fn metric(body: &str, name: &str) -> Option<f64> {
    body.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|v| v.trim().parse().ok()))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn watched_file_scores_equal_detect_replaying_the_live_rule() {
    let m = TinyModels::new(11);
    let tmp = tempfile::tempdir().unwrap();
    let video = media("moviepy_big_buck_bunny_0_30.webm");
    let jsonl = tmp.path().join("out.jsonl");
    let clips = tmp.path().join("clips");
    let mut args: Vec<String> = vec!["watch".into(), format!("front={video}")];
    args.extend(m.args());
    args.extend(
        [
            "--scores",
            "--clips",
            clips.to_str().unwrap(),
            "--jsonl",
            jsonl.to_str().unwrap(),
            "--live-window",
            "16",
            "--lookahead",
            "3",
            "--on",
            "0.35",
            "--off",
            "0.3",
            "--min-duration",
            "0",
        ]
        .map(String::from),
    );
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    avad_ok(&refs);
    let mut dargs: Vec<String> = vec!["detect".into(), video.clone(), "--json".into()];
    dargs.extend(m.args());
    dargs.extend(["--live-window", "16", "--lookahead", "3"].map(String::from));
    let drefs: Vec<&str> = dargs.iter().map(String::as_str).collect();
    let detect: serde_json::Value = serde_json::from_slice(&avad_ok(&drefs).stdout).unwrap();
    let lines = json_lines(&jsonl);
    let scores: Vec<&serde_json::Value> = lines.iter().filter(|l| l["type"] == "score").collect();
    let snippets = detect["snippets"].as_array().unwrap();
    assert_eq!(scores.len(), snippets.len());
    assert!(scores.len() > 20);
    let mut prev_end = 0.0;
    for (i, (w, d)) in scores.iter().zip(snippets).enumerate() {
        assert_eq!(w["index"], i);
        assert_eq!(w["camera"], "front");
        let (a, b) = (
            w["anomaly_score"].as_f64().unwrap(),
            d["anomaly_score"].as_f64().unwrap(),
        );
        assert!((a - b).abs() < 1e-4, "snippet {i}: watch {a} vs detect {b}");
        let (s, e) = (w["start_s"].as_f64().unwrap(), w["end_s"].as_f64().unwrap());
        assert!(
            (s - prev_end).abs() < 1e-6 && e > s,
            "snippet {i}: times contiguous"
        );
        prev_end = e;
        assert_eq!(w["model"], "teacher");
    }
    // events: every `new` has an `end` with the same id, in order
    let events: Vec<&serde_json::Value> = lines.iter().filter(|l| l["type"] != "score").collect();
    assert!(!events.is_empty(), "the low thresholds produce events");
    let mut open: Option<String> = None;
    for e in &events {
        let id = e["after"]["id"].as_str().unwrap().to_string();
        match e["type"].as_str().unwrap() {
            "new" => {
                assert!(open.is_none(), "one event at a time");
                open = Some(id);
            }
            "update" => assert_eq!(open.as_ref(), Some(&id)),
            "end" => {
                assert_eq!(open.take(), Some(id));
                assert_eq!(e["after"]["has_ended"], true);
                check_event_media(
                    &e["after"],
                    &clips.join("front"),
                    "video vp8, audio vorbis",
                    5.8,
                );
            }
            t => panic!("unknown message type {t}"),
        }
    }
    assert!(open.is_none(), "the end of the file ends the open event");
}

/// An `end` message's clip and snapshot: both exist under `dir`, the clip has `streams` and lasts at least the
/// event and at most the event plus the rolls (5 s each) and one group of pictures (`gop_s`); the snapshot is a
/// JPEG of the source's frame size.
fn check_event_media(after: &serde_json::Value, dir: &Path, streams: &str, gop_s: f64) {
    let id = after["id"].as_str().unwrap();
    let clip = PathBuf::from(
        after["clip"]
            .as_str()
            .unwrap_or_else(|| panic!("no clip in {after}")),
    );
    assert!(clip.starts_with(dir), "{}", clip.display());
    assert_eq!(clip.file_stem().unwrap().to_str(), Some(id));
    let info = avad_media::probe(&clip).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(info.stream_list(), streams);
    let dur = info.duration_s.unwrap();
    let event = after["end_s"].as_f64().unwrap() - after["start_s"].as_f64().unwrap();
    assert!(
        dur >= event - 0.3 && dur <= event + 10.0 + gop_s + 0.3,
        "clip {} lasts {dur} s for an event of {event} s",
        clip.display()
    );
    let snap = PathBuf::from(
        after["snapshot"]
            .as_str()
            .unwrap_or_else(|| panic!("no snapshot in {after}")),
    );
    assert_eq!(snap, dir.join(format!("{id}.jpg")));
    let jpeg = avad_media::probe(&snap).unwrap_or_else(|e| panic!("{e}"));
    let v = jpeg.video.expect("the snapshot is an image");
    assert_eq!(v.codec, "mjpeg");
    let source = info.video.unwrap();
    assert_eq!((v.width, v.height), (source.width, source.height));
}

#[test]
fn a_paced_file_plays_at_its_speed_and_its_latency_counts_from_when_each_snippet_is_due() {
    let m = TinyModels::new(11);
    let tmp = tempfile::tempdir().unwrap();
    let jsonl = tmp.path().join("paced.jsonl");
    let clip = media("synthetic_av_sync.mp4"); // 4 s, 25 fps, with sound: 0.64 s snippets
    let speed = 2.0;
    let mut args: Vec<String> = vec![
        "watch".into(),
        clip,
        "--speed".into(),
        speed.to_string(),
        "--lookahead".into(),
        "0".into(),
        "--scores".into(),
        "--jsonl".into(),
        jsonl.display().to_string(),
    ];
    args.extend(m.args());
    let t = Instant::now();
    avad_ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let wall = t.elapsed().as_secs_f64();
    let scores = scores_in(&jsonl);
    assert!(scores.len() >= 5, "{} scores", scores.len());
    let last_end = scores.last().unwrap()["end_s"].as_f64().unwrap();
    assert!(
        wall >= last_end / speed,
        "played at {speed}×: the last snippet ends at {last_end} s of stream, so at least {:.2} s, took {wall:.2} s",
        last_end / speed
    );
    // The reader decodes ahead (up to 4 snippets, within milliseconds): counted from decoding, a paced snippet's
    // latency would be about 5 periods. Counted from when it is due, it is the wait for its audio window (1 s of
    // sound centred on the snippet reaches 0.18 s into the next one, so one period at this pace) plus the scoring.
    let mut lat: Vec<f64> = scores
        .iter()
        .map(|s| s["latency_s"].as_f64().unwrap())
        .collect();
    lat.sort_by(f64::total_cmp);
    let period = 0.64 / speed;
    assert!(
        lat[lat.len() / 2] < 1.6 * period,
        "median latency {:.3} s against a paced snippet period of {period:.2} s: {lat:?}",
        lat[lat.len() / 2]
    );
    // a speed outside the documented range is refused before anything starts
    let mut bad = args.clone();
    bad[3] = "0".into();
    let out = avad_command().args(&bad).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("speed must be between 0.01 and 1000"), "{err}");
}

#[test]
fn metrics_need_the_token_and_health_does_not() {
    let m = TinyModels::new(11);
    let port = free_port();
    let mut args: Vec<String> = vec![
        "watch".into(),
        format!("lobby={}", media("moviepy_big_buck_bunny_0_30.webm")),
        "--realtime".into(),
        "--jsonl".into(),
        "/dev/null".into(),
        "--metrics".into(),
        format!("127.0.0.1:{port}"),
    ];
    args.extend(m.args());
    // without a token configured, metrics refuse to start
    let out = avad_command()
        .args(&args)
        .env_remove("AVAD_METRICS_TOKEN")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("AVAD_METRICS_TOKEN"));
    let avad = avad_command()
        .args(&args)
        .env("AVAD_METRICS_TOKEN", "tok-123")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _avad = KillOnDrop(avad);
    wait_for("the metrics listener", 30, || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    assert_eq!(http_get(port, "/healthz", None), (200, "ok\n".to_string()));
    assert_eq!(http_get(port, "/metrics", None).0, 401);
    assert_eq!(http_get(port, "/metrics", Some("tok-124")).0, 401);
    assert_eq!(http_get(port, "/metrics", Some("tok-12")).0, 401);
    wait_for("a scored snippet in the metrics", 60, || {
        let (status, body) = http_get(port, "/metrics", Some("tok-123"));
        status == 200
            && metric(&body, "avad_snippets_total{camera=\"lobby\"}").unwrap_or(0.0) >= 1.0
    });
    let (_, body) = http_get(port, "/metrics", Some("tok-123"));
    assert!(
        metric(&body, "avad_last_frame_timestamp_seconds{camera=\"lobby\"}").unwrap() > 1.7e9,
        "{body}"
    );
}

#[test]
fn mqtt_broker_gets_events_states_and_the_last_will() {
    let m = TinyModels::new(11);
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let conf = tmp.path().join("mosquitto.conf");
    std::fs::write(
        &conf,
        format!("listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"),
    )
    .unwrap();
    let broker = Command::new("mosquitto")
        .arg("-c")
        .arg(&conf)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("mosquitto not found: run scripts/install-deps.sh");
    let _broker = KillOnDrop(broker);
    std::thread::sleep(Duration::from_millis(500));
    let sub_out = tmp.path().join("sub.txt");
    let sub = Command::new("mosquitto_sub")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-v",
            "-t",
            "site/#",
        ])
        .stdout(std::fs::File::create(&sub_out).unwrap())
        .spawn()
        .expect("mosquitto_sub not found: run scripts/install-deps.sh");
    let _sub = KillOnDrop(sub);
    std::thread::sleep(Duration::from_millis(300));
    let mut args: Vec<String> = vec![
        "watch".into(),
        format!("yard={}", media("moviepy_big_buck_bunny_0_30.webm")),
        "--loop".into(),
        "--mqtt".into(),
        format!("mqtt://127.0.0.1:{port}/site"),
        "--on".into(),
        "0.35".into(),
        "--off".into(),
        "0.3".into(),
        "--min-duration".into(),
        "0".into(),
        "--max-quiet".into(),
        "1".into(),
    ];
    args.extend(m.args());
    let avad = avad_command()
        .args(&args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut avad = KillOnDrop(avad);
    // wait for a complete event (new … end) and the OFF that follows it
    let deadline = Instant::now() + Duration::from_secs(120);
    let text = loop {
        let text = std::fs::read_to_string(&sub_out).unwrap_or_default();
        if text.contains("\"type\":\"end\"") && text.contains(" OFF") {
            break text;
        }
        assert!(
            Instant::now() < deadline,
            "no event over MQTT in time:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(text.contains("site/available online"), "{text}");
    assert!(text.contains("site/events {\"type\":\"new\""), "{text}");
    assert!(text.contains("site/yard/score 0."), "{text}");
    let on = text
        .lines()
        .find(|l| l.ends_with(" ON"))
        .expect("an ON state");
    assert!(on.starts_with("site/yard/"), "{on}");
    // SIGKILL: no goodbye from avad, the broker publishes the last will
    avad.0.kill().unwrap();
    avad.0.wait().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let text = std::fs::read_to_string(&sub_out).unwrap_or_default();
        if text.contains("site/available offline") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no last will after SIGKILL:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn receiver(extra: &[&str]) -> (KillOnDrop, String, std::sync::mpsc::Receiver<String>) {
    let mut cmd = Command::new("python3");
    cmd.arg(root().join("scripts/webhook_receiver.py"))
        .args(extra)
        .env("AVAD_WEBHOOK_SECRET", SECRET);
    start_ready(
        cmd,
        "scripts/webhook_receiver.py (python3)",
        Duration::from_secs(20),
    )
}

fn watch_with_webhook(m: &TinyModels, url: &str, jsonl: &Path) -> Duration {
    let mut args: Vec<String> = vec![
        "watch".into(),
        media("moviepy_big_buck_bunny_0_30.webm"),
        "--webhook".into(),
        url.into(),
        "--jsonl".into(),
        jsonl.display().to_string(),
        "--scores".into(),
        "--on".into(),
        "0.35".into(),
        "--off".into(),
        "0.3".into(),
        "--min-duration".into(),
        "0".into(),
        "--max-quiet".into(),
        "1".into(),
    ];
    args.extend(m.args());
    let t = Instant::now();
    let out = avad_command()
        .args(&args)
        .env("AVAD_WEBHOOK_SECRET", SECRET)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    t.elapsed()
}

fn median_latency(jsonl: &Path) -> f64 {
    let mut l: Vec<f64> = json_lines(jsonl)
        .iter()
        .filter(|l| l["type"] == "score")
        .map(|l| l["latency_s"].as_f64().unwrap())
        .collect();
    l.sort_by(f64::total_cmp);
    l[l.len() / 2]
}

#[test]
fn webhooks_are_signed_retried_under_one_id_and_never_stall_scoring() {
    let m = TinyModels::new(11);
    let tmp = tempfile::tempdir().unwrap();
    // a receiver that fails the first two attempts of every message
    let (_r, url, lines) = receiver(&["--fail-first", "2"]);
    let jsonl = tmp.path().join("a.jsonl");
    watch_with_webhook(&m, &url, &jsonl);
    let events = json_lines(&jsonl)
        .iter()
        .filter(|l| l["type"] != "score")
        .count();
    assert!(events >= 2, "the low thresholds produce events");
    let mut got: Vec<serde_json::Value> = Vec::new();
    while let Ok(l) = lines.recv_timeout(Duration::from_millis(500)) {
        got.push(serde_json::from_str(&l).unwrap());
    }
    assert!(
        got.iter().all(|g| g["verified"] == true),
        "every signature verifies: {got:?}"
    );
    let mut ids: Vec<&str> = got.iter().map(|g| g["id"].as_str().unwrap()).collect();
    ids.dedup();
    assert_eq!(ids.len(), events, "one webhook id per event message");
    for id in &ids {
        let attempts: Vec<i64> = got
            .iter()
            .filter(|g| g["id"] == *id)
            .map(|g| g["attempt"].as_i64().unwrap())
            .collect();
        assert_eq!(
            attempts,
            [1, 2, 3],
            "{id}: two 500s, then delivered under the same id"
        );
    }
    // a receiver that never answers: scoring is not slowed, and avad still exits (within its shutdown deadline)
    let (_h, hang_url, _) = receiver(&["--hang"]);
    let base = tmp.path().join("base.jsonl");
    let (_ok, ok_url, _) = receiver(&[]);
    let t_ok = watch_with_webhook(&m, &ok_url, &base);
    let hung = tmp.path().join("hung.jsonl");
    let t_hung = watch_with_webhook(&m, &hang_url, &hung);
    let (l_ok, l_hung) = (median_latency(&base), median_latency(&hung));
    assert!(
        l_hung <= l_ok * 1.1 + 0.05,
        "median latency {l_hung:.3} s with a hanging receiver vs {l_ok:.3} s"
    );
    assert!(
        t_hung < t_ok + Duration::from_secs(35),
        "a hanging receiver delays exit by at most the drain deadline (30 s): {t_hung:?} vs {t_ok:?}"
    );
}

/// The RTSP server serving `intel_car-detection.mp4` (H.264 + a silent AAC track) as it is, so that a client
/// decodes exactly the file's frames.
fn rtsp_server(port: u16) -> (KillOnDrop, String) {
    let mut cmd = Command::new("python3");
    cmd.arg(root().join("scripts/rtsp_server.py"))
        .args(["--passthrough", "--port", &port.to_string(), "--mount"])
        .arg(format!("cam={}", media("intel_car-detection.mp4")));
    let (g, url, _) = start_ready(
        cmd,
        "scripts/rtsp_server.py (python3-gi, GStreamer RTSP server)",
        Duration::from_secs(20),
    );
    (g, url)
}

fn scores_in(p: &Path) -> Vec<serde_json::Value> {
    json_lines(p)
        .into_iter()
        .filter(|l| l["type"] == "score")
        .collect()
}

fn wait_for(what: &str, secs: u64, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn rtsp_camera_scores_match_detect_and_survive_a_server_restart() {
    let m = TinyModels::new(11);
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let (server, url) = rtsp_server(port);
    let metrics_port = free_port();
    // `avad detect` on the served file with the same live rule
    let mut dargs: Vec<String> = vec![
        "detect".into(),
        media("intel_car-detection.mp4"),
        "--json".into(),
        "--max-snippets".into(),
        "10".into(),
        "--live-window".into(),
        "16".into(),
        "--lookahead".into(),
        "2".into(),
    ];
    dargs.extend(m.args());
    let drefs: Vec<&str> = dargs.iter().map(String::as_str).collect();
    let detect: serde_json::Value = serde_json::from_slice(&avad_ok(&drefs).stdout).unwrap();
    let reference = detect["snippets"].as_array().unwrap().clone();
    assert_eq!(reference.len(), 10);
    // `avad watch` on it, with an event held open from the first snippet (thresholds 0)
    let jsonl = tmp.path().join("watch.jsonl");
    let log = tmp.path().join("watch.log");
    let mut args: Vec<String> = vec![
        "watch".into(),
        format!("gate={url}"),
        "--scores".into(),
        "--jsonl".into(),
        jsonl.display().to_string(),
        "--live-window".into(),
        "16".into(),
        "--lookahead".into(),
        "2".into(),
        "--on".into(),
        "0".into(),
        "--off".into(),
        "0".into(),
        "--min-duration".into(),
        "0".into(),
        "--metrics".into(),
        format!("127.0.0.1:{metrics_port}"),
        "--clips".into(),
        tmp.path().join("clips").display().to_string(),
    ];
    args.extend(m.args());
    let watch = avad_command()
        .args(&args)
        .env("AVAD_METRICS_TOKEN", "s3cret-token")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let mut watch = KillOnDrop(watch);
    wait_for("10 live scores", 60, || scores_in(&jsonl).len() >= 10);
    let live = scores_in(&jsonl);
    // snippets 0..8 have seen their full lookahead in both runs (detect's last two were scored at its end)
    for i in 0..8 {
        let (a, b) = (
            live[i]["anomaly_score"].as_f64().unwrap(),
            reference[i]["anomaly_score"].as_f64().unwrap(),
        );
        assert!((a - b).abs() < 1e-4, "snippet {i}: watch {a} vs detect {b}");
        let (s, e) = (
            live[i]["start_s"].as_f64().unwrap(),
            live[i]["end_s"].as_f64().unwrap(),
        );
        // camera time starts when the camera connected; relative to snippet 0 it is the stream's own time
        let t0 = live[0]["start_s"].as_f64().unwrap();
        let r =
            reference[i]["start_s"].as_f64().unwrap() - reference[0]["start_s"].as_f64().unwrap();
        assert!(
            (s - t0 - r).abs() < 1e-3,
            "snippet {i} start: {} vs {r}",
            s - t0
        );
        assert!(
            (e - s - 16.0 / 12.5).abs() < 0.02,
            "snippet {i} lasts 16 frames at 12.5 fps"
        );
    }
    // kill the server mid-stream, start it again on the same port: the open event ends, avad reconnects
    drop(server);
    wait_for("the end of the open event", 30, || {
        json_lines(&jsonl).iter().any(|l| l["type"] == "end")
    });
    // the event ended by the lost connection has its clip, cut from the packets kept in memory
    let first_end = json_lines(&jsonl)
        .into_iter()
        .find(|l| l["type"] == "end")
        .unwrap();
    check_event_media(
        &first_end["after"],
        &tmp.path().join("clips/gate"),
        "video h264, audio aac",
        4.8,
    );
    let before = scores_in(&jsonl).len();
    let (_server2, _) = rtsp_server(port);
    wait_for("scores after the reconnect", 90, || {
        scores_in(&jsonl).len() >= before + 4
    });
    let log_text = std::fs::read_to_string(&log).unwrap();
    assert!(log_text.contains("reconnecting"), "{log_text}");
    let (status, body) = http_get(metrics_port, "/metrics", Some("s3cret-token"));
    assert_eq!(status, 200);
    let reconnects = metric(&body, "avad_reconnects_total{camera=\"gate\"}").unwrap();
    assert!(reconnects >= 1.0, "the reconnect metric counts it: {body}");
    let scored = metric(&body, "avad_snippets_total{camera=\"gate\"}").unwrap();
    assert!(scored >= (before + 4) as f64, "{body}");
    assert!(
        body.contains("avad_snippet_latency_seconds_bucket{"),
        "{body}"
    );
    assert!(!log_text.contains("panicked"), "{log_text}");
    let all = scores_in(&jsonl);
    for w in all.windows(2) {
        assert_eq!(
            w[1]["index"].as_u64(),
            w[0]["index"].as_u64().map(|i| i + 1)
        );
        assert!(
            w[1]["start_s"].as_f64().unwrap() >= w[0]["end_s"].as_f64().unwrap() - 1e-9,
            "camera time is monotonic across the reconnect: {} then {}",
            w[0],
            w[1]
        );
    }
    let news = json_lines(&jsonl)
        .iter()
        .filter(|l| l["type"] == "new")
        .count();
    assert!(news >= 2, "a new event after the reconnect");
    // SIGTERM: the open event ends and avad exits within 5 s
    let t = Instant::now();
    let pid = watch.0.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let status = loop {
        if let Some(s) = watch.0.try_wait().unwrap() {
            break s;
        }
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "avad watch did not exit within 5 s of SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(
        status.success(),
        "{}",
        std::fs::read_to_string(&log).unwrap()
    );
    let lines = json_lines(&jsonl);
    assert_eq!(
        lines.last().unwrap()["type"],
        "end",
        "SIGTERM ends the open event"
    );
    let ends = lines.iter().filter(|l| l["type"] == "end").count();
    assert_eq!(ends, news, "every event ended");
}

#[test]
fn an_mpeg_ts_pipe_on_stdin_is_scored_at_its_pace_and_ends_with_the_pipe() {
    let m = TinyModels::new(11);
    let tmp = tempfile::tempdir().unwrap();
    let video = media("synthetic_av_sync.mp4");
    // the reference: detect on the file (4 s at 25 fps, H.264 + AAC: 6 full snippets and a partial one)
    let mut dargs: Vec<String> = vec!["detect".into(), video.clone(), "--json".into()];
    dargs.extend(m.args());
    let drefs: Vec<&str> = dargs.iter().map(String::as_str).collect();
    let detect: serde_json::Value = serde_json::from_slice(&avad_ok(&drefs).stdout).unwrap();
    let want = detect["snippets"].as_array().unwrap().len();
    // ffmpeg plays the file at real time as MPEG-TS into avad's standard input, as a capture pipeline would
    let mut ffmpeg = Command::new("ffmpeg")
        .args([
            "-v", "error", "-re", "-i", &video, "-c", "copy", "-f", "mpegts", "-",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .expect("ffmpeg (scripts/install-deps.sh installs it)");
    let jsonl = tmp.path().join("pipe.jsonl");
    let log = tmp.path().join("pipe.log");
    let mut args: Vec<String> = vec![
        "watch".into(),
        "pipe=-".into(),
        "--scores".into(),
        "--jsonl".into(),
        jsonl.display().to_string(),
    ];
    args.extend(m.args());
    let mut watch = KillOnDrop(
        avad_command()
            .args(&args)
            .stdin(ffmpeg.stdout.take().unwrap())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap(),
    );
    let mut status = None;
    wait_for("avad to end with the pipe", 30, || {
        status = watch.0.try_wait().unwrap();
        status.is_some()
    });
    let _ = ffmpeg.wait();
    let log_text = std::fs::read_to_string(&log).unwrap();
    assert!(status.unwrap().success(), "{log_text}");
    assert!(!log_text.contains("reconnecting"), "{log_text}");
    let scores = scores_in(&jsonl);
    assert!(
        scores.len() + 1 >= want && scores.len() <= want,
        "{} scores for {want} snippets",
        scores.len()
    );
    for (i, w) in scores.windows(2).enumerate() {
        let (e, s) = (
            w[0]["end_s"].as_f64().unwrap(),
            w[1]["start_s"].as_f64().unwrap(),
        );
        assert!(
            (e - s).abs() < 1e-6,
            "snippet {i} ends where the next starts"
        );
    }
    // the audio of each snippet is found as in the file (the clip beeps once, in snippet 3)
    let snippets = detect["snippets"].as_array().unwrap();
    for (w, d) in scores.iter().zip(snippets) {
        assert_eq!(w["camera"], "pipe");
        assert_eq!(w["audio"], d["audio"], "{w} vs {d}");
    }
    assert!(scores.iter().any(|l| l["audio"] == "present"));
}
