//! `avad demo`: the whole pipeline that exists, on the embedded synthetic benchmark or on given data:
//! synthesise → train the AVadCLIP teacher and the VadCLIP baseline → predict → evaluate → one table.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use avad_core::eval::{evaluate_dir, EvalOptions, EvalReport};
use avad_core::ground_truth::Strictness;
use avad_core::synth::{generate, Modality, SynthConfig, SynthSummary};

use super::{predict, train};

/// Run the whole pipeline and print a metrics table.
///
/// Without `--data`, generates the synthetic audio-visual benchmark (docs/synth.md) into `OUT/synth`, trains the
/// audio-visual AVadCLIP teacher (`synth-teacher` preset) and the visual-only VadCLIP baseline (`synth-vadclip`)
/// with a seeded random-weight CLIP text encoder, scores the test set with both, and prints AP / AUC / PR-AUC /
/// mAP of both branches, plus how many audio-only anomalies each model finds. Rerunning resumes: finished
/// trainings are not repeated. Takes a few minutes on 2 CPU cores.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Data folder with `train.csv`, `test.csv` (`path,audio_path,label`) and `annotations_multiclasses.txt`
    /// (e.g. written by `avad synth` or `avad extract`). Default: generate the synthetic benchmark.
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// Working folder for data, checkpoints and scores (kept, so a rerun resumes).
    #[arg(long, value_name = "DIR", default_value = "avad-demo")]
    pub out: PathBuf,
    /// Seed for the benchmark and the training runs.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Training videos of the synthetic benchmark.
    #[arg(long, default_value_t = 480)]
    pub train: usize,
    /// Test videos of the synthetic benchmark.
    #[arg(long, default_value_t = 100)]
    pub test: usize,
    /// Longest synthetic video, in snippets.
    #[arg(long, default_value_t = 400)]
    pub max_len: usize,
    /// Feature width of the synthetic benchmark (real CLIP / Wav2CLIP features are 512; 128 keeps the demo fast).
    #[arg(long, default_value_t = 128)]
    pub dim: usize,
    /// Model sequence length T (the official 256; the demo uses 64 so that it finishes in minutes on 2 cores).
    #[arg(long, default_value_t = 64)]
    pub visual_length: usize,
    /// Epochs of each training run.
    #[arg(long, default_value_t = 10)]
    pub epochs: usize,
    /// AdamW learning rate of the demo runs (the synth presets' default is 1e-4; short runs need more).
    #[arg(long, default_value_t = 1e-3)]
    pub lr: f64,
}

/// One trained model's evaluation.
struct Row {
    model: &'static str,
    branch: &'static str,
    report: EvalReport,
    audio_only_found: Option<(usize, usize)>,
}

