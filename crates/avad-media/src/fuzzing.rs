//! Fuzzing entry point (feature `fuzzing`, off by default; docs/hostile-input.md, "Fuzzing"): the snippet and
//! timestamp logic of `reader.rs` and `live.rs` driven by bytes instead of FFmpeg.
//!
//! FFmpeg's demuxers and decoders are not ours to fuzz; what we do with their output is. [`snippets`] decodes its
//! input into a sequence of synthetic decoder outputs — video frames with pts in arbitrary time bases (or raw,
//! NaN-able doubles, or none), audio frames with arbitrary pts, sample counts and rates, gaps, jumps backwards,
//! huge values — and feeds them to the real code: in live mode to `LiveSnippets` (the live clock `VideoClock`,
//! the sampling, the wait for audio), `LiveAudioPlacer` (`AudioClock`, anchors, the early-audio queue) and the
//! `AudioBuffer`; in file mode (the audio thread's anchors and samples, the video frames' pts) to the
//! `AudioBuffer` and the same `Assembler::emit` that cuts each snippet's audio. Only the 16 kHz resampler is a
//! model (`ModelResampler`: the same number of output samples as libswresample, give or take its delay).
//!
//! It panics only when an invariant is broken:
//! - every time is finite; live mode: snippet 0 starts at 0.0, start times strictly increase, `end_s` of a snippet
//!   is `start_s` of the next and above its own `start_s`; file mode: `end_s >= start_s`, and `end_s` is the next
//!   snippet's `start_s` whenever that is later;
//! - each snippet's audio has exactly `round(end_s·16000) − round(start_s·16000)` samples, capped (by the
//!   assembler's cap: `MAX_SNIPPET_SAMPLES` in the reader, `FUZZ_SNIPPET_SAMPLES` here); none without audio, and
//!   then its state is `None`; a `None` snippet's audio is silence;
//! - the audio buffer holds at most its cap of samples (`MAX_HELD_SAMPLES`, here `FUZZ_HELD_SAMPLES`) and its
//!   count of them is right;
//! - `index` counts from 0, `frame_index` is `index · stride`, at most `max_snippets` snippets;
//! - and, implicitly, no panic (overflow checks are on in fuzz builds), no hang, no allocation beyond what the
//!   input's frames justify.
//!
//! # Input format
//! Four header bytes: flags (bit 0 live mode, bit 1 an audio stream, bit 2 `max_snippets` set), `stride − 1`
//! (mod 32), `max_snippets − 1` (mod 64), the nominal frame interval (mod 8: none, 40 ms, 1001/30000 s, 0.5 s,
//! 1 s, 2 s, 0, NaN). Then operations, one byte each (mod 12) and their operands (little-endian):
//! `0–2 u8`: a video frame `max(u8, 1) · 360` ticks on; `3 i16`: a video frame that many ticks on (or back);
//! `4 i64`: a video frame at that tick; `5 f64`: a video frame with that pts in seconds; `6 u8`: a video frame
//! without pts, `u8 · 10` ms of wall clock later; `7 k [i32 i32] sel`: a time base (`k` mod 8: 1/90000, 1/1000,
//! 1/48000, 1001/30000, 1/25, 1/1, 1/44100, or the two i32) for the video (`sel` even) or the audio;
//! `8–10 kind u16 [u32] [pts]`: an audio frame of `u16 mod 8193` samples at the rate `kind & 7` (48000, 44100,
//! 16000, 8000, 22050, 96000, 32000, or the u32) with pts `(kind >> 3) & 3` (0: `i16 · 64` ticks on, 1: at the
//! i64 tick, 2: the f64 in seconds, 3: none); `11 k [i64]`: file mode: `k < 200` an anchor at grid index i64,
//! else the end of the audio (fatal when `k` is even). Time bases start at 1/90000 (video) and 1/48000 (audio).

use std::sync::mpsc::{channel, sync_channel, Receiver};

use crate::audio::{grid_index, AudioMsg, AUDIO_RATE, AUDIO_RATES};
use crate::live::VideoClock;
use crate::reader::{
    live_audio_offset, Assembler, AudioBuffer, LiveAudioPlacer, LiveResample, LiveSnippets, Msg,
    Pending,
};
use crate::snippet::{AudioState, Snippet};
use crate::video::RgbImage;

