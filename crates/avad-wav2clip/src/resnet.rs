//! ResNet-18 on a one-channel spectrogram (`wav2clip/model/resnet.py`, `ResNet(BasicBlock, [2, 2, 2, 2])`), in
//! eval mode: batch norm uses the running statistics (eps 1e-5). Field names follow the state-dict keys under
//! `audio_encoder.`; `downsample.0` / `downsample.1` map to [`Downsample::conv`] / [`Downsample::bn`].

use avad_nn::init::placeholder;
use avad_nn::{VisitWeights, WeightVisitor};
use burn::module::{Module, Param};
use burn::tensor::backend::Backend;
use burn::tensor::module::{conv2d, max_pool2d};
use burn::tensor::ops::ConvOptions;
use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

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
    /// A skeleton of `shape` `[out, in, k, k]` to load weights into.
    pub fn placeholder(
        shape: [usize; 4],
        stride: usize,
        padding: usize,
        device: &B::Device,
    ) -> Self {
        Self {
            weight: placeholder(shape, device),
            stride,
            padding,
        }
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
    /// A skeleton of `c` channels to load weights into.
    pub fn placeholder(c: usize, eps: f64, device: &B::Device) -> Self {
        Self {
            weight: placeholder([c], device),
            bias: placeholder([c], device),
            running_mean: placeholder([c], device),
            running_var: placeholder([c], device),
            eps,
        }
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
    /// A skeleton `inp → out` channels with `stride` (and the projection shortcut when either changes).
    pub fn placeholder(
        inp: usize,
        out: usize,
        stride: usize,
        eps: f64,
        device: &B::Device,
    ) -> Self {
        Self {
            conv1: Conv2d::placeholder([out, inp, 3, 3], stride, 1, device),
            bn1: BatchNorm2d::placeholder(out, eps, device),
            conv2: Conv2d::placeholder([out, out, 3, 3], 1, 1, device),
            bn2: BatchNorm2d::placeholder(out, eps, device),
            downsample: (stride != 1 || inp != out).then(|| Downsample {
                conv: Conv2d::placeholder([out, inp, 1, 1], stride, 0, device),
                bn: BatchNorm2d::placeholder(out, eps, device),
            }),
        }
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
    /// A skeleton of `cfg`'s shape to load weights into.
    pub fn placeholder(cfg: &ResNetConfig, device: &B::Device) -> Self {
        let c0 = cfg.stage_channels[0];
        let mut stages = Vec::new();
        let mut inp = c0;
        for (s, (&out, &nb)) in cfg.stage_channels.iter().zip(cfg.blocks.iter()).enumerate() {
            let blocks = (0..nb)
                .map(|b| {
                    let (i, stride) = if b == 0 {
                        (inp, if s == 0 { 1 } else { 2 })
                    } else {
                        (out, 1)
                    };
                    BasicBlock::placeholder(i, out, stride, cfg.bn_eps, device)
                })
                .collect();
            stages.push(blocks);
            inp = out;
        }
        let mut stages = stages.into_iter();
        let mut next = || stages.next().unwrap_or_default();
        Self {
            conv1: Conv2d::placeholder([c0, 1, 7, 7], 2, 3, device),
            bn1: BatchNorm2d::placeholder(c0, cfg.bn_eps, device),
            layer1: next(),
            layer2: next(),
            layer3: next(),
            layer4: next(),
        }
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

impl<B: Backend> VisitWeights for Conv2d<B> {
    fn visit_weights(&mut self, v: &mut WeightVisitor<'_>) {
        v.param("weight", &mut self.weight);
    }
}

impl<B: Backend> VisitWeights for BatchNorm2d<B> {
    fn visit_weights(&mut self, v: &mut WeightVisitor<'_>) {
        v.param("weight", &mut self.weight);
        v.param("bias", &mut self.bias);
        v.param("running_mean", &mut self.running_mean);
        v.param("running_var", &mut self.running_var);
    }
}

/// Keys `downsample.0` (the conv) and `downsample.1` (the batch norm).
impl<B: Backend> VisitWeights for Downsample<B> {
    fn visit_weights(&mut self, v: &mut WeightVisitor<'_>) {
        v.nested("0", &mut self.conv);
        v.nested("1", &mut self.bn);
    }
}

impl<B: Backend> VisitWeights for BasicBlock<B> {
    fn visit_weights(&mut self, v: &mut WeightVisitor<'_>) {
        v.nested("conv1", &mut self.conv1);
        v.nested("bn1", &mut self.bn1);
        v.nested("conv2", &mut self.conv2);
        v.nested("bn2", &mut self.bn2);
        v.nested("downsample", &mut self.downsample);
    }
}

/// Keys `conv1`, `bn1`, `layer{1..4}.N.*` (`num_batches_tracked` is not read).
impl<B: Backend> VisitWeights for ResNet<B> {
    fn visit_weights(&mut self, v: &mut WeightVisitor<'_>) {
        v.nested("conv1", &mut self.conv1);
        v.nested("bn1", &mut self.bn1);
        for (name, stage) in [
            ("layer1", &mut self.layer1),
            ("layer2", &mut self.layer2),
            ("layer3", &mut self.layer3),
            ("layer4", &mut self.layer4),
        ] {
            for (i, block) in stage.iter_mut().enumerate() {
                v.nested(&format!("{name}.{i}"), block);
            }
        }
    }
}
