//! Clips by stream copy: the encoded packets of a time span written to an MP4 without re-encoding.
//!
//! Two sources of packets, one writer ([`write_packets`]):
//! - **live sources**: a [`Recorder`] — a bounded ring of the source's video and audio packets that the live reader
//!   fills as it reads (`DecodeOptions::record`, [`crate::MediaReader::recorder`]). Packets are kept for
//!   `RecordOptions::keep_s` seconds behind the newest one (the pre-roll), or from the time given to
//!   [`Recorder::hold_from`] (an open event's start), but never more than `max_s` seconds or `max_bytes`.
//! - **files**: [`clip_from_file`] seeks in the file and reads the span again.
//!
//! Times are the reader's: live time for live sources (`live.rs`), presentation time in seconds for files — the
//! times of `Snippet::start_s` / `end_s`. A clip starts at the last video keyframe at or before the requested start
//! (the first one kept if none is), so it plays from its first frame; it ends with the last video packet at or
//! before the requested end. Timestamps are rewritten from the clip's first keyframe (time 0), with each packet's
//! decode delay (pts − dts) kept. Codecs MP4 cannot hold (e.g. the G.711 audio some cameras send) make the clip a
//! Matroska file instead (`.mkv`): `ClipInfo::path` says which. The file appears only when complete (a temporary
//! file beside it, renamed; a killed writer leaves `.<name>.<pid>.tmp`).

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use ff::ffi;
use ff::Rescale;
use ffmpeg_next as ff;

use crate::error::{MediaError, Result};
use crate::ffmpeg::{open_input, ts2s};

/// How much of a live source a [`Recorder`] keeps.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RecordOptions {
    /// Seconds kept behind the newest packet when nothing is held (the longest pre-roll a clip can have, plus the
    /// time an event takes to be detected).
    pub keep_s: f64,
    /// Most seconds kept in all, even while held (the longest clip).
    pub max_s: f64,
    /// Most bytes of packets kept in all.
    pub max_bytes: usize,
}

impl Default for RecordOptions {
    fn default() -> Self {
        Self {
            keep_s: 20.0,
            max_s: 300.0,
            max_bytes: 256 << 20,
        }
    }
}

/// A clip that was written.
#[derive(Debug, Clone, PartialEq)]
pub struct ClipInfo {
    /// Where it was written (the asked-for path, or with `.mkv` when MP4 cannot hold the codecs).
    pub path: PathBuf,
    /// Reader time of its first frame (a keyframe at or before the asked-for start).
    pub start_s: f64,
    /// Reader time of its last video packet.
    pub end_s: f64,
    /// Packets written (video and audio).
    pub packets: usize,
}

/// The stream a packet is copied into: its codec parameters and time base.
struct StreamCopy {
    /// Stream index in the source.
    source_index: usize,
    params: ff::codec::Parameters,
    tb: ff::Rational,
}

/// One kept packet.
struct Kept {
    /// Index into the streams (0: video, 1: audio).
    stream: usize,
    /// Reader time of its presentation.
    time_s: f64,
    /// pts − dts in the stream's time base (0 when either is missing).
    delay: i64,
    key: bool,
    packet: ff::Packet,
}

impl Kept {
    fn is_video_key(&self) -> bool {
        self.stream == 0 && self.key
    }
}

/// The source's streams to copy: its video stream and, if given, one audio stream.
fn stream_copies(
    ictx: &ff::format::context::Input,
    video: usize,
    audio: Option<usize>,
) -> Vec<StreamCopy> {
    [Some(video), audio]
        .into_iter()
        .flatten()
        .filter_map(|i| {
            let st = ictx.stream(i)?;
            Some(StreamCopy {
                source_index: i,
                params: st.parameters().clone(),
                tb: st.time_base(),
            })
        })
        .collect()
}

/// Packets read before the live clock could place them (before the first decoded frame); the oldest are dropped
/// beyond this many.
const MAX_UNPLACED: usize = 2048;

/// The packets a [`Recorder`] holds.
struct Ring {
    streams: Vec<StreamCopy>,
    opts: RecordOptions,
    packets: VecDeque<Kept>,
    /// Packets waiting for the live clock: (stream, source pts in seconds, packet).
    unplaced: VecDeque<(usize, Option<f64>, ff::Packet)>,
    bytes: usize,
    newest: f64,
    hold_from: Option<f64>,
    /// `newest` at the last trim (trimming runs about every 0.5 s of stream time).
    trimmed_at: f64,
}

