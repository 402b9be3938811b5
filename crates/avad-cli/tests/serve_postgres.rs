//! `avad serve` on several machines, simulated on loopback: a real PostgreSQL (Debian `postgresql`, started in a
//! temporary folder by `common::Postgres`), one API process (`avad serve --no-worker`, no models loaded) and two
//! `avad serve --worker-only` processes sharing `--database postgres://…` and the storage folder. 20 jobs are
//! submitted, one worker is killed (`kill -9`) in the middle of a job: every job completes exactly once (one report
//! each, attempt 1 for all but the killed one), and the killed job is taken by the other worker once its lease has
//! expired (attempt 2). Then `avad serve --watch` on the same database stores two cameras' event messages in
//! PostgreSQL and `GET /v1/events` reads them back (camera filter, pages), and `--keep-events` deletes them.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{avad_command, http, root, start_ready, Postgres, TinyModels};

fn media(name: &str) -> PathBuf {
    root().join("fixtures/media").join(name)
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// The running jobs as `(id, lease_owner, lease_expires)`.
fn running(pg: &Postgres) -> Vec<(String, String, i64)> {
    pg.psql("SELECT id, lease_owner, lease_expires FROM jobs WHERE status = 'running' ORDER BY id")
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split('|').collect();
            (f[0].to_string(), f[1].to_string(), f[2].parse().unwrap())
        })
        .collect()
}

/// True when the lease owner `owner` (`host-PID-tag`) belongs to process `pid`.
fn owned_by(owner: &str, pid: u32) -> bool {
    owner.contains(&format!("-{pid}-"))
}

fn json_files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| n.ends_with(".json"))
        .collect();
    v.sort();
    v
}