/// Largest audio frame the driver makes (samples at the source rate; FFmpeg's decoders give at most a few
/// thousand).
const MAX_FRAME_SAMPLES: usize = 8192;
/// The cap of one snippet's audio here (`Assembler::max_samples`; the reader's is `MAX_SNIPPET_SAMPLES`, whose
/// zero-filling and peak scan of 9.6 M samples would take a fuzz input 100 ms): 4 s.
const FUZZ_SNIPPET_SAMPLES: usize = 64_000;
/// The cap of the samples an `AudioBuffer` holds here (`AudioBuffer::max_held`; the reader's is
/// `MAX_HELD_SAMPLES`).
const FUZZ_HELD_SAMPLES: usize = 2 * FUZZ_SNIPPET_SAMPLES;
/// Stop once the snippets hold this many audio samples in all, or the file-mode audio queued this many (a fuzz
/// input should run in milliseconds).
const SAMPLE_BUDGET: usize = 2_000_000;
/// Most operations read from one input.
const MAX_OPS: usize = 4096;

/// A model of libswresample's mono resampling to 16 kHz: emits `⌊total_in · 16000 / rate⌋` samples in all, the
/// sample values a ramp (so that snippets are `Present`), and refuses the rates `Resampler::new` refuses.
pub(crate) struct ModelResampler {
    rate: u32,
    consumed: u128,
    produced: u128,
}

impl LiveResample for ModelResampler {
    fn create(rate: u32) -> Result<Self, String> {
        if rate == 0 || rate > i32::MAX as u32 {
            return Err(format!("invalid input sample rate {rate}"));
        }
        Ok(ModelResampler {
            rate,
            consumed: 0,
            produced: 0,
        })
    }
    fn rate(&self) -> u32 {
        self.rate
    }
    fn push_chunk(&mut self, input: &[f32]) -> Result<Vec<f32>, String> {
        self.consumed += input.len() as u128;
        let due = self.consumed * u128::from(AUDIO_RATE) / u128::from(self.rate);
        let n = usize::try_from(due - self.produced).map_err(|e| e.to_string())?;
        self.produced = due;
        Ok((0..n).map(|i| 0.25 + (i % 7) as f32 * 0.05).collect())
    }
    fn drain(&mut self) -> Result<Vec<f32>, String> {
        Ok(Vec::new())
    }
}

/// Reads the fuzz input front to back; every read past the end gives `None`.
struct Bytes<'a> {
    data: &'a [u8],
}

impl Bytes<'_> {
    fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        let (head, rest) = self.data.split_first_chunk::<N>()?;
        self.data = rest;
        Some(*head)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take::<1>().map(|b| b[0])
    }
    fn u16(&mut self) -> Option<u16> {
        self.take().map(u16::from_le_bytes)
    }
    fn i16(&mut self) -> Option<i16> {
        self.take().map(i16::from_le_bytes)
    }
    fn u32(&mut self) -> Option<u32> {
        self.take().map(u32::from_le_bytes)
    }
    fn i32(&mut self) -> Option<i32> {
        self.take().map(i32::from_le_bytes)
    }
    fn i64(&mut self) -> Option<i64> {
        self.take().map(i64::from_le_bytes)
    }
    fn f64(&mut self) -> Option<f64> {
        self.take().map(f64::from_le_bytes)
    }
}

/// A time base as FFmpeg gives it: `num / den` seconds per tick (`den == 0`: no pts, as `ts2s`).
#[derive(Clone, Copy)]
struct TimeBase {
    num: i32,
    den: i32,
}

impl TimeBase {
    /// `ts2s`: ticks to seconds.
    fn secs(self, ts: i64) -> Option<f64> {
        if ts == i64::MIN || self.den == 0 {
            return None; // AV_NOPTS_VALUE
        }
        Some(ts as f64 * f64::from(self.num) / f64::from(self.den))
    }

