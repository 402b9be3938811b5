//! `avad demo`: the whole pipeline that exists, on the embedded synthetic benchmark or on given data:
//! synthesise → train the AVadCLIP teacher and the VadCLIP baseline → predict → evaluate → one table.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use avad_core::eval::{evaluate_dir, EvalOptions, EvalReport};
use avad_core::ground_truth::Strictness;
use avad_core::synth::{
    events_found_in_dir, generate, write_random_scores, EventsFound, Modality, SynthConfig,
};
use serde::Serialize;

use super::{predict, train};

/// Run the whole pipeline and print a metrics table.
///
/// Without `--data`, generates the synthetic audio-visual benchmark (docs/synth.md) into `OUT/synth`, trains the
/// audio-visual AVadCLIP teacher (`synth-teacher` preset) and the visual-only VadCLIP baseline (`synth-vadclip`)
/// with a seeded random-weight CLIP text encoder and the same recipe, scores the test set with both and with a
/// seeded random scorer, and prints AP / AUC / PR-AUC / mAP of both branches, plus how many audio-only anomalies
/// each finds at 5 % false alarms (also written to `OUT/summary.json`). Rerunning resumes: finished trainings are
/// not repeated. Takes about 3 minutes on 2 CPU cores.
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
    /// Training videos of the synthetic benchmark (with 480 the teacher's audio path lost to memorisation on some
    /// seeds, see docs/results.md).
    #[arg(long, default_value_t = 960)]
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
    /// Epochs of each training run (the teacher learns its audio path after the visual one, so it needs more
    /// optimiser steps than the visual-only baseline; see docs/results.md).
    #[arg(long, default_value_t = 12)]
    pub epochs: usize,
    /// Rows per optimiser step of the demo runs (the synth presets' default is 16; smaller batches give the short
    /// run more steps).
    #[arg(long, default_value_t = 8)]
    pub batch_size: usize,
    /// AdamW learning rate of the demo runs (the synth presets' default is 1e-4; short runs need more, but at 1e-3
    /// the first Adam step can saturate the C-branch sigmoid for good on some seeds, see docs/results.md).
    #[arg(long, default_value_t = 5e-4)]
    pub lr: f64,
    /// No model selection: each run's last epoch is its final model (by default the best epoch on a 10 %
    /// validation split of the training list, which is noisy on small benchmarks).
    #[arg(long)]
    pub select_last: bool,
    /// Skip the last step (`avad detect` on a real clip with random-weight models).
    #[arg(long)]
    pub no_detect: bool,
}

/// One scorer's evaluation (a line of the table and of `OUT/summary.json`).
#[derive(Serialize)]
struct ScorerRow {
    model: &'static str,
    branch: &'static str,
    report: EvalReport,
    /// Audio-only events found at 5 % false alarms (synthetic benchmark only).
    audio_only_found: Option<EventsFound>,
}

/// False-alarm rate at which the demo counts found audio-only events.
const FALSE_ALARM_RATE: f64 = 0.05;

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
    avad_core::files::write_atomic(
        &recipe,
        format!(
            "# written by `avad demo`: overrides of the synth-* presets\nlr = {}\nbatch_size = {}\nmilestones = [{milestone}]\n\n[model]\nvisual_length = {}\n",
            args.lr, args.batch_size, args.visual_length
        )
        .as_bytes(),
    )?;
    let opts = EvalOptions {
        strictness: Strictness::Lenient,
        ..EvalOptions::default()
    };
    let found = |scores: &Path| -> anyhow::Result<Option<EventsFound>> {
        Ok(match &synth {
            Some(s) => Some(events_found_in_dir(
                &s.videos,
                scores,
                Modality::AudioOnly,
                FALSE_ALARM_RATE,
            )?),
            None => None,
        })
    };
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
        let mut run = train::Args::new(train_list.clone(), preset, run_dir.clone());
        run.flags.config = Some(recipe.clone());
        run.flags.epochs = Some(args.epochs);
        run.flags.seed = Some(args.seed);
        run.flags.select_last = args.select_last;
        train::run(run)?;
        let scores = run_dir.join("test-scores");
        let mut scoring = predict::Args::new(
            run_dir.join("model.json"),
            test_list.clone(),
            scores.clone(),
        );
        scoring.c_branch = true;
        predict::run(scoring)?;
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
        rows.push(ScorerRow {
            model,
            branch: "A (align)",
            audio_only_found: found(&scores)?,
            report: a_branch,
        });
        rows.push(ScorerRow {
            model,
            branch: "C (class)",
            audio_only_found: found(&scores.join("c_branch"))?,
            report: c_branch,
        });
    }
    eprintln!("[4/5] evaluation on {}", test_list.display());
    if let Some(s) = &synth {
        // The chance reference: a seeded random scorer through the same evaluation.
        let random = args.out.join("random-scores");
        write_random_scores(&s.videos, &random, args.seed)?;
        rows.push(ScorerRow {
            model: "random",
            branch: "-",
            report: evaluate_dir(&random, &test_list, &annotations, None, &opts)?,
            audio_only_found: found(&random)?,
        });
    }
    let summary = args.out.join("summary.json");
    avad_core::files::write_atomic(
        &summary,
        &serde_json::to_vec_pretty(&rows).context("serialising the summary")?,
    )?;
    println!("{}", render(&rows));
    eprintln!("metrics written to {}", summary.display());
    if args.no_detect {
        eprintln!("[5/5] detect skipped (--no-detect)");
    } else {
        detect_real_clip(&args.out)?;
    }
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
        avad_wav2clip::testing::save_formula_weights::<crate::backend::CpuBackend>(
            &wav2clip, &device,
        )?;
    }
    let enc = avad_pipeline::features::Encoders::<crate::backend::CpuBackend>::load(
        &clip,
        &wav2clip,
        &device,
        avad_pipeline::EncoderEngine::FastCpu,
    )?;
    let model = avad_train::testing::write_tiny_checkpoint::<crate::backend::CpuBackend>(
        &dir.join("model-random"),
        enc.visual_width(),
        Some(avad_wav2clip::EMBED_DIM),
        7,
        &device,
    )?;
    let predictor =
        avad_infer::Predictor::<crate::backend::CpuBackend>::from_checkpoint(&model, &device)?;
    let opts = avad_pipeline::features::FeatureOptions {
        thumbnails: true,
        ..avad_pipeline::features::FeatureOptions::default()
    };
    eprintln!(
        "[5/5] detect on a real clip with random-weight models: {}",
        video.display()
    );
    let report = avad_pipeline::detect::detect_video(
        &enc,
        &predictor,
        &video,
        &opts,
        &avad_pipeline::ScoreOptions::offline(0.5),
    )?;
    let html = dir.join("moviepy_fire2.html");
    avad_core::files::write_atomic(&html, avad_pipeline::html::render_html(&report).as_bytes())?;
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

fn render(rows: &[ScorerRow]) -> String {
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
            .map(|f| format!("{}/{}", f.found, f.total))
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
