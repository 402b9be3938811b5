//! `avad`: audio-visual video anomaly detection (AVadCLIP) from the command line.
//!
//! This binary only parses arguments and wires the library crates together; every computation
//! lives in `avad-core`, `avad-clip`, `avad-wav2clip`, `avad-model`, `avad-infer`, `avad-train` and
//! `avad-pipeline` and `avad-watch`.

mod backend;
mod commands;

use clap::{Parser, Subcommand};

/// Detect anomalous events (fights, shootings, explosions, riots, abuse, car accidents) in videos
/// from what is seen and heard. Implements AVadCLIP and the VadCLIP baseline.
#[derive(Parser)]
#[command(name = "avad", version, about, long_about = None, propagate_version = true)]
struct Cli {
    /// Log more (-v: debug, -vv: trace). Logs go to stderr; results go to stdout.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the whole pipeline on the embedded synthetic benchmark (or given data) and print metrics.
    Demo(commands::demo::Args),
    /// Generate the synthetic audio-visual benchmark (features, lists, annotations).
    Synth(commands::synth::Args),
    /// Score per-snippet predictions against XD-Violence-style annotations (AP, AUC, PR-AUC, mAP@IoU).
    Eval(commands::eval::Args),
    /// Run the CLIP image/text encoders on images and strings and print embeddings as JSON.
    Clip(commands::clip::Args),
    /// Run the Wav2CLIP audio encoder on a WAV file and print embeddings as JSON.
    Wav2clip(commands::wav2clip::Args),
    /// Train a VadCLIP / AVadCLIP model from list CSVs and features (presets, checkpoints, resume).
    Train(commands::train::Args),
    /// Distil a visual-only (or audio-only) student from a frozen teacher with UKD; writes a model bundle.
    Distill(commands::distill::Args),
    /// Score the videos of a list with a checkpoint or a model bundle (teacher + students, chosen per video by
    /// whether audio is present); writes <video>.npy [T, C] class probabilities and scored_by.csv.
    Predict(commands::predict::Args),
    /// Convert an official VadCLIP / AVadCLIP-teacher PyTorch checkpoint into an avad checkpoint.
    Import(commands::import::Args),
    /// Extract CLIP visual and Wav2CLIP audio features (and AVadCLIP list CSVs) from video files.
    Extract(commands::extract::Args),
    /// Detect anomalous events in one video: per-snippet scores, classes, events (JSON, CSV, HTML report).
    Detect(commands::detect::Args),
    /// Score camera streams live (RTSP, HTTP, V4L2, files) and send events to JSON lines, MQTT and webhooks.
    Watch(commands::watch::Args),
    /// Serve `avad detect` over HTTP: upload videos as jobs, poll them, fetch reports (tokens, crash-safe queue).
    Serve(commands::serve::Args),
    /// Join the list CSVs of several `avad extract --shard` runs.
    MergeLists(commands::merge_lists::Args),
    /// Time training steps, prediction and the CLIP image encoder (to compare with the official PyTorch code).
    Bench(commands::bench::Args),
}

/// glibc gives new threads their own malloc arenas (up to 8 per core) and keeps their 64 MB heaps: `avad watch`,
/// whose reconnects and looped files start new decoding threads, grew from 289 to 386 MB over a 30-minute soak
/// that way, and stayed flat (222 → 226 MB) with two arenas (docs/benchmarks.md, "avad watch soak").
/// `MALLOC_ARENA_MAX` in the environment still takes precedence.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn limit_malloc_arenas() {
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: mallopt only sets an allocator parameter; it runs first thing in main, before other threads.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 2);
        }
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn limit_malloc_arenas() {}

fn main() {
    limit_malloc_arenas();
    let cli = Cli::parse();
    init_logging(cli.verbose);
    let result = match cli.command {
        Command::Demo(args) => commands::demo::run(args),
        Command::Synth(args) => commands::synth::run(args),
        Command::Eval(args) => commands::eval::run(args),
        Command::Clip(args) => commands::clip::run(args),
        Command::Wav2clip(args) => commands::wav2clip::run(args),
        Command::Train(args) => commands::train::run(args),
        Command::Distill(args) => commands::distill::run(args),
        Command::Predict(args) => commands::predict::run(args),
        Command::Import(args) => commands::import::run(args),
        Command::Extract(args) => commands::extract::run(args),
        Command::Detect(args) => commands::detect::run(args),
        Command::Watch(args) => commands::watch::run(args),
        Command::Serve(args) => commands::serve::run(args),
        Command::MergeLists(args) => commands::merge_lists::run(args),
        Command::Bench(args) => commands::bench::run(args),
    };
    if let Err(err) = result {
        eprintln!("error: {err:#}");
        std::process::exit(1);
    }
}

/// Send `tracing` logs to stderr; `RUST_LOG` overrides the `-v` level.
fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "info",
        1 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
}
