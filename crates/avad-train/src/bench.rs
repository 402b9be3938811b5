//! `avad bench`: times the workloads that `tools/bench_official.py` times with the official PyTorch code, so the
//! two can be compared as ratios on one machine (`docs/benchmarks.md`).
//!
//! Workloads (random seeded weights of the official sizes: D = 512, T = 256, 7 XD classes, a 12-layer width-512
//! CLIP text tower; inputs are created on the device once, before the clock starts):
//! - `train-teacher`, `train-vadclip`: one training step as `avad train` takes it ([`train_step`]: the preset's
//!   forward with the class text, its losses with the loss values read back, one `backward()`, AdamW) on a random
//!   batch `[B, 256, 512]` (+ audio `[B, 256, 512]` for the teacher) with valid lengths `256 − (37·i mod 128)`.
//! - `predict-chunk`: [`Predictor::predict`] of the AVadCLIP teacher on one video of 256 snippets (one chunk),
//!   class text features precomputed once as avad does, with the predictor's default engine (on the CPU backend
//!   the fast one, [`avad_model::FastModel`]).
//! - `predict-chunk-burn`: the same through the burn modules ([`ModelEngine::Reference`]) on any backend.
//! - `clip-image`: the CLIP ViT-B/16 image tower (HF `CLIPVisionModelWithProjection`) on a batch of 224² images,
//!   through the path `avad detect` takes: on the CPU backend ([`BenchConfig::cpu`]) the fast host encoder
//!   [`avad_clip::FastVisionEncoder`] (prepacked avad-kernels GEMMs; pixels copied to the host once, before the
//!   clock), elsewhere the burn model.
//! - `clip-image-burn`: the same on the burn model ([`avad_clip::ClipVisionModel::forward`]) on any backend: the
//!   reference path, to compare with `clip-image` on the CPU.
//! - `gemm`: that tower's largest matrix product alone, `[N·197, 768] × [768, 3072]`.
//! - `wav2clip`: Wav2CLIP embeddings ([`avad_wav2clip::Wav2Clip::embed_batch`]: spectrogram front end, ResNet-18,
//!   projection head; shared normalisation) of a batch of one-second 16 kHz windows (default 32), full-size formula
//!   weights ([`avad_wav2clip::testing::formula_weights`]); on the CPU backend through the fast path
//!   [`avad_wav2clip::FastWav2Clip`] (folded batch norm, im2col + avad-kernels GEMM), elsewhere the burn model.
//! - `wav2clip-burn`: the same on the burn model on any backend (the reference path).
//!
//! The fast CPU paths compute the same functions as the burn models (their tests hold them within 1e-4); the
//! `-burn` entries exist so one run shows both sides on the same machine and load.
//!
//! Every timed iteration ends with a read-back of a result and [`Backend::sync`], so asynchronous (GPU) backends
//! are timed to completion.

use std::fmt::Write as _;
use std::str::FromStr;
use std::time::Instant;

use avad_infer::{class_token_ids, ModelEngine, Predictor};
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::Distribution;
use serde::{Deserialize, Serialize};

use crate::build::{build_model, ClipSource};
use crate::config::TrainConfig;
use crate::data::Batch;
use crate::error::{Result, TrainError};
use crate::optim::AdamW;
use crate::step::train_step;
use crate::text::class_names;

/// Snippets per chunk (the official `visual_length`).
pub const T: usize = 256;

/// One benchmark workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Workload {
    /// One AVadCLIP-teacher training step.
    TrainTeacher,
    /// One VadCLIP (XD) training step.
    TrainVadclip,
    /// Prediction of one 256-snippet chunk by the teacher.
    PredictChunk,
    /// The CLIP ViT-B/16 image encoder on a batch of images.
    ClipImage,
    /// The image encoder's largest matrix product alone.
    Gemm,
    /// The CLIP image encoder through burn (the reference path of `clip-image`).
    ClipImageBurn,
    /// Wav2CLIP embeddings of a batch of one-second windows (the fast path on the CPU).
    Wav2clip,
    /// Wav2CLIP embeddings through burn (the reference path of `wav2clip`).
    Wav2clipBurn,
    /// Prediction of one chunk through the burn modules (the reference path of `predict-chunk`).
    PredictChunkBurn,
}

