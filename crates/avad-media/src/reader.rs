//! `open` and `MediaReader`: decoding runs on its own threads (one for video + snippet assembly, one for audio)
//! and hands finished snippets through a bounded channel, so a consumer (the encoders) finds the next snippet ready
//! while it works on the current one.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, Receiver, RecvError, SyncSender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use ffmpeg_next as ff;

use crate::audio::{frame_to_mono, grid_index, run_audio_thread, AudioMsg, Resampler};
use crate::clip::{RecordOptions, Recorder};
use crate::error::{MediaError, Result};
use crate::ffmpeg::{
    codec_context, is_live_source, keep_stream, open_input, open_input_live, ts2s, LiveIo,
    DEFAULT_OPEN_TIMEOUT, DEFAULT_READ_TIMEOUT,
};
use crate::live::{AudioClock, AudioPlace, VideoClock};
use crate::probe::{info_from_input, MediaInfo};
use crate::snippet::{peak, AudioState, Snippet};
use crate::video::{FrameTime, RgbConverter, RgbImage, VideoDecoder};

/// Longest audio cut for one snippet (10 minutes of 16 kHz samples): a corrupt timestamp jump must not allocate
/// gigabytes of silence. Longer snippets keep their `end_s` but get only this many samples.
pub const MAX_SNIPPET_SAMPLES: usize = 16_000 * 600;

/// Most 16 kHz samples the snippet assembler holds (20 minutes, 77 MB): a live source whose audio runs far ahead
/// of its video (or whose video stalls while audio flows, or whose audio frames claim absurd lengths) loses its
/// oldest held audio rather than growing without bound. Files never get near it (their audio is read only as far
/// as the snippet being cut).
pub const MAX_HELD_SAMPLES: usize = 2 * MAX_SNIPPET_SAMPLES;

/// Default silence threshold: a peak |sample| at or below 1e-4 (-80 dBFS, about 3 LSB of 16-bit audio) is
/// digital silence. The silent track of `intel_car-detection.mp4` decodes to exactly 0.
pub const DEFAULT_SILENCE_THRESHOLD: f32 = 1e-4;

/// How to sample and decode a file.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodeOptions {
    /// Keep every `stride`-th decoded frame (16 for XD-Violence / UCF-Crime, 4 for CCTV-Fights). Must be >= 1.
    pub stride: usize,
    /// Stop after this many snippets (`None`: the whole file).
    pub max_snippets: Option<usize>,
    /// Snippets decoded ahead of the consumer (bounded channel capacity, >= 1).
    pub queue: usize,
    /// Peak |sample| at or below which audio counts as `Silent`.
    pub silence_threshold: f32,
    /// Decode the audio stream (false: every snippet has empty audio and state `None`).
    pub audio: bool,
    /// Video decoder threads (0: FFmpeg chooses, one per core).
    pub threads: usize,
    /// Turn frames upright by the stream's display matrix (90/180/270 degrees, flips), as the ffmpeg CLI does.
    pub autorotate: bool,
    /// Live mode (see the crate docs, "Live sources"): `None` decides from the input (`rtsp`, `rtsps`, `rtmp`,
    /// `http`, `https`, `udp`, `tcp`, `srt`, `rtp` URLs, `/dev/video*`, `-` for standard input, `pipe:`);
    /// `Some(true)` forces it (e.g. a growing file), `Some(false)` decodes a URL like a file (e.g. a finished
    /// recording over HTTP, keeping its own timestamps).
    pub live: Option<bool>,
    /// Live mode: longest wait for the source to open (connect and stream analysis).
    pub open_timeout: Duration,
    /// Live mode: longest wait for the next packet; a stalled or vanished source then ends the reader with
    /// `MediaError::StreamLost`.
    pub read_timeout: Duration,
    /// Live mode: keep the source's encoded packets for clips (`MediaReader::recorder`, `clip.rs`); ignored for
    /// files (cut clips from the file with `clip_from_file`).
    pub record: Option<RecordOptions>,
}

impl Default for DecodeOptions {
    fn default() -> Self {
        DecodeOptions {
            stride: 16,
            max_snippets: None,
            queue: 4,
            silence_threshold: DEFAULT_SILENCE_THRESHOLD,
            audio: true,
            threads: 0,
            autorotate: true,
            live: None,
            open_timeout: DEFAULT_OPEN_TIMEOUT,
            read_timeout: DEFAULT_READ_TIMEOUT,
            record: None,
        }
    }
}

impl DecodeOptions {
    /// Defaults with another stride (e.g. 4 for CCTV-Fights).
    pub fn with_stride(stride: usize) -> Self {
        DecodeOptions {
            stride,
            ..Self::default()
        }
    }
}

/// Per-file results known once the reader is exhausted.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodeSummary {
    /// Video frames decoded (all of them, not only the sampled ones; fewer when `max_snippets` stopped early).
    pub decoded_frames: u64,
    /// Snippets produced.
    pub snippets: usize,
    /// True when decoding stopped at `max_snippets` before the end of the stream.
    pub truncated: bool,
    /// Video packets read.
    pub video_packets: u64,
    /// Non-fatal video decoder errors (rejected packets or frames).
    pub video_errors: u64,
    /// Non-fatal audio decoder errors (known only when the audio thread reached its end before the last snippet).
    pub audio_errors: u64,
    /// Fatal audio error, if the audio stream could not be decoded (its snippets then have state `None`).
    pub audio_error: Option<String>,
    /// Audio state of the whole video: `None` without audio, `Present` if any snippet is present, else `Silent`.
    pub audio_state: AudioState,
    /// Peak |sample| over all snippets' audio.
    pub audio_peak: f32,
    /// Live mode: video timestamp discontinuities stitched (see the crate docs); always 0 for files.
    pub discontinuities: u64,
}

/// Where live time 0 lies in the source: the first decoded video frame. `MediaReader::live_start`.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveStart {
    /// Source pts (seconds, as FFmpeg reports them) at live time 0: the first decoded video frame's, or, when
    /// that frame had none (the first RTP frame often has none), the one implied by the first frame with a pts
    /// (its pts minus its live time). `None` only when no frame had a pts.
    pub video_start_pts_s: Option<f64>,
    /// Source pts of the first decoded audio frame, `None` without audio (or none by the first snippet).
    pub audio_start_pts_s: Option<f64>,
    /// Wall-clock time at which the first video frame was decoded: live time `t` happened at about
    /// `wall_clock + t` (the source's own clock may drift from the wall clock; each snippet carries its own
    /// `Snippet::wall_clock` too).
    pub wall_clock: SystemTime,
}