/// Runs `avad demo`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let started = Instant::now();
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let (data, synth) = match &args.data {
        Some(d) => (d.clone(), None),
        None => {
            let dir = args.out.join("synth");
            let cfg = SynthConfig {
                seed: args.seed,
                train: args.train,
                test: args.test,
                max_len: args.max_len,
                dim: args.dim,
                ..SynthConfig::default()
            };
            eprintln!(
                "[1/5] synthetic benchmark: {} train + {} test videos → {}",
                cfg.train,
                cfg.test,
                dir.display()
            );
            let s = generate(&cfg, &dir)?;
            (dir, Some(s))
        }
    };
    let train_list = data.join("train.csv");
    let test_list = data.join("test.csv");
    let annotations = data.join("annotations_multiclasses.txt");
    for f in [&train_list, &test_list, &annotations] {
        anyhow::ensure!(
            f.is_file(),
            "{} is missing (see `avad demo --help`)",
            f.display()
        );
    }

    // The demo's recipe on top of the synth presets: shorter sequences and a schedule for a short run.
    let recipe = args.out.join("demo-recipe.toml");
    let milestone = (args.epochs * 4).div_ceil(5);
    avad_core::npy::write_atomic(
        &recipe,
        format!(
            "# written by `avad demo`: overrides of the synth-* presets\nlr = {}\nmilestones = [{milestone}]\n\n[model]\nvisual_length = {}\n",
            args.lr, args.visual_length
        )
        .as_bytes(),
    )?;
    let mut rows = Vec::new();
    for (step, (name, preset)) in [
        ("AVadCLIP teacher (audio+visual)", "synth-teacher"),
        ("VadCLIP baseline (visual)", "synth-vadclip"),
    ]
    .into_iter()
    .enumerate()
    {
        let run_dir = args.out.join(preset);
        eprintln!(
            "[{}/4] training {name} (preset {preset}) → {}",
            step + 2,
            run_dir.display()
        );
        train::run(train::Args {
            train_list: train_list.clone(),
            test_list: None,
            features_dir: None,
            annotations: None,
            preset: preset.into(),
            config: Some(recipe.clone()),
            out: run_dir.clone(),
            epochs: Some(args.epochs),
            seed: Some(args.seed),
            batch_size: None,
            lr: None,
            val_fraction: None,
            save_every: None,
            resume: false,
            fresh: false,
            select_on_test: false,
            select_last: false,
            reload_best: false,
            clip_model: None,
            print_config: false,
            no_progress: false,
            stop_after_steps: None,
        })?;
        let scores = run_dir.join("test-scores");
        predict::run(predict::Args {
            model: run_dir.join("model.json"),
            list: test_list.clone(),
            features_dir: None,
            out: scores.clone(),
            c_branch: true,
        })?;
        let opts = EvalOptions {
            strictness: Strictness::Lenient,
            ..EvalOptions::default()
        };
        let a_branch = evaluate_dir(&scores, &test_list, &annotations, None, &opts)?;
        let c_branch = evaluate_dir(
            &scores.join("c_branch"),
            &test_list,
            &annotations,
            None,
            &opts,
        )?;
        let model = if preset == "synth-teacher" {
            "AVadCLIP"
        } else {
            "VadCLIP"
        };
        rows.push(Row {
            model,
            branch: "A (align)",
            audio_only_found: synth
                .as_ref()
                .map(|s| audio_only_found(s, &scores, true))
                .transpose()?,
            report: a_branch,
        });
        rows.push(Row {
            model,
            branch: "C (class)",
            audio_only_found: synth
                .as_ref()
                .map(|s| audio_only_found(s, &scores.join("c_branch"), false))
                .transpose()?,
            report: c_branch,
        });
    }
    eprintln!("[4/5] evaluation on {}", test_list.display());
    println!("{}", render(&rows));
    detect_real_clip(&args.out)?;
    println!(
        "(synthetic benchmark, random-weight CLIP text encoder: these numbers show that the pipeline runs end to end, \
         not XD-Violence results; docs/results.md says what they do and do not show)  total {:.0} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The project's test data (a real clip and a tiny random-weight CLIP), found beside the crate at build time.
fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures")
}

