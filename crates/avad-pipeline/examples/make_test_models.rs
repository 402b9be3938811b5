//! Writes random-weight test models: `make_test_models OUT_DIR [VISUAL_WIDTH]` →
//! `OUT_DIR/wav2clip_formula.safetensors` and `OUT_DIR/ckpt/model.json` (AVadCLIP teacher, random weights).

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let out = std::path::PathBuf::from(
        args.get(1)
            .map(String::as_str)
            .unwrap_or("target/test-models"),
    );
    let width: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(512);
    std::fs::create_dir_all(&out).expect("create output folder");
    let dev = burn_flex::FlexDevice;
    avad_wav2clip::testing::save_formula_weights::<burn_flex::Flex>(
        &out.join("wav2clip_formula.safetensors"),
        &dev,
    )
    .expect("write Wav2CLIP formula weights");
    let ck = avad_train::testing::write_tiny_checkpoint::<burn_flex::Flex>(
        &out.join("ckpt"),
        width,
        Some(avad_wav2clip::EMBED_DIM),
        1,
        &dev,
    )
    .expect("write checkpoint");
    println!("{}", ck.display());
}
