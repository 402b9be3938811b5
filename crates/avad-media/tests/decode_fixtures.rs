//! Every file in `fixtures/media/` decodes to the right number of snippets with the right audio state, or fails
//! with the right error; snippet timing and audio cutting follow the documented rule; nothing panics.

mod common;

use avad_media::{grid_index, open, AudioState, DecodeOptions, MediaError, Snippet};
use common::media;

/// What a fixture must produce.
enum Expect {
    /// `frames` decoded video frames (ffprobe count), per-video audio state, per-snippet states allowed.
    Video {
        frames: u64,
        audio: AudioState,
        width: u32,
        height: u32,
    },
    /// `open` fails with `NoVideoStream`.
    NoVideo,
    /// The iterator yields `NoDecodableFrames`.
    NoFrames,
}

/// Decoded frame counts come from FFmpeg's own counter, independent of avad-media, produced at fixture-prep time by
/// `ffprobe -v error -count_frames -select_streams v:0 -show_entries stream=nb_read_frames FILE`
/// (recorded in fixtures/media/reference/frame_counts.tsv by tools/make_media_fixtures.sh).
fn expectations() -> Vec<(&'static str, Expect)> {
    use AudioState::*;
    use Expect::*;
    vec![
        (
            "moviepy_big_buck_bunny_0_30.webm",
            Video {
                frames: 720,
                audio: Present,
                width: 1280,
                height: 720,
            },
        ),
        (
            "intel_car-detection.mp4",
            Video {
                frames: 377,
                audio: Silent,
                width: 768,
                height: 432,
            },
        ),
        (
            "intel_one-by-one-person-detection.mp4",
            Video {
                frames: 1394,
                audio: None,
                width: 768,
                height: 432,
            },
        ),
        (
            "moviepy_fire2.mp4",
            Video {
                frames: 25,
                audio: Present,
                width: 1280,
                height: 720,
            },
        ),
        (
            "moviepy_smpte-2997.mp4",
            Video {
                frames: 251,
                audio: Present,
                width: 1920,
                height: 1080,
            },
        ),
        (
            "moviepy_video_with_failing_audio.mp4",
            Video {
                frames: 280,
                audio: Present,
                width: 640,
                height: 360,
            },
        ),
        (
            "moviepy_test_video_1x1.mp4",
            Video {
                frames: 5,
                audio: None,
                width: 1,
                height: 1,
            },
        ),
        (
            "small_webm.webm",
            Video {
                frames: 1,
                audio: None,
                width: 8,
                height: 8,
            },
        ),
        (
            "synthetic_av_sync.mp4",
            Video {
                frames: 100,
                audio: Present,
                width: 64,
                height: 48,
            },
        ),
        (
            "synthetic_av_sync_negative.mkv",
            Video {
                frames: 100,
                audio: Present,
                width: 64,
                height: 48,
            },
        ),
        ("small_mp4-with-audio.mp4", NoVideo),
        ("ibm_gunshots.wav", NoVideo),
        ("a3em_9_mm_gunshot-mike-koenig-123.wav", NoVideo),
        ("small_AudioVideoInterleave.avi", NoFrames),
    ]
}

fn decode(name: &str, opts: &DecodeOptions) -> (Vec<Snippet>, avad_media::DecodeSummary) {
    open(media(name), opts)
        .unwrap_or_else(|e| panic!("open {name}: {e}"))
        .collect_all()
        .unwrap_or_else(|e| panic!("decode {name}: {e}"))
}

/// Timing and audio-length invariants of the snippet rule (src/snippet.rs).
fn check_invariants(name: &str, snippets: &[Snippet], stride: u64) {
    for (i, s) in snippets.iter().enumerate() {
        assert_eq!(s.index, i, "{name}");
        assert_eq!(s.frame_index, i as u64 * stride, "{name}");
        assert!(s.end_s >= s.start_s, "{name} snippet {i}: end before start");
        assert_eq!(
            s.frame.data.len(),
            (s.frame.width * s.frame.height * 3) as usize,
            "{name}"
        );
        if s.audio_state != AudioState::None {
            let want = (grid_index(s.end_s) - grid_index(s.start_s)) as usize;
            assert_eq!(s.audio.len(), want, "{name} snippet {i}: audio length");
        } else {
            assert!(
                s.audio.is_empty(),
                "{name} snippet {i}: audio without a stream"
            );
        }
        if i + 1 < snippets.len() {
            assert_eq!(
                s.end_s,
                snippets[i + 1].start_s,
                "{name} snippet {i}: snippets must tile the time axis"
            );
        }
    }
}

