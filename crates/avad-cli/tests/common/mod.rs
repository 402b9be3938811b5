//! Helpers shared by the end-to-end tests: running the `avad` binary and finding the repository's fixtures.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc::Receiver;
use std::time::Duration;

/// A command that runs the `avad` binary under test.
pub fn avad_command() -> Command {
    Command::new(env!("CARGO_BIN_EXE_avad"))
}

/// Runs `avad ARGS` and returns its output.
pub fn avad(args: &[&str]) -> Output {
    avad_command().args(args).output().expect("run avad")
}

/// The repository root (`fixtures/` is below it).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `out` of a finished run; fails the test, showing its stdout and stderr, unless it succeeded.
pub fn assert_success(out: Output) -> Output {
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Runs `avad ARGS` and returns its output; fails the test unless it succeeds.
pub fn avad_ok(args: &[&str]) -> Output {
    assert_success(avad(args))
}

/// `avad predict --model MODEL --list LIST --out OUT` (more flags can be added before running it).
pub fn predict_command(model: &Path, list: &Path, out: &Path) -> Command {
    let mut c = avad_command();
    c.args(["predict", "--model"])
        .arg(model)
        .arg("--list")
        .arg(list)
        .arg("--out")
        .arg(out);
    c
}

/// A child process killed and reaped when dropped, so a failing test leaves no server behind.
pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `cmd` (stdout piped, stderr inherited), waits up to `timeout` for its first stdout line, which must be
/// `READY <address>`, and returns the process, the address and the stdout lines that follow.
pub fn start_ready(
    mut cmd: Command,
    what: &str,
    timeout: Duration,
) -> (KillOnDrop, String, Receiver<String>) {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("{what}: cannot start ({e}); run scripts/install-deps.sh"));
    let out = child.stdout.take().unwrap();
    let child = KillOnDrop(child);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let ready = rx
        .recv_timeout(timeout)
        .unwrap_or_else(|_| panic!("{what} did not start within {timeout:?}"));
    let addr = ready
        .strip_prefix("READY ")
        .unwrap_or_else(|| panic!("{what}: unexpected first line {ready:?}"))
        .to_string();
    (child, addr, rx)
}

/// `avad serve token create --name NAME --scope SCOPE --storage STORAGE [EXTRA…]`: the new token (checked to look
/// like one).
pub fn create_token(storage: &Path, name: &str, scope: &str, extra: &[&str]) -> String {
    let storage = storage.display().to_string();
    let mut args = vec![
        "serve",
        "token",
        "create",
        "--name",
        name,
        "--scope",
        scope,
        "--storage",
        &storage,
    ];
    args.extend_from_slice(extra);
    let out = avad_ok(&args);
    let t = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert!(t.starts_with("avad_"), "{t}");
    t
}

/// Tiny models for end-to-end runs: a random teacher of the tiny CLIP fixture's width (24, audio width of
/// Wav2CLIP), the tiny CLIP fixture, and formula Wav2CLIP weights, in a temporary folder kept alive by `_dir`.
pub struct TinyModels {
    pub _dir: tempfile::TempDir,
    pub model: PathBuf,
    pub wav2clip: PathBuf,
    pub clip: PathBuf,
}

impl TinyModels {
    /// Writes the models (seed `seed` for the teacher).
    pub fn new(seed: u64) -> TinyModels {
        let dir = tempfile::tempdir().unwrap();
        let dev = burn_flex::FlexDevice;
        let wav2clip = dir.path().join("wav2clip.safetensors");
        avad_wav2clip::testing::save_formula_weights::<burn_flex::Flex>(&wav2clip, &dev).unwrap();
        let model = avad_train::testing::write_tiny_checkpoint::<burn_flex::Flex>(
            &dir.path().join("teacher"),
            24,
            Some(avad_wav2clip::EMBED_DIM),
            seed,
            &dev,
        )
        .unwrap();
        TinyModels {
            _dir: dir,
            model,
            wav2clip,
            clip: root().join("fixtures/clip/tiny_hf"),
        }
    }

