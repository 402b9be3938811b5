//! Video path: demux and decode the video stream, keep every `stride`-th decoded frame, and convert it to RGB24
//! with libswscale using the colour matrix and range the frame itself carries (as the ffmpeg CLI does).

use std::path::{Path, PathBuf};
use std::ptr;

use ff::ffi;
use ffmpeg_next as ff;

use crate::error::{MediaError, Result};
use crate::ffmpeg::{
    codec_context, discard_other_streams, display_matrix, dur2s, err_str, is_eagain, q2f,
    read_packet_of, set_int_opt, ts2s,
};

/// An RGB24 image, rows top to bottom, 3 bytes per pixel, no padding: `data.len() == width * height * 3`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RgbImage {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Pixels as [H, W, 3] u8, row-major.
    pub data: Vec<u8>,
}

impl RgbImage {
    /// The pixel at (x, y) as [r, g, b]; `None` outside the image.
    pub fn pixel(&self, x: u32, y: u32) -> Option<[u8; 3]> {
        if x >= self.width || y >= self.height {
            return None;
        }
        let i = (y as usize * self.width as usize + x as usize) * 3;
        self.data.get(i..i + 3).map(|p| [p[0], p[1], p[2]])
    }
}

/// One decoded video frame's timing, as the decoder reports it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FrameTime {
    /// Presentation time in seconds (best-effort timestamp; synthesised when the stream has none).
    pub pts_s: f64,
    /// Duration in seconds when known (> 0).
    pub duration_s: Option<f64>,
    /// The frame's own timestamp in seconds (`None` when it had none and `pts_s` was synthesised).
    pub src_pts_s: Option<f64>,
}

/// Maps FFmpeg's colour-space tag to the swscale coefficient table, exactly as the 5.1 `scale` filter's default
/// `in_color_matrix=auto` does: tags 1..=10 except 8 (YCgCo) are used, everything else (unspecified, RGB, ...)
/// falls back to BT.601 (BT470BG).
pub(crate) fn sws_colorspace_for(tag: i32) -> i32 {
    if !(1..=10).contains(&tag) || tag == 8 {
        ffi::SWS_CS_ITU601 // == AVCOL_SPC_BT470BG (5)
    } else {
        tag
    }
}

/// libswscale context converting decoded frames to RGB24 at their native size.
pub(crate) struct RgbConverter {
    ctx: *mut ffi::SwsContext,
    key: (i32, i32, i32),
    out: ff::frame::Video,
}

// SAFETY: used only by the thread that owns it.
unsafe impl Send for RgbConverter {}

/// Sets an integer option of a live SwsContext (an AVClass-enabled object).
fn set_opt(ctx: *mut ffi::SwsContext, name: &str, v: i64) -> bool {
    // SAFETY: `ctx` is a live SwsContext, whose first field is its AVClass.
    unsafe { set_int_opt(ctx as *mut std::ffi::c_void, name, v) }
}

impl RgbConverter {
    /// An empty converter; the swscale context is built on the first frame (and rebuilt if the size or format
    /// changes).
    pub(crate) fn new() -> Self {
        RgbConverter {
            ctx: ptr::null_mut(),
            key: (-1, -1, -1),
            out: ff::frame::Video::empty(),
        }
    }