    /// A common time base, or an arbitrary one.
    fn read(b: &mut Bytes) -> Option<TimeBase> {
        const COMMON: [(i32, i32); 7] = [
            (1, 90_000),
            (1, 1000),
            (1, 48_000),
            (1001, 30_000),
            (1, 25),
            (1, 1),
            (1, 44_100),
        ];
        let k = b.u8()?;
        Some(match COMMON.get(usize::from(k % 8)) {
            Some(&(num, den)) => TimeBase { num, den },
            None => TimeBase {
                num: b.i32()?,
                den: b.i32()?,
            },
        })
    }
}

/// One synthetic decoder output.
enum Event {
    /// A decoded video frame: pts in seconds (`None`: without pts), wall-clock seconds since the first frame.
    Video { pts: Option<f64>, wall_s: f64 },
    /// A decoded audio frame: pts in seconds, samples, rate (Hz).
    Audio {
        pts: Option<f64>,
        samples: usize,
        rate: u32,
    },
    /// File mode: an anchor straight on the 16 kHz grid (what the audio thread sends on a gap).
    Anchor(i64),
    /// The audio stream ended (file mode: possibly with a fatal error).
    AudioEnd { fatal: bool },
}

/// Decodes the input into events; `None` at its end.
struct Events<'a> {
    b: Bytes<'a>,
    video_tb: TimeBase,
    audio_tb: TimeBase,
    video_ts: i64,
    audio_ts: i64,
    wall_s: f64,
    ops: usize,
}

impl Events<'_> {
    fn next(&mut self) -> Option<Event> {
        loop {
            if self.ops >= MAX_OPS {
                return None;
            }
            self.ops += 1;
            let op = self.b.u8()?;
            match op % 12 {
                // A video frame a small step on (the common case, so that snippets form).
                0..=2 => {
                    // 360 ticks per unit: 4 ms at 1/90 000, so 10 is a 25 fps frame.
                    let step = i64::from(self.b.u8()?.max(1)) * 360;
                    self.video_ts = self.video_ts.saturating_add(step);
                    return Some(self.video(self.video_tb.secs(self.video_ts)));
                }
                // A video frame at a signed step in its time base (jumps back and forth).
                3 => {
                    let d = i64::from(self.b.i16()?);
                    self.video_ts = self.video_ts.saturating_add(d);
                    return Some(self.video(self.video_tb.secs(self.video_ts)));
                }
                // A video frame at any tick.
                4 => {
                    self.video_ts = self.b.i64()?;
                    return Some(self.video(self.video_tb.secs(self.video_ts)));
                }
                // A video frame with any double for a pts (NaN, ±inf, ±f64::MAX, subnormals).
                5 => {
                    let p = self.b.f64()?;
                    return Some(self.video(Some(p)));
                }
                // A video frame without pts, some wall-clock time later.
                6 => {
                    self.wall_s += f64::from(self.b.u8()?) * 0.01;
                    return Some(Event::Video {
                        pts: None,
                        wall_s: self.wall_s,
                    });
                }
                // New time bases.
                7 => {
                    let t = TimeBase::read(&mut self.b)?;
                    if self.b.u8()? % 2 == 0 {
                        self.video_tb = t;
                    } else {
                        self.audio_tb = t;
                    }
                }
                // Audio frames: a common rate or any, a small pts step, any tick, any double or none.
                8..=10 => {
                    let kind = self.b.u8()?;
                    let samples = usize::from(self.b.u16()?) % (MAX_FRAME_SAMPLES + 1);
                    const RATES: [u32; 7] = [48_000, 44_100, 16_000, 8_000, 22_050, 96_000, 32_000];
                    let rate = match RATES.get(usize::from(kind & 7)) {
                        Some(&r) => r,
                        None => self.b.u32()?,
                    };
                    let pts = match (kind >> 3) & 3 {
                        0 => {
                            self.audio_ts =
                                self.audio_ts.saturating_add(i64::from(self.b.i16()?) * 64);
                            self.audio_tb.secs(self.audio_ts)
                        }
                        1 => {
                            self.audio_ts = self.b.i64()?;
                            self.audio_tb.secs(self.audio_ts)
                        }
                        2 => Some(self.b.f64()?),
                        _ => None,
                    };
                    return Some(Event::Audio { pts, samples, rate });
                }
                _ => {
                    let k = self.b.u8()?;
                    return Some(if k < 200 {
                        Event::Anchor(self.b.i64()?)
                    } else {
                        Event::AudioEnd { fatal: k % 2 == 0 }
                    });
                }
            }
        }
    }

    fn video(&mut self, pts: Option<f64>) -> Event {
        self.wall_s += 0.04;
        Event::Video {
            pts,
            wall_s: self.wall_s,
        }
    }
}

