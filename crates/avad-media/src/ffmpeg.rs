//! FFmpeg glue shared by the probe, video and audio paths: library initialisation, opening inputs, timestamp and
//! rational conversion, error strings, demuxing the packets of one stream, codec contexts and stream side data.
//!
//! Imports nothing from this crate but `error`; everything else builds on it.

use std::ffi::{c_void, CStr, CString};
use std::os::raw::c_char;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Once, OnceLock};
use std::time::{Duration, Instant};

use ff::ffi;
use ff::media::Type;
use ffmpeg_next as ff;

use crate::error::{MediaError, Result};

/// Initialises FFmpeg once per process and silences its log below fatal errors (decoder errors are counted in
/// `DecodeSummary` instead of flooding stderr under a progress bar).
pub(crate) fn ensure_init() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        let _ = ff::init();
        ff::util::log::set_level(ff::util::log::Level::Fatal);
    });
}

/// True for FFmpeg URLs such as `http://…`, `rtsp://…` or `file:…` (no local existence check then).
pub(crate) fn is_url(path: &Path) -> bool {
    let s = path.to_string_lossy();
    s.contains("://") || s.starts_with("file:")
}

/// Opens `path` (a file, or an FFmpeg URL) with FFmpeg, mapping failures to `NotFound` / `NotMedia`.
pub(crate) fn open_input(path: &Path) -> Result<ff::format::context::Input> {
    ensure_init();
    if !is_url(path) {
        match std::fs::metadata(path) {
            Err(e) => {
                return Err(MediaError::NotFound {
                    path: path.to_path_buf(),
                    reason: e.to_string(),
                })
            }
            Ok(m) if m.is_file() && m.len() == 0 => {
                return Err(MediaError::NotMedia {
                    path: path.to_path_buf(),
                    reason: "the file is empty (0 bytes)".into(),
                })
            }
            Ok(_) => {}
        }
    }
    ff::format::input(&path).map_err(|e| MediaError::NotMedia {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

/// Default bound on opening a live source (connect, handshake, stream analysis).
pub const DEFAULT_OPEN_TIMEOUT: Duration = Duration::from_secs(10);

/// Default bound on waiting for the next packet of a live source.
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(5);

/// URL schemes treated as live sources (see `is_live_source`).
pub(crate) const LIVE_SCHEMES: [&str; 9] = [
    "rtsp", "rtsps", "rtmp", "http", "https", "udp", "tcp", "srt", "rtp",
];

/// True for inputs `open` decodes in live mode by default: URLs with a scheme of [`LIVE_SCHEMES`], `/dev/video*`
/// (V4L2 capture devices), `-` (standard input, e.g. an MPEG-TS pipe) and `pipe:`.
pub fn is_live_source(path: &Path) -> bool {
    let s = path.to_string_lossy();
    if s == "-" || s.starts_with("pipe:") || is_capture_device(&s) {
        return true;
    }
    s.split_once("://")
        .is_some_and(|(scheme, _)| LIVE_SCHEMES.contains(&scheme.to_ascii_lowercase().as_str()))
}

/// Milliseconds since a process-wide epoch (for the interrupt deadline, which must be an atomic).
fn now_ms() -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    EPOCH.get_or_init(Instant::now).elapsed().as_millis() as u64
}

/// The interrupt callback of a live input: FFmpeg polls it while it waits for the network (connect, read), and
/// gives up with `AVERROR_EXIT` once the armed deadline has passed or the reader was dropped.
#[derive(Debug, Clone)]
pub(crate) struct LiveIo {
    deadline_ms: Arc<AtomicU64>,
    cancel: Arc<AtomicBool>,
}

impl LiveIo {
    fn new() -> Self {
        LiveIo {
            deadline_ms: Arc::new(AtomicU64::new(u64::MAX)),
            cancel: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Allows the next blocking FFmpeg call `timeout` before it is interrupted.
    pub(crate) fn arm(&self, timeout: Duration) {
        let ms = now_ms().saturating_add(timeout.as_millis() as u64);
        self.deadline_ms.store(ms, Ordering::Relaxed);
    }

    /// No deadline until the next `arm`.
    pub(crate) fn disarm(&self) {
        self.deadline_ms.store(u64::MAX, Ordering::Relaxed);
    }

    /// Interrupts every blocking call from now on (the reader is gone).
    pub(crate) fn cancel(&self) {
        self.cancel.store(true, Ordering::Relaxed);
    }

    /// True once `cancel` was called.
    pub(crate) fn cancelled(&self) -> bool {
        self.cancel.load(Ordering::Relaxed)
    }

    fn interrupted(&self) -> bool {
        self.cancelled() || now_ms() > self.deadline_ms.load(Ordering::Relaxed)
    }
}

/// Opens a live input: `-` becomes `pipe:0`; RTSP runs over TCP (`rtsp_transport=tcp`) with a socket I/O timeout
/// (`timeout`, microseconds in FFmpeg 5.1); other protocols get `rw_timeout` (microseconds); and an interrupt
/// callback bounds the open (connect + stream analysis) by `open_timeout`. Reads are bounded by re-arming the
/// returned `LiveIo` before each one.
pub(crate) fn open_input_live(
    path: &Path,
    open_timeout: Duration,
    read_timeout: Duration,
) -> Result<(ff::format::context::Input, LiveIo)> {
    ensure_init();
    let s = path.to_string_lossy();
    let url = if s == "-" {
        "pipe:0".to_string()
    } else {
        s.into_owned()
    };
    if is_capture_device(&url) {
        if let Err(e) = std::fs::metadata(&url) {
            return Err(MediaError::NotFound {
                path: path.to_path_buf(),
                reason: e.to_string(),
            });
        }
    }
    let us = read_timeout
        .as_micros()
        .clamp(1, i64::MAX as u128)
        .to_string();
    let mut dict = ff::Dictionary::new();
    let lower = url.to_ascii_lowercase();
    if lower.starts_with("rtsp://") || lower.starts_with("rtsps://") {
        dict.set("rtsp_transport", "tcp");
        dict.set("timeout", &us);
    } else if !is_capture_device(&url) && !url.starts_with("pipe:") {
        dict.set("rw_timeout", &us);
    }
    let io = LiveIo::new();
    io.arm(open_timeout);
    let cb = io.clone();
    let r = if is_capture_device(&url) {
        open_capture_device(&url, move || cb.interrupted(), dict)
    } else {
        ff::format::input_with_interrupt_and_dictionary(&url, move || cb.interrupted(), dict)
    };
    match r {
        Ok(ictx) => {
            io.disarm();
            Ok((ictx, io))
        }
        Err(ff::Error::Exit) => Err(MediaError::NotMedia {
            path: path.to_path_buf(),
            reason: format!(
                "live source did not answer within the open timeout of {:.1} s",
                open_timeout.as_secs_f64()
            ),
        }),
        Err(e) => Err(MediaError::NotMedia {
            path: path.to_path_buf(),
            reason: e.to_string(),
        }),
    }
}

/// The FFmpeg demuxer of V4L2 capture devices (`libavdevice`).
pub(crate) const CAPTURE_DEVICE_FORMAT: &str = "video4linux2";

/// True for a V4L2 capture device path (`/dev/video*`), opened with [`CAPTURE_DEVICE_FORMAT`].
pub(crate) fn is_capture_device(url: &str) -> bool {
    url.starts_with("/dev/video")
}

/// Opens a V4L2 capture device: like `ff::format::input_with_interrupt_and_dictionary`, but with the
/// `video4linux2` demuxer named (a device node cannot be probed like a file), and with the same interrupt callback
/// so the open and every read stay bounded.
fn open_capture_device<F>(
    url: &str,
    interrupted: F,
    options: ff::Dictionary,
) -> std::result::Result<ff::format::context::Input, ff::Error>
where
    F: FnMut() -> bool + Send + 'static,
{
    let name = CString::new(CAPTURE_DEVICE_FORMAT).expect("no NUL");
    let c_url = CString::new(url).map_err(|_| ff::Error::InvalidData)?;
    // SAFETY: the same sequence as ffmpeg-next's `input_with_interrupt_and_dictionary` (alloc a context, install
    // the interrupt callback, open, find stream info, close on failure), with a named input format; the interrupt
    // guard is moved into the returned `Input`, which outlives every use of the callback.
    unsafe {
        let format = ffi::av_find_input_format(name.as_ptr());
        if format.is_null() {
            // FFmpeg was built without V4L2 support.
            return Err(ff::Error::DemuxerNotFound);
        }
        let mut ps = ffi::avformat_alloc_context();
        if ps.is_null() {
            return Err(ff::Error::Other { errno: ffi::ENOMEM });
        }
        let interrupt = ff::util::interrupt::new(Box::new(interrupted));
        (*ps).interrupt_callback = interrupt.interrupt;
        let mut opts = options.disown();
        let res = ffi::avformat_open_input(&mut ps, c_url.as_ptr(), format, &mut opts);
        ff::Dictionary::own(opts);
        if res != 0 {
            // avformat_open_input frees the context on failure.
            return Err(ff::Error::from(res));
        }
        let r = ffi::avformat_find_stream_info(ps, std::ptr::null_mut());
        if r < 0 {
            ffi::avformat_close_input(&mut ps);
            return Err(ff::Error::from(r));
        }
        Ok(ff::format::context::Input::wrap_with_interrupt(
            ps,
            interrupt.guard,
        ))
    }
}

/// Converts a rational to f64, `None` when the numerator or denominator is not positive.
pub(crate) fn q2f(q: ff::Rational) -> Option<f64> {
    if q.numerator() > 0 && q.denominator() > 0 {
        Some(f64::from(q.numerator()) / f64::from(q.denominator()))
    } else {
        None
    }
}

/// Converts a timestamp in `tb` units to seconds; `None` for AV_NOPTS_VALUE or an invalid time base.
pub(crate) fn ts2s(ts: i64, tb: ff::Rational) -> Option<f64> {
    if ts == ffi::AV_NOPTS_VALUE || tb.denominator() == 0 {
        return None;
    }
    Some(ts as f64 * f64::from(tb.numerator()) / f64::from(tb.denominator()))
}

/// Converts a duration in `tb` units to seconds; `None` when unknown, zero or negative.
pub(crate) fn dur2s(d: i64, tb: ff::Rational) -> Option<f64> {
    ts2s(d, tb).filter(|d| *d > 0.0)
}

/// FFmpeg's message for a negative `AVERROR` return code (as `av_strerror` writes it).
pub(crate) fn err_str(code: i32) -> String {
    ff::Error::from(code).to_string()
}

/// True for `AVERROR(EAGAIN)`: the decoder needs more input before it can output a frame.
pub(crate) fn is_eagain(e: &ff::Error) -> bool {
    matches!(e, ff::Error::Other { errno } if *errno == ff::util::error::EAGAIN)
}

/// A static NUL-terminated name returned by FFmpeg as an owned string; `None` for NULL.
pub(crate) fn cstr_opt(p: *const c_char) -> Option<String> {
    if p.is_null() {
        None
    } else {
        // SAFETY: FFmpeg returns static NUL-terminated names.
        Some(unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned())
    }
}

/// Lower-case name of a media type, as `av_get_media_type_string` spells it ("video", "audio", ...).
pub(crate) fn media_type_name(t: Type) -> &'static str {
    match t {
        Type::Video => "video",
        Type::Audio => "audio",
        Type::Subtitle => "subtitle",
        Type::Data => "data",
        Type::Attachment => "attachment",
        Type::Unknown => "unknown",
    }
}

/// Sets the integer option `name` of an AVOptions-enabled FFmpeg object; `false` when FFmpeg rejects it.
///
/// # Safety
/// `obj` must point to a live object whose first field is an `AVClass` pointer (e.g. an `SwsContext`).
pub(crate) unsafe fn set_int_opt(obj: *mut c_void, name: &str, v: i64) -> bool {
    let Ok(c) = CString::new(name) else {
        return false;
    };
    // SAFETY: the caller guarantees `obj`; the option name is NUL-terminated.
    unsafe { ffi::av_opt_set_int(obj, c.as_ptr(), v, 0) >= 0 }
}

/// Sets `discard = AVDISCARD_ALL` on every stream except `keep`, so the demuxer skips their packets cheaply.
pub(crate) fn discard_other_streams(ictx: &mut ff::format::context::Input, keep: usize) {
    // SAFETY: iterates the format context's own stream array.
    unsafe {
        let fc = ictx.as_mut_ptr();
        for i in 0..(*fc).nb_streams as usize {
            let st = *(*fc).streams.add(i);
            if !st.is_null() && i != keep {
                (*st).discard = ffi::AVDiscard::AVDISCARD_ALL;
            }
        }
    }
}

/// Lets the demuxer deliver the packets of stream `index` again (undoes `discard_other_streams` for it).
pub(crate) fn keep_stream(ictx: &mut ff::format::context::Input, index: usize) {
    // SAFETY: writes a field of one of the format context's own streams, bounds-checked.
    unsafe {
        let fc = ictx.as_mut_ptr();
        if index < (*fc).nb_streams as usize {
            let st = *(*fc).streams.add(index);
            if !st.is_null() {
                (*st).discard = ffi::AVDiscard::AVDISCARD_DEFAULT;
            }
        }
    }
}

/// An unopened codec context for a stream's parameters, with the packet time base set to the stream's `tb` as the
/// ffmpeg CLI does (the decoder needs it to shift pts, e.g. when it drops encoder-delay samples).
pub(crate) fn codec_context(
    params: ff::codec::Parameters,
    tb: ff::Rational,
) -> std::result::Result<ff::codec::Context, ff::Error> {
    let mut ctx = ff::codec::Context::from_parameters(params)?;
    // SAFETY: sets a plain field of a valid, not-yet-opened codec context.
    unsafe {
        (*ctx.as_mut_ptr()).pkt_timebase = tb.into();
    }
    Ok(ctx)
}

/// Reads packets into `packet` until one of stream `index` arrives (`true`) or the input ends (`false`).
///
/// Corrupt packets (`AVERROR_INVALIDDATA`) are skipped and any other read error ends the input like EOF, so a
/// broken file never ends silently: both count in `errors` (a clean EOF does not).
pub(crate) fn read_packet_of(
    ictx: &mut ff::format::context::Input,
    packet: &mut ff::Packet,
    index: usize,
    errors: &mut u64,
) -> bool {
    loop {
        // av_read_frame overwrites the packet without releasing what it held: release it first (reusing a
        // packet without this leaked every packet's buffer, about 1 MB per second of video).
        *packet = ff::Packet::empty();
        match packet.read(ictx) {
            Ok(()) if packet.stream() == index => return true,
            Ok(()) => {}
            Err(ff::Error::InvalidData) => *errors += 1,
            Err(ff::Error::Eof) => return false,
            Err(_) => {
                *errors += 1;
                return false;
            }
        }
    }
}

/// A stream's display matrix (`AV_PKT_DATA_DISPLAYMATRIX`) and the rotation it encodes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct DisplayMatrix {
    /// The 3x3 matrix, row-major, 16.16 fixed point (2.30 for the last column), as FFmpeg stores it.
    pub m: [i32; 9],
    /// Clockwise display rotation in degrees, rounded and wrapped to [-0.9, 359.1) like fftools' `get_rotation`.
    pub rotation_deg: f64,
}

/// Reads the stream's display matrix; `None` when it has none (or a malformed one, or one without a rotation).
pub(crate) fn display_matrix(st: &ff::format::stream::Stream) -> Option<DisplayMatrix> {
    // SAFETY: reads stream side data owned by the format context; checks size before use.
    unsafe {
        let mut size: usize = 0;
        let p = ffi::av_stream_get_side_data(
            st.as_ptr(),
            ffi::AVPacketSideDataType::AV_PKT_DATA_DISPLAYMATRIX,
            &mut size as *mut usize as *mut _,
        );
        if p.is_null() || size < 36 {
            return None;
        }
        let mut m = [0i32; 9];
        m.copy_from_slice(std::slice::from_raw_parts(p as *const i32, 9));
        let mut theta = -ffi::av_display_rotation_get(m.as_ptr()).round();
        if !theta.is_finite() {
            return None;
        }
        theta -= 360.0 * (theta / 360.0 + 0.9 / 360.0).floor();
        Some(DisplayMatrix {
            m,
            rotation_deg: theta,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v4l2_demuxer_is_registered() {
        ensure_init();
        let name = CString::new(CAPTURE_DEVICE_FORMAT).unwrap();
        // SAFETY: a lookup by name in FFmpeg's static table of demuxers.
        let format = unsafe { ffi::av_find_input_format(name.as_ptr()) };
        assert!(
            !format.is_null(),
            "FFmpeg has no {CAPTURE_DEVICE_FORMAT} demuxer"
        );
    }

    #[test]
    fn capture_device_paths_are_live() {
        assert!(is_live_source(Path::new("/dev/video0")));
        assert!(is_live_source(Path::new("/dev/video12")));
        assert!(!is_live_source(Path::new("/dev/null")));
    }

    #[test]
    fn a_missing_capture_device_is_not_found() {
        let path = Path::new("/dev/video-avad-test-missing");
        let err = open_input_live(path, Duration::from_secs(2), Duration::from_secs(1))
            .err()
            .expect("a missing device must not open");
        assert!(matches!(err, MediaError::NotFound { .. }), "{err}");
        assert!(
            err.to_string().contains("/dev/video-avad-test-missing"),
            "{err}"
        );
    }

    #[test]
    fn a_file_that_is_no_capture_device_is_an_error() {
        // The V4L2 demuxer on a regular file: its capability ioctl fails, and the open must end with an error (the
        // interrupt guard and the context freed), not a crash or a hang.
        let dir = std::env::temp_dir().join(format!("avad-v4l2-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("not-a-camera");
        std::fs::write(&file, b"not a camera").unwrap();
        let started = Instant::now();
        let r = open_capture_device(file.to_str().unwrap(), || false, ff::Dictionary::new());
        assert!(r.is_err());
        assert!(started.elapsed() < Duration::from_secs(5));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
