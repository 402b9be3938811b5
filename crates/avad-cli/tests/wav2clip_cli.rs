//! `avad wav2clip` end to end: formula weights written as f16 safetensors, a real WAV, JSON contract, errors.

mod common;

use common::{avad, avad_ok, root};

#[test]
fn wav2clip_cli_utterance_frames_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    let weights = dir.path().join("w2c.safetensors");
    avad_wav2clip::testing::save_formula_weights::<burn_flex::Flex>(
        &weights,
        &burn_flex::FlexDevice,
    )
    .unwrap();
    let weights = weights.to_str().unwrap();
    let wav = root().join("fixtures/media/a3em_9_mm_gunshot-mike-koenig-123.wav");
    let wav = wav.to_str().unwrap();

    // utterance mode, JSON
    let out = avad_ok(&["wav2clip", "--model", weights, "--audio", wav, "--json"]);
    let v: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("one JSON object on stdout");
    assert_eq!(v["sample_rate"], 16000);
    let samples = v["samples"].as_u64().unwrap();
    assert_eq!(samples, (83_341u64 * 16000).div_ceil(48000)); // 83,341 frames of 48 kHz stereo
    let embeds = v["embeds"].as_array().unwrap();
    assert_eq!(embeds.len(), 1);
    let row = embeds[0].as_array().unwrap();
    assert_eq!(row.len(), 512);
    assert!(row.iter().all(|x| x.as_f64().is_some_and(f64::is_finite)));

    // frame mode: n = 1 + (L - F) / H
    let out = avad_ok(&[
        "wav2clip",
        "--model",
        weights,
        "--audio",
        wav,
        "--frame-length",
        "8000",
        "--hop-length",
        "4000",
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        v["embeds"].as_array().unwrap().len() as u64,
        1 + (samples - 8000) / 4000
    );

    // human summary
    let out = avad(&["wav2clip", "--model", weights, "--audio", wav]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("1 embedding(s) of 512 dims") && text.contains("48000 Hz"),
        "{text}"
    );

    // errors name the file
    let junk = dir.path().join("not_audio.wav");
    std::fs::write(&junk, "hello").unwrap();
    let out = avad(&[
        "wav2clip",
        "--model",
        weights,
        "--audio",
        junk.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("not_audio.wav") && err.contains("not a WAV"),
        "{err}"
    );
    let out = avad(&[
        "wav2clip",
        "--model",
        junk.to_str().unwrap(),
        "--audio",
        wav,
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not_audio.wav"));
    // frame longer than the audio
    let out = avad(&[
        "wav2clip",
        "--model",
        weights,
        "--audio",
        wav,
        "--frame-length",
        "100000",
        "--hop-length",
        "100",
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("shorter than one frame"));
}
