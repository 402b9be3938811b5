//! ResNet-18 on a one-channel spectrogram (`wav2clip/model/resnet.py`, `ResNet(BasicBlock, [2, 2, 2, 2])`), in
//! eval mode: batch norm uses the running statistics (eps 1e-5). Field names follow the state-dict keys under
//! `audio_encoder.`; `downsample.0` / `downsample.1` map to [`Downsample::conv`] / [`Downsample::bn`].

use burn::module::{Module, Param};
use burn::tensor::backend::Backend;
use burn::tensor::module::{conv2d, max_pool2d};
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Tensor, TensorData};
use serde::{Deserialize, Serialize};

use crate::weights::StateDict;
use crate::Result;

/// Shape of the ResNet (fixed by the package; kept as data so tests and docs can name it).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ResNetConfig {
    /// Channels of the stem and of the four stages.
    pub stage_channels: [usize; 4],
    /// BasicBlocks per stage.
    pub blocks: [usize; 4],
    /// Batch-norm epsilon.
    pub bn_eps: f64,
}

impl Default for ResNetConfig {
    fn default() -> Self {
        Self {
            stage_channels: [64, 128, 256, 512],
            blocks: [2, 2, 2, 2],
            bn_eps: 1e-5,
        }
    }
}

pub(crate) fn tensor<B: Backend, const D: usize>(
    sd: &StateDict,
    key: &str,
    shape: [usize; D],
    device: &B::Device,
) -> Result<Tensor<B, D>> {
    let t = sd.get(key, &shape)?;
    Ok(Tensor::from_data(
        TensorData::new(t.data.clone(), shape),
        device,
    ))
}

/// 2-D convolution without bias (`weight` [out, in, k, k]).
#[derive(Module, Debug)]
pub struct Conv2d<B: Backend> {
    /// Kernel [out, in, k, k].
    pub weight: Param<Tensor<B, 4>>,
    /// Stride.
    pub stride: usize,
    /// Zero padding on every side.
    pub padding: usize,
}

impl<B: Backend> Conv2d<B> {
    /// Loads `{prefix}.weight` with shape `[out, inp, k, k]`.
    pub fn load(
        sd: &StateDict,
        prefix: &str,
        shape: [usize; 4],
        stride: usize,
        padding: usize,
        device: &B::Device,
    ) -> Result<Self> {
        let weight = Param::from_tensor(tensor(sd, &format!("{prefix}.weight"), shape, device)?);
        Ok(Self {
            weight,
            stride,
            padding,
        })
    }

    /// `[N, in, H, W]` → `[N, out, H', W']`.
    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let opts = ConvOptions::new([self.stride; 2], [self.padding; 2], [1, 1], 1);
        conv2d(x, self.weight.val(), None, opts)
    }
}

/// `BatchNorm2d` in eval mode: `(x − running_mean) / sqrt(running_var + eps) · weight + bias`.
#[derive(Module, Debug)]
pub struct BatchNorm2d<B: Backend> {
    /// Scale γ [C].
    pub weight: Param<Tensor<B, 1>>,
    /// Shift β [C].
    pub bias: Param<Tensor<B, 1>>,
    /// Running mean [C].
    pub running_mean: Param<Tensor<B, 1>>,
    /// Running variance [C].
    pub running_var: Param<Tensor<B, 1>>,
    /// Epsilon added to the variance.
    pub eps: f64,
}

impl<B: Backend> BatchNorm2d<B> {
    /// Loads `{prefix}.{weight,bias,running_mean,running_var}` of `c` channels.
    pub fn load(
        sd: &StateDict,
        prefix: &str,
        c: usize,
        eps: f64,
        device: &B::Device,
    ) -> Result<Self> {
        let p = |n: &str| -> Result<Param<Tensor<B, 1>>> {
            Ok(Param::from_tensor(tensor(
                sd,
                &format!("{prefix}.{n}"),
                [c],
                device,
            )?))
        };
        Ok(Self {
            weight: p("weight")?,
            bias: p("bias")?,
            running_mean: p("running_mean")?,
            running_var: p("running_var")?,
            eps,
        })
    }

