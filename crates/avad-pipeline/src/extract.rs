//! `avad extract` as a library: list and shard the videos, extract each one (resumably, atomically), write the
//! AVadCLIP list CSVs, and join lists of several shards.
//!
//! Output layout under `OUT`:
//! - `visual/<video>__<crop>.npy` [T, D] CLIP image features, one per crop;
//! - `audio/<video>.npy` [T, 512] Wav2CLIP features (absent for videos without audio);
//! - `done/<video>.json` the per-video done-marker ([`DoneMarker`]), written last;
//! - `list.csv` (`path,audio_path,label`) for videos with audio, `list_visual_only.csv` (`path,label`) for the rest.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use avad_media::AudioState;
use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{PipelineError, Result};
use crate::features::{extract_video, Encoders, ExtractedVideo, FeatureOptions};

/// File extensions taken from a `--videos DIR`.
pub const VIDEO_EXTENSIONS: &[&str] = &[
    "mp4", "m4v", "mkv", "webm", "avi", "mov", "mpg", "mpeg", "ts", "flv", "wmv", "3gp",
];
/// Label written into the lists: `A` (normal) — extracted videos have no known label; edit the lists to train.
pub const UNKNOWN_LABEL: &str = "A";

/// A shard `index` of `count` (`--shard I/N`): video `i` of the sorted list belongs to it when `i % N == I`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// I.
    pub index: usize,
    /// N.
    pub count: usize,
}

impl std::str::FromStr for Shard {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let (i, n) = s
            .split_once('/')
            .ok_or_else(|| format!("shard `{s}` is not I/N"))?;
        let index: usize = i
            .trim()
            .parse()
            .map_err(|_| format!("bad shard index `{i}`"))?;
        let count: usize = n
            .trim()
            .parse()
            .map_err(|_| format!("bad shard count `{n}`"))?;
        if count == 0 || index >= count {
            return Err(format!("shard {index}/{count}: need 0 <= I < N"));
        }
        Ok(Shard { index, count })
    }
}