/// The options a fuzz input starts with.
struct Setup {
    live: bool,
    has_audio: bool,
    stride: usize,
    max_snippets: Option<usize>,
    nominal_frame_s: Option<f64>,
}

fn image() -> RgbImage {
    RgbImage {
        width: 1,
        height: 1,
        data: vec![0; 3],
    }
}

/// Runs one fuzz input through the snippet logic (see the module docs); panics when an invariant is broken.
pub fn snippets(data: &[u8]) {
    let mut b = Bytes { data };
    let (Some(flags), Some(stride), Some(max), Some(nominal)) = (b.u8(), b.u8(), b.u8(), b.u8())
    else {
        return;
    };
    const NOMINAL: [Option<f64>; 8] = [
        None,
        Some(0.04),
        Some(1001.0 / 30_000.0),
        Some(0.5),
        Some(1.0),
        Some(2.0),
        Some(0.0),
        Some(f64::NAN),
    ];
    let setup = Setup {
        live: flags & 1 == 1,
        has_audio: flags & 2 == 2,
        stride: 1 + usize::from(stride % 32),
        max_snippets: (flags & 4 == 4).then_some(1 + usize::from(max % 64)),
        nominal_frame_s: NOMINAL[usize::from(nominal % 8)],
    };
    let events = Events {
        b,
        video_tb: TimeBase {
            num: 1,
            den: 90_000,
        },
        audio_tb: TimeBase {
            num: 1,
            den: 48_000,
        },
        video_ts: 0,
        audio_ts: 0,
        wall_s: 0.0,
        ops: 0,
    };
    let (tx, rx) = channel();
    let snippets = if setup.live {
        run_live(&setup, events)
    } else {
        run_file(&setup, events, tx, rx)
    };
    check(&setup, &snippets);
}

/// Moves the snippets the assembler has sent into `out`, charging their audio to `budget`.
fn collect(rx: &Receiver<Msg>, out: &mut Vec<Snippet>, budget: &mut usize) {
    while let Ok(m) = rx.try_recv() {
        if let Msg::Snippet(s) = m {
            *budget = budget.saturating_sub(s.audio.len().max(1));
            out.push(*s);
        }
    }
}

fn assembler(setup: &Setup, mut audio: AudioBuffer, live: bool) -> (Assembler, Receiver<Msg>) {
    audio.max_held = FUZZ_HELD_SAMPLES;
    let (tx, rx) = sync_channel(MAX_OPS + 16);
    let asm = Assembler {
        path: "fuzz.mp4".into(),
        tx,
        audio,
        has_audio: setup.has_audio,
        threshold: crate::reader::DEFAULT_SILENCE_THRESHOLD,
        emitted: 0,
        any_present: false,
        peak: 0.0,
        live,
        max_samples: FUZZ_SNIPPET_SAMPLES,
    };
    (asm, rx)
}

