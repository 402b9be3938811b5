//! Replays the fuzz seeds and every input that ever crashed (`fuzz/corpus/media_snippets/`,
//! `fuzz/artifacts-kept/media_snippets/`) through the fuzz harness `fuzz/harness/media.rs` on the stable toolchain
//! (docs/hostile-input.md, "Fuzzing"). `avad_media::fuzzing` needs the `fuzzing` feature: the crate's
//! dev-dependency on itself turns it on for every test build, so the ordinary `cargo test` runs this.

#[path = "../../../fuzz/harness/media.rs"]
mod harness;
#[path = "../../../fuzz/harness/replay.rs"]
mod replay;

#[test]
fn media_snippets_corpus() {
    let n = replay::replay("media_snippets", harness::media_snippets);
    eprintln!("media_snippets: {n} inputs replayed");
}

/// Hand-made hostile sequences (the byte format is `avad_media::fuzzing`'s): each must run through cleanly.
#[test]
fn media_snippets_hostile_sequences() {
    let f64s = |v: f64| v.to_le_bytes().to_vec();
    let i64s = |v: i64| v.to_le_bytes().to_vec();
    let mut cases: Vec<Vec<u8>> = Vec::new();
    for flags in [0u8, 1, 2, 3, 6, 7] {
        // Frames at ±f64::MAX, NaN, ±inf pts; audio at i64::MAX / i64::MIN ticks and a grid anchor at i64::MAX.
        let mut c = vec![flags, 0, 3, 1];
        for p in [
            0.0,
            f64::MAX,
            f64::NAN,
            -f64::MAX,
            f64::INFINITY,
            1e300,
            -1e-300,
            5.0,
        ] {
            c.push(5);
            c.extend(f64s(p));
            // Audio: rate 48 kHz, any tick, 4096 samples.
            c.extend([8, 0b01_000, 0, 16]);
            c.extend(i64s(if p > 1.0 { i64::MAX } else { i64::MIN + 1 }));
        }
        c.extend([11, 0]);
        c.extend(i64s(i64::MAX - 5));
        c.extend([8, 0b10_000, 0, 32]);
        c.extend(f64s(1e30));
        for _ in 0..40 {
            c.extend([0, 200]);
        }
        c.extend([11, 0]);
        c.extend(i64s(i64::MIN));
        c.extend([8, 0b11_111, 0, 16]);
        c.extend(1u32.to_le_bytes());
        for _ in 0..40 {
            c.extend([0, 255]);
        }
        cases.push(c);
    }
    for (i, c) in cases.iter().enumerate() {
        let r = std::panic::catch_unwind(|| harness::media_snippets(c));
        assert!(r.is_ok(), "hostile sequence {i} panicked");
    }
}
