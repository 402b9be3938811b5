//! The synthetic audio-visual benchmark: feature files, lists and annotations in the real formats, built so that
//! an audio-visual model can beat a visual-only one, and a random scorer cannot.
//!
//! Each video is a [T, 512] visual and a [T, 512] audio feature sequence (T from 20 to 600, log-uniform).
//! Features are a shared data-set mean + a per-video scene vector + temporally smooth noise (AR(1)). An anomalous
//! video carries 1–3 *events*; an event of class c adds `amplitude × direction_c` (a fixed random unit vector per
//! class and modality) to the rows of its snippets, in the visual stream, the audio stream, or both:
//! - visual only: a silent fight, abuse or riot seen but not heard;
//! - audio only: an off-camera gunshot, an explosion behind a wall;
//! - both: most car accidents and many of the rest.
//!
//! The modality is drawn once per (video, class), so all events of a class in a video show in the same streams
//! (the camera placement decides it), and about a fifth of the anomalous videos carry their only evidence in the
//! audio: the videos from which a weakly supervised model learns to listen.
//!
//! Normal videos (and the calm parts of anomalous ones) carry *distractors*: music and loud noise in the audio,
//! crowds and fast motion in the video, whose directions are partly aligned (cosine ≈ 0.4) with an anomaly class,
//! so a model has to tell them apart instead of thresholding energy. About a fifth of the anomalous videos have two
//! classes (multi-label, e.g. `B2-G-0`). Everything is a pure function of the seed. `docs/synth.md` has the details.
//!
//! [`events_found`] counts the events of one modality (e.g. audio-only) that a scorer detects at a false-alarm rate,
//! and [`write_random_scores`] writes the chance reference.

use std::path::{Path, PathBuf};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::files::write_atomic;
use crate::labels::LabelMap;
use crate::npy::write_npy_f32;
use crate::{CoreError, Result};

/// Default feature width of the benchmark (CLIP ViT-B/16 and Wav2CLIP both give 512).
pub const SYNTH_DIM: usize = 512;

/// What the generator makes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SynthConfig {
    /// Seed: the whole benchmark is a pure function of it.
    pub seed: u64,
    /// Number of training videos.
    pub train: usize,
    /// Number of test videos.
    pub test: usize,
    /// Fraction of anomalous videos in each split.
    pub anomaly_fraction: f64,
    /// Shortest video, in snippets.
    pub min_len: usize,
    /// Longest video, in snippets.
    pub max_len: usize,
    /// Visual crops written per video (`__0`..); the test list always uses crop 0.
    pub crops: usize,
    /// Feature width (512 like CLIP ViT-B/16 and Wav2CLIP; smaller widths make fast demos).
    pub dim: usize,
    /// Strength of the faint visual correlate of audio-only events (0 = none, the original benchmark): an
    /// audio-only event of class c with amplitude a also adds `visual_trace · a · w_c` to the visual rows, where
    /// `w_c` is a per-class "reaction" direction (people turning, a crowd flinching), starting 1–3 snippets after
    /// the sound and lingering 2 snippets after it ends. See docs/synth.md, "Faint visual traces".
    #[serde(default, skip_serializing_if = "is_zero")]
    pub visual_trace: f64,
}

fn is_zero(x: &f64) -> bool {
    *x == 0.0
}

impl Default for SynthConfig {
    fn default() -> Self {
        Self {
            seed: 7,
            train: 320,
            test: 120,
            anomaly_fraction: 0.5,
            min_len: 20,
            max_len: 600,
            crops: 1,
            dim: SYNTH_DIM,
            visual_trace: 0.0,
        }
    }
}

/// In which streams an event shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Modality {
    /// Seen, not heard.
    VisualOnly,
    /// Heard, not seen.
    AudioOnly,
    /// Seen and heard.
    Both,
}

/// One anomalous event of a generated video.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SynthEvent {
    /// XD class code (`B1`..`G`).
    pub class: String,
    /// Where it shows.
    pub modality: Modality,
    /// First snippet.
    pub start: usize,
    /// End snippet (exclusive).
    pub end: usize,
}

/// One distractor of a generated video: a normal sound or sight whose direction resembles an anomaly class.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SynthDistractor {
    /// `music`, `loud_noise` (audio) or `crowd`, `fast_motion` (visual).
    pub kind: String,
    /// True for the audio distractors.
    pub audio: bool,
    /// First snippet.
    pub start: usize,
    /// End snippet (exclusive).
    pub end: usize,
}

/// One generated video and where its files are.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SynthVideo {
    /// Video name (file names derive from it).
    pub name: String,
    /// `train` or `test`.
    pub split: String,
    /// XD label string (`A`, `B1-0-0`, `B2-G-0`).
    pub label: String,
    /// Number of snippets.
    pub snippets: usize,
    /// Its events (empty for normal videos).
    pub events: Vec<SynthEvent>,
    /// Its distractors (for analysis: they are not anomalies and are not in the annotations).
    #[serde(default)]
    pub distractors: Vec<SynthDistractor>,
}

