//! Errors of the media layer; every variant names the file it is about.

use std::path::PathBuf;

/// Result alias of this crate.
pub type Result<T, E = MediaError> = std::result::Result<T, E>;

/// Everything that can go wrong while probing or decoding one media file.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    /// The path does not exist (or cannot be accessed).
    #[error("{path}: file not found ({reason})")]
    NotFound {
        /// The file asked for.
        path: PathBuf,
        /// The operating system's message.
        reason: String,
    },
    /// FFmpeg could not open the file as a media container.
    #[error("{path}: not a media file FFmpeg can read ({reason})")]
    NotMedia {
        /// The file.
        path: PathBuf,
        /// FFmpeg's message.
        reason: String,
    },
    /// The file opens but has no video stream (for example a WAV or an audio-only MP4).
    #[error("{path}: no video stream (streams: {streams})")]
    NoVideoStream {
        /// The file.
        path: PathBuf,
        /// A short list of the streams it does have, e.g. "audio aac".
        streams: String,
    },
    /// The video stream decoded to zero frames.
    #[error(
        "{path}: 0 decodable video frames ({packets} video packets read, {errors} decoder errors)"
    )]
    NoDecodableFrames {
        /// The file.
        path: PathBuf,
        /// Video packets read from the container.
        packets: u64,
        /// Packets or frames the decoder rejected.
        errors: u64,
    },
    /// A decoder could not be created or failed in a way that stops decoding.
    #[error("{path}: {stream} decoder error: {reason}")]
    Decoder {
        /// The file.
        path: PathBuf,
        /// "video" or "audio".
        stream: &'static str,
        /// FFmpeg's message or ours.
        reason: String,
    },
    /// Colour conversion (swscale) or resampling (swresample) failed.
    #[error("{path}: {what} failed: {reason}")]
    Convert {
        /// The file.
        path: PathBuf,
        /// "swscale" or "swresample".
        what: &'static str,
        /// Details.
        reason: String,
    },
    /// A live source stopped delivering data (no packet within `DecodeOptions::read_timeout`) or its connection
    /// failed while reading; the snippets completed before come first.
    #[error("{path}: live stream lost: {reason}")]
    StreamLost {
        /// The source.
        path: PathBuf,
        /// What happened.
        reason: String,
    },
    /// A clip could not be cut or written (`clip.rs`).
    #[error("{path}: cannot write a clip: {reason}")]
    Clip {
        /// The clip's path (or the source, when nothing could be cut).
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// Invalid decode options (e.g. stride 0).
    #[error("invalid decode options: {0}")]
    Options(String),
    /// A decoding thread stopped without reporting (it panicked or could not be spawned).
    #[error("{path}: decoding thread failed: {reason}")]
    Thread {
        /// The file.
        path: PathBuf,
        /// Details.
        reason: String,
    },
}
