//! Clips by stream copy (`clip.rs`): cut from a file by seeking, and from the live reader's packet ring (a file
//! forced into live mode: the same code path as a camera, without a server — the RTSP case is in live_rtsp.rs).
//! Each clip is checked by opening it again with FFmpeg: its streams, its duration, and that it decodes.

mod common;

use std::path::Path;

use avad_media::{clip_from_file, open, probe, DecodeOptions, MediaError, RecordOptions};

/// Duration (container) and decoded snippet count of a written clip; panics if it does not open or decode.
fn check_clip(path: &Path) -> (f64, usize, String) {
    let info = probe(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let dur = info.duration_s.expect("clip has a duration");
    let (snippets, _) = open(path, &DecodeOptions::with_stride(4))
        .expect("clip opens")
        .collect_all()
        .expect("clip decodes");
    (dur, snippets.len(), info.stream_list())
}

#[test]
fn a_file_span_is_cut_from_the_keyframe_before_it() {
    let dir = common::scratch("clip-file");
    let out = dir.join("car.mp4");
    // intel_car-detection.mp4: H.264 keyframes every 4.8 s (0, 4.8, 9.6, ...), AAC audio.
    let src = common::media("intel_car-detection.mp4");
    let info = clip_from_file(&src, &out, 6.0, 12.0).expect("clip");
    assert_eq!(info.path, out);
    assert!((info.start_s - 4.8).abs() < 1e-3, "{info:?}");
    assert!(info.end_s <= 12.0 + 1e-6 && info.end_s > 11.8, "{info:?}");
    let (dur, snippets, streams) = check_clip(&out);
    assert_eq!(streams, "video h264, audio aac");
    assert!(
        (dur - 7.2).abs() < 0.15,
        "clip lasts {dur} s, want 12.0 - 4.8"
    );
    // 12.5 fps: 7.2 s are 90 frames, 23 snippets of 4.
    assert_eq!(snippets, 23);
    // Nothing but the clip is left in the folder (the temporary file was renamed).
    let names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("car.mp4")]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn codecs_mp4_cannot_hold_go_to_matroska() {
    let dir = common::scratch("clip-mkv");
    let out = dir.join("bunny.mp4");
    // VP8 + Vorbis.
    let info = clip_from_file(
        &common::media("moviepy_big_buck_bunny_0_30.webm"),
        &out,
        6.0,
        9.0,
    )
    .expect("clip");
    assert_eq!(info.path, dir.join("bunny.mkv"));
    assert!(!out.exists());
    let (dur, _, streams) = check_clip(&info.path);
    assert_eq!(streams, "video vp8, audio vorbis");
    // Keyframe at 5.795 s.
    assert!((info.start_s - 5.795).abs() < 1e-3, "{info:?}");
    assert!((dur - (9.0 - 5.795)).abs() < 0.2, "{dur}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_spans_and_missing_files_are_errors() {
    let dir = common::scratch("clip-bad");
    let src = common::media("intel_car-detection.mp4");
    let e = clip_from_file(&src, &dir.join("a.mp4"), 5.0, 1.0).unwrap_err();
    assert!(matches!(e, MediaError::Clip { .. }), "{e}");
    let e = clip_from_file(&src, &dir.join("a.mp4"), f64::NAN, 1.0).unwrap_err();
    assert!(e.to_string().contains("invalid clip span"), "{e}");
    let e = clip_from_file(&dir.join("missing.mp4"), &dir.join("a.mp4"), 0.0, 1.0).unwrap_err();
    assert!(matches!(e, MediaError::NotFound { .. }), "{e}");
    // A span after the end of the file: nothing to cut.
    let e = clip_from_file(&src, &dir.join("a.mp4"), 100.0, 110.0);
    assert!(e.is_err() || e.as_ref().unwrap().start_s <= 100.0, "{e:?}");
    assert!(!dir.join("a.mp4").exists() || e.is_ok());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_live_ring_is_bounded_and_cuts_the_same_clip() {
    let dir = common::scratch("clip-ring");
    let src = common::media("intel_car-detection.mp4");
    let opts = DecodeOptions {
        live: Some(true),
        record: Some(RecordOptions {
            keep_s: 3.0,
            max_s: 20.0,
            ..RecordOptions::default()
        }),
        ..DecodeOptions::default()
    };
    let mut reader = open(&src, &opts).expect("open");
    let rec = reader.recorder().expect("a recorder in live mode").clone();
    // Live time = file time here (the first frame has pts 0). Hold from 6 s while reading up to ~16 s.
    let mut clip = None;
    for s in reader.by_ref() {
        let s = s.expect("snippet");
        if s.start_s < 10.0 {
            rec.hold_from(Some(6.0));
        } else if clip.is_none() && s.start_s > 16.0 {
            let (first, newest) = rec.span().expect("packets kept");
            assert!(
                first <= 4.8 + 1e-6,
                "held from 6 s: the keyframe at 4.8 s is kept ({first})"
            );
            assert!(newest >= 16.0);
            clip = Some(
                rec.write_clip(&dir.join("live.mp4"), 6.0, 12.0)
                    .expect("clip"),
            );
            rec.hold_from(None);
        }
    }
    let info = clip.expect("clip written");
    assert!((info.start_s - 4.8).abs() < 1e-3, "{info:?}");
    let (dur, _, streams) = check_clip(&info.path);
    assert_eq!(streams, "video h264, audio aac");
    assert!((dur - 7.2).abs() < 0.15, "{dur}");
    // After the hold is released, at most keep_s (plus one group of pictures, 4.8 s) is kept.
    let (first, newest) = rec.span().expect("packets kept");
    assert!(newest > 29.0, "{newest}");
    assert!(
        newest - first <= 3.0 + 4.8 + 0.1,
        "ring spans {first}..{newest}"
    );
    // The same span cut from the file gives the same packets.
    let from_file = clip_from_file(&src, &dir.join("file.mp4"), 6.0, 12.0).expect("file clip");
    assert_eq!(from_file.packets, info.packets);
    let _ = std::fs::remove_dir_all(&dir);
}
