//! Frames and audio match the ffmpeg CLI: against digests committed by tools/make_media_fixtures.sh, and against the
//! CLI run live (the `ffmpeg`/`ffprobe` binaries are required: scripts/install-deps.sh installs them, in CI too; the
//! live tests fail, not pass, without them).

mod common;

use avad_media::{open, DecodeOptions, Snippet};
use common::{f32s, media, require_cli, run, sha256_hex};

fn decode(name: &str) -> Vec<Snippet> {
    open(media(name), &DecodeOptions::default())
        .and_then(|r| r.collect_all())
        .unwrap_or_else(|e| panic!("{name}: {e}"))
        .0
}

fn reference(name: &str) -> String {
    let p = media("reference").join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Files whose sampled frames have committed CLI digests (three real files plus the BT.709 one and edge cases).
const FRAME_FILES: &[&str] = &[
    "moviepy_big_buck_bunny_0_30.webm", // VP8, untagged colour (BT.601 default)
    "intel_car-detection.mp4",          // H.264, smpte170m, limited range
    "moviepy_fire2.mp4",                // H.264, VFR, 180-degree display matrix
    "moviepy_smpte-2997.mp4",           // H.264 1080p tagged BT.709
    "moviepy_video_with_failing_audio.mp4",
    "moviepy_test_video_1x1.mp4", // yuv444p 1x1
    "small_webm.webm",            // 8x8 single frame
];

#[test]
fn frames_match_committed_cli_digests() {
    for name in FRAME_FILES {
        let want: Vec<String> = reference(&format!("{name}.frames.sha256"))
            .lines()
            .map(str::to_string)
            .collect();
        let got: Vec<String> = decode(name)
            .iter()
            .map(|s| sha256_hex(&s.frame.data))
            .collect();
        assert_eq!(got.len(), want.len(), "{name}: frame count");
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert_eq!(g, w, "{name}: frame {i} differs from the ffmpeg CLI");
        }
    }
}

/// Per-snippet audio statistics of the CLI's 16 kHz channel-mean signal; measured difference on this machine:
/// 0 (bit-identical samples), so the tolerance only absorbs the 9-digit rounding of the file.
#[test]
fn audio_matches_committed_cli_statistics() {
    for name in [
        "moviepy_big_buck_bunny_0_30.webm",
        "intel_car-detection.mp4",
        "moviepy_smpte-2997.mp4",
        "moviepy_video_with_failing_audio.mp4",
    ] {
        let table = reference(&format!("{name}.audio.tsv"));
        let snips = decode(name);
        let rows: Vec<&str> = table.lines().skip(1).collect();
        assert_eq!(rows.len(), snips.len(), "{name}: snippet count");
        for (row, s) in rows.iter().zip(&snips) {
            let f: Vec<&str> = row.split('\t').collect();
            let (n, rms, peak): (usize, f64, f64) = (
                f[1].parse().expect("n"),
                f[2].parse().expect("rms"),
                f[3].parse().expect("peak"),
            );
            assert_eq!(s.audio.len(), n, "{name} snippet {}: samples", s.index);
            let my_rms = (s.audio.iter().map(|v| f64::from(*v).powi(2)).sum::<f64>()
                / n.max(1) as f64)
                .sqrt();
            let my_peak = f64::from(avad_media::peak(&s.audio));
            assert!(
                (my_rms - rms).abs() <= 1e-6 + 1e-6 * rms,
                "{name} snippet {}: rms {my_rms} vs {rms}",
                s.index
            );
            assert!(
                (my_peak - peak).abs() <= 1e-6,
                "{name} snippet {}: peak {my_peak} vs {peak}",
                s.index
            );
        }
    }
}

/// Largest |a - b| over the overlap of `mine` and `cli[offset..]`, and the overlap length.
fn max_diff(mine: &[f32], cli: &[f32], offset: i64) -> (f32, usize) {
    let mut m = 0.0f32;
    let mut n = 0;
    for (i, v) in mine.iter().enumerate() {
        let j = i as i64 + offset;
        if j >= 0 && (j as usize) < cli.len() {
            m = m.max((v - cli[j as usize]).abs());
            n += 1;
        }
    }
    (m, n)
}

fn cli_frames(path: &str, extra_vf: &str) -> Vec<u8> {
    let vf = format!("select=not(mod(n\\,16)){extra_vf}");
    run(
        "ffmpeg",
        &[
            "-v", "error", "-i", path, "-vf", &vf, "-vsync", "0", "-pix_fmt", "rgb24", "-f",
            "rawvideo", "-",
        ],
    )
}

/// The CLI's audio of `path` through the filter chain `af`, as f32 samples.
fn cli_audio(path: &str, af: &str) -> Vec<f32> {
    f32s(&run(
        "ffmpeg",
        &[
            "-v", "error", "-i", path, "-vn", "-af", af, "-f", "f32le", "-",
        ],
    ))
}

