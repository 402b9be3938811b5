//! Hostile media (issue #18, item 4): a corpus of damaged videos made from fixtures/media by
//! tools/make_damaged_media.py (at least 200 files: truncated, bit-flipped, overwritten, wrong extensions, huge
//! declared frame sizes, zero-packet and audio-only files, absurd timestamps) through `avad detect` (every file)
//! and `avad extract` (the whole folder in one run). Each run must end with a report or a clear error naming the
//! file — never a panic, a hang (bounded time per file) or memory beyond a bound. python3 and the ffmpeg CLI
//! come from scripts/install-deps.sh; the test fails without them.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::{avad_command, root, TinyModels};

/// Longest a single damaged file may take through `avad detect` (tiny models; the clean sources take < 2 s).
const PER_FILE: Duration = Duration::from_secs(60);
/// Most resident memory one `avad detect` run may reach (tiny models, clips of at most 3 s at 1280x720).
const MAX_RSS_KB: i64 = 1024 * 1024;

/// How a bounded child process ended.
#[derive(Debug)]
struct Outcome {
    /// Exit code (`None`: killed by a signal or by the time limit).
    code: Option<i32>,
    timed_out: bool,
    secs: f64,
    max_rss_kb: i64,
    stdout: String,
    stderr: String,
}

/// Runs `cmd` with stdout / stderr in files under `scratch`, killing it after `limit`; reports its peak RSS
/// (`wait4`'s rusage).
fn run_bounded(mut cmd: Command, limit: Duration, scratch: &Path, tag: &str) -> Outcome {
    let out_path = scratch.join(format!("{tag}.stdout"));
    let err_path = scratch.join(format!("{tag}.stderr"));
    cmd.stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .stdin(Stdio::null());
    let t0 = Instant::now();
    let child = cmd.spawn().expect("run avad");
    let pid = child.id() as libc::pid_t;
    let mut status: libc::c_int = 0;
    // SAFETY: an all-zero rusage is a valid value for wait4 to fill.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let mut timed_out = false;
    loop {
        // SAFETY: waits for our own child with valid out-pointers.
        let r = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
        if r == pid {
            break;
        }
        assert!(r == 0, "wait4 failed");
        if t0.elapsed() > limit && !timed_out {
            timed_out = true;
            // SAFETY: signals our own child.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    std::mem::forget(child); // already reaped by wait4
    let code = libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status));
    Outcome {
        code,
        timed_out,
        secs: t0.elapsed().as_secs_f64(),
        max_rss_kb: usage.ru_maxrss,
        stdout: std::fs::read_to_string(&out_path).unwrap_or_default(),
        stderr: std::fs::read_to_string(&err_path).unwrap_or_default(),
    }
}

/// Writes the corpus into `dir` and returns its files, sorted.
fn corpus(dir: &Path) -> Vec<PathBuf> {
    let script = root().join("tools/make_damaged_media.py");
    let out = Command::new("python3")
        .arg(&script)
        .arg(dir)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {} ({e}): install python3 and ffmpeg with scripts/install-deps.sh",
                script.display()
            )
        });
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    files.sort();
    files
}

#[test]
fn damaged_videos_give_a_report_or_a_clear_error_never_a_panic_or_a_hang() {
    let m = TinyModels::new(5);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("corpus");
    std::fs::create_dir_all(&dir).unwrap();
    let files = corpus(&dir);
    assert!(files.len() >= 200, "{} files", files.len());
    let scratch = tmp.path().join("runs");
    std::fs::create_dir_all(&scratch).unwrap();

    // avad detect on every file, two at a time.
    let next = Mutex::new(0usize);
    let results: Mutex<Vec<(PathBuf, Outcome)>> = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| loop {
                let i = {
                    let mut n = next.lock().unwrap();
                    *n += 1;
                    *n - 1
                };
                let Some(file) = files.get(i) else { break };
                let mut cmd = avad_command();
                cmd.arg("detect")
                    .arg(file)
                    .args(["--json", "--max-snippets", "40", "--threads", "1"])
                    .args(m.args());
                let o = run_bounded(cmd, PER_FILE, &scratch, &format!("detect-{i}"));
                results.lock().unwrap().push((file.clone(), o));
            });
        }
    });
    let results = results.into_inner().unwrap();
    assert_eq!(results.len(), files.len());
    let (mut reports, mut errors) = (0, 0);
    let mut slowest = (0.0f64, PathBuf::new());
    let mut max_rss = 0i64;
    let mut failures = Vec::new();
    for (file, o) in &results {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        if o.secs > slowest.0 {
            slowest = (o.secs, file.clone());
        }
        max_rss = max_rss.max(o.max_rss_kb);
        let problem = if o.timed_out {
            Some(format!("hung (killed after {} s)", PER_FILE.as_secs()))
        } else if o.stderr.contains("panicked") || o.code == Some(101) {
            Some("panicked".to_string())
        } else if o.code.is_none() {
            Some("killed by a signal".to_string())
        } else if o.max_rss_kb > MAX_RSS_KB {
            Some(format!("peak RSS {} MB", o.max_rss_kb / 1024))
        } else if o.code == Some(0) {
            match serde_json::from_str::<serde_json::Value>(&o.stdout) {
                Ok(v) if v["snippets"].as_array().is_some_and(|s| !s.is_empty()) => {
                    reports += 1;
                    None
                }
                _ => Some(format!("exit 0 without a report: {}", o.stdout)),
            }
        } else if !o.stderr.contains(&name) {
            Some(format!(
                "an error that does not name the file: {}",
                o.stderr.trim()
            ))
        } else {
            errors += 1;
            None
        };
        if let Some(p) = problem {
            failures.push(format!("{name}: {p}\n{}", o.stderr.trim()));
        }
    }
    eprintln!(
        "avad detect over {} damaged files: {reports} reports, {errors} clear errors, {} failures; slowest {:.2} s \
         ({}), peak RSS {} MB",
        results.len(),
        failures.len(),
        slowest.0,
        slowest.1.display(),
        max_rss / 1024
    );
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    assert!(reports > 20 && errors > 20, "the corpus has both kinds");

    // avad extract over the whole folder in one run: per-file errors reported, the others extracted.
    let out = tmp.path().join("features");
    let mut cmd = avad_command();
    cmd.args(["extract", "--videos"])
        .arg(&dir)
        .arg("--out")
        .arg(&out)
        .args(["--max-snippets", "40", "--threads", "2"])
        .args(["--clip-model", m.clip.to_str().unwrap()])
        .args(["--wav2clip", m.wav2clip.to_str().unwrap()]);
    let o = run_bounded(cmd, Duration::from_secs(600), &scratch, "extract");
    eprintln!(
        "avad extract over the folder: exit {:?} in {:.1} s, peak RSS {} MB",
        o.code,
        o.secs,
        o.max_rss_kb / 1024
    );
    assert!(!o.timed_out, "extract hung");
    assert!(
        o.code.is_some() && o.code != Some(101) && !o.stderr.contains("panicked"),
        "{}",
        o.stderr
    );
    assert!(
        o.max_rss_kb < 2 * MAX_RSS_KB,
        "peak RSS {} MB",
        o.max_rss_kb / 1024
    );
    // Nothing half-written: no temporary files left, and every feature file has a good video behind it.
    let mut written = 0;
    for e in walk(&out) {
        let n = e.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            !n.ends_with(".tmp"),
            "a temporary file was left: {}",
            e.display()
        );
        if n.ends_with(".npy") {
            written += 1;
        }
    }
    assert!(
        written >= reports,
        "{written} feature files for {reports} decodable videos"
    );
}

/// Every file under `dir`.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}
