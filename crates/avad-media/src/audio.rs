//! Audio path: decode the audio stream on its own thread, average the channels to mono at the source rate, fill
//! timestamp gaps with silence, resample to 16 kHz with libswresample, and stream the result on a 16 kHz grid.
//!
//! The grid: sample `g` of the 16 kHz grid covers stream time `[g/16000, (g+1)/16000)` seconds, in the same time
//! axis as the video pts (stream time, may start below 0). The first decoded audio frame at pts `a0` seconds is
//! anchored at grid index `round(a0 * 16000)`. When a frame's pts jumps ahead of the running position by more than
//! [`GAP_TOLERANCE_S`], the resampler is flushed and the next frame is re-anchored at its own pts (the hole is
//! silence on the grid); a jump back by more than that (overlap) re-anchors too, and the assembler drops what
//! overlaps. Smaller jitter (Vorbis-in-WebM frame pts wander by about 11 ms) is ignored: samples are then contiguous.

use std::path::{Path, PathBuf};
use std::ptr;
use std::sync::mpsc::SyncSender;

use ff::ffi;
use ffmpeg_next as ff;

use crate::error::MediaError;
use crate::ffmpeg::{
    codec_context, discard_other_streams, err_str, is_eagain, open_input, read_packet_of, ts2s,
};

/// Lowest and highest audio sample rate a file or live source may report (Hz): outside, the frame is counted as an
/// error and dropped. A hostile stream claiming 1 Hz would otherwise make every decoded frame 16 000 times longer
/// after resampling to 16 kHz (and its clock placement absurd); no codec FFmpeg decodes runs outside this range.
pub const AUDIO_RATES: std::ops::RangeInclusive<u32> = 1_000..=768_000;

/// Output sample rate of the audio path (Wav2CLIP's input rate).
pub const AUDIO_RATE: u32 = 16_000;

/// Timestamp discontinuities up to this many seconds are treated as jitter, not gaps (the same 0.1 s as
/// `aresample`'s `min_hard_comp`; Vorbis-in-WebM frame pts jitter by about 11 ms, and must not cut the audio).
pub const GAP_TOLERANCE_S: f64 = 0.100;

/// 16 kHz grid index of a time in seconds (round half away from zero): sample `g` covers `[g/16000, (g+1)/16000)`.
pub fn grid_index(t_s: f64) -> i64 {
    (t_s * f64::from(AUDIO_RATE)).round() as i64
}

/// Messages from the audio thread to the snippet assembler.
#[derive(Debug)]
pub(crate) enum AudioMsg {
    /// The following samples start at this 16 kHz grid index.
    Anchor(i64),
    /// 16 kHz mono samples continuing from the last anchor / last samples.
    Samples(Vec<f32>),
    /// The stream ended (or failed); counts of decoder errors and a fatal error message if any.
    End { errors: u64, fatal: Option<String> },
}