/// The videos of `--videos`: every file with a [`VIDEO_EXTENSIONS`] extension in a folder (not recursive), or the
/// lines of a text list (relative paths resolved against the list's folder; blank lines and `#` comments skipped).
/// Returned sorted by path.
pub fn list_videos(videos: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    if videos.is_dir() {
        let rd = std::fs::read_dir(videos).map_err(|e| PipelineError::io(videos, e))?;
        for entry in rd {
            let p = entry.map_err(|e| PipelineError::io(videos, e))?.path();
            let ext = p
                .extension()
                .map(|e| e.to_string_lossy().to_ascii_lowercase())
                .unwrap_or_default();
            if p.is_file() && VIDEO_EXTENSIONS.contains(&ext.as_str()) {
                out.push(p);
            }
        }
    } else {
        let text = std::fs::read_to_string(videos).map_err(|e| PipelineError::io(videos, e))?;
        let dir = videos.parent().unwrap_or(Path::new("."));
        for line in text.lines().map(str::trim) {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let p = Path::new(line);
            out.push(if p.is_absolute() {
                p.to_path_buf()
            } else {
                dir.join(p)
            });
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// The videos of one shard of the sorted list.
pub fn shard_videos(videos: &[PathBuf], shard: Option<Shard>) -> Vec<PathBuf> {
    match shard {
        None => videos.to_vec(),
        Some(s) => videos
            .iter()
            .enumerate()
            .filter(|(i, _)| i % s.count == s.index)
            .map(|(_, p)| p.clone())
            .collect(),
    }
}

/// The name a video's files get: its file stem.
pub fn video_name(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "video".into())
}

/// The per-video done-marker `done/<video>.json`, written after all feature files.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DoneMarker {
    /// Video name.
    pub video: String,
    /// Source file as given.
    pub source: String,
    /// Snippets T.
    pub t: usize,
    /// CLIP feature width D.
    pub width: usize,
    /// Crops written (`__0` .. `__{crops-1}`).
    pub crops: usize,
    /// Frame stride used.
    pub stride: usize,
    /// `max_snippets` used.
    pub max_snippets: Option<usize>,
    /// `present`, `silent` or `none` (no audio file then).
    pub audio: String,
    /// Seconds spent on this video.
    pub seconds: f64,
}

/// Paths of one video's outputs.
#[derive(Debug, Clone)]
pub struct VideoPaths {
    /// `visual/<video>__<c>.npy` for each crop.
    pub visual: Vec<PathBuf>,
    /// `audio/<video>.npy`.
    pub audio: PathBuf,
    /// `done/<video>.json`.
    pub marker: PathBuf,
}

/// The output paths of `video` under `out` with `crops` crops.
pub fn video_paths(out: &Path, video: &str, crops: usize) -> VideoPaths {
    VideoPaths {
        visual: (0..crops)
            .map(|c| out.join("visual").join(format!("{video}__{c}.npy")))
            .collect(),
        audio: out.join("audio").join(format!("{video}.npy")),
        marker: out.join("done").join(format!("{video}.json")),
    }
}

/// Reads the done-marker of `video` and checks its files: every one parses as [T, D] (audio [T, 512]) and the
/// settings match. `None` when the video must be (re)done.
pub fn verify_done(out: &Path, video: &str, opts: &FeatureOptions) -> Option<DoneMarker> {
    let p = video_paths(out, video, opts.crops);
    let text = std::fs::read_to_string(&p.marker).ok()?;
    let m: DoneMarker = serde_json::from_str(&text).ok()?;
    if m.crops != opts.crops || m.stride != opts.stride || m.max_snippets != opts.max_snippets {
        return None;
    }
    let ok = |path: &Path, cols: usize| {
        avad_core::npy::read_npy(path)
            .map(|a| a.shape == [m.t, cols])
            .unwrap_or(false)
    };
    if !p.visual.iter().all(|v| ok(v, m.width)) {
        return None;
    }
    if m.audio != "none" && !ok(&p.audio, avad_wav2clip::EMBED_DIM) {
        return None;
    }
    Some(m)
}

/// Writes one video's features and then its marker (each file atomically).
pub fn write_video(
    out: &Path,
    video: &str,
    source: &Path,
    f: &ExtractedVideo,
    opts: &FeatureOptions,
    seconds: f64,
) -> Result<DoneMarker> {
    let p = video_paths(out, video, opts.crops);
    for dir in ["visual", "audio", "done"] {
        std::fs::create_dir_all(out.join(dir)).map_err(|e| PipelineError::io(out.join(dir), e))?;
    }
    for (c, path) in p.visual.iter().enumerate() {
        avad_core::npy::write_npy_f32(path, &[f.t, f.width], &f.visual[c])?;
    }
    if let Some(a) = &f.audio {
        avad_core::npy::write_npy_f32(&p.audio, &[f.t, avad_wav2clip::EMBED_DIM], a)?;
    } else if p.audio.exists() {
        std::fs::remove_file(&p.audio).map_err(|e| PipelineError::io(&p.audio, e))?;
    }
    let m = DoneMarker {
        video: video.to_string(),
        source: source.display().to_string(),
        t: f.t,
        width: f.width,
        crops: opts.crops,
        stride: opts.stride,
        max_snippets: opts.max_snippets,
        audio: audio_state_str(f.audio_state, f.audio.is_some()).to_string(),
        seconds,
    };
    let json = serde_json::to_vec_pretty(&m)
        .map_err(|e| PipelineError::Invalid(format!("{video}: marker JSON: {e}")))?;
    avad_core::files::write_atomic(&p.marker, &json)?;
    Ok(m)
}

/// A video's audio as its done-marker spells it: `none` when no audio file was written, else `silent` or
/// `present` by the file's audio state.
pub fn audio_state_str(s: AudioState, has_file: bool) -> &'static str {
    match (s, has_file) {
        (_, false) => "none",
        (AudioState::Silent, true) => "silent",
        _ => "present",
    }
}

/// What happened to the videos of one run.
#[derive(Debug, Clone, Default)]
pub struct ExtractSummary {
    /// Videos extracted in this run.
    pub processed: Vec<String>,
    /// Videos skipped because a verified earlier result exists.
    pub skipped: Vec<String>,
    /// Videos that failed, with the error.
    pub failed: Vec<(PathBuf, String)>,
    /// Snippets extracted in this run.
    pub snippets: usize,
    /// `OUT/list.csv` (videos with audio), if any row.
    pub list: Option<PathBuf>,
    /// `OUT/list_visual_only.csv` (videos without audio), if any row.
    pub visual_only_list: Option<PathBuf>,
}

/// Progress events of [`run_extract`], for a progress bar.
#[derive(Debug, Clone)]
pub enum ExtractEvent<'a> {
    /// A video starts.
    Start {
        /// The video.
        video: &'a str,
    },
    /// Snippets encoded so far in the current video.
    Snippets {
        /// Count in this video.
        done: usize,
    },
    /// A video was skipped, extracted or failed.
    Finished {
        /// The video.
        video: &'a str,
        /// `skipped`, `done` or `failed`.
        outcome: &'static str,
    },
}