/// Messages from the video thread to the reader.
pub(crate) enum Msg {
    Live(LiveStart),
    Snippet(Box<Snippet>),
    Done(DecodeSummary),
    Failed(MediaError),
}

/// An open media file being decoded in the background; iterate it for `Result<Snippet>` in order.
///
/// After the last snippet the iterator ends (`None`); errors that stop decoding (e.g. `NoDecodableFrames`) come as
/// one `Err` item before that. `summary()` is available once iteration has ended normally.
pub struct MediaReader {
    info: MediaInfo,
    live_start: Option<LiveStart>,
    recorder: Option<Recorder>,
    io: Option<LiveIo>,
    rx: Receiver<Msg>,
    summary: Option<DecodeSummary>,
    finished: bool,
    video: Option<JoinHandle<()>>,
    audio: Option<JoinHandle<()>>,
}

impl MediaReader {
    /// Header information of the file (from `probe`).
    pub fn info(&self) -> &MediaInfo {
        &self.info
    }

    /// Live mode: where live time 0 lies in the source and on the wall clock; `Some` once the first snippet has
    /// been returned (always `None` for files).
    pub fn live_start(&self) -> Option<&LiveStart> {
        self.live_start.as_ref()
    }

    /// Live mode with `DecodeOptions::record`: the ring of the source's encoded packets that clips are cut from.
    pub fn recorder(&self) -> Option<&Recorder> {
        self.recorder.as_ref()
    }

    /// Per-file results; `Some` only after the iterator has returned `None` following a successful decode.
    pub fn summary(&self) -> Option<&DecodeSummary> {
        self.summary.as_ref()
    }

    /// Reads every snippet, returning them with the summary (convenience for tests and small files).
    pub fn collect_all(mut self) -> Result<(Vec<Snippet>, DecodeSummary)> {
        let mut v = Vec::new();
        for s in self.by_ref() {
            v.push(s?);
        }
        let path = self.info.path.clone();
        let summary = self.summary.take().ok_or_else(|| MediaError::Thread {
            path,
            reason: "decoding ended without a summary".into(),
        })?;
        Ok((v, summary))
    }

    fn join(&mut self) -> Option<String> {
        let mut err = None;
        for h in [self.video.take(), self.audio.take()].into_iter().flatten() {
            if h.join().is_err() {
                err = Some("a decoding thread panicked".to_string());
            }
        }
        err
    }
}

impl Iterator for MediaReader {
    type Item = Result<Snippet>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.finished {
            return None;
        }
        let mut msg = self.rx.recv();
        while let Ok(Msg::Live(start)) = msg {
            self.live_start = Some(start);
            msg = self.rx.recv();
        }
        match msg {
            Ok(Msg::Live(_)) => unreachable!("handled above"),
            Ok(Msg::Snippet(s)) => Some(Ok(*s)),
            Ok(Msg::Done(summary)) => {
                self.finished = true;
                self.summary = Some(summary);
                self.join();
                None
            }
            Ok(Msg::Failed(e)) => {
                self.finished = true;
                self.join();
                Some(Err(e))
            }
            Err(RecvError) => {
                self.finished = true;
                let reason = self
                    .join()
                    .unwrap_or_else(|| "decoding thread ended without a result".into());
                Some(Err(MediaError::Thread {
                    path: self.info.path.clone(),
                    reason,
                }))
            }
        }
    }
}

impl Drop for MediaReader {
    fn drop(&mut self) {
        // A live decoding thread may be waiting for the network: interrupt it (it then sees the reader is gone).
        if let Some(io) = &self.io {
            io.cancel();
        }
    }
}

/// Opens `path`, checks it has a video stream and a working video decoder, and starts decoding in the background.
///
/// Errors here: `NotFound`, `NotMedia`, `NoVideoStream` (audio-only files, WAV), `Decoder` (no decoder for the
/// codec), `Options`. Errors found while decoding (e.g. `NoDecodableFrames`) come from the iterator.
pub fn open(path: impl AsRef<Path>, opts: &DecodeOptions) -> Result<MediaReader> {
    let path = path.as_ref();
    if opts.stride == 0 {
        return Err(MediaError::Options("stride must be >= 1".into()));
    }
    if opts.max_snippets == Some(0) {
        return Err(MediaError::Options("max_snippets must be >= 1".into()));
    }
    if opts.silence_threshold.is_nan() || opts.silence_threshold < 0.0 {
        return Err(MediaError::Options("silence_threshold must be >= 0".into()));
    }
    if opts.live.unwrap_or_else(|| is_live_source(path)) {
        return open_live(path, opts);
    }
    let ictx = open_input(path)?;
    let info = info_from_input(path, &ictx);
    let Some(video) = info.video.as_ref() else {
        return Err(MediaError::NoVideoStream {
            path: path.to_path_buf(),
            streams: info.stream_list(),
        });
    };
    let decoder = VideoDecoder::new(path, ictx, video.index, opts.threads, opts.autorotate)?;
    let container_end_s = match (info.start_time_s, info.duration_s) {
        (Some(s), Some(d)) => Some(s + d),
        (None, Some(d)) => Some(d),
        _ => None,
    };

    let (audio_rx, audio_handle) = match (&info.audio, opts.audio) {
        (Some(a), true) => {
            let (tx, rx) = sync_channel::<AudioMsg>(64);
            let p = path.to_path_buf();
            let idx = a.index;
            let h = spawn("avad-media-audio", path, move || {
                run_audio_thread(p, idx, tx)
            })?;
            (Some(rx), Some(h))
        }
        _ => (None, None),
    };

    let (tx, rx) = sync_channel::<Msg>(opts.queue.max(1));
    let o = opts.clone();
    let video_handle = spawn("avad-media-video", path, move || {
        run_video_thread(decoder, audio_rx, o, container_end_s, tx)
    })?;

    Ok(MediaReader {
        info,
        live_start: None,
        recorder: None,
        io: None,
        rx,
        summary: None,
        finished: false,
        video: Some(video_handle),
        audio: audio_handle,
    })
}

