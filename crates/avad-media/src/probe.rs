//! `probe`: what a media file contains (streams, duration, frame rates), read from the container header only.

use std::path::{Path, PathBuf};

use ff::ffi;
use ff::format::stream::Disposition;
use ff::media::Type;
use ffmpeg_next as ff;

use crate::error::Result;
use crate::ffmpeg::{
    cstr_opt, display_matrix, dur2s, is_live_source, media_type_name, open_input, open_input_live,
    q2f, ts2s, DEFAULT_OPEN_TIMEOUT, DEFAULT_READ_TIMEOUT,
};

/// Summary of one stream of a container.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamSummary {
    /// Index of the stream in the container.
    pub index: usize,
    /// "video", "audio", "subtitle", "data", "attachment" or "unknown".
    pub kind: &'static str,
    /// FFmpeg codec name, e.g. "h264".
    pub codec: String,
    /// True for cover art / attached pictures (never used as the video stream).
    pub attached_picture: bool,
}

/// Header information about the video stream that `open` decodes.
#[derive(Debug, Clone, PartialEq)]
pub struct VideoStreamInfo {
    /// Index of the stream in the container.
    pub index: usize,
    /// FFmpeg codec name, e.g. "h264", "vp8".
    pub codec: String,
    /// Coded width in pixels (0 when unknown).
    pub width: u32,
    /// Coded height in pixels (0 when unknown).
    pub height: u32,
    /// Pixel format name as FFmpeg reports it, e.g. "yuv420p" (`None` when unknown).
    pub pixel_format: Option<String>,
    /// Colour matrix tag, e.g. "bt709", "smpte170m" (`None` when unspecified).
    pub color_space: Option<String>,
    /// Colour range tag: "tv" (limited) or "pc" (full); `None` when unspecified.
    pub color_range: Option<String>,
    /// Stream time base as (numerator, denominator).
    pub time_base: (i32, i32),
    /// Average frame rate from the header (`None` when 0/0, as in many WebM files).
    pub avg_fps: Option<f64>,
    /// "Real base frame rate" (`r_frame_rate`); meaningless on VFR input (e.g. 90000).
    pub r_fps: Option<f64>,
    /// Frame count stored in the header (`None` when absent, as in MKV/WebM); count while decoding instead.
    pub header_frames: Option<u64>,
    /// Stream start time in seconds (`None` when unknown); may be negative.
    pub start_time_s: Option<f64>,
    /// Stream duration in seconds (`None` when unknown).
    pub duration_s: Option<f64>,
    /// Display rotation in degrees from the stream's display matrix (0, 90, 180, 270, or another angle); with
    /// `DecodeOptions::autorotate` the sampled frames are turned upright like the ffmpeg CLI does.
    pub rotation_deg: i32,
}

/// Header information about the audio stream that `open` decodes.
#[derive(Debug, Clone, PartialEq)]
pub struct AudioStreamInfo {
    /// Index of the stream in the container.
    pub index: usize,
    /// FFmpeg codec name, e.g. "aac", "pcm_s16le".
    pub codec: String,
    /// Sample rate in Hz (0 when unknown).
    pub sample_rate: u32,
    /// Number of channels.
    pub channels: u16,
    /// Stream start time in seconds (`None` when unknown); may be negative.
    pub start_time_s: Option<f64>,
    /// Stream duration in seconds (`None` when unknown).
    pub duration_s: Option<f64>,
}

/// What `probe` learns from a file's header, without decoding.
#[derive(Debug, Clone, PartialEq)]
pub struct MediaInfo {
    /// The file probed.
    pub path: PathBuf,
    /// Container format name(s) as FFmpeg reports them, e.g. "mov,mp4,m4a,3gp,3g2,mj2".
    pub format: String,
    /// Container duration in seconds (`None` when the container does not say, e.g. live WebM).
    pub duration_s: Option<f64>,
    /// Container start time in seconds (`None` when unknown).
    pub start_time_s: Option<f64>,
    /// Every stream of the container.
    pub streams: Vec<StreamSummary>,
    /// The video stream `open` would decode (FFmpeg's best non-cover-art video stream).
    pub video: Option<VideoStreamInfo>,
    /// The audio stream `open` would decode (FFmpeg's best audio stream, related to the video one).
    pub audio: Option<AudioStreamInfo>,
    /// True when the input was opened as a live source (`DecodeOptions::live`; see the `live` rules in the crate
    /// docs): snippet times are then live time from 0, and `MediaReader::live_start` maps them to the source.
    pub live: bool,
}

impl MediaInfo {
    /// True when the file has an audio stream that `open` will decode.
    pub fn has_audio(&self) -> bool {
        self.audio.is_some()
    }

