//! Throughput of the Wav2CLIP audio encoder on the CPU: the burn reference (`Wav2Clip::embed_batch`, burn-flex) and
//! the fast path (`FastWav2Clip::embed_batch`, folded batch norm + avad-kernels GEMM) in the same run, on the
//! full-size formula weights and the same seeded one-second 16 kHz windows. Both include the (shared, host-side)
//! spectrogram front end; the fast path's front end and ResNet + head are also timed alone, to show where the time
//! goes. Median of the timed batches after one warm-up batch each; the paths alternate in every round so load
//! changes hit both.
//!
//! ```sh
//! cargo run -p avad-wav2clip --release --example bench_fast_wav2clip -- [BATCH=32] [ITERS=5] [THREADS=2]
//! ```

use std::time::Instant;

use avad_wav2clip::testing::formula_weights;
use avad_wav2clip::{FastWav2Clip, FastWav2ClipOptions, Normalisation, Wav2Clip, N_BINS};
use burn_flex::{Flex, FlexDevice};

type B = Flex;

/// Multiply-adds ×2 of one one-second window (257 × 46 spectrogram): ResNet-18 convolutions + the two 512² layers.
const GFLOP_PER_WINDOW: f64 = 0.973;

fn arg(i: usize, default: usize) -> usize {
    std::env::args()
        .nth(i)
        .map(|a| {
            a.parse()
                .expect("arguments: BATCH ITERS THREADS (integers)")
        })
        .unwrap_or(default)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn main() {
    let (batch, iters, threads) = (arg(1, 32), arg(2, 5).max(3), arg(3, 2));
    // burn-flex and avad-kernels both run on the global rayon pool.
    let _ = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build_global();
    println!(
        "CPU: {} ({} logical)",
        avad_kernels::machine::cpu_model(),
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    println!(
        "load average at start: {}",
        avad_kernels::machine::load_average()
    );
    println!(
        "model: Wav2CLIP (ResNet-18 + MLP head), full-size formula weights; batch {batch} one-second 16 kHz \
         windows, shared normalisation; {iters} timed batches after 1 warm-up, {} threads",
        rayon::current_num_threads()
    );
    let model = Wav2Clip::<B>::from_weights(&formula_weights::<B>(&FlexDevice), &FlexDevice)
        .expect("formula model");
    let t = Instant::now();
    let fast = FastWav2Clip::new(
        &model,
        FastWav2ClipOptions {
            threads,
            ..Default::default()
        },
    );
    println!(
        "fast path: batch norm folded, weights copied and packed in {:.2} s; GEMM kernels: {}",
        t.elapsed().as_secs_f64(),
        fast.options().kernel.resolve().name()
    );
    let windows: Vec<Vec<f32>> = (0..batch)
        .map(|i| {
            (0..16_000)
                .map(|t| {
                    let x = t as f32 / 16_000.0;
                    let f = 220.0 + 37.0 * i as f32;
                    0.3 * (2.0 * std::f32::consts::PI * f * x).sin()
                        + 0.1 * ((t * 7919 + i * 104_729) % 1000) as f32 / 1000.0
                })
                .collect()
        })
        .collect();
    let segs: Vec<&[f32]> = windows.iter().map(Vec::as_slice).collect();
    let norm = Normalisation::Shared;

    let run_burn = || {
        let t = Instant::now();
        let y: Vec<f32> = model
            .embed_batch(&segs, norm)
            .unwrap()
            .into_data()
            .iter::<f32>()
            .collect();
        (t.elapsed().as_secs_f64(), y)
    };
    let run_fast = || {
        let t = Instant::now();
        let y = fast.embed_batch(&segs, norm).unwrap();
        (t.elapsed().as_secs_f64(), y)
    };
    let (_, yb) = run_burn();
    let (_, yf) = run_fast();
    let err = yb
        .iter()
        .zip(&yf)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    println!("max abs difference fast vs burn: {err:e}");
    let (spec, frames) = fast.spectrogram(&segs, norm).unwrap();
    let shape = [batch, 1, N_BINS, frames];
    let (mut tb, mut tf, mut ts, mut tr) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..iters {
        tb.push(run_burn().0);
        tf.push(run_fast().0);
        let t = Instant::now();
        let _ = fast.spectrogram(&segs, norm).unwrap();
        ts.push(t.elapsed().as_secs_f64());
        let t = Instant::now();
        let _ = fast.embed_spectrogram(&spec, shape);
        tr.push(t.elapsed().as_secs_f64());
    }
    let gflop = GFLOP_PER_WINDOW * batch as f64;
    let mb = median(tb.clone());
    let mf = median(tf.clone());
    for (name, times, flops) in [
        ("burn (burn-flex)", tb, gflop),
        ("fast (avad-kernels)", tf, gflop),
        ("fast: spectrogram", ts, 0.0),
        ("fast: ResNet + head", tr, gflop),
    ] {
        let lo = times.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = times.iter().copied().fold(0.0, f64::max);
        let m = median(times);
        let rate = if flops > 0.0 {
            format!(", {:.0} GFLOP/s effective", flops / m)
        } else {
            String::new()
        };
        println!(
            "{name:>20}: {m:.3} s / batch (median; min {lo:.3}, max {hi:.3}), {:.1} windows/s{rate}",
            batch as f64 / m,
        );
    }
    println!("speed-up fast / burn: {:.2}x", mb / mf);
    println!(
        "load average at end: {}",
        avad_kernels::machine::load_average()
    );
}
