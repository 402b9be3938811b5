//! FFmpeg decoding for avad: every `stride`-th decoded video frame as RGB24 (colour matrix from the stream, pixel
//! identical to the ffmpeg CLI) and the 16 kHz mono audio (channels averaged) cut per snippet by timestamps.
//!
//! The rules, each tested against the FFmpeg 5.1 CLI on real files (`tests/cli_parity.rs`):
//! - **Frames**: decoded frame `n` is kept when `n % stride == 0` (the CLI's `select=not(mod(n\,16))`); it is
//!   converted at its native size by libswscale with the CLI's defaults: flags `bicubic`, the colour matrix the
//!   frame is tagged with (BT.709, SMPTE 170M, ...; untagged falls back to BT.601) and its range (limited/full).
//!   A display matrix of 90/180/270 degrees is applied as the CLI's autorotate does (`DecodeOptions::autorotate`).
//! - **Audio**: decoded at the source rate, channels averaged in Rust (not swresample's 0.707 downmix), resampled
//!   to 16 kHz by libswresample with default options, placed on a 16 kHz grid by pts (see `audio.rs`); gaps over
//!   0.1 s become silence.
//! - **Snippets**: snippet `i` spans `[pts(frame i*stride), pts(frame (i+1)*stride))` and gets the grid samples of
//!   that span (see `snippet.rs`); VFR-safe, negative times allowed, missing audio zero-filled.
//! - **States**: `AudioState::{Present, Silent, None}` per snippet and per file (`DecodeSummary::audio_state`).
//! - **Threads**: `open` returns at once; a video thread (demux, decode, convert, assemble) and an audio thread
//!   (own demuxer, decode, resample) fill a bounded queue of `DecodeOptions::queue` snippets.
//!
//! ```no_run
//! let mut reader = avad_media::open("clip.mp4", &avad_media::DecodeOptions::default())?;
//! println!("{:?}", reader.info().video);
//! for snippet in reader.by_ref() {
//!     let s = snippet?;
//!     println!("{} {:.2}-{:.2}s {} samples {}", s.index, s.start_s, s.end_s, s.audio.len(), s.audio_state);
//! }
//! println!("{:?}", reader.summary());
//! # Ok::<(), avad_media::MediaError>(())
//! ```
//!
//! # Modules
//! Each module imports only modules above it in this list (no cycles):
//! - `error`: `MediaError` and `Result`; imports nothing of the crate.
//! - `ffmpeg`: FFmpeg glue (init, opening inputs, timestamp conversion, demuxing one stream, codec contexts, display
//!   matrix); imports `error`.
//! - `probe`: `probe` and the header types; imports `error`, `ffmpeg`.
//! - `video`: video decoding, RGB conversion, `RgbImage`, autorotation; imports `error`, `ffmpeg`.
//! - `audio`: audio decoding, mono downmix, 16 kHz resampling and grid (`grid_index`); imports `error`, `ffmpeg`.
//! - `snippet`: `Snippet`, `AudioState`, `peak`; imports `video`.
//! - `reader`: `open`, `MediaReader` and the snippet assembly; imports all of the above.

#![warn(missing_docs)]

mod error;
mod ffmpeg;

mod audio;
mod probe;
mod video;

mod snippet;

mod reader;

pub use audio::{grid_index, AUDIO_RATE, GAP_TOLERANCE_S};
pub use error::{MediaError, Result};
pub use probe::{probe, AudioStreamInfo, MediaInfo, StreamSummary, VideoStreamInfo};
pub use reader::{
    open, DecodeOptions, DecodeSummary, MediaReader, DEFAULT_SILENCE_THRESHOLD, MAX_SNIPPET_SAMPLES,
};
pub use snippet::{peak, AudioState, Snippet};
pub use video::RgbImage;
