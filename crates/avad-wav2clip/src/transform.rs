//! The `audio_transform` projection head: `MLPLayers([512, 512, 512])` with the trailing ReLU/Dropout removed, i.e.
//! Linear(512, 512) → ReLU → (Dropout, identity in eval) → Linear(512, 512). Keys `sequential.0`, `sequential.3`.

use burn::module::{Module, Param};
use burn::tensor::backend::Backend;
use burn::tensor::Tensor;

use crate::resnet::tensor;
use crate::weights::StateDict;
use crate::Result;

/// A PyTorch-layout linear layer: `y = x · weightᵀ + bias`, `weight` [out, in].
#[derive(Module, Debug)]
pub struct Linear<B: Backend> {
    /// Weight [out, in] (PyTorch layout, not transposed).
    pub weight: Param<Tensor<B, 2>>,
    /// Bias [out].
    pub bias: Param<Tensor<B, 1>>,
}

impl<B: Backend> Linear<B> {
    /// Loads `{prefix}.weight` [out, inp] and `{prefix}.bias` [out].
    pub fn load(
        sd: &StateDict,
        prefix: &str,
        inp: usize,
        out: usize,
        device: &B::Device,
    ) -> Result<Self> {
        Ok(Self {
            weight: Param::from_tensor(tensor(
                sd,
                &format!("{prefix}.weight"),
                [out, inp],
                device,
            )?),
            bias: Param::from_tensor(tensor(sd, &format!("{prefix}.bias"), [out], device)?),
        })
    }

    /// `[N, in]` → `[N, out]`.
    pub fn forward(&self, x: Tensor<B, 2>) -> Tensor<B, 2> {
        x.matmul(self.weight.val().transpose()) + self.bias.val().unsqueeze::<2>()
    }
}

/// `(key, shape)` of the tensors loaded under `prefix` (e.g. `audio_transform`).
pub fn expected_tensors(dim: usize, prefix: &str) -> Vec<(String, Vec<usize>)> {
    ["0", "3"]
        .iter()
        .flat_map(|i| {
            [
                (format!("{prefix}.sequential.{i}.weight"), vec![dim, dim]),
                (format!("{prefix}.sequential.{i}.bias"), vec![dim]),
            ]
        })
        .collect()
}

/// `audio_transform`: `sequential.0` → ReLU → `sequential.3` (field names `sequential_0`, `sequential_3`).
#[derive(Module, Debug)]
pub struct MlpLayers<B: Backend> {
    /// `sequential.0`: Linear(512, 512).
    pub sequential_0: Linear<B>,
    /// `sequential.3`: Linear(512, 512).
    pub sequential_3: Linear<B>,
}

impl<B: Backend> MlpLayers<B> {
    /// Loads both linear layers of width `dim` under `prefix`.
    pub fn load(sd: &StateDict, prefix: &str, dim: usize, device: &B::Device) -> Result<Self> {
        Ok(Self {
            sequential_0: Linear::load(sd, &format!("{prefix}.sequential.0"), dim, dim, device)?,
            sequential_3: Linear::load(sd, &format!("{prefix}.sequential.3"), dim, dim, device)?,
        })
    }

    /// `[N, 512]` → `[N, 512]` (the published, un-normalised Wav2CLIP embedding).
    pub fn forward(&self, x: Tensor<B, 2>) -> Tensor<B, 2> {
        self.sequential_3
            .forward(burn::tensor::activation::relu(self.sequential_0.forward(x)))
    }
}
