//! `open` and `MediaReader`: decoding runs on its own threads (one for video + snippet assembly, one for audio)
//! and hands finished snippets through a bounded channel, so a consumer (the encoders) finds the next snippet ready
//! while it works on the current one.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, Receiver, RecvError, SyncSender};
use std::thread::JoinHandle;

use crate::audio::{grid_index, run_audio_thread, AudioMsg};
use crate::error::{MediaError, Result};
use crate::ffmpeg::open_input;
use crate::probe::{info_from_input, MediaInfo};
use crate::snippet::{peak, AudioState, Snippet};
use crate::video::{FrameTime, RgbConverter, RgbImage, VideoDecoder};

/// Longest audio cut for one snippet (10 minutes of 16 kHz samples): a corrupt timestamp jump must not allocate
/// gigabytes of silence. Longer snippets keep their `end_s` but get only this many samples.
pub const MAX_SNIPPET_SAMPLES: usize = 16_000 * 600;

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
}

/// Messages from the video thread to the reader.
enum Msg {
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
        match self.rx.recv() {
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
struct AudioBuffer {
    rx: Option<Receiver<AudioMsg>>,
    segments: VecDeque<(i64, Vec<f32>)>,
    /// Grid index after the last received sample (`None` before the first anchor).
    write: Option<i64>,
    /// Incoming samples still to drop because they overlap audio already received.
    skip: usize,
    ended: bool,
    received: u64,
    errors: u64,
    fatal: Option<String>,
}

impl AudioBuffer {
    fn new(rx: Option<Receiver<AudioMsg>>) -> Self {
        let ended = rx.is_none();
        AudioBuffer {
            rx,
            segments: VecDeque::new(),
            write: None,
            skip: 0,
            ended,
            received: 0,
            errors: 0,
            fatal: None,
        }
    }

    fn handle(&mut self, m: AudioMsg) {
        match m {
            AudioMsg::Anchor(g) => match self.write {
                Some(w) if g < w => {
                    self.skip = (w - g) as usize;
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
                self.received += s.len() as u64;
                if let (Some(w), Some(last)) = (self.write.as_mut(), self.segments.back_mut()) {
                    *w += s.len() as i64;
                    last.1.extend_from_slice(&s);
                }
            }
            AudioMsg::End { errors, fatal } => {
                self.errors = errors;
                self.fatal = fatal;
                self.ended = true;
            }
        }
    }

    /// True when the audio stream failed before delivering any sample (its snippets then have state `None`).
    fn failed(&self) -> bool {
        self.received == 0 && self.fatal.is_some()
    }

    /// Blocks until the audio covers grid index `e` (exclusive) or the audio stream has ended.
    fn wait_until(&mut self, e: i64) {
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
    fn take(&mut self, s: i64, e: i64) -> Vec<f32> {
        let len = (e - s).max(0) as usize;
        let mut out = vec![0.0f32; len];
        for (start, data) in &self.segments {
            let seg_end = start + data.len() as i64;
            let lo = s.max(*start);
            let hi = e.min(seg_end);
            if lo < hi {
                let src = &data[(lo - start) as usize..(hi - start) as usize];
                out[(lo - s) as usize..(hi - s) as usize].copy_from_slice(src);
            }
        }
        // Forget samples before `e` (the next snippet starts there).
        loop {
            let is_last = self.segments.len() == 1;
            let Some((start, data)) = self.segments.front_mut() else {
                break;
            };
            let seg_end = *start + data.len() as i64;
            if seg_end <= e && !is_last {
                self.segments.pop_front();
            } else {
                if *start < e {
                    let cut = ((e - *start) as usize).min(data.len());
                    data.drain(..cut);
                    *start += cut as i64;
                }
                break;
            }
        }
        out
    }
}

/// A sampled frame waiting for its end time.
struct Pending {
    frame_index: u64,
    start_s: f64,
    image: RgbImage,
}

struct Assembler {
    path: PathBuf,
    tx: SyncSender<Msg>,
    audio: AudioBuffer,
    has_audio: bool,
    threshold: f32,
    emitted: usize,
    any_present: bool,
    peak: f32,
}

impl Assembler {
    /// Cuts the audio of `p` up to `end_s` and sends the snippet; `false` when the reader is gone.
    fn emit(&mut self, p: Pending, end_s: f64) -> bool {
        let end_s = if end_s.is_finite() && end_s > p.start_s {
            end_s
        } else {
            p.start_s
        };
        let s = grid_index(p.start_s);
        let e = grid_index(end_s).clamp(s, s.saturating_add(MAX_SNIPPET_SAMPLES as i64));
        let (audio, state) = if self.has_audio {
            self.audio.wait_until(e);
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
    let audio_state = if !has_audio || asm.audio.failed() {
        AudioState::None
    } else if asm.any_present {
        AudioState::Present
    } else {
        AudioState::Silent
    };
    let summary = DecodeSummary {
        decoded_frames: n,
        snippets: asm.emitted,
        truncated,
        video_packets: dec.packets,
        video_errors: dec.errors,
        audio_errors: asm.audio.errors,
        audio_error: asm.audio.fatal.clone(),
        audio_state,
        audio_peak: asm.peak,
    };
    let _ = asm.tx.send(Msg::Done(summary));
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
}