#[test]
fn every_fixture_decodes_as_expected() {
    let exp = expectations();
    // Every media file in the folder must have an expectation (a new fixture without one fails here).
    let mut seen = 0;
    for entry in std::fs::read_dir(common::media_dir()).expect("fixtures/media") {
        let p = entry.expect("dir entry").path();
        let ext = p.extension().and_then(|e| e.to_str()).unwrap_or("");
        if ["mp4", "webm", "avi", "wav", "mkv"].contains(&ext) {
            let n = p
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default()
                .to_string();
            assert!(
                exp.iter().any(|(e, _)| *e == n),
                "fixture {n} has no expectation in this test"
            );
            seen += 1;
        }
    }
    assert_eq!(seen, exp.len(), "fixture list and expectations differ");

    let opts = DecodeOptions::default();
    for (name, e) in exp {
        match e {
            Expect::Video {
                frames,
                audio,
                width,
                height,
            } => {
                let (snips, sum) = decode(name, &opts);
                let want = frames.div_ceil(16) as usize;
                assert_eq!(snips.len(), want, "{name}: snippets");
                assert_eq!(sum.snippets, want, "{name}");
                assert_eq!(sum.decoded_frames, frames, "{name}: decoded frames");
                assert!(!sum.truncated, "{name}");
                assert_eq!(sum.audio_state, audio, "{name}: audio state");
                for s in &snips {
                    assert_eq!(
                        (s.frame.width, s.frame.height),
                        (width, height),
                        "{name}: frame size"
                    );
                    match audio {
                        AudioState::None => assert_eq!(s.audio_state, AudioState::None, "{name}"),
                        AudioState::Silent => {
                            assert_eq!(s.audio_state, AudioState::Silent, "{name}")
                        }
                        AudioState::Present => {
                            assert_ne!(s.audio_state, AudioState::None, "{name}")
                        }
                    }
                }
                check_invariants(name, &snips, 16);
            }
            Expect::NoVideo => match open(media(name), &opts) {
                Err(MediaError::NoVideoStream { path, streams }) => {
                    assert!(path.ends_with(name));
                    assert!(streams.starts_with("audio"), "{name}: {streams}");
                    let msg = MediaError::NoVideoStream { path, streams }.to_string();
                    assert!(
                        msg.contains(name) && msg.contains("no video stream"),
                        "{msg}"
                    );
                }
                Err(other) => panic!("{name}: expected NoVideoStream, got {other}"),
                Ok(_) => panic!("{name}: expected NoVideoStream, got a reader"),
            },
            Expect::NoFrames => {
                let mut r = open(media(name), &opts).expect("the AVI has a video stream");
                match r.next() {
                    Some(Err(e @ MediaError::NoDecodableFrames { .. })) => {
                        let msg = e.to_string();
                        assert!(msg.contains(name) && msg.contains("0 decodable"), "{msg}");
                    }
                    other => panic!("{name}: expected NoDecodableFrames, got {other:?}"),
                }
                assert!(
                    r.next().is_none(),
                    "{name}: iterator must end after the error"
                );
                assert!(r.summary().is_none());
            }
        }
    }
}

#[test]
fn audio_states_per_snippet() {
    let opts = DecodeOptions::default();
    // The car camera's AAC track is digital silence: every sample decodes to exactly 0.
    let (snips, sum) = decode("intel_car-detection.mp4", &opts);
    assert_eq!(sum.audio_peak, 0.0);
    assert!(snips.iter().all(|s| s.audio.iter().all(|v| *v == 0.0)));
    // No audio stream at all.
    let (snips, sum) = decode("intel_one-by-one-person-detection.mp4", &opts);
    assert_eq!(sum.audio_state, AudioState::None);
    assert!(snips
        .iter()
        .all(|s| s.audio_state == AudioState::None && s.audio.is_empty()));
    // The "failing audio" file: sound for about 5 s, then digital silence (the CLI agrees, see cli_parity.rs).
    let (snips, _) = decode("moviepy_video_with_failing_audio.mp4", &opts);
    let states: Vec<_> = snips.iter().map(|s| s.audio_state).collect();
    assert!(
        states[..8].iter().all(|s| *s == AudioState::Present),
        "{states:?}"
    );
    assert!(
        states[8..].iter().all(|s| *s == AudioState::Silent),
        "{states:?}"
    );
    // Audio disabled: state None and no samples, even though the file has sound.
    let no_audio = DecodeOptions {
        audio: false,
        ..DecodeOptions::default()
    };
    let (snips, sum) = decode("moviepy_big_buck_bunny_0_30.webm", &no_audio);
    assert_eq!(sum.audio_state, AudioState::None);
    assert!(snips.iter().all(|s| s.audio.is_empty()));
}