/// What [`generate`] wrote.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SynthSummary {
    /// The output folder.
    pub root: PathBuf,
    /// Training list (`path,audio_path,label`).
    pub train_list: PathBuf,
    /// Test list (`path,audio_path,label`, crop 0).
    pub test_list: PathBuf,
    /// `annotations.txt` for the test set.
    pub annotations: PathBuf,
    /// `annotations_multiclasses.txt` for the test set.
    pub annotations_multiclass: PathBuf,
    /// Every video with its events (also written as `videos.json`).
    pub videos: Vec<SynthVideo>,
    /// The configuration used.
    pub config: SynthConfig,
}

/// Frames per snippet in the written annotations (XD-Violence convention).
pub const SNIPPET_FRAMES: usize = 16;

/// The anomaly classes with how often each shows in video only / audio only / both.
const CLASS_MODALITY: [(&str, [f64; 3]); 6] = [
    ("B1", [0.45, 0.10, 0.45]), // fighting: often a silent fight
    ("B2", [0.10, 0.50, 0.40]), // shooting: often off camera
    ("B4", [0.35, 0.15, 0.50]), // riot
    ("B5", [0.50, 0.10, 0.40]), // abuse
    ("B6", [0.15, 0.15, 0.70]), // car accident
    ("G", [0.10, 0.45, 0.45]),  // explosion: often behind a wall
];

/// Distractors: (name, modality is audio?, anomaly class it resembles).
const DISTRACTORS: [(&str, bool, usize); 4] = [
    ("music", true, 2),        // music ~ shooting
    ("loud_noise", true, 6),   // loud noise ~ explosion
    ("crowd", false, 3),       // crowd ~ riot
    ("fast_motion", false, 1), // fast motion ~ fighting
];

struct Directions {
    dim: usize,
    visual_mean: Vec<f32>,
    audio_mean: Vec<f32>,
    visual: Vec<Vec<f32>>, // index 1..=6 used
    audio: Vec<Vec<f32>>,
    distractors: Vec<Vec<f32>>,
}

fn normal_sample(rng: &mut ChaCha8Rng) -> f32 {
    // Box-Muller.
    let u1: f64 = rng.random::<f64>().max(1e-12);
    let u2: f64 = rng.random::<f64>();
    ((-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()) as f32
}

fn random_unit(rng: &mut ChaCha8Rng, dim: usize) -> Vec<f32> {
    let v: Vec<f32> = (0..dim).map(|_| normal_sample(rng)).collect();
    normalise(v)
}

fn normalise(v: Vec<f32>) -> Vec<f32> {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
    v.into_iter().map(|x| x / n).collect()
}

impl Directions {
    fn new(seed: u64, dim: usize) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5EED_D1EC);
        let visual_mean = (0..dim).map(|_| normal_sample(&mut rng)).collect();
        let audio_mean = (0..dim).map(|_| normal_sample(&mut rng)).collect();
        let visual: Vec<Vec<f32>> = (0..7).map(|_| random_unit(&mut rng, dim)).collect();
        let audio: Vec<Vec<f32>> = (0..7).map(|_| random_unit(&mut rng, dim)).collect();
        let distractors = DISTRACTORS
            .iter()
            .map(|&(_, is_audio, class)| {
                let base = if is_audio {
                    &audio[class]
                } else {
                    &visual[class]
                };
                let r = random_unit(&mut rng, dim);
                normalise(
                    base.iter()
                        .zip(&r)
                        .map(|(b, r)| 0.4 * b + 0.92 * r)
                        .collect(),
                )
            })
            .collect();
        Self {
            dim,
            visual_mean,
            audio_mean,
            visual,
            audio,
            distractors,
        }
    }
}

fn pick(rng: &mut ChaCha8Rng, weights: &[f64]) -> usize {
    let total: f64 = weights.iter().sum();
    let mut x = rng.random::<f64>() * total;
    for (i, w) in weights.iter().enumerate() {
        if x < *w {
            return i;
        }
        x -= w;
    }
    weights.len() - 1
}

/// Snippet range of a random interval covering `lo..hi` of the video's length.
fn random_span(rng: &mut ChaCha8Rng, t: usize, lo: f64, hi: f64) -> (usize, usize) {
    let len = ((t as f64) * rng.random_range(lo..hi)).round().max(2.0) as usize;
    let len = len.min(t);
    let start = rng.random_range(0..=t - len);
    (start, start + len)
}

/// A distractor of one video: (which distractor kind, first snippet, end snippet exclusive).
type DistractorSpan = (usize, usize, usize);

