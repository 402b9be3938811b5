//! `avad serve` under load, the short version of `tools/load_serve.py` (the full 50-client run and its results are in
//! docs/benchmarks.md, "avad serve under load"): 10 concurrent clients each upload a small clip (streamed), poll their
//! job and fetch its report while `/healthz` is probed every 50 ms from another process and the server's memory is
//! sampled. Every job completes exactly once (attempt 1, one report file each, no other report files); the bounds
//! are generous (a shared 2-core test machine): `/healthz` p99 under 1 s, peak RSS under 2 GiB.

mod common;

use common::{root, TinyModels};

#[test]
fn ten_clients_upload_and_poll_and_every_job_completes_exactly_once() {
    let m = TinyModels::new(11);
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("load.json");
    let mut cmd = std::process::Command::new("python3");
    cmd.arg(root().join("tools/load_serve.py"))
        .args(["--avad", env!("CARGO_BIN_EXE_avad")])
        .args(["--clients", "10", "--jobs-per-client", "2"])
        .args(["--healthz-p99-ms", "1000", "--max-rss-mb", "2048"])
        .args(["--timeout", "600"])
        .arg("--storage")
        .arg(dir.path().join("storage"))
        .arg("--json")
        .arg(&json)
        .arg("--")
        .args(m.args());
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("running python3 tools/load_serve.py ({e}): install python3"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("{text}");
    assert!(out.status.success(), "the load test failed:\n{text}");
    let r: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(r["jobs_submitted"], 20, "{r}");
    assert_eq!(r["jobs_completed"], 20, "{r}");
    assert_eq!(r["jobs_failed"], 0, "{r}");
    assert_eq!(r["exactly_once"], true, "{r}");
    assert_eq!(r["healthz_failures"], 0, "{r}");
    assert!(r["healthz_probes"].as_u64().unwrap() > 5, "{r}");
    assert!(r["healthz_ms_p99"].as_f64().unwrap() < 1000.0, "{r}");
    let rss = r["peak_rss_mib"].as_f64().unwrap();
    assert!(rss > 1.0 && rss < 2048.0, "{r}");
    // The storage folder holds exactly the 20 uploads and one JSON report per job.
    let storage = dir.path().join("storage");
    let count = |sub: &str, ext: Option<&str>| {
        std::fs::read_dir(storage.join(sub))
            .unwrap()
            .flatten()
            .filter(|e| ext.is_none_or(|x| e.file_name().to_string_lossy().ends_with(x)))
            .count()
    };
    assert_eq!(count("uploads", None), 20);
    assert_eq!(count("results", Some(".json")), 20);
}