impl Workload {
    /// Every workload, in report order.
    pub const ALL: [Workload; 9] = [
        Self::TrainTeacher,
        Self::TrainVadclip,
        Self::PredictChunk,
        Self::PredictChunkBurn,
        Self::ClipImage,
        Self::Gemm,
        Self::ClipImageBurn,
        Self::Wav2clip,
        Self::Wav2clipBurn,
    ];
    /// The workloads run when none is named (those of the official-code comparison).
    pub const DEFAULT: [Workload; 5] = [
        Self::TrainTeacher,
        Self::TrainVadclip,
        Self::PredictChunk,
        Self::ClipImage,
        Self::Wav2clip,
    ];

    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::TrainTeacher => "train-teacher",
            Self::TrainVadclip => "train-vadclip",
            Self::PredictChunk => "predict-chunk",
            Self::ClipImage => "clip-image",
            Self::Gemm => "gemm",
            Self::ClipImageBurn => "clip-image-burn",
            Self::Wav2clip => "wav2clip",
            Self::Wav2clipBurn => "wav2clip-burn",
            Self::PredictChunkBurn => "predict-chunk-burn",
        }
    }
}

impl FromStr for Workload {
    type Err = TrainError;
    fn from_str(s: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|w| w.name() == s)
            .ok_or_else(|| {
                let names: Vec<_> = Self::ALL.iter().map(|w| w.name()).collect();
                TrainError::Bench(format!(
                    "unknown workload `{s}` (expected one of: {})",
                    names.join(", ")
                ))
            })
    }
}

/// What to run and how often.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchConfig {
    /// Workloads, run in this order.
    pub workloads: Vec<Workload>,
    /// Videos per training step (official: 96).
    pub batch: usize,
    /// Images per CLIP image-encoder batch (and the `gemm` rows, ×197).
    pub clip_batch: usize,
    /// One-second windows per Wav2CLIP batch (`wav2clip`, `wav2clip-burn`).
    #[serde(default = "default_wav2clip_batch")]
    pub wav2clip_batch: usize,
    /// The backend is the CPU one: `clip-image` and `wav2clip` then time the fast host paths
    /// ([`avad_clip::FastVisionEncoder`], [`avad_wav2clip::FastWav2Clip`]) that avad uses there.
    #[serde(default)]
    pub cpu: bool,
    /// Timed iterations per workload.
    pub iters: usize,
    /// Untimed iterations before them.
    pub warmup: usize,
    /// Seed of the weights and inputs.
    pub seed: u64,
    /// Tiny model sizes (feature width 32, 1-layer towers, 32² images) instead of the official ones: for tests.
    pub small: bool,
}

impl Default for BenchConfig {
    /// The official workloads: training batch 96, CLIP batch 256, Wav2CLIP batch 32, 10 timed iterations after 2
    /// warm-up ones; burn paths only (`cpu: false`).
    fn default() -> Self {
        Self {
            workloads: Workload::DEFAULT.to_vec(),
            batch: 96,
            clip_batch: 256,
            wav2clip_batch: default_wav2clip_batch(),
            cpu: false,
            iters: 10,
            warmup: 2,
            seed: 234,
            small: false,
        }
    }
}

fn default_wav2clip_batch() -> usize {
    32
}