/// Converts one decoded audio frame to mono f32 (average of all channels) at the frame's own rate.
///
/// Reads the raw planes through FFmpeg's pointers (works whatever the channel layout says, avoiding the legacy
/// layout-0 crash in swresample); returns `None` for an unsupported sample format or missing data.
pub(crate) fn frame_to_mono(frame: &ff::frame::Audio) -> Option<Vec<f32>> {
    use ffi::AVSampleFormat as F;
    // SAFETY: `frame` holds a decoded AVFrame; we only read `nb_samples * channels` samples from planes that exist.
    unsafe {
        let f = &*frame.as_ptr();
        let n = usize::try_from(f.nb_samples).ok()?;
        let ch = usize::try_from(f.channels).ok()?;
        if ch == 0 || f.extended_data.is_null() {
            return None;
        }
        if n == 0 {
            return Some(Vec::new());
        }
        let fmt: F = std::mem::transmute::<i32, F>(f.format);
        let planar = ffi::av_sample_fmt_is_planar(fmt) != 0;
        let packed_fmt = ffi::av_get_packed_sample_fmt(fmt);
        let planes = if planar { ch } else { 1 };
        let mut ptrs = Vec::with_capacity(planes);
        for p in 0..planes {
            let d = *f.extended_data.add(p);
            if d.is_null() {
                return None;
            }
            ptrs.push(d as *const u8);
        }
        // sample(c, i): value of channel c at sample i as f32, FFmpeg's own int->float scaling.
        let get = |c: usize, i: usize| -> f32 {
            let (plane, idx) = if planar {
                (ptrs[c], i)
            } else {
                (ptrs[0], i * ch + c)
            };
            match packed_fmt {
                F::AV_SAMPLE_FMT_U8 => (f32::from(*plane.add(idx)) - 128.0) * (1.0 / 128.0),
                F::AV_SAMPLE_FMT_S16 => {
                    f32::from((plane as *const i16).add(idx).read_unaligned()) * (1.0 / 32768.0)
                }
                F::AV_SAMPLE_FMT_S32 => {
                    (plane as *const i32).add(idx).read_unaligned() as f32 * (1.0 / 2_147_483_648.0)
                }
                F::AV_SAMPLE_FMT_S64 => {
                    (plane as *const i64).add(idx).read_unaligned() as f32
                        * (1.0 / 9_223_372_036_854_775_808.0)
                }
                F::AV_SAMPLE_FMT_FLT => (plane as *const f32).add(idx).read_unaligned(),
                F::AV_SAMPLE_FMT_DBL => (plane as *const f64).add(idx).read_unaligned() as f32,
                _ => f32::NAN,
            }
        };
        match packed_fmt {
            F::AV_SAMPLE_FMT_U8
            | F::AV_SAMPLE_FMT_S16
            | F::AV_SAMPLE_FMT_S32
            | F::AV_SAMPLE_FMT_S64
            | F::AV_SAMPLE_FMT_FLT
            | F::AV_SAMPLE_FMT_DBL => {}
            _ => return None,
        }
        let mut out = Vec::with_capacity(n);
        if ch == 1 {
            for i in 0..n {
                out.push(get(0, i));
            }
        } else {
            let inv = 1.0 / ch as f32;
            for i in 0..n {
                let mut s = 0.0f32;
                for c in 0..ch {
                    s += get(c, i);
                }
                out.push(if ch == 2 { s * 0.5 } else { s * inv });
            }
        }
        // Non-finite input (broken streams) becomes silence rather than poisoning the features.
        for v in &mut out {
            if !v.is_finite() {
                *v = 0.0;
            }
        }
        Some(out)
    }
}

/// A mono f32 -> mono f32 libswresample context from `in_rate` to 16 kHz (default swr options, as the CLI's
/// `aresample=16000`).
pub(crate) struct Resampler {
    ctx: *mut ffi::SwrContext,
    in_rate: u32,
}

// SAFETY: the context is only used from the thread that owns the Resampler.
unsafe impl Send for Resampler {}

impl Resampler {
    /// Creates a resampler; `Err` carries FFmpeg's message.
    pub(crate) fn new(in_rate: u32) -> Result<Self, String> {
        if in_rate == 0 || in_rate > i32::MAX as u32 {
            return Err(format!("invalid input sample rate {in_rate}"));
        }
        // SAFETY: plain FFmpeg allocation; checked for NULL and init errors.
        unsafe {
            let mono = ffi::AV_CH_LAYOUT_MONO as i64;
            let ctx = ffi::swr_alloc_set_opts(
                ptr::null_mut(),
                mono,
                ffi::AVSampleFormat::AV_SAMPLE_FMT_FLT,
                AUDIO_RATE as i32,
                mono,
                ffi::AVSampleFormat::AV_SAMPLE_FMT_FLT,
                in_rate as i32,
                0,
                ptr::null_mut(),
            );
            if ctx.is_null() {
                return Err("swr_alloc_set_opts failed".into());
            }
            let mut r = Resampler { ctx, in_rate };
            let e = ffi::swr_init(r.ctx);
            if e < 0 {
                let msg = err_str(e);
                ffi::swr_free(&mut r.ctx);
                return Err(msg);
            }
            Ok(r)
        }
    }

