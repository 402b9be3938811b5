//! Properties of the resamplers and the AVadCLIP 10-crop recipe (exact Pillow parity is in `parity.rs`).

use avad_clip::preprocess::{
    center_crop, clip_pixels, resize_bicubic_pillow, resize_bilinear_cv2, shortest_side_size,
    ten_crop_avadclip, ten_crop_clip_pixels,
};
use avad_clip::tokenizer::clean_text;
use image::{Rgb, RgbImage};

fn noise(w: u32, h: u32) -> RgbImage {
    let mut s = 7u32;
    RgbImage::from_fn(w, h, |_, _| {
        let mut p = [0u8; 3];
        for c in &mut p {
            s = s.wrapping_mul(1664525).wrapping_add(1013904223);
            *c = (s >> 24) as u8;
        }
        Rgb(p)
    })
}

#[test]
fn constant_images_stay_constant() {
    let img = RgbImage::from_pixel(300, 200, Rgb([10, 128, 250]));
    for out in [
        resize_bicubic_pillow(&img, 336, 224),
        resize_bilinear_cv2(&img, 340, 256),
    ] {
        assert!(out.pixels().all(|p| *p == Rgb([10, 128, 250])));
    }
}

#[test]
fn same_size_is_identity() {
    let img = noise(50, 40);
    assert_eq!(resize_bicubic_pillow(&img, 50, 40), img);
    assert_eq!(resize_bilinear_cv2(&img, 50, 40), img);
}

#[test]
fn torchvision_sizes_and_crop_offsets() {
    assert_eq!(shortest_side_size(1280, 720, 224), (398, 224));
    assert_eq!(shortest_side_size(97, 311, 224), (224, 718));
    assert_eq!(shortest_side_size(225, 301, 224), (224, 299));
    // (299 - 224) / 2 = 37.5 → 38 (half to even); (301-224)/2 = 38.5 → 38.
    let img = RgbImage::from_fn(224, 299, |_, y| Rgb([y as u8, 0, 0]));
    assert_eq!(center_crop(&img, 224).get_pixel(0, 0)[0], 38);
    let img = RgbImage::from_fn(224, 301, |_, y| Rgb([y as u8, 0, 0]));
    assert_eq!(center_crop(&img, 224).get_pixel(0, 0)[0], 38);
}

#[test]
fn ten_crops_layout() {
    let img = noise(640, 360);
    let r = resize_bilinear_cv2(&img, 340, 256);
    let crops = ten_crop_avadclip(&img);
    assert_eq!(crops.len(), 10);
    assert!(crops.iter().all(|c| c.dimensions() == (224, 224)));
    // _0 centre = [16:240, 58:282]
    assert_eq!(crops[0].get_pixel(0, 0), r.get_pixel(58, 16));
    // _4 bottom-right corner
    assert_eq!(crops[4].get_pixel(223, 223), r.get_pixel(339, 255));
    // _5.._9 are the horizontal flips of _0.._4
    for k in 0..5 {
        assert_eq!(crops[k + 5].get_pixel(0, 7), crops[k].get_pixel(223, 7));
    }
    let px = ten_crop_clip_pixels(&img, 224);
    assert_eq!(px.len(), 10);
    // A 224×224 crop passes through CLIP's resize/crop unchanged.
    assert_eq!(px[3], clip_pixels(&crops[3], 224));
}

#[test]
fn bilinear_downscale_is_an_average() {
    // A 2-pixel-period stripe pattern halved horizontally: each output is the mean of two inputs (±1 rounding).
    let img = RgbImage::from_fn(8, 4, |x, _| {
        if x % 2 == 0 {
            Rgb([0, 0, 0])
        } else {
            Rgb([200, 200, 200])
        }
    });
    let out = resize_bilinear_cv2(&img, 4, 4);
    assert!(
        out.pixels().all(|p| (p[0] as i32 - 100).abs() <= 1),
        "{:?}",
        out.get_pixel(1, 1)
    );
}

#[test]
fn text_cleaning_subset() {
    assert_eq!(clean_text("  Hello\t\nWORLD  "), "hello world");
    assert_eq!(clean_text("a &amp;amp; b"), "a & b");
    assert_eq!(clean_text("&lt;b&gt; &#65;&#x42;"), "<b> ab");
    assert_eq!(clean_text("“x” ‘y’ ﬁ ＡＢＣ"), "\"x\" 'y' fi abc");
    assert_eq!(clean_text("e\u{301}"), "é");
}
