//! CLIP image preprocessing, identical to OpenAI CLIP / open_clip / HF `CLIPImageProcessorPil`:
//! RGB, shortest side → 224 with **Pillow's bicubic resampler** (a port of `ImagingResample`: separable,
//! support 2, a = −0.5, 22-bit fixed-point weights, u8 intermediate, clipping as Pillow), centre crop with
//! round-half-to-even offsets (torchvision), `/255`, mean/std normalisation, CHW.
//!
//! Also the AVadCLIP 10-crop recipe (AVadCLIP `src/crop.py`): bilinear resize to 340×256 in OpenCV's
//! `INTER_LINEAR` fixed-point arithmetic (see [`resize_bilinear_cv2`] for how faithful it is), centre + 4 corner
//! 224×224 crops, their horizontal flips, then the CLIP preprocessing of each crop.
//!
//! Known differences: images with alpha are converted to RGB (alpha dropped) **before** resizing, as HF does;
//! OpenAI/open_clip resize the RGBA image (Pillow premultiplies) and drop alpha after, which differs where alpha < 255.
//! JPEG files are decoded by the `image` crate (zune-jpeg), which differs from Pillow's libjpeg-turbo by up to a few
//! levels (max 4, mean 0.39 on the 4:2:0 fixture); PNG and raw frames are bit-exact end to end.

use std::path::Path;

use burn::tensor::{backend::Backend, Tensor, TensorData};
use image::RgbImage;

use crate::error::ClipError;

/// OpenAI CLIP's per-channel mean.
pub const CLIP_MEAN: [f32; 3] = [0.48145466, 0.4578275, 0.40821073];
/// OpenAI CLIP's per-channel standard deviation.
#[allow(clippy::excessive_precision)] // the published constants, verbatim
pub const CLIP_STD: [f32; 3] = [0.26862954, 0.26130258, 0.27577711];

/// Decodes a PNG/JPEG file to 8-bit RGB (alpha dropped, grey replicated, as Pillow's `convert("RGB")`).
pub fn load_rgb(path: &Path) -> Result<RgbImage, ClipError> {
    let bytes = std::fs::read(path).map_err(|e| ClipError::Io {
        path: path.display().to_string(),
        error: e,
    })?;
    decode_rgb(&bytes, &path.display().to_string())
}

/// Decodes image bytes (PNG/JPEG) to 8-bit RGB; `name` is used in errors.
pub fn decode_rgb(bytes: &[u8], name: &str) -> Result<RgbImage, ClipError> {
    let img = image::load_from_memory(bytes).map_err(|e| ClipError::Image {
        path: name.to_string(),
        msg: e.to_string(),
    })?;
    Ok(img.to_rgb8())
}

// ---------------------------------------------------------------------------------------------------------------
// Pillow bicubic

const PRECISION_BITS: u32 = 32 - 8 - 2;

fn bicubic(x: f64) -> f64 {
    const A: f64 = -0.5;
    let x = x.abs();
    if x < 1.0 {
        ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0
    } else if x < 2.0 {
        (((x - 5.0) * x + 8.0) * x - 4.0) * A
    } else {
        0.0
    }
}

/// Pillow's `precompute_coeffs` for the whole input range: per output pixel (first input index, count) and
/// `ksize` fixed-point weights.
fn coeffs(in_size: usize, out_size: usize) -> (Vec<(usize, usize)>, Vec<i32>, usize) {
    let scale = in_size as f64 / out_size as f64;
    let filterscale = scale.max(1.0);
    let support = 2.0 * filterscale;
    let ksize = support.ceil() as usize * 2 + 1;
    let mut bounds = Vec::with_capacity(out_size);
    let mut kk = vec![0i32; out_size * ksize];
    let mut w = vec![0f64; ksize];
    for xx in 0..out_size {
        let center = (xx as f64 + 0.5) * scale;
        let ss = 1.0 / filterscale;
        // C's (int) cast truncates toward zero.
        let xmin = ((center - support + 0.5) as i64).max(0) as usize;
        let xmax = ((center + support + 0.5) as i64).min(in_size as i64) as usize;
        let n = xmax.saturating_sub(xmin).min(ksize);
        let mut ww = 0.0;
        for (x, wx) in w.iter_mut().enumerate().take(n) {
            let v = bicubic((x as f64 + xmin as f64 - center + 0.5) * ss);
            *wx = v;
            ww += v;
        }
        for x in 0..ksize {
            let v = if x < n && ww != 0.0 { w[x] / ww } else { 0.0 };
            // normalize_coeffs_8bpc: round half away from zero into 22 fractional bits.
            let f = v * (1u64 << PRECISION_BITS) as f64;
            kk[xx * ksize + x] = if v < 0.0 {
                (f - 0.5) as i32
            } else {
                (f + 0.5) as i32
            };
        }
        bounds.push((xmin, n));
    }
    (bounds, kk, ksize)
}

