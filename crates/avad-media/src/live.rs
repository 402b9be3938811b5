//! The clock of live sources: how source timestamps become snippet times (`open` in live mode).
//!
//! Live sources (cameras over RTSP/HTTP/UDP, capture devices, pipes) start at arbitrary timestamps, jump (an RTSP
//! client switches to RTCP-synchronised times after the first sender report, a camera's clock wraps or is reset,
//! an encoder restarts) and carry audio and video on separate clocks. Stream time ("live time") is therefore built
//! from the source's pts as follows:
//!
//! - **Origin.** The first decoded video frame is live time 0 (its source pts is `LiveStart::video_start_pts_s`).
//!   `offset` maps source pts to live time: `live = pts + offset`, initially `offset = -first_pts`.
//! - **Video continuity.** A frame whose mapped time lies `(0, LIVE_MAX_JUMP_S]` after the previous frame keeps it
//!   (a real gap: lost frames, a low-rate camera). Anything else — equal or earlier pts, or a jump forward by more
//!   than `LIVE_MAX_JUMP_S` — is a **discontinuity**: the frame is placed one frame interval (the last interval
//!   seen in `(0, 1]` s, else 1 / average fps, else 40 ms) after the previous one and `offset` is re-computed from
//!   it, so the timestamps after the jump continue from there. Live time is strictly increasing.
//! - **Frames without pts** (e.g. MJPEG over HTTP) are placed by arrival: wall-clock seconds since the first frame,
//!   at least 1 ms after the previous frame.
//! - **Audio follows the video's pts relation.** An audio frame with pts `a` belongs at `a + offset` (the video's
//!   current offset: the source says which audio goes with which frame). Audio is contiguous on the 16 kHz grid as
//!   long as that target is within `GAP_TOLERANCE_S` of where the previous audio ended; within `LIVE_MAX_JUMP_S`
//!   the audio is re-anchored at the target (a hole becomes silence, an overlap is dropped: this is how the RTCP
//!   re-synchronisation of an RTSP stream, or lost audio packets, are absorbed); beyond that the audio stays
//!   contiguous (a clock jump the video has not made, or made differently: the two are re-joined once their
//!   relation is within `LIVE_MAX_JUMP_S` again). Audio without pts is contiguous.
//! - **Snippets** then follow the file rules on live time: snippet `i` spans `[t(i·stride), t((i+1)·stride))`, so
//!   snippet 0 starts at 0.0 and `end_s` of one snippet is `start_s` of the next; its audio is the grid samples of
//!   exactly that span.

/// Largest jump of the source clock kept as real time (video) or followed by the audio (see the module docs).
pub const LIVE_MAX_JUMP_S: f64 = 2.0;

/// Frame interval assumed when neither the stream nor the frames seen so far give one (25 fps).
const DEFAULT_FRAME_S: f64 = 0.040;

/// Live-time placement of video frames (see the module docs).
#[derive(Debug, Clone)]
pub(crate) struct VideoClock {
    /// Source pts at live time 0: the first frame's, or implied by the first frame with one (`None` before).
    first_pts: Option<f64>,
    /// `live = pts + offset`; `None` until a frame with pts was placed.
    offset: Option<f64>,
    /// Live time of the previous frame (`None` before the first).
    last: Option<f64>,
    /// Current frame-interval estimate.
    step: f64,
    /// Discontinuities stitched so far.
    pub discontinuities: u64,
}

impl VideoClock {
    /// A clock for a stream whose nominal frame interval is `nominal_s` (1 / average fps), if known.
    pub(crate) fn new(nominal_s: Option<f64>) -> Self {
        VideoClock {
            first_pts: None,
            offset: None,
            last: None,
            step: nominal_s
                .filter(|s| *s > 0.0 && *s <= 1.0)
                .unwrap_or(DEFAULT_FRAME_S),
            discontinuities: 0,
        }
    }

    /// Source pts of the first frame, if it had one.
    pub(crate) fn first_pts(&self) -> Option<f64> {
        self.first_pts
    }

    /// The current source-to-live offset (`None` until a frame with pts was placed).
    pub(crate) fn offset(&self) -> Option<f64> {
        self.offset
    }

    /// Live time of the previous frame.
    pub(crate) fn last(&self) -> Option<f64> {
        self.last
    }

    /// The current frame-interval estimate in seconds.
    pub(crate) fn step(&self) -> f64 {
        self.step
    }

    /// Places the next frame: `pts` its source pts in seconds (`None` when it has none), `wall_s` seconds of wall
    /// clock since the first frame arrived. Returns its live time.
    ///
    /// A non-finite `pts` counts as none; a non-finite `wall_s` as no time passed.
    pub(crate) fn place(&mut self, pts: Option<f64>, wall_s: f64) -> f64 {
        let pts = pts.filter(|p| p.is_finite());
        let Some(last) = self.last else {
            self.first_pts = pts;
            self.offset = pts.map(|p| -p);
            self.last = Some(0.0);
            return 0.0;
        };
        let live = match (pts, self.offset) {
            (Some(p), Some(off)) => {
                let cand = p + off;
                let d = cand - last;
                // (A NaN `d`, from pts near ±f64::MAX, fails both tests: a discontinuity.)
                if d > 0.0 && d <= LIVE_MAX_JUMP_S {
                    if d <= 1.0 {
                        self.step = d;
                    }
                    cand
                } else {
                    self.discontinuities += 1;
                    let t = last + self.step;
                    self.offset = Some(t - p).filter(|o| o.is_finite());
                    t
                }
            }
            (Some(p), None) => {
                // First pts after frames without: continue one interval on; live 0 then corresponds to the
                // source pts `first_pts` implied by it.
                let t = last + self.step;
                self.offset = Some(t - p).filter(|o| o.is_finite());
                self.first_pts = Some(p - t).filter(|f| f.is_finite());
                t
            }
            (None, _) => {
                let w = if wall_s.is_finite() { wall_s } else { last };
                w.max(last + 0.001)
            }
        };
        self.last = Some(live);
        live
    }
}