/// Starts a named decoding thread for `path`; failing to spawn it is a `Thread` error.
fn spawn(name: &str, path: &Path, f: impl FnOnce() + Send + 'static) -> Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name(name.into())
        .spawn(f)
        .map_err(|e| MediaError::Thread {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })
}

/// The 16 kHz audio received so far, as segments on the grid (holes between segments are silence).
pub(crate) struct AudioBuffer {
    rx: Option<Receiver<AudioMsg>>,
    pub(crate) segments: VecDeque<(i64, Vec<f32>)>,
    /// Samples in `segments`, at most `max_held` (`MAX_HELD_SAMPLES`; the fuzz target uses less).
    pub(crate) held: usize,
    pub(crate) max_held: usize,
    /// Grid index after the last received sample (`None` before the first anchor).
    pub(crate) write: Option<i64>,
    /// Incoming samples still to drop because they overlap audio already received.
    skip: usize,
    pub(crate) ended: bool,
    received: u64,
    errors: u64,
    fatal: Option<String>,
}

impl AudioBuffer {
    pub(crate) fn new(rx: Option<Receiver<AudioMsg>>) -> Self {
        let ended = rx.is_none();
        AudioBuffer {
            rx,
            segments: VecDeque::new(),
            held: 0,
            max_held: MAX_HELD_SAMPLES,
            write: None,
            skip: 0,
            ended,
            received: 0,
            errors: 0,
            fatal: None,
        }
    }

    pub(crate) fn handle(&mut self, m: AudioMsg) {
        match m {
            AudioMsg::Anchor(g) => match self.write {
                Some(w) if g < w => {
                    // Hostile timestamps may put `g` anywhere in i64: the overlap saturates (everything that
                    // follows is dropped until the audio is past `w` again).
                    let overlap = w.abs_diff(g);
                    self.skip = usize::try_from(overlap).unwrap_or(usize::MAX);
                    self.segments.push_back((w, Vec::new()));
                }
                _ => {
                    self.skip = 0;
                    self.segments.push_back((g, Vec::new()));
                    self.write = Some(g);
                }
            },
            AudioMsg::Samples(mut s) => {
                let drop = self.skip.min(s.len());
                self.skip -= drop;
                s.drain(..drop);
                if s.is_empty() {
                    return;
                }
                self.received = self.received.saturating_add(s.len() as u64);
                if let (Some(w), Some(last)) = (self.write.as_mut(), self.segments.back_mut()) {
                    // The grid ends at i64::MAX (an anchor near it comes only from an absurd pts): samples past
                    // it are dropped, so `start + len` of a segment never overflows.
                    let room = usize::try_from(i64::MAX.abs_diff(*w)).unwrap_or(usize::MAX);
                    let n = s.len().min(room);
                    *w += n as i64;
                    last.1.extend_from_slice(&s[..n]);
                    self.held += n;
                    self.trim();
                }
            }
            AudioMsg::End { errors, fatal } => {
                self.errors = errors;
                self.fatal = fatal;
                self.ended = true;
            }
        }
    }

    /// Drops the oldest held samples beyond `max_held` (the last segment keeps ending at `write`).
    fn trim(&mut self) {
        while self.held > self.max_held {
            let excess = self.held - self.max_held;
            let is_last = self.segments.len() == 1;
            let Some((start, data)) = self.segments.front_mut() else {
                break;
            };
            if !is_last && data.len() <= excess {
                self.held -= data.len();
                self.segments.pop_front();
                continue;
            }
            let cut = excess.min(data.len());
            data.drain(..cut);
            *start = start.saturating_add(cut as i64);
            self.held -= cut;
            if cut == 0 {
                break;
            }
        }
    }

    /// A buffer fed directly with `handle` (live mode: audio decoded in the same thread as the video).
    pub(crate) fn live(has_audio: bool) -> Self {
        let mut b = AudioBuffer::new(None);
        b.ended = !has_audio;
        b
    }

    /// True when the audio stream failed before delivering any sample (its snippets then have state `None`).
    fn failed(&self) -> bool {
        self.received == 0 && self.fatal.is_some()
    }

    /// Blocks until the audio covers grid index `e` (exclusive) or the audio stream has ended.
    pub(crate) fn wait_until(&mut self, e: i64) {
        while !self.ended && self.write.is_none_or(|w| w < e) {
            let msg = match self.rx.as_ref().map(|rx| rx.recv()) {
                Some(Ok(m)) => m,
                _ => AudioMsg::End {
                    errors: self.errors,
                    fatal: Some("audio thread stopped unexpectedly".into()),
                },
            };
            self.handle(msg);
        }
    }

    /// Copies grid `[s, e)` (zeros where no audio) and forgets everything before `e`.
    ///
    /// The caller bounds `e - s` (`Assembler::emit`: at most `MAX_SNIPPET_SAMPLES`); an `e` below `s` gives nothing.
    /// Arithmetic is in `i128`/checked form, since hostile timestamps put grid indices anywhere in `i64`.
    pub(crate) fn take(&mut self, s: i64, e: i64) -> Vec<f32> {
        let len = usize::try_from(i128::from(e) - i128::from(s)).unwrap_or(0);
        let mut out = vec![0.0f32; len];
        for (start, data) in &self.segments {
            let seg_end = seg_end(*start, data);
            let lo = s.max(*start);
            let hi = e.min(seg_end);
            if lo < hi {
                let src = &data[grid_dist(*start, lo)..grid_dist(*start, hi)];
                out[grid_dist(s, lo)..grid_dist(s, hi)].copy_from_slice(src);
            }
        }
        // Forget samples before `e` (the next snippet starts there).
        loop {
            let is_last = self.segments.len() == 1;
            let Some((start, data)) = self.segments.front_mut() else {
                break;
            };
            let end = seg_end(*start, data);
            if end <= e && !is_last {
                self.held -= data.len();
                self.segments.pop_front();
            } else {
                if *start < e {
                    let cut = grid_dist(*start, e).min(data.len());
                    data.drain(..cut);
                    *start = start.saturating_add(cut as i64);
                    self.held -= cut;
                }
                break;
            }
        }
        out
    }
}

/// Grid index after the last sample of a segment starting at `start` (saturating: `handle` keeps it in range).
fn seg_end(start: i64, data: &[f32]) -> i64 {
    start.saturating_add(i64::try_from(data.len()).unwrap_or(i64::MAX))
}

