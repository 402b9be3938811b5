//! CPU throughput of the CLIP image encoder (ViT-B/16 config, random weights, f32), for `docs/benchmarks.md`.
//!
//! ```sh
//! RAYON_NUM_THREADS=2 cargo run --release -p avad-clip --example bench_image_encoder -- [BATCH] [ITERS] [MODEL_DIR]
//! ```
//! Without MODEL_DIR the weights are random (seeded) in the HF layout; with it, that model is loaded.

use std::time::Instant;

use avad_clip::{ClipConfig, ClipModel, WeightLayout, WeightMap};
use burn::tensor::{Distribution, Tensor};

type B = burn_flex::Flex;

/// Deterministic pseudo-random normal-ish values (sum of uniforms), scaled.
fn fill(n: usize, seed: &mut u64, scale: f32) -> Vec<f32> {
    (0..n)
        .map(|_| {
            let mut s = 0.0f32;
            for _ in 0..4 {
                *seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                s += ((*seed >> 40) as f32 / (1u64 << 24) as f32) - 0.5;
            }
            s * scale
        })
        .collect()
}

fn put(w: &mut WeightMap, name: String, shape: Vec<usize>) {
    static SEED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(42);
    let n: usize = shape.iter().product();
    let fan = *shape.last().unwrap() as f32;
    let scale = if shape.len() == 1 {
        0.1
    } else {
        1.0 / fan.sqrt()
    };
    let mut seed = SEED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    w.insert(name, shape, fill(n, &mut seed, scale));
}

fn random_vitb16() -> (WeightMap, ClipConfig) {
    let mut cfg: ClipConfig = serde_json::from_str("{}").unwrap();
    cfg.vision_config.patch_size = 16;
    let v = &cfg.vision_config;
    let t = &cfg.text_config;
    let mut w = WeightMap::new("random ViT-B/16");
    let (d, i) = (v.hidden_size, v.intermediate_size);
    let p = "vision_model.";
    put(
        &mut w,
        format!("{p}embeddings.patch_embedding.weight"),
        vec![d, 3, 16, 16],
    );
    put(&mut w, format!("{p}embeddings.class_embedding"), vec![d]);
    put(
        &mut w,
        format!("{p}embeddings.position_embedding.weight"),
        vec![v.num_positions(), d],
    );
    for ln in ["pre_layrnorm", "post_layernorm"] {
        put(&mut w, format!("{p}{ln}.weight"), vec![d]);
        put(&mut w, format!("{p}{ln}.bias"), vec![d]);
    }
    fn stack(w: &mut WeightMap, p: &str, d: usize, i: usize, n: usize) {
        for l in 0..n {
            let q = format!("{p}encoder.layers.{l}.");
            for lin in [
                "self_attn.q_proj",
                "self_attn.k_proj",
                "self_attn.v_proj",
                "self_attn.out_proj",
            ] {
                put(w, format!("{q}{lin}.weight"), vec![d, d]);
                put(w, format!("{q}{lin}.bias"), vec![d]);
            }
            put(w, format!("{q}mlp.fc1.weight"), vec![i, d]);
            put(w, format!("{q}mlp.fc1.bias"), vec![i]);
            put(w, format!("{q}mlp.fc2.weight"), vec![d, i]);
            put(w, format!("{q}mlp.fc2.bias"), vec![d]);
            for ln in ["layer_norm1", "layer_norm2"] {
                put(w, format!("{q}{ln}.weight"), vec![d]);
                put(w, format!("{q}{ln}.bias"), vec![d]);
            }
        }
    }
    stack(&mut w, p, d, i, v.num_hidden_layers);
    put(
        &mut w,
        "visual_projection.weight".into(),
        vec![cfg.projection_dim, d],
    );
    // A 1-layer text tower keeps the load cheap (only the image tower is timed).
    let p = "text_model.";
    put(
        &mut w,
        format!("{p}embeddings.token_embedding.weight"),
        vec![t.vocab_size, t.hidden_size],
    );
    put(
        &mut w,
        format!("{p}embeddings.position_embedding.weight"),
        vec![77, t.hidden_size],
    );
    stack(&mut w, p, t.hidden_size, t.intermediate_size, 1);
    put(
        &mut w,
        format!("{p}final_layer_norm.weight"),
        vec![t.hidden_size],
    );
    put(
        &mut w,
        format!("{p}final_layer_norm.bias"),
        vec![t.hidden_size],
    );
    put(
        &mut w,
        "text_projection.weight".into(),
        vec![cfg.projection_dim, t.hidden_size],
    );
    cfg.text_config.num_hidden_layers = 1;
    (w, cfg)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let batch: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(8);
    let iters: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(5);
    let dev = Default::default();
    let model = match args.get(3) {
        Some(dir) => ClipModel::<B>::load(dir, &dev).expect("load model"),
        None => {
            let (w, cfg) = random_vitb16();
            ClipModel::<B>::from_weights(&w, &cfg, WeightLayout::HuggingFace, "", &dev)
                .expect("build")
        }
    };
    let px = Tensor::<B, 4>::random([batch, 3, 224, 224], Distribution::Normal(0.0, 1.0), &dev);
    // Warm-up.
    let _ = model.encode_image(px.clone()).unwrap().into_data();
    let mut times = Vec::new();
    for _ in 0..iters {
        let t0 = Instant::now();
        let out = model.encode_image(px.clone()).unwrap().into_data();
        times.push(t0.elapsed().as_secs_f64());
        assert_eq!(out.shape[0], batch);
    }
    times.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let median = times[times.len() / 2];
    println!(
        "burn-flex ViT-B/16 image encoder: batch {batch}, {iters} iters, median {:.3} s/batch, best {:.3} s \
         => {:.2} images/s (median), rayon threads {}",
        median,
        times[0],
        batch as f64 / median,
        std::env::var("RAYON_NUM_THREADS").unwrap_or_else(|_| "default".into())
    );
    // The encoder's largest GEMM (MLP fc1) on its own, to separate matmul speed from everything else.
    let (m, k, n) = (batch * 197, 768, 3072);
    let a = Tensor::<B, 2>::random([m, k], Distribution::Normal(0.0, 1.0), &dev);
    let w = Tensor::<B, 2>::random([k, n], Distribution::Normal(0.0, 1.0), &dev);
    let _ = a.clone().matmul(w.clone()).into_data();
    let t0 = Instant::now();
    for _ in 0..5 {
        let _ = a.clone().matmul(w.clone()).into_data();
    }
    let dt = t0.elapsed().as_secs_f64() / 5.0;
    println!(
        "burn-flex matmul [{m},{k}]x[{k},{n}]: {:.1} ms => {:.0} GFLOP/s",
        dt * 1e3,
        2.0 * (m * k * n) as f64 / dt / 1e9
    );
}