    /// A short human list of the streams, e.g. "video h264, audio aac".
    pub fn stream_list(&self) -> String {
        if self.streams.is_empty() {
            return "none".to_string();
        }
        self.streams
            .iter()
            .map(|s| format!("{} {}", s.kind, s.codec))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Chooses the video and audio stream indices the way `open` does.
fn pick_streams(ictx: &ff::format::context::Input) -> (Option<usize>, Option<usize>) {
    let is_pic =
        |s: &ff::format::stream::Stream| s.disposition().contains(Disposition::ATTACHED_PIC);
    let mut video = ictx
        .streams()
        .best(Type::Video)
        .filter(|s| !is_pic(s))
        .map(|s| s.index());
    if video.is_none() {
        video = ictx
            .streams()
            .find(|s| s.parameters().medium() == Type::Video && !is_pic(s))
            .map(|s| s.index());
    }
    let audio = ictx.streams().best(Type::Audio).map(|s| s.index());
    (video, audio)
}

fn video_info(s: &ff::format::stream::Stream) -> VideoStreamInfo {
    let par = s.parameters();
    // SAFETY: `par` wraps a valid AVCodecParameters owned by the stream.
    let (w, h, fmt, cs, cr) = unsafe {
        let p = &*par.as_ptr();
        (p.width, p.height, p.format, p.color_space, p.color_range)
    };
    let pixel_format = if fmt < 0 {
        None
    } else {
        // SAFETY: `fmt` is a valid AVPixelFormat value written by libavformat.
        cstr_opt(unsafe {
            ffi::av_get_pix_fmt_name(std::mem::transmute::<i32, ffi::AVPixelFormat>(fmt))
        })
    };
    let color_space = if cs == ffi::AVColorSpace::AVCOL_SPC_UNSPECIFIED {
        None
    } else {
        // SAFETY: returns a static string or NULL.
        cstr_opt(unsafe { ffi::av_color_space_name(cs) })
    };
    let color_range = if cr == ffi::AVColorRange::AVCOL_RANGE_UNSPECIFIED {
        None
    } else {
        // SAFETY: returns a static string or NULL.
        cstr_opt(unsafe { ffi::av_color_range_name(cr) })
    };
    let tb = s.time_base();
    VideoStreamInfo {
        index: s.index(),
        codec: par.id().name().to_string(),
        width: w.max(0) as u32,
        height: h.max(0) as u32,
        pixel_format,
        color_space,
        color_range,
        time_base: (tb.numerator(), tb.denominator()),
        avg_fps: q2f(s.avg_frame_rate()),
        r_fps: q2f(s.rate()),
        header_frames: (s.frames() > 0).then_some(s.frames() as u64),
        start_time_s: ts2s(s.start_time(), tb),
        duration_s: dur2s(s.duration(), tb),
        rotation_deg: display_matrix(s).map_or(0, |d| d.rotation_deg as i32),
    }
}

fn audio_info(s: &ff::format::stream::Stream) -> AudioStreamInfo {
    let par = s.parameters();
    // SAFETY: `par` wraps a valid AVCodecParameters owned by the stream.
    let (rate, channels) = unsafe {
        let p = &*par.as_ptr();
        (p.sample_rate, p.channels)
    };
    let tb = s.time_base();
    AudioStreamInfo {
        index: s.index(),
        codec: par.id().name().to_string(),
        sample_rate: rate.max(0) as u32,
        channels: channels.clamp(0, i32::from(u16::MAX)) as u16,
        start_time_s: ts2s(s.start_time(), tb),
        duration_s: dur2s(s.duration(), tb),
    }
}

/// Builds a `MediaInfo` from an opened container.
pub(crate) fn info_from_input(path: &Path, ictx: &ff::format::context::Input) -> MediaInfo {
    let (v, a) = pick_streams(ictx);
    let streams = ictx
        .streams()
        .map(|s| StreamSummary {
            index: s.index(),
            kind: media_type_name(s.parameters().medium()),
            codec: s.parameters().id().name().to_string(),
            attached_picture: s.disposition().contains(Disposition::ATTACHED_PIC),
        })
        .collect();
    let us = ff::Rational::new(1, ffi::AV_TIME_BASE);
    // SAFETY: the format context is valid while `ictx` lives.
    let start = unsafe { (*ictx.as_ptr()).start_time };
    MediaInfo {
        path: path.to_path_buf(),
        format: ictx.format().name().to_string(),
        duration_s: dur2s(ictx.duration(), us),
        start_time_s: ts2s(start, us),
        streams,
        video: v.and_then(|i| ictx.stream(i)).map(|s| video_info(&s)),
        audio: a.and_then(|i| ictx.stream(i)).map(|s| audio_info(&s)),
        live: false,
    }
}

/// Reads the header of `path` and describes its streams, without decoding any frame.
///
/// Fails with `NotFound` or `NotMedia`; an audio-only file probes fine (`video` is `None`). A live source (see
/// `DecodeOptions::live`) is opened with the live options and the default timeouts, and `live` is set.
pub fn probe(path: impl AsRef<Path>) -> Result<MediaInfo> {
    let path = path.as_ref();
    if is_live_source(path) {
        let (ictx, _io) = open_input_live(path, DEFAULT_OPEN_TIMEOUT, DEFAULT_READ_TIMEOUT)?;
        let mut info = info_from_input(path, &ictx);
        info.live = true;
        return Ok(info);
    }
    let ictx = open_input(path)?;
    Ok(info_from_input(path, &ictx))
}