    fn rebuild(&mut self, w: i32, h: i32, fmt: i32) -> std::result::Result<(), String> {
        // SAFETY: allocation and option setting on a fresh context, mirroring libavfilter's vf_scale (5.1):
        // flags "bicubic" (the ffmpeg CLI's default sws_flags), and for yuv420p input the MPEG-2 chroma
        // position (src_v_chr_pos 128) the filter sets by convention.
        unsafe {
            if !self.ctx.is_null() {
                ffi::sws_freeContext(self.ctx);
                self.ctx = ptr::null_mut();
            }
            let ctx = ffi::sws_alloc_context();
            if ctx.is_null() {
                return Err("sws_alloc_context failed".into());
            }
            let rgb = ffi::AVPixelFormat::AV_PIX_FMT_RGB24 as i64;
            let ok = set_opt(ctx, "srcw", i64::from(w))
                && set_opt(ctx, "srch", i64::from(h))
                && set_opt(ctx, "src_format", i64::from(fmt))
                && set_opt(ctx, "dstw", i64::from(w))
                && set_opt(ctx, "dsth", i64::from(h))
                && set_opt(ctx, "dst_format", rgb)
                && set_opt(ctx, "sws_flags", i64::from(ffi::SWS_BICUBIC))
                && set_opt(ctx, "src_h_chr_pos", -513)
                && set_opt(
                    ctx,
                    "src_v_chr_pos",
                    if fmt == ffi::AVPixelFormat::AV_PIX_FMT_YUV420P as i32 {
                        128
                    } else {
                        -513
                    },
                )
                && set_opt(ctx, "dst_h_chr_pos", -513)
                && set_opt(ctx, "dst_v_chr_pos", -513);
            if !ok {
                ffi::sws_freeContext(ctx);
                return Err("cannot set swscale options".into());
            }
            let e = ffi::sws_init_context(ctx, ptr::null_mut(), ptr::null_mut());
            if e < 0 {
                ffi::sws_freeContext(ctx);
                return Err(format!("unsupported conversion to rgb24: {}", err_str(e)));
            }
            self.ctx = ctx;
        }
        self.key = (w, h, fmt);
        self.out = ff::frame::Video::new(ff::format::Pixel::RGB24, w as u32, h as u32);
        Ok(())
    }

    /// Converts one decoded frame to RGB24 with the frame's own colour matrix and range.
    pub(crate) fn convert(
        &mut self,
        frame: &ff::frame::Video,
    ) -> std::result::Result<RgbImage, String> {
        // SAFETY: reads plain fields of a decoded AVFrame.
        let (w, h, fmt, cs, range) = unsafe {
            let f = &*frame.as_ptr();
            (
                f.width,
                f.height,
                f.format,
                f.colorspace as i32,
                f.color_range,
            )
        };
        if w <= 0 || h <= 0 || fmt < 0 {
            return Err(format!("frame has no picture ({w}x{h}, format {fmt})"));
        }
        if self.key != (w, h, fmt) || self.ctx.is_null() {
            self.rebuild(w, h, fmt)?;
        }
        // SAFETY: `self.ctx` is initialised for exactly this size/format; `self.out` was allocated as RGB24 w x h.
        unsafe {
            let mut inv_table: *mut i32 = ptr::null_mut();
            let mut table: *mut i32 = ptr::null_mut();
            let (mut in_full, mut out_full, mut bri, mut con, mut sat) = (0, 0, 0, 0, 0);
            ffi::sws_getColorspaceDetails(
                self.ctx,
                &mut inv_table,
                &mut in_full,
                &mut table,
                &mut out_full,
                &mut bri,
                &mut con,
                &mut sat,
            );
            let coeffs = ffi::sws_getCoefficients(sws_colorspace_for(cs));
            if range != ffi::AVColorRange::AVCOL_RANGE_UNSPECIFIED {
                in_full = i32::from(range == ffi::AVColorRange::AVCOL_RANGE_JPEG);
            }
            ffi::sws_setColorspaceDetails(
                self.ctx, coeffs, in_full, coeffs, out_full, bri, con, sat,
            );
            let f = &*frame.as_ptr();
            let o = &mut *self.out.as_mut_ptr();
            let n = ffi::sws_scale(
                self.ctx,
                f.data.as_ptr() as *const *const u8,
                f.linesize.as_ptr(),
                0,
                h,
                o.data.as_ptr(),
                o.linesize.as_ptr(),
            );
            if n != h {
                return Err(format!("sws_scale produced {n} of {h} rows"));
            }
            let stride = o.linesize[0] as usize;
            let row = w as usize * 3;
            let mut data = Vec::with_capacity(row * h as usize);
            for y in 0..h as usize {
                let src = std::slice::from_raw_parts(o.data[0].add(y * stride), row);
                data.extend_from_slice(src);
            }
            Ok(RgbImage {
                width: w as u32,
                height: h as u32,
                data,
            })
        }
    }
}

