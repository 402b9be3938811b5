//! Times the GEMMs of the CLIP ViT-B/16 image encoder at batch 8 (M = 8·197 = 1576 tokens) with avad-kernels and
//! with the `gemm` crate that burn-flex uses, interleaved in the same run, and prints GFLOP/s.
//!
//! ```sh
//! cargo run -p avad-kernels --release --example gemm_bench -- --threads 2 [--repeats 7] [--warmup 2]
//!     [--kernel auto|portable|avx512] [--batch 8]
//! # the `gemm` crate with its AVX-512 kernels, as with burn-flex's `x86-v4` feature:
//! cargo run -p avad-kernels --release --features bench-gemm-x86-v4 --example gemm_bench -- --threads 2
//! ```
//!
//! Each repeat runs avad-kernels then `gemm` on the same operands (so load changes hit both); the table shows the
//! median over repeats (after warm-up) and the min–max spread, and "per core": the FLOPs divided by the CPU time
//! the process got (all threads), i.e. the speed while actually on a core, which a shared machine's load does not
//! depress (idle-spinning rayon workers count as busy). The fused rows time the epilogues the encoder needs
//! (fc1 + bias + quick_gelu, fc2 / out-proj + bias + residual), which the `gemm` crate cannot fuse.

use std::time::Instant;

use avad_kernels::{gemm as avad_gemm, Epilogue, GemmOptions, KernelChoice, PackedB};

struct Args {
    threads: usize,
    repeats: usize,
    warmup: usize,
    kernel: KernelChoice,
    batch: usize,
}

fn parse_args() -> Args {
    let mut args = Args {
        threads: 2,
        repeats: 7,
        warmup: 2,
        kernel: KernelChoice::Auto,
        batch: 8,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--threads" => args.threads = value().parse().expect("--threads N"),
            "--repeats" => args.repeats = value().parse().expect("--repeats N"),
            "--warmup" => args.warmup = value().parse().expect("--warmup N"),
            "--batch" => args.batch = value().parse().expect("--batch N"),
            "--kernel" => {
                args.kernel = match value().as_str() {
                    "auto" => KernelChoice::Auto,
                    "portable" => KernelChoice::Portable,
                    "avx512" => KernelChoice::Avx512,
                    other => panic!("--kernel auto|portable|avx512, not {other}"),
                }
            }
            "-h" | "--help" => {
                println!("gemm_bench [--threads N] [--repeats N] [--warmup N] [--batch N] [--kernel auto|portable|avx512]");
                std::process::exit(0);
            }
            other => panic!("unknown argument {other}"),
        }
    }
    assert!(args.repeats >= 1 && args.threads >= 1);
    args
}

fn rand_vec(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed;
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32) - 0.5
        })
        .collect()
}

/// CPU time of the whole process (all threads), in seconds.
#[cfg(unix)]
fn process_cpu_seconds() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid out-pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

#[cfg(not(unix))]
fn process_cpu_seconds() -> f64 {
    f64::NAN
}

/// Wall-clock and process CPU seconds of one call.
#[derive(Clone, Copy)]
struct Sample {
    wall: f64,
    cpu: f64,
}

fn time<F: FnMut()>(mut f: F) -> Sample {
    let c = process_cpu_seconds();
    let t = Instant::now();
    f();
    Sample {
        wall: t.elapsed().as_secs_f64(),
        cpu: process_cpu_seconds() - c,
    }
}

/// Median and spread of timed repeats of one GEMM.
struct Summary {
    flop: f64,
    med: f64,
    min: f64,
    max: f64,
    /// GFLOP per CPU-second of the process (median).
    per_core: f64,
}

impl Summary {
    fn new(samples: &[Sample], flop: f64) -> Self {
        let (med, min, max) = stats(samples.iter().map(|s| s.wall));
        let (cpu, _, _) = stats(samples.iter().map(|s| s.cpu));
        Self {
            flop,
            med,
            min,
            max,
            per_core: flop / cpu / 1e9,
        }
    }

    fn ms(&self) -> String {
        format!(
            "{:.1} [{:.1}-{:.1}]",
            self.med * 1e3,
            self.min * 1e3,
            self.max * 1e3
        )
    }

    fn gflops(&self) -> String {
        let g = |t: f64| self.flop / t / 1e9;
        format!("{:.0} [{:.0}-{:.0}]", g(self.med), g(self.max), g(self.min))
    }
}

/// Median, min, max.
fn stats(v: impl Iterator<Item = f64>) -> (f64, f64, f64) {
    let mut s: Vec<f64> = v.collect();
    s.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let n = s.len();
    let med = if n % 2 == 1 {
        s[n / 2]
    } else {
        0.5 * (s[n / 2 - 1] + s[n / 2])
    };
    (med, s[0], s[n - 1])
}

/// `C = A·B` with the `gemm` crate (row-major A [m,k], B [k,n], C [m,n]), as burn-flex calls it.
fn gemm_crate(m: usize, k: usize, n: usize, a: &[f32], b: &[f32], c: &mut [f32], threads: usize) {
    let par = if threads > 1 {
        ::gemm::Parallelism::Rayon(threads)
    } else {
        ::gemm::Parallelism::None
    };
    // SAFETY: the slices hold row-major [m,k], [k,n] and [m,n] matrices with the strides given.
    unsafe {
        ::gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            1,
            n as isize,
            false,
            a.as_ptr(),
            1,
            k as isize,
            b.as_ptr(),
            1,
            n as isize,
            0.0f32,
            1.0f32,
            false,
            false,
            false,
            par,
        )
    }
}

