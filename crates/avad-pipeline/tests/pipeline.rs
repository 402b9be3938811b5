//! avad-pipeline on real clips from `fixtures/media/` with the tiny random CLIP (`fixtures/clip/tiny_hf`,
//! 24-d projection) and Wav2CLIP's full-size formula weights: snippet counts, the no-audio path, detection with a
//! random tiny teacher checkpoint, events, the HTML report, shards and list merging.

use std::path::{Path, PathBuf};

use avad_infer::Predictor;
use avad_media::DecodeOptions;
use avad_pipeline::*;
use avad_train::testing::write_tiny_checkpoint;
use avad_wav2clip::testing::save_formula_weights;

type B = burn_flex::Flex;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn media(name: &str) -> PathBuf {
    root().join("fixtures/media").join(name)
}

/// The encoders `avad detect` uses on the CPU (fast engine) on the tiny CLIP fixture and formula Wav2CLIP weights.
fn encoders(tmp: &Path) -> Encoders<B> {
    encoders_for(tmp, EncoderEngine::FastCpu)
}

fn encoders_for(tmp: &Path, engine: EncoderEngine) -> Encoders<B> {
    let w = tmp.join("wav2clip.safetensors");
    save_formula_weights::<burn_flex::Flex>(&w, &burn_flex::FlexDevice).unwrap();
    Encoders::<B>::load(
        &root().join("fixtures/clip/tiny_hf"),
        &w,
        &Default::default(),
        engine,
    )
    .unwrap()
}

fn snippet_count(path: &Path, max: Option<usize>) -> usize {
    let opts = DecodeOptions {
        max_snippets: max,
        ..DecodeOptions::default()
    };
    avad_media::open(path, &opts)
        .unwrap()
        .collect_all()
        .unwrap()
        .0
        .len()
}

#[test]
fn features_of_real_clips_have_one_row_per_snippet() {
    let tmp = tempfile::tempdir().unwrap();
    let enc = encoders(tmp.path());
    let opts = FeatureOptions {
        batch: 4,
        ..FeatureOptions::default()
    };
    for (name, audio) in [
        ("moviepy_fire2.mp4", "present"),
        ("moviepy_video_with_failing_audio.mp4", "any"),
        ("intel_car-detection.mp4", "silent"),
        ("moviepy_test_video_1x1.mp4", "none"),
    ] {
        let path = media(name);
        let f = extract_video(&enc, &path, &opts, &mut |_| {}).unwrap();
        let t = snippet_count(&path, None);
        assert!(t >= 1, "{name}");
        assert_eq!(f.t, t, "{name}");
        assert_eq!(f.width, 24, "{name}: tiny CLIP projects to 24");
        assert_eq!(f.visual.len(), 1);
        assert_eq!(f.visual[0].len(), t * 24, "{name}");
        assert!(f.visual[0].iter().all(|v| v.is_finite()), "{name}");
        match audio {
            "none" => assert!(
                f.audio.is_none(),
                "{name}: no audio stream → no audio features"
            ),
            _ => {
                let a = f.audio.as_ref().expect(name);
                assert_eq!(a.len(), t * 512, "{name}");
                assert!(a.iter().all(|v| v.is_finite()), "{name}");
            }
        }
        if audio == "silent" {
            assert_eq!(f.audio_state, avad_media::AudioState::Silent, "{name}");
        }
        if audio == "present" {
            assert_eq!(f.audio_state, avad_media::AudioState::Present, "{name}");
        }
    }
}

#[test]
fn fast_and_reference_engines_give_the_same_features() {
    // the image and the audio features, 1 and 10 crops
    let tmp = tempfile::tempdir().unwrap();
    let fast = encoders_for(tmp.path(), EncoderEngine::FastCpu);
    let reference = encoders_for(tmp.path(), EncoderEngine::Reference);
    assert_eq!(fast.engine(), EncoderEngine::FastCpu);
    assert_eq!(reference.engine(), EncoderEngine::Reference);
    // batch 3 does not divide the snippet counts: the last, partial batch goes through both paths too. Both clips
    // have an audio track (fire2: sound; car: a silent AAC track).
    for (name, crops) in [("moviepy_fire2.mp4", 1), ("intel_car-detection.mp4", 10)] {
        let opts = FeatureOptions {
            crops,
            batch: 3,
            max_snippets: Some(7),
            ..FeatureOptions::default()
        };
        let a = extract_video(&fast, &media(name), &opts, &mut |_| {}).unwrap();
        let b = extract_video(&reference, &media(name), &opts, &mut |_| {}).unwrap();
        assert_eq!(
            (a.t, a.width, a.snippets.clone()),
            (b.t, b.width, b.snippets.clone())
        );
        assert_eq!(a.visual.len(), crops);
        for (x, y) in a.visual.iter().zip(&b.visual) {
            assert_eq!(x.len(), a.t * a.width);
            let diff = avad_core::testing::max_abs_diff(x, y);
            assert!(
                diff < 1e-4,
                "{name}: fast vs reference image features differ by {diff}"
            );
        }
        assert!(
            a.visual[0].iter().any(|v| v.abs() > 1e-3),
            "{name}: features are all ~0"
        );
        let (x, y) = (a.audio.unwrap(), b.audio.unwrap());
        assert_eq!(x.len(), a.t * avad_wav2clip::EMBED_DIM);
        let diff = avad_core::testing::max_abs_diff(&x, &y);
        assert!(
            diff < 1e-4,
            "{name}: fast vs reference audio features differ by {diff}"
        );
    }
}

