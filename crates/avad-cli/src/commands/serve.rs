//! `avad serve`: the HTTP job service (upload a video, poll, fetch the `avad detect` report) and its tokens.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use avad_infer::ModelBundle;
use avad_pipeline::ScoreOptions;
use avad_serve::{PipelineDetector, Scope, ServeConfig};

use super::extract::{EncoderArgs, SnippetArgs};
use crate::backend::{run_inference, DeviceArgs, InferCommand};

/// Where the state lives, shared by the server and `avad serve token`.
#[derive(clap::Args, Debug, Clone)]
pub struct StateArgs {
    /// The storage folder: uploads, reports, and the SQLite database unless `--database` is given. Every server
    /// and worker sharing a queue must reach the same folder.
    #[arg(long, default_value = "avad-serve")]
    pub storage: PathBuf,
    /// The state database: `sqlite://FILE` or `postgres://USER:PASSWORD@HOST/DB`
    /// (default: `sqlite://<storage>/avad-serve.db`, in WAL mode).
    #[arg(long, value_name = "URL")]
    pub database: Option<String>,
}

impl StateArgs {
    /// The database URL, creating the storage folder when the default SQLite file goes there.
    fn url(&self) -> anyhow::Result<String> {
        if self.database.is_none() {
            std::fs::create_dir_all(&self.storage)
                .with_context(|| format!("creating {}", self.storage.display()))?;
        }
        Ok(avad_serve::database_url(
            &self.storage,
            self.database.as_deref(),
        ))
    }
}

/// Arguments of `avad serve`.
#[derive(clap::Args, Debug)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct Args {
    /// Token management (`avad serve token create|list|revoke`).
    #[command(subcommand)]
    pub command: Option<ServeCommand>,
    /// Storage folder and database.
    #[command(flatten)]
    pub state: StateArgs,
    /// Address of the HTTP API (loopback by default; put a TLS reverse proxy in front before exposing it).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Largest accepted upload in bytes (larger ones get 413 and leave nothing on disk).
    #[arg(long, default_value_t = 2 << 30, value_name = "BYTES")]
    pub max_upload: u64,
    /// Run jobs from the queue only, without the HTTP API (a worker on another machine sharing `--database` and
    /// the storage folder).
    #[arg(long, conflicts_with = "no_worker")]
    pub worker_only: bool,
    /// Serve the HTTP API only, without a worker: `--worker-only` processes (on this or other machines sharing
    /// `--database` and the storage folder) run the jobs. Loads no models, so the model flags are not needed.
    #[arg(long)]
    pub no_worker: bool,
    /// Seconds a job's lease lasts without renewal: a job whose worker died is taken again after it.
    #[arg(long, default_value_t = 60, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..))]
    pub lease: u64,
    /// Claims after which a job whose worker keeps dying is marked failed.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(i64).range(1..))]
    pub max_attempts: i64,
    /// How long a finished job's uploaded video is kept (after the job finished): `90s`, `30m`, `24h`, `7d`, or
    /// `forever`. A retention sweeper removes older ones; the job stays, and its video answers 410.
    #[arg(long, default_value = "7d", value_name = "DURATION", value_parser = parse_keep)]
    pub keep_uploads: Keep,
    /// How long a done job's report is kept (after the job finished), as `--keep-uploads`. Older ones are
    /// removed and the job's status becomes `expired`; its report answers 410.
    #[arg(long, default_value = "30d", value_name = "DURATION", value_parser = parse_keep)]
    pub keep_results: Keep,
    /// How long stored camera event messages (`--watch`, GET /v1/events) are kept after they arrived, as
    /// `--keep-uploads`. Older ones are deleted by the retention sweeper.
    #[arg(long, default_value = "30d", value_name = "DURATION", value_parser = parse_keep)]
    pub keep_events: Keep,
    /// Seconds between retention sweeps.
    #[arg(long, default_value_t = 60, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..))]
    pub sweep_every: u64,
    /// Most bytes of uploaded videos the storage folder may hold (those kept plus those arriving); an upload that
    /// would pass it answers 507 Insufficient Storage and leaves nothing behind (as a full disk does). Default: no
    /// limit but the disk.
    #[arg(long, value_name = "BYTES")]
    pub max_storage: Option<u64>,
    /// Failed token checks allowed per client address per minute before answers are 429.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    pub auth_failures_per_minute: u32,
    /// Checkpoint or model bundle, as `avad detect --model` takes it.
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// The encoders and the frame sampling (as `avad detect` takes them; optional so that `avad serve token` and
    /// `avad serve --no-worker` parse without them).
    #[command(flatten)]
    pub encoders: ServeEncoderArgs,
    /// Anomaly-score threshold for events.
    #[arg(long, default_value_t = 0.5)]
    pub threshold: f32,
    /// Watch the cameras of this `avad watch` configuration (cameras.toml, docs/watch.md) in this process: their
    /// event messages are stored in the database and offered under /v1/cameras, /v1/events and
    /// /v1/events/stream, besides the configuration's own outputs, and the cameras' metrics are added to /metrics
    /// (a `[metrics]` table also serves them on its own address, as `avad watch` does). Its models are its own
    /// (`clip_model`, `wav2clip`, `model` in the file), independent of the job flags. SIGINT / SIGTERM end the
    /// cameras' open events and store their `end` before the process exits.
    #[arg(long, value_name = "FILE", conflicts_with = "worker_only")]
    pub watch: Option<PathBuf>,
    /// Device and float type.
    #[command(flatten)]
    pub device: DeviceArgs,
}

