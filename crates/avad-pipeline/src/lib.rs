//! avad-pipeline: from video files to AVadCLIP features and anomaly reports.
//!
//! - [`features`]: one video → CLIP image features per snippet (1 or 10 crops) + Wav2CLIP audio features.
//! - [`extract`]: `avad extract` — video lists, shards, resumable atomic output, list CSVs, `merge-lists`.
//! - [`detect`]: `avad detect` — per-snippet scores, events, JSON/CSV; [`html`]: the self-contained HTML report.
//!
//! Scoring uses avad-infer alone: nothing here needs the training crate. Formats and rules: `docs/extract.md`.

#![warn(missing_docs)]

pub mod detect;
pub mod error;
pub mod extract;
pub mod features;
pub mod html;

pub use detect::{
    detect_video, find_events, model_kind, DetectReport, Event, ScoreOptions, SnippetRow,
};
pub use error::{PipelineError, Result};
pub use extract::{
    extract_into, list_videos, merge_lists, run_extract, shard_videos, verify_done, video_name,
    write_lists_for, DoneMarker, ExtractEvent, ExtractSummary, Shard, VideoOutcome,
};
pub use features::{
    audio_windows, extract_video, EncoderEngine, Encoders, ExtractedVideo, FeatureOptions,
    StageTimes, AUDIO_WINDOW,
};
pub use html::render_html;
