//! `avad synth` + `avad eval` end to end: an oracle scorer gets AP 1, a random one gets AP ≈ the positive rate,
//! and bad inputs give errors that name the file and the problem.

mod common;

use std::path::Path;

use avad_core::ground_truth::read_annotations;
use avad_core::lists::read_list;
use avad_core::npy::write_npy_f32;
use rand::{Rng, SeedableRng};

use common::{avad, avad_ok};

fn synth(dir: &Path) {
    avad_ok(&[
        "synth",
        "--out",
        dir.to_str().unwrap(),
        "--seed",
        "11",
        "--train",
        "2",
        "--test",
        "40",
        "--max-len",
        "200",
    ]);
}

/// Writes one [T, 7] score file per test video; `f(video, snippet, gt_class)` gives the class probabilities.
fn write_scores(dir: &Path, scores: &Path, mut f: impl FnMut(usize, Option<usize>) -> Vec<f32>) {
    let labels = avad_core::labels::LabelMap::xd_violence();
    let ann = read_annotations(&dir.join("annotations_multiclasses.txt")).unwrap();
    let list = read_list(&dir.join("test.csv"), None).unwrap();
    std::fs::create_dir_all(scores).unwrap();
    for e in &list {
        let t = avad_core::npy::read_npy(&e.path).unwrap().rows();
        let mut data = Vec::new();
        for s in 0..t {
            let frame = (s * 16) as u64;
            let class = ann.videos.get(&e.video).and_then(|segs| {
                segs.iter()
                    .find(|g| g.start <= frame && frame < g.end)
                    .map(|g| labels.index_of(g.class.as_deref().unwrap()).unwrap())
            });
            data.extend(f(s, class));
        }
        write_npy_f32(&scores.join(format!("{}.npy", e.video)), &[t, 7], &data).unwrap();
    }
}

fn eval_json(dir: &Path, scores: &Path) -> serde_json::Value {
    let out = avad_ok(&[
        "eval",
        "--scores",
        scores.to_str().unwrap(),
        "--list",
        dir.join("test.csv").to_str().unwrap(),
        "--annotations",
        dir.join("annotations_multiclasses.txt").to_str().unwrap(),
        "--json",
    ]);
    serde_json::from_slice(&out.stdout).expect("eval prints one JSON object")
}

#[test]
fn oracle_scores_get_ap_one_and_random_scores_get_the_positive_rate() {
    let dir = tempfile::tempdir().unwrap();
    synth(dir.path());
    let oracle = dir.path().join("oracle");
    write_scores(dir.path(), &oracle, |_, class| {
        let mut p = vec![0.0; 7];
        p[class.unwrap_or(0)] = 1.0;
        p
    });
    let r = eval_json(dir.path(), &oracle);
    for key in [
        "ap",
        "auc",
        "pr_auc",
        "map",
        "map_avg",
        "per_class_ap",
        "videos",
        "frames",
    ] {
        assert!(r.get(key).is_some(), "missing key {key} in {r}");
    }
    assert!((r["ap"].as_f64().unwrap() - 1.0).abs() < 1e-12, "{r}");
    assert!((r["auc"].as_f64().unwrap() - 1.0).abs() < 1e-12, "{r}");
    assert_eq!(r["videos"].as_u64().unwrap(), 40);
    for iou in ["0.1", "0.2", "0.3", "0.4", "0.5"] {
        let m = r["map"][iou].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&m), "{r}");
    }

    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
    let random = dir.path().join("random");
    write_scores(dir.path(), &random, |_, _| {
        let mut p: Vec<f32> = (0..7).map(|_| rng.random::<f32>()).collect();
        let s: f32 = p.iter().sum();
        p.iter_mut().for_each(|v| *v /= s);
        p
    });
    let r = eval_json(dir.path(), &random);
    // Positive rate from the oracle run's frame labels: recompute from annotations.
    let ann = read_annotations(&dir.path().join("annotations_multiclasses.txt")).unwrap();
    let list = read_list(&dir.path().join("test.csv"), None).unwrap();
    let (mut pos, mut total) = (0usize, 0usize);
    for e in &list {
        let frames = avad_core::npy::read_npy(&e.path).unwrap().rows() * 16;
        let mut lab = vec![false; frames];
        for g in ann.videos.get(&e.video).into_iter().flatten() {
            lab[g.start as usize..(g.end as usize).min(frames)]
                .iter_mut()
                .for_each(|x| *x = true);
        }
        pos += lab.iter().filter(|&&x| x).count();
        total += frames;
    }
    let rate = pos as f64 / total as f64;
    let ap = r["ap"].as_f64().unwrap();
    assert!(
        (ap - rate).abs() < 0.05,
        "random AP {ap} vs positive rate {rate}"
    );
    assert!((r["auc"].as_f64().unwrap() - 0.5).abs() < 0.05, "{r}");
}