#[test]
fn frames_match_live_cli() {
    require_cli();
    for name in [
        "moviepy_big_buck_bunny_0_30.webm",
        "intel_car-detection.mp4",
        "moviepy_fire2.mp4",
        "moviepy_smpte-2997.mp4",
    ] {
        let path = media(name).to_string_lossy().into_owned();
        let cli = cli_frames(&path, "");
        let mine: Vec<u8> = decode(name)
            .iter()
            .flat_map(|s| s.frame.data.clone())
            .collect();
        assert_eq!(mine.len(), cli.len(), "{name}: total RGB bytes");
        assert!(mine == cli, "{name}: RGB differs from the CLI");
    }
    // The colour matrix matters: forcing BT.601 on the BT.709 file changes pixels by up to ~36 levels, so the
    // equality above really tests the matrix choice.
    let path = media("moviepy_smpte-2997.mp4")
        .to_string_lossy()
        .into_owned();
    let wrong = cli_frames(&path, ",scale=in_color_matrix=bt601");
    let mine: Vec<u8> = decode("moviepy_smpte-2997.mp4")[0].frame.data.clone();
    let max = mine
        .iter()
        .zip(&wrong)
        .map(|(a, b)| a.abs_diff(*b))
        .max()
        .unwrap_or(0);
    assert!(max > 10, "BT.601 and BT.709 should differ, max diff {max}");
}

/// Grid offset between our concatenated snippets (starting at the first snippet's start) and the CLI's signal
/// (starting at the first decoded audio frame's pts, from ffprobe).
fn cli_offset(path: &str, first_start_s: f64) -> i64 {
    let out = run(
        "ffprobe",
        &[
            "-v",
            "error",
            "-select_streams",
            "a:0",
            "-show_entries",
            "frame=best_effort_timestamp_time",
            "-of",
            "csv=p=0",
            path,
        ],
    );
    let a0: f64 = String::from_utf8_lossy(&out)
        .lines()
        .next()
        .and_then(|l| l.trim().parse().ok())
        .expect("a0");
    avad_media::grid_index(first_start_s) - avad_media::grid_index(a0)
}

#[test]
fn audio_matches_live_cli() {
    require_cli();
    // Files without timestamp gaps: the CLI's continuous signal, channel mean (pan), default swr resampler.
    // Measured max |diff| on this machine: 0 for all four (bit-identical); tolerance 1e-6.
    for name in [
        "moviepy_big_buck_bunny_0_30.webm",
        "moviepy_video_with_failing_audio.mp4",
        "moviepy_smpte-2997.mp4",
        "intel_car-detection.mp4",
    ] {
        let path = media(name).to_string_lossy().into_owned();
        let af = "aformat=sample_fmts=fltp,pan=mono|c0=0.5*c0+0.5*c1,aresample=16000";
        let cli = cli_audio(&path, af);
        let snips = decode(name);
        let mine: Vec<f32> = snips.iter().flat_map(|s| s.audio.clone()).collect();
        let (d, n) = max_diff(&mine, &cli, cli_offset(&path, snips[0].start_s));
        assert!(
            n + 2000 >= mine.len().min(cli.len()),
            "{name}: overlap only {n} samples"
        );
        assert!(d <= 1e-6, "{name}: max |diff| {d} vs the CLI");
    }
    // fire2.mp4 has a 155 ms gap after its first AAC frame (1024 samples at 48 kHz). Our rule: resample the first
    // frame alone, silence until the next frame's pts (grid 2824), then resample the rest. The same with the CLI:
    let path = media("moviepy_fire2.mp4").to_string_lossy().into_owned();
    let pre_af = "aformat=sample_fmts=fltp,atrim=end_sample=1024,aresample=16000";
    let post_af =
        "aformat=sample_fmts=fltp,atrim=start_sample=1024,asetpts=PTS-STARTPTS,aresample=16000";
    let pre = cli_audio(&path, pre_af);
    let post = cli_audio(&path, post_af);
    let mine: Vec<f32> = decode("moviepy_fire2.mp4")
        .iter()
        .flat_map(|s| s.audio.clone())
        .collect();
    assert_eq!(pre.len(), 341);
    let (d, _) = max_diff(&mine[..341], &pre, 0);
    assert!(d <= 1e-6, "fire2 before the gap: {d}");
    assert!(
        mine[341..2824].iter().all(|v| *v == 0.0),
        "fire2 gap must be silence"
    );
    let (d, n) = max_diff(&mine[2824..], &post, 0);
    assert!(
        n > 35_000 && d <= 1e-6,
        "fire2 after the gap: max |diff| {d} over {n}"
    );
}
