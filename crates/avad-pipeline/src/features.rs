//! One video → per-snippet CLIP image features (1 or 10 crops) and Wav2CLIP audio features, plus small thumbnails.
//!
//! Audio rule (documented in `docs/extract.md`): the snippets' 16 kHz audio is concatenated into one track (the
//! snippets tile the stream without gaps, see `avad-media`); snippet `i` gets the [`AUDIO_WINDOW`] samples centred on
//! the middle of its own span, zero-padded beyond the track's ends; all windows of a video go through Wav2CLIP as one
//! batch with [`Normalisation::Shared`] (the package's frame mode: one spectrogram mean/std per video).
//!
//! Three stages run at once ([`extract_video`]): avad-media decodes on its own threads, a preprocessing thread turns
//! decoded frames into CLIP's input batches (resize, crop, normalise, thumbnails), and the calling thread encodes
//! each batch with the CLIP image tower on the rayon pool. [`StageTimes`] says where the time went.

use std::path::Path;
use std::sync::mpsc::sync_channel;
use std::time::Instant;

use avad_clip::{ClipVisionModel, FastVisionEncoder, FastVisionOptions};
use avad_media::{AudioState, DecodeOptions};
use avad_wav2clip::{FastWav2Clip, FastWav2ClipOptions, Normalisation, Wav2Clip};
use burn::prelude::*;
use serde::Serialize;

use crate::error::{PipelineError, Result};

/// Audio window per snippet: 1 s at 16 kHz, centred on the snippet.
pub const AUDIO_WINDOW: usize = 16_000;
/// Width of the thumbnails kept for reports (pixels; height keeps the aspect ratio).
pub const THUMB_WIDTH: u32 = 160;

/// How the encoders compute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EncoderEngine {
    /// burn's generic tensor ops on the model's device (any backend; the reference the tests compare against).
    Reference,
    /// avad-clip's [`FastVisionEncoder`] and avad-wav2clip's [`FastWav2Clip`]: weights prepacked once, fused fp32
    /// kernels (AVX-512 where the CPU has it, portable Rust elsewhere). CPU only.
    FastCpu,
}

impl EncoderEngine {
    /// The engine's name as the CLI spells it (`reference`, `fast`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Reference => "reference",
            Self::FastCpu => "fast",
        }
    }
}

/// The CLIP image tower in the form the chosen [`EncoderEngine`] runs.
#[derive(Debug)]
enum ImageTower<B: Backend> {
    Reference(Box<ClipVisionModel<B>>),
    FastCpu(Box<FastVisionEncoder>),
}

/// Wav2CLIP in the form the chosen [`EncoderEngine`] runs.
#[derive(Debug)]
enum AudioTower<B: Backend> {
    Reference(Box<Wav2Clip<B>>),
    FastCpu(Box<FastWav2Clip>),
}

/// The two frozen encoders: the CLIP image tower (the text tower is not loaded) and Wav2CLIP.
#[derive(Debug)]
pub struct Encoders<B: Backend> {
    image: ImageTower<B>,
    audio: AudioTower<B>,
    /// Input side in pixels (224 for ViT-B/16).
    image_size: usize,
    /// Width of the projected image embeddings (512 for ViT-B/16).
    visual_width: usize,
    device: B::Device,
}