#[test]
fn eval_errors_name_the_video_and_problem() {
    let dir = tempfile::tempdir().unwrap();
    synth(dir.path());
    let scores = dir.path().join("scores");
    write_scores(dir.path(), &scores, |_, _| vec![1.0 / 7.0; 7]);
    let list = read_list(&dir.path().join("test.csv"), None).unwrap();
    let run = |scores: &Path| {
        let out = avad(&[
            "eval",
            "--scores",
            scores.to_str().unwrap(),
            "--list",
            dir.path().join("test.csv").to_str().unwrap(),
            "--annotations",
            dir.path()
                .join("annotations_multiclasses.txt")
                .to_str()
                .unwrap(),
        ]);
        assert!(!out.status.success());
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let victim = &list[3].video;
    let file = scores.join(format!("{victim}.npy"));

    // Wrong number of columns.
    write_npy_f32(&file, &[2, 5], &[0.2; 10]).unwrap();
    let msg = run(&scores);
    assert!(msg.contains(victim) && msg.contains("5 columns"), "{msg}");

    // NaN.
    let t = avad_core::npy::read_npy(&list[3].path).unwrap().rows();
    let mut data = vec![1.0 / 7.0; t * 7];
    data[7] = f32::NAN;
    write_npy_f32(&file, &[t, 7], &data).unwrap();
    let msg = run(&scores);
    assert!(msg.contains(victim) && msg.contains("non-finite"), "{msg}");

    // Truncated file.
    let bytes = avad_core::npy::encode_npy_f32(&[t, 7], &vec![0.1; t * 7]);
    std::fs::write(&file, &bytes[..bytes.len() / 2]).unwrap();
    let msg = run(&scores);
    assert!(
        msg.contains(&format!("{victim}.npy")) && msg.contains("truncated"),
        "{msg}"
    );

    // Missing file.
    std::fs::remove_file(&file).unwrap();
    let msg = run(&scores);
    assert!(
        msg.contains(victim) && msg.contains("does not exist"),
        "{msg}"
    );
}

#[test]
fn annotation_naming_an_unknown_video_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    synth(dir.path());
    let scores = dir.path().join("scores");
    write_scores(dir.path(), &scores, |_, _| vec![1.0 / 7.0; 7]);
    let ann = dir.path().join("annotations_multiclasses.txt");
    let mut text = std::fs::read_to_string(&ann).unwrap();
    text.push_str("ghost_video_label_B1-0-0 B1 0 32\n");
    std::fs::write(&ann, text).unwrap();
    let out = avad(&[
        "eval",
        "--scores",
        scores.to_str().unwrap(),
        "--list",
        dir.path().join("test.csv").to_str().unwrap(),
        "--annotations",
        ann.to_str().unwrap(),
    ]);
    let msg = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        msg.contains("annotations_multiclasses.txt")
            && msg.contains("ghost_video_label_B1-0-0")
            && msg.contains("not in the list"),
        "{msg}"
    );
}

#[test]
fn list_without_label_column_is_an_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("nolabel.csv");
    std::fs::write(&list, "path,audio_path\na.npy,b.npy\n").unwrap();
    let ann = dir.path().join("a.txt");
    std::fs::write(&ann, "").unwrap();
    let out = avad(&[
        "eval",
        "--scores",
        dir.path().to_str().unwrap(),
        "--list",
        list.to_str().unwrap(),
        "--annotations",
        ann.to_str().unwrap(),
    ]);
    let msg = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        msg.contains("nolabel.csv") && msg.contains("missing column 'label'"),
        "{msg}"
    );
}

#[test]
fn eval_json_on_the_real_xd_test_list_matches_upstream() {
    // The "noisy" parity scenario: the first 200 videos of the real XD-Violence test list.
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures");
    let expected: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root.join("metrics/expected.json")).unwrap())
            .unwrap();
    let exp = &expected["noisy"];
    let n = exp["videos"].as_u64().unwrap() as usize;
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root.join("metrics/videos.json")).unwrap()).unwrap();
    let scores = avad_core::npy::read_npy(&root.join("metrics/noisy.npy")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let list_text = std::fs::read_to_string(root.join("xd-violence/xd_CLIP_rgbtest.csv")).unwrap();
    let list = dir.path().join("list.csv");
    std::fs::write(
        &list,
        list_text.lines().take(n + 1).collect::<Vec<_>>().join("\n") + "\n",
    )
    .unwrap();
    let mut offset = 0;
    for v in index.as_array().unwrap().iter().take(n) {
        let t = v["snippets"].as_u64().unwrap() as usize;
        let file = dir
            .path()
            .join(format!("scores/{}.npy", v["video"].as_str().unwrap()));
        write_npy_f32(&file, &[t, 7], &scores.data[offset * 7..(offset + t) * 7]).unwrap();
        offset += t;
    }
    let out = avad_ok(&[
        "eval",
        "--scores",
        dir.path().join("scores").to_str().unwrap(),
        "--list",
        list.to_str().unwrap(),
        "--annotations",
        root.join("xd-violence/annotations_multiclasses.txt")
            .to_str()
            .unwrap(),
        "--frame-annotations",
        root.join("xd-violence/annotations.txt").to_str().unwrap(),
        "--lenient",
        "--json",
    ]);
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["videos"].as_u64().unwrap(), n as u64);
    assert_eq!(
        r["frames"].as_u64().unwrap(),
        exp["frames"].as_u64().unwrap()
    );
    for key in ["ap", "auc", "pr_auc"] {
        let (got, want) = (r[key].as_f64().unwrap(), exp[key].as_f64().unwrap());
        assert!((got - want).abs() <= 1e-9, "{key}: {got} vs {want}");
    }
    let want_avg: f64 = exp["map_x100_stable"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .sum::<f64>()
        / 500.0;
    assert!(
        (r["map_avg"].as_f64().unwrap() - want_avg).abs() <= 1e-8,
        "{r}"
    );
    assert!(r["per_class_ap"]["B1"]["0.1"].is_number(), "{r}");
}
