//! avad-core: the data and the judgement, with no tensors and no FFmpeg.
//!
//! Label maps, list CSVs, `.npy` I/O, `process_feat`, ground truth from XD-Violence-style annotations, the metrics
//! (AP, ROC-AUC, PR-AUC, XD mAP@IoU), the `avad eval` report and the synthetic audio-visual benchmark.

#![warn(missing_docs)]

pub mod error;
pub mod eval;
pub mod features;
pub mod files;
pub mod ground_truth;
pub mod labels;
pub mod lists;
pub mod metrics;
pub mod npy;
pub mod synth;
pub mod testing;

pub use error::{CoreError, Result};
