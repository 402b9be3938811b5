//! The live form of avad-pipeline's audio rule ([`avad_pipeline::audio_windows`]): each snippet's Wav2CLIP input
//! is the 1 s window centred on the middle of its span in the connection's concatenated audio, zero-padded before
//! the first sample and after the stream's end. A window is ready once the audio reaches its end, which is at most
//! about one snippet later (at 24–30 fps a 16-frame snippet lasts 0.53–0.67 s and the window reaches 0.17–0.23 s
//! past it), so audio models score with that much extra delay. The windows are exactly those
//! `avad_pipeline::audio_windows` cuts from the whole file.

use std::collections::VecDeque;

use avad_pipeline::AUDIO_WINDOW;

/// Collects one connection's audio and hands out the snippets' windows as they become complete.
#[derive(Debug, Default)]
pub struct LiveAudio {
    /// Samples kept, starting at absolute sample `base`.
    track: VecDeque<f32>,
    base: i64,
    /// Total samples seen.
    len: i64,
    /// Centres (absolute sample) of the snippets whose windows are not out yet, in order.
    pending: VecDeque<i64>,
}

impl LiveAudio {
    /// An empty track.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the next snippet's audio (16 kHz mono samples of exactly its span).
    pub fn push_snippet(&mut self, samples: &[f32]) {
        self.pending.push_back(self.len + samples.len() as i64 / 2);
        self.track.extend(samples);
        self.len += samples.len() as i64;
    }

    /// Snippets whose windows are not out yet.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// The windows that are complete now, in snippet order (all of them, zero-padded, when `stream_ended`).
    pub fn ready_windows(&mut self, stream_ended: bool) -> Vec<Vec<f32>> {
        let half = (AUDIO_WINDOW / 2) as i64;
        let mut out = Vec::new();
        while let Some(&centre) = self.pending.front() {
            if !stream_ended && centre + half > self.len {
                break;
            }
            self.pending.pop_front();
            let start = centre - half;
            out.push(
                (start..start + AUDIO_WINDOW as i64)
                    .map(|i| {
                        if i >= self.base && i < self.len {
                            self.track[(i - self.base) as usize]
                        } else {
                            0.0
                        }
                    })
                    .collect(),
            );
        }
        // keep what the next pending window can still reach, or (none pending) the next snippet's: its centre
        // is at least the current end
        let keep_from =
            (self.pending.front().map_or(self.len, |&c| c.min(self.len)) - half).max(self.base);
        while self.base < keep_from {
            self.track.pop_front();
            self.base += 1;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_windows_equal_the_offline_rule() {
        // snippets of uneven lengths (a VFR stream), some shorter than half a window
        let lens = [10_667usize, 10_667, 5_000, 20_000, 3_000, 12_000, 700];
        let mut parts = Vec::new();
        let mut x = 0f32;
        for &n in &lens {
            parts.push(
                (0..n)
                    .map(|_| {
                        x += 1.0;
                        x
                    })
                    .collect::<Vec<f32>>(),
            );
        }
        let offline = avad_pipeline::audio_windows(&parts);
        let mut live = LiveAudio::new();
        let mut got = Vec::new();
        for p in &parts {
            live.push_snippet(p);
            got.extend(live.ready_windows(false));
            assert!(
                live.track.len() <= AUDIO_WINDOW + 20_000,
                "memory stays bounded"
            );
        }
        assert!(
            live.pending() > 0,
            "the last windows wait for audio past the end"
        );
        got.extend(live.ready_windows(true));
        assert_eq!(got.len(), offline.len());
        for (i, (g, o)) in got.iter().zip(&offline).enumerate() {
            let first = g.iter().zip(o).position(|(a, b)| a != b);
            assert_eq!(first, None, "window {i} differs first at sample {first:?}");
        }
    }
}