#[test]
fn vfr_clip_is_cut_by_timestamps() {
    // fire2.mp4: 25 frames in 2.38 s, r_frame_rate 90000/1. ffprobe -show_entries
    // frame=best_effort_timestamp_time,pkt_duration_time: frame 16 at 1.479800 s, frame 24 at 2.279844 s + 0.099922.
    let (snips, _) = decode("moviepy_fire2.mp4", &DecodeOptions::default());
    assert_eq!(snips.len(), 2);
    assert_eq!(snips[0].start_s, 0.0);
    assert!((snips[0].end_s - 1.4798).abs() < 1e-9, "{}", snips[0].end_s);
    assert!(
        (snips[1].end_s - (2.279844 + 0.099922)).abs() < 1e-5,
        "{}",
        snips[1].end_s
    );
    // Audio length follows time, not 16 / fps: 1.4798 s -> 23677 samples, 0.89997 s -> 14399 samples.
    assert_eq!(snips[0].audio.len(), 23677);
    assert_eq!(snips[1].audio.len(), 14399);
    // The 155 ms timestamp gap after the first AAC frame (grid 341..2824) is zero-filled; sound follows it.
    let a = &snips[0].audio;
    assert!(a[341..2824].iter().all(|v| *v == 0.0));
    assert!(avad_media::peak(&a[2824..]) > 1e-3);
    // The 180-degree display matrix is reported (and applied, see cli_parity.rs).
    let info = avad_media::probe(media("moviepy_fire2.mp4")).expect("probe");
    assert_eq!(info.video.as_ref().map(|v| v.rotation_deg), Some(180));
}

#[test]
fn stride_max_snippets_and_edge_files() {
    // Stride 4 (CCTV-Fights): ceil(377/4) = 95 and ceil(25/4) = 7 (counts from frame_counts.tsv).
    let s4 = DecodeOptions::with_stride(4);
    let (snips, _) = decode("intel_car-detection.mp4", &s4);
    assert_eq!(snips.len(), 95);
    check_invariants("car stride 4", &snips, 4);
    // 12.5 fps: 4 frames = 0.32 s = 5120 samples per snippet except the last (377 = 94*4 + 1 -> one 0.08 s frame).
    assert!(snips[..94].iter().all(|s| s.audio.len() == 5120));
    assert_eq!(snips[94].audio.len(), 1280);
    let (snips, _) = decode("moviepy_fire2.mp4", &s4);
    assert_eq!(snips.len(), 7);

    // max_snippets stops early and says so.
    let opts = DecodeOptions {
        max_snippets: Some(3),
        ..DecodeOptions::default()
    };
    let (snips, sum) = decode("intel_one-by-one-person-detection.mp4", &opts);
    assert_eq!(snips.len(), 3);
    assert!(sum.truncated);
    assert!(
        (snips[2].end_s - 4.8).abs() < 1e-9,
        "end of snippet 2 = pts of frame 48 at 10 fps"
    );

    // 1x1 yuv444p video, 5 frames at 1 fps: one snippet 0..5 s.
    let (snips, _) = decode("moviepy_test_video_1x1.mp4", &DecodeOptions::default());
    assert_eq!(snips.len(), 1);
    assert_eq!(snips[0].frame.data.len(), 3);
    assert_eq!((snips[0].start_s, snips[0].end_s), (0.0, 5.0));
    // Single-frame WebM without durations: the snippet ends at the container's duration (1.0 s).
    let (snips, _) = decode("small_webm.webm", &DecodeOptions::default());
    assert_eq!((snips[0].start_s, snips[0].end_s), (0.0, 1.0));
    // BBB's video starts at 3 ms (WebM): snippet times keep the stream's own clock.
    let (snips, _) = decode(
        "moviepy_big_buck_bunny_0_30.webm",
        &DecodeOptions::default(),
    );
    assert!((snips[0].start_s - 0.003).abs() < 1e-9);
}

