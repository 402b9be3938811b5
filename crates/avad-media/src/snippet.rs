//! Snippets and the rule that cuts the 16 kHz audio per snippet.
//!
//! Snippet `i` is the sampled decoded frame `k = i * stride` plus the audio of its time span:
//! - `start_s` = pts of decoded frame `k` (seconds, stream time axis, may be negative);
//! - `end_s`   = pts of decoded frame `k + stride` when the stream has it; for the last snippet, the pts of the
//!   last decoded frame plus its duration (packet duration, else 1 / average frame rate, else the previous frame
//!   interval, else 0). `end_s` is never below `start_s`.
//! - audio = 16 kHz grid samples `[round(start_s * 16000), round(end_s * 16000))` (see `audio.rs` for the grid):
//!   consecutive snippets tile the grid with no overlap and no hole; parts not covered by decoded audio (before it
//!   starts, after it ends, timestamp gaps) are zeros. So a VFR clip gets audio per snippet proportional to its real
//!   duration, not to 16 / fps.

use crate::video::RgbImage;

/// Whether a video, or one snippet of it, carries sound.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AudioState {
    /// Audio present: peak |sample| above the silence threshold.
    Present,
    /// An audio stream exists but the samples are digital silence (peak |sample| <= threshold), or the snippet lies
    /// outside the decoded audio (zero-filled).
    Silent,
    /// No audio stream (or audio decoding disabled / impossible): `audio` is all zeros and must not be trusted.
    None,
}

impl AudioState {
    /// "present", "silent" or "none" (for reports and CSV/JSON output).
    pub fn as_str(self) -> &'static str {
        match self {
            AudioState::Present => "present",
            AudioState::Silent => "silent",
            AudioState::None => "none",
        }
    }

    /// Classifies samples by their peak absolute value against `threshold`.
    pub fn classify(samples: &[f32], threshold: f32) -> AudioState {
        Self::from_peak(peak(samples), threshold)
    }

    /// `Present` when the peak |sample| `pk` is above `threshold`, else `Silent`.
    pub(crate) fn from_peak(pk: f32, threshold: f32) -> AudioState {
        if pk > threshold {
            AudioState::Present
        } else {
            AudioState::Silent
        }
    }
}

impl std::fmt::Display for AudioState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Peak absolute value of `samples` (0 for an empty slice).
pub fn peak(samples: &[f32]) -> f32 {
    samples.iter().fold(0.0f32, |m, v| m.max(v.abs()))
}

/// One sampled frame with the audio of its time span.
#[derive(Debug, Clone)]
pub struct Snippet {
    /// 0-based snippet number (row of the feature arrays).
    pub index: usize,
    /// Decoded-frame index of the sampled frame (`index * stride`).
    pub frame_index: u64,
    /// Start of the snippet in seconds: the sampled frame's pts (stream time; may be negative).
    pub start_s: f64,
    /// End of the snippet in seconds (see the module docs for the exact rule).
    pub end_s: f64,
    /// The sampled frame as RGB24 [H, W, 3].
    pub frame: RgbImage,
    /// Mono 16 kHz audio of `[start_s, end_s)`; `round(end_s*16000) - round(start_s*16000)` samples.
    pub audio: Vec<f32>,
    /// Audio state of this snippet.
    pub audio_state: AudioState,
    /// Live input only: the wall-clock time at which the sampled frame was decoded (`None` for files).
    pub wall_clock: Option<std::time::SystemTime>,
}