    /// `--model M --clip-model C --wav2clip W`.
    pub fn args(&self) -> Vec<String> {
        vec![
            "--model".into(),
            self.model.display().to_string(),
            "--clip-model".into(),
            self.clip.display().to_string(),
            "--wav2clip".into(),
            self.wav2clip.display().to_string(),
        ]
    }
}

// ---- Helpers of the `avad distill` tests (distill_cli.rs, ukd_transfer.rs) ----

/// The stdout of a finished `avad` run; fails the test, showing stdout and stderr, unless it succeeded.
pub fn ok_stdout(out: Output) -> String {
    String::from_utf8_lossy(&assert_success(out).stdout).into_owned()
}

/// A synthetic benchmark with a training recipe and an audio-visual teacher trained on it, the start of every
/// `avad distill` test; all in one temporary folder (`TMP/data`, `TMP/recipe.toml`, `TMP/teacher`).
pub struct DistillBench {
    pub tmp: tempfile::TempDir,
    /// Where the benchmark was written (`TMP/data`).
    pub data_dir: PathBuf,
    pub data: avad_core::synth::SynthSummary,
    /// The teacher's training folder (`TMP/teacher`, with `model.json`).
    pub teacher: PathBuf,
    recipe: PathBuf,
    flags: Vec<String>,
}

impl DistillBench {
    /// Writes the benchmark `synth` and the recipe `recipe` (a `--config` TOML), and trains the teacher (`avad
    /// train --preset synth-teacher`) with the recipe and `flags` (`--epochs`, `--seed`, …), the flags every run
    /// of [`DistillBench::run_args`] gets.
    pub fn new(
        synth: &avad_core::synth::SynthConfig,
        recipe: &str,
        flags: &[&str],
    ) -> DistillBench {
        let tmp = tempfile::tempdir().unwrap();
        let data_dir = tmp.path().join("data");
        let data = avad_core::synth::generate(synth, &data_dir).unwrap();
        let recipe_path = tmp.path().join("recipe.toml");
        std::fs::write(&recipe_path, recipe).unwrap();
        let bench = DistillBench {
            teacher: tmp.path().join("teacher"),
            tmp,
            data_dir,
            data,
            recipe: recipe_path,
            flags: flags.iter().map(|f| f.to_string()).collect(),
        };
        let mut c = avad_command();
        c.args(["train", "--preset", "synth-teacher"]);
        bench.run_args(&mut c, &bench.teacher);
        ok_stdout(c.output().unwrap());
        bench
    }

    /// Adds `--train-list TRAIN --config RECIPE --out OUT` and the bench's flags to `c`.
    pub fn run_args<'c>(&self, c: &'c mut Command, out: &Path) -> &'c mut Command {
        c.arg("--train-list")
            .arg(&self.data.train_list)
            .arg("--config")
            .arg(&self.recipe)
            .arg("--out")
            .arg(out)
            .args(&self.flags)
    }

    /// `avad distill --preset synth-student ARGS… --teacher TEACHER` into `out` with [`DistillBench::run_args`]
    /// (`teacher`: the teacher's `model.json` or its folder).
    pub fn distill(&self, args: &[&str], teacher: &Path, out: &Path) -> Command {
        let mut c = avad_command();
        c.args(["distill", "--preset", "synth-student"])
            .args(args)
            .arg("--teacher")
            .arg(teacher);
        self.run_args(&mut c, out);
        c
    }
}

// ---- Helpers of the `avad serve` tests (serve_*.rs) ----

/// A running `avad serve` (killed when dropped): its process, its `host:port`, and its stdout lines after `READY`.
pub struct Server {
    pub process: KillOnDrop,
    pub addr: String,
    pub stdout: Receiver<String>,
}

