//! `avad extract` / `avad merge-lists` end to end on real clips from `fixtures/media/` with the tiny random CLIP
//! (24-d) and Wav2CLIP's formula weights: right T for visual and audio, the no-audio-stream path, resume after an
//! interrupted run (only new videos are processed), `--shard I/3` covering every video once, and a bad file that
//! is reported while the others finish.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn media(name: &str) -> PathBuf {
    root().join("fixtures/media").join(name)
}

fn wav2clip(tmp: &Path) -> PathBuf {
    let w = tmp.join("wav2clip.safetensors");
    avad_pipeline::testing::write_wav2clip_formula(&w).unwrap();
    w
}

fn extract(videos: &Path, out: &Path, w2c: &Path, extra: &[&str]) -> Output {
    let o = Command::new(env!("CARGO_BIN_EXE_avad"))
        .arg("extract")
        .arg("--videos")
        .arg(videos)
        .arg("--clip-model")
        .arg(root().join("fixtures/clip/tiny_hf"))
        .arg("--wav2clip")
        .arg(w2c)
        .arg("--out")
        .arg(out)
        .args(["--max-snippets", "5", "--batch", "2"])
        .args(extra)
        .output()
        .unwrap();
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
    let o = Command::new(env!("CARGO_BIN_EXE_avad"))
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