/// Number of grid samples from `a` to `b` (`a <= b`, and the caller knows the distance fits a slice).
fn grid_dist(a: i64, b: i64) -> usize {
    usize::try_from(b.abs_diff(a)).unwrap_or(usize::MAX)
}

/// A sampled frame waiting for its end time.
pub(crate) struct Pending {
    pub(crate) frame_index: u64,
    pub(crate) start_s: f64,
    pub(crate) image: RgbImage,
    /// Live mode: when the frame was decoded.
    pub(crate) wall_clock: Option<SystemTime>,
}

pub(crate) struct Assembler {
    pub(crate) path: PathBuf,
    pub(crate) tx: SyncSender<Msg>,
    pub(crate) audio: AudioBuffer,
    pub(crate) has_audio: bool,
    pub(crate) threshold: f32,
    pub(crate) emitted: usize,
    pub(crate) any_present: bool,
    pub(crate) peak: f32,
    /// Live mode: the audio is fed in the same thread, so `emit` must not wait for it.
    pub(crate) live: bool,
    /// Longest audio cut per snippet: `MAX_SNIPPET_SAMPLES` (the fuzz target uses less, to stay fast).
    pub(crate) max_samples: usize,
}

impl Assembler {
    /// Sends the summary of a decode that ended normally: `n` frames decoded, `truncated` by `max_snippets`.
    fn done(&self, n: u64, truncated: bool, dec: &VideoDecoder, discontinuities: u64) {
        let audio_state = if !self.has_audio || self.audio.failed() {
            AudioState::None
        } else if self.any_present {
            AudioState::Present
        } else {
            AudioState::Silent
        };
        let summary = DecodeSummary {
            decoded_frames: n,
            snippets: self.emitted,
            truncated,
            video_packets: dec.packets,
            video_errors: dec.errors,
            audio_errors: self.audio.errors,
            audio_error: self.audio.fatal.clone(),
            audio_state,
            audio_peak: self.peak,
            discontinuities,
        };
        let _ = self.tx.send(Msg::Done(summary));
    }

    /// Cuts the audio of `p` up to `end_s` and sends the snippet; `false` when the reader is gone.
    pub(crate) fn emit(&mut self, p: Pending, end_s: f64) -> bool {
        let end_s = if end_s.is_finite() && end_s > p.start_s {
            end_s
        } else {
            p.start_s
        };
        let s = grid_index(p.start_s);
        let e = grid_index(end_s).clamp(s, s.saturating_add(self.max_samples as i64));
        let (audio, state) = if self.has_audio {
            if !self.live {
                self.audio.wait_until(e);
            }
            let a = self.audio.take(s, e);
            if self.audio.failed() {
                (a, AudioState::None)
            } else {
                let pk = peak(&a);
                self.peak = self.peak.max(pk);
                let st = AudioState::from_peak(pk, self.threshold);
                self.any_present |= st == AudioState::Present;
                (a, st)
            }
        } else {
            (Vec::new(), AudioState::None)
        };
        let snippet = Snippet {
            index: self.emitted,
            frame_index: p.frame_index,
            start_s: p.start_s,
            end_s,
            frame: p.image,
            audio,
            audio_state: state,
            wall_clock: p.wall_clock,
        };
        self.emitted += 1;
        self.tx.send(Msg::Snippet(Box::new(snippet))).is_ok()
    }

    fn fail(&self, e: MediaError) {
        let _ = self.tx.send(Msg::Failed(e));
    }
}

fn run_video_thread(
    mut dec: VideoDecoder,
    audio_rx: Option<Receiver<AudioMsg>>,
    o: DecodeOptions,
    container_end_s: Option<f64>,
    tx: SyncSender<Msg>,
) {
    let path = dec.path().to_path_buf();
    let has_audio = audio_rx.is_some();
    let mut asm = Assembler {
        path: path.clone(),
        tx,
        audio: AudioBuffer::new(audio_rx),
        has_audio,
        threshold: o.silence_threshold,
        emitted: 0,
        any_present: false,
        peak: 0.0,
        live: false,
        max_samples: MAX_SNIPPET_SAMPLES,
    };
    let mut conv = RgbConverter::new();
    let stride = o.stride as u64;
    let mut n: u64 = 0;
    let mut pending: Option<Pending> = None;
    let mut last: Option<FrameTime> = None;
    let mut prev_interval: Option<f64> = None;
    let mut truncated = false;
    loop {
        let (frame, t) = match dec.next_frame() {
            Ok(Some(x)) => x,
            Ok(None) => break,
            Err(e) => return asm.fail(e),
        };
        if n.is_multiple_of(stride) {
            if let Some(p) = pending.take() {
                if !asm.emit(p, t.pts_s) {
                    return;
                }
                if o.max_snippets.is_some_and(|m| asm.emitted >= m) {
                    truncated = true;
                    break;
                }
            }
            match conv.convert(frame) {
                Ok(image) => {
                    let image = dec.orientation().apply(image);
                    pending = Some(Pending {
                        frame_index: n,
                        start_s: t.pts_s,
                        image,
                        wall_clock: None,
                    })
                }
                Err(reason) => {
                    return asm.fail(MediaError::Convert {
                        path: asm.path.clone(),
                        what: "swscale",
                        reason: format!("frame {n}: {reason}"),
                    })
                }
            }
        }
        if let Some(l) = last {
            let d = t.pts_s - l.pts_s;
            if d > 0.0 {
                prev_interval = Some(d);
            }
        }
        last = Some(t);
        n += 1;
    }
    if let (Some(p), Some(l)) = (pending.take(), last) {
        // Last frame's duration: packet duration, else 1 / average fps, else the previous frame interval, else
        // what is left of the container duration (single-frame WebM), else 0.
        let dur = l
            .duration_s
            .or(dec.nominal_frame_s())
            .or(prev_interval)
            .or(container_end_s.map(|e| e - l.pts_s).filter(|d| *d > 0.0))
            .unwrap_or(0.0);
        if !asm.emit(p, l.pts_s + dur) {
            return;
        }
    }
    if n == 0 {
        return asm.fail(MediaError::NoDecodableFrames {
            path,
            packets: dec.packets,
            errors: dec.errors,
        });
    }
    asm.done(n, truncated, &dec, 0);
}