impl Server {
    /// `http://host:port`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

/// Starts `avad serve --listen 127.0.0.1:0 --storage STORAGE`, a worker with `models` or, without them, an API-only
/// process (`--no-worker`), then the `extra` flags; waits up to `ready_within` for its `READY` line.
pub fn start_serve(
    models: Option<&TinyModels>,
    storage: &Path,
    extra: &[&str],
    ready_within: Duration,
) -> Server {
    let mut cmd = avad_command();
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--storage"])
        .arg(storage);
    match models {
        Some(m) => cmd.args(m.args()),
        None => cmd.arg("--no-worker"),
    };
    cmd.args(extra);
    let (process, url, stdout) = start_ready(cmd, "avad serve", ready_within);
    let addr = url
        .strip_prefix("http://")
        .unwrap_or_else(|| panic!("READY line without http:// ({url})"))
        .to_string();
    Server {
        process,
        addr,
        stdout,
    }
}

/// An HTTP answer (`http`).
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// The first header named `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON; fails the test, showing the body, when it is not.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
}

/// One HTTP/1.1 request to `addr` (`host:port`) over a fresh connection (`Connection: close`), with an optional
/// bearer token, extra header lines (`"Range: bytes=0-9"`) and body (sent with `Content-Length`).
pub fn http(
    addr: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    extra_headers: &[&str],
    body: Option<&[u8]>,
) -> HttpResponse {
    use std::io::Write;
    let mut s = std::net::TcpStream::connect(addr)
        .unwrap_or_else(|e| panic!("{method} {path}: connecting to {addr}: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if let Some(t) = token {
        head.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    for h in extra_headers {
        head.push_str(h);
        head.push_str("\r\n");
    }
    if let Some(b) = body {
        head.push_str(&format!(
            "Content-Type: application/octet-stream\r\nContent-Length: {}\r\n",
            b.len()
        ));
    }
    head.push_str("\r\n");
    let writer = {
        let mut w = s.try_clone().unwrap();
        let mut all = head.into_bytes();
        all.extend_from_slice(body.unwrap_or_default());
        std::thread::spawn(move || {
            let _ = w.write_all(&all);
        })
    };
    let response = read_http_response(&mut s, &format!("{method} {path}"));
    let _ = writer.join();
    response
}

/// Reads one HTTP/1.1 answer from `s` until the server closes the connection (`Connection: close`) and parses it
/// (status, headers, body, de-chunked when `Transfer-Encoding: chunked`). A reset after part of the answer arrived
/// (a server that answers before reading the whole upload, then closes) ends the read; `what` names the request
/// in failures.
pub fn read_http_response(s: &mut std::net::TcpStream, what: &str) -> HttpResponse {
    use std::io::Read;
    let mut raw = Vec::new();
    let mut buf = [0u8; 16384];
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(_) if !raw.is_empty() => break,
            Err(e) => panic!("{what}: {e}"),
        }
    }
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| {
            panic!(
                "{what}: no HTTP head in {:?}",
                String::from_utf8_lossy(&raw)
            )
        });
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    if headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"))
    {
        let (mut b, mut out) = (&body[..], Vec::new());
        while let Some(i) = b.windows(2).position(|w| w == b"\r\n") {
            let n = usize::from_str_radix(String::from_utf8_lossy(&b[..i]).trim(), 16).unwrap_or(0);
            if n == 0 || b.len() < i + 2 + n {
                break;
            }
            out.extend_from_slice(&b[i + 2..i + 2 + n]);
            b = &b[(i + 4 + n).min(b.len())..];
        }
        body = out;
    }
    HttpResponse {
        status,
        headers,
        body,
    }
}

/// A port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("binding 127.0.0.1:0")
}

/// A throwaway PostgreSQL server (the Debian `postgresql` package's `initdb` and `postgres`) on 127.0.0.1 and a
/// free port, with its data, socket and log in a temporary folder; password (SCRAM) authentication for the user
/// `avad` and a database `avad`. When the tests run as root, `initdb` runs as the `postgres` user through `runuser`
/// and the server as a child process with the `postgres` user's ids, since PostgreSQL refuses to run as root. The
/// server is the test's own child (not daemonised by `pg_ctl`), so dropping this stops it (immediate shutdown,
/// SIGQUIT), reaps it and removes the folder. Fails the test, naming the package, when PostgreSQL is not installed.
pub struct Postgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
    as_postgres_user: bool,
    server: Option<Child>,
    pub port: u16,
    password: String,
    /// `postgres://avad:PASSWORD@127.0.0.1:PORT/avad`.
    pub url: String,
}