/// The plan of one video: label, length and events (no features yet).
fn plan_video(
    rng: &mut ChaCha8Rng,
    cfg: &SynthConfig,
    anomalous: bool,
) -> (String, usize, Vec<SynthEvent>, Vec<DistractorSpan>) {
    let (lo, hi) = ((cfg.min_len as f64).ln(), (cfg.max_len as f64).ln());
    let t = rng.random_range(lo..=hi).exp().round() as usize;
    let t = t.clamp(cfg.min_len, cfg.max_len);
    let mut events = Vec::new();
    let mut classes: Vec<usize> = Vec::new();
    if anomalous {
        classes.push(rng.random_range(0..6));
        if rng.random::<f64>() < 0.2 {
            let second = (classes[0] + rng.random_range(1..6)) % 6;
            classes.push(second);
        }
        // The modality belongs to the (video, class), not to the event: where the camera is decides whether the
        // shooting of this video is seen, heard or both, for every shot of it.
        let modalities: Vec<Modality> = classes
            .iter()
            .map(|&ci| {
                [Modality::VisualOnly, Modality::AudioOnly, Modality::Both]
                    [pick(rng, &CLASS_MODALITY[ci].1)]
            })
            .collect();
        let n_events = rng.random_range(1..=3usize).max(classes.len());
        for e in 0..n_events {
            let ci = classes[e % classes.len()];
            let code = CLASS_MODALITY[ci].0;
            let modality = modalities[e % classes.len()];
            let (start, end) = random_span(rng, t, 0.05, 0.35);
            events.push(SynthEvent {
                class: code.to_string(),
                modality,
                start,
                end,
            });
        }
    }
    // Distractors: (which, start, end); normal videos get more of them.
    let n_distractors = if anomalous {
        rng.random_range(0..=1)
    } else {
        rng.random_range(0..=2)
    };
    let distractors = (0..n_distractors)
        .map(|_| {
            let which = rng.random_range(0..DISTRACTORS.len());
            let (s, e) = random_span(rng, t, 0.1, 0.5);
            (which, s, e)
        })
        .collect();
    let label = if classes.is_empty() {
        "A".to_string()
    } else {
        let mut parts: Vec<&str> = classes.iter().map(|&c| CLASS_MODALITY[c].0).collect();
        while parts.len() < 3 {
            parts.push("0");
        }
        parts.join("-")
    };
    (label, t, events, distractors)
}

/// The per-class visual "reaction" directions of the faint traces (index 1..=6 used), from their own RNG so that
/// the other directions, and the benchmark at `visual_trace = 0`, do not change.
fn trace_directions(seed: u64, dim: usize) -> Vec<Vec<f32>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x7EAC_7104);
    (0..7).map(|_| random_unit(&mut rng, dim)).collect()
}

/// Adds the faint visual trace of every audio-only event to `visual` ([T, D] row-major): `strength · a · w_c`
/// with a per-row jitter, from 1–3 snippets after the event starts to 2 snippets after it ends (clipped to the
/// video), `a` in [2, 4] like the event's own amplitude. Draws only from `rng` (a stream of its own).
fn add_visual_traces(
    visual: &mut [f32],
    rng: &mut ChaCha8Rng,
    trace_dirs: &[Vec<f32>],
    labels: &LabelMap,
    t: usize,
    events: &[SynthEvent],
    strength: f32,
) {
    let d = trace_dirs[0].len();
    for ev in events.iter().filter(|e| e.modality == Modality::AudioOnly) {
        let c = labels
            .index_of(&ev.class)
            .expect("synth class in the XD map");
        let amplitude = rng.random_range(2.0..4.0f32);
        let lag = rng.random_range(1..=3usize);
        for row in (ev.start + lag).min(t)..(ev.end + lag + 2).min(t) {
            let jitter = rng.random_range(0.7..1.3f32);
            for (o, v) in visual[row * d..(row + 1) * d]
                .iter_mut()
                .zip(&trace_dirs[c])
            {
                *o += strength * amplitude * jitter * v;
            }
        }
    }
}

/// Visual and audio features of one planned video, [T, 512] each, row-major.
fn render_video(
    rng: &mut ChaCha8Rng,
    dirs: &Directions,
    labels: &LabelMap,
    t: usize,
    events: &[SynthEvent],
    distractors: &[DistractorSpan],
) -> (Vec<f32>, Vec<f32>) {
    let d = dirs.dim;
    let mut render = |mean: &[f32], is_audio: bool| {
        let scene: Vec<f32> = (0..d).map(|_| 0.35 * normal_sample(rng)).collect();
        let rho = 0.8f32;
        let innov = (1.0 - rho * rho).sqrt();
        let mut state: Vec<f32> = (0..d).map(|_| normal_sample(rng)).collect();
        let mut out = Vec::with_capacity(t * d);
        for _ in 0..t {
            for (j, s) in state.iter_mut().enumerate() {
                *s = rho * *s + innov * normal_sample(rng);
                out.push(mean[j] * 0.5 + scene[j] + 0.35 * *s);
            }
        }
        for ev in events {
            let shows = match ev.modality {
                Modality::VisualOnly => !is_audio,
                Modality::AudioOnly => is_audio,
                Modality::Both => true,
            };
            if !shows {
                continue;
            }
            let c = labels
                .index_of(&ev.class)
                .expect("synth class in the XD map");
            let dir = if is_audio {
                &dirs.audio[c]
            } else {
                &dirs.visual[c]
            };
            let amplitude = rng.random_range(2.0..4.0f32);
            for row in ev.start..ev.end {
                let jitter = rng.random_range(0.7..1.3f32);
                for (o, v) in out[row * d..(row + 1) * d].iter_mut().zip(dir) {
                    *o += amplitude * jitter * v;
                }
            }
        }
        for &(which, s, e) in distractors {
            if DISTRACTORS[which].1 != is_audio {
                continue;
            }
            let amplitude = rng.random_range(1.2..3.0f32);
            for row in s..e {
                for (o, v) in out[row * d..(row + 1) * d]
                    .iter_mut()
                    .zip(&dirs.distractors[which])
                {
                    *o += amplitude * v;
                }
            }
        }
        out
    };
    let visual = render(&dirs.visual_mean, false);
    let audio = render(&dirs.audio_mean, true);
    (visual, audio)
}