/// A retention time (`None`: forever).
#[derive(Debug, Clone, Copy)]
pub struct Keep(pub Option<Duration>);

fn parse_keep(s: &str) -> Result<Keep, String> {
    avad_serve::retention::parse_duration(s).map(Keep)
}

/// [`EncoderArgs`] with the weights optional (an API-only process, `--no-worker`, loads no models; a flattened
/// `Option<EncoderArgs>` would still require them, since its defaulted flags make it always present).
#[derive(clap::Args, Debug)]
pub struct ServeEncoderArgs {
    /// CLIP weights: a Hugging Face CLIPModel folder or an OpenAI-named safetensors file (needed by a worker).
    #[arg(long)]
    pub clip_model: Option<PathBuf>,
    /// Wav2CLIP weights (`Wav2CLIP.pt` or safetensors with the same keys; needed by a worker).
    #[arg(long)]
    pub wav2clip: Option<PathBuf>,
    /// Frame sampling, batch and engine.
    #[command(flatten)]
    pub snippets: SnippetArgs,
}

impl ServeEncoderArgs {
    /// `avad detect`'s encoder flags, when the weights are given.
    fn encoder_args(&self) -> Option<EncoderArgs> {
        Some(EncoderArgs {
            clip_model: self.clip_model.clone()?,
            wav2clip: self.wav2clip.clone()?,
            snippets: self.snippets.clone(),
        })
    }
}

/// `avad serve token …`.
#[derive(clap::Subcommand, Debug)]
pub enum ServeCommand {
    /// Create, list and revoke API tokens.
    #[command(subcommand)]
    Token(TokenCommand),
}

/// `avad serve token create|list|revoke`.
#[derive(clap::Subcommand, Debug)]
pub enum TokenCommand {
    /// Create a token and print it (once: only its hash is stored).
    Create {
        /// A name to recognise the token by.
        #[arg(long)]
        name: String,
        /// read (jobs and reports), submit (also upload and delete), admin (everything).
        #[arg(long)]
        scope: Scope,
        /// Storage folder and database.
        #[command(flatten)]
        state: StateArgs,
    },
    /// List the tokens (never their secrets).
    List {
        /// Storage folder and database.
        #[command(flatten)]
        state: StateArgs,
    },
    /// Revoke the token with this identifier or name.
    Revoke {
        /// Identifier (from `token list`) or name.
        key: String,
        /// Storage folder and database.
        #[command(flatten)]
        state: StateArgs,
    },
}