#[test]
fn ten_crops_give_ten_arrays_and_differ_from_each_other() {
    let tmp = tempfile::tempdir().unwrap();
    let enc = encoders(tmp.path());
    let opts = FeatureOptions {
        crops: 10,
        max_snippets: Some(2),
        ..FeatureOptions::default()
    };
    let f = extract_video(&enc, &media("moviepy_fire2.mp4"), &opts, &mut |_| {}).unwrap();
    assert_eq!(f.visual.len(), 10);
    assert!(f.visual.iter().all(|v| v.len() == f.t * 24));
    assert_ne!(f.visual[1], f.visual[2], "corner crops must differ");
    let bad = FeatureOptions {
        crops: 3,
        ..FeatureOptions::default()
    };
    assert!(extract_video(&enc, &media("moviepy_fire2.mp4"), &bad, &mut |_| {}).is_err());
}

#[test]
fn audio_windows_are_centred_and_zero_padded() {
    // three snippets of 4000, 6000, 2000 samples with values = global sample index + 1
    let mut next = 1.0f32;
    let parts: Vec<Vec<f32>> = [4000usize, 6000, 2000]
        .iter()
        .map(|&n| {
            (0..n)
                .map(|_| {
                    next += 1.0;
                    next - 1.0
                })
                .collect()
        })
        .collect();
    let w = audio_windows(&parts);
    assert_eq!(w.len(), 3);
    assert!(w.iter().all(|x| x.len() == AUDIO_WINDOW));
    // snippet 0: centre 2000 → window [-6000, 10000): 6000 zeros then samples 0..10000
    assert_eq!(w[0][5999], 0.0);
    assert_eq!(w[0][6000], 1.0);
    assert_eq!(w[0][15999], 10000.0);
    // snippet 1: centre 4000 + 3000 = 7000 → [-1000, 15000)
    assert_eq!(w[1][999], 0.0);
    assert_eq!(w[1][1000], 1.0);
    // snippet 2: centre 10000 + 1000 = 11000 → [3000, 19000): track ends at 12000
    assert_eq!(w[2][0], 3001.0);
    assert_eq!(w[2][8999], 12000.0);
    assert_eq!(w[2][9000], 0.0);
}

fn row(i: usize, score: f32, probs: Vec<f32>) -> SnippetRow {
    SnippetRow {
        index: i,
        start_s: i as f64,
        end_s: i as f64 + 1.0,
        anomaly_score: score,
        top_class: String::new(),
        probs,
        audio: "present".into(),
        audio_gate: None,
        audio_share: None,
    }
}

#[test]
fn events_merge_runs_above_threshold_with_majority_class() {
    let names: Vec<String> = ["normal", "fighting", "shooting"]
        .map(String::from)
        .to_vec();
    let rows = vec![
        row(0, 0.1, vec![0.9, 0.05, 0.05]),
        row(1, 0.6, vec![0.2, 0.5, 0.3]),
        row(2, 0.9, vec![0.1, 0.2, 0.7]),
        row(3, 0.7, vec![0.1, 0.1, 0.8]),
        row(4, 0.2, vec![0.9, 0.05, 0.05]),
        row(5, 0.5, vec![0.6, 0.3, 0.1]),
    ];
    let ev = find_events(&rows, &names, 0.5);
    assert_eq!(ev.len(), 2);
    assert_eq!((ev[0].first, ev[0].last), (1, 3));
    assert_eq!((ev[0].start_s, ev[0].end_s), (1.0, 4.0));
    assert_eq!(ev[0].class, "shooting");
    assert_eq!(ev[0].peak_index, 2);
    assert_eq!(ev[0].peak_score, 0.9);
    assert_eq!((ev[1].first, ev[1].last), (5, 5));
    assert_eq!(
        ev[1].class, "fighting",
        "majority over abnormal columns only"
    );
    assert!(find_events(&rows, &names, 0.95).is_empty());
}