/// Timings of one workload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkloadReport {
    /// Workload name.
    pub name: String,
    /// What one iteration is.
    pub description: String,
    /// Batch size of one iteration (videos, chunks or images).
    pub batch: usize,
    /// Items one iteration processes (videos, snippets, images, multiply-adds).
    pub items_per_iter: f64,
    /// Unit of `items_per_iter`.
    pub unit: String,
    /// Float type the workload computed in (`F32`, …).
    pub dtype: String,
    /// Untimed iterations run first.
    pub warmup: usize,
    /// Seconds of each timed iteration.
    pub seconds: Vec<f64>,
    /// Median seconds per iteration.
    pub median_s: f64,
    /// Mean seconds per iteration.
    pub mean_s: f64,
    /// Fastest iteration.
    pub min_s: f64,
    /// Slowest iteration.
    pub max_s: f64,
    /// `items_per_iter / median_s`.
    pub throughput_per_s: f64,
    /// Seconds spent building the model and inputs (not timed above).
    pub setup_s: f64,
    /// CPU seconds the process used per timed iteration (all its threads; Linux `/proc/self/stat`, 10 ms ticks
    /// summed over the iterations). On a shared machine this, unlike the wall time, does not grow with the other
    /// processes' load (with one thread it is the time actually spent on a core).
    #[serde(default)]
    pub cpu_s_per_iter: Option<f64>,
}

/// The result of [`run`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchReport {
    /// `avad` and its version.
    pub tool: String,
    /// Backend name as burn reports it.
    pub backend: String,
    /// Hardware threads of the machine.
    pub host_threads: usize,
    /// `RAYON_NUM_THREADS` when set (the CPU backend's thread count).
    pub rayon_num_threads: Option<String>,
    /// The configuration run.
    pub config: BenchConfig,
    /// One entry per workload, in the order run.
    pub workloads: Vec<WorkloadReport>,
}

impl BenchReport {
    /// A plain-text table: workload, batch, median / mean / min milliseconds per iteration, throughput.
    pub fn to_table(&self) -> String {
        let mut s = format!(
            "{} on {} ({} hardware threads{})\n",
            self.tool,
            self.backend,
            self.host_threads,
            self.rayon_num_threads
                .as_ref()
                .map(|n| format!(", RAYON_NUM_THREADS={n}"))
                .unwrap_or_default()
        );
        let _ = writeln!(
            s,
            "{:<18} {:>6} {:>5} {:>11} {:>11} {:>11} {:>11}  throughput",
            "workload", "batch", "iters", "median ms", "mean ms", "min ms", "cpu ms"
        );
        for w in &self.workloads {
            let _ = writeln!(
                s,
                "{:<18} {:>6} {:>5} {:>11.2} {:>11.2} {:>11.2} {:>11}  {:.2} {}/s",
                w.name,
                w.batch,
                w.seconds.len(),
                1e3 * w.median_s,
                1e3 * w.mean_s,
                1e3 * w.min_s,
                w.cpu_s_per_iter
                    .map_or_else(|| "-".to_string(), |c| format!("{:.2}", 1e3 * c)),
                w.throughput_per_s,
                w.unit
            );
        }
        s
    }
}

/// Runs the configured workloads on `device`: training steps on the autodiff backend `B`, prediction and the CLIP
/// workloads on its inner (inference) backend.
pub fn run<B: AutodiffBackend>(cfg: &BenchConfig, device: &B::Device) -> Result<BenchReport> {
    if cfg.iters == 0 {
        return Err(TrainError::Bench("--iters must be at least 1".into()));
    }
    if cfg.batch == 0 || cfg.clip_batch == 0 || cfg.wav2clip_batch == 0 {
        return Err(TrainError::Bench("batch sizes must be at least 1".into()));
    }
    let workloads = if cfg.workloads.is_empty() {
        Workload::DEFAULT.to_vec()
    } else {
        cfg.workloads.clone()
    };
    let mut reports = Vec::with_capacity(workloads.len());
    for w in &workloads {
        tracing::info!("bench {}: building the model", w.name());
        let r = match w {
            Workload::TrainTeacher => time_train_step::<B>(cfg, true, device)?,
            Workload::TrainVadclip => time_train_step::<B>(cfg, false, device)?,
            Workload::PredictChunk | Workload::PredictChunkBurn => {
                predict_chunk::<B::InnerBackend>(cfg, *w, device)?
            }
            Workload::ClipImage | Workload::ClipImageBurn => {
                clip_image::<B::InnerBackend>(cfg, *w, device)?
            }
            Workload::Gemm => gemm::<B::InnerBackend>(cfg, device)?,
            Workload::Wav2clip | Workload::Wav2clipBurn => {
                wav2clip::<B::InnerBackend>(cfg, *w, device)?
            }
        };
        tracing::info!(
            "bench {}: median {:.4} s, mean {:.4} s per iteration ({:.3} {}/s)",
            r.name,
            r.median_s,
            r.mean_s,
            r.throughput_per_s,
            r.unit
        );
        reports.push(r);
    }
    Ok(BenchReport {
        tool: format!("avad {}", env!("CARGO_PKG_VERSION")),
        backend: B::name(device),
        host_threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        rayon_num_threads: std::env::var("RAYON_NUM_THREADS").ok(),
        config: BenchConfig {
            workloads,
            ..cfg.clone()
        },
        workloads: reports,
    })
}

