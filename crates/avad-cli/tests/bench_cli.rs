//! `avad bench`: the prediction workload runs at the official model size and reports well-formed timings (JSON on
//! stdout and in `--out`, the same report); bad workload names and zero iterations are refused with a message.

mod common;

use common::{avad, avad_ok};

#[test]
fn predict_chunk_reports_its_timing() {
    let tmp = tempfile::tempdir().unwrap();
    let out_file = tmp.path().join("sub/bench.json");
    let out = avad_ok(&[
        "bench",
        "--workload",
        "predict-chunk",
        "--iters",
        "1",
        "--warmup",
        "0",
        "--json",
        "--out",
        out_file.to_str().unwrap(),
    ]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out_file).unwrap()).unwrap();
    assert_eq!(report, saved, "--out holds the printed report");
    let ws = report["workloads"].as_array().unwrap();
    assert_eq!(ws.len(), 1);
    let w = &ws[0];
    assert_eq!(w["name"], "predict-chunk");
    assert_eq!(w["items_per_iter"].as_f64(), Some(256.0));
    let secs = w["seconds"].as_array().unwrap();
    assert_eq!(secs.len(), 1);
    let s = secs[0].as_f64().unwrap();
    assert!(s > 0.0 && s < 60.0, "{s} s for one chunk");
    assert_eq!(w["median_s"].as_f64(), Some(s));
    assert!((w["throughput_per_s"].as_f64().unwrap() - 256.0 / s).abs() < 1e-6 * (256.0 / s));
    assert!(!report["backend"].as_str().unwrap().is_empty());
    assert_eq!(report["config"]["small"], false, "the official sizes ran");
}

#[test]
fn bad_arguments_are_refused() {
    let out = avad(&["bench", "--workload", "train", "--iters", "1"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("unknown workload `train`") && err.contains("train-teacher"),
        "{err}"
    );
    let out = avad(&["bench", "--workload", "gemm", "--iters", "0", "--small"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--iters"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