impl Drop for RgbConverter {
    fn drop(&mut self) {
        if !self.ctx.is_null() {
            // SAFETY: frees the context we allocated.
            unsafe { ffi::sws_freeContext(self.ctx) }
        }
    }
}

/// Demuxer + decoder of one video stream, yielding decoded frames in output order.
pub(crate) struct VideoDecoder {
    path: PathBuf,
    ictx: ff::format::context::Input,
    dec: ff::decoder::Video,
    index: usize,
    tb: ff::Rational,
    avg_frame_s: Option<f64>,
    frame: ff::frame::Video,
    packet: ff::Packet,
    eof_sent: bool,
    done: bool,
    last_pts: Option<f64>,
    orientation: Orientation,
    /// Video packets read.
    pub packets: u64,
    /// Packets or frames the decoder rejected (non-fatal).
    pub errors: u64,
}

impl VideoDecoder {
    /// Opens the decoder for stream `index` of an opened container (frame threading on, all cores).
    pub(crate) fn new(
        path: &Path,
        mut ictx: ff::format::context::Input,
        index: usize,
        threads: usize,
        autorotate: bool,
    ) -> Result<Self> {
        let dec_err = |reason: String| MediaError::Decoder {
            path: path.to_path_buf(),
            stream: "video",
            reason,
        };
        discard_other_streams(&mut ictx, index);
        let st = ictx
            .stream(index)
            .ok_or_else(|| dec_err(format!("stream {index} missing")))?;
        let tb = st.time_base();
        let orientation = if autorotate {
            Orientation::from_stream(&st)
        } else {
            Orientation::Identity
        };
        let avg_frame_s = q2f(st.avg_frame_rate())
            .filter(|f| *f < 1000.0)
            .map(|f| 1.0 / f);
        let mut ctx = codec_context(st.parameters(), tb).map_err(|e| dec_err(e.to_string()))?;
        ctx.set_threading(ff::codec::threading::Config {
            kind: ff::codec::threading::Type::Frame,
            count: threads,
            ..Default::default()
        });
        let dec = ctx
            .decoder()
            .video()
            .map_err(|e| dec_err(format!("cannot open decoder: {e}")))?;
        Ok(VideoDecoder {
            path: path.to_path_buf(),
            ictx,
            dec,
            index,
            tb,
            avg_frame_s,
            frame: ff::frame::Video::empty(),
            packet: ff::Packet::empty(),
            eof_sent: false,
            done: false,
            last_pts: None,
            orientation,
            packets: 0,
            errors: 0,
        })
    }

    /// The file being decoded.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The display orientation fix applied to sampled frames.
    pub(crate) fn orientation(&self) -> Orientation {
        self.orientation
    }

    /// Nominal frame duration from the header's average frame rate, if plausible.
    pub(crate) fn nominal_frame_s(&self) -> Option<f64> {
        self.avg_frame_s
    }

    /// Decodes the next frame; `Ok(None)` at the end of the stream. The frame stays valid until the next call.
    pub(crate) fn next_frame(&mut self) -> Result<Option<(&ff::frame::Video, FrameTime)>> {
        if self.done {
            return Ok(None);
        }
        loop {
            match self.dec.receive_frame(&mut self.frame) {
                Ok(()) => {
                    let t = self.frame_time();
                    return Ok(Some((&self.frame, t)));
                }
                Err(ff::Error::Eof) => {
                    self.done = true;
                    return Ok(None);
                }
                Err(e) if is_eagain(&e) => {}
                Err(_) => {
                    // A broken frame: count it and keep decoding.
                    self.errors += 1;
                    if self.eof_sent {
                        // Draining after EOF: an error here ends the stream.
                        self.done = true;
                        return Ok(None);
                    }
                }
            }
            if self.eof_sent {
                self.done = true;
                return Ok(None);
            }
            self.feed();
        }
    }

    /// Index of the decoded stream in the container.
    pub(crate) fn stream_index(&self) -> usize {
        self.index
    }