/// Waits until every queued operation on `device` has finished.
fn sync<B: Backend>(device: &B::Device) -> Result<()> {
    B::sync(device).map_err(|e| TrainError::Bench(format!("backend failed: {e}")))
}

/// Wall seconds of each timed iteration and the CPU seconds per iteration.
struct Timing {
    seconds: Vec<f64>,
    cpu_s_per_iter: Option<f64>,
}

/// CPU seconds this process has used so far (user + system, all threads), from `/proc/self/stat` (Linux; USER_HZ
/// is 100 there); `None` elsewhere.
fn process_cpu_s() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may hold spaces): state is field 3, utime 14, stime 15.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

/// Runs `step(i)` `warmup` times, then `iters` times under the clock, each followed by a device sync.
fn time_iters<B: Backend>(
    cfg: &BenchConfig,
    device: &B::Device,
    mut step: impl FnMut(usize) -> Result<()>,
) -> Result<Timing> {
    for i in 0..cfg.warmup {
        step(i)?;
        sync::<B>(device)?;
    }
    let mut seconds = Vec::with_capacity(cfg.iters);
    let cpu0 = process_cpu_s();
    for i in 0..cfg.iters {
        let t0 = Instant::now();
        step(cfg.warmup + i)?;
        sync::<B>(device)?;
        seconds.push(t0.elapsed().as_secs_f64());
    }
    let cpu_s_per_iter = match (cpu0, process_cpu_s()) {
        (Some(a), Some(b)) => Some((b - a) / cfg.iters as f64),
        _ => None,
    };
    Ok(Timing {
        seconds,
        cpu_s_per_iter,
    })
}

/// Fills in the statistics of `seconds`.
#[allow(clippy::too_many_arguments)]
fn report(
    w: Workload,
    description: String,
    batch: usize,
    items_per_iter: f64,
    unit: &str,
    dtype: burn::tensor::DType,
    warmup: usize,
    timing: Timing,
    setup_s: f64,
) -> WorkloadReport {
    let Timing {
        seconds,
        cpu_s_per_iter,
    } = timing;
    let mut sorted = seconds.clone();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    let median_s = if n % 2 == 1 {
        sorted[n / 2]
    } else {
        0.5 * (sorted[n / 2 - 1] + sorted[n / 2])
    };
    WorkloadReport {
        name: w.name().into(),
        description,
        batch,
        items_per_iter,
        unit: unit.into(),
        dtype: format!("{dtype:?}"),
        warmup,
        median_s,
        mean_s: sorted.iter().sum::<f64>() / n as f64,
        min_s: sorted[0],
        max_s: sorted[n - 1],
        throughput_per_s: items_per_iter / median_s,
        seconds,
        setup_s,
        cpu_s_per_iter,
    }
}

/// The preset of a workload with random CLIP text weights (and tiny widths when `small`).
fn preset(cfg: &BenchConfig, teacher: bool) -> TrainConfig {
    let mut tc = if teacher {
        TrainConfig::xd_teacher()
    } else {
        TrainConfig::xd_vadclip()
    };
    tc.seed = cfg.seed;
    tc.batch_size = cfg.batch;
    tc.random_clip = true;
    if cfg.small {
        tc.set_feature_width(32);
        tc.model.clip_text.num_hidden_layers = 1;
    }
    tc
}