/// Runs `avad serve` or one of its token commands.
pub fn run(args: Args) -> anyhow::Result<()> {
    match &args.command {
        Some(ServeCommand::Token(t)) => run_token(t),
        None if args.no_worker && args.watch.is_some() => {
            check_watch(&args)?;
            run_inference(&args.device, &args)
        }
        None if args.no_worker => {
            if args.model.is_some()
                || args.encoders.clip_model.is_some()
                || args.encoders.wav2clip.is_some()
            {
                tracing::info!("--no-worker: the model flags are not used by an API-only process");
            }
            avad_serve::serve(&args.config()?, None)
        }
        None => {
            match args.encoders.encoder_args() {
                Some(e) if args.model.is_some() => e.snippets.check()?,
                _ => anyhow::bail!(
                    "--model, --clip-model and --wav2clip are required to run the server"
                ),
            }
            check_watch(&args)?;
            run_inference(&args.device, &args)
        }
    }
}

/// `--watch`'s configuration, read and checked (errors before anything loads).
fn check_watch(args: &Args) -> anyhow::Result<Option<avad_watch::WatchConfig>> {
    let Some(path) = &args.watch else {
        return Ok(None);
    };
    let cfg = avad_watch::WatchConfig::from_file(path)
        .with_context(|| format!("--watch {}", path.display()))?;
    cfg.check()
        .with_context(|| format!("--watch {}", path.display()))?;
    if let Some(m) = &cfg.metrics {
        if std::env::var(&m.token_env)
            .unwrap_or_default()
            .trim()
            .is_empty()
        {
            anyhow::bail!(
                "--watch {}: [metrics] on {} needs a bearer token in the environment variable {} (or remove the \
                 table: the cameras' metrics are also in this server's /metrics)",
                path.display(),
                m.listen,
                m.token_env
            );
        }
    }
    Ok(Some(cfg))
}

/// The output of `--watch` that hands event messages and scores to the server (stored, streamed).
struct ServeOutput(avad_serve::cameras::CameraHub);

impl avad_watch::Output for ServeOutput {
    fn name(&self) -> String {
        "serve".into()
    }

    fn deliver(&mut self, item: &avad_watch::outputs::Outgoing) -> avad_watch::Result<()> {
        use avad_watch::outputs::Outgoing;
        let to_value = |r: serde_json::Result<serde_json::Value>| {
            r.map_err(|e| avad_watch::WatchError::Output(e.to_string()))
        };
        match item {
            Outgoing::Event(m) => self.0.event(&to_value(serde_json::to_value(m))?),
            Outgoing::Score(s) => self.0.score(&to_value(serde_json::to_value(s))?),
        }
        Ok(())
    }
}

fn run_token(t: &TokenCommand) -> anyhow::Result<()> {
    match t {
        TokenCommand::Create { name, scope, state } => {
            let (row, secret) = avad_serve::token_create(&state.url()?, name, *scope)?;
            eprintln!(
                "created token {} ({}, scope {}); it is shown only now:",
                row.id, row.name, row.scope
            );
            println!("{secret}");
        }
        TokenCommand::List { state } => {
            for r in avad_serve::token_list(&state.url()?)? {
                let status = if r.revoked_ms.is_some() {
                    "revoked"
                } else {
                    "active"
                };
                println!("{}\t{}\t{}\t{status}", r.id, r.scope, r.name);
            }
        }
        TokenCommand::Revoke { key, state } => {
            let n = avad_serve::token_revoke(&state.url()?, key)?;
            if n == 0 {
                anyhow::bail!("no active token with identifier or name `{key}`");
            }
            println!("revoked {n} token(s)");
        }
    }
    Ok(())
}

