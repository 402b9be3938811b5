//! The live scoring rule (`avad_infer::online`) on tiny random models: what each score may depend on, that every
//! snippet is reported once and in order with the promised delay, that a window covering the whole video with
//! full lookahead is the offline prediction, and clear errors.

use avad_infer::{replay_live, LiveScorer, LiveWindow, Predictor};
use avad_train::testing::write_tiny_checkpoint;
use rand::{Rng, SeedableRng};

type B = burn_flex::Flex;

const D: usize = 16;
const DA: usize = 8;

fn predictor(audio: bool, dir: &std::path::Path) -> Predictor<B> {
    let dev = Default::default();
    let ck = write_tiny_checkpoint::<B>(dir, D, audio.then_some(DA), 3, &dev).unwrap();
    Predictor::<B>::from_checkpoint(&ck, &dev).unwrap()
}

fn features(t: usize, width: usize, seed: u64) -> Vec<f32> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    (0..t * width)
        .map(|_| rng.random_range(-1.0f32..1.0))
        .collect()
}

#[test]
fn full_window_with_full_lookahead_is_the_offline_prediction() {
    let tmp = tempfile::tempdir().unwrap();
    for audio in [false, true] {
        let p = predictor(audio, &tmp.path().join(format!("m{audio}")));
        let t = 20; // ≤ the tiny model's chunk length (32)
        let v = features(t, D, 1);
        let a = audio.then(|| features(t, DA, 2));
        let offline = p.predict(&v, a.as_deref()).unwrap();
        let rule = LiveWindow {
            window: p.visual_length,
            lookahead: p.visual_length - 1,
        };
        let live = replay_live(&p, rule, &v, a.as_deref()).unwrap();
        assert_eq!((live.t, live.num_class), (offline.t, offline.num_class));
        for i in 0..t {
            assert!(
                (live.prob1[i] - offline.prob1[i]).abs() < 1e-6,
                "audio {audio}, snippet {i}"
            );
        }
        assert!(avad_core::testing::max_abs_diff(&live.probs, &offline.probs) < 1e-6);
        assert_eq!(live.audio_gate.is_some(), audio);
        assert_eq!(live.audio_share.as_ref().map(Vec::len), audio.then_some(t));
    }
}

#[test]
fn a_score_depends_only_on_its_window_and_lookahead() {
    let tmp = tempfile::tempdir().unwrap();
    let p = predictor(true, tmp.path());
    let (t, w, k) = (24, 8, 2);
    let rule = LiveWindow {
        window: w,
        lookahead: k,
    };
    let v = features(t, D, 5);
    let a = features(t, DA, 6);
    let base = replay_live(&p, rule, &v, Some(&a)).unwrap();
    // Change snippet j: only snippets n with n + K + 1 − W ≤ j ≤ n + K may move, i.e. j − K ≤ n ≤ j + W − K − 1.
    let j = 12;
    let mut v2 = v.clone();
    for x in &mut v2[j * D..(j + 1) * D] {
        *x = -*x + 0.5;
    }
    let changed = replay_live(&p, rule, &v2, Some(&a)).unwrap();
    let c = base.num_class;
    for n in 0..t {
        let same = base.prob1[n] == changed.prob1[n]
            && base.probs[n * c..(n + 1) * c] == changed.probs[n * c..(n + 1) * c];
        let may_move = n + k >= j && n + k < j + w;
        if !may_move {
            assert!(
                same,
                "snippet {n} changed although snippet {j} is outside its window"
            );
        }
    }
    assert_ne!(
        base.prob1[j - k],
        changed.prob1[j - k],
        "snippet j − K sees snippet j through its lookahead"
    );
    assert_ne!(base.prob1[j], changed.prob1[j]);
}

#[test]
fn every_snippet_is_reported_once_after_k_more_arrive() {
    let tmp = tempfile::tempdir().unwrap();
    let p = predictor(false, tmp.path());
    let (t, k) = (11, 3);
    let v = features(t, D, 9);
    let rule = LiveWindow {
        window: 6,
        lookahead: k,
    };
    let mut scorer = LiveScorer::new(&p, rule).unwrap();
    let mut seen = Vec::new();
    for n in 0..t {
        let got = scorer.push(&v[n * D..(n + 1) * D], None).unwrap();
        match got {
            Some(s) => {
                assert!(n >= k);
                assert_eq!(
                    s.index,
                    n - k,
                    "after snippet {n} arrives, snippet {} is reported",
                    n - k
                );
                assert!((0.0..=1.0).contains(&s.anomaly_score));
                assert!((s.probs.iter().sum::<f32>() - 1.0).abs() < 1e-4);
                seen.push(s.index);
            }
            None => assert!(n < k, "snippet {n}: nothing reported"),
        }
    }
    let rest = scorer.finish().unwrap();
    assert_eq!(rest.len(), k);
    seen.extend(rest.iter().map(|s| s.index));
    assert_eq!(seen, (0..t).collect::<Vec<_>>());
    assert!(
        scorer.finish().unwrap().is_empty(),
        "finish twice reports nothing new"
    );
}

#[test]
fn bad_rules_and_inputs_are_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let p = predictor(true, tmp.path());
    let rule = |window, lookahead| LiveWindow { window, lookahead };
    assert!(LiveScorer::new(&p, rule(0, 0)).is_err());
    assert!(LiveScorer::new(&p, rule(p.visual_length + 1, 0)).is_err());
    let e = LiveScorer::new(&p, rule(8, 8)).unwrap_err().to_string();
    assert!(e.contains("lookahead 8"), "{e}");
    let mut s = LiveScorer::new(&p, rule(8, 0)).unwrap();
    assert!(s
        .push(&[0.0; D], None)
        .unwrap_err()
        .to_string()
        .contains("needs audio"));
    assert!(s.push(&[0.0; D + 1], Some(&[0.0; DA])).is_err());
    assert!(s.push(&[0.0; D], Some(&[0.0; DA + 1])).is_err());
    assert_eq!(s.pushed(), 0, "rejected snippets are not kept");
    assert!(s.push(&[0.0; D], Some(&[0.0; DA])).unwrap().is_some());
}