/// Where an audio frame goes on the live clock.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum AudioPlace {
    /// Directly after the previous audio (no new anchor).
    Contiguous,
    /// Re-anchor at this live time (seconds).
    Anchor(f64),
}

/// Live-time placement of audio frames relative to the video clock (see the module docs).
#[derive(Debug, Clone, Default)]
pub(crate) struct AudioClock {
    /// Live time where the previous audio frame ended (`None` before the first).
    next: Option<f64>,
}

impl AudioClock {
    /// Places an audio frame of `dur_s` seconds with source pts `pts`, given the video's current `offset`;
    /// returns the decision and the frame's live start time.
    ///
    /// Non-finite values (only from absurd timestamps) are never placed: a non-finite target counts as no pts, a
    /// non-finite or negative duration as 0, and an end that overflows starts the next frame afresh.
    pub(crate) fn place(&mut self, pts: Option<f64>, dur_s: f64, offset: f64) -> (AudioPlace, f64) {
        let target = pts.map(|a| a + offset).filter(|t| t.is_finite());
        let dur_s = if dur_s.is_finite() && dur_s > 0.0 {
            dur_s
        } else {
            0.0
        };
        let place = match (self.next, target) {
            (None, t) => AudioPlace::Anchor(t.unwrap_or(0.0)),
            (Some(_), None) => AudioPlace::Contiguous,
            (Some(n), Some(t)) => {
                let d = (t - n).abs();
                if d <= crate::audio::GAP_TOLERANCE_S || d > LIVE_MAX_JUMP_S {
                    AudioPlace::Contiguous
                } else {
                    AudioPlace::Anchor(t)
                }
            }
        };
        let start = match place {
            AudioPlace::Anchor(t) => t,
            AudioPlace::Contiguous => self.next.unwrap_or(0.0),
        };
        self.next = Some(start + dur_s).filter(|n| n.is_finite());
        (place, start)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn video_starts_at_zero_and_stitches_jumps() {
        let mut c = VideoClock::new(Some(0.04));
        assert_eq!(c.place(Some(100.0), 0.0), 0.0);
        assert!((c.place(Some(100.04), 0.0) - 0.04).abs() < 1e-9);
        // A real gap of 0.5 s is kept.
        assert!((c.place(Some(100.54), 0.0) - 0.54).abs() < 1e-9);
        // Backwards (RTCP re-sync, wrap): one interval (the last one seen, 0.5 > 1? no: 0.5) on.
        let t = c.place(Some(3.0), 0.0);
        assert!((t - 1.04).abs() < 1e-9, "{t}");
        assert_eq!(c.discontinuities, 1);
        // Then continues from the new offset.
        assert!((c.place(Some(3.04), 0.0) - 1.08).abs() < 1e-9);
        // Forward beyond the limit: stitched as well.
        let t = c.place(Some(1000.0), 0.0);
        assert!((t - 1.12).abs() < 1e-9, "{t}");
        // Equal pts: strictly increasing anyway.
        let t2 = c.place(Some(1000.0), 0.0);
        assert!(t2 > t);
        assert_eq!(c.discontinuities, 3);
    }

    #[test]
    fn frames_without_pts_use_the_wall_clock() {
        let mut c = VideoClock::new(None);
        assert_eq!(c.place(None, 0.0), 0.0);
        assert!((c.place(None, 0.25) - 0.25).abs() < 1e-9);
        assert!((c.place(None, 0.25) - 0.251).abs() < 1e-9);
    }

    #[test]
    fn audio_follows_the_video_relation_within_the_limit() {
        let mut a = AudioClock::default();
        // Video offset -10: audio pts 10.2 belongs at 0.2.
        let (p, t) = a.place(Some(10.2), 0.1, -10.0);
        assert!(matches!(p, AudioPlace::Anchor(_)));
        assert!((t - 0.2).abs() < 1e-9);
        // Jitter: contiguous.
        let (p, t) = a.place(Some(10.31), 0.1, -10.0);
        assert_eq!(p, AudioPlace::Contiguous);
        assert!((t - 0.3).abs() < 1e-9);
        // Video offset moved by 0.5 s (RTCP sync of the video): audio re-anchored on the new relation.
        match a.place(Some(10.4), 0.1, -9.5).0 {
            AudioPlace::Anchor(t) => assert!((t - 0.9).abs() < 1e-9),
            p => panic!("{p:?}"),
        }
        // A clock jump of the audio alone (1000 s): stays contiguous.
        let (p, t) = a.place(Some(1010.5), 0.1, -9.5);
        assert_eq!(p, AudioPlace::Contiguous);
        assert!((t - 1.0).abs() < 1e-9);
    }
}