/// Age after which a leftover temporary file in the output folder counts as abandoned.
const STALE_TEMP_AGE: std::time::Duration = std::time::Duration::from_secs(60);

/// Extracts every video in `videos` into `out`, skipping verified finished ones; a failing video is recorded and
/// the run goes on. Writes the lists of all finished videos of `videos` at the end.
pub fn run_extract<B: Backend>(
    enc: &Encoders<B>,
    videos: &[PathBuf],
    out: &Path,
    opts: &FeatureOptions,
    observer: &mut dyn FnMut(ExtractEvent<'_>),
) -> Result<ExtractSummary> {
    std::fs::create_dir_all(out).map_err(|e| PipelineError::io(out, e))?;
    // A run killed mid-write leaves `.<file>.<pid>.tmp` behind; clear those older than a minute (younger ones may
    // be another shard's writes in progress on a shared folder).
    let stale: usize = ["", "visual", "audio", "done"]
        .iter()
        .map(|d| avad_core::files::remove_stale_temps(&out.join(d), STALE_TEMP_AGE))
        .sum();
    if stale > 0 {
        tracing::info!("removed {stale} temporary files left by an interrupted run");
    }
    let mut summary = ExtractSummary::default();
    let mut markers: BTreeMap<String, DoneMarker> = BTreeMap::new();
    let mut seen: BTreeSet<String> = BTreeSet::new();
    for path in videos {
        let video = video_name(path);
        observer(ExtractEvent::Start { video: &video });
        if !seen.insert(video.clone()) {
            summary.failed.push((
                path.clone(),
                format!("another input video is also named `{video}`"),
            ));
            observer(ExtractEvent::Finished {
                video: &video,
                outcome: "failed",
            });
            continue;
        }
        let result = extract_into(enc, path, out, opts, &mut |done| {
            observer(ExtractEvent::Snippets { done })
        });
        match result {
            Ok(VideoOutcome::Skipped(m)) => {
                markers.insert(video.clone(), m);
                summary.skipped.push(video.clone());
                observer(ExtractEvent::Finished {
                    video: &video,
                    outcome: "skipped",
                });
            }
            Ok(VideoOutcome::Done(m)) => {
                summary.snippets += m.t;
                summary.processed.push(video.clone());
                markers.insert(video.clone(), m);
                observer(ExtractEvent::Finished {
                    video: &video,
                    outcome: "done",
                });
            }
            Err(e) => {
                tracing::warn!("{}: {e}", path.display());
                summary.failed.push((path.clone(), e.to_string()));
                observer(ExtractEvent::Finished {
                    video: &video,
                    outcome: "failed",
                });
            }
        }
    }
    let (list, vo) = write_lists(out, markers.values())?;
    summary.list = list;
    summary.visual_only_list = vo;
    Ok(summary)
}

/// What [`extract_into`] did with one video.
#[derive(Debug, Clone, PartialEq)]
pub enum VideoOutcome {
    /// A verified earlier result exists ([`verify_done`]); nothing was written.
    Skipped(DoneMarker),
    /// Extracted now: its feature files and then its marker were written.
    Done(DoneMarker),
}

impl VideoOutcome {
    /// `skipped` or `done` (the outcome names of [`ExtractEvent::Finished`]).
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Skipped(_) => "skipped",
            Self::Done(_) => "done",
        }
    }

    /// The video's done-marker.
    pub fn marker(&self) -> &DoneMarker {
        match self {
            Self::Skipped(m) | Self::Done(m) => m,
        }
    }
}

/// One video of [`run_extract`]: skipped when [`verify_done`] accepts its earlier result in `out`, else extracted
/// ([`extract_video`], `on_snippet` gets the snippets encoded so far) and written ([`write_video`]: feature files,
/// then the marker, each atomically). The files are named after the video's file stem ([`video_name`]). Lists are
/// not written (see [`write_lists_for`]). Used by `avad extract` and by the Python package's workers.
pub fn extract_into<B: Backend>(
    enc: &Encoders<B>,
    path: &Path,
    out: &Path,
    opts: &FeatureOptions,
    on_snippet: &mut dyn FnMut(usize),
) -> Result<VideoOutcome> {
    let video = video_name(path);
    if let Some(m) = verify_done(out, &video, opts) {
        tracing::debug!("{video}: already done (T = {}), skipped", m.t);
        return Ok(VideoOutcome::Skipped(m));
    }
    let t0 = std::time::Instant::now();
    let f = extract_video(enc, path, opts, on_snippet)?;
    let m = write_video(out, &video, path, &f, opts, t0.elapsed().as_secs_f64())?;
    Ok(VideoOutcome::Done(m))
}