/// Valid length of row `i`: 256, then values spread over 129..=256 (the same rule as `tools/bench_official.py`).
fn valid_length(i: usize) -> usize {
    T - (37 * i) % (T / 2)
}

/// The class of row `i` in the one-hot XD labels [B, 7]: even rows normal, odd rows the six anomaly classes in
/// turn (the same rule as `tools/bench_official.py`).
fn label_class(i: usize) -> usize {
    if i.is_multiple_of(2) {
        0
    } else {
        1 + (i / 2) % 6
    }
}

fn time_train_step<B: AutodiffBackend>(
    cfg: &BenchConfig,
    teacher: bool,
    device: &B::Device,
) -> Result<WorkloadReport> {
    let started = Instant::now();
    let (model, tc) = build_model::<B>(&preset(cfg, teacher), &ClipSource::Random, device)?;
    let (b, d, c) = (cfg.batch, tc.model.visual_width, tc.model.num_class);
    let text = model.class_text(&class_token_ids(&class_names(tc.labels)))?;
    let mut opt = AdamW::<B::InnerBackend>::new(tc.adamw());
    B::seed(device, cfg.seed ^ 0xBE7C);
    let visual = Tensor::<B, 3>::random([b, T, d], Distribution::Normal(0.0, 1.0), device); // [B, T, D]
    let audio = tc.model.audio.as_ref().map(|a| {
        Tensor::<B, 3>::random(
            [b, T, a.input_width],
            Distribution::Normal(0.0, 1.0),
            device,
        ) // [B, T, Da]
    });
    let lengths: Vec<usize> = (0..b).map(valid_length).collect();
    let mut hot = vec![0f32; b * c];
    for i in 0..b {
        hot[i * c + label_class(i)] = 1.0;
    }
    let labels = Tensor::<B, 2>::from_data(TensorData::new(hot, [b, c]), device); // [B, C]
    let dtype = visual.dtype();
    let setup_s = started.elapsed().as_secs_f64();
    let mut slot = Some(model);
    let seconds = time_iters::<B>(cfg, device, |i| {
        let model = slot
            .take()
            .ok_or_else(|| TrainError::Bench("the model was lost by a failed step".into()))?;
        let batch = Batch {
            visual: visual.clone(),
            audio: audio.clone(),
            lengths: lengths.clone(),
            labels: labels.clone(),
        };
        B::seed(device, cfg.seed.wrapping_add(i as u64));
        let (model, _) = train_step(&tc, model, &mut opt, tc.lr, &text, batch, None)?;
        slot = Some(model);
        Ok(())
    })?;
    let (w, what) = if teacher {
        (Workload::TrainTeacher, "AVadCLIP teacher (xd-teacher)")
    } else {
        (Workload::TrainVadclip, "VadCLIP (xd-vadclip)")
    };
    Ok(report(
        w,
        format!(
            "one training step of {what}: forward [{b}, {T}, {d}], losses, backward, AdamW (D = {d}, CLIP text {} layers)",
            tc.model.clip_text.num_hidden_layers
        ),
        b,
        b as f64,
        "videos",
        dtype,
        cfg.warmup,
        seconds,
        setup_s,
    ))
}

