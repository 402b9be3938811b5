//! Bad input gives a typed error naming the file, never a panic or a hang: missing files, non-media files, invalid
//! options, truncated and corrupted copies of real files, and a reader dropped early.

mod common;

use avad_media::{open, DecodeOptions, MediaError};
use common::{media, scratch};

#[test]
fn missing_and_non_media_files() {
    let opts = DecodeOptions::default();
    let missing = media("no_such_file.mp4");
    match open(&missing, &opts) {
        Err(e @ MediaError::NotFound { .. }) => assert!(e.to_string().contains("no_such_file.mp4")),
        other => panic!("expected NotFound, got {:?}", other.err()),
    }
    assert!(matches!(
        avad_media::probe(&missing),
        Err(MediaError::NotFound { .. })
    ));
    let dir = scratch("errors");
    let text = dir.join("notes.mp4");
    std::fs::write(&text, "this is not a video, just text\n".repeat(20)).expect("write");
    match open(&text, &opts) {
        Err(e @ MediaError::NotMedia { .. }) => assert!(e.to_string().contains("notes.mp4"), "{e}"),
        other => panic!("expected NotMedia, got {:?}", other.err()),
    }
    let empty = dir.join("empty.webm");
    std::fs::write(&empty, b"").expect("write");
    match open(&empty, &opts) {
        Err(e @ MediaError::NotMedia { .. }) => {
            assert!(
                e.to_string()
                    .contains("empty.webm: not a media file FFmpeg can read (the file is empty"),
                "{e}"
            )
        }
        other => panic!("expected NotMedia, got {:?}", other.err()),
    }
    // A directory is not a media file either.
    assert!(open(&dir, &opts).is_err());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn invalid_options() {
    let f = media("small_webm.webm");
    for o in [
        DecodeOptions {
            stride: 0,
            ..DecodeOptions::default()
        },
        DecodeOptions {
            max_snippets: Some(0),
            ..DecodeOptions::default()
        },
        DecodeOptions {
            silence_threshold: f32::NAN,
            ..DecodeOptions::default()
        },
    ] {
        assert!(matches!(open(&f, &o), Err(MediaError::Options(_))), "{o:?}");
    }
}

/// Deterministic pseudo-random numbers (xorshift) for the corruption test.
fn xorshift(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

/// Opens and fully decodes; returns a short outcome string. Any panic fails the test.
fn outcome(path: &std::path::Path) -> String {
    match open(path, &DecodeOptions::with_stride(4)) {
        Err(e) => format!("open error: {e}"),
        Ok(r) => {
            let mut n = 0;
            let mut err = None;
            for s in r {
                match s {
                    Ok(s) => {
                        assert_eq!(
                            s.frame.data.len(),
                            (s.frame.width * s.frame.height * 3) as usize
                        );
                        assert!(s.audio.iter().all(|v| v.is_finite()));
                        n += 1;
                    }
                    Err(e) => err = Some(e.to_string()),
                }
            }
            format!("{n} snippets, error {err:?}")
        }
    }
}

#[test]
fn truncated_and_corrupted_files_never_panic() {
    let dir = scratch("corrupt");
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    let mut outcomes = Vec::new();
    for name in [
        "moviepy_fire2.mp4",
        "moviepy_big_buck_bunny_0_30.webm",
        "moviepy_video_with_failing_audio.mp4",
    ] {
        let orig = std::fs::read(media(name)).expect("read fixture");
        // Truncations.
        for frac in [0.02, 0.5, 0.9] {
            let p = dir.join(format!("trunc_{frac}_{name}"));
            std::fs::write(&p, &orig[..(orig.len() as f64 * frac) as usize]).expect("write");
            outcomes.push(outcome(&p));
        }
        // Random byte overwrites and zeroed runs (keeping the first 64 bytes sometimes intact, sometimes not).
        for k in 0..4 {
            let mut data = orig.clone();
            let hits = 50 + 100 * k;
            for _ in 0..hits {
                let i = (xorshift(&mut rng) % data.len() as u64) as usize;
                data[i] = xorshift(&mut rng) as u8;
            }
            let start = (xorshift(&mut rng) % data.len() as u64) as usize;
            let end = (start + 4096).min(data.len());
            data[start..end].iter_mut().for_each(|b| *b = 0);
            let p = dir.join(format!("corrupt_{k}_{name}"));
            std::fs::write(&p, &data).expect("write");
            outcomes.push(outcome(&p));
        }
    }
    // 21 damaged inputs decoded to the end without a panic; at least one partly decodable, one rejected.
    assert_eq!(outcomes.len(), 21);
    assert!(
        outcomes.iter().any(|o| o.starts_with("open error")),
        "{outcomes:#?}"
    );
    assert!(
        outcomes
            .iter()
            .any(|o| !o.starts_with("open error") && !o.starts_with("0 snippets")),
        "{outcomes:#?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn dropping_a_reader_early_stops_its_threads() {
    // Take two snippets of the 139 s clip and drop the reader: the decoding thread must notice and stop
    // (the test would hang or leak a busy thread otherwise; we check it finishes quickly).
    let t = std::time::Instant::now();
    for _ in 0..3 {
        let mut r = open(
            media("moviepy_big_buck_bunny_0_30.webm"),
            &DecodeOptions::default(),
        )
        .expect("open");
        assert!(r.next().is_some_and(|s| s.is_ok()));
        assert!(r.next().is_some_and(|s| s.is_ok()));
        drop(r);
    }
    assert!(t.elapsed().as_secs() < 60);
}

/// A file whose audio claims a sample rate outside `AUDIO_RATES` (500 Hz PCM, which FFmpeg writes and reads): its
/// frames are counted as audio errors and dropped, the video still decodes, and no snippet carries audio. The same
/// video with 8 kHz audio (inside the range) keeps its sound.
#[test]
fn audio_at_a_rate_outside_the_accepted_range_is_dropped_and_counted() {
    common::require_cli();
    let dir = scratch("audio-rate");
    let decode = |rate: u32| {
        let path = dir.join(format!("rate{rate}.mkv"));
        let sine = format!("sine=frequency=50:sample_rate={rate}:duration=2");
        let p = path.display().to_string();
        common::run(
            "ffmpeg",
            &[
                "-v",
                "error",
                "-y",
                "-f",
                "lavfi",
                "-i",
                "testsrc=size=64x64:rate=16:duration=2",
                "-f",
                "lavfi",
                "-i",
                &sine,
                "-c:v",
                "mpeg4",
                "-c:a",
                "pcm_s16le",
                &p,
            ],
        );
        let mut r = open(&path, &DecodeOptions::with_stride(4)).expect("open");
        let mut n = 0;
        let mut peak = 0f32;
        for s in r.by_ref() {
            let s = s.expect("snippet");
            peak = s.audio.iter().fold(peak, |m, v| m.max(v.abs()));
            n += 1;
        }
        let summary = r.summary().expect("summary").clone();
        (n, peak, summary)
    };
    let (n, peak, low) = decode(500);
    assert!(n >= 1, "the video still decodes");
    assert!(low.audio_errors > 0, "{low:?}");
    assert_eq!(peak, 0.0, "no audio from a 500 Hz stream: {low:?}");
    let (n8, peak8, ok) = decode(8000);
    assert_eq!(n8, n);
    assert_eq!(ok.audio_errors, 0, "{ok:?}");
    assert!(peak8 > 0.1, "8 kHz audio is kept: {ok:?}");
}
