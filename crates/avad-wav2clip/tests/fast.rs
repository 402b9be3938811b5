//! The fast CPU path (`FastWav2Clip`: folded batch norm, im2col + avad-kernels GEMM) against the burn reference
//! (`Wav2Clip::embed_batch` / `embed_spectrogram`) on the full-size formula weights: synthetic and real audio, both
//! normalisations, both GEMM kernels, any number of threads.

use std::path::Path;

use avad_core::testing::max_abs_diff;
use avad_kernels::KernelChoice;
use avad_wav2clip::spectrogram::log_spectrogram_batch;
use avad_wav2clip::testing::formula_weights;
use avad_wav2clip::{
    read_wav_mono_16k, FastWav2Clip, FastWav2ClipOptions, Normalisation, Wav2Clip, Wav2ClipError,
    N_BINS,
};
use burn::tensor::Tensor;
use burn_flex::{Flex, FlexDevice};

type B = Flex;

fn model() -> Wav2Clip<B> {
    Wav2Clip::<B>::from_weights(&formula_weights::<B>(&FlexDevice), &FlexDevice).unwrap()
}

/// `n` seeded segments of `len` samples: a chirp whose pitch depends on the segment, plus noise.
fn audio(n: usize, len: usize, seed: u64) -> Vec<Vec<f32>> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|i| {
            (0..len)
                .map(|t| {
                    s = s
                        .wrapping_mul(6_364_136_223_846_793_005)
                        .wrapping_add(1_442_695_040_888_963_407);
                    let noise = (s >> 40) as f32 / (1u64 << 24) as f32 - 0.5;
                    let x = t as f32 / 16_000.0;
                    let f = 200.0 + 150.0 * i as f32 + 900.0 * x;
                    0.4 * (2.0 * std::f32::consts::PI * f * x).sin() + 0.1 * noise
                })
                .collect()
        })
        .collect()
}

fn values(t: Tensor<B, 2>) -> Vec<f32> {
    t.into_data().convert::<f32>().into_vec::<f32>().unwrap()
}

/// Max abs error of the fast path against burn for `segments`, asserted ≤ 1e-4 on outputs of a meaningful size.
fn compare(
    model: &Wav2Clip<B>,
    fast: &FastWav2Clip,
    segments: &[&[f32]],
    norm: Normalisation,
    what: &str,
) -> f32 {
    let want = values(model.embed_batch(segments, norm).unwrap());
    let got = fast.embed_batch(segments, norm).unwrap();
    assert_eq!(got.len(), segments.len() * fast.output_dim(), "{what}");
    assert_eq!(got.len(), want.len(), "{what}");
    let err = max_abs_diff(&got, &want);
    let scale = want.iter().map(|v| v.abs()).fold(0.0, f32::max);
    eprintln!(
        "{what}: {} segments, max abs err {err:e} (max |ref| {scale})",
        segments.len()
    );
    assert!(
        scale > 0.05,
        "{what}: reference outputs too small ({scale}) for the bound to mean anything"
    );
    assert!(err <= 1e-4, "{what}: max abs err {err}");
    err
}

fn opts(kernel: KernelChoice, threads: usize) -> FastWav2ClipOptions {
    FastWav2ClipOptions { threads, kernel }
}

#[test]
fn formula_model_matches_burn_on_one_second_windows() {
    let model = model();
    let segs = audio(3, 16_000, 1);
    let segs: Vec<&[f32]> = segs.iter().map(Vec::as_slice).collect();
    for kernel in [KernelChoice::Auto, KernelChoice::Portable] {
        let fast = FastWav2Clip::new(&model, opts(kernel, 0));
        for norm in [Normalisation::Shared, Normalisation::PerSegment] {
            compare(&model, &fast, &segs, norm, &format!("{kernel:?} {norm:?}"));
        }
    }
}

#[test]
fn embed_spectrogram_matches_burn_on_other_lengths() {
    // 0.667 s (T = 31, the frame length `avad extract` uses) and a short odd length (T = 9): other map sizes.
    let model = model();
    let fast = FastWav2Clip::new(&model, FastWav2ClipOptions::default());
    for (n, len) in [(2usize, 10_667usize), (5, 3_001)] {
        let segs = audio(n, len, len as u64);
        let segs: Vec<&[f32]> = segs.iter().map(Vec::as_slice).collect();
        let spec = model.spectrogram(&segs, Normalisation::Shared).unwrap();
        let shape = spec.dims();
        assert_eq!(shape[..3], [n, 1, N_BINS]);
        let data: Vec<f32> = spec
            .clone()
            .into_data()
            .convert::<f32>()
            .into_vec()
            .unwrap();
        let want = values(model.embed_spectrogram(spec));
        let got = fast.embed_spectrogram(&data, shape);
        let err = max_abs_diff(&got, &want);
        eprintln!("embed_spectrogram {shape:?}: max abs err {err:e}");
        assert!(err <= 1e-4, "{shape:?}: max abs err {err}");
    }
    assert!(fast.embed_spectrogram(&[], [0, 1, N_BINS, 46]).is_empty());
}