/// How long (live time) a finished snippet waits for its audio once the video has moved past its end: audio that
/// arrives later than this is not waited for (its part of the snippet stays zero).
pub const LIVE_AUDIO_WAIT_S: f64 = 1.0;

/// Longest stretch of decoded audio kept while no video frame has been decoded yet (its place is unknown).
const LIVE_EARLY_AUDIO_S: f64 = 10.0;

/// `open` for a live source: one demuxer for both streams (a second connection would be another session with
/// another clock), live options and timeouts, and the live clock (`live.rs`).
fn open_live(path: &Path, opts: &DecodeOptions) -> Result<MediaReader> {
    let (ictx, io) = open_input_live(path, opts.open_timeout, opts.read_timeout)?;
    let mut info = info_from_input(path, &ictx);
    info.live = true;
    let Some(video) = info.video.as_ref() else {
        return Err(MediaError::NoVideoStream {
            path: path.to_path_buf(),
            streams: info.stream_list(),
        });
    };
    let mut decoder = VideoDecoder::new(path, ictx, video.index, opts.threads, opts.autorotate)?;
    let audio = match (&info.audio, opts.audio) {
        (Some(a), true) => {
            keep_stream(decoder.input_mut(), a.index);
            Some(LiveAudio::new(decoder.input_mut(), a.index))
        }
        _ => None,
    };
    let recorder = opts.record.map(|r| {
        let audio_index = audio.as_ref().map(|a| a.index);
        Recorder::new(path, decoder.input_mut(), video.index, audio_index, r)
    });
    let (tx, rx) = sync_channel::<Msg>(opts.queue.max(1));
    let o = opts.clone();
    let thread_io = io.clone();
    let thread_recorder = recorder.clone();
    let video_handle = spawn("avad-media-live", path, move || {
        run_live_thread(decoder, audio, thread_io, thread_recorder, o, tx)
    })?;
    Ok(MediaReader {
        info,
        live_start: None,
        recorder,
        io: Some(io),
        rx,
        summary: None,
        finished: false,
        video: Some(video_handle),
        audio: None,
    })
}

/// What the live audio placement needs from a 16 kHz resampler (`audio::Resampler`; the fuzz target uses a model
/// of it, see `fuzzing.rs`).
pub(crate) trait LiveResample: Sized {
    /// A resampler from `rate` Hz to 16 kHz.
    fn create(rate: u32) -> std::result::Result<Self, String>;
    /// Its input rate.
    fn rate(&self) -> u32;
    /// Resamples a chunk.
    fn push_chunk(&mut self, input: &[f32]) -> std::result::Result<Vec<f32>, String>;
    /// Drains what it holds.
    fn drain(&mut self) -> std::result::Result<Vec<f32>, String>;
}

impl LiveResample for Resampler {
    fn create(rate: u32) -> std::result::Result<Self, String> {
        Resampler::new(rate)
    }
    fn rate(&self) -> u32 {
        self.in_rate()
    }
    fn push_chunk(&mut self, input: &[f32]) -> std::result::Result<Vec<f32>, String> {
        self.push(input)
    }
    fn drain(&mut self) -> std::result::Result<Vec<f32>, String> {
        self.flush()
    }
}

/// The placement of a live source's decoded audio on the live clock (`AudioClock`) into the assembler's
/// `AudioBuffer`: everything of `LiveAudio` but the FFmpeg decoder.
pub(crate) struct LiveAudioPlacer<R> {
    clock: AudioClock,
    resampler: Option<R>,
    /// Source pts of the first decoded audio frame.
    pub(crate) first_pts: Option<f64>,
    /// Decoded before the first video frame: (pts, mono samples, rate).
    early: VecDeque<(Option<f64>, Vec<f32>, u32)>,
    early_s: f64,
    pub(crate) errors: u64,
}

impl<R: LiveResample> LiveAudioPlacer<R> {
    pub(crate) fn new() -> Self {
        LiveAudioPlacer {
            clock: AudioClock::default(),
            resampler: None,
            first_pts: None,
            early: VecDeque::new(),
            early_s: 0.0,
            errors: 0,
        }
    }

    /// One decoded frame: `pts` its source pts (seconds), `mono` its samples at `rate` Hz; `offset` the video's
    /// source-to-live offset (`None` before the first video frame: the audio is kept, at most
    /// `LIVE_EARLY_AUDIO_S`, until it is known).
    pub(crate) fn decoded(
        &mut self,
        pts: Option<f64>,
        mono: Vec<f32>,
        rate: u32,
        offset: Option<f64>,
        buf: &mut AudioBuffer,
    ) {
        if !crate::audio::AUDIO_RATES.contains(&rate) {
            self.errors += 1;
            return;
        }
        if mono.is_empty() {
            return;
        }
        let pts = pts.filter(|p| p.is_finite());
        if self.first_pts.is_none() {
            self.first_pts = pts;
        }
        match offset {
            Some(off) => self.place(pts, &mono, rate, off, buf),
            None => {
                self.early_s += mono.len() as f64 / f64::from(rate);
                self.early.push_back((pts, mono, rate));
                while self.early_s > LIVE_EARLY_AUDIO_S {
                    let Some((_, m, r)) = self.early.pop_front() else {
                        break;
                    };
                    self.early_s -= m.len() as f64 / f64::from(r);
                }
            }
        }
    }

    /// Places the audio decoded before the first video frame, once the video clock has an offset.
    pub(crate) fn flush_early(&mut self, offset: f64, buf: &mut AudioBuffer) {
        while let Some((pts, mono, rate)) = self.early.pop_front() {
            self.place(pts, &mono, rate, offset, buf);
        }
        self.early_s = 0.0;
    }

    fn place(
        &mut self,
        pts: Option<f64>,
        mono: &[f32],
        rate: u32,
        offset: f64,
        buf: &mut AudioBuffer,
    ) {
        let dur = mono.len() as f64 / f64::from(rate);
        let (place, start) = self.clock.place(pts, dur, offset);
        let rate_changed = self.resampler.as_ref().is_some_and(|r| r.rate() != rate);
        if matches!(place, AudioPlace::Anchor(_)) || self.resampler.is_none() || rate_changed {
            self.flush_resampler(buf);
            buf.handle(AudioMsg::Anchor(grid_index(start)));
            match R::create(rate) {
                Ok(r) => self.resampler = Some(r),
                Err(_) => {
                    self.errors += 1;
                    return;
                }
            }
        }
        if let Some(r) = self.resampler.as_mut() {
            match r.push_chunk(mono) {
                Ok(out) if !out.is_empty() => buf.handle(AudioMsg::Samples(out)),
                Ok(_) => {}
                Err(_) => self.errors += 1,
            }
        }
    }