impl<B: Backend> Encoders<B> {
    /// Loads the CLIP image tower from `clip_dir` (HF folder or OpenAI safetensors) and Wav2CLIP from `wav2clip`
    /// (`.pt`/safetensors) onto `device`; with [`EncoderEngine::FastCpu`] both are then packed for the CPU kernels
    /// (and the backend copies dropped).
    pub fn load(
        clip_dir: &Path,
        wav2clip: &Path,
        device: &B::Device,
        engine: EncoderEngine,
    ) -> Result<Self> {
        let clip_err = |source| PipelineError::Clip {
            path: clip_dir.to_path_buf(),
            source,
        };
        let vision = ClipVisionModel::<B>::load(clip_dir, "", device).map_err(clip_err)?;
        let image_size = vision.image_size;
        let visual_width = vision.visual_projection.d_out();
        let image = match engine {
            EncoderEngine::Reference => ImageTower::Reference(Box::new(vision)),
            EncoderEngine::FastCpu => ImageTower::FastCpu(Box::new(
                FastVisionEncoder::new(&vision, FastVisionOptions::default()).map_err(clip_err)?,
            )),
        };
        let w2c =
            Wav2Clip::<B>::load(wav2clip, device).map_err(|source| PipelineError::Wav2Clip {
                path: wav2clip.to_path_buf(),
                source,
            })?;
        let audio = match engine {
            EncoderEngine::Reference => AudioTower::Reference(Box::new(w2c)),
            EncoderEngine::FastCpu => AudioTower::FastCpu(Box::new(FastWav2Clip::new(
                &w2c,
                FastWav2ClipOptions::default(),
            ))),
        };
        Ok(Self {
            image,
            audio,
            image_size,
            visual_width,
            device: device.clone(),
        })
    }

    /// The engine the encoders were loaded for.
    pub fn engine(&self) -> EncoderEngine {
        match self.image {
            ImageTower::Reference(_) => EncoderEngine::Reference,
            ImageTower::FastCpu(_) => EncoderEngine::FastCpu,
        }
    }

    /// CLIP's input side in pixels (224 for ViT-B/16).
    pub fn image_size(&self) -> usize {
        self.image_size
    }

    /// Width of the visual features (CLIP's projection output: 512 for ViT-B/16).
    pub fn visual_width(&self) -> usize {
        self.visual_width
    }

    /// Projected CLIP image embeddings of `n` preprocessed images: `pixels` is `[n, 3, S, S]` row-major (as
    /// [`avad_clip::preprocess::clip_pixels`] makes them), the result `[n, D]` row-major. `path` names the video in
    /// errors.
    pub fn encode_images(&self, pixels: Vec<f32>, n: usize, path: &Path) -> Result<Vec<f32>> {
        let s = self.image_size;
        if pixels.len() != n * 3 * s * s {
            return Err(PipelineError::Invalid(format!(
                "{}: {} pixel values for {n} images of 3×{s}×{s}",
                path.display(),
                pixels.len()
            )));
        }
        match &self.image {
            ImageTower::FastCpu(fast) => Ok(fast.encode(&pixels, n)),
            ImageTower::Reference(vision) => {
                let x =
                    Tensor::<B, 4>::from_data(TensorData::new(pixels, [n, 3, s, s]), &self.device); // [N, 3, S, S]
                let emb = vision.forward(x).map_err(|source| PipelineError::Clip {
                    path: path.to_path_buf(),
                    source,
                })?; // [N, D]
                to_vec(emb, path)
            }
        }
    }

    /// Wav2CLIP embeddings `[windows, 512]` row-major of equal-length 16 kHz windows, standardised as
    /// `normalisation` says. `path` names the video in errors.
    pub fn encode_audio(
        &self,
        windows: &[&[f32]],
        normalisation: Normalisation,
        path: &Path,
    ) -> Result<Vec<f32>> {
        let err = |source| PipelineError::Wav2Clip {
            path: path.to_path_buf(),
            source,
        };
        match &self.audio {
            AudioTower::FastCpu(fast) => fast.embed_batch(windows, normalisation).map_err(err),
            AudioTower::Reference(w2c) => {
                let emb = w2c.embed_batch(windows, normalisation).map_err(err)?; // [N, 512]
                to_vec(emb, path)
            }
        }
    }
}

/// How to turn one video into features.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureOptions {
    /// 1 (centre, CLIP preprocessing) or 10 (AVadCLIP's 10-crop).
    pub crops: usize,
    /// Keep every `stride`-th decoded frame (16).
    pub stride: usize,
    /// Stop after this many snippets.
    pub max_snippets: Option<usize>,
    /// Images per CLIP forward pass.
    pub batch: usize,
    /// Keep a [`THUMB_WIDTH`]-wide thumbnail of every sampled frame (for reports).
    pub thumbnails: bool,
    /// How Wav2CLIP standardises the spectrograms: [`Normalisation::Shared`] over the whole video (the default,
    /// the package's frame mode) or [`Normalisation::PerSegment`] (each window alone: what a live stream can do).
    pub audio_normalisation: Normalisation,
}