    /// Input rate of this resampler.
    pub(crate) fn in_rate(&self) -> u32 {
        self.in_rate
    }

    /// Feeds `input` (may be empty with `flush`) and returns the 16 kHz output produced so far.
    fn convert(&mut self, input: Option<&[f32]>) -> Result<Vec<f32>, String> {
        let in_len = input.map_or(0, |x| x.len());
        let cap = (in_len as u64 * u64::from(AUDIO_RATE) / u64::from(self.in_rate)) as usize + 512;
        let mut out = vec![0.0f32; cap];
        let mut total = 0usize;
        // SAFETY: pointers are valid for the lengths passed; swr writes at most `cap - total` samples.
        unsafe {
            let mut in_ptr: *const u8 = input.map_or(ptr::null(), |x| x.as_ptr() as *const u8);
            let mut in_n = in_len as i32;
            loop {
                let mut out_ptr = out.as_mut_ptr().add(total) as *mut u8;
                let n = ffi::swr_convert(
                    self.ctx,
                    &mut out_ptr,
                    (cap - total) as i32,
                    if input.is_some() {
                        &mut in_ptr as *mut *const u8
                    } else {
                        ptr::null_mut()
                    },
                    in_n,
                );
                if n < 0 {
                    return Err(err_str(n));
                }
                total += n as usize;
                // Input is fully consumed by one call (swr buffers what it cannot output yet); when flushing,
                // call until nothing more comes out.
                if input.is_some() || n == 0 || total >= cap {
                    break;
                }
                in_n = 0;
                in_ptr = ptr::null();
            }
        }
        out.truncate(total);
        Ok(out)
    }

    /// Resamples a chunk of mono input.
    pub(crate) fn push(&mut self, input: &[f32]) -> Result<Vec<f32>, String> {
        if input.is_empty() {
            return Ok(Vec::new());
        }
        self.convert(Some(input))
    }

    /// Drains the samples the resampler still holds.
    pub(crate) fn flush(&mut self) -> Result<Vec<f32>, String> {
        let mut all = Vec::new();
        loop {
            let chunk = self.convert(None)?;
            if chunk.is_empty() {
                break;
            }
            all.extend_from_slice(&chunk);
        }
        Ok(all)
    }
}

impl Drop for Resampler {
    fn drop(&mut self) {
        // SAFETY: frees the context allocated in `new` (swr_free accepts and NULLs the pointer).
        unsafe { ffi::swr_free(&mut self.ctx) }
    }
}

/// State of the audio thread between frames.
struct AudioPipeline {
    tx: SyncSender<AudioMsg>,
    resampler: Option<Resampler>,
    /// Source-rate position (seconds) where the next contiguous sample would start; `None` before the first frame.
    next_t: Option<f64>,
    /// Fallback sample rate when a frame reports 0.
    stream_rate: u32,
}

impl AudioPipeline {
    /// Sends a message; `false` when the receiver is gone (stop decoding).
    fn send(&self, m: AudioMsg) -> bool {
        self.tx.send(m).is_ok()
    }

    fn flush_resampler(&mut self) -> Result<bool, String> {
        if let Some(r) = self.resampler.as_mut() {
            let tail = r.flush()?;
            if !tail.is_empty() && !self.send(AudioMsg::Samples(tail)) {
                return Ok(false);
            }
        }
        self.resampler = None;
        Ok(true)
    }