    pub(crate) fn flush_resampler(&mut self, buf: &mut AudioBuffer) {
        if let Some(mut r) = self.resampler.take() {
            match r.drain() {
                Ok(tail) if !tail.is_empty() => buf.handle(AudioMsg::Samples(tail)),
                Ok(_) => {}
                Err(_) => self.errors += 1,
            }
        }
    }

    /// The input ended (the decoder is drained): place the early audio, drain the resampler, close the buffer.
    pub(crate) fn finish(&mut self, offset: Option<f64>, buf: &mut AudioBuffer) {
        if let Some(off) = offset {
            self.flush_early(off, buf);
        }
        self.flush_resampler(buf);
        if !buf.ended {
            buf.handle(AudioMsg::End {
                errors: self.errors,
                fatal: None,
            });
        }
    }
}

/// The audio decoder of a live source, fed packet by packet by the live thread, placing its samples on the live
/// clock (`AudioClock`) into the assembler's `AudioBuffer`.
struct LiveAudio {
    index: usize,
    /// `Err`: the decoder could not be opened (the snippets then have audio state `None`).
    dec: std::result::Result<ff::decoder::Audio, String>,
    tb: ff::Rational,
    stream_rate: u32,
    frame: ff::frame::Audio,
    placer: LiveAudioPlacer<Resampler>,
}

impl LiveAudio {
    fn new(ictx: &ff::format::context::Input, index: usize) -> Self {
        let (tb, dec) = match ictx.stream(index) {
            Some(st) => {
                let tb = st.time_base();
                let dec = codec_context(st.parameters(), tb)
                    .map_err(|e| e.to_string())
                    .and_then(|c| {
                        c.decoder()
                            .audio()
                            .map_err(|e| format!("cannot open audio decoder: {e}"))
                    });
                (tb, dec)
            }
            None => (
                ff::Rational::new(1, 1),
                Err(format!("audio stream {index} disappeared")),
            ),
        };
        let stream_rate = dec.as_ref().map_or(0, |d| d.rate());
        LiveAudio {
            index,
            dec,
            tb,
            stream_rate,
            frame: ff::frame::Audio::empty(),
            placer: LiveAudioPlacer::new(),
        }
    }

    /// Source pts of the first decoded audio frame.
    fn first_pts(&self) -> Option<f64> {
        self.placer.first_pts
    }

    /// Reports a decoder that could not be opened to the buffer (once, at the start).
    fn start(&self, buf: &mut AudioBuffer) {
        if let Err(msg) = &self.dec {
            buf.handle(AudioMsg::End {
                errors: 0,
                fatal: Some(msg.clone()),
            });
        }
    }

    /// Decodes one packet (`None`: the input ended, drain) and places what comes out.
    fn packet(&mut self, packet: Option<&ff::Packet>, offset: Option<f64>, buf: &mut AudioBuffer) {
        let Ok(dec) = self.dec.as_mut() else {
            return;
        };
        let sent = match packet {
            Some(p) => dec.send_packet(p),
            None => dec.send_eof(),
        };
        if sent.is_err() {
            self.placer.errors += 1;
            return;
        }
        loop {
            let Ok(dec) = self.dec.as_mut() else {
                return;
            };
            if dec.receive_frame(&mut self.frame).is_err() {
                // EAGAIN, EOF or a broken frame (not counted: the next packet goes on).
                return;
            }
            self.decoded(offset, buf);
        }
    }

    fn decoded(&mut self, offset: Option<f64>, buf: &mut AudioBuffer) {
        let rate = if self.frame.rate() > 0 {
            self.frame.rate()
        } else {
            self.stream_rate
        };
        let Some(mono) = frame_to_mono(&self.frame) else {
            self.placer.errors += 1;
            return;
        };
        let pts = self
            .frame
            .timestamp()
            .or(self.frame.pts())
            .and_then(|t| ts2s(t, self.tb));
        self.placer.decoded(pts, mono, rate, offset, buf);
    }

    /// Places the audio decoded before the first video frame, once the video clock has an offset.
    fn flush_early(&mut self, offset: f64, buf: &mut AudioBuffer) {
        self.placer.flush_early(offset, buf);
    }

    /// The input ended: drain the decoder and the resampler and close the buffer.
    fn finish(&mut self, offset: Option<f64>, buf: &mut AudioBuffer) {
        self.packet(None, offset, buf);
        self.placer.finish(offset, buf);
    }
}

/// The snippet logic of the live loop, apart from FFmpeg (the fuzz target `media_snippets` drives it too): frames
/// placed on the live clock, every `stride`-th one the start of a snippet, finished snippets waiting for their
/// audio.
pub(crate) struct LiveSnippets {
    pub(crate) clock: VideoClock,
    stride: u64,
    max_snippets: Option<usize>,
    /// Frames counted (all decoded ones until `max_snippets` stops the count).
    pub(crate) n: u64,
    pending: Option<Pending>,
    ready: VecDeque<(Pending, f64)>,
    /// `max_snippets` reached: no new snippet is started.
    pub(crate) stopping: bool,
}

impl LiveSnippets {
    pub(crate) fn new(
        nominal_frame_s: Option<f64>,
        stride: usize,
        max_snippets: Option<usize>,
    ) -> Self {
        LiveSnippets {
            clock: VideoClock::new(nominal_frame_s),
            stride: stride.max(1) as u64,
            max_snippets,
            n: 0,
            pending: None,
            ready: VecDeque::new(),
            stopping: false,
        }
    }