    /// The demuxer, for a caller that reads the packets itself (live mode: one demuxer for video and audio).
    pub(crate) fn input_mut(&mut self) -> &mut ff::format::context::Input {
        &mut self.ictx
    }

    /// Live mode: sends one packet of this stream to the decoder (a rejected packet counts in `errors`).
    pub(crate) fn send_packet(&mut self, packet: &ff::Packet) {
        self.packets += 1;
        if self.dec.send_packet(packet).is_err() {
            self.errors += 1;
        }
    }

    /// Live mode: the input ended; the decoder drains what it holds.
    pub(crate) fn send_eof(&mut self) {
        if !self.eof_sent {
            let _ = self.dec.send_eof();
            self.eof_sent = true;
        }
    }

    /// Live mode: the next frame the decoder can output without more input (`None`: it needs a packet, or it is
    /// drained after `send_eof`). The frame stays valid until the next call.
    pub(crate) fn receive(&mut self) -> Option<(&ff::frame::Video, FrameTime)> {
        match self.dec.receive_frame(&mut self.frame) {
            Ok(()) => {
                let t = self.frame_time();
                Some((&self.frame, t))
            }
            Err(ff::Error::Eof) => None,
            Err(e) if is_eagain(&e) => None,
            Err(_) => {
                // A broken frame: count it; the caller feeds the next packet.
                self.errors += 1;
                None
            }
        }
    }

    /// Reads packets until one of our stream is sent to the decoder, or sends EOF.
    fn feed(&mut self) {
        while read_packet_of(
            &mut self.ictx,
            &mut self.packet,
            self.index,
            &mut self.errors,
        ) {
            self.packets += 1;
            if self.dec.send_packet(&self.packet).is_ok() {
                return;
            }
            self.errors += 1;
        }
        let _ = self.dec.send_eof();
        self.eof_sent = true;
    }

    fn frame_time(&mut self) -> FrameTime {
        let ts = self.frame.timestamp().or(self.frame.pts());
        let dur = self.frame.packet().duration;
        let duration_s = if dur > 0 { dur2s(dur, self.tb) } else { None };
        let src_pts_s = ts.and_then(|t| ts2s(t, self.tb));
        let pts_s = match src_pts_s {
            Some(p) => p,
            // No timestamp: continue from the previous frame by its duration (or the nominal rate), else 0.
            None => match self.last_pts {
                Some(prev) => prev + duration_s.or(self.avg_frame_s).unwrap_or(0.0),
                None => 0.0,
            },
        };
        self.last_pts = Some(pts_s);
        FrameTime {
            pts_s,
            duration_s,
            src_pts_s,
        }
    }
}

/// Display orientation fix applied to every sampled frame, mirroring the ffmpeg CLI's `autorotate` (5.1):
/// a display matrix rotating by about 90 / 180 / 270 degrees becomes a transpose or flips; other angles are
/// left alone (the CLI would rotate with interpolation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Orientation {
    /// Nothing to do.
    Identity,
    /// Pixel permutations in the order the CLI inserts its filters.
    Ops {
        transpose: Option<Transpose>,
        hflip: bool,
        vflip: bool,
    },
}

/// The `transpose` filter's directions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transpose {
    /// dir 0: transpose (rotate 90 counter-clockwise and flip vertically).
    CclockFlip,
    /// dir 1: rotate 90 clockwise.
    Clock,
    /// dir 2: rotate 90 counter-clockwise.
    Cclock,
    /// dir 3: rotate 90 clockwise and flip vertically.
    ClockFlip,
}