#[inline]
fn clip8(v: i32) -> u8 {
    (v >> PRECISION_BITS).clamp(0, 255) as u8
}

/// Resizes with Pillow's `Image.resize(size, BICUBIC)` (bit-exact port of the algorithm, RGB 8-bit).
pub fn resize_bicubic_pillow(img: &RgbImage, out_w: u32, out_h: u32) -> RgbImage {
    let (in_w, in_h) = (img.width() as usize, img.height() as usize);
    let (ow, oh) = (out_w as usize, out_h as usize);
    if (ow, oh) == (in_w, in_h) || ow == 0 || oh == 0 || in_w == 0 || in_h == 0 {
        return if (ow, oh) == (in_w, in_h) {
            img.clone()
        } else {
            RgbImage::new(out_w, out_h)
        };
    }
    let src = img.as_raw();
    let (bv, kv, ksv) = coeffs(in_h, oh);
    // Horizontal pass over only the rows the vertical pass reads (Pillow's ybox_first..ybox_last).
    let (tmp, tmp_w, row0) = if ow != in_w {
        let (bh, kh, ksh) = coeffs(in_w, ow);
        let first = bv[0].0;
        let last = bv[oh - 1].0 + bv[oh - 1].1;
        let rows = last - first;
        let mut tmp = vec![0u8; rows * ow * 3];
        for y in 0..rows {
            let srow = &src[(y + first) * in_w * 3..(y + first + 1) * in_w * 3];
            for (xx, &(xmin, n)) in bh.iter().enumerate() {
                let k = &kh[xx * ksh..xx * ksh + n];
                let mut acc = [1i32 << (PRECISION_BITS - 1); 3];
                for (x, &kx) in k.iter().enumerate() {
                    let p = &srow[(xmin + x) * 3..(xmin + x) * 3 + 3];
                    for c in 0..3 {
                        acc[c] += p[c] as i32 * kx;
                    }
                }
                for c in 0..3 {
                    tmp[(y * ow + xx) * 3 + c] = clip8(acc[c]);
                }
            }
        }
        (tmp, ow, first)
    } else {
        (src.to_vec(), in_w, 0)
    };
    if oh == in_h {
        return RgbImage::from_raw(out_w, out_h, tmp).expect("sizes match");
    }
    let mut out = vec![0u8; ow * oh * 3];
    for (yy, &(ymin, n)) in bv.iter().enumerate() {
        let k = &kv[yy * ksv..yy * ksv + n];
        let ymin = ymin - row0;
        for xx in 0..tmp_w * 3 {
            let mut acc = 1i32 << (PRECISION_BITS - 1);
            for (y, &ky) in k.iter().enumerate() {
                acc += tmp[(ymin + y) * tmp_w * 3 + xx] as i32 * ky;
            }
            out[yy * ow * 3 + xx] = clip8(acc);
        }
    }
    RgbImage::from_raw(out_w, out_h, out).expect("sizes match")
}

/// Output size of torchvision's `Resize(size)` (shortest side → `size`, long side truncated like Python `int`).
pub fn shortest_side_size(w: u32, h: u32, size: u32) -> (u32, u32) {
    if w <= h {
        (size, ((size as u64 * h as u64) as f64 / w as f64) as u32)
    } else {
        (((size as u64 * w as u64) as f64 / h as f64) as u32, size)
    }
}