    /// Places a decoded frame (`pts` its source pts, `wall_s` seconds since the first frame arrived) and returns
    /// its live time; a sampled frame finishes the pending snippet and starts the next one with the image
    /// `convert` gives (`emitted`: snippets already sent, for `max_snippets`).
    pub(crate) fn frame<E>(
        &mut self,
        pts: Option<f64>,
        wall_s: f64,
        emitted: usize,
        convert: impl FnOnce(u64) -> std::result::Result<RgbImage, E>,
    ) -> std::result::Result<f64, E> {
        let live_t = self.clock.place(pts, wall_s);
        if !self.stopping && self.n.is_multiple_of(self.stride) {
            if let Some(p) = self.pending.take() {
                self.ready.push_back((p, live_t));
            }
            if self
                .max_snippets
                .is_some_and(|m| emitted + self.ready.len() >= m)
            {
                self.stopping = true;
            } else {
                let image = convert(self.n)?;
                self.pending = Some(Pending {
                    frame_index: self.n,
                    start_s: live_t,
                    image,
                    wall_clock: Some(SystemTime::now()),
                });
            }
        }
        if !self.stopping {
            self.n += 1;
        }
        Ok(live_t)
    }

    /// The next finished snippet (and its end) whose audio has arrived, or that waited `LIVE_AUDIO_WAIT_S` of
    /// video time for it; `None` when there is none.
    pub(crate) fn next_ready(
        &mut self,
        audio: &AudioBuffer,
        has_audio: bool,
    ) -> Option<(Pending, f64)> {
        let end = self.ready.front()?.1;
        let covered =
            !has_audio || audio.ended || audio.write.is_some_and(|w| w >= grid_index(end));
        let waited = self
            .clock
            .last()
            .is_some_and(|l| l - end >= LIVE_AUDIO_WAIT_S);
        if covered || waited {
            self.ready.pop_front()
        } else {
            None
        }
    }

    /// True when `max_snippets` was reached and every finished snippet was handed out.
    pub(crate) fn done(&self) -> bool {
        self.stopping && self.ready.is_empty()
    }

    /// The input ended: unless truncated, the last sampled frame lasts until one frame interval after the last
    /// frame. Then every finished snippet is handed out by `pop`.
    pub(crate) fn finish(&mut self) {
        if !self.stopping {
            if let (Some(p), Some(l)) = (self.pending.take(), self.clock.last()) {
                self.ready.push_back((p, l + self.clock.step()));
            }
        }
    }

    /// The next finished snippet, waiting for nothing (after `finish`).
    pub(crate) fn pop(&mut self) -> Option<(Pending, f64)> {
        self.ready.pop_front()
    }
}

/// The decoding loop of a live source: one demuxer, video and audio decoded in this thread, snippets on the live
/// clock. Ends with `Done`, or with the completed snippets followed by `Failed(StreamLost)` when the source stalls
/// (no packet within `read_timeout`) or its connection fails.
fn run_live_thread(
    mut dec: VideoDecoder,
    mut audio: Option<LiveAudio>,
    io: LiveIo,
    recorder: Option<Recorder>,
    o: DecodeOptions,
    tx: SyncSender<Msg>,
) {
    let path = dec.path().to_path_buf();
    let has_audio = audio.is_some();
    let mut asm = Assembler {
        path: path.clone(),
        tx,
        audio: AudioBuffer::live(has_audio),
        has_audio,
        threshold: o.silence_threshold,
        emitted: 0,
        any_present: false,
        peak: 0.0,
        live: true,
        max_samples: MAX_SNIPPET_SAMPLES,
    };
    if let Some(a) = &audio {
        a.start(&mut asm.audio);
    }
    let video_index = dec.stream_index();
    let audio_index = audio.as_ref().map(|a| a.index);
    let mut conv = RgbConverter::new();
    let mut snips = LiveSnippets::new(dec.nominal_frame_s(), o.stride, o.max_snippets);
    // Fixed when the decoder was opened (the stream's display matrix).
    let orientation = dec.orientation();
    let mut start: Option<(Instant, SystemTime)> = None;
    let mut lost: Option<String> = None;
    let mut sent_start = false;
    // The audio offset: the video's, or (video without pts) the audio's own start at live 0.
    let audio_offset = |clock: &VideoClock, audio: &Option<LiveAudio>| {
        live_audio_offset(clock, audio.as_ref().and_then(|a| a.first_pts()))
    };
    loop {
        io.arm(o.read_timeout);
        // A fresh packet each time: `read` overwrites without releasing (see `read_packet_of`).
        let mut packet = ff::Packet::empty();
        let r = packet.read(dec.input_mut());
        io.disarm();
        let mut eof = false;
        if let (Ok(()), Some(rec)) = (&r, &recorder) {
            rec.push(
                &packet,
                audio_offset(&snips.clock, &audio),
                snips.clock.last(),
            );
        }
        match r {
            Ok(()) if packet.stream() == video_index => dec.send_packet(&packet),
            Ok(()) if Some(packet.stream()) == audio_index => {
                let off = audio_offset(&snips.clock, &audio);
                if let Some(a) = audio.as_mut() {
                    a.packet(Some(&packet), off, &mut asm.audio);
                }
            }
            Ok(()) => {}
            Err(ff::Error::InvalidData) => dec.errors += 1,
            Err(ff::Error::Eof) => {
                // A pipe ends when its writer is done; a network source or device that ends was closed or lost
                // (FFmpeg reports a server's orderly end and a dropped connection alike as end of file).
                if !ends_normally(&path) {
                    lost = Some(
                        "the source closed the stream (end of stream or connection lost)".into(),
                    );
                }
                eof = true;
            }
            Err(ff::Error::Exit) if io.cancelled() => return,
            Err(ff::Error::Exit) => {
                lost = Some(format!(
                    "no data for {:.1} s (read timeout)",
                    o.read_timeout.as_secs_f64()
                ));
                eof = true;
            }
            Err(e) => {
                lost = Some(format!("read error: {e}"));
                eof = true;
            }
        }
        if eof {
            dec.send_eof();
        }
        while let Some((frame, t)) = dec.receive() {
            let now = Instant::now();
            let (i0, _) = *start.get_or_insert_with(|| (now, SystemTime::now()));
            let first = snips.clock.last().is_none();
            let placed = snips.frame(t.src_pts_s, (now - i0).as_secs_f64(), asm.emitted, |n| {
                conv.convert(frame)
                    .map(|image| orientation.apply(image))
                    .map_err(|reason| format!("frame {n}: {reason}"))
            });
            if let Err(reason) = placed {
                return asm.fail(MediaError::Convert {
                    path: asm.path.clone(),
                    what: "swscale",
                    reason,
                });
            }
            if first {
                if let (Some(off), Some(a)) = (audio_offset(&snips.clock, &audio), audio.as_mut()) {
                    a.flush_early(off, &mut asm.audio);
                }
            }
        }
        if eof {
            break;
        }
        // Emit the finished snippets whose audio has arrived (or will not be waited for any longer).
        while let Some((p, end)) = snips.next_ready(&asm.audio, has_audio) {
            if !sent_start && !send_live_start(&asm, &snips.clock, &audio, start, &mut sent_start) {
                return;
            }
            if !asm.emit(p, end) {
                return;
            }
        }
        if snips.done() {
            break;
        }
    }
    let truncated = snips.stopping;
    snips.finish();
    let off = audio_offset(&snips.clock, &audio);
    if let Some(a) = audio.as_mut() {
        a.finish(off, &mut asm.audio);
    }
    while let Some((p, end)) = snips.pop() {
        if !sent_start && !send_live_start(&asm, &snips.clock, &audio, start, &mut sent_start) {
            return;
        }
        if !asm.emit(p, end) {
            return;
        }
    }
    if let Some(reason) = lost {
        return asm.fail(MediaError::StreamLost { path, reason });
    }
    if snips.clock.last().is_none() {
        return asm.fail(MediaError::NoDecodableFrames {
            path,
            packets: dec.packets,
            errors: dec.errors,
        });
    }
    asm.done(snips.n, truncated, &dec, snips.clock.discontinuities);
}

