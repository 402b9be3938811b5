//! `avad extract` / `avad merge-lists` end to end on real clips from `fixtures/media/` with the tiny random CLIP
//! (24-d) and Wav2CLIP's formula weights: right T for visual and audio, the no-audio-stream path, resume after an
//! interrupted run (only new videos are processed), resume after a real SIGKILL, `--shard I/3` covering every video
//! once, and a bad file that is reported while the others finish.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{avad_command, root};

fn media(name: &str) -> PathBuf {
    root().join("fixtures/media").join(name)
}

fn wav2clip(tmp: &Path) -> PathBuf {
    let w = tmp.join("wav2clip.safetensors");
    avad_wav2clip::testing::save_formula_weights::<burn_flex::Flex>(&w, &burn_flex::FlexDevice)
        .unwrap();
    w
}

fn extract_cmd(videos: &Path, out: &Path, w2c: &Path, extra: &[&str]) -> Command {
    let mut c = avad_command();
    c.arg("extract")
        .arg("--videos")
        .arg(videos)
        .arg("--clip-model")
        .arg(root().join("fixtures/clip/tiny_hf"))
        .arg("--wav2clip")
        .arg(w2c)
        .arg("--out")
        .arg(out)
        .args(["--max-snippets", "5", "--batch", "2"])
        .args(extra);
    c
}

