//! A small, strict WAV (RIFF/WAVE) reader: PCM u8/s16/s24/s32, IEEE float 32/64, `WAVE_FORMAT_EXTENSIBLE`, any
//! channel count, rates from [`MIN_SAMPLE_RATE`] to [`MAX_SAMPLE_RATE`]. Channels are averaged to mono (a plain
//! mean, not FFmpeg's default downmix matrix).
//!
//! Limits, checked before anything is decoded: a `data` chunk must be in the file (a chunk claiming 4 GB in a small
//! file is an error; `0` and `0xFFFFFFFF` mean "to the end of the file", as streaming writers use them), the
//! sample rate must lie in `[MIN_SAMPLE_RATE, MAX_SAMPLE_RATE]` (outside it the 16 kHz resampler's filter or output
//! would be unbounded) and need at most [`MAX_RESAMPLE_TABLE_TAPS`] of precomputed filter, and the audio may last at
//! most [`MAX_WAV_SECONDS`].

use std::path::{Path, PathBuf};

use crate::error::{Result, Wav2ClipError};
use crate::model::SAMPLE_RATE;
use crate::resample::resample;

/// Decoded WAV audio, already averaged to mono.
#[derive(Debug, Clone, PartialEq)]
pub struct WavAudio {
    /// Sample rate of the file, Hz.
    pub sample_rate: u32,
    /// Channels in the file (before averaging).
    pub channels: u16,
    /// Bits per sample in the file.
    pub bits_per_sample: u16,
    /// Whether the samples were IEEE float.
    pub float: bool,
    /// Mono samples in [-1, 1] (mean of the channels).
    pub samples: Vec<f32>,
}

/// Lowest sample rate accepted (Hz).
pub const MIN_SAMPLE_RATE: u32 = 4_000;
/// Highest sample rate accepted (Hz).
pub const MAX_SAMPLE_RATE: u32 = 192_000;
/// Longest audio accepted, in seconds (one hour: 230 MB of 16 kHz f32 samples after resampling).
pub const MAX_WAV_SECONDS: u64 = 3_600;
/// Largest resampling filter table (phases × taps) a sample rate may need to reach 16 kHz: [`crate::resample`]
/// precomputes one filter row per phase when there are at most 4096 phases, whatever the file's length, so an odd
/// rate such as 96085 Hz (3200 phases × 614 taps) would cost a second of CPU even for a 40-byte file (found by
/// fuzzing). Every standard rate needs under 50 000.
pub const MAX_RESAMPLE_TABLE_TAPS: u64 = 500_000;

/// Taps of the filter table `resample` precomputes for `rate` → 16 kHz (0 when it computes rows per sample).
fn resample_table_taps(rate: u32) -> u64 {
    use crate::resample::{ROLLOFF, ZERO_CROSSINGS};
    fn gcd(a: u64, b: u64) -> u64 {
        if b == 0 {
            a
        } else {
            gcd(b, a % b)
        }
    }
    let (from, to) = (u64::from(rate), u64::from(SAMPLE_RATE));
    if from == to || from == 0 {
        return 0;
    }
    let up = to / gcd(from, to);
    if up > 4096 {
        return 0; // `resample`'s MAX_TABLE_PHASES: rows are computed per output sample instead
    }
    let fc = ROLLOFF * 0.5 * (to as f64 / from as f64).min(1.0);
    let taps = 2 * (ZERO_CROSSINGS as f64 / (2.0 * fc)).ceil() as u64;
    up * taps
}

const FORMAT_PCM: u16 = 1;
const FORMAT_FLOAT: u16 = 3;
const FORMAT_EXTENSIBLE: u16 = 0xFFFE;

struct Fmt {
    tag: u16,
    channels: u16,
    rate: u32,
    block_align: u16,
    bits: u16,
}

/// Reads a WAV file and averages its channels.
pub fn read_wav(path: &Path) -> Result<WavAudio> {
    let bytes = std::fs::read(path).map_err(|source| Wav2ClipError::Io {
        path: path.into(),
        source,
    })?;
    parse_wav(&bytes, path)
}

