//! `avad clip`: CLIP image/text embeddings (and their cosine similarity) as one JSON object.

use std::path::PathBuf;

use avad_clip::{preprocess, ClipModel, Tokenizer};
use burn::tensor::Tensor;

use burn::tensor::backend::Backend;

use crate::backend::{run_inference, DeviceArgs, InferCommand};

/// Arguments of `avad clip`.
#[derive(clap::Args)]
pub struct Args {
    /// CLIP model: a Hugging Face `CLIPModel` directory (config.json + model.safetensors) or an OpenAI-named
    /// `.safetensors` file.
    #[arg(long)]
    pub model: PathBuf,
    /// Image file (PNG or JPEG); repeat for several.
    #[arg(long = "image")]
    pub images: Vec<PathBuf>,
    /// Text to encode; repeat for several.
    #[arg(long = "text")]
    pub texts: Vec<String>,
    /// Print the JSON object (`image_embeds`, `text_embeds`, `tokens`, `similarity`) instead of a summary.
    #[arg(long)]
    pub json: bool,
    /// Device and float type (`--device cuda --dtype bf16` on a GPU build).
    #[command(flatten)]
    pub device: DeviceArgs,
}

fn rows<B: Backend>(t: Tensor<B, 2>) -> Vec<Vec<f32>> {
    let [n, d] = t.dims();
    let v: Vec<f32> = t.into_data().convert::<f32>().iter::<f32>().collect();
    (0..n).map(|i| v[i * d..(i + 1) * d].to_vec()).collect()
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb: f32 = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / (na * nb).max(1e-12)
}

/// Runs the command.
pub fn run(args: Args) -> anyhow::Result<()> {
    if args.images.is_empty() && args.texts.is_empty() {
        anyhow::bail!("nothing to encode: give at least one --image or --text");
    }
    run_inference(&args.device, &args)
}

impl InferCommand for Args {
    /// Encodes the images and texts and prints the embeddings.
    fn run_on<B: burn::tensor::backend::Backend>(&self, device: &B::Device) -> anyhow::Result<()> {
        // Errors name the model path / image file themselves.
        let model = ClipModel::<B>::load(&self.model, device)?;

        let mut image_embeds = Vec::new();
        if !self.images.is_empty() {
            let size = model.vision.image_size as u32;
            let mut px = Vec::with_capacity(self.images.len());
            for p in &self.images {
                let img = preprocess::load_rgb(p)?;
                px.push(preprocess::clip_pixels(&img, size));
            }
            let pixels = preprocess::stack_pixels::<B>(&px, size as usize, device);
            image_embeds = rows(model.encode_image(pixels)?);
        }

        let mut text_embeds = Vec::new();
        let mut tokens = Vec::new();
        if !self.texts.is_empty() {
            let tok = Tokenizer::new();
            let texts: Vec<&str> = self.texts.iter().map(String::as_str).collect();
            tokens = texts
                .iter()
                .map(|t| tok.tokenize_ids(t, model.text.context_length()))
                .collect::<Vec<_>>();
            let ids = tok.tokenize_batch::<B>(&texts, device);
            text_embeds = rows(model.encode_text_ids(ids)?);
        }

        let mut out = serde_json::Map::new();
        out.insert("image_embeds".into(), serde_json::to_value(&image_embeds)?);
        out.insert("text_embeds".into(), serde_json::to_value(&text_embeds)?);
        out.insert("tokens".into(), serde_json::to_value(&tokens)?);
        let similarity: Option<Vec<Vec<f32>>> =
            (!image_embeds.is_empty() && !text_embeds.is_empty()).then(|| {
                image_embeds
                    .iter()
                    .map(|i| text_embeds.iter().map(|t| cosine(i, t)).collect())
                    .collect()
            });
        if let Some(s) = &similarity {
            out.insert("similarity".into(), serde_json::to_value(s)?);
        }

        if self.json {
            println!("{}", serde_json::Value::Object(out));
        } else {
            let dim = image_embeds
                .first()
                .or(text_embeds.first())
                .map_or(0, Vec::len);
            println!(
                "{} image embedding(s), {} text embedding(s), dimension {dim}",
                image_embeds.len(),
                text_embeds.len()
            );
            for (t, ids) in self.texts.iter().zip(&tokens) {
                println!("tokens {t:?}: {ids:?}");
            }
            if let Some(s) = similarity {
                println!("cosine similarity (rows: images, columns: texts)");
                for (p, row) in self.images.iter().zip(s) {
                    let cells: Vec<String> = row.iter().map(|v| format!("{v:+.4}")).collect();
                    println!("  {}: {}", p.display(), cells.join("  "));
                }
            }
            println!("(use --json for the full embeddings)");
        }
        Ok(())
    }
}
