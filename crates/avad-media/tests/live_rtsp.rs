//! Live input against a real RTSP server (`scripts/rtsp_server.py`, GStreamer's RTSP server through python3-gi,
//! H.264 + AAC re-encoded from a fixture, real time): the live clock (snippets from 0, contiguous, audio of
//! exactly each span), and that a stalled (SIGSTOP) or killed server ends the reader with an error instead of
//! hanging. The server is required: without python3-gi / GStreamer these tests fail, naming
//! scripts/install-deps.sh.

mod common;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use avad_media::{open, AudioState, DecodeOptions, MediaError, MediaReader, AUDIO_RATE};

/// A running `scripts/rtsp_server.py`, killed on drop.
struct Server {
    child: Child,
    url: String,
}

impl Server {
    /// Starts the server on a free port serving `fixture` at `/cam` and waits (up to 20 s) for its READY line.
    fn start(fixture: &str) -> Server {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
        let script = root.join("scripts/rtsp_server.py");
        let media = common::media(fixture);
        let mut child = Command::new(python())
            .arg(&script)
            .args(["--port", "0", "--mount"])
            .arg(format!("cam={}", media.display()))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot run {} ({e}): the live RTSP tests need python3 with python3-gi and GStreamer's RTSP \
                     server; install them with scripts/install-deps.sh",
                    script.display()
                )
            });
        let stdout = child.stdout.take().expect("server stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(|l| l.ok()) {
                if let Some(url) = line.strip_prefix("READY ") {
                    let _ = tx.send(url.trim().to_string());
                }
            }
        });
        match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(url) => Server { child, url },
            Err(_) => {
                let _ = child.kill();
                let out = child.wait_with_output().expect("server output");
                panic!(
                    "scripts/rtsp_server.py did not become ready (exit {:?}): {}\nThe live RTSP tests need \
                     python3-gi, gir1.2-gst-rtsp-server-1.0 and the GStreamer plugins: install them with \
                     scripts/install-deps.sh",
                    out.status.code(),
                    String::from_utf8_lossy(&out.stderr)
                )
            }
        }
    }

    fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "kill {sig} failed");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-CONT", &self.child.id().to_string()])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The interpreter for the server: `AVAD_PYTHON` if set, else python3 (the script re-executes itself with
/// /usr/bin/python3 when the first python3 on PATH lacks `gi`, e.g. under pyenv).
fn python() -> String {
    std::env::var("AVAD_PYTHON").unwrap_or_else(|_| "python3".into())
}

fn live_opts(max: usize, read_timeout_s: u64) -> DecodeOptions {
    DecodeOptions {
        max_snippets: Some(max),
        read_timeout: Duration::from_secs(read_timeout_s),
        open_timeout: Duration::from_secs(10),
        threads: 2,
        ..DecodeOptions::default()
    }
}

fn next_ok(r: &mut MediaReader) -> avad_media::Snippet {
    r.next().expect("a snippet").expect("snippet decodes")
}

#[test]
fn rtsp_snippets_start_at_zero_are_contiguous_and_carry_their_audio() {
    let server = Server::start("moviepy_big_buck_bunny_0_30.webm");
    let opts = live_opts(10, 5);
    let t0 = Instant::now();
    let reader = open(&server.url, &opts).expect("open rtsp");
    assert!(reader.info().live, "an rtsp:// URL is a live source");
    assert_eq!(reader.info().stream_list(), "video h264, audio aac");
    let mut reader = reader;
    let mut snippets = Vec::new();
    for s in reader.by_ref() {
        snippets.push(s.expect("snippet"));
    }
    let summary = reader.summary().expect("summary").clone();
    assert_eq!(snippets.len(), 10);
    assert!(summary.truncated);
    assert_eq!(summary.discontinuities, 0, "{summary:?}");
    let start = reader.live_start().expect("live start").clone();
    eprintln!(
        "live start {start:?}; 10 snippets in {:.1} s",
        t0.elapsed().as_secs_f64()
    );
    assert!(start.audio_start_pts_s.is_some());
    assert_eq!(snippets[0].start_s, 0.0);
    let fps = 24.0;
    for (i, s) in snippets.iter().enumerate() {
        assert_eq!(s.index, i);
        assert_eq!(s.frame_index, 16 * i as u64);
        assert!(s.wall_clock.is_some());
        if let Some(next) = snippets.get(i + 1) {
            assert_eq!(
                s.end_s,
                next.start_s,
                "snippet {i} must end where {} starts",
                i + 1
            );
        }
        let span = s.end_s - s.start_s;
        assert!(
            (span - 16.0 / fps).abs() < 0.02,
            "snippet {i}: {:.4}-{:.4} s, want about {:.4} s",
            s.start_s,
            s.end_s,
            16.0 / fps
        );
        let want = (s.end_s * f64::from(AUDIO_RATE)).round() as i64
            - (s.start_s * f64::from(AUDIO_RATE)).round() as i64;
        assert_eq!(s.audio.len() as i64, want, "snippet {i} samples");
        assert!(
            (s.audio.len() as f64 - span * f64::from(AUDIO_RATE)).abs() <= 1.0,
            "snippet {i}"
        );
        assert_eq!(s.audio_state, AudioState::Present, "snippet {i}");
        assert_eq!(s.frame.width, 1280);
    }
    // The clip's first seconds peak at about -26 dBFS (0.05); every snippet has sound well above silence.
    assert!(summary.audio_peak > 0.01, "{summary:?}");
    assert_eq!(summary.audio_state, AudioState::Present);
    // Snippets come at real time: 10 snippets of 0.667 s cannot take much less than ~6 s after the first.
    let w0 = snippets[0].wall_clock.unwrap();
    let w9 = snippets[9].wall_clock.unwrap();
    let d = w9.duration_since(w0).unwrap().as_secs_f64();
    assert!(d > 4.0, "live pacing: {d:.2} s");
}

