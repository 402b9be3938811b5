//! `avad eval`: frame AP, ROC-AUC, PR-AUC and XD mAP@IoU of per-snippet scores against annotations.

use std::path::PathBuf;

use anyhow::Context;
use avad_core::eval::{evaluate_dir, EvalOptions, EvalReport};
use avad_core::ground_truth::Strictness;
use avad_core::labels::LabelMap;
use avad_core::metrics::detection_map::{DetectionMapOptions, EmptyClassRule};

/// Score per-snippet predictions against XD-Violence-style annotations.
///
/// Reads `DIR/<video>.npy` for every video of the list: float32 [T, C] class probabilities (column 0 = normal,
/// anomaly score = 1 − p0), or [T] anomaly scores (then mAP is skipped). Frame-level metrics repeat each snippet's
/// score `--snippet-frames` times, exactly as the official VadCLIP test script does.
#[derive(clap::Args)]
pub struct Args {
    /// Folder of per-video score files `<video>.npy` (what `avad predict` writes).
    #[arg(long, value_name = "DIR")]
    pub scores: PathBuf,
    /// Test list CSV (`path,label` or `path,audio_path,label`); `<video>` is the path's file name without
    /// `__<crop>.npy` / `.npy`.
    #[arg(long, value_name = "LIST.csv")]
    pub list: PathBuf,
    /// Annotations: `annotations_multiclasses.txt` (gives mAP) or `annotations.txt` (binary).
    #[arg(long, value_name = "ANNOT.txt")]
    pub annotations: PathBuf,
    /// Take the frame labels from this file instead (the official XD-Violence protocol: frame labels from
    /// `annotations.txt`, mAP segments from `annotations_multiclasses.txt`).
    #[arg(long, value_name = "ANNOT.txt")]
    pub frame_annotations: Option<PathBuf>,
    /// Frames per snippet used to expand scores and ground truth (16 for XD-Violence, 4 for CCTV-Fights).
    #[arg(long, default_value_t = 16, value_name = "N")]
    pub snippet_frames: usize,
    /// Label map: xd (7 classes), ucf (14) or cctv (2).
    #[arg(long, default_value = "xd", value_name = "NAME")]
    pub classes: String,
    /// Report list/annotation mismatches as notes instead of failing.
    #[arg(long)]
    pub lenient: bool,
    /// mAP over the classes that have predictions, instead of the official rule (mAP = 0 if any class has none).
    #[arg(long)]
    pub skip_empty_classes: bool,
    /// Print one JSON object (keys: ap, auc, pr_auc, map, map_avg, per_class_ap, videos, frames, ...).
    #[arg(long)]
    pub json: bool,
}

/// Runs `avad eval`.
pub fn run(args: Args) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.snippet_frames > 0,
        "--snippet-frames must be at least 1"
    );
    let opts = EvalOptions {
        snippet_frames: args.snippet_frames,
        labels: LabelMap::by_name(&args.classes)?,
        strictness: if args.lenient {
            Strictness::Lenient
        } else {
            Strictness::Strict
        },
        detection_map: DetectionMapOptions {
            empty_class_rule: if args.skip_empty_classes {
                EmptyClassRule::SkipEmptyClasses
            } else {
                EmptyClassRule::Official
            },
        },
    };
    let report = evaluate_dir(
        &args.scores,
        &args.list,
        &args.annotations,
        args.frame_annotations.as_deref(),
        &opts,
    )
    .with_context(|| format!("evaluating scores in {}", args.scores.display()))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", render_table(&report));
    }
    Ok(())
}

/// A readable table of an evaluation report (percentages, as papers print them).
pub fn render_table(r: &EvalReport) -> String {
    let mut s = String::new();
    s.push_str(&format!("videos {}  frames {}\n", r.videos, r.frames));
    s.push_str(&format!(
        "AP {:6.2}%   AUC {:6.2}%   PR-AUC {:6.2}%\n",
        100.0 * r.ap,
        100.0 * r.auc,
        100.0 * r.pr_auc
    ));
    if let (Some(map), Some(avg)) = (&r.map, r.map_avg) {
        s.push_str("mAP@IoU ");
        for (k, v) in map {
            s.push_str(&format!(" {k}: {:5.2}%", 100.0 * v));
        }
        s.push_str(&format!("   AVG {:5.2}%\n", 100.0 * avg));
    }
    if !r.classes_without_prediction.is_empty() {
        s.push_str(&format!(
            "classes without any predicted segment: {}\n",
            r.classes_without_prediction.join(", ")
        ));
    }
    for n in &r.notes {
        s.push_str(&format!("note: {n}\n"));
    }
    s
}