/// The offset that places live audio: the video's, or (video without pts) the audio's own start (`audio_first_pts`)
/// at live 0; `None` before the first video frame.
pub(crate) fn live_audio_offset(clock: &VideoClock, audio_first_pts: Option<f64>) -> Option<f64> {
    clock.last()?;
    clock.offset().or_else(|| audio_first_pts.map(|p| -p))
}

/// True for live inputs whose end of file is a normal end: standard input (`-`) and `pipe:`.
fn ends_normally(path: &Path) -> bool {
    let s = path.to_string_lossy();
    s == "-" || s.starts_with("pipe:") || !is_live_source(path)
}

/// Sends `LiveStart` before the first snippet; `false` when the reader is gone.
fn send_live_start(
    asm: &Assembler,
    clock: &VideoClock,
    audio: &Option<LiveAudio>,
    start: Option<(Instant, SystemTime)>,
    sent: &mut bool,
) -> bool {
    *sent = true;
    let msg = LiveStart {
        video_start_pts_s: clock.first_pts(),
        audio_start_pts_s: audio.as_ref().and_then(|a| a.first_pts()),
        wall_clock: start.map_or_else(SystemTime::now, |s| s.1),
    };
    asm.tx.send(Msg::Live(msg)).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audio_buffer_fills_gaps_and_drops_overlaps() {
        let (tx, rx) = sync_channel(16);
        let mut b = AudioBuffer::new(Some(rx));
        // Segment at grid 10..14, a gap to 20, then an overlapping re-anchor at 22 (< write 24).
        for m in [
            AudioMsg::Anchor(10),
            AudioMsg::Samples(vec![1.0; 4]),
            AudioMsg::Anchor(20),
            AudioMsg::Samples(vec![2.0; 4]),
            AudioMsg::Anchor(22),
            AudioMsg::Samples(vec![3.0; 5]),
            AudioMsg::End {
                errors: 0,
                fatal: None,
            },
        ] {
            tx.send(m).unwrap();
        }
        b.wait_until(100);
        assert!(b.ended);
        // Before the audio starts and in the gap: zeros; the overlap keeps the first-received samples.
        let a = b.take(8, 16);
        assert_eq!(a, vec![0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0]);
        let a = b.take(16, 30);
        let want = [
            0.0, 0.0, 0.0, 0.0, 2.0, 2.0, 2.0, 2.0, 3.0, 3.0, 3.0, 0.0, 0.0, 0.0,
        ];
        assert_eq!(a, want.to_vec());
        // Everything before 30 was forgotten.
        assert!(b
            .segments
            .iter()
            .all(|(s, d)| s + d.len() as i64 <= 30 || *s >= 30 || d.is_empty()));
    }

    #[test]
    fn audio_buffer_survives_anchors_at_the_ends_of_the_grid() {
        let mut b = AudioBuffer::live(true);
        // An anchor just before i64::MAX: the samples past the grid's end are dropped, not wrapped.
        b.handle(AudioMsg::Anchor(i64::MAX - 3));
        b.handle(AudioMsg::Samples(vec![1.0; 10]));
        assert_eq!(b.write, Some(i64::MAX));
        assert_eq!(b.held, 3);
        // An anchor at i64::MIN, far before the write position: the overlap saturates instead of wrapping.
        b.handle(AudioMsg::Anchor(i64::MIN));
        b.handle(AudioMsg::Samples(vec![2.0; 10]));
        assert_eq!(b.write, Some(i64::MAX));
        assert_eq!(b.held, 3);
        // Cutting anywhere stays in range.
        assert_eq!(b.take(i64::MAX - 4, i64::MAX), vec![0.0, 1.0, 1.0, 1.0]);
        assert_eq!(b.take(i64::MIN, i64::MIN + 2), vec![0.0, 0.0]);
        assert!(b.take(5, -5).is_empty());
    }

    #[test]
    fn audio_buffer_holds_at_most_its_cap() {
        let mut b = AudioBuffer::live(true);
        b.max_held = 100;
        b.handle(AudioMsg::Anchor(0));
        for _ in 0..10 {
            b.handle(AudioMsg::Samples(vec![1.0; 30]));
        }
        b.handle(AudioMsg::Anchor(1000));
        b.handle(AudioMsg::Samples(vec![2.0; 70]));
        assert_eq!(b.held, 100);
        assert_eq!(
            b.held,
            b.segments.iter().map(|(_, d)| d.len()).sum::<usize>()
        );
        // The newest samples are kept: 270..300 and 1000..1070.
        let a = b.take(260, 1070);
        assert_eq!(a[..10], [0.0; 10]);
        assert_eq!(a[10..40], [1.0; 30]);
        assert_eq!(a[740..], [2.0; 70]);
        assert_eq!(b.held, 0);
    }
}
