//! schemathesis (PyPI) against a running `avad serve` (real binary, loopback, SQLite, a worker with the tiny
//! models): requests generated from the server's own `/openapi.json` with a `submit` token, `--checks all`: no 5xx
//! and no answer that contradicts the document. The script `scripts/serve_schemathesis.sh` installs schemathesis
//! into a venv under target/ on first use (python3 with venv, and PyPI, are needed then).

mod common;

use std::time::{Duration, Instant};

use common::{root, TinyModels};

#[test]
fn schemathesis_finds_no_server_error_and_no_answer_against_the_schema() {
    let m = TinyModels::new(11);
    let dir = tempfile::tempdir().unwrap();
    let storage = dir.path().join("s");
    let tok = common::create_token(&storage, "st", "submit", &[]);
    // Generated requests include wrong tokens: a limit high enough that they never lock the run out.
    let srv = common::start_serve(
        Some(&m),
        &storage,
        &[
            "--auth-failures-per-minute",
            "100000",
            "--max-upload",
            "1000000",
            "--threads",
            "1",
        ],
        Duration::from_secs(60),
    );
    let url = srv.url();
    let t0 = Instant::now();
    let status = std::process::Command::new("bash")
        .arg(root().join("scripts/serve_schemathesis.sh"))
        .args([&url, &tok])
        .status()
        .unwrap_or_else(|e| panic!("cannot run bash ({e})"));
    assert!(
        status.success(),
        "schemathesis found problems (see above), or could not be installed: it needs python3 and python3-venv \
         (Debian) and PyPI on first use"
    );
    eprintln!("schemathesis: {:.1} s", t0.elapsed().as_secs_f64());
}