/// Step 5: `avad detect` on a real clip (a phone video of a fire, with sound) with small RANDOM-weight models —
/// the tiny CLIP of the test fixtures, Wav2CLIP-shaped formula weights and a random AVadCLIP teacher of CLIP's
/// width — writing the HTML timeline. It shows the decode → encode → score → report path on real media; the scores
/// mean nothing until real weights are given (`avad detect --help`).
fn detect_real_clip(out: &Path) -> anyhow::Result<()> {
    let fixtures = fixtures_dir();
    let video = fixtures.join("media/moviepy_fire2.mp4");
    let clip = fixtures.join("clip/tiny_hf");
    if !video.is_file() || !clip.is_dir() {
        eprintln!("[5/5] skipped detect: the project's fixtures/ folder is not next to this binary's sources");
        return Ok(());
    }
    let dir = out.join("detect");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let device = crate::backend::cpu_device();
    let wav2clip = dir.join("wav2clip-random.safetensors");
    if !wav2clip.is_file() {
        avad_pipeline::testing::write_wav2clip_formula(&wav2clip)?;
    }
    let enc = avad_pipeline::features::Encoders::<crate::backend::InferBackend>::load(
        &clip, &wav2clip, &device,
    )?;
    let model = avad_pipeline::testing::write_tiny_checkpoint::<crate::backend::InferBackend>(
        &dir.join("model-random"),
        enc.visual_width(),
        true,
        7,
        &device,
    )?;
    let predictor =
        avad_train::Predictor::<crate::backend::InferBackend>::from_checkpoint(&model, &device)?;
    let opts = avad_pipeline::features::FeatureOptions {
        thumbnails: true,
        ..avad_pipeline::features::FeatureOptions::default()
    };
    eprintln!(
        "[5/5] detect on a real clip with random-weight models: {}",
        video.display()
    );
    let report = avad_pipeline::detect::detect_video(&enc, &predictor, &video, &opts, 0.5)?;
    let html = dir.join("moviepy_fire2.html");
    avad_core::npy::write_atomic(&html, avad_pipeline::html::render_html(&report).as_bytes())?;
    println!(
        "detect (random weights): {} → {} snippets, audio {}, {} events; timeline: {}",
        video.file_name().unwrap_or_default().to_string_lossy(),
        report.snippets.len(),
        report.audio,
        report.events.len(),
        html.display()
    );
    Ok(())
}

/// Of the test set's audio-only events, how many a model detects at a 5 % false-alarm rate: an event counts as
/// found when its mean anomaly score is above the 95th percentile of the snippet scores of the normal test videos.
fn audio_only_found(
    s: &SynthSummary,
    scores: &Path,
    class_probs: bool,
) -> anyhow::Result<(usize, usize)> {
    let anomaly_scores = |name: &str| -> anyhow::Result<Vec<f32>> {
        let arr = avad_core::npy::read_npy(&scores.join(format!("{name}.npy")))?;
        Ok((0..arr.rows())
            .map(|i| {
                if class_probs {
                    1.0 - arr.row(i)[0]
                } else {
                    arr.data[i]
                }
            })
            .collect())
    };
    let test: Vec<_> = s.videos.iter().filter(|v| v.split == "test").collect();
    let mut normal = Vec::new();
    for v in test.iter().filter(|v| v.events.is_empty()) {
        normal.extend(anomaly_scores(&v.name)?);
    }
    anyhow::ensure!(!normal.is_empty(), "the test set has no normal video");
    normal.sort_by(f32::total_cmp);
    let threshold = normal[(normal.len() * 95 / 100).min(normal.len() - 1)];
    let (mut found, mut total) = (0, 0);
    for v in test {
        let events: Vec<_> = v
            .events
            .iter()
            .filter(|e| e.modality == Modality::AudioOnly)
            .collect();
        if events.is_empty() {
            continue;
        }
        let a = anomaly_scores(&v.name)?;
        for e in events {
            total += 1;
            let mean = a[e.start..e.end].iter().sum::<f32>() / (e.end - e.start) as f32;
            if mean > threshold {
                found += 1;
            }
        }
    }
    Ok((found, total))
}

fn render(rows: &[Row]) -> String {
    let mut s = String::from(
        "\nmodel     branch      AP      AUC     PR-AUC  mAP@0.1  mAP AVG  audio-only events found at 5% false alarms\n",
    );
    for r in rows {
        let m = &r.report;
        let map01 = m.map.as_ref().and_then(|x| x.get("0.1").copied());
        let pct = |v: Option<f64>| {
            v.map(|v| format!("{:6.2}%", 100.0 * v))
                .unwrap_or_else(|| "     - ".into())
        };
        let found = r
            .audio_only_found
            .map(|(f, t)| format!("{f}/{t}"))
            .unwrap_or_else(|| "-".into());
        s.push_str(&format!(
            "{:<9} {:<10} {} {} {} {}  {}  {}\n",
            r.model,
            r.branch,
            pct(Some(m.ap)),
            pct(Some(m.auc)),
            pct(Some(m.pr_auc)),
            pct(map01),
            pct(m.map_avg),
            found
        ));
    }
    s
}