impl Default for FeatureOptions {
    fn default() -> Self {
        Self {
            crops: 1,
            stride: 16,
            max_snippets: None,
            batch: 8,
            thumbnails: false,
            audio_normalisation: Normalisation::Shared,
        }
    }
}

/// Timing and audio state of one snippet.
#[derive(Debug, Clone, PartialEq)]
pub struct SnippetInfo {
    /// Start, seconds of stream time.
    pub start_s: f64,
    /// End, seconds of stream time.
    pub end_s: f64,
    /// Audio state of the snippet's own span.
    pub audio_state: AudioState,
}

/// Where the time of one video went, in seconds. The stages overlap (decoding on avad-media's threads,
/// preprocessing on its own thread, CLIP on the calling thread and the rayon pool), so their sum can exceed
/// `total_s`; the two `_wait_s` entries say how long a stage stood idle for the one before it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct StageTimes {
    /// The preprocessing thread waiting for decoded snippets (decoding that the other stages did not hide).
    pub decode_wait_s: f64,
    /// Frame conversion, thumbnails, resize, crop and normalisation (the preprocessing thread's own work).
    pub preprocess_s: f64,
    /// The CLIP image tower.
    pub clip_s: f64,
    /// CLIP waiting for preprocessed batches.
    pub clip_wait_s: f64,
    /// Wav2CLIP: windows, spectrograms and the ResNet.
    pub wav2clip_s: f64,
    /// The temporal model's prediction (set by `detect`).
    pub model_s: f64,
    /// Wall time of the whole video.
    pub total_s: f64,
}

/// What [`extract_video`] takes from one video: its visual (per crop) and audio features, the timing and audio
/// state of each snippet, and thumbnails.
#[derive(Debug, Clone)]
pub struct ExtractedVideo {
    /// Snippets T.
    pub t: usize,
    /// CLIP embedding width D.
    pub width: usize,
    /// One row-major [T, D] array per crop.
    pub visual: Vec<Vec<f32>>,
    /// Wav2CLIP [T, 512], `None` when the file has no (decodable) audio stream.
    pub audio: Option<Vec<f32>>,
    /// Audio state of the whole file.
    pub audio_state: AudioState,
    /// Per-snippet timing.
    pub snippets: Vec<SnippetInfo>,
    /// Thumbnails of the sampled frames (empty unless asked for).
    pub thumbnails: Vec<image::RgbImage>,
    /// Where the time went.
    pub timing: StageTimes,
}

fn to_image(f: avad_media::RgbImage, path: &Path) -> Result<image::RgbImage> {
    image::RgbImage::from_raw(f.width, f.height, f.data).ok_or_else(|| {
        PipelineError::Invalid(format!(
            "{}: decoded frame buffer does not match {}x{}",
            path.display(),
            f.width,
            f.height
        ))
    })
}

fn to_vec<B: Backend>(t: Tensor<B, 2>, path: &Path) -> Result<Vec<f32>> {
    t.into_data()
        .convert::<f32>()
        .to_vec::<f32>()
        .map_err(|e| PipelineError::Invalid(format!("{}: tensor readback: {e:?}", path.display())))
}

/// One CLIP batch made by the preprocessing thread.
struct PixelBatch {
    /// `[images, 3, S, S]`, snippet-major then crop.
    pixels: Vec<f32>,
    images: usize,
    /// Snippets decoded so far (all batches included).
    snippets_done: usize,
}

/// What the preprocessing thread hands back when the video ends.
struct Decoded {
    snippets: Vec<SnippetInfo>,
    audio_parts: Vec<Vec<f32>>,
    thumbnails: Vec<image::RgbImage>,
    audio_state: AudioState,
    decode_wait_s: f64,
    preprocess_s: f64,
}

