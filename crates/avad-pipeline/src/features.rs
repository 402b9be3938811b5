//! One video → per-snippet CLIP image features (1 or 10 crops) and Wav2CLIP audio features, plus small thumbnails.
//!
//! Audio rule (documented in `docs/extract.md`): the snippets' 16 kHz audio is concatenated into one track (the
//! snippets tile the stream without gaps, see `avad-media`); snippet `i` gets the [`AUDIO_WINDOW`] samples centred on
//! the middle of its own span, zero-padded beyond the track's ends; all windows of a video go through Wav2CLIP as one
//! batch with [`Normalisation::Shared`] (the package's frame mode: one spectrogram mean/std per video).

use std::path::Path;

use avad_clip::ClipModel;
use avad_media::{AudioState, DecodeOptions};
use avad_wav2clip::{Normalisation, Wav2Clip};
use burn::prelude::*;

use crate::error::{PipelineError, Result};

/// Audio window per snippet: 1 s at 16 kHz, centred on the snippet.
pub const AUDIO_WINDOW: usize = 16_000;
/// Width of the thumbnails kept for reports (pixels; height keeps the aspect ratio).
pub const THUMB_WIDTH: u32 = 160;

/// The two frozen encoders.
#[derive(Debug)]
pub struct Encoders<B: Backend> {
    /// CLIP (only the image tower is used).
    pub clip: ClipModel<B>,
    /// Wav2CLIP.
    pub wav2clip: Wav2Clip<B>,
}

impl<B: Backend> Encoders<B> {
    /// Loads CLIP from `clip_dir` (HF folder or OpenAI safetensors) and Wav2CLIP from `wav2clip` (`.pt`/safetensors).
    pub fn load(clip_dir: &Path, wav2clip: &Path, device: &B::Device) -> Result<Self> {
        let clip =
            ClipModel::<B>::load(clip_dir, device).map_err(|source| PipelineError::Clip {
                path: clip_dir.to_path_buf(),
                source,
            })?;
        let wav2clip =
            Wav2Clip::<B>::load(wav2clip, device).map_err(|source| PipelineError::Wav2Clip {
                path: wav2clip.to_path_buf(),
                source,
            })?;
        Ok(Self { clip, wav2clip })
    }

    /// CLIP's input side in pixels (224 for ViT-B/16).
    pub fn image_size(&self) -> usize {
        self.clip.vision.image_size
    }

    /// Width of the visual features (CLIP's projection output: 512 for ViT-B/16).
    pub fn visual_width(&self) -> usize {
        self.clip.vision.visual_projection.d_out()
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
}

impl Default for FeatureOptions {
    fn default() -> Self {
        Self {
            crops: 1,
            stride: 16,
            max_snippets: None,
            batch: 8,
            thumbnails: false,
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

/// Decodes `path` and encodes every snippet; `on_snippet` is called after each encoded CLIP batch with the number
/// of snippets done so far. Decoding runs on avad-media's threads while this thread encodes.
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
    let size = enc.image_size();
    let device = enc.wav2clip.device().clone();
    let decode = DecodeOptions {
        stride: opts.stride,
        max_snippets: opts.max_snippets,
        ..DecodeOptions::default()
    };
    let mut reader = avad_media::open(path, &decode)?;
    let mut visual: Vec<Vec<f32>> = vec![Vec::new(); opts.crops];
    let mut width = 0;
    let mut pending: Vec<Vec<f32>> = Vec::new(); // per image [3·S·S], snippet-major then crop
    let mut snippets = Vec::new();
    let mut audio_parts: Vec<Vec<f32>> = Vec::new();
    let mut thumbnails = Vec::new();
    let batch_images = opts.batch.max(1) * opts.crops;
    let flush = |pending: &mut Vec<Vec<f32>>,
                 visual: &mut Vec<Vec<f32>>,
                 width: &mut usize|
     -> Result<()> {
        if pending.is_empty() {
            return Ok(());
        }
        let x = avad_clip::preprocess::stack_pixels::<B>(pending, size, &device); // [N, 3, S, S]
        let emb = enc
            .clip
            .encode_image(x)
            .map_err(|source| PipelineError::Clip {
                path: path.to_path_buf(),
                source,
            })?; // [N, D]
        let d = emb.dims()[1];
        *width = d;
        let v = to_vec(emb, path)?;
        for (i, row) in v.chunks_exact(d).enumerate() {
            visual[i % opts.crops].extend_from_slice(row);
        }
        pending.clear();
        Ok(())
    };
    for s in reader.by_ref() {
        let s = s?;
        let img = to_image(s.frame, path)?;
        if opts.thumbnails {
            let h = ((img.height() as f64 * THUMB_WIDTH as f64 / img.width().max(1) as f64).round()
                as u32)
                .max(1);
            thumbnails.push(image::imageops::thumbnail(&img, THUMB_WIDTH, h));
        }
        if opts.crops == 1 {
            pending.push(avad_clip::preprocess::clip_pixels(&img, size as u32));
        } else {
            pending.extend(avad_clip::preprocess::ten_crop_clip_pixels(
                &img,
                size as u32,
            ));
        }
        snippets.push(SnippetInfo {
            start_s: s.start_s,
            end_s: s.end_s,
            audio_state: s.audio_state,
        });
        audio_parts.push(s.audio);
        if pending.len() >= batch_images {
            flush(&mut pending, &mut visual, &mut width)?;
            on_snippet(snippets.len());
        }
    }
    flush(&mut pending, &mut visual, &mut width)?;
    on_snippet(snippets.len());
    let audio_state = reader
        .summary()
        .map(|s| s.audio_state)
        .unwrap_or(AudioState::None);
    let t = snippets.len();
    if t == 0 {
        return Err(PipelineError::Invalid(format!(
            "{}: no snippets decoded",
            path.display()
        )));
    }
    let audio = if audio_state == AudioState::None {
        None
    } else {
        let windows = audio_windows(&audio_parts);
        let refs: Vec<&[f32]> = windows.iter().map(|w| w.as_slice()).collect();
        let emb = enc
            .wav2clip
            .embed_batch(&refs, Normalisation::Shared)
            .map_err(|source| PipelineError::Wav2Clip {
                path: path.to_path_buf(),
                source,
            })?; // [T, 512]
        Some(to_vec(emb, path)?)
    };
    Ok(ExtractedVideo {
        t,
        width,
        visual,
        audio,
        audio_state,
        snippets,
        thumbnails,
    })
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