/// Reads a WAV file, averages its channels and resamples to 16 kHz (see [`crate::resample`]).
pub fn read_wav_mono_16k(path: &Path) -> Result<Vec<f32>> {
    let wav = read_wav(path)?;
    resample(&wav.samples, wav.sample_rate, SAMPLE_RATE)
}

/// [`read_wav_mono_16k`] on bytes: parses, averages the channels and resamples to 16 kHz; `path` only names the
/// file in errors (the fuzz target `wav` drives this, the path `avad wav2clip --audio` takes).
pub fn parse_wav_mono_16k(bytes: &[u8], path: &Path) -> Result<Vec<f32>> {
    let wav = parse_wav(bytes, path)?;
    resample(&wav.samples, wav.sample_rate, SAMPLE_RATE)
}

fn u16_at(b: &[u8], i: usize) -> u16 {
    u16::from_le_bytes([b[i], b[i + 1]])
}
fn u32_at(b: &[u8], i: usize) -> u32 {
    u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]])
}

/// Parses WAV bytes; `path` only labels errors.
pub fn parse_wav(b: &[u8], path: &Path) -> Result<WavAudio> {
    let p: PathBuf = path.into();
    let not_wav = |reason: String| Wav2ClipError::NotWav {
        path: p.clone(),
        reason,
    };
    let truncated = |reason: String| Wav2ClipError::TruncatedWav {
        path: p.clone(),
        reason,
    };
    let unsupported = |reason: String| Wav2ClipError::UnsupportedWav {
        path: p.clone(),
        reason,
    };
    if b.len() < 12 || &b[0..4] != b"RIFF" || &b[8..12] != b"WAVE" {
        let head: String = b
            .iter()
            .take(4)
            .map(|&c| if c.is_ascii_graphic() { c as char } else { '.' })
            .collect();
        return Err(not_wav(format!(
            "no RIFF/WAVE header (starts with {head:?}, {} bytes)",
            b.len()
        )));
    }
    let mut fmt: Option<Fmt> = None;
    let mut pos = 12;
    loop {
        if pos + 8 > b.len() {
            return Err(match fmt {
                None => truncated("ends before a `fmt ` chunk".into()),
                Some(_) => truncated("ends before the `data` chunk".into()),
            });
        }
        let id = &b[pos..pos + 4];
        let size = u32_at(b, pos + 4) as usize;
        let body = pos + 8;
        if id == b"fmt " {
            if size < 16 || body + size > b.len() {
                return Err(truncated(format!(
                    "`fmt ` chunk of {size} bytes is incomplete"
                )));
            }
            let mut tag = u16_at(b, body);
            let bits = u16_at(b, body + 14);
            if tag == FORMAT_EXTENSIBLE {
                if size < 40 {
                    return Err(unsupported(
                        "WAVE_FORMAT_EXTENSIBLE without its 40-byte fmt chunk".into(),
                    ));
                }
                tag = u16_at(b, body + 24); // first two bytes of the sub-format GUID
            }
            fmt = Some(Fmt {
                tag,
                channels: u16_at(b, body + 2),
                rate: u32_at(b, body + 4),
                block_align: u16_at(b, body + 12),
                bits,
            });
        } else if id == b"data" {
            let f = fmt.ok_or_else(|| not_wav("`data` chunk before any `fmt ` chunk".into()))?;
            let available = b.len() - body;
            // 0xFFFFFFFF (and 0) are used by streaming writers for "unknown": take what is there.
            let size = if size == u32::MAX as usize || size == 0 {
                available
            } else {
                size
            };
            if size > available {
                return Err(truncated(format!(
                    "`data` chunk declares {size} bytes but only {available} are present"
                )));
            }
            return decode(&b[body..body + size], &f, &unsupported);
        }
        pos = body + size + (size & 1);
    }
}