fn predict_chunk<B: Backend>(
    cfg: &BenchConfig,
    w: Workload,
    device: &B::Device,
) -> Result<WorkloadReport> {
    let started = Instant::now();
    let (model, tc) = build_model::<B>(&preset(cfg, true), &ClipSource::Random, device)?;
    let d = tc.model.visual_width;
    let da = tc.model.audio.as_ref().map_or(d, |a| a.input_width);
    let mut predictor = Predictor::new(model, class_names(tc.labels))?;
    if w == Workload::PredictChunkBurn {
        predictor.set_engine(ModelEngine::Reference)?;
    }
    let engine = predictor.engine();
    let dtype = predictor.text_features.dtype();
    // Host features of one 256-snippet video, row-major [T, D] and [T, Da].
    let visual: Vec<f32> = Tensor::<B, 2>::random([T, d], Distribution::Normal(0.0, 1.0), device)
        .into_data()
        .convert::<f32>()
        .to_vec()
        .map_err(|e| TrainError::Bench(format!("{e:?}")))?;
    let audio: Vec<f32> = Tensor::<B, 2>::random([T, da], Distribution::Normal(0.0, 1.0), device)
        .into_data()
        .convert::<f32>()
        .to_vec()
        .map_err(|e| TrainError::Bench(format!("{e:?}")))?;
    let setup_s = started.elapsed().as_secs_f64();
    let seconds = time_iters::<B>(cfg, device, |_| {
        let scores = predictor.predict(&visual, Some(&audio))?;
        if scores.t != T {
            return Err(TrainError::Bench(format!(
                "prediction returned {} snippets, expected {T}",
                scores.t
            )));
        }
        Ok(())
    })?;
    Ok(report(
        w,
        format!(
            "Predictor::predict of the AVadCLIP teacher on one {T}-snippet video (one chunk; class text features cached; {} engine)",
            engine.as_str()
        ),
        1,
        T as f64,
        "snippets",
        dtype,
        cfg.warmup,
        seconds,
        setup_s,
    ))
}

fn clip_config(cfg: &BenchConfig) -> avad_clip::ClipConfig {
    if cfg.small {
        avad_clip::testing::tiny_config()
    } else {
        avad_clip::testing::vit_b16_config()
    }
}

/// `clip-image` (on the CPU: [`avad_clip::FastVisionEncoder`] on host pixels) or `clip-image-burn` (burn forward).
fn clip_image<B: Backend>(
    cfg: &BenchConfig,
    w: Workload,
    device: &B::Device,
) -> Result<WorkloadReport> {
    let fast = w == Workload::ClipImage && cfg.cpu;
    let started = Instant::now();
    let cc = clip_config(cfg);
    let clip_err = |e| TrainError::Clip(format!("random CLIP weights: {e}"));
    let model =
        avad_clip::testing::random_vision_model::<B>(&cc, cfg.seed, device).map_err(clip_err)?;
    let (n, s) = (cfg.clip_batch, cc.vision_config.image_size);
    B::seed(device, cfg.seed ^ 0x1A6E);
    let pixels = Tensor::<B, 4>::random([n, 3, s, s], Distribution::Normal(0.0, 1.0), device); // [N, 3, S, S]
    let (dtype, seconds, setup_s, path) = if fast {
        let encoder =
            avad_clip::FastVisionEncoder::new(&model, avad_clip::FastVisionOptions::default())
                .map_err(|e| TrainError::Clip(format!("fast image encoder: {e}")))?;
        let host: Vec<f32> = pixels
            .into_data()
            .convert::<f32>()
            .to_vec()
            .map_err(|e| TrainError::Bench(format!("{e:?}")))?; // [N, 3, S, S]
        let setup_s = started.elapsed().as_secs_f64();
        let seconds = time_iters::<B>(cfg, device, |_| {
            let emb = encoder.encode(&host, n); // [N, proj]
            if emb.len() != n * encoder.output_dim() {
                return Err(TrainError::Bench(
                    "fast image encoder: wrong output size".into(),
                ));
            }
            Ok(())
        })?;
        let kernels = encoder.options().kernel.resolve().name();
        let path = format!("avad_clip::FastVisionEncoder, {kernels} GEMM");
        (burn::tensor::DType::F32, seconds, setup_s, path)
    } else {
        let dtype = pixels.dtype();
        let setup_s = started.elapsed().as_secs_f64();
        let seconds = time_iters::<B>(cfg, device, |_| {
            let emb = model.forward(pixels.clone()).map_err(clip_err)?; // [N, proj]
            let _ = emb.into_data();
            Ok(())
        })?;
        (dtype, seconds, setup_s, "burn".to_string())
    };
    let v = &cc.vision_config;
    Ok(report(
        w,
        format!(
            "CLIP image tower (width {}, {} layers, patch {}, {s}², projection {}) on {n} images ({path})",
            v.hidden_size, v.num_hidden_layers, v.patch_size, cc.projection_dim
        ),
        n,
        n as f64,
        "images",
        dtype,
        cfg.warmup,
        seconds,
        setup_s,
    ))
}