/// Decodes `path` and encodes every snippet; `on_snippet` is called after each encoded CLIP batch with the number
/// of snippets done so far. Decoding (avad-media's threads), preprocessing (a thread of its own) and CLIP (this
/// thread) run at once, one batch apart.
pub fn extract_video<B: Backend>(
    enc: &Encoders<B>,
    path: &Path,
    opts: &FeatureOptions,
    on_snippet: &mut dyn FnMut(usize),
) -> Result<ExtractedVideo> {
    if opts.crops != 1 && opts.crops != 10 {
        return Err(PipelineError::Invalid(format!(
            "--crops must be 1 or 10, got {}",
            opts.crops
        )));
    }
    let started = Instant::now();
    let decode = DecodeOptions {
        stride: opts.stride,
        max_snippets: opts.max_snippets,
        ..DecodeOptions::default()
    };
    let reader = avad_media::open(path, &decode)?;
    let mut visual: Vec<Vec<f32>> = vec![Vec::new(); opts.crops];
    let mut timing = StageTimes::default();
    // One batch in the channel and one being built: preprocessing stays at most two batches ahead of CLIP.
    let (tx, rx) = sync_channel::<Result<PixelBatch>>(1);
    let size = enc.image_size;
    let decoded = std::thread::scope(|scope| -> Result<Decoded> {
        let producer = std::thread::Builder::new()
            .name("avad-preprocess".into())
            .spawn_scoped(scope, move || {
                preprocess_video(reader, path, opts, size, tx)
            })
            .map_err(|e| {
                PipelineError::Invalid(format!(
                    "{}: cannot start the preprocessing thread: {e}",
                    path.display()
                ))
            })?;
        let mut encode_all = || -> Result<()> {
            loop {
                let waited = Instant::now();
                let Ok(batch) = rx.recv() else {
                    return Ok(()); // the producer finished (or failed: its result says which)
                };
                timing.clip_wait_s += waited.elapsed().as_secs_f64();
                let batch = batch?;
                let clip_started = Instant::now();
                let emb = enc.encode_images(batch.pixels, batch.images, path)?; // [N, D]
                timing.clip_s += clip_started.elapsed().as_secs_f64();
                for (i, row) in emb.chunks_exact(enc.visual_width).enumerate() {
                    visual[i % opts.crops].extend_from_slice(row);
                }
                on_snippet(batch.snippets_done);
            }
        };
        let encoded = encode_all();
        drop(rx); // unblocks a producer waiting to send after an encoding error
        let decoded = producer.join().map_err(|_| {
            PipelineError::Invalid(format!(
                "{}: the preprocessing thread panicked",
                path.display()
            ))
        })?;
        encoded?;
        decoded
    })?;
    timing.decode_wait_s = decoded.decode_wait_s;
    timing.preprocess_s = decoded.preprocess_s;
    let t = decoded.snippets.len();
    if t == 0 {
        return Err(PipelineError::Invalid(format!(
            "{}: no snippets decoded",
            path.display()
        )));
    }
    let audio = if decoded.audio_state == AudioState::None {
        None
    } else {
        let audio_started = Instant::now();
        let windows = audio_windows(&decoded.audio_parts);
        let refs: Vec<&[f32]> = windows.iter().map(|w| w.as_slice()).collect();
        let audio = enc.encode_audio(&refs, opts.audio_normalisation, path)?; // [T, 512]
        timing.wav2clip_s = audio_started.elapsed().as_secs_f64();
        Some(audio)
    };
    timing.total_s = started.elapsed().as_secs_f64();
    Ok(ExtractedVideo {
        t,
        width: enc.visual_width,
        visual,
        audio,
        audio_state: decoded.audio_state,
        snippets: decoded.snippets,
        thumbnails: decoded.thumbnails,
        timing,
    })
}

