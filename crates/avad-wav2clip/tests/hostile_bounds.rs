//! Hostile WAV headers: an error naming the file, within 100 ms and 50 MB (issue #18). Memory is the peak of bytes
//! allocated during the parse (a counting global allocator), time the parse call's wall time.

use std::path::Path;

use avad_wav2clip::wav::parse_wav_mono_16k;

#[path = "../../../fuzz/harness/measure.rs"]
mod measure;

#[global_allocator]
static ALLOC: measure::Counting = measure::Counting;

fn wav(channels: u16, rate: u32, bits: u16, data: &[u8], data_size: u32) -> Vec<u8> {
    let ba = channels.wrapping_mul(bits.div_ceil(8));
    let mut b = b"RIFF\0\0\0\0WAVEfmt ".to_vec();
    b.extend_from_slice(&16u32.to_le_bytes());
    b.extend_from_slice(&1u16.to_le_bytes());
    b.extend_from_slice(&channels.to_le_bytes());
    b.extend_from_slice(&rate.to_le_bytes());
    b.extend_from_slice(&(rate.wrapping_mul(u32::from(ba))).to_le_bytes());
    b.extend_from_slice(&ba.to_le_bytes());
    b.extend_from_slice(&bits.to_le_bytes());
    b.extend_from_slice(b"data");
    b.extend_from_slice(&data_size.to_le_bytes());
    b.extend_from_slice(data);
    b
}

fn refused(bytes: &[u8], name: &str, expect: &[&str]) {
    measure::refused("/data/hostile", name, expect, |path| {
        parse_wav_mono_16k(bytes, path)
    });
}

#[test]
fn wav_whose_data_chunk_claims_4_gb() {
    let b = wav(1, 16_000, 16, &[0u8; 100], 0xFFFF_FFF0);
    refused(
        &b,
        "claims-4gb.wav",
        &["`data` chunk declares 4294967280 bytes"],
    );
}

#[test]
fn wav_with_a_fmt_chunk_claiming_4_gb() {
    let mut b = wav(1, 16_000, 16, &[0u8; 100], 100);
    b[16..20].copy_from_slice(&0xFFFF_FFF0u32.to_le_bytes());
    refused(&b, "fmt-4gb.wav", &["`fmt ` chunk"]);
}

#[test]
fn wav_at_1_hz_would_upsample_16000_times() {
    // 1 Hz → 16 kHz would turn this file into 16000 × its samples (and a long file into gigabytes): refused.
    let b = wav(1, 1, 8, &[128u8; 4096], 4096);
    refused(&b, "one-hz.wav", &["sample rate", "1 Hz"]);
}

#[test]
fn wav_at_an_absurd_rate_would_need_a_huge_filter() {
    let b = wav(1, 4_000_000_000, 8, &[128u8; 64], 64);
    refused(&b, "fast.wav", &["sample rate"]);
}

#[test]
fn wav_with_65535_channels_and_no_frame() {
    let b = wav(65535, 16_000, 16, &[0u8; 64], 64);
    let _g = measure::LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let path = Path::new("/data/hostile/channels.wav");
    let (r, dt, peak) = measure::measure(|| parse_wav_mono_16k(&b, path));
    // Block align 65535 × 2 does not fit its u16 field: refused; either way nothing large is allocated.
    assert!(r.is_err() || r.as_ref().is_ok_and(|x| x.is_empty()));
    assert!(
        dt < measure::MAX_TIME && peak < measure::MAX_BYTES,
        "{dt:?} {peak}"
    );
}

#[test]
fn wav_at_an_odd_rate_would_need_a_huge_resampling_table() {
    // Found by fuzzing (fuzz/artifacts-kept/wav/): 96085 Hz needs a 3200-phase × 614-tap filter table, a second of
    // CPU for a 40-byte file.
    let b = wav(1, 96_085, 16, &[0u8; 40], 40);
    refused(&b, "odd-rate.wav", &["resampling filter table", "96085 Hz"]);
}