/// Live mode: the loop of `run_live_thread` with events for packets.
fn run_live(setup: &Setup, mut events: Events) -> Vec<Snippet> {
    let (mut asm, rx) = assembler(setup, AudioBuffer::live(setup.has_audio), true);
    let mut snips = LiveSnippets::new(setup.nominal_frame_s, setup.stride, setup.max_snippets);
    let mut audio: Option<LiveAudioPlacer<ModelResampler>> =
        setup.has_audio.then(LiveAudioPlacer::new);
    let offset = |clock: &VideoClock, audio: &Option<LiveAudioPlacer<ModelResampler>>| {
        live_audio_offset(clock, audio.as_ref().and_then(|a| a.first_pts))
    };
    let mut out = Vec::new();
    let mut budget = SAMPLE_BUDGET;
    let mut audio_budget = SAMPLE_BUDGET as u64;
    while let Some(ev) = events.next() {
        match ev {
            Event::Video { pts, wall_s } => {
                let first = snips.clock.last().is_none();
                let before = snips.clock.last();
                let t = snips
                    .frame(pts, wall_s, asm.emitted, |_| Ok::<_, ()>(image()))
                    .expect("the image is given");
                assert!(t.is_finite(), "live time {t} (pts {pts:?})");
                if let Some(l) = before {
                    assert!(t > l, "live time {t} after {l} (pts {pts:?})");
                }
                if first {
                    if let (Some(off), Some(a)) = (offset(&snips.clock, &audio), audio.as_mut()) {
                        a.flush_early(off, &mut asm.audio);
                    }
                }
            }
            Event::Audio { pts, samples, rate } => {
                // What the resampler will make of it (rates outside `AUDIO_RATES` make nothing).
                let out = samples as u64 * u64::from(AUDIO_RATE) / u64::from(rate.max(1));
                if out > audio_budget {
                    break;
                }
                audio_budget -= out;
                let off = offset(&snips.clock, &audio);
                if let Some(a) = audio.as_mut() {
                    a.decoded(pts, vec![0.5; samples], rate, off, &mut asm.audio);
                }
                let held: usize = asm.audio.segments.iter().map(|(_, d)| d.len()).sum();
                assert_eq!(held, asm.audio.held, "held samples miscounted");
                assert!(held <= FUZZ_HELD_SAMPLES, "{held} samples held");
            }
            // The audio thread's messages exist only in file mode.
            Event::Anchor(_) | Event::AudioEnd { .. } => {}
        }
        while let Some((p, end)) = snips.next_ready(&asm.audio, setup.has_audio) {
            if !asm.emit(p, end) {
                unreachable!("the receiver lives");
            }
        }
        collect(&rx, &mut out, &mut budget);
        if snips.done() || budget == 0 {
            break;
        }
    }
    snips.finish();
    let off = offset(&snips.clock, &audio);
    if let Some(a) = audio.as_mut() {
        a.finish(off, &mut asm.audio);
    }
    while let Some((p, end)) = snips.pop() {
        if !asm.emit(p, end) {
            unreachable!("the receiver lives");
        }
        collect(&rx, &mut out, &mut budget);
    }
    out
}

