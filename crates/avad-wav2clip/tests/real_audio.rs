//! End-to-end runs on real recordings (fixtures/media, see its SOURCES.md) and error cases for bad inputs.

use std::path::{Path, PathBuf};

use avad_wav2clip::testing::formula_weights;
use avad_wav2clip::{read_wav, read_wav_mono_16k, Normalisation, Wav2Clip, Wav2ClipError};
use burn_flex::{Flex, FlexDevice};

fn audio(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/media")
        .join(name)
}

#[test]
fn real_recordings_give_finite_embeddings() {
    let model =
        Wav2Clip::<Flex>::from_weights(&formula_weights::<Flex>(&FlexDevice), &FlexDevice).unwrap();
    // (file, rate, channels, float, frames as reported by libsndfile)
    for (name, rate, ch, float, frames) in [
        ("ibm_gunshots.wav", 44100, 1, false, 463_104),
        (
            "a3em_9_mm_gunshot-mike-koenig-123.wav",
            48000,
            2,
            true,
            83_341,
        ),
    ] {
        let wav = read_wav(&audio(name)).unwrap();
        assert_eq!(
            (wav.sample_rate, wav.channels, wav.float),
            (rate, ch, float),
            "{name}"
        );
        assert_eq!(wav.samples.len(), frames, "{name}");
        let peak = wav.samples.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        assert!(peak > 0.05 && peak <= 1.0, "{name}: peak {peak}");

        let x = read_wav_mono_16k(&audio(name)).unwrap();
        assert_eq!(
            x.len(),
            (wav.samples.len() as u64 * 16000).div_ceil(rate as u64) as usize
        );
        let utt = model.embed_utterance(&x).unwrap();
        assert_eq!(utt.dims(), [1, 512]);
        let v = utt.into_data().convert::<f32>().into_vec::<f32>().unwrap();
        assert!(
            v.iter().all(|f| f.is_finite()) && v.iter().any(|f| f.abs() > 1e-3),
            "{name}"
        );

        let frames = model
            .embed_frames(&x, 10667, 10667, Normalisation::Shared)
            .unwrap();
        assert_eq!(
            frames.dims(),
            [1 + (x.len() - 10667) / 10667, 512],
            "{name}"
        );
        let v = frames
            .into_data()
            .convert::<f32>()
            .into_vec::<f32>()
            .unwrap();
        assert!(v.iter().all(|f| f.is_finite()), "{name}");
    }
}

#[test]
fn truncated_and_non_audio_files_give_errors_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(audio("ibm_gunshots.wav")).unwrap();
    let cut = dir.path().join("cut_gunshots.wav");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let err = read_wav_mono_16k(&cut).unwrap_err();
    assert!(matches!(err, Wav2ClipError::TruncatedWav { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("cut_gunshots.wav") && msg.contains("truncated"),
        "{msg}"
    );

    let header_only = dir.path().join("header_only.wav");
    std::fs::write(&header_only, &bytes[..20]).unwrap();
    let msg = read_wav_mono_16k(&header_only).unwrap_err().to_string();
    assert!(
        msg.contains("header_only.wav") && msg.contains("truncated"),
        "{msg}"
    );

    let text = dir.path().join("notes.wav");
    std::fs::write(&text, "just some text, not audio at all\n").unwrap();
    let err = read_wav_mono_16k(&text).unwrap_err();
    assert!(matches!(err, Wav2ClipError::NotWav { .. }), "{err}");
    assert!(err.to_string().contains("notes.wav"), "{err}");

    let missing = dir.path().join("does_not_exist.wav");
    let msg = read_wav_mono_16k(&missing).unwrap_err().to_string();
    assert!(msg.contains("does_not_exist.wav"), "{msg}");
}