#[test]
fn one_api_and_two_workers_on_postgresql_complete_20_jobs_exactly_once_through_a_kill_9() {
    let t0 = Instant::now();
    let pg = Postgres::start();
    let m = TinyModels::new(11);
    let dir = tempfile::tempdir().unwrap();
    let storage = dir.path().join("shared");
    let s = storage.display().to_string();
    let tok = common::create_token(&storage, "ci", "submit", &["--database", &pg.url]);
    assert!(
        !storage.join("avad-serve.db").exists(),
        "the token went to PostgreSQL, not to a SQLite file"
    );

    // The API machine: no worker, no model flags.
    let api = common::start_serve(
        None,
        &storage,
        &["--database", &pg.url],
        Duration::from_secs(30),
    );
    let a = api.addr.clone();
    let api_pid = api.process.0.id();

    // Two worker machines. `--lease 3`: a dead worker's job is taken again 3 s after its last renewal.
    let lease_s = 3;
    let worker = || {
        let mut cmd = avad_command();
        cmd.args([
            "serve",
            "--worker-only",
            "--storage",
            &s,
            "--database",
            &pg.url,
        ])
        .args([
            "--lease",
            &lease_s.to_string(),
            "--stride",
            "4",
            "--threads",
            "1",
        ])
        .args(m.args());
        let (p, ready, out) = start_ready(cmd, "avad serve --worker-only", Duration::from_secs(60));
        assert_eq!(ready, "worker");
        (p, out)
    };
    let (mut wa, _wa_out) = worker();
    let (wb, _wb_out) = worker();
    let (pid_a, pid_b) = (wa.0.id(), wb.0.id());

    // Two long jobs first (each worker takes one), then 18 short ones.
    let long = std::fs::read(media("intel_one-by-one-person-detection.mp4")).unwrap();
    let short = std::fs::read(media("synthetic_av_sync.mp4")).unwrap();
    let mut ids = Vec::new();
    for i in 0..20 {
        let (name, bytes) = if i < 2 {
            (format!("long-{i}.mp4"), &long)
        } else {
            (format!("short-{i}.mp4"), &short)
        };
        let r = http(
            &a,
            "POST",
            &format!("/v1/jobs?name={name}"),
            Some(&tok),
            &[],
            Some(bytes),
        );
        assert_eq!(r.status, 202, "{}", String::from_utf8_lossy(&r.body));
        ids.push(r.json()["id"].as_str().unwrap().to_string());
    }
    let (long_ids, short_ids) = ids.split_at(2);

    // Wait until worker A runs one of the long jobs, then kill it.
    let until = Instant::now() + Duration::from_secs(60);
    let (killed, expires_at_kill) = loop {
        let run = running(&pg);
        let a_job = run
            .iter()
            .find(|(id, owner, _)| owned_by(owner, pid_a) && long_ids.contains(id));
        let b_busy = run.iter().any(|(_, owner, _)| owned_by(owner, pid_b));
        if let (Some((id, _, _)), true) = (a_job, b_busy) {
            let id = id.clone();
            wa.0.kill().unwrap(); // SIGKILL
            wa.0.wait().unwrap();
            // The lease as the dead worker left it (renewals may have landed up to the kill).
            let exp: i64 = pg
                .psql(&format!("SELECT lease_expires FROM jobs WHERE id = '{id}'"))
                .trim()
                .parse()
                .unwrap();
            break (id, exp);
        }
        assert!(
            Instant::now() < until,
            "worker A never ran a long job while B worked: {run:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let killed_at = now_ms();
    assert!(
        expires_at_kill > killed_at,
        "the lease was live when the worker died"
    );

    // Every job completes; the killed one is taken again only once its lease has expired.
    let until = Instant::now() + Duration::from_secs(120);
    let mut retaken_at = None;
    loop {
        if retaken_at.is_none() {
            let owner = pg.psql(&format!(
                "SELECT lease_owner FROM jobs WHERE id = '{killed}'"
            ));
            if owned_by(owner.trim(), pid_b) {
                retaken_at = Some(now_ms());
            }
        }
        let r = http(&a, "GET", "/v1/jobs?limit=100", Some(&tok), &[], None);
        assert_eq!(r.status, 200);
        let page = r.json();
        let jobs = page["jobs"].as_array().unwrap();
        assert_eq!(jobs.len(), 20);
        if let Some(bad) = jobs
            .iter()
            .find(|j| j["status"] == "failed" || j["status"] == "cancelled")
        {
            panic!("a job did not complete: {bad}");
        }
        if jobs.iter().all(|j| j["status"] == "done") {
            break;
        }
        assert!(Instant::now() < until, "not all jobs completed: {page}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let retaken_at = retaken_at.expect("worker B took the killed job");
    assert!(
        retaken_at >= expires_at_kill,
        "the killed job was taken again {} ms before its lease expired",
        expires_at_kill - retaken_at
    );

    // Exactly once: one report per job, named by the attempt that completed it.
    let rows =
        pg.psql("SELECT id, status, attempts, lease_owner, finished_ms FROM jobs ORDER BY id");
    let mut expected = Vec::new();
    for l in rows.lines().filter(|l| !l.is_empty()) {
        let f: Vec<&str> = l.split('|').collect();
        let (id, status, attempts, owner) = (f[0], f[1], f[2].parse::<i64>().unwrap(), f[3]);
        assert_eq!(status, "done", "{l}");
        assert!(!owned_by(owner, api_pid), "the API process ran no job: {l}");
        if id == killed {
            assert_eq!(attempts, 2, "the killed job ran a second time, once: {l}");
            assert!(owned_by(owner, pid_b), "{l}");
            let finished: i64 = f[4].parse().unwrap();
            assert!(finished > expires_at_kill, "{l}");
        } else {
            assert_eq!(attempts, 1, "{l}");
            assert!(owned_by(owner, pid_a) || owned_by(owner, pid_b), "{l}");
        }
        expected.push(format!("{id}-a{attempts}.json"));
    }
    expected.sort();
    assert_eq!(expected.len(), 20);
    assert_eq!(json_files(&storage.join("results")), expected);

    // The rerun's report equals the other long job's (same clip, scored in one go), and the short ones agree.
    let report = |id: &str| {
        let r = http(
            &a,
            "GET",
            &format!("/v1/jobs/{id}/report"),
            Some(&tok),
            &[],
            None,
        );
        assert_eq!(r.status, 200);
        let mut j = r.json();
        j["video"] = serde_json::Value::Null;
        j
    };
    let other = long_ids.iter().find(|id| **id != killed).unwrap();
    let (k, o) = (report(&killed), report(other));
    assert!(!k["snippets"].as_array().unwrap().is_empty());
    assert_eq!(k, o);
    assert_eq!(report(&short_ids[0]), report(&short_ids[17]));
    let metrics = http(&a, "GET", "/metrics", Some(&tok), &[], None);
    let text = String::from_utf8_lossy(&metrics.body).to_string();
    assert!(
        text.contains("avad_serve_jobs{status=\"done\"} 20"),
        "{text}"
    );
    drop((wb, api));
    eprintln!(
        "serve_postgres: jobs done in {:.1} s",
        t0.elapsed().as_secs_f64()
    );

    watched_events_on_postgresql(&pg, &m, dir.path(), &s, &tok);
    eprintln!("serve_postgres: {:.1} s", t0.elapsed().as_secs_f64());
}

/// `avad serve --no-worker --watch` on `pg`: two cameras play a 4 s clip once with thresholds of 0 (an event from
/// the first snippet to the end of the file, so one `new` and one `end` each, within seconds); their messages are
/// stored in PostgreSQL and read back through `/v1/events` with a camera filter and pages of one. Then an API
/// process with `--keep-events 1s` deletes them.
fn watched_events_on_postgresql(
    pg: &Postgres,
    m: &TinyModels,
    dir: &Path,
    storage: &str,
    tok: &str,
) {
    let t0 = Instant::now();
    let clip = media("synthetic_av_sync.mp4").display().to_string();
    let cfg = common::write_watch_config(
        m,
        &dir.join("cameras.toml"),
        &format!(
            r#"[events]
on = 0.0
off = 0.0
min_duration_s = 0.0

[[camera]]
name = "yard"
source = {clip:?}

[[camera]]
name = "porch"
source = {clip:?}
"#
        ),
    );
    let cfg = cfg.display().to_string();
    let watch = common::start_serve(
        None,
        Path::new(storage),
        &["--database", &pg.url, "--watch", &cfg],
        Duration::from_secs(60),
    );
    let a = watch.addr.clone();
    let events = |query: &str| {
        let r = http(
            &a,
            "GET",
            &format!("/v1/events{query}"),
            Some(tok),
            &[],
            None,
        );
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        let v = r.json();
        (
            v["events"].as_array().unwrap().clone(),
            v["next_cursor"].as_str().map(str::to_string),
        )
    };
    // a `new` and an `end` of one event of each camera
    let until = Instant::now() + Duration::from_secs(60);
    let pair = |evs: &[serde_json::Value]| {
        evs.iter().any(|e| {
            e["type"] == "end"
                && evs
                    .iter()
                    .any(|n| n["type"] == "new" && n["event_id"] == e["event_id"])
        })
    };
    let yard = loop {
        let (yard, _) = events("?camera=yard&limit=100");
        let (porch, _) = events("?camera=porch&limit=100");
        if pair(&yard) && pair(&porch) {
            break yard;
        }
        assert!(
            Instant::now() < until,
            "no new + end of both cameras within 60 s: {yard:?} {porch:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(yard.iter().all(|e| e["camera"] == "yard"
        && e["message"]["after"]["camera"] == "yard"
        && e["message"]["type"] == e["type"]));
    for w in yard.windows(2) {
        assert!(w[0]["id"].as_str().unwrap() > w[1]["id"].as_str().unwrap());
    }
    // the rows are in PostgreSQL
    let stored: usize = pg
        .psql("SELECT count(*) FROM camera_events WHERE camera = 'yard'")
        .trim()
        .parse()
        .unwrap();
    assert_eq!(stored, yard.len());
    // pages of one, newest first, through the cursor
    let (first, cursor) = events("?camera=yard&limit=1");
    assert_eq!(first.len(), 1);
    assert_eq!(first[0]["id"], yard[0]["id"]);
    let (second, _) = events(&format!(
        "?camera=yard&limit=1&cursor={}",
        cursor.expect("a next_cursor on a full page")
    ));
    assert_eq!(second.len(), 1);
    assert_eq!(second[0]["id"], yard[1]["id"]);
    let (all, _) = events("?limit=100");
    assert!(all.iter().any(|e| e["camera"] == "porch"));
    assert_eq!(
        all.len(),
        yard.len() + events("?camera=porch&limit=100").0.len()
    );
    drop(watch);

    // --keep-events on PostgreSQL
    let _api = common::start_serve(
        None,
        Path::new(storage),
        &[
            "--database",
            &pg.url,
            "--keep-events",
            "1s",
            "--sweep-every",
            "1",
        ],
        Duration::from_secs(30),
    );
    let until = Instant::now() + Duration::from_secs(20);
    while pg.psql("SELECT count(*) FROM camera_events").trim() != "0" {
        assert!(
            Instant::now() < until,
            "--keep-events 1s left camera events after 20 s"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    eprintln!(
        "serve_postgres: cameras on PostgreSQL in {:.1} s",
        t0.elapsed().as_secs_f64()
    );
}