impl Postgres {
    /// The folder of `initdb` and `pg_ctl`: the newest `/usr/lib/postgresql/N/bin` (Debian), else `PATH`.
    fn bin_dir() -> PathBuf {
        let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
            .map(|d| {
                d.flatten()
                    .filter_map(|e| {
                        let v = e.file_name().to_string_lossy().parse::<u32>().ok()?;
                        let bin = e.path().join("bin");
                        bin.join("initdb").exists().then_some((v, bin))
                    })
                    .collect()
            })
            .unwrap_or_default();
        versions.sort();
        if let Some((_, bin)) = versions.pop() {
            return bin;
        }
        std::env::var_os("PATH")
            .and_then(|p| {
                std::env::split_paths(&p).find(|d| d.join("initdb").exists() && d.join("postgres").exists())
            })
            .unwrap_or_else(|| {
                panic!(
                    "PostgreSQL's initdb and postgres were not found (in /usr/lib/postgresql/*/bin or PATH): \
                     install the Debian package `postgresql` (scripts/install-deps.sh)"
                )
            })
    }

    /// Runs `bin/ARGS` (as `postgres` when needed); fails the test with its output unless it succeeds.
    fn run(&self, program: &str, args: &[&str]) -> Output {
        let out = self.try_run(program, args);
        assert!(
            out.status.success(),
            "{program} {args:?} failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// Runs `bin/ARGS` (as `postgres` when needed) and returns its output, whatever its exit status.
    fn try_run(&self, program: &str, args: &[&str]) -> Output {
        let exe = self.bin.join(program);
        let mut cmd = if self.as_postgres_user {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&exe);
            c
        } else {
            Command::new(&exe)
        };
        let out = cmd
            .args(args)
            .current_dir(self.dir.path())
            .env("PGPASSWORD", &self.password)
            .output()
            .unwrap_or_else(|e| panic!("running {}: {e}", exe.display()));
        out
    }

    /// Initialises and starts the server; returns once it accepts connections and the database `avad` exists.
    pub fn start() -> Postgres {
        let bin = Self::bin_dir();
        let as_postgres_user = unsafe { libc::geteuid() } == 0;
        let dir = tempfile::tempdir().unwrap();
        let password = format!("pw{}", std::process::id());
        std::fs::write(dir.path().join("pw"), &password).unwrap();
        let ids = if as_postgres_user {
            let id = |flag: &str| -> u32 {
                let out = Command::new("id")
                    .args([flag, "postgres"])
                    .output()
                    .expect("run id");
                assert!(
                    out.status.success(),
                    "there is no `postgres` user to run PostgreSQL as (tests run as root): install the Debian \
                     package `postgresql` (scripts/install-deps.sh)"
                );
                String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
            };
            let ids = (id("-u"), id("-g"));
            for p in [dir.path().to_path_buf(), dir.path().join("pw")] {
                std::os::unix::fs::chown(&p, Some(ids.0), Some(ids.1)).unwrap();
            }
            Some(ids)
        } else {
            None
        };
        let port = free_port();
        let mut pg = Postgres {
            url: format!("postgres://avad:{password}@127.0.0.1:{port}/avad"),
            dir,
            bin,
            as_postgres_user,
            server: None,
            port,
            password,
        };
        let d = pg.dir.path().display().to_string();
        let data = format!("{d}/data");
        pg.run(
            "initdb",
            &[
                "-D",
                &data,
                "-U",
                "avad",
                "--auth=scram-sha-256",
                &format!("--pwfile={d}/pw"),
                "-E",
                "UTF8",
                "--no-sync",
            ],
        );
        let log = std::fs::File::create(format!("{d}/log")).unwrap();
        if let Some((uid, gid)) = ids {
            std::os::unix::fs::chown(format!("{d}/log"), Some(uid), Some(gid)).unwrap();
        }
        let mut server = Command::new(pg.bin.join("postgres"));
        server
            .args(["-D", &data, "-p", &port.to_string(), "-k", &d])
            .args(["-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"])
            .args(["-c", "synchronous_commit=off", "-c", "full_page_writes=off"])
            .current_dir(pg.dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        if let Some((uid, gid)) = ids {
            use std::os::unix::process::CommandExt;
            server.uid(uid).gid(gid);
        }
        pg.server = Some(
            server
                .spawn()
                .unwrap_or_else(|e| panic!("starting postgres: {e}")),
        );
        // Ready once it answers a query (or failed when the process is gone).
        let until = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            let port = pg.port.to_string();
            let out = pg.try_run(
                "psql",
                &[
                    "-h",
                    "127.0.0.1",
                    "-p",
                    &port,
                    "-U",
                    "avad",
                    "-d",
                    "postgres",
                    "-X",
                    "-c",
                    "SELECT 1",
                ],
            );
            if out.status.success() {
                break;
            }
            let exited = pg.server.as_mut().unwrap().try_wait().unwrap();
            if exited.is_some() || std::time::Instant::now() > until {
                panic!(
                    "PostgreSQL did not start ({exited:?}):\n{}",
                    std::fs::read_to_string(format!("{d}/log")).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        pg.psql_db("postgres", "CREATE DATABASE avad");
        pg
    }

    fn psql_db(&self, db: &str, sql: &str) -> String {
        let port = self.port.to_string();
        let out = self.run(
            "psql",
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &port,
                "-U",
                "avad",
                "-d",
                db,
                "-X",
                "-At",
                "-F",
                "|",
                "-v",
                "ON_ERROR_STOP=1",
                "-c",
                sql,
            ],
        );
        String::from_utf8_lossy(&out.stdout).to_string()
    }

    /// Runs `sql` in the database `avad` with psql; returns the rows, one a line, columns separated by `|`.
    pub fn psql(&self, sql: &str) -> String {
        self.psql_db("avad", sql)
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        if let Some(mut server) = self.server.take() {
            // Immediate shutdown (SIGQUIT): the postmaster stops its backends and exits; then reap it.
            unsafe {
                libc::kill(server.id() as libc::pid_t, libc::SIGQUIT);
            }
            let until = std::time::Instant::now() + Duration::from_secs(10);
            while server.try_wait().ok().flatten().is_none() {
                if std::time::Instant::now() > until {
                    let _ = server.kill();
                    let _ = server.wait();
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

/// Writes an `avad watch` configuration of the tiny models to `path`: their three paths, then `rest` (the test's
/// `[events]`, `[metrics]` and `[[camera]]` tables).
pub fn write_watch_config(m: &TinyModels, path: &Path, rest: &str) -> PathBuf {
    let text = format!(
        "clip_model = {:?}\nwav2clip = {:?}\nmodel = {:?}\n\n{rest}",
        m.clip.display().to_string(),
        m.wav2clip.display().to_string(),
        m.model.display().to_string(),
    );
    std::fs::write(path, text).unwrap();
    path.to_path_buf()
}

/// Writes `dir/cameras.toml` (`write_watch_config`) with low event thresholds and two cameras: `yard` plays Big Buck
/// Bunny (with sound) in a loop — as fast as it decodes, or at `yard_speed` times its pace — and `gate` is an RTSP
/// URL with a password that never answers; `extra` (e.g. a `[metrics]` table) comes before the cameras.
pub fn write_cameras_toml(
    m: &TinyModels,
    dir: &Path,
    yard_speed: Option<f64>,
    extra: &str,
) -> PathBuf {
    let media = root().join("fixtures/media/moviepy_big_buck_bunny_0_30.webm");
    let speed = yard_speed
        .map(|s| format!("speed = {s:?}\n"))
        .unwrap_or_default();
    let rest = format!(
        r#"[events]
on = 0.35
off = 0.3
min_duration_s = 0.0
max_quiet_s = 1.0

{extra}
[[camera]]
name = "yard"
source = {media:?}
loop = true
{speed}
[[camera]]
name = "gate"
source = "rtsp://admin:hunter2@127.0.0.1:9/stream1?token=abc"
"#,
        media = media.display().to_string(),
    );
    write_watch_config(m, &dir.join("cameras.toml"), &rest)
}