    /// `[N, C, H, W]` → same shape.
    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let c = self.weight.dims()[0];
        let scale = self.weight.val() / (self.running_var.val() + self.eps).sqrt(); // [C]
        let shift = self.bias.val() - self.running_mean.val() * scale.clone(); // [C]
        x * scale.reshape([1, c, 1, 1]) + shift.reshape([1, c, 1, 1])
    }
}

/// The projection shortcut `downsample = Sequential(conv1x1, BatchNorm2d)` (keys `.0` and `.1`).
#[derive(Module, Debug)]
pub struct Downsample<B: Backend> {
    /// `downsample.0`: 1×1 convolution with the block's stride.
    pub conv: Conv2d<B>,
    /// `downsample.1`: batch norm.
    pub bn: BatchNorm2d<B>,
}

/// `BasicBlock`: conv3×3 → BN → ReLU → conv3×3 → BN, plus the (possibly projected) identity, then ReLU.
#[derive(Module, Debug)]
pub struct BasicBlock<B: Backend> {
    /// First 3×3 convolution (carries the stride).
    pub conv1: Conv2d<B>,
    /// Batch norm after `conv1`.
    pub bn1: BatchNorm2d<B>,
    /// Second 3×3 convolution.
    pub conv2: Conv2d<B>,
    /// Batch norm after `conv2`.
    pub bn2: BatchNorm2d<B>,
    /// Projection shortcut when the stride is not 1 or the channel count changes.
    pub downsample: Option<Downsample<B>>,
}

impl<B: Backend> BasicBlock<B> {
    /// Loads the block at `prefix` mapping `inp` → `out` channels with `stride`.
    pub fn load(
        sd: &StateDict,
        prefix: &str,
        inp: usize,
        out: usize,
        stride: usize,
        eps: f64,
        device: &B::Device,
    ) -> Result<Self> {
        let downsample = if stride != 1 || inp != out {
            Some(Downsample {
                conv: Conv2d::load(
                    sd,
                    &format!("{prefix}.downsample.0"),
                    [out, inp, 1, 1],
                    stride,
                    0,
                    device,
                )?,
                bn: BatchNorm2d::load(sd, &format!("{prefix}.downsample.1"), out, eps, device)?,
            })
        } else {
            None
        };
        Ok(Self {
            conv1: Conv2d::load(
                sd,
                &format!("{prefix}.conv1"),
                [out, inp, 3, 3],
                stride,
                1,
                device,
            )?,
            bn1: BatchNorm2d::load(sd, &format!("{prefix}.bn1"), out, eps, device)?,
            conv2: Conv2d::load(
                sd,
                &format!("{prefix}.conv2"),
                [out, out, 3, 3],
                1,
                1,
                device,
            )?,
            bn2: BatchNorm2d::load(sd, &format!("{prefix}.bn2"), out, eps, device)?,
            downsample,
        })
    }

    /// `[N, in, H, W]` → `[N, out, H/s, W/s]`.
    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let identity = match &self.downsample {
            Some(d) => d.bn.forward(d.conv.forward(x.clone())),
            None => x.clone(),
        };
        let out = burn::tensor::activation::relu(self.bn1.forward(self.conv1.forward(x)));
        let out = self.bn2.forward(self.conv2.forward(out));
        burn::tensor::activation::relu(out + identity)
    }
}