/// Generates the benchmark into `out`: `visual/<video>__<crop>.npy`, `audio/<video>.npy`, `train.csv`,
/// `test.csv`, `annotations.txt`, `annotations_multiclasses.txt` and `videos.json` (every event, for analysis).
pub fn generate(cfg: &SynthConfig, out: &Path) -> Result<SynthSummary> {
    if cfg.train + cfg.test == 0
        || cfg.min_len < 2
        || cfg.max_len < cfg.min_len
        || cfg.crops == 0
        || cfg.dim < 8
    {
        return Err(CoreError::Invalid(format!(
            "synth: need train+test > 0, 2 ≤ min_len ≤ max_len, crops ≥ 1 and dim ≥ 8 (got {cfg:?})"
        )));
    }
    if !(cfg.visual_trace.is_finite() && cfg.visual_trace >= 0.0) {
        return Err(CoreError::Invalid(format!(
            "synth: visual_trace must be ≥ 0 (got {})",
            cfg.visual_trace
        )));
    }
    let labels = LabelMap::xd_violence();
    let dirs = Directions::new(cfg.seed, cfg.dim);
    let trace_dirs = (cfg.visual_trace > 0.0).then(|| trace_directions(cfg.seed, cfg.dim));
    for sub in ["visual", "audio"] {
        let p = out.join(sub);
        std::fs::create_dir_all(&p).map_err(|e| CoreError::io(&p, e))?;
    }
    let mut videos = Vec::new();
    let mut train_rows = String::from("path,audio_path,label\n");
    let mut test_rows = String::from("path,audio_path,label\n");
    let mut ann = String::new();
    let mut ann_multi = String::new();
    for (split, count, split_id) in [("train", cfg.train, 1u64), ("test", cfg.test, 2u64)] {
        let n_anomalous = (count as f64 * cfg.anomaly_fraction).round() as usize;
        for i in 0..count {
            // One RNG per video: the benchmark does not depend on generation order.
            let video_seed = cfg.seed.wrapping_mul(1_000_003) ^ (split_id << 40) ^ i as u64;
            let mut rng = ChaCha8Rng::seed_from_u64(video_seed);
            let anomalous = i < n_anomalous;
            let (label, t, events, distractors) = plan_video(&mut rng, cfg, anomalous);
            let name = format!("synth_{split}_{i:05}_label_{label}");
            let (mut visual, audio) =
                render_video(&mut rng, &dirs, &labels, t, &events, &distractors);
            if let Some(trace_dirs) = &trace_dirs {
                // Its own RNG stream: the rest of the video is the same as without the trace.
                let mut trace_rng = ChaCha8Rng::seed_from_u64(video_seed ^ 0x7EAC_E000_0000_0001);
                add_visual_traces(
                    &mut visual,
                    &mut trace_rng,
                    trace_dirs,
                    &labels,
                    t,
                    &events,
                    cfg.visual_trace as f32,
                );
            }
            let crops = if split == "test" { 1 } else { cfg.crops };
            for crop in 0..crops {
                let data: Vec<f32> = if crop == 0 {
                    visual.clone()
                } else {
                    visual
                        .iter()
                        .map(|v| v + 0.05 * normal_sample(&mut rng))
                        .collect()
                };
                write_npy_f32(
                    &out.join(format!("visual/{name}__{crop}.npy")),
                    &[t, cfg.dim],
                    &data,
                )?;
                let row = format!("visual/{name}__{crop}.npy,audio/{name}.npy,{label}\n");
                if split == "train" {
                    train_rows.push_str(&row);
                } else {
                    test_rows.push_str(&row);
                }
            }
            write_npy_f32(
                &out.join(format!("audio/{name}.npy")),
                &[t, cfg.dim],
                &audio,
            )?;
            if split == "test" && !events.is_empty() {
                let f = |s: usize| s * SNIPPET_FRAMES;
                ann.push_str(&name);
                ann_multi.push_str(&name);
                for ev in &events {
                    ann.push_str(&format!(" {} {}", f(ev.start), f(ev.end)));
                    ann_multi.push_str(&format!(" {} {} {}", ev.class, f(ev.start), f(ev.end)));
                }
                ann.push('\n');
                ann_multi.push('\n');
            }
            videos.push(SynthVideo {
                name,
                split: split.to_string(),
                label,
                snippets: t,
                events,
                distractors: distractors
                    .iter()
                    .map(|&(which, start, end)| SynthDistractor {
                        kind: DISTRACTORS[which].0.to_string(),
                        audio: DISTRACTORS[which].1,
                        start,
                        end,
                    })
                    .collect(),
            });
        }
    }
    let summary = SynthSummary {
        root: out.to_path_buf(),
        train_list: out.join("train.csv"),
        test_list: out.join("test.csv"),
        annotations: out.join("annotations.txt"),
        annotations_multiclass: out.join("annotations_multiclasses.txt"),
        videos,
        config: cfg.clone(),
    };
    write_atomic(&summary.train_list, train_rows.as_bytes())?;
    write_atomic(&summary.test_list, test_rows.as_bytes())?;
    write_atomic(&summary.annotations, ann.as_bytes())?;
    write_atomic(&summary.annotations_multiclass, ann_multi.as_bytes())?;
    let json =
        serde_json::to_vec_pretty(&summary).map_err(|e| CoreError::Invalid(e.to_string()))?;
    write_atomic(&out.join("videos.json"), &json)?;
    Ok(summary)
}