/// A bounded ring of a live source's encoded packets, filled by the live reader; clips are cut from it with
/// [`Recorder::write_clip`]. Cloning shares the ring.
#[derive(Clone)]
pub struct Recorder {
    source: PathBuf,
    ring: Arc<Mutex<Ring>>,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder")
            .field("source", &self.source)
            .field("span", &self.span())
            .finish()
    }
}

impl Recorder {
    /// A recorder of `ictx`'s stream `video` and, if given, `audio`.
    pub(crate) fn new(
        source: &Path,
        ictx: &ff::format::context::Input,
        video: usize,
        audio: Option<usize>,
        opts: RecordOptions,
    ) -> Self {
        let ring = Ring {
            streams: stream_copies(ictx, video, audio),
            opts,
            packets: VecDeque::new(),
            unplaced: VecDeque::new(),
            bytes: 0,
            newest: f64::NEG_INFINITY,
            hold_from: None,
            trimmed_at: f64::NEG_INFINITY,
        };
        Self {
            source: source.to_path_buf(),
            ring: Arc::new(Mutex::new(ring)),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Ring> {
        // A panic while holding the lock leaves a ring that is still consistent enough to read or clear.
        self.ring.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Keeps a packet the live reader just read. `offset` maps source pts to live time (`live = pts + offset`;
    /// `None` before the clock has one); `now_s` is the live time of the latest decoded frame, used for packets
    /// without a pts. Packets of other streams are ignored.
    pub(crate) fn push(&self, packet: &ff::Packet, offset: Option<f64>, now_s: Option<f64>) {
        let mut ring = self.lock();
        let Some(stream) = ring
            .streams
            .iter()
            .position(|s| s.source_index == packet.stream())
        else {
            return;
        };
        let tb = ring.streams[stream].tb;
        let src_s = packet.pts().or(packet.dts()).and_then(|t| ts2s(t, tb));
        ring.unplaced.push_back((stream, src_s, packet.clone()));
        while ring.unplaced.len() > MAX_UNPLACED {
            ring.unplaced.pop_front();
        }
        // Place what can be placed, in reading order.
        while let Some((_, src, _)) = ring.unplaced.front() {
            let time_s = match (src, offset, now_s) {
                (Some(s), Some(off), _) => s + off,
                (None, _, Some(now)) => now,
                _ => break,
            };
            let Some((stream, _, packet)) = ring.unplaced.pop_front() else {
                break;
            };
            ring.keep(stream, time_s, packet);
        }
        ring.trim();
    }

    /// Keeps every packet from reader time `from_s` on (an open event's start minus its pre-roll) until called
    /// with `None`; `max_s` and `max_bytes` still apply.
    pub fn hold_from(&self, from_s: Option<f64>) {
        self.lock().hold_from = from_s;
    }

    /// Reader times of the oldest and newest packets kept, `None` when empty.
    pub fn span(&self) -> Option<(f64, f64)> {
        let ring = self.lock();
        let first = ring.packets.front()?.time_s;
        Some((first, ring.newest))
    }

    /// Writes the kept packets of reader time `[from_s, to_s]` to `out` (see the module docs).
    pub fn write_clip(&self, out: &Path, from_s: f64, to_s: f64) -> Result<ClipInfo> {
        // Copy out under the lock (packet copies are reference-counted buffers), write without it.
        let (streams, packets) = {
            let ring = self.lock();
            let streams: Vec<StreamCopy> = ring
                .streams
                .iter()
                .map(|s| StreamCopy {
                    source_index: s.source_index,
                    params: s.params.clone(),
                    tb: s.tb,
                })
                .collect();
            let packets: Vec<Kept> = ring
                .packets
                .iter()
                .map(|k| Kept {
                    stream: k.stream,
                    time_s: k.time_s,
                    delay: k.delay,
                    key: k.key,
                    packet: k.packet.clone(),
                })
                .collect();
            (streams, packets)
        };
        write_packets(&self.source, out, &streams, &packets, from_s, to_s)
    }
}

impl Ring {
    fn keep(&mut self, stream: usize, time_s: f64, packet: ff::Packet) {
        let delay = match (packet.pts(), packet.dts()) {
            (Some(p), Some(d)) => p - d,
            _ => 0,
        };
        self.bytes += packet.size();
        if stream == 0 {
            self.newest = self.newest.max(time_s);
        }
        self.packets.push_back(Kept {
            stream,
            time_s,
            delay,
            key: packet.is_key(),
            packet,
        });
    }

    /// Drops what is no longer needed, from the front, so that the ring still starts with a video keyframe at or
    /// before the oldest time it must keep.
    fn trim(&mut self) {
        let over_bytes = self.bytes > self.opts.max_bytes;
        if !over_bytes && self.newest < self.trimmed_at + 0.5 {
            return;
        }
        self.trimmed_at = self.newest;
        let floor = self.newest - self.opts.max_s; // never keep more than this
        let keep_from = match self.hold_from {
            Some(h) => h.max(floor),
            None => (self.newest - self.opts.keep_s).max(floor),
        };
        // The last video keyframe at or before `keep_from` becomes the front.
        let mut cut = 0;
        for (i, k) in self.packets.iter().enumerate() {
            if k.time_s > keep_from && k.stream == 0 {
                break;
            }
            if k.is_video_key() {
                cut = i;
            }
        }
        self.drop_front(cut);
        // Over the byte limit: drop whole groups of pictures from the front until under it.
        while self.bytes > self.opts.max_bytes && self.packets.len() > 1 {
            let next_key = self
                .packets
                .iter()
                .skip(1)
                .position(Kept::is_video_key)
                .map(|p| p + 1)
                .unwrap_or(self.packets.len());
            self.drop_front(next_key);
        }
    }

    fn drop_front(&mut self, n: usize) {
        for k in self.packets.drain(..n) {
            self.bytes = self.bytes.saturating_sub(k.packet.size());
        }
    }
}

/// Writes the span `[from_s, to_s]` of a file (presentation times in seconds, as its snippets have them) to `out`
/// by stream copy: the video stream and the first audio stream (see the module docs).
pub fn clip_from_file(source: &Path, out: &Path, from_s: f64, to_s: f64) -> Result<ClipInfo> {
    check_span(source, from_s, to_s)?;
    let mut ictx = open_input(source)?;
    let video = ictx
        .streams()
        .best(ff::media::Type::Video)
        .map(|s| s.index())
        .ok_or_else(|| MediaError::NoVideoStream {
            path: source.to_path_buf(),
            streams: String::new(),
        })?;
    let audio = ictx
        .streams()
        .best(ff::media::Type::Audio)
        .map(|s| s.index());
    let streams = stream_copies(&ictx, video, audio);
    // To the keyframe at or before the start (a failed seek reads from the beginning: slower, same result).
    let ts = (from_s.max(0.0) * f64::from(ffi::AV_TIME_BASE)) as i64;
    if ictx.seek(ts, ..ts).is_err() {
        ictx = open_input(source)?;
    }
    let mut packets = Vec::new();
    loop {
        // A fresh packet each time: `read` overwrites without releasing (see `read_packet_of`).
        let mut packet = ff::Packet::empty();
        match packet.read(&mut ictx) {
            Ok(()) => {}
            Err(ff::Error::InvalidData) => continue,
            Err(_) => break, // end of file, or a read error: what was read is the clip
        }
        let Some(stream) = streams
            .iter()
            .position(|s| s.source_index == packet.stream())
        else {
            continue;
        };
        let tb = streams[stream].tb;
        let Some(time_s) = packet.pts().or(packet.dts()).and_then(|t| ts2s(t, tb)) else {
            continue;
        };
        // B-frames arrive up to a few frames before their presentation: read a second past the end.
        if stream == 0 && time_s > to_s + 1.0 {
            break;
        }
        let delay = match (packet.pts(), packet.dts()) {
            (Some(p), Some(d)) => p - d,
            _ => 0,
        };
        packets.push(Kept {
            stream,
            time_s,
            delay,
            key: packet.is_key(),
            packet,
        });
    }
    write_packets(source, out, &streams, &packets, from_s, to_s)
}

fn check_span(source: &Path, from_s: f64, to_s: f64) -> Result<()> {
    if from_s.is_finite() && to_s.is_finite() && from_s <= to_s {
        Ok(())
    } else {
        Err(clip_error(
            source,
            format!("invalid clip span {from_s} .. {to_s} s"),
        ))
    }
}

fn clip_error(path: &Path, reason: String) -> MediaError {
    MediaError::Clip {
        path: path.to_path_buf(),
        reason,
    }
}

/// True when the MP4 muxer can hold every stream's codec.
fn mp4_holds(streams: &[StreamCopy]) -> bool {
    // SAFETY: looks up and queries FFmpeg's static muxer description; reads nothing else.
    unsafe {
        let mp4 = ffi::av_guess_format(c"mp4".as_ptr(), std::ptr::null(), std::ptr::null());
        !mp4.is_null()
            && streams.iter().all(|s| {
                ffi::avformat_query_codec(mp4, s.params.id().into(), ffi::FF_COMPLIANCE_NORMAL) == 1
            })
    }
}

/// Writes the packets of `[from_s, to_s]` (see the module docs) to `out`, atomically.
fn write_packets(
    source: &Path,
    out: &Path,
    streams: &[StreamCopy],
    packets: &[Kept],
    from_s: f64,
    to_s: f64,
) -> Result<ClipInfo> {
    check_span(source, from_s, to_s)?;
    // The first frame: the last video keyframe at or before `from_s`, else the first keyframe.
    let start = packets
        .iter()
        .rposition(|k| k.is_video_key() && k.time_s <= from_s)
        .or_else(|| packets.iter().position(Kept::is_video_key))
        .ok_or_else(|| {
            clip_error(
                source,
                format!("no video keyframe kept for {from_s:.2} .. {to_s:.2} s"),
            )
        })?;
    let origin = packets[start].time_s;
    if origin > to_s {
        return Err(clip_error(
            source,
            format!(
                "nothing kept of {from_s:.2} .. {to_s:.2} s (the first keyframe kept is at {origin:.2} s)"
            ),
        ));
    }
    let chosen: Vec<&Kept> = packets[start..]
        .iter()
        .filter(|k| k.time_s >= origin - 1e-6 && k.time_s <= to_s + 1e-6)
        .collect();
    let (format, path) = if mp4_holds(streams) {
        ("mp4", out.to_path_buf())
    } else {
        ("matroska", out.with_extension("mkv"))
    };
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| clip_error(&path, e.to_string()))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "clip".into());
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let written = mux(&tmp, format, streams, &chosen, origin);
    match written {
        Ok(end_s) => {
            std::fs::rename(&tmp, &path).map_err(|e| {
                let _ = std::fs::remove_file(&tmp);
                clip_error(&path, e.to_string())
            })?;
            Ok(ClipInfo {
                path,
                start_s: origin,
                end_s,
                packets: chosen.len(),
            })
        }
        Err(reason) => {
            let _ = std::fs::remove_file(&tmp);
            Err(clip_error(&path, reason))
        }
    }
}

/// Muxes `packets` into `tmp`; returns the reader time of the last video packet.
fn mux(
    tmp: &Path,
    format: &str,
    streams: &[StreamCopy],
    packets: &[&Kept],
    origin: f64,
) -> std::result::Result<f64, String> {
    let mut octx = ff::format::output_as(tmp, format).map_err(|e| format!("cannot create: {e}"))?;
    for s in streams {
        let mut ost = octx
            .add_stream(ff::encoder::find(ff::codec::Id::None))
            .map_err(|e| format!("cannot add a stream: {e}"))?;
        ost.set_parameters(s.params.clone());
        ost.set_time_base(s.tb);
        // SAFETY: a plain field of the new stream's parameters; a source container's codec tag may not be valid
        // in the output container, 0 lets the muxer choose.
        unsafe {
            (*ost.parameters().as_mut_ptr()).codec_tag = 0;
        }
    }
    octx.write_header()
        .map_err(|e| format!("cannot write the header: {e}"))?;
    let out_tb: Vec<ff::Rational> = (0..streams.len())
        .map(|i| octx.stream(i).map_or(streams[i].tb, |s| s.time_base()))
        .collect();
    let mut last_dts: Vec<Option<i64>> = vec![None; streams.len()];
    let mut end_s = origin;
    for k in packets {
        let i = k.stream;
        let tb = out_tb[i];
        let to_ts =
            |s: f64| (s * f64::from(tb.denominator()) / f64::from(tb.numerator())).round() as i64;
        let pts = to_ts(k.time_s - origin);
        let delay = k.delay.max(0).rescale(streams[i].tb, tb);
        let mut dts = pts - delay;
        if let Some(prev) = last_dts[i] {
            dts = dts.max(prev + 1);
        }
        last_dts[i] = Some(dts);
        let mut p = k.packet.clone();
        p.set_stream(i);
        p.set_pts(Some(pts.max(dts)));
        p.set_dts(Some(dts));
        p.set_duration(k.packet.duration().rescale(streams[i].tb, tb));
        p.set_position(-1);
        if p.size() == 0 {
            continue;
        }
        p.write_interleaved(&mut octx)
            .map_err(|e| format!("cannot write a packet: {e}"))?;
        if i == 0 {
            end_s = end_s.max(k.time_s);
        }
    }
    octx.write_trailer()
        .map_err(|e| format!("cannot finish the file: {e}"))?;
    Ok(end_s)
}