/// torchvision `CenterCrop(size)`: offsets `round((dim - size) / 2)` with round-half-to-even; zero-pads an image
/// smaller than the crop, as torchvision does.
pub fn center_crop(img: &RgbImage, size: u32) -> RgbImage {
    let (w, h) = (img.width() as i64, img.height() as i64);
    let s = size as i64;
    let top = ((h - s) as f64 / 2.0).round_ties_even() as i64;
    let left = ((w - s) as f64 / 2.0).round_ties_even() as i64;
    let mut out = RgbImage::new(size, size);
    for y in 0..s {
        for x in 0..s {
            let (sy, sx) = (y + top, x + left);
            if sy >= 0 && sy < h && sx >= 0 && sx < w {
                out.put_pixel(x as u32, y as u32, *img.get_pixel(sx as u32, sy as u32));
            }
        }
    }
    out
}

/// Resize (shortest side, Pillow bicubic) + centre crop: the u8 image CLIP sees.
pub fn clip_resize_crop(img: &RgbImage, size: u32) -> RgbImage {
    let (w, h) = shortest_side_size(img.width(), img.height(), size);
    center_crop(&resize_bicubic_pillow(img, w, h), size)
}

/// `/255`, mean/std, HWC u8 → CHW f32 `[3·H·W]`.
pub fn normalize_chw(img: &RgbImage) -> Vec<f32> {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let mut out = vec![0f32; 3 * w * h];
    for (i, p) in img.as_raw().chunks_exact(3).enumerate() {
        for c in 0..3 {
            out[c * w * h + i] = (p[c] as f32 / 255.0 - CLIP_MEAN[c]) / CLIP_STD[c];
        }
    }
    out
}

/// The full CLIP preprocessing of one image: `[3·size·size]` CHW floats.
pub fn clip_pixels(img: &RgbImage, size: u32) -> Vec<f32> {
    normalize_chw(&clip_resize_crop(img, size))
}

/// Stacks preprocessed images into a `[N, 3, size, size]` tensor.
pub fn stack_pixels<B: Backend>(
    images: &[Vec<f32>],
    size: usize,
    device: &B::Device,
) -> Tensor<B, 4> {
    let n = images.len();
    let mut v = Vec::with_capacity(n * 3 * size * size);
    for im in images {
        v.extend_from_slice(im);
    }
    Tensor::from_data(TensorData::new(v, [n, 3, size, size]), device)
}

/// Loads and preprocesses image files into a `[N, 3, size, size]` tensor.
pub fn load_clip_pixels<B: Backend>(
    paths: &[&Path],
    size: u32,
    device: &B::Device,
) -> Result<Tensor<B, 4>, ClipError> {
    let mut ims = Vec::with_capacity(paths.len());
    for p in paths {
        ims.push(clip_pixels(&load_rgb(p)?, size));
    }
    Ok(stack_pixels(&ims, size as usize, device))
}

// ---------------------------------------------------------------------------------------------------------------
// AVadCLIP 10-crop

const RESIZE_COEF_BITS: u32 = 11;
const RESIZE_COEF_SCALE: f32 = (1 << RESIZE_COEF_BITS) as f32;