/// How many events of one kind a scorer finds (see [`events_found`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventsFound {
    /// Events whose mean anomaly score is above the threshold.
    pub found: usize,
    /// Events of the kind in the test set.
    pub total: usize,
}

/// Of the test set's events of `modality`, how many a scorer detects at the false-alarm rate `false_alarm_rate`
/// (e.g. 0.05): the threshold is the `(1 − rate)` quantile of the snippet scores of the normal test videos (the
/// score at index ⌊n·(1 − rate)⌋ of the n sorted ones), and an event counts as found when its mean score over its
/// snippets is above it. `anomaly(video)` returns the per-snippet anomaly scores of a test video, one per snippet.
///
/// Asks only for the test videos; errors when there is no normal test video, when the rate is outside (0, 1) or
/// when a video's scores do not have one value per snippet.
pub fn events_found(
    videos: &[SynthVideo],
    modality: Modality,
    false_alarm_rate: f64,
    mut anomaly: impl FnMut(&SynthVideo) -> Result<Vec<f64>>,
) -> Result<EventsFound> {
    if !(false_alarm_rate > 0.0 && false_alarm_rate < 1.0) {
        return Err(CoreError::Invalid(format!(
            "events_found: false-alarm rate {false_alarm_rate} must lie in (0, 1)"
        )));
    }
    let mut scores = |v: &SynthVideo| -> Result<Vec<f64>> {
        let s = anomaly(v)?;
        if s.len() != v.snippets {
            return Err(CoreError::Scores {
                video: v.name.clone(),
                reason: format!("{} scores for {} snippets", s.len(), v.snippets),
            });
        }
        Ok(s)
    };
    let test: Vec<&SynthVideo> = videos.iter().filter(|v| v.split == "test").collect();
    let mut normal = Vec::new();
    for v in test.iter().filter(|v| v.events.is_empty()) {
        normal.extend(scores(v)?);
    }
    if normal.is_empty() {
        return Err(CoreError::Invalid(
            "events_found: the test set has no normal video".into(),
        ));
    }
    normal.sort_by(f64::total_cmp);
    let n = normal.len();
    // + 1e-9: 0.95 · 100 must give index 95, not 94 (f64 rounding).
    let idx = ((n as f64 * (1.0 - false_alarm_rate) + 1e-9).floor() as usize).min(n - 1);
    let threshold = normal[idx];
    let (mut found, mut total) = (0, 0);
    for v in test {
        let events: Vec<&SynthEvent> = v.events.iter().filter(|e| e.modality == modality).collect();
        if events.is_empty() {
            continue;
        }
        let a = scores(v)?;
        for e in events {
            total += 1;
            let mean = a[e.start..e.end].iter().sum::<f64>() / (e.end - e.start) as f64;
            if mean > threshold {
                found += 1;
            }
        }
    }
    Ok(EventsFound { found, total })
}

/// [`events_found`] on a folder of score files `DIR/<video>.npy` as `avad predict` writes them: [T, C] class
/// probabilities (anomaly = 1 − column 0, as `avad eval` reads them) or [T] anomaly scores.
pub fn events_found_in_dir(
    videos: &[SynthVideo],
    scores_dir: &Path,
    modality: Modality,
    false_alarm_rate: f64,
) -> Result<EventsFound> {
    events_found(videos, modality, false_alarm_rate, |v| {
        let arr = crate::npy::read_npy(&scores_dir.join(format!("{}.npy", v.name)))?;
        let classes = match arr.shape.as_slice() {
            [_] => 1,
            [_, c] if *c >= 1 => *c,
            other => {
                return Err(CoreError::Scores {
                    video: v.name.clone(),
                    reason: format!("scores of shape {other:?}, expected [T, C] or [T]"),
                })
            }
        };
        let scored = crate::eval::ScoredVideo {
            video: v.name.clone(),
            scores: arr.data,
            classes,
        };
        Ok((0..scored.snippets()).map(|i| scored.anomaly(i)).collect())
    })
}