impl Args {
    /// The server's configuration from the flags.
    fn config(&self) -> anyhow::Result<ServeConfig> {
        Ok(ServeConfig {
            storage: self.state.storage.clone(),
            database: Some(self.state.url()?),
            listen: self.listen,
            max_upload: self.max_upload,
            worker_only: self.worker_only,
            no_worker: self.no_worker,
            lease: Duration::from_secs(self.lease),
            max_attempts: self.max_attempts,
            auth_failures: self.auth_failures_per_minute,
            auth_window: Duration::from_secs(60),
            poll: Duration::from_millis(500),
            retention: avad_serve::retention::Retention {
                keep_uploads: self.keep_uploads.0,
                keep_results: self.keep_results.0,
                keep_events: self.keep_events.0,
                every: Duration::from_secs(self.sweep_every),
            },
            max_storage: self.max_storage,
        })
    }
}

impl InferCommand for Args {
    /// Loads the models once, then serves and runs jobs (and watches the cameras of `--watch`) until stopped.
    fn run_on<B: burn::tensor::backend::Backend>(&self, device: &B::Device) -> anyhow::Result<()> {
        let detector = if self.no_worker {
            None
        } else {
            let model_path = self
                .model
                .as_ref()
                .context("--model is required to run the server")?;
            let bundle = ModelBundle::<B>::load(model_path, device)
                .with_context(|| format!("loading {}", model_path.display()))?;
            let encoders = self
                .encoders
                .encoder_args()
                .context("--clip-model and --wav2clip are required to run the server")?;
            let enc = encoders.load::<B>(device, self.device.device)?;
            Some(PipelineDetector::new(
                enc,
                bundle,
                encoders.snippets.feature_options(1, false),
                ScoreOptions::offline(self.threshold),
            ))
        };
        let detector_ref = detector.as_ref().map(|d| d as &dyn avad_serve::Detector);
        let Some(cfg) = check_watch(self)? else {
            return avad_serve::serve(&self.config()?, detector_ref);
        };
        let serve_cfg = self.config()?;
        let (models, encoders) = super::watch::load_watch_models::<B>(
            &cfg,
            self.encoders.snippets.engine,
            device,
            self.device.device,
        )?;
        let hub = avad_serve::cameras::CameraHub::new(
            cfg.cameras
                .iter()
                .map(|c| (c.name.clone(), c.shown_source())),
        );
        // The cameras' metrics: in this server's /metrics, and on the configuration's own [metrics] address (as
        // `avad watch` serves them) when it has one.
        let metrics = Arc::new(avad_watch::Metrics::new());
        {
            let metrics = Arc::clone(&metrics);
            hub.set_metrics(move || metrics.render());
        }
        let _metrics_server = match &cfg.metrics {
            Some(m) => Some(avad_watch::metrics::serve(m, Arc::clone(&metrics))?),
            None => None,
        };
        let outputs = avad_watch::build_outputs_with(
            &cfg,
            &metrics,
            vec![Box::new(ServeOutput(hub.clone()))],
        )?;
        // The server's SIGINT / SIGTERM handler sets this flag, waits for the watch to end its open events and for
        // their `end` messages to be stored, then exits.
        let stop = hub.stop_flag();
        std::thread::scope(|scope| {
            let watch_hub = hub.clone();
            let (cfg, encoders, models, metrics, stop) =
                (&cfg, &encoders, &models, &metrics, &stop);
            std::thread::Builder::new()
                .name("avad-watch".into())
                .spawn_scoped(scope, move || {
                    match avad_watch::run_watch::<B>(cfg, encoders, models, outputs, metrics, stop)
                    {
                        Ok(_) if stop.load(Ordering::Relaxed) => {
                            tracing::info!("--watch: the cameras stopped")
                        }
                        Ok(_) => tracing::info!("--watch: every camera's source has ended"),
                        Err(e) => tracing::error!("--watch: {e}"),
                    }
                    watch_hub.watch_ended();
                })
                .context("starting the --watch thread")?;
            let served = avad_serve::serve_with_cameras(&serve_cfg, detector_ref, Some(hub));
            stop.store(true, Ordering::Relaxed);
            served
        })
    }
}