    /// Handles one decoded frame; `Ok(false)` means the receiver hung up.
    fn frame(&mut self, frame: &ff::frame::Audio, tb: ff::Rational) -> Result<bool, String> {
        let rate = if frame.rate() > 0 {
            frame.rate()
        } else {
            self.stream_rate
        };
        if rate == 0 {
            return Err("audio frame without sample rate".into());
        }
        if !AUDIO_RATES.contains(&rate) {
            return Err(format!(
                "audio sample rate {rate} Hz is outside {}–{} Hz",
                AUDIO_RATES.start(),
                AUDIO_RATES.end()
            ));
        }
        let Some(mono) = frame_to_mono(frame) else {
            return Err("unsupported audio sample format or empty planes".into());
        };
        if mono.is_empty() {
            return Ok(true);
        }
        let pts = frame.timestamp().or(frame.pts()).and_then(|t| ts2s(t, tb));
        let rate_changed = self.resampler.as_ref().is_some_and(|r| r.in_rate() != rate);
        let jump = match (pts, self.next_t) {
            (Some(p), Some(n)) => (p - n).abs() > GAP_TOLERANCE_S,
            _ => false,
        };
        if self.resampler.is_none() || rate_changed || jump {
            if !self.flush_resampler()? {
                return Ok(false);
            }
            // Anchor at the frame's pts; without pts, continue where the previous frame ended (or at 0).
            let t0 = pts.or(self.next_t).unwrap_or(0.0);
            if !self.send(AudioMsg::Anchor(grid_index(t0))) {
                return Ok(false);
            }
            self.resampler = Some(Resampler::new(rate)?);
            self.next_t = Some(t0);
        }
        let dur = mono.len() as f64 / f64::from(rate);
        self.next_t = self.next_t.map(|t| t + dur);
        let Some(r) = self.resampler.as_mut() else {
            return Ok(true);
        };
        let out = r.push(&mono)?;
        if !out.is_empty() && !self.send(AudioMsg::Samples(out)) {
            return Ok(false);
        }
        Ok(true)
    }
}

/// Runs the audio thread for stream `index` of `path`: sends anchors and samples, then `End`.
pub(crate) fn run_audio_thread(path: PathBuf, index: usize, tx: SyncSender<AudioMsg>) {
    let (errors, fatal) = match decode_audio(&path, index, &tx) {
        Ok(errors) => (errors, None),
        Err((errors, msg)) => (errors, Some(msg)),
    };
    let _ = tx.send(AudioMsg::End { errors, fatal });
}

/// Decodes the whole audio stream; returns the number of non-fatal decoder errors, or a fatal error.
fn decode_audio(
    path: &Path,
    index: usize,
    tx: &SyncSender<AudioMsg>,
) -> Result<u64, (u64, String)> {
    let mut ictx = open_input(path).map_err(|e: MediaError| (0, e.to_string()))?;
    discard_other_streams(&mut ictx, index);
    let (tb, params) = match ictx.stream(index) {
        Some(s) => (s.time_base(), s.parameters()),
        None => return Err((0, format!("audio stream {index} disappeared"))),
    };
    let mut dec = codec_context(params, tb)
        .map_err(|e| (0, e.to_string()))?
        .decoder()
        .audio()
        .map_err(|e| (0, format!("cannot open audio decoder: {e}")))?;
    let mut p = AudioPipeline {
        tx: tx.clone(),
        resampler: None,
        next_t: None,
        stream_rate: dec.rate(),
    };
    let mut errors = 0u64;
    let mut frame = ff::frame::Audio::empty();
    let mut packet = ff::Packet::empty();
    let mut eof = false;
    while !eof {
        // Corrupt packets are skipped and counted; any other read error ends the stream and is counted too.
        if read_packet_of(&mut ictx, &mut packet, index, &mut errors) {
            if dec.send_packet(&packet).is_err() {
                errors += 1;
                continue;
            }
        } else {
            let _ = dec.send_eof();
            eof = true;
        }
        loop {
            match dec.receive_frame(&mut frame) {
                Ok(()) => match p.frame(&frame, tb) {
                    Ok(true) => {}
                    Ok(false) => return Ok(errors),
                    Err(msg) => {
                        errors += 1;
                        if errors > 1000 {
                            return Err((errors, msg));
                        }
                    }
                },
                Err(e) if is_eagain(&e) => break,
                Err(ff::Error::Eof) => break,
                Err(_) => {
                    errors += 1;
                    break;
                }
            }
        }
    }
    match p.flush_resampler() {
        Ok(_) => Ok(errors),
        Err(msg) => Err((errors, msg)),
    }
}