/// Writes a seeded random scorer's anomaly scores, uniform in [0, 1), as `DIR/<video>.npy` float32 [T] for every
/// test video: the chance reference (its frame AP is about the frame positive rate, its AUC about 0.5).
pub fn write_random_scores(videos: &[SynthVideo], dir: &Path, seed: u64) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| CoreError::io(dir, e))?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x0052_414E_444F_4D00);
    for v in videos.iter().filter(|v| v.split == "test") {
        let s: Vec<f32> = (0..v.snippets).map(|_| rng.random::<f32>()).collect();
        write_npy_f32(&dir.join(format!("{}.npy", v.name)), &[v.snippets], &s)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> SynthConfig {
        SynthConfig {
            seed: 3,
            train: 12,
            test: 10,
            min_len: 20,
            max_len: 80,
            ..SynthConfig::default()
        }
    }

    #[test]
    fn deterministic_per_seed_and_in_the_real_formats() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let sa = generate(&small(), a.path()).unwrap();
        generate(&small(), b.path()).unwrap();
        for f in ["train.csv", "test.csv", "annotations_multiclasses.txt"] {
            assert_eq!(
                std::fs::read(a.path().join(f)).unwrap(),
                std::fs::read(b.path().join(f)).unwrap()
            );
        }
        let v = &sa.videos[0];
        let x = std::fs::read(a.path().join(format!("visual/{}__0.npy", v.name))).unwrap();
        let y = std::fs::read(b.path().join(format!("visual/{}__0.npy", v.name))).unwrap();
        assert_eq!(x, y);
        let arr = crate::npy::read_npy(&a.path().join(format!("audio/{}.npy", v.name))).unwrap();
        assert_eq!(arr.shape, vec![v.snippets, SYNTH_DIM]);
        let list = crate::lists::read_list(&sa.test_list, None).unwrap();
        assert_eq!(list.len(), 10);
        assert!(list
            .iter()
            .all(|e| e.path.exists() && e.audio_path.as_ref().unwrap().exists()));
        let ann = crate::ground_truth::read_annotations(&sa.annotations_multiclass).unwrap();
        assert_eq!(ann.videos.len(), 5);
        let other = generate(&SynthConfig { seed: 4, ..small() }, b.path()).unwrap();
        assert_ne!(
            other.videos[0].snippets * 1000 + other.videos[1].snippets,
            v.snippets * 1000 + sa.videos[1].snippets
        );
    }

    #[test]
    fn modality_is_per_video_and_class_and_distractors_are_recorded() {
        let tmp = tempfile::tempdir().unwrap();
        let s = generate(
            &SynthConfig {
                seed: 5,
                train: 200,
                test: 0,
                max_len: 60,
                dim: 8,
                ..SynthConfig::default()
            },
            tmp.path(),
        )
        .unwrap();
        let anomalous: Vec<&SynthVideo> =
            s.videos.iter().filter(|v| !v.events.is_empty()).collect();
        assert_eq!(anomalous.len(), 100);
        for v in &anomalous {
            for e in &v.events {
                let same_class = v.events.iter().filter(|f| f.class == e.class);
                assert!(
                    same_class.clone().all(|f| f.modality == e.modality),
                    "{}: events of {} differ in modality",
                    v.name,
                    e.class
                );
            }
        }
        // Enough videos whose only evidence is in the audio for weak supervision to learn from them.
        let audio_only_videos = anomalous
            .iter()
            .filter(|v| v.events.iter().all(|e| e.modality == Modality::AudioOnly))
            .count();
        assert!(
            (12..=40).contains(&audio_only_videos),
            "{audio_only_videos} audio-only videos of 100"
        );
        let normal_with = |audio: bool| {
            s.videos
                .iter()
                .filter(|v| v.events.is_empty() && v.distractors.iter().any(|d| d.audio == audio))
                .count()
        };
        assert!(normal_with(true) >= 20 && normal_with(false) >= 20);
        assert!(s.videos.iter().flat_map(|v| &v.distractors).all(|d| {
            d.start < d.end
                && ["music", "loud_noise", "crowd", "fast_motion"].contains(&d.kind.as_str())
        }));
        let json = std::fs::read_to_string(tmp.path().join("videos.json")).unwrap();
        assert!(json.contains("\"distractors\"") && json.contains("\"loud_noise\""));
    }

    fn video(
        name: &str,
        split: &str,
        snippets: usize,
        events: Vec<(Modality, usize, usize)>,
    ) -> SynthVideo {
        SynthVideo {
            name: name.into(),
            split: split.into(),
            label: if events.is_empty() {
                "A".into()
            } else {
                "B2-0-0".into()
            },
            snippets,
            events: events
                .into_iter()
                .map(|(modality, start, end)| SynthEvent {
                    class: "B2".into(),
                    modality,
                    start,
                    end,
                })
                .collect(),
            distractors: Vec::new(),
        }
    }

    #[test]
    fn events_found_thresholds_at_the_false_alarm_rate_of_normal_videos() {
        let videos = vec![
            video("n0", "test", 100, vec![]),
            video(
                "a0",
                "test",
                20,
                vec![(Modality::AudioOnly, 2, 6), (Modality::VisualOnly, 10, 12)],
            ),
            video("a1", "test", 20, vec![(Modality::AudioOnly, 0, 4)]),
            video("t0", "train", 20, vec![(Modality::AudioOnly, 0, 4)]),
        ];
        // Normal snippet i scores i/100: the 95 % quantile is 0.95, so a mean of 0.955 is found and 0.945 is not.
        let scorer = |v: &SynthVideo| -> Result<Vec<f64>> {
            Ok(match v.name.as_str() {
                "n0" => (0..100).map(|i| i as f64 / 100.0).collect(),
                "a0" => (0..20)
                    .map(|i| if (2..6).contains(&i) { 0.955 } else { 0.0 })
                    .collect(),
                "a1" => vec![0.945; 20],
                _ => panic!("asked for a training video"),
            })
        };
        let f = events_found(&videos, Modality::AudioOnly, 0.05, scorer).unwrap();
        assert_eq!(f, EventsFound { found: 1, total: 2 });
        let f = events_found(&videos, Modality::VisualOnly, 0.05, scorer).unwrap();
        assert_eq!(f, EventsFound { found: 0, total: 1 });
        // At a 10 % false-alarm rate the threshold drops to 0.90 and both audio-only events are found.
        let f = events_found(&videos, Modality::AudioOnly, 0.10, scorer).unwrap();
        assert_eq!(f, EventsFound { found: 2, total: 2 });
        // Errors, not panics.
        let short = |v: &SynthVideo| Ok(vec![0.0; v.snippets - 1]);
        let e = events_found(&videos, Modality::AudioOnly, 0.05, short).unwrap_err();
        assert!(e.to_string().contains("n0"), "{e}");
        assert!(events_found(&videos, Modality::AudioOnly, 1.0, scorer).is_err());
        assert!(events_found(&videos[1..], Modality::AudioOnly, 0.05, scorer).is_err());
    }

    #[test]
    fn random_scores_find_events_at_chance_and_oracle_scores_find_all() {
        let tmp = tempfile::tempdir().unwrap();
        let s = generate(
            &SynthConfig {
                seed: 8,
                train: 0,
                test: 60,
                max_len: 200,
                dim: 8,
                ..SynthConfig::default()
            },
            &tmp.path().join("data"),
        )
        .unwrap();
        let random = tmp.path().join("random");
        write_random_scores(&s.videos, &random, 1).unwrap();
        let both = events_found_in_dir(&s.videos, &random, Modality::Both, 0.05).unwrap();
        assert!(both.total >= 10 && both.found * 4 <= both.total, "{both:?}");
        // Oracle [T, C] class probabilities: p(normal) = 0 inside events, 1 outside.
        let oracle = tmp.path().join("oracle");
        std::fs::create_dir_all(&oracle).unwrap();
        for v in &s.videos {
            let mut p = vec![0f32; v.snippets * 7];
            for t in 0..v.snippets {
                let inside = v.events.iter().any(|e| (e.start..e.end).contains(&t));
                p[t * 7] = if inside { 0.0 } else { 1.0 };
            }
            write_npy_f32(
                &oracle.join(format!("{}.npy", v.name)),
                &[v.snippets, 7],
                &p,
            )
            .unwrap();
        }
        let all = events_found_in_dir(&s.videos, &oracle, Modality::AudioOnly, 0.05).unwrap();
        assert!(all.total > 0 && all.found == all.total, "{all:?}");
        let normal = s.videos.iter().find(|v| v.events.is_empty()).unwrap();
        std::fs::remove_file(random.join(format!("{}.npy", normal.name))).unwrap();
        assert!(events_found_in_dir(&s.videos, &random, Modality::Both, 0.05).is_err());
    }

    #[test]
    fn events_shift_features_along_their_class_direction() {
        let dirs = Directions::new(1, SYNTH_DIM);
        let labels = LabelMap::xd_violence();
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let ev = SynthEvent {
            class: "B2".into(),
            modality: Modality::AudioOnly,
            start: 10,
            end: 20,
        };
        let (visual, audio) = render_video(&mut rng, &dirs, &labels, 30, &[ev], &[]);
        let proj = |x: &[f32], row: usize, dir: &[f32]| -> f32 {
            x[row * SYNTH_DIM..(row + 1) * SYNTH_DIM]
                .iter()
                .zip(dir)
                .map(|(a, b)| a * b)
                .sum()
        };
        let inside: f32 = (10..20)
            .map(|r| proj(&audio, r, &dirs.audio[2]))
            .sum::<f32>()
            / 10.0;
        let outside: f32 = (0..10)
            .map(|r| proj(&audio, r, &dirs.audio[2]))
            .sum::<f32>()
            / 10.0;
        assert!(
            inside - outside > 0.8,
            "audio event not visible: {inside} vs {outside}"
        );
        let v_in: f32 = (10..20)
            .map(|r| proj(&visual, r, &dirs.visual[2]))
            .sum::<f32>()
            / 10.0;
        let v_out: f32 = (0..10)
            .map(|r| proj(&visual, r, &dirs.visual[2]))
            .sum::<f32>()
            / 10.0;
        assert!(
            (v_in - v_out).abs() < 0.8,
            "audio-only event leaked into video: {v_in} vs {v_out}"
        );
    }

    /// FNV-1a over the relative names and bytes of every file under `root` but `videos.json` (which names `root`).
    fn tree_fingerprint(root: &Path) -> (usize, u64) {
        fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
            for e in std::fs::read_dir(dir).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    walk(&p, out);
                } else {
                    out.push(p);
                }
            }
        }
        let mut files = Vec::new();
        walk(root, &mut files);
        let mut rel: Vec<String> = files
            .iter()
            .map(|p| p.strip_prefix(root).unwrap().to_string_lossy().into_owned())
            .collect();
        rel.sort();
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for f in rel.iter().filter(|f| f.as_str() != "videos.json") {
            for b in f.bytes().chain(std::fs::read(root.join(f)).unwrap()) {
                h ^= u64::from(b);
                h = h.wrapping_mul(0x100_0000_01b3);
            }
        }
        (rel.len(), h)
    }

    #[test]
    fn visual_trace_zero_is_the_original_benchmark_bit_for_bit() {
        // Fingerprint of `avad synth --seed 3 --train 6 --test 4 --dim 16 --max-len 40 --crops 2` written by the
        // generator before `visual_trace` existed (release binary of 2026-12-01).
        let cfg = SynthConfig {
            seed: 3,
            train: 6,
            test: 4,
            dim: 16,
            max_len: 40,
            crops: 2,
            ..SynthConfig::default()
        };
        assert_eq!(cfg.visual_trace, 0.0);
        let tmp = tempfile::tempdir().unwrap();
        generate(&cfg, tmp.path()).unwrap();
        assert_eq!(tree_fingerprint(tmp.path()), (31, 0x0f49_363b_bffa_5d21));
        let json = std::fs::read_to_string(tmp.path().join("videos.json")).unwrap();
        assert!(!json.contains("visual_trace"));
    }

    #[test]
    fn visual_trace_marks_audio_only_events_in_the_video_only() {
        let base = SynthConfig {
            seed: 5,
            train: 40,
            test: 0,
            dim: 64,
            max_len: 80,
            ..SynthConfig::default()
        };
        let traced = SynthConfig {
            visual_trace: 0.4,
            ..base.clone()
        };
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let sa = generate(&base, a.path()).unwrap();
        let sb = generate(&traced, b.path()).unwrap();
        let json = std::fs::read_to_string(b.path().join("videos.json")).unwrap();
        assert!(json.contains("\"visual_trace\": 0.4"));
        let labels = LabelMap::xd_violence();
        let trace_dirs = trace_directions(5, 64);
        let read = |root: &Path, f: String| crate::npy::read_npy(&root.join(f)).unwrap().data;
        let (mut with_trace, mut gain) = (0, 0.0f32);
        for (va, vb) in sa.videos.iter().zip(&sb.videos) {
            assert_eq!(va.events.len(), vb.events.len());
            // The audio and the plan never change; the video changes only where an audio-only event is.
            assert_eq!(
                read(a.path(), format!("audio/{}.npy", va.name)),
                read(b.path(), format!("audio/{}.npy", vb.name))
            );
            let (xa, xb) = (
                read(a.path(), format!("visual/{}__0.npy", va.name)),
                read(b.path(), format!("visual/{}__0.npy", vb.name)),
            );
            let audio_only: Vec<&SynthEvent> = va
                .events
                .iter()
                .filter(|e| e.modality == Modality::AudioOnly)
                .collect();
            if audio_only.is_empty() {
                assert_eq!(
                    xa, xb,
                    "{}: video changed without an audio-only event",
                    va.name
                );
                continue;
            }
            with_trace += 1;
            for e in audio_only {
                let c = labels.index_of(&e.class).unwrap();
                // Rows 3 .. end+1 after the start are inside the trace whatever its lag (1–3).
                for row in (e.start + 3).min(va.snippets)..(e.end + 1).min(va.snippets) {
                    let d: f32 = (0..64)
                        .map(|j| (xb[row * 64 + j] - xa[row * 64 + j]) * trace_dirs[c][j])
                        .sum();
                    // 0.4 · a · jitter with a in [2, 4], jitter in [0.7, 1.3] (other traces can only add).
                    assert!(
                        d >= 0.4 * 2.0 * 0.7 - 1e-4,
                        "{}: row {row} trace {d}",
                        va.name
                    );
                    gain = gain.max(d);
                }
            }
        }
        assert!(with_trace > 0 && gain > 0.0);
        assert!(generate(
            &SynthConfig {
                visual_trace: -0.1,
                ..base
            },
            a.path()
        )
        .is_err());
    }
}