/// `wav2clip` (on the CPU: [`avad_wav2clip::FastWav2Clip`]) or `wav2clip-burn` ([`avad_wav2clip::Wav2Clip`]):
/// `embed_batch` of `wav2clip_batch` one-second 16 kHz windows, spectrogram included, shared normalisation.
fn wav2clip<B: Backend>(
    cfg: &BenchConfig,
    w: Workload,
    device: &B::Device,
) -> Result<WorkloadReport> {
    use avad_wav2clip::{FastWav2Clip, FastWav2ClipOptions, Normalisation, Wav2Clip, SAMPLE_RATE};
    let fast = w == Workload::Wav2clip && cfg.cpu;
    let started = Instant::now();
    let w2c_err = |e: avad_wav2clip::Wav2ClipError| TrainError::Bench(format!("Wav2CLIP: {e}"));
    let weights = avad_wav2clip::testing::formula_weights::<B>(device);
    let model = Wav2Clip::<B>::from_weights(&weights, device).map_err(w2c_err)?;
    drop(weights);
    let n = cfg.wav2clip_batch;
    let windows = audio_windows(n, SAMPLE_RATE as usize, cfg.seed); // n × [16000]
    let segments: Vec<&[f32]> = windows.iter().map(Vec::as_slice).collect();
    let check = |rows: usize| {
        if rows == n * avad_wav2clip::EMBED_DIM {
            Ok(())
        } else {
            Err(TrainError::Bench(format!(
                "Wav2CLIP returned {rows} values for {n} windows"
            )))
        }
    };
    let (dtype, seconds, setup_s, path) = if fast {
        let encoder = FastWav2Clip::new(&model, FastWav2ClipOptions::default());
        let setup_s = started.elapsed().as_secs_f64();
        let seconds = time_iters::<B>(cfg, device, |_| {
            let emb = encoder
                .embed_batch(&segments, Normalisation::Shared)
                .map_err(w2c_err)?; // [N, 512]
            check(emb.len())
        })?;
        let kernels = encoder.options().kernel.resolve().name();
        let path = format!("avad_wav2clip::FastWav2Clip, {kernels} GEMM");
        (burn::tensor::DType::F32, seconds, setup_s, path)
    } else {
        let setup_s = started.elapsed().as_secs_f64();
        let mut dtype = burn::tensor::DType::F32;
        let seconds = time_iters::<B>(cfg, device, |_| {
            let emb = model
                .embed_batch(&segments, Normalisation::Shared)
                .map_err(w2c_err)?; // [N, 512]
            dtype = emb.dtype();
            check(emb.into_data().num_elements())
        })?;
        (dtype, seconds, setup_s, "burn".to_string())
    };
    Ok(report(
        w,
        format!(
            "Wav2CLIP embed_batch (spectrogram, ResNet-18, projection; shared normalisation; formula weights) of \
             {n} one-second 16 kHz windows ({path})"
        ),
        n,
        n as f64,
        "windows",
        dtype,
        cfg.warmup,
        seconds,
        setup_s,
    ))
}

/// `n` seeded windows of `len` samples (|x| ≤ 0.4): a tone whose pitch depends on the window plus noise (the
/// same rule as `tools/bench_official.py`; the timing does not depend on the values).
fn audio_windows(n: usize, len: usize, seed: u64) -> Vec<Vec<f32>> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|i| {
            let f = 220.0 + 37.0 * i as f64;
            (0..len)
                .map(|t| {
                    s = s
                        .wrapping_mul(6_364_136_223_846_793_005)
                        .wrapping_add(1_442_695_040_888_963_407);
                    let noise = (s >> 40) as f64 / (1u64 << 24) as f64 - 0.5;
                    let x = t as f64 / len as f64;
                    (0.3 * (2.0 * std::f64::consts::PI * f * x).sin() + 0.2 * noise) as f32
                })
                .collect()
        })
        .collect()
}