fn extract(videos: &Path, out: &Path, w2c: &Path, extra: &[&str]) -> Output {
    let o = extract_cmd(videos, out, w2c, extra).output().unwrap();
    eprintln!(
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn shape(p: &Path) -> Vec<usize> {
    avad_core::npy::read_npy(p).unwrap().shape
}

fn snippets(p: &Path) -> usize {
    let opts = avad_media::DecodeOptions {
        max_snippets: Some(5),
        ..Default::default()
    };
    avad_media::open(p, &opts)
        .unwrap()
        .collect_all()
        .unwrap()
        .0
        .len()
}

const CLIPS: [&str; 3] = [
    "moviepy_fire2.mp4",
    "moviepy_video_with_failing_audio.mp4",
    "moviepy_test_video_1x1.mp4",
];

#[test]
fn extract_resumes_and_reports_bad_files() {
    let tmp = tempfile::tempdir().unwrap();
    let w2c = wav2clip(tmp.path());
    let vids = tmp.path().join("videos");
    std::fs::create_dir_all(&vids).unwrap();
    for c in &CLIPS[..2] {
        std::fs::copy(media(c), vids.join(c)).unwrap();
    }
    let out = tmp.path().join("out");
    // first run: 2 videos
    let o = extract(&vids, &out, &w2c, &[]);
    assert!(o.status.success());
    assert!(stdout(&o).contains("extracted 2 videos"), "{}", stdout(&o));
    let marker = out.join("done/moviepy_fire2.json");
    let before = std::fs::metadata(&marker).unwrap().modified().unwrap();
    // "killed midway": the third video arrives (and a half-written leftover of it is lying around); rerun
    std::fs::copy(media(CLIPS[2]), vids.join(CLIPS[2])).unwrap();
    std::fs::create_dir_all(out.join("visual")).unwrap();
    std::fs::write(out.join("visual/moviepy_test_video_1x1__0.npy"), b"garbage").unwrap();
    let o = extract(&vids, &out, &w2c, &[]);
    assert!(o.status.success());
    let s = stdout(&o);
    assert!(s.contains("extracted 1 videos"), "{s}");
    assert!(s.contains("skipped 2 already done"), "{s}");
    assert_eq!(
        std::fs::metadata(&marker).unwrap().modified().unwrap(),
        before,
        "a finished video must not be redone"
    );
    // right T for visual and audio
    for c in CLIPS {
        let name = c.trim_end_matches(".mp4");
        let t = snippets(&media(c));
        assert_eq!(
            shape(&out.join(format!("visual/{name}__0.npy"))),
            [t, 24],
            "{c}"
        );
        let audio = out.join(format!("audio/{name}.npy"));
        if c == "moviepy_test_video_1x1.mp4" {
            assert!(!audio.exists(), "no audio stream → no audio file");
        } else {
            assert_eq!(shape(&audio), [t, 512], "{c}");
        }
    }
    // lists: AVadCLIP list for videos with audio, VadCLIP-format list for the one without
    let av = avad_core::lists::read_list(&out.join("list.csv"), None).unwrap();
    assert_eq!(av.len(), 2);
    assert!(av
        .iter()
        .all(|e| e.label == "A" && e.audio_path.as_ref().unwrap().exists()));
    let vo = avad_core::lists::read_list(&out.join("list_visual_only.csv"), None).unwrap();
    assert_eq!(vo.len(), 1);
    assert_eq!(vo[0].video, "moviepy_test_video_1x1");
    assert!(vo[0].path.exists());
    let m: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("done/moviepy_test_video_1x1.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(m["audio"], "none");
    // a bad file: reported, the run finishes the others and exits non-zero
    std::fs::write(vids.join("broken.mp4"), b"this is not a video").unwrap();
    std::fs::copy(
        media("intel_car-detection.mp4"),
        vids.join("intel_car-detection.mp4"),
    )
    .unwrap();
    let o = extract(&vids, &out, &w2c, &[]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("failures:") && err.contains("broken.mp4"),
        "{err}"
    );
    let s = stdout(&o);
    assert!(
        s.contains("extracted 1 videos") && s.contains("skipped 3") && s.contains("1 failed"),
        "{s}"
    );
    assert_eq!(shape(&out.join("audio/intel_car-detection.npy")), [5, 512]);
}

#[test]
fn shards_cover_every_video_once_and_merge() {
    let tmp = tempfile::tempdir().unwrap();
    let w2c = wav2clip(tmp.path());
    let list = tmp.path().join("videos.txt");
    let names = [
        "moviepy_fire2.mp4",
        "moviepy_video_with_failing_audio.mp4",
        "intel_car-detection.mp4",
        "moviepy_big_buck_bunny_0_30.webm",
        "moviepy_smpte-2997.mp4",
    ];
    let text: String = names
        .iter()
        .map(|n| format!("{}\n", media(n).display()))
        .collect();
    std::fs::write(&list, format!("# five clips\n{text}")).unwrap();
    let mut seen = Vec::new();
    let mut lists = Vec::new();
    for i in 0..3 {
        let out = tmp.path().join(format!("shard{i}"));
        let o = extract(&list, &out, &w2c, &["--shard", &format!("{i}/3")]);
        assert!(o.status.success());
        for e in std::fs::read_dir(out.join("done")).unwrap() {
            seen.push(e.unwrap().file_name().to_string_lossy().into_owned());
        }
        lists.push(out.join("list.csv"));
    }
    seen.sort();
    let mut want: Vec<String> = names
        .iter()
        .map(|n| {
            format!(
                "{}.json",
                Path::new(n).file_stem().unwrap().to_string_lossy()
            )
        })
        .collect();
    want.sort();
    assert_eq!(seen, want, "every video exactly once over the 3 shards");
    let merged = tmp.path().join("list.csv");
    let o = avad_command()
        .arg("merge-lists")
        .args(&lists)
        .arg("--out")
        .arg(&merged)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let rows = avad_core::lists::read_list(&merged, None).unwrap();
    assert_eq!(rows.len(), 5);
    let mut vids: Vec<&str> = rows.iter().map(|r| r.video.as_str()).collect();
    vids.sort();
    vids.dedup();
    assert_eq!(vids.len(), 5);
}

/// Every file under `dir` (recursively), relative path → bytes.
fn tree(dir: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut out = std::collections::BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(dir).unwrap().to_string_lossy().into_owned();
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

#[test]
fn extract_killed_with_sigkill_resumes_without_redoing_finished_videos() {
    // Six copies of one clip, listed in a text file. The fourth (`clip_3.mp4`) is a named pipe with no writer: the
    // first run blocks opening it after finishing clip_0..2, so the SIGKILL lands at a known point (after three
    // finished videos, never inside a file write) however slow or loaded the machine is.
    let tmp = tempfile::tempdir().unwrap();
    let w2c = wav2clip(tmp.path());
    let vids = tmp.path().join("videos");
    std::fs::create_dir_all(&vids).unwrap();
    let names: Vec<String> = (0..6).map(|i| format!("clip_{i}")).collect();
    let gate = vids.join("clip_3.mp4");
    for n in &names {
        let p = vids.join(format!("{n}.mp4"));
        if p != gate {
            std::fs::copy(media("moviepy_fire2.mp4"), &p).unwrap();
        }
    }
    let st = Command::new("mkfifo").arg(&gate).status().unwrap();
    assert!(st.success(), "mkfifo {}", gate.display());
    let list = tmp.path().join("videos.txt");
    let text: String = names.iter().map(|n| format!("videos/{n}.mp4\n")).collect();
    std::fs::write(&list, text).unwrap();

    let out = tmp.path().join("out");
    let log = tmp.path().join("killed.log");
    let mut child = extract_cmd(&list, &out, &w2c, &[])
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    // wait (on a condition, not a guess) for the last video before the pipe to be finished
    let before_gate = out.join("done/clip_2.json");
    let t0 = std::time::Instant::now();
    while !before_gate.exists() {
        if let Some(st) = child.try_wait().unwrap() {
            panic!(
                "extract exited ({st}) before blocking on the pipe:\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        assert!(
            t0.elapsed().as_secs() < 120,
            "no done-marker after 120 s:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL
    let st = child.wait().unwrap();
    assert!(!st.success(), "the run was killed, not finished: {st}");
    assert!(
        !out.join("list.csv").exists(),
        "a killed run never reached the lists"
    );
    let finished: Vec<&String> = names
        .iter()
        .filter(|n| out.join(format!("done/{n}.json")).exists())
        .collect();
    assert_eq!(finished, names[..3].iter().collect::<Vec<_>>());
    let mtime = |p: &Path| std::fs::metadata(p).unwrap().modified().unwrap();
    let stamps: Vec<_> = names[..3]
        .iter()
        .flat_map(|n| {
            [
                out.join(format!("done/{n}.json")),
                out.join(format!("visual/{n}__0.npy")),
                out.join(format!("audio/{n}.npy")),
            ]
        })
        .map(|p| (mtime(&p), p))
        .collect();

    // the pipe becomes a real clip; rerun to completion
    std::fs::remove_file(&gate).unwrap();
    std::fs::copy(media("moviepy_fire2.mp4"), &gate).unwrap();
    let o = extract(&list, &out, &w2c, &[]);
    assert!(o.status.success());
    let s = stdout(&o);
    assert!(
        s.contains("extracted 3 videos") && s.contains("skipped 3 already done"),
        "{s}"
    );
    for (t, p) in &stamps {
        assert_eq!(mtime(p), *t, "{} was rewritten", p.display());
    }
    let resumed = tree(&out);
    for n in &names {
        assert!(
            resumed.contains_key(&format!("done/{n}.json")),
            "{n} not done"
        );
    }
    let temps: Vec<&String> = resumed.keys().filter(|k| k.ends_with(".tmp")).collect();
    assert!(temps.is_empty(), "temporary files left: {temps:?}");

    // the same features as one uninterrupted run
    let fresh_dir = tmp.path().join("fresh");
    let o = extract(&list, &fresh_dir, &w2c, &[]);
    assert!(o.status.success());
    assert!(stdout(&o).contains("extracted 6 videos"));
    let fresh = tree(&fresh_dir);
    let npys = |t: &std::collections::BTreeMap<String, Vec<u8>>| -> Vec<String> {
        t.keys().filter(|k| k.ends_with(".npy")).cloned().collect()
    };
    assert_eq!(npys(&resumed), npys(&fresh));
    assert_eq!(npys(&fresh).len(), 12, "6 visual + 6 audio files");
    for k in npys(&fresh) {
        assert!(
            resumed[&k] == fresh[&k],
            "{k} differs from the uninterrupted run"
        );
    }
    // the lists differ only in their folder
    let rows = |d: &Path| {
        std::fs::read_to_string(d.join("list.csv"))
            .unwrap()
            .replace(&d.display().to_string(), "OUT")
    };
    assert_eq!(rows(&out), rows(&fresh_dir));
}

#[test]
fn detect_help_documents_the_audio_gate_fields() {
    let o = avad_command().args(["detect", "--help"]).output().unwrap();
    assert!(o.status.success());
    let s = stdout(&o);
    for field in ["audio_gate", "audio_share", "anomaly_score", "top_class"] {
        assert!(
            s.contains(field),
            "`{field}` missing from detect --help:\n{s}"
        );
    }
}