/// `(key, shape)` of every tensor the ResNet loads under `prefix` (e.g. `audio_encoder`).
pub fn expected_tensors(cfg: &ResNetConfig, prefix: &str) -> Vec<(String, Vec<usize>)> {
    let mut v = vec![(
        format!("{prefix}.conv1.weight"),
        vec![cfg.stage_channels[0], 1, 7, 7],
    )];
    let bn = |v: &mut Vec<(String, Vec<usize>)>, p: &str, c: usize| {
        for n in ["weight", "bias", "running_mean", "running_var"] {
            v.push((format!("{p}.{n}"), vec![c]));
        }
    };
    bn(&mut v, &format!("{prefix}.bn1"), cfg.stage_channels[0]);
    let mut inp = cfg.stage_channels[0];
    for (s, (&out, &nb)) in cfg.stage_channels.iter().zip(cfg.blocks.iter()).enumerate() {
        for b in 0..nb {
            let p = format!("{prefix}.layer{}.{b}", s + 1);
            let (i, stride) = if b == 0 {
                (inp, if s == 0 { 1 } else { 2 })
            } else {
                (out, 1)
            };
            v.push((format!("{p}.conv1.weight"), vec![out, i, 3, 3]));
            bn(&mut v, &format!("{p}.bn1"), out);
            v.push((format!("{p}.conv2.weight"), vec![out, out, 3, 3]));
            bn(&mut v, &format!("{p}.bn2"), out);
            if stride != 1 || i != out {
                v.push((format!("{p}.downsample.0.weight"), vec![out, i, 1, 1]));
                bn(&mut v, &format!("{p}.downsample.1"), out);
            }
        }
        inp = out;
    }
    v
}

/// The Wav2CLIP ResNet-18 body (everything after the standardised spectrogram).
#[derive(Module, Debug)]
pub struct ResNet<B: Backend> {
    /// Stem 7×7 stride-2 convolution, 1 → 64 channels.
    pub conv1: Conv2d<B>,
    /// Stem batch norm.
    pub bn1: BatchNorm2d<B>,
    /// Stage 1 (64 channels).
    pub layer1: Vec<BasicBlock<B>>,
    /// Stage 2 (128 channels, stride 2).
    pub layer2: Vec<BasicBlock<B>>,
    /// Stage 3 (256 channels, stride 2).
    pub layer3: Vec<BasicBlock<B>>,
    /// Stage 4 (512 channels, stride 2).
    pub layer4: Vec<BasicBlock<B>>,
}

impl<B: Backend> ResNet<B> {
    /// Loads the ResNet from `sd` under `prefix`.
    pub fn load(
        sd: &StateDict,
        prefix: &str,
        cfg: &ResNetConfig,
        device: &B::Device,
    ) -> Result<Self> {
        let c0 = cfg.stage_channels[0];
        let conv1 = Conv2d::load(sd, &format!("{prefix}.conv1"), [c0, 1, 7, 7], 2, 3, device)?;
        let bn1 = BatchNorm2d::load(sd, &format!("{prefix}.bn1"), c0, cfg.bn_eps, device)?;
        let mut stages = Vec::new();
        let mut inp = c0;
        for (s, (&out, &nb)) in cfg.stage_channels.iter().zip(cfg.blocks.iter()).enumerate() {
            let mut blocks = Vec::new();
            for b in 0..nb {
                let p = format!("{prefix}.layer{}.{b}", s + 1);
                let (i, stride) = if b == 0 {
                    (inp, if s == 0 { 1 } else { 2 })
                } else {
                    (out, 1)
                };
                blocks.push(BasicBlock::load(
                    sd, &p, i, out, stride, cfg.bn_eps, device,
                )?);
            }
            stages.push(blocks);
            inp = out;
        }
        let layer4 = stages.pop().unwrap_or_default();
        let layer3 = stages.pop().unwrap_or_default();
        let layer2 = stages.pop().unwrap_or_default();
        let layer1 = stages.pop().unwrap_or_default();
        Ok(Self {
            conv1,
            bn1,
            layer1,
            layer2,
            layer3,
            layer4,
        })
    }

    /// Standardised spectrogram `[N, 1, 257, T]` → pooled features `[N, 512]`.
    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 2> {
        let x = burn::tensor::activation::relu(self.bn1.forward(self.conv1.forward(x)));
        let mut x = max_pool2d(x, [3, 3], [2, 2], [1, 1], [1, 1], false);
        for block in self
            .layer1
            .iter()
            .chain(&self.layer2)
            .chain(&self.layer3)
            .chain(&self.layer4)
        {
            x = block.forward(x);
        }
        let [n, c, h, w] = x.dims();
        x.reshape([n, c, h * w]).mean_dim(2).reshape([n, c]) // adaptive avg pool → [N, 512]
    }
}
