//! The web UI of `avad serve` in real headless Chromium on loopback (Debian `chromium` driven by Playwright, through
//! `scripts/serve_ui_browser.sh`): sign in with a token, upload a clip from fixtures/media, wait for the report,
//! the timeline is drawn and clicking it seeks the video, a file named `<script>alert(1)</script>.mp4` is shown as
//! text and runs nothing; the cameras page of `--watch` shows each camera (credentials redacted), live scores and
//! the recent events as they happen. Screenshots go to target/serve-ui/screenshots (docs/screenshots/ holds a copy). Also, without
//! a browser: the page's Content-Security-Policy, the media link (byte ranges, refused once its token is revoked),
//! and DELETE removing a job that has not finished (never completed, no report left).

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{avad_ok, http, root, TinyModels};

/// `avad serve` with the tiny models, one scoring thread, and `extra` flags, on an ephemeral loopback port.
fn start(m: &TinyModels, storage: &str, extra: &[&str], ready_within: Duration) -> common::Server {
    let flags = [&["--threads", "1"][..], extra].concat();
    common::start_serve(Some(m), Path::new(storage), &flags, ready_within)
}

fn token(storage: &str, name: &str, scope: &str) -> String {
    common::create_token(Path::new(storage), name, scope, &[])
}

#[test]
fn the_ui_page_has_a_narrow_csp_and_media_links_serve_ranges_until_revoked() {
    let m = TinyModels::new(11);
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path().join("s").display().to_string();
    let tok = token(&s, "viewer", "submit");
    let srv = start(&m, &s, &[], Duration::from_secs(60));
    let a = srv.addr.as_str();

    let r = http(a, "GET", "/", None, &[], None);
    assert_eq!((r.status, r.header("Location")), (303, Some("/ui/")));
    let page = http(a, "GET", "/ui/", None, &[], None);
    assert_eq!(page.status, 200);
    let csp = page.header("Content-Security-Policy").unwrap();
    for part in [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(part), "{csp}");
    }
    assert!(!csp.contains("unsafe"), "{csp}");
    assert!(String::from_utf8_lossy(&page.body).contains("/ui/app.js"));
    let js = http(a, "GET", "/ui/app.js", None, &[], None);
    assert_eq!(js.status, 200);
    assert!(js
        .header("Content-Type")
        .unwrap()
        .starts_with("text/javascript"));
    // The API keeps its own policy.
    let api = http(a, "GET", "/v1/jobs", Some(&tok), &[], None);
    assert_eq!(
        api.header("Content-Security-Policy"),
        Some("default-src 'none'; frame-ancestors 'none'; base-uri 'none'")
    );

    // A video: byte ranges with the token, and through a media link.
    let clip = std::fs::read(root().join("fixtures/media/synthetic_av_sync.mp4")).unwrap();
    let r = http(
        a,
        "POST",
        "/v1/jobs?name=clip.mp4",
        Some(&tok),
        &[],
        Some(&clip),
    );
    assert_eq!(r.status, 202);
    let id = r.json()["id"].as_str().unwrap().to_string();
    assert_eq!(
        http(a, "GET", &format!("/v1/jobs/{id}/video"), None, &[], None).status,
        401
    );
    let whole = http(
        a,
        "GET",
        &format!("/v1/jobs/{id}/video"),
        Some(&tok),
        &[],
        None,
    );
    assert_eq!(
        (whole.status, whole.header("Content-Type")),
        (200, Some("video/mp4"))
    );
    assert_eq!(whole.body, clip);
    let part = http(
        a,
        "GET",
        &format!("/v1/jobs/{id}/video"),
        Some(&tok),
        &["Range: bytes=100-199"],
        None,
    );
    assert_eq!(part.status, 206);
    assert_eq!(
        part.header("Content-Range"),
        Some(format!("bytes 100-199/{}", clip.len()).as_str())
    );
    assert_eq!(part.body, clip[100..200]);
    let past = http(
        a,
        "GET",
        &format!("/v1/jobs/{id}/video"),
        Some(&tok),
        &["Range: bytes=999999-"],
        None,
    );
    assert_eq!(past.status, 416);

    let link = http(
        a,
        "GET",
        &format!("/v1/jobs/{id}/video-link"),
        Some(&tok),
        &[],
        None,
    )
    .json();
    let media = link["url"].as_str().unwrap().to_string();
    assert!(media.starts_with("/media/v1."), "{media}");
    let tail = http(a, "GET", &media, None, &["Range: bytes=-10"], None);
    assert_eq!(tail.status, 206);
    assert_eq!(tail.body, clip[clip.len() - 10..]);
    // A forged ticket (another job, same MAC) and a truncated one are not found.
    let other = media.replacen(&id, "00000000-0000-7000-8000-000000000000", 1);
    assert_eq!(http(a, "GET", &other, None, &[], None).status, 404);
    assert_eq!(
        http(a, "GET", &media[..media.len() - 2], None, &[], None).status,
        404
    );
    // Revoking the token that asked for the link closes it.
    avad_ok(&["serve", "token", "revoke", "viewer", "--storage", &s]);
    assert_eq!(http(a, "GET", &media, None, &[], None).status, 404);

    // DELETE removes a job whatever its state, with its files: a long job deleted while queued or running is
    // never completed (its worker loses the lease and drops its result), and the worker goes on to the next job.
    let tok = token(&s, "deleter", "submit");
    let long =
        std::fs::read(root().join("fixtures/media/intel_one-by-one-person-detection.mp4")).unwrap();
    let r = http(
        a,
        "POST",
        "/v1/jobs?name=long.mp4",
        Some(&tok),
        &[],
        Some(&long),
    );
    assert_eq!(r.status, 202);
    let gone = r.json()["id"].as_str().unwrap().to_string();
    std::thread::sleep(Duration::from_millis(300));
    let r = http(
        a,
        "DELETE",
        &format!("/v1/jobs/{gone}"),
        Some(&tok),
        &[],
        None,
    );
    assert_eq!(r.status, 204);
    assert_eq!(
        http(a, "GET", &format!("/v1/jobs/{gone}"), Some(&tok), &[], None).status,
        404
    );
    assert_eq!(
        http(
            a,
            "GET",
            &format!("/v1/jobs/{gone}/video"),
            Some(&tok),
            &[],
            None
        )
        .status,
        404
    );
    // A second DELETE finds nothing.
    let again = http(
        a,
        "DELETE",
        &format!("/v1/jobs/{gone}"),
        Some(&tok),
        &[],
        None,
    );
    assert_eq!(again.status, 404);
    let r = http(
        a,
        "POST",
        "/v1/jobs?name=next.mp4",
        Some(&tok),
        &[],
        Some(&clip),
    );
    let next = r.json()["id"].as_str().unwrap().to_string();
    let until = Instant::now() + Duration::from_secs(120);
    loop {
        let j = http(a, "GET", &format!("/v1/jobs/{next}"), Some(&tok), &[], None).json();
        if j["status"] == "done" {
            break;
        }
        assert!(j["status"] != "failed" && Instant::now() < until, "{j}");
        std::thread::sleep(Duration::from_millis(50));
    }
    let results: Vec<String> = std::fs::read_dir(dir.path().join("s/results"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .collect();
    assert!(results.iter().all(|f| !f.starts_with(&gone)), "{results:?}");
    assert!(results.iter().any(|f| f.starts_with(&next)), "{results:?}");
}

#[test]
fn the_web_ui_in_headless_chromium() {
    let m = TinyModels::new(11);
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path().join("s").display().to_string();
    let tok = token(&s, "browser", "submit");
    // With cameras, for the cameras page: `yard` replays a clip at 4x its pace (low event thresholds), `gate` has a
    // password in its URL and never answers.
    let cameras = common::write_cameras_toml(&m, dir.path(), Some(4.0), "");
    let cameras = cameras.display().to_string();
    let srv = start(&m, &s, &["--watch", &cameras], Duration::from_secs(120));
    let shots = std::env::var("AVAD_UI_SCREENSHOTS")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| root().join("target/serve-ui/screenshots"));
    let clip = root().join("fixtures/media/moviepy_big_buck_bunny_0_30.webm");
    let t0 = Instant::now();
    let status = std::process::Command::new("bash")
        .arg(root().join("scripts/serve_ui_browser.sh"))
        .arg(srv.url())
        .arg(&tok)
        .arg(&clip)
        .arg(&shots)
        .status()
        .unwrap_or_else(|e| panic!("cannot run bash ({e})"));
    assert!(
        status.success(),
        "the browser test failed (see above), or could not start: it needs the Debian packages chromium, python3 and \
         python3-venv, and PyPI on first use (Playwright)"
    );
    eprintln!("browser test: {:.1} s", t0.elapsed().as_secs_f64());
}
