//! The additive causal attention mask of CLIP's text transformer.

use burn::tensor::{backend::Backend, Tensor, TensorData};

/// Additive causal mask `[1, 1, L, L]`: 0 on and below the diagonal, `f32::MIN` above (Hugging Face's
/// `finfo(float32).min`; OpenAI's `-inf` gives the same softmax).
pub fn causal_mask<B: Backend>(l: usize, device: &B::Device) -> Tensor<B, 4> {
    let mut m = vec![0f32; l * l];
    for i in 0..l {
        for j in i + 1..l {
            m[i * l + j] = f32::MIN;
        }
    }
    Tensor::from_data(TensorData::new(m, [1, 1, l, l]), device)
}