#[test]
fn real_recording_matches_burn() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/media/ibm_gunshots.wav");
    let x = read_wav_mono_16k(&path).unwrap();
    let model = model();
    let fast = FastWav2Clip::new(&model, FastWav2ClipOptions::default());
    // Frame mode (as `avad extract`: 10667-sample frames) and the whole recording as one utterance (T = 477).
    let want = values(
        model
            .embed_frames(&x, 10_667, 10_667, Normalisation::Shared)
            .unwrap(),
    );
    let got = fast
        .embed_frames(&x, 10_667, 10_667, Normalisation::Shared)
        .unwrap();
    let err = max_abs_diff(&got, &want);
    eprintln!("gunshots, {} frames: max abs err {err:e}", got.len() / 512);
    assert!(err <= 1e-4, "frames: max abs err {err}");
    let want = values(model.embed_utterance(&x).unwrap());
    let got = fast.embed_utterance(&x).unwrap();
    let err = max_abs_diff(&got, &want);
    eprintln!("gunshots utterance: max abs err {err:e}");
    assert!(err <= 1e-4, "utterance: max abs err {err}");
}

#[test]
fn output_does_not_depend_on_threads() {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap();
    let model = model();
    let segs = audio(5, 8_000, 9);
    let segs: Vec<&[f32]> = segs.iter().map(Vec::as_slice).collect();
    pool.install(|| {
        let mut fast = FastWav2Clip::new(&model, opts(KernelChoice::Auto, 1));
        let one = fast.embed_batch(&segs, Normalisation::Shared).unwrap();
        let single = fast
            .embed_batch(&segs[..1], Normalisation::PerSegment)
            .unwrap();
        fast.set_options(opts(KernelChoice::Auto, 2));
        assert_eq!(fast.options().threads, 2);
        assert_eq!(fast.embed_batch(&segs, Normalisation::Shared).unwrap(), one);
        assert_eq!(
            fast.embed_batch(&segs[..1], Normalisation::PerSegment)
                .unwrap(),
            single
        );
        // Per-segment normalisation: a segment's embedding does not depend on its batch or its group.
        let batch = fast.embed_batch(&segs, Normalisation::PerSegment).unwrap();
        assert_eq!(batch[..512], single[..]);
    });
}

#[test]
fn spectrogram_does_not_depend_on_threads() {
    let model = model();
    let fast = FastWav2Clip::new(&model, FastWav2ClipOptions::default());
    let segs = audio(5, 16_000, 3);
    let segs: Vec<&[f32]> = segs.iter().map(Vec::as_slice).collect();
    let pool = |n| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build()
            .unwrap()
    };
    for norm in [Normalisation::Shared, Normalisation::PerSegment] {
        let one = pool(1).install(|| log_spectrogram_batch(&segs, &model.window, norm).unwrap());
        let three = pool(3).install(|| log_spectrogram_batch(&segs, &model.window, norm).unwrap());
        assert_eq!(one, three, "{norm:?}");
        assert_eq!(one.0.len(), 5 * N_BINS * one.1);
    }
    assert!(matches!(
        fast.embed_batch(&[], Normalisation::Shared),
        Err(Wav2ClipError::InvalidArgument(_))
    ));
    let (a, b) = (vec![0.1f32; 1000], vec![0.1f32; 999]);
    assert!(fast.embed_batch(&[&a, &b], Normalisation::Shared).is_err());
    assert!(matches!(
        fast.embed_utterance(&[0.1; 200]),
        Err(Wav2ClipError::TooShort(_))
    ));
}

#[test]
fn a_wrongly_folded_batch_norm_is_caught() {
    // The comparison is sensitive: shifting one running mean of the last block moves the output well past 1e-4.
    let model = model();
    let mut w = formula_weights::<B>(&FlexDevice);
    let key = "audio_encoder.layer4.1.bn2.running_mean";
    let mut v = w.f32_values(key).unwrap();
    v[7] += 0.05;
    w.insert_f32(key, vec![v.len()], v);
    let wrong = FastWav2Clip::new(
        &Wav2Clip::<B>::from_weights(&w, &FlexDevice).unwrap(),
        FastWav2ClipOptions::default(),
    );
    let segs = audio(2, 16_000, 4);
    let segs: Vec<&[f32]> = segs.iter().map(Vec::as_slice).collect();
    let want = values(model.embed_batch(&segs, Normalisation::Shared).unwrap());
    let got = wrong.embed_batch(&segs, Normalisation::Shared).unwrap();
    let err = max_abs_diff(&got, &want);
    eprintln!("perturbed running mean: max abs err {err:e}");
    assert!(err > 1e-3, "a perturbed model should differ, err {err}");
}