fn decode(data: &[u8], f: &Fmt, unsupported: &dyn Fn(String) -> Wav2ClipError) -> Result<WavAudio> {
    let ch = f.channels as usize;
    if ch == 0 || !(MIN_SAMPLE_RATE..=MAX_SAMPLE_RATE).contains(&f.rate) {
        return Err(unsupported(format!(
            "{} channels at {} Hz (field `fmt ` channels ≥ 1, sample rate {MIN_SAMPLE_RATE}..={MAX_SAMPLE_RATE} Hz)",
            f.channels, f.rate
        )));
    }
    let table = resample_table_taps(f.rate);
    if table > MAX_RESAMPLE_TABLE_TAPS {
        return Err(unsupported(format!(
            "sample rate {} Hz needs a resampling filter table of {table} taps to reach 16 kHz (cap {MAX_RESAMPLE_TABLE_TAPS}); convert the file to a standard rate",
            f.rate
        )));
    }
    let bytes = (f.bits as usize).div_ceil(8);
    let float = match (f.tag, f.bits) {
        (FORMAT_PCM, 8 | 16 | 24 | 32) => false,
        (FORMAT_FLOAT, 32 | 64) => true,
        (tag, bits) => {
            return Err(unsupported(format!(
                "format tag {tag:#06x} with {bits} bits per sample"
            )))
        }
    };
    let frame = bytes * ch;
    if (f.block_align as usize) != frame {
        return Err(unsupported(format!(
            "block align {} for {ch} × {bytes}-byte samples",
            f.block_align
        )));
    }
    let n = data.len() / frame; // a partial trailing frame is dropped
    if n as u64 > MAX_WAV_SECONDS * u64::from(f.rate) {
        return Err(unsupported(format!(
            "`data` chunk holds {n} frames at {} Hz, longer than the cap of {MAX_WAV_SECONDS} s",
            f.rate
        )));
    }
    let sample = |s: &[u8]| -> f64 {
        match (float, bytes) {
            (false, 1) => (s[0] as f64 - 128.0) / 128.0,
            (false, 2) => i16::from_le_bytes([s[0], s[1]]) as f64 / 32768.0,
            (false, 3) => (i32::from_le_bytes([0, s[0], s[1], s[2]]) >> 8) as f64 / 8_388_608.0,
            (false, _) => i32::from_le_bytes([s[0], s[1], s[2], s[3]]) as f64 / 2_147_483_648.0,
            (true, 4) => f32::from_le_bytes([s[0], s[1], s[2], s[3]]) as f64,
            (true, _) => f64::from_le_bytes(s[..8].try_into().expect("8 bytes")),
        }
    };
    let samples = data
        .chunks_exact(frame)
        .take(n)
        .map(|fr| (fr.chunks_exact(bytes).map(sample).sum::<f64>() / ch as f64) as f32)
        .collect();
    Ok(WavAudio {
        sample_rate: f.rate,
        channels: f.channels,
        bits_per_sample: f.bits,
        float,
        samples,
    })
}