/// The preprocessing thread of [`extract_video`]: pulls decoded snippets from `reader`, sends CLIP input batches
/// of `opts.batch` snippets (× crops) through `tx`, and returns everything else it collected. A decoding error is
/// sent as the last batch; the returned value then holds what came before it.
fn preprocess_video(
    mut reader: avad_media::MediaReader,
    path: &Path,
    opts: &FeatureOptions,
    size: usize,
    tx: std::sync::mpsc::SyncSender<Result<PixelBatch>>,
) -> Result<Decoded> {
    let mut out = Decoded {
        snippets: Vec::new(),
        audio_parts: Vec::new(),
        thumbnails: Vec::new(),
        audio_state: AudioState::None,
        decode_wait_s: 0.0,
        preprocess_s: 0.0,
    };
    let image_len = 3 * size * size;
    let batch_images = opts.batch.max(1) * opts.crops;
    let mut pixels: Vec<f32> = Vec::with_capacity(batch_images * image_len);
    let send = |pixels: &mut Vec<f32>, done: usize| -> bool {
        let images = pixels.len() / image_len;
        let batch = PixelBatch {
            pixels: std::mem::replace(pixels, Vec::with_capacity(batch_images * image_len)),
            images,
            snippets_done: done,
        };
        tx.send(Ok(batch)).is_ok()
    };
    loop {
        let waited = Instant::now();
        let next = reader.next();
        out.decode_wait_s += waited.elapsed().as_secs_f64();
        let snippet = match next {
            None => break,
            Some(Ok(s)) => s,
            Some(Err(e)) => {
                let _ = tx.send(Err(e.into()));
                return Ok(out);
            }
        };
        let work = Instant::now();
        let img = match to_image(snippet.frame, path) {
            Ok(img) => img,
            Err(e) => {
                let _ = tx.send(Err(e));
                return Ok(out);
            }
        };
        if opts.thumbnails {
            let h = ((img.height() as f64 * THUMB_WIDTH as f64 / img.width().max(1) as f64).round()
                as u32)
                .max(1);
            out.thumbnails
                .push(image::imageops::thumbnail(&img, THUMB_WIDTH, h));
        }
        if opts.crops == 1 {
            pixels.extend(avad_clip::preprocess::clip_pixels(&img, size as u32));
        } else {
            for crop in avad_clip::preprocess::ten_crop_clip_pixels(&img, size as u32) {
                pixels.extend(crop);
            }
        }
        out.snippets.push(SnippetInfo {
            start_s: snippet.start_s,
            end_s: snippet.end_s,
            audio_state: snippet.audio_state,
        });
        out.audio_parts.push(snippet.audio);
        out.preprocess_s += work.elapsed().as_secs_f64();
        if pixels.len() >= batch_images * image_len && !send(&mut pixels, out.snippets.len()) {
            return Ok(out); // the encoder stopped (its error is reported there)
        }
    }
    if !pixels.is_empty() {
        send(&mut pixels, out.snippets.len());
    }
    out.audio_state = reader
        .summary()
        .map(|s| s.audio_state)
        .unwrap_or(AudioState::None);
    Ok(out)
}

/// The [`AUDIO_WINDOW`]-sample window of each snippet: centred on the middle of its span in the concatenated
/// track, zero-padded outside it.
pub fn audio_windows(parts: &[Vec<f32>]) -> Vec<Vec<f32>> {
    let track: Vec<f32> = parts.iter().flatten().copied().collect();
    let mut out = Vec::with_capacity(parts.len());
    let mut offset = 0i64;
    for p in parts {
        let centre = offset + p.len() as i64 / 2;
        let start = centre - (AUDIO_WINDOW / 2) as i64;
        let w: Vec<f32> = (0..AUDIO_WINDOW as i64)
            .map(|k| {
                let i = start + k;
                if i >= 0 && (i as usize) < track.len() {
                    track[i as usize]
                } else {
                    0.0
                }
            })
            .collect();
        out.push(w);
        offset += p.len() as i64;
    }
    out
}
