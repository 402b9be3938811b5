//! Throughput of the CLIP ViT-B/16 image tower on the CPU: the burn reference (`ClipVisionModel::forward`, burn-flex)
//! and the fast path (`FastVisionEncoder`, avad-kernels GEMM) in the same run, on the same seeded random weights and
//! pixels. Median of the timed batches after one warm-up batch each; the two paths alternate in every round so load
//! changes hit both.
//!
//! ```sh
//! cargo run -p avad-clip --release --example bench_fast_vision -- [BATCH=8] [ITERS=5] [THREADS=2]
//! ```

use std::time::Instant;

use avad_clip::testing::{random_vision_model, vit_b16_config};
use avad_clip::{FastVisionEncoder, FastVisionOptions};
use burn::tensor::{Tensor, TensorData};

type B = burn_flex::Flex;

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
    let (batch, iters, threads) = (arg(1, 8), arg(2, 5).max(3), arg(3, 2));
    // burn-flex and avad-kernels both run on the global rayon pool.
    let _ = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build_global();
    let cfg = vit_b16_config();
    let dev = Default::default();
    println!(
        "CPU: {} ({} logical)",
        avad_kernels::machine::cpu_model(),
        num_cpus()
    );
    println!(
        "load average at start: {}",
        avad_kernels::machine::load_average()
    );
    println!(
        "model: CLIP ViT-B/16 sizes, random weights; batch {batch}, {iters} timed batches after 1 warm-up, {} threads",
        rayon::current_num_threads()
    );
    let model = random_vision_model::<B>(&cfg, 1, &dev).expect("random model");
    let t = Instant::now();
    let fast = FastVisionEncoder::new(
        &model,
        FastVisionOptions {
            threads,
            ..Default::default()
        },
    )
    .expect("fast encoder");
    println!(
        "fast path: weights copied and packed in {:.2} s; GEMM kernels: {}",
        t.elapsed().as_secs_f64(),
        fast.options().kernel.resolve().name()
    );
    let (c, s) = fast.input_shape();
    let n = batch * c * s * s;
    let px: Vec<f32> = (0..n)
        .map(|i| ((i as f32 * 0.618_034).fract() - 0.5) * 3.0)
        .collect();

    let run_burn = || {
        let x = Tensor::<B, 4>::from_data(TensorData::new(px.clone(), [batch, c, s, s]), &dev);
        let t = Instant::now();
        let y: Vec<f32> = model
            .forward(x)
            .unwrap()
            .into_data()
            .iter::<f32>()
            .collect();
        (t.elapsed().as_secs_f64(), y)
    };
    let run_fast = || {
        let t = Instant::now();
        let y = fast.encode(&px, batch);
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
    let (mut tb, mut tf) = (Vec::new(), Vec::new());
    for _ in 0..iters {
        tb.push(run_burn().0);
        tf.push(run_fast().0);
    }
    let gflop = 35.1 * batch as f64;
    for (name, times) in [("burn (burn-flex)", tb), ("fast (avad-kernels)", tf)] {
        let lo = times.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = times.iter().copied().fold(0.0, f64::max);
        let m = median(times);
        println!(
            "{name:>20}: {m:.3} s / batch (median; min {lo:.3}, max {hi:.3}), {:.2} images/s, {:.0} GFLOP/s effective",
            batch as f64 / m,
            gflop / m
        );
    }
    println!(
        "load average at end: {}",
        avad_kernels::machine::load_average()
    );
}

fn num_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}