#[test]
fn probe_reports_streams() {
    let i = avad_media::probe(media("moviepy_smpte-2997.mp4")).expect("probe");
    let v = i.video.as_ref().expect("video");
    assert_eq!((v.width, v.height, v.codec.as_str()), (1920, 1080, "h264"));
    assert_eq!(v.color_space.as_deref(), Some("bt709"));
    assert_eq!(v.avg_fps, Some(25.0));
    assert!(i.has_audio());
    assert_eq!(
        i.audio.as_ref().map(|a| (a.sample_rate, a.channels)),
        Some((48000, 2))
    );
    let i = avad_media::probe(media("moviepy_big_buck_bunny_0_30.webm")).expect("probe");
    assert_eq!(
        i.video.as_ref().and_then(|v| v.header_frames),
        None,
        "WebM headers carry no frame count"
    );
    let i = avad_media::probe(media("ibm_gunshots.wav")).expect("a WAV probes fine");
    assert!(i.video.is_none() && i.has_audio());
    assert_eq!(i.stream_list(), "audio pcm_s16le");
    let i = avad_media::probe(media("intel_one-by-one-person-detection.mp4")).expect("probe");
    assert!(!i.has_audio());
    assert!((i.duration_s.unwrap_or(0.0) - 139.4).abs() < 0.01);
}

/// First and last 16 kHz grid index (over all snippets) where |audio| exceeds 0.1, and the snippets.
fn beep(name: &str) -> (i64, i64, Vec<Snippet>) {
    let (snips, _) = decode(name, &DecodeOptions::default());
    let mut first = None;
    let mut last = None;
    for s in &snips {
        let g0 = grid_index(s.start_s);
        for (i, v) in s.audio.iter().enumerate() {
            if v.abs() > 0.1 {
                first.get_or_insert(g0 + i as i64);
                last = Some(g0 + i as i64);
            }
        }
    }
    (first.expect("beep onset"), last.expect("beep end"), snips)
}

#[test]
fn audio_and_video_stay_aligned() {
    // synthetic_av_sync.mp4 (tools/make_media_fixtures.sh): white frames 48-52 ([1.92, 2.12) s), a beep in
    // [2.0, 2.2) s, audio stream starting late (about 0.28 s). Measured onset 9 samples early (AAC pre-echo crosses
    // the 0.1 threshold first); tolerance 2 ms = 32 samples.
    let (on, off, snips) = beep("synthetic_av_sync.mp4");
    assert!(
        (on - 32_000).abs() <= 32 && (off - 35_200).abs() <= 32,
        "beep at grid {on}..{off}"
    );
    let white: Vec<bool> = snips
        .iter()
        .map(|s| s.frame.pixel(32, 24).is_some_and(|p| p[0] > 200))
        .collect();
    assert_eq!(
        white,
        vec![false, false, false, true, false, false, false],
        "only sampled frame 48 is white"
    );
    assert_eq!(snips[3].audio_state, AudioState::Present);
    // Audio missing at the start (before 0.278 s) is zero-filled, not shifted: the first snippet is all zeros.
    assert!(snips[0].audio[..4000].iter().all(|v| *v == 0.0));

    // The same audio shifted by -0.5 s into an MKV with negative timestamps: the beep moves to [1.5, 1.7) s.
    let info = avad_media::probe(media("synthetic_av_sync_negative.mkv")).expect("probe");
    let a0 = info
        .audio
        .as_ref()
        .and_then(|a| a.start_time_s)
        .expect("audio start");
    assert!(a0 < -0.2, "audio starts at {a0}");
    let (on, off, snips) = beep("synthetic_av_sync_negative.mkv");
    assert!(
        (on - 24_000).abs() <= 32 && (off - 27_200).abs() <= 32,
        "beep at grid {on}..{off}"
    );
    assert_eq!(snips[2].audio_state, AudioState::Present);
    assert_eq!(snips[3].audio_state, AudioState::Silent);
    // Audio ends at about 3.5 s: the last snippet [3.84, 4.0) is zero-filled and silent.
    assert_eq!(snips[6].audio.len(), 2560);
    assert_eq!(snips[6].audio_state, AudioState::Silent);
}

#[test]
fn ffmpeg_urls_are_accepted() {
    // `open` passes URLs to FFmpeg (http://, rtsp://, file:...); `file:` exercises that path without a network.
    // Note: audio is read through a second connection to the same URL.
    let url = format!("file:{}", media("moviepy_fire2.mp4").display());
    let (snips, sum) = open(&url, &DecodeOptions::default())
        .and_then(|r| r.collect_all())
        .expect("file: URL");
    assert_eq!((snips.len(), sum.audio_state), (2, AudioState::Present));
    let missing = open("file:/nonexistent/clip.mp4", &DecodeOptions::default());
    assert!(matches!(missing, Err(MediaError::NotMedia { .. })));
}