#[test]
fn detect_scores_every_snippet_and_falls_back_to_zero_audio() {
    let tmp = tempfile::tempdir().unwrap();
    let enc = encoders(tmp.path());
    let dev = Default::default();
    let ck = write_tiny_checkpoint::<B>(
        &tmp.path().join("ck"),
        24,
        Some(avad_wav2clip::EMBED_DIM),
        7,
        &dev,
    )
    .unwrap();
    let pred = Predictor::<B>::from_checkpoint(&ck, &dev).unwrap();
    assert_eq!(model_kind(&pred), "teacher");
    let opts = FeatureOptions {
        max_snippets: Some(6),
        thumbnails: true,
        ..FeatureOptions::default()
    };
    // with audio
    let r = detect_video(
        &enc,
        &pred,
        &media("moviepy_video_with_failing_audio.mp4"),
        &opts,
        &ScoreOptions::offline(0.0),
    )
    .unwrap();
    assert_eq!(r.snippets.len(), 6);
    assert_eq!(r.audio_features, "wav2clip");
    assert_eq!(r.class_names.len(), 7);
    for s in &r.snippets {
        assert_eq!(s.probs.len(), 7);
        assert!((s.probs.iter().sum::<f32>() - 1.0).abs() < 1e-4);
        assert!((0.0..=1.0).contains(&s.anomaly_score));
        assert!(s.end_s > s.start_s);
    }
    assert_eq!(r.events.len(), 1, "threshold 0 → one event over everything");
    assert_eq!((r.events[0].first, r.events[0].last), (0, 5));
    assert_eq!(r.thumbnails.len(), 6);
    let html = render_html(&r);
    assert!(html.contains("<svg") && html.contains("data:image/png;base64,"));
    assert!(
        !html.contains("http://") || !html.contains("src='http"),
        "no external assets"
    );
    let json: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
    assert_eq!(json["snippets"].as_array().unwrap().len(), 6);
    assert_eq!(r.to_csv().lines().count(), 7);
    // without an audio stream: zero audio features, said so
    let r = detect_video(
        &enc,
        &pred,
        &media("moviepy_test_video_1x1.mp4"),
        &opts,
        &ScoreOptions::offline(0.5),
    )
    .unwrap();
    assert_eq!(r.audio, "none");
    assert_eq!(r.audio_features, "zeros");
    assert_eq!(r.snippets.len(), 1);
    // a model whose width does not fit the CLIP features is a clear error
    let ck512 = write_tiny_checkpoint::<B>(&tmp.path().join("ck512"), 32, None, 1, &dev).unwrap();
    let p512 = Predictor::<B>::from_checkpoint(&ck512, &dev).unwrap();
    assert_eq!(model_kind(&p512), "vadclip");
    let e = detect_video(
        &enc,
        &p512,
        &media("moviepy_fire2.mp4"),
        &opts,
        &ScoreOptions::offline(0.5),
    )
    .unwrap_err();
    assert!(e.to_string().contains("expects 32-d"), "{e}");
}

#[test]
fn shards_partition_the_sorted_list() {
    let videos: Vec<PathBuf> = (0..10)
        .map(|i| PathBuf::from(format!("v{i:02}.mp4")))
        .collect();
    let mut all = Vec::new();
    for i in 0..3 {
        let s: Shard = format!("{i}/3").parse().unwrap();
        let part = shard_videos(&videos, Some(s));
        assert!(!part.is_empty());
        all.extend(part);
    }
    all.sort();
    assert_eq!(all, videos);
    assert!("3/3".parse::<Shard>().is_err());
    assert!("1-3".parse::<Shard>().is_err());
}

#[test]
fn merge_lists_joins_and_checks_headers() {
    let tmp = tempfile::tempdir().unwrap();
    let a = tmp.path().join("a.csv");
    let b = tmp.path().join("b.csv");
    let c = tmp.path().join("c.csv");
    std::fs::write(&a, "path,audio_path,label\nx__0.npy,x.npy,A\n").unwrap();
    std::fs::write(
        &b,
        "path,audio_path,label\ny__0.npy,y.npy,A\nx__0.npy,x.npy,A\n",
    )
    .unwrap();
    std::fs::write(&c, "path,label\nz__0.npy,A\n").unwrap();
    let out = tmp.path().join("m.csv");
    assert_eq!(merge_lists(&[a.clone(), b], &out).unwrap(), 2);
    let text = std::fs::read_to_string(&out).unwrap();
    assert_eq!(
        text,
        "path,audio_path,label\nx__0.npy,x.npy,A\ny__0.npy,y.npy,A\n"
    );
    assert!(merge_lists(&[a, c], &out).is_err());
}