/// Reads until the reader ends with an error; returns it and how long that took after `since`.
fn read_until_error(mut reader: MediaReader, limit: Duration) -> (MediaError, Duration) {
    let (tx, rx) = mpsc::channel();
    let t0 = Instant::now();
    std::thread::spawn(move || {
        for s in reader.by_ref() {
            if let Err(e) = s {
                let _ = tx.send(Some(e));
                return;
            }
        }
        let _ = tx.send(None);
    });
    match rx.recv_timeout(limit) {
        Ok(Some(e)) => (e, t0.elapsed()),
        Ok(None) => panic!("the reader ended without an error"),
        Err(_) => panic!("the reader hung for {limit:?} instead of returning an error"),
    }
}

#[test]
fn stalled_rtsp_server_ends_the_reader_with_an_error() {
    let server = Server::start("moviepy_big_buck_bunny_0_30.webm");
    let mut reader = open(&server.url, &live_opts(1000, 2)).expect("open rtsp");
    for _ in 0..2 {
        next_ok(&mut reader);
    }
    server.signal("-STOP");
    let (err, took) = read_until_error(reader, Duration::from_secs(15));
    eprintln!("stalled: {err} after {:.2} s", took.as_secs_f64());
    assert!(
        matches!(&err, MediaError::StreamLost { reason, .. } if reason.contains("no data")),
        "{err}"
    );
    // Read timeout 2 s, plus the snippets still buffered (queue of 4 plus what the socket held).
    assert!(took < Duration::from_secs(8), "{took:?}");
}

#[test]
fn killed_rtsp_server_ends_the_reader_with_an_error() {
    let mut server = Server::start("moviepy_big_buck_bunny_0_30.webm");
    let mut reader = open(&server.url, &live_opts(1000, 2)).expect("open rtsp");
    for _ in 0..2 {
        next_ok(&mut reader);
    }
    server.child.kill().expect("kill server");
    let _ = server.child.wait();
    let (err, took) = read_until_error(reader, Duration::from_secs(15));
    eprintln!("killed: {err} after {:.2} s", took.as_secs_f64());
    assert!(matches!(err, MediaError::StreamLost { .. }), "{err}");
    assert!(took < Duration::from_secs(8), "{took:?}");
}

#[test]
fn unanswered_rtsp_port_fails_to_open_within_the_timeout() {
    // A listening socket that never answers: the open timeout must fire.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("rtsp://{}/cam", listener.local_addr().unwrap());
    let opts = DecodeOptions {
        open_timeout: Duration::from_secs(2),
        ..DecodeOptions::default()
    };
    let t0 = Instant::now();
    let err = open(&url, &opts).err().expect("open must fail");
    let took = t0.elapsed();
    eprintln!("silent port: {err} after {:.2} s", took.as_secs_f64());
    assert!(matches!(err, MediaError::NotMedia { .. }), "{err}");
    assert!(took < Duration::from_secs(6), "{took:?}");
    drop(listener);
}

#[test]
fn a_clip_cut_from_the_rtsp_ring_plays_the_asked_span() {
    let server = Server::start("moviepy_big_buck_bunny_0_30.webm");
    let opts = DecodeOptions {
        record: Some(avad_media::RecordOptions::default()),
        ..live_opts(9, 5)
    };
    let mut reader = open(&server.url, &opts).expect("open rtsp");
    let rec = reader.recorder().expect("recorder").clone();
    let snippets: Vec<_> = reader.by_ref().map(|s| s.expect("snippet")).collect();
    let last_end = snippets.last().expect("snippets").end_s;
    assert!(last_end > 5.5, "{last_end}");
    let dir = std::env::temp_dir().join(format!("avad-rtsp-clip-{}", std::process::id()));
    let info = rec
        .write_clip(&dir.join("cam.mp4"), 1.0, 5.0)
        .expect("clip from the ring");
    assert_eq!(info.path, dir.join("cam.mp4"));
    assert!(info.start_s <= 1.0 && info.start_s >= 0.0, "{info:?}");
    let probe = avad_media::probe(&info.path).expect("clip opens");
    assert_eq!(probe.stream_list(), "video h264, audio aac");
    let dur = probe.duration_s.expect("duration");
    let want = 5.0 - info.start_s;
    assert!((dur - want).abs() < 0.2, "clip lasts {dur} s, want {want}");
    let (clip_snippets, _) = open(&info.path, &DecodeOptions::with_stride(16))
        .expect("open clip")
        .collect_all()
        .expect("clip decodes");
    assert!(!clip_snippets.is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}