/// Writes `out`'s lists (as [`run_extract`] does at its end) from the verified done-markers ([`verify_done`]) of
/// `videos`; videos without a valid marker are left out and returned by name. For runs whose videos were
/// extracted by many workers ([`extract_into`]), once all of them have finished.
pub fn write_lists_for(
    out: &Path,
    videos: &[PathBuf],
    opts: &FeatureOptions,
) -> Result<(Option<PathBuf>, Option<PathBuf>, Vec<String>)> {
    let mut markers: BTreeMap<String, DoneMarker> = BTreeMap::new();
    let mut missing = Vec::new();
    for path in videos {
        let video = video_name(path);
        if markers.contains_key(&video) {
            continue;
        }
        match verify_done(out, &video, opts) {
            Some(m) => {
                markers.insert(video, m);
            }
            None => missing.push(video),
        }
    }
    let (list, vo) = write_lists(out, markers.values())?;
    Ok((list, vo, missing))
}

fn abs(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// Writes `list.csv` (`path,audio_path,label`, videos with audio) and `list_visual_only.csv` (`path,label`)
/// with absolute paths, one row per (video, crop), sorted by video then crop. Returns the files written.
pub fn write_lists<'a>(
    out: &Path,
    markers: impl Iterator<Item = &'a DoneMarker>,
) -> Result<(Option<PathBuf>, Option<PathBuf>)> {
    let mut av = String::from("path,audio_path,label\n");
    let mut vo = String::from("path,label\n");
    let (mut n_av, mut n_vo) = (0, 0);
    for m in markers {
        let p = video_paths(out, &m.video, m.crops);
        for v in &p.visual {
            let v = csv_field(&abs(v).display().to_string());
            if m.audio == "none" {
                vo.push_str(&format!("{v},{UNKNOWN_LABEL}\n"));
                n_vo += 1;
            } else {
                let a = csv_field(&abs(&p.audio).display().to_string());
                av.push_str(&format!("{v},{a},{UNKNOWN_LABEL}\n"));
                n_av += 1;
            }
        }
    }
    let mut written = (None, None);
    for (n, text, name, slot) in [
        (n_av, av, "list.csv", &mut written.0),
        (n_vo, vo, "list_visual_only.csv", &mut written.1),
    ] {
        let path = out.join(name);
        if n > 0 {
            avad_core::files::write_atomic(&path, text.as_bytes())?;
            *slot = Some(path);
        } else if path.exists() {
            std::fs::remove_file(&path).map_err(|e| PipelineError::io(&path, e))?;
        }
    }
    Ok(written)
}

/// Joins list CSVs with the same header (e.g. the `list.csv` of each shard) into `out`: rows in input order,
/// exact duplicate rows dropped. Returns the number of rows written. Errors if the headers differ.
pub fn merge_lists(inputs: &[PathBuf], out: &Path) -> Result<usize> {
    if inputs.is_empty() {
        return Err(PipelineError::Invalid("merge-lists: no input lists".into()));
    }
    let mut header: Option<String> = None;
    let mut rows = Vec::new();
    let mut seen = BTreeSet::new();
    for p in inputs {
        let text = std::fs::read_to_string(p).map_err(|e| PipelineError::io(p, e))?;
        let mut lines = text.lines();
        let h = lines
            .next()
            .map(str::trim)
            .filter(|h| !h.is_empty())
            .ok_or_else(|| PipelineError::Invalid(format!("{}: empty list", p.display())))?;
        match &header {
            None => header = Some(h.to_string()),
            Some(prev) if prev != h => {
                return Err(PipelineError::Invalid(format!(
                    "{}: header `{h}` differs from `{prev}` of the first list",
                    p.display()
                )))
            }
            _ => {}
        }
        for line in lines.map(str::trim).filter(|l| !l.is_empty()) {
            if seen.insert(line.to_string()) {
                rows.push(line.to_string());
            }
        }
    }
    let mut text = header.unwrap_or_default();
    text.push('\n');
    for r in &rows {
        text.push_str(r);
        text.push('\n');
    }
    avad_core::files::write_atomic(out, text.as_bytes())?;
    Ok(rows.len())
}
