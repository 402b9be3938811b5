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
//! # Live sources
//! `rtsp`/`rtsps`/`rtmp`/`http(s)`/`udp`/`tcp`/`srt`/`rtp` URLs, `/dev/video*` and `-` (standard input, e.g. an
//! MPEG-TS pipe) are decoded in **live mode** (`is_live_source`; `DecodeOptions::live` forces it on or off).
//! File input is unchanged by all of this. In live mode:
//! - **One connection**: a single thread demuxes both streams and decodes video and audio (a second connection
//!   for the audio, as files use, would be another RTSP session with another clock).
//! - **Transport and timeouts**: RTSP over TCP (`rtsp_transport=tcp`) with FFmpeg 5.1's socket I/O `timeout`
//!   (microseconds), other protocols with `rw_timeout`; an interrupt callback bounds the open by
//!   `DecodeOptions::open_timeout` (10 s) and every packet read by `read_timeout` (5 s). A source that stalls
//!   for longer ends the reader with `MediaError::StreamLost` (after the snippets already complete), as does one
//!   that ends (FFmpeg reports a server's orderly end and a dropped connection alike); only `-`/`pipe:` end
//!   normally. Dropping the reader interrupts a blocked read at once.
//! - **Live clock** (`live.rs`, constants `LIVE_MAX_JUMP_S`, `LIVE_AUDIO_WAIT_S`): the first decoded video frame
//!   is time 0; video pts continue from it, a jump backwards or forwards by more than 2 s is a discontinuity
//!   that is stitched (the next frame one frame interval on; `DecodeSummary::discontinuities` counts them);
//!   frames without pts are placed by arrival time. Audio is placed by its pts relation to the video (the
//!   video's current source-to-live offset): contiguous within 0.1 s, re-anchored within 2 s (silence for a
//!   hole, overlap dropped), contiguous beyond that. So snippet 0 starts at 0.0, times are strictly increasing,
//!   `end_s` of snippet `i` is `start_s` of snippet `i + 1`, and each snippet's audio is the 16 kHz grid of
//!   exactly its span. A finished snippet waits for its audio until the video is 1 s past its end.
//! - **Mapping to the source and the wall clock**: `MediaReader::live_start` (after the first snippet) gives the
//!   source pts of live time 0 (video and audio) and the wall-clock time of the first frame; every snippet
//!   carries the wall-clock time its frame was decoded (`Snippet::wall_clock`).
//! - `/dev/video*` is opened with FFmpeg's V4L2 demuxer (`video4linux2`, from libavdevice) at the device's
//!   default format, size and rate, under the same open and read timeouts as a network source.
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
//! - `ffmpeg`: FFmpeg glue (init, opening inputs, live inputs with options and an interrupt, timestamp
//!   conversion, demuxing one stream, codec contexts, display matrix); imports `error`.
//! - `probe`: `probe` and the header types; imports `error`, `ffmpeg`.
//! - `video`: video decoding, RGB conversion, `RgbImage`, autorotation; imports `error`, `ffmpeg`.
//! - `audio`: audio decoding, mono downmix, 16 kHz resampling and grid (`grid_index`); imports `error`, `ffmpeg`.
//! - `live`: the live clock (`VideoClock`, `AudioClock`) turning source pts into live time; imports `audio`.
//! - `snippet`: `Snippet`, `AudioState`, `peak`; imports `video`.
//! - `reader`: `open`, `MediaReader`, the snippet assembly and the live decoding loop; imports all of the above.
//! - `fuzzing` (feature `fuzzing`, off by default): the fuzz target `media_snippets`' entry point, driving the
//!   snippet and timestamp logic of `reader` and `live` with synthetic decoder outputs; imports all of the above.

#![warn(missing_docs)]

mod error;
mod ffmpeg;

mod audio;
mod probe;
mod video;

mod clip;
mod live;
mod snippet;

mod reader;

#[cfg(feature = "fuzzing")]
pub mod fuzzing;

pub use audio::{grid_index, AUDIO_RATE, AUDIO_RATES, GAP_TOLERANCE_S};
pub use clip::{clip_from_file, ClipInfo, RecordOptions, Recorder};
pub use error::{MediaError, Result};
pub use ffmpeg::{is_live_source, DEFAULT_OPEN_TIMEOUT, DEFAULT_READ_TIMEOUT};
pub use live::LIVE_MAX_JUMP_S;
pub use probe::{probe, AudioStreamInfo, MediaInfo, StreamSummary, VideoStreamInfo};
pub use reader::{
    open, DecodeOptions, DecodeSummary, LiveStart, MediaReader, DEFAULT_SILENCE_THRESHOLD,
    LIVE_AUDIO_WAIT_S, MAX_HELD_SAMPLES, MAX_SNIPPET_SAMPLES,
};
pub use snippet::{peak, AudioState, Snippet};
pub use video::RgbImage;
