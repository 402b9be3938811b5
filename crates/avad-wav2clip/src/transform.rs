//! The `audio_transform` projection head: `MLPLayers([512, 512, 512])` with the trailing ReLU/Dropout removed, i.e.
//! Linear(512, 512) → ReLU → (Dropout, identity in eval) → Linear(512, 512). Keys `sequential.0`, `sequential.3`.

use avad_nn::{Linear, VisitWeights, WeightVisitor};
use burn::module::Module;
use burn::tensor::backend::Backend;
use burn::tensor::Tensor;

/// `audio_transform`: `sequential.0` → ReLU → `sequential.3` (field names `sequential_0`, `sequential_3`).
#[derive(Module, Debug)]
pub struct MlpLayers<B: Backend> {
    /// `sequential.0`: Linear(512, 512).
    pub sequential_0: Linear<B>,
    /// `sequential.3`: Linear(512, 512).
    pub sequential_3: Linear<B>,
}

impl<B: Backend> MlpLayers<B> {
    /// A skeleton of width `dim` to load weights into.
    pub fn placeholder(dim: usize, device: &B::Device) -> Self {
        Self {
            sequential_0: Linear::placeholder(dim, dim, true, device),
            sequential_3: Linear::placeholder(dim, dim, true, device),
        }
    }

    /// `[N, 512]` → `[N, 512]` (the published, un-normalised Wav2CLIP embedding).
    pub fn forward(&self, x: Tensor<B, 2>) -> Tensor<B, 2> {
        self.sequential_3
            .forward(burn::tensor::activation::relu(self.sequential_0.forward(x)))
    }
}

impl<B: Backend> VisitWeights for MlpLayers<B> {
    fn visit_weights(&mut self, v: &mut WeightVisitor<'_>) {
        v.nested("sequential.0", &mut self.sequential_0);
        v.nested("sequential.3", &mut self.sequential_3);
    }
}