impl Orientation {
    /// Reads the stream's display matrix (if any) and decides like fftools' `configure_input_video_filter`.
    pub(crate) fn from_stream(st: &ff::format::stream::Stream) -> Orientation {
        let Some(dm) = display_matrix(st) else {
            return Orientation::Identity;
        };
        let (m, theta) = (dm.m, dm.rotation_deg);
        let near = |a: f64| (theta - a).abs() < 1.0;
        if near(90.0) {
            let t = if m[3] > 0 {
                Transpose::CclockFlip
            } else {
                Transpose::Clock
            };
            Orientation::Ops {
                transpose: Some(t),
                hflip: false,
                vflip: false,
            }
        } else if near(180.0) {
            Orientation::Ops {
                transpose: None,
                hflip: m[0] < 0,
                vflip: m[4] < 0,
            }
        } else if near(270.0) {
            let t = if m[3] < 0 {
                Transpose::ClockFlip
            } else {
                Transpose::Cclock
            };
            Orientation::Ops {
                transpose: Some(t),
                hflip: false,
                vflip: false,
            }
        } else if theta.abs() < 1.0 && m[4] < 0 {
            Orientation::Ops {
                transpose: None,
                hflip: false,
                vflip: true,
            }
        } else {
            Orientation::Identity
        }
    }

    /// Applies the orientation to an RGB image (exact pixel permutation).
    pub(crate) fn apply(self, img: RgbImage) -> RgbImage {
        let Orientation::Ops {
            transpose,
            hflip,
            vflip,
        } = self
        else {
            return img;
        };
        let mut img = img;
        if let Some(t) = transpose {
            img = transpose_rgb(&img, t);
        }
        if hflip {
            img = remap(&img, img.width, img.height, |r, c, _h, w| (r, w - 1 - c));
        }
        if vflip {
            img = remap(&img, img.width, img.height, |r, c, h, _w| (h - 1 - r, c));
        }
        img
    }
}

/// Builds an `out_w x out_h` image whose pixel (r, c) is the source pixel `f(r, c, src_h, src_w)`.
fn remap(
    src: &RgbImage,
    out_w: u32,
    out_h: u32,
    f: impl Fn(usize, usize, usize, usize) -> (usize, usize),
) -> RgbImage {
    let (sw, sh) = (src.width as usize, src.height as usize);
    let mut data = vec![0u8; out_w as usize * out_h as usize * 3];
    for r in 0..out_h as usize {
        for c in 0..out_w as usize {
            let (sr, sc) = f(r, c, sh, sw);
            let si = (sr * sw + sc) * 3;
            let di = (r * out_w as usize + c) * 3;
            data[di..di + 3].copy_from_slice(&src.data[si..si + 3]);
        }
    }
    RgbImage {
        width: out_w,
        height: out_h,
        data,
    }
}

/// The `transpose` filter's pixel mapping: out(row y, col x) = in(row x, col y), with the output rows reversed
/// for `Cclock` / `ClockFlip` and the input rows reversed for `Clock` / `ClockFlip` (checked pixel for pixel
/// against the ffmpeg 5.1 CLI on files tagged rotate=90/180/270).
fn transpose_rgb(src: &RgbImage, t: Transpose) -> RgbImage {
    let (out_w, out_h) = (src.height, src.width);
    let (rev_out, rev_in) = match t {
        Transpose::CclockFlip => (false, false),
        Transpose::Clock => (false, true),
        Transpose::Cclock => (true, false),
        Transpose::ClockFlip => (true, true),
    };
    remap(src, out_w, out_h, |r, c, sh, _sw| {
        let y = if rev_out { out_h as usize - 1 - r } else { r };
        let x = c;
        let in_row = if rev_in { sh - 1 - x } else { x };
        (in_row, y)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_matrix_mapping_follows_the_scale_filter() {
        // The effective YUV->RGB coefficients swscale uses for a frame's colour-space tag.
        let coeffs = |tag: i32| -> [i32; 4] {
            // SAFETY: sws_getCoefficients returns a pointer to a static table of 4 ints.
            unsafe {
                *(ffmpeg_next::ffi::sws_getCoefficients(sws_colorspace_for(tag)) as *const [i32; 4])
            }
        };
        let bt601 = coeffs(5); // BT470BG
        assert_ne!(coeffs(1), bt601, "BT.709 must use its own matrix");
        for tag in [0, 2, 3, 6, 8, 11, 14, -1] {
            assert_eq!(coeffs(tag), bt601, "tag {tag} falls back to / is BT.601");
        }
        assert_ne!(coeffs(9), bt601, "BT.2020");
    }
}