fn main() {
    let args = parse_args();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(args.threads)
        .build()
        .expect("rayon pool");
    let kernel = args.kernel.resolve();
    let m = args.batch * 197;
    let gemm_v4 = cfg!(feature = "bench-gemm-x86-v4");
    println!(
        "CPU: {} ({} logical CPUs), load average at start: {}",
        avad_kernels::machine::cpu_model(),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        avad_kernels::machine::load_average()
    );
    println!(
        "threads {}, M = {} (batch {} x 197 tokens), {} warm-up + {} timed repeats, median [min-max]",
        args.threads, m, args.batch, args.warmup, args.repeats
    );
    println!(
        "avad-kernels kernel: {}; gemm crate 0.19.0 {}",
        kernel.name(),
        if gemm_v4 {
            "with x86-v4 (AVX-512)"
        } else {
            "default x86 (AVX2/FMA) features, as in the workspace"
        }
    );
    println!();
    println!("wall: median [min-max] over repeats; per core: FLOP / process CPU time (median), i.e. speed while on a core");
    println!();
    println!("| GEMM [M,K]x[K,N] | GFLOP | avad-kernels ms | avad-kernels GFLOP/s | per core | gemm crate ms | gemm crate GFLOP/s | per core | speed-up |");
    println!("|---|---|---|---|---|---|---|---|---|");

    let shapes: [(&str, usize, usize); 4] = [
        ("qkv", 768, 2304),
        ("out-proj", 768, 768),
        ("fc1", 768, 3072),
        ("fc2", 3072, 768),
    ];
    let (mut tot_ours, mut tot_theirs, mut tot_flop) = (0.0, 0.0, 0.0);
    let mut fused_rows = Vec::new();
    for (name, k, n) in shapes {
        let flop = 2.0 * (m * n * k) as f64;
        let a = rand_vec(m * k, 1 + k as u64);
        let w = rand_vec(n * k, 2 + n as u64); // PyTorch layout [N, K]
        let mut b_kn = vec![0.0f32; k * n]; // row-major [K, N] for the gemm crate (burn's Linear layout)
        for j in 0..n {
            for p in 0..k {
                b_kn[p * n + j] = w[j * k + p];
            }
        }
        let packed = PackedB::from_nk(&w, n, k);
        let bias = rand_vec(n, 3);
        let res = rand_vec(m * n, 4);
        let mut c1 = vec![0.0f32; m * n];
        let mut c2 = vec![0.0f32; m * n];
        let opts = GemmOptions {
            threads: args.threads,
            kernel: args.kernel,
            ..Default::default()
        };
        let (label, fused) = match name {
            "fc1" => ("bias+quick_gelu", Epilogue::bias_quick_gelu(&bias)),
            "qkv" => ("bias", Epilogue::bias(&bias)),
            _ => ("bias+residual", Epilogue::bias_residual(&bias, &res, n)),
        };
        let (mut ours, mut theirs, mut fus) = (Vec::new(), Vec::new(), Vec::new());
        pool.install(|| {
            for rep in 0..args.warmup + args.repeats {
                let t1 = time(|| avad_gemm(m, &a, k, &packed, &mut c1, n, &Epilogue::NONE, &opts));
                let t2 = time(|| gemm_crate(m, k, n, &a, &b_kn, &mut c2, args.threads));
                let t3 = time(|| avad_gemm(m, &a, k, &packed, &mut c1, n, &fused, &opts));
                if rep >= args.warmup {
                    ours.push(t1);
                    theirs.push(t2);
                    fus.push(t3);
                }
            }
        });
        // Sanity: the two libraries agree (c1 holds the last fused result, so recompute).
        pool.install(|| avad_gemm(m, &a, k, &packed, &mut c1, n, &Epilogue::NONE, &opts));
        let diff = c1
            .iter()
            .zip(&c2)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0f32, f32::max);
        assert!(
            diff < 1e-3,
            "{name}: avad-kernels and gemm differ by {diff}"
        );
        let o = Summary::new(&ours, flop);
        let t = Summary::new(&theirs, flop);
        let f = Summary::new(&fus, flop);
        tot_ours += o.med;
        tot_theirs += t.med;
        tot_flop += flop;
        println!(
            "| {name} [{m},{k}]x[{k},{n}] | {:.2} | {} | **{}** | {:.0} | {} | {} | {:.0} | {:.2} |",
            flop / 1e9,
            o.ms(),
            o.gflops(),
            o.per_core,
            t.ms(),
            t.gflops(),
            t.per_core,
            t.med / o.med,
        );
        fused_rows.push(format!(
            "| {name} + {label} | {} | {} | {:.0} |",
            f.ms(),
            f.gflops(),
            f.per_core
        ));
    }
    println!(
        "| one encoder layer's GEMMs (sum of medians) | {:.2} | {:.1} | **{:.0}** | | {:.1} | {:.0} | | {:.2} |",
        tot_flop / 1e9,
        tot_ours * 1e3,
        tot_flop / tot_ours / 1e9,
        tot_theirs * 1e3,
        tot_flop / tot_theirs / 1e9,
        tot_theirs / tot_ours
    );
    println!();
    println!("| avad-kernels, fused epilogue | ms | GFLOP/s (of the GEMM) | per core |");
    println!("|---|---|---|---|");
    for r in fused_rows {
        println!("{r}");
    }
    println!();
    println!(
        "load average at end: {}",
        avad_kernels::machine::load_average()
    );
}