fn gemm<B: Backend>(cfg: &BenchConfig, device: &B::Device) -> Result<WorkloadReport> {
    let started = Instant::now();
    let v = clip_config(cfg).vision_config;
    let (m, k, n) = (
        cfg.clip_batch * v.num_positions(),
        v.hidden_size,
        v.intermediate_size,
    );
    B::seed(device, cfg.seed ^ 0x6E33);
    let a = Tensor::<B, 2>::random([m, k], Distribution::Normal(0.0, 1.0), device); // [M, K]
    let w = Tensor::<B, 2>::random([k, n], Distribution::Normal(0.0, 1.0), device); // [K, N]
    let dtype = a.dtype();
    let setup_s = started.elapsed().as_secs_f64();
    let seconds = time_iters::<B>(cfg, device, |_| {
        let y = a.clone().matmul(w.clone()); // [M, N]
        let _ = y.sum().into_data();
        Ok(())
    })?;
    Ok(report(
        Workload::Gemm,
        format!(
            "matmul [{m}, {k}] × [{k}, {n}] (the image tower's MLP fc1 at batch {})",
            cfg.clip_batch
        ),
        cfg.clip_batch,
        2.0 * (m * k * n) as f64 / 1e9,
        "GFLOP",
        dtype,
        cfg.warmup,
        seconds,
        setup_s,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    type B = burn::backend::Autodiff<burn_flex::Flex>;

    #[test]
    fn workload_names_round_trip_and_unknown_ones_are_refused() {
        for w in Workload::ALL {
            assert_eq!(w.name().parse::<Workload>().unwrap(), w);
        }
        let err = "train".parse::<Workload>().unwrap_err().to_string();
        assert!(err.contains("train-teacher"), "{err}");
    }

    #[test]
    fn lengths_and_labels_follow_the_shared_rule() {
        assert_eq!(valid_length(0), T);
        assert!((0..96).map(valid_length).all(|l| (T / 2 < l) && l <= T));
        assert_eq!(label_class(0), 0);
        assert_eq!(
            (1..13).step_by(2).map(label_class).collect::<Vec<_>>(),
            vec![1, 2, 3, 4, 5, 6]
        );
    }

    #[test]
    fn every_small_workload_runs_and_reports_consistent_times() {
        let cfg = BenchConfig {
            workloads: Workload::ALL.to_vec(),
            batch: 2,
            clip_batch: 2,
            wav2clip_batch: 2,
            cpu: true,
            iters: 3,
            warmup: 1,
            small: true,
            ..BenchConfig::default()
        };
        let r = run::<B>(&cfg, &Default::default()).unwrap();
        let names: Vec<_> = r.workloads.iter().map(|w| w.name.as_str()).collect();
        assert_eq!(names, Workload::ALL.map(Workload::name));
        for w in &r.workloads {
            assert_eq!(w.seconds.len(), 3, "{}", w.name);
            assert!(
                w.min_s > 0.0 && w.min_s <= w.median_s && w.median_s <= w.max_s,
                "{w:?}"
            );
            assert!(w.min_s <= w.mean_s && w.mean_s <= w.max_s, "{w:?}");
            assert!((w.throughput_per_s - w.items_per_iter / w.median_s).abs() < 1e-9);
            assert_eq!(w.dtype, "F32");
        }
        assert!(r.to_table().contains("predict-chunk"));
        let desc = |name: &str| {
            r.workloads
                .iter()
                .find(|w| w.name == name)
                .map(|w| w.description.clone())
                .unwrap()
        };
        // `cpu: true`: the plain names time the fast host paths, the `-burn` ones the burn models.
        assert!(desc("clip-image").contains("FastVisionEncoder"));
        assert!(desc("wav2clip").contains("FastWav2Clip"));
        assert!(desc("clip-image-burn").ends_with("(burn)"));
        assert!(desc("wav2clip-burn").ends_with("(burn)"));
        let w2c = r.workloads.iter().find(|w| w.name == "wav2clip").unwrap();
        assert_eq!((w2c.batch, w2c.unit.as_str()), (2, "windows"));
        let zero = BenchConfig {
            iters: 0,
            ..cfg.clone()
        };
        assert!(run::<B>(&zero, &Default::default()).is_err());
    }
}