/// OpenCV `cv2.resize(..., interpolation=INTER_LINEAR)` on 8-bit RGB: half-pixel centres, 11-bit coefficients
/// (`saturate_cast<short>(w·2048)`), an integer horizontal pass, and the vertical pass as OpenCV's SIMD kernel
/// computes it, `((b0·(S0>>4))>>16 + (b1·(S1>>4))>>16 + 2) >> 2`. Bit-exact against opencv-python-headless
/// 5.0.0 on the fixture cases (640×360, 1280×720 and 680×512 (exact 2×) down, 97×311 up, all → 340×256) and on
/// the fixture photos; OpenCV's scalar tail `(b0·S0 + b1·S1 + 2^21) >> 22` could differ by one level on other
/// sizes.
pub fn resize_bilinear_cv2(img: &RgbImage, out_w: u32, out_h: u32) -> RgbImage {
    let (in_w, in_h) = (img.width() as usize, img.height() as usize);
    let (ow, oh) = (out_w as usize, out_h as usize);
    if in_w == 0 || in_h == 0 || ow == 0 || oh == 0 {
        return RgbImage::new(out_w, out_h);
    }
    let sx = in_w as f64 / ow as f64;
    let sy = in_h as f64 / oh as f64;
    let tab = |d: usize, scale: f64, size: usize, clamp_frac: bool| -> (usize, usize, i32, i32) {
        let f = ((d as f64 + 0.5) * scale - 0.5) as f32;
        let mut s = f.floor() as i64;
        let mut fr = f - s as f32;
        if clamp_frac {
            if s < 0 {
                fr = 0.0;
                s = 0;
            }
            if s >= size as i64 - 1 {
                fr = 0.0;
                s = size as i64 - 1;
            }
        }
        let s0 = s.clamp(0, size as i64 - 1) as usize;
        let s1 = (s + 1).clamp(0, size as i64 - 1) as usize;
        let a0 = ((1.0 - fr) * RESIZE_COEF_SCALE).round_ties_even() as i32;
        let a1 = (fr * RESIZE_COEF_SCALE).round_ties_even() as i32;
        (s0, s1, a0, a1)
    };
    let xt: Vec<_> = (0..ow).map(|d| tab(d, sx, in_w, true)).collect();
    let src = img.as_raw();
    let hrow = |y: usize| -> Vec<i32> {
        let row = &src[y * in_w * 3..(y + 1) * in_w * 3];
        let mut out = vec![0i32; ow * 3];
        for (dx, &(s0, s1, a0, a1)) in xt.iter().enumerate() {
            for c in 0..3 {
                out[dx * 3 + c] = row[s0 * 3 + c] as i32 * a0 + row[s1 * 3 + c] as i32 * a1;
            }
        }
        out
    };
    let mut out = vec![0u8; ow * oh * 3];
    for dy in 0..oh {
        let (y0, y1, b0, b1) = tab(dy, sy, in_h, false);
        let (r0, r1) = (hrow(y0), hrow(y1));
        for i in 0..ow * 3 {
            let v = (((b0 * (r0[i] >> 4)) >> 16) + ((b1 * (r1[i] >> 4)) >> 16) + 2) >> 2;
            out[dy * ow * 3 + i] = v.clamp(0, 255) as u8;
        }
    }
    RgbImage::from_raw(out_w, out_h, out).expect("sizes match")
}

fn crop(img: &RgbImage, x0: u32, y0: u32, size: u32) -> RgbImage {
    image::imageops::crop_imm(img, x0, y0, size, size).to_image()
}

/// AVadCLIP's 10 crops (`src/crop.py`): resize to 340×256, crops `_0` centre `[16:240, 58:282]`, `_1..4` corners
/// (top-left, top-right, bottom-left, bottom-right), `_5..9` their horizontal flips. Each is 224×224 u8 RGB.
pub fn ten_crop_avadclip(img: &RgbImage) -> Vec<RgbImage> {
    let r = resize_bilinear_cv2(img, 340, 256);
    let s = 224;
    let mut crops = vec![
        crop(&r, 58, 16, s),
        crop(&r, 0, 0, s),
        crop(&r, 340 - s, 0, s),
        crop(&r, 0, 256 - s, s),
        crop(&r, 340 - s, 256 - s, s),
    ];
    let flips: Vec<RgbImage> = crops.iter().map(image::imageops::flip_horizontal).collect();
    crops.extend(flips);
    crops
}

/// The 10 crops, each CLIP-preprocessed: 10 × `[3·size·size]`.
pub fn ten_crop_clip_pixels(img: &RgbImage, size: u32) -> Vec<Vec<f32>> {
    ten_crop_avadclip(img)
        .iter()
        .map(|c| clip_pixels(c, size))
        .collect()
}