#[test]
fn detect_reports_the_audio_fusion_gate_for_teachers_only() {
    let tmp = tempfile::tempdir().unwrap();
    let enc = encoders(tmp.path());
    let dev = Default::default();
    let opts = FeatureOptions {
        max_snippets: Some(6),
        ..FeatureOptions::default()
    };
    let video = media("moviepy_video_with_failing_audio.mp4");
    // teacher (adaptive fusion): a gate and a share per snippet, both in [0, 1], in JSON, CSV and HTML
    let ck = write_tiny_checkpoint::<B>(
        &tmp.path().join("t"),
        24,
        Some(avad_wav2clip::EMBED_DIM),
        3,
        &dev,
    )
    .unwrap();
    let pred = Predictor::<B>::from_checkpoint(&ck, &dev).unwrap();
    let r = detect_video(&enc, &pred, &video, &opts, &ScoreOptions::offline(0.5)).unwrap();
    assert_eq!(r.audio_features, "wav2clip");
    let json: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
    let rows = json["snippets"].as_array().unwrap();
    assert_eq!(rows.len(), 6);
    let mut gates = Vec::new();
    for s in rows {
        let g = s["audio_gate"]
            .as_f64()
            .expect("teacher: numeric audio_gate");
        let sh = s["audio_share"]
            .as_f64()
            .expect("teacher: numeric audio_share");
        assert!((0.0..=1.0).contains(&g), "gate {g}");
        assert!((0.0..=1.0).contains(&sh), "share {sh}");
        gates.push(g);
    }
    assert!(
        gates.iter().any(|&g| (g - gates[0]).abs() > 1e-6),
        "the gate depends on the snippet: {gates:?}"
    );
    let csv = r.to_csv();
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    let gi = header.iter().position(|h| *h == "audio_gate").unwrap();
    let si = header.iter().position(|h| *h == "audio_share").unwrap();
    for (line, s) in csv.lines().skip(1).zip(&r.snippets) {
        let cells: Vec<&str> = line.split(',').collect();
        assert_eq!(cells.len(), header.len());
        let g: f32 = cells[gi].parse().unwrap();
        assert!((g - s.audio_gate.unwrap()).abs() < 1e-5);
        let sh: f32 = cells[si].parse().unwrap();
        assert!((sh - s.audio_share.unwrap()).abs() < 1e-5);
    }
    let html = render_html(&r);
    assert!(html.contains("id='audio-gate-curve'"), "gate curve drawn");
    assert!(html.contains("id='audio-share-curve'"), "share curve drawn");
    assert!(
        html.contains("audio gate</span>: mean over"),
        "legend explains it"
    );
    // the curve has one point per snippet, every y inside the 0..1 band of its plot
    let pts = html.split("id='audio-gate-curve'").nth(1).unwrap();
    let pts = pts
        .split("points='")
        .nth(1)
        .unwrap()
        .split('\'')
        .next()
        .unwrap();
    assert_eq!(pts.split_whitespace().count(), 6);
    for (p, s) in pts.split_whitespace().zip(&r.snippets) {
        let y: f64 = p.split(',').nth(1).unwrap().parse().unwrap();
        // plot band y0 = 10 .. y0 + 100: y = 110 − 100·gate
        let want = 110.0 - 100.0 * s.audio_gate.unwrap() as f64;
        assert!(
            (y - want).abs() < 0.051,
            "point {p} for gate {:?}",
            s.audio_gate
        );
    }

    // VadCLIP: no gate anywhere
    let ck = write_tiny_checkpoint::<B>(&tmp.path().join("v"), 24, None, 3, &dev).unwrap();
    let pred = Predictor::<B>::from_checkpoint(&ck, &dev).unwrap();
    let r = detect_video(&enc, &pred, &video, &opts, &ScoreOptions::offline(0.5)).unwrap();
    let json: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
    for s in json["snippets"].as_array().unwrap() {
        assert!(
            s["audio_gate"].is_null() && s["audio_share"].is_null(),
            "{s}"
        );
    }
    let csv = r.to_csv();
    let second = csv.lines().nth(1).unwrap();
    assert!(second.contains(",,"), "empty gate cells: {second}");
    let html = render_html(&r);
    assert!(!html.contains("audio-gate-curve"));
    assert!(html.contains("audio fusion gate: not available"));
}