/// File mode: the audio thread's messages (anchors on the grid, samples, the end) queued first, as a fast audio
/// thread would; then the loop of `run_video_thread` over the video frames' pts.
fn run_file(
    setup: &Setup,
    mut events: Events,
    audio_tx: std::sync::mpsc::Sender<AudioMsg>,
    audio_rx: Receiver<AudioMsg>,
) -> Vec<Snippet> {
    let mut frames = Vec::new();
    let mut resampler: Option<ModelResampler> = None;
    let mut ended = false;
    let mut queued = 0usize;
    while let Some(ev) = events.next() {
        match ev {
            Event::Video { pts, .. } => frames.push(pts),
            // (File audio is decoded by `audio.rs`, which trusts the decoder's rate; the model takes the rates a
            // decoder gives.)
            Event::Audio { pts, samples, rate }
                if setup.has_audio
                    && !ended
                    && AUDIO_RATES.contains(&rate)
                    && queued < SAMPLE_BUDGET =>
            {
                if resampler.as_ref().is_none_or(|r| r.rate != rate) || pts.is_some() {
                    resampler = ModelResampler::create(rate).ok();
                    let _ = audio_tx.send(AudioMsg::Anchor(grid_index(pts.unwrap_or(0.0))));
                }
                if let Some(r) = resampler.as_mut() {
                    if let Ok(s) = r.push_chunk(&vec![0.5; samples]) {
                        queued += s.len();
                        let _ = audio_tx.send(AudioMsg::Samples(s));
                    }
                }
            }
            Event::Anchor(g) if setup.has_audio && !ended => {
                let _ = audio_tx.send(AudioMsg::Anchor(g));
            }
            Event::AudioEnd { fatal } if setup.has_audio && !ended => {
                ended = true;
                let _ = audio_tx.send(AudioMsg::End {
                    errors: 0,
                    fatal: fatal.then(|| "decoder failed".to_string()),
                });
            }
            _ => {}
        }
    }
    if !ended {
        let _ = audio_tx.send(AudioMsg::End {
            errors: 0,
            fatal: None,
        });
    }
    drop(audio_tx);
    let buffer = AudioBuffer::new(setup.has_audio.then_some(audio_rx));
    let (mut asm, rx) = assembler(setup, buffer, false);
    let mut out = Vec::new();
    let mut budget = SAMPLE_BUDGET;
    let mut pending: Option<Pending> = None;
    let mut last: Option<f64> = None;
    let stride = setup.stride as u64;
    // A file's frame pts (`video.rs`: best-effort timestamp, else the previous one plus a frame) are finite.
    for (n, pts) in frames.into_iter().enumerate() {
        let n = n as u64;
        let pts_s = pts
            .filter(|p| p.is_finite())
            .unwrap_or_else(|| last.map_or(0.0, |l| l + 0.04));
        if n.is_multiple_of(stride) {
            if let Some(p) = pending.take() {
                if !asm.emit(p, pts_s) {
                    unreachable!("the receiver lives");
                }
                collect(&rx, &mut out, &mut budget);
                if setup.max_snippets.is_some_and(|m| asm.emitted >= m) || budget == 0 {
                    return out;
                }
            }
            pending = Some(Pending {
                frame_index: n,
                start_s: pts_s,
                image: image(),
                wall_clock: None,
            });
        }
        last = Some(pts_s);
    }
    if let (Some(p), Some(l)) = (pending.take(), last) {
        let dur = setup.nominal_frame_s.unwrap_or(0.0);
        if !asm.emit(p, l + dur) {
            unreachable!("the receiver lives");
        }
        collect(&rx, &mut out, &mut budget);
    }
    out
}

/// The invariants of the module docs.
fn check(setup: &Setup, snippets: &[Snippet]) {
    if let Some(m) = setup.max_snippets {
        assert!(snippets.len() <= m, "{} snippets, max {m}", snippets.len());
    }
    for (i, s) in snippets.iter().enumerate() {
        let what = format!(
            "snippet {i} [{}, {}) of {} ({} samples)",
            s.start_s,
            s.end_s,
            snippets.len(),
            s.audio.len()
        );
        assert_eq!(s.index, i, "{what}: index");
        assert_eq!(
            s.frame_index,
            (i * setup.stride) as u64,
            "{what}: frame index"
        );
        if setup.live {
            assert!(
                s.start_s.is_finite() && s.end_s.is_finite(),
                "{what}: not finite"
            );
        }
        assert!(
            s.end_s >= s.start_s || (s.start_s.is_nan() && s.end_s.is_nan()),
            "{what}: ends before it starts"
        );
        let (g0, g1) = (grid_index(s.start_s), grid_index(s.end_s));
        let want = if setup.has_audio {
            usize::try_from((i128::from(g1) - i128::from(g0)).max(0))
                .unwrap_or(usize::MAX)
                .min(FUZZ_SNIPPET_SAMPLES)
        } else {
            0
        };
        assert_eq!(s.audio.len(), want, "{what}: audio length");
        if !setup.has_audio {
            assert_eq!(s.audio_state, AudioState::None, "{what}: audio state");
        }
        if s.audio_state == AudioState::None {
            assert!(
                s.audio.iter().all(|v| *v == 0.0),
                "{what}: state none, audio not zero"
            );
        }
        if let Some(next) = snippets.get(i + 1) {
            if setup.live {
                assert!(s.end_s > s.start_s, "{what}: empty live snippet");
                assert_eq!(s.end_s, next.start_s, "{what}: not contiguous");
            } else if next.start_s > s.start_s {
                assert_eq!(s.end_s, next.start_s, "{what}: not contiguous");
            }
        } else if setup.live {
            assert!(s.end_s > s.start_s, "{what}: empty last live snippet");
        }
        if setup.live && i == 0 {
            assert_eq!(s.start_s, 0.0, "{what}: live time does not start at 0");
        }
    }
}