/// Encodes mono or interleaved f32 samples as a 16-bit PCM WAV (test helper; clamps to [-1, 1]).
pub fn encode_wav_s16(samples: &[f32], channels: u16, sample_rate: u32) -> Vec<u8> {
    let data: Vec<u8> = samples
        .iter()
        .flat_map(|v| ((v.clamp(-1.0, 1.0) * 32767.0).round() as i16).to_le_bytes())
        .collect();
    let mut out = Vec::with_capacity(44 + data.len());
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data.len() as u32).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&FORMAT_PCM.to_le_bytes());
    out.extend_from_slice(&channels.to_le_bytes());
    out.extend_from_slice(&sample_rate.to_le_bytes());
    out.extend_from_slice(&(sample_rate * 2 * channels as u32).to_le_bytes());
    out.extend_from_slice(&(2 * channels).to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out.extend_from_slice(&data);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(tag: u16, ch: u16, rate: u32, bits: u16, data: &[u8], extensible: bool) -> Vec<u8> {
        let ba = ch * bits.div_ceil(8);
        let mut fmt = Vec::new();
        fmt.extend_from_slice(&(if extensible { FORMAT_EXTENSIBLE } else { tag }).to_le_bytes());
        fmt.extend_from_slice(&ch.to_le_bytes());
        fmt.extend_from_slice(&rate.to_le_bytes());
        fmt.extend_from_slice(&(rate * ba as u32).to_le_bytes());
        fmt.extend_from_slice(&ba.to_le_bytes());
        fmt.extend_from_slice(&bits.to_le_bytes());
        if extensible {
            fmt.extend_from_slice(&22u16.to_le_bytes());
            fmt.extend_from_slice(&bits.to_le_bytes());
            fmt.extend_from_slice(&0u32.to_le_bytes());
            fmt.extend_from_slice(&tag.to_le_bytes());
            fmt.extend_from_slice(&[0, 0, 0, 0, 0x10, 0, 0x80, 0, 0, 0xAA, 0, 0x38, 0x9B, 0x71]);
        }
        let mut b = b"RIFF\0\0\0\0WAVE".to_vec();
        b.extend_from_slice(b"LIST");
        b.extend_from_slice(&3u32.to_le_bytes());
        b.extend_from_slice(&[1, 2, 3, 0]); // odd chunk + pad byte
        b.extend_from_slice(b"fmt ");
        b.extend_from_slice(&(fmt.len() as u32).to_le_bytes());
        b.extend_from_slice(&fmt);
        b.extend_from_slice(b"data");
        b.extend_from_slice(&(data.len() as u32).to_le_bytes());
        b.extend_from_slice(data);
        b
    }

    #[test]
    fn decodes_every_sample_format_and_averages_channels() {
        let p = Path::new("x.wav");
        // stereo frames (L, R) = (0.5, -0.25) in each encoding
        let s16: Vec<u8> = [16384i16, -8192]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let s24: Vec<u8> = [4_194_304i32, -2_097_152]
            .iter()
            .flat_map(|v| v.to_le_bytes()[..3].to_vec())
            .collect();
        let s32: Vec<u8> = [1_073_741_824i32, -536_870_912]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let f32b: Vec<u8> = [0.5f32, -0.25]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let f64b: Vec<u8> = [0.5f64, -0.25]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let u8b = vec![192u8, 96];
        for (tag, bits, data) in [
            (FORMAT_PCM, 16, &s16),
            (FORMAT_PCM, 24, &s24),
            (FORMAT_PCM, 32, &s32),
            (FORMAT_FLOAT, 32, &f32b),
            (FORMAT_FLOAT, 64, &f64b),
            (FORMAT_PCM, 8, &u8b),
        ] {
            for ext in [false, true] {
                let w = parse_wav(&header(tag, 2, 22050, bits, data, ext), p).unwrap();
                assert_eq!(
                    (w.sample_rate, w.channels, w.samples.len()),
                    (22050, 2, 1),
                    "{tag} {bits}"
                );
                assert!(
                    (w.samples[0] - 0.125).abs() < 1e-6,
                    "{tag} {bits} {ext}: {}",
                    w.samples[0]
                );
            }
        }
    }

    #[test]
    fn errors_name_the_file() {
        let p = Path::new("dir/some file.wav");
        let e = parse_wav(b"%PDF-1.4 hello", p).unwrap_err().to_string();
        assert!(
            e.contains("dir/some file.wav") && e.contains("not a WAV"),
            "{e}"
        );
        let mut w = header(FORMAT_PCM, 1, 8000, 16, &[0u8; 100], false);
        w.truncate(w.len() - 10);
        let e = parse_wav(&w, p).unwrap_err().to_string();
        assert!(
            e.contains("dir/some file.wav") && e.contains("truncated"),
            "{e}"
        );
        let e = parse_wav(&header(2, 1, 8000, 4, &[0u8; 10], false), p)
            .unwrap_err()
            .to_string();
        assert!(e.contains("unsupported"), "{e}");
    }

    #[test]
    fn encode_round_trip() {
        let x = [0.0f32, 0.5, -0.5, 0.25];
        let w = parse_wav(&encode_wav_s16(&x, 1, 16000), Path::new("a.wav")).unwrap();
        for (a, b) in x.iter().zip(&w.samples) {
            assert!((a - b).abs() < 1e-4);
        }
    }
}
