//! AVadCLIP's audio temporal adapter (`src/TCN.py`: `TemporalConvNet(512, [512, 512, 512])`): causal,
//! weight-normalised dilated convolutions (kernel 2, dilations 1/2/4), residual `ReLU(out + x)`.

use burn::module::Param;
use burn::prelude::*;
use burn::tensor::activation::relu;
use burn::tensor::module::conv1d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::Distribution;
use serde::{Deserialize, Serialize};

use avad_nn::init::{uniform, Init};
use avad_nn::{VisitWeights, WeightVisitor};

use crate::error::{ModelError, Result};
use crate::nn::{conv1d_taps, Conv1d};

/// Hyperparameters of the audio TCN.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AudioTcnConfig {
    /// Input feature width (Wav2CLIP: 512).
    pub input_width: usize,
    /// Output channels of each level (official: [512, 512, 512]; level i has dilation 2^i).
    pub channels: Vec<usize>,
    /// Convolution kernel size (official: 2).
    pub kernel_size: usize,
    /// Dropout after each ReLU, active only in training (autodiff backend). Official: 0.1.
    pub dropout: f64,
}

impl Default for AudioTcnConfig {
    fn default() -> Self {
        Self {
            input_width: 512,
            channels: vec![512, 512, 512],
            kernel_size: 2,
            dropout: 0.1,
        }
    }
}

/// Inverted dropout that is active only when the backend records gradients (training).
pub fn dropout<B: Backend, const D: usize>(x: Tensor<B, D>, prob: f64) -> Tensor<B, D> {
    if prob <= 0.0 || !B::ad_enabled(&x.device()) {
        return x;
    }
    let keep = Tensor::<B, D>::random(x.shape(), Distribution::Bernoulli(1.0 - prob), &x.device());
    x * keep / (1.0 - prob)
}

/// `weight_norm(nn.Conv1d(...))`: effective weight `g · v / ‖v‖`, norm per output channel over (in, k).
#[derive(Module, Debug)]
pub struct WeightNormConv1d<B: Backend> {
    /// [out, 1, 1] gain.
    pub weight_g: Param<Tensor<B, 3>>,
    /// [out, in, k] direction.
    pub weight_v: Param<Tensor<B, 3>>,
    /// [out]
    pub bias: Param<Tensor<B, 1>>,
    /// Dilation.
    pub dilation: usize,
}

impl<B: Backend> WeightNormConv1d<B> {
    /// PyTorch init: `v` and bias from the default Conv1d init, `g = ‖v‖` (so the effective weight equals `v`),
    /// or placeholders.
    pub fn new(
        c_in: usize,
        c_out: usize,
        k: usize,
        dilation: usize,
        init: Init,
        device: &B::Device,
    ) -> Self {
        if init == Init::Placeholder {
            return Self {
                weight_g: init.param([c_out, 1, 1], device, || unreachable!()),
                weight_v: init.param([c_out, c_in, k], device, || unreachable!()),
                bias: init.param([c_out], device, || unreachable!()),
                dilation,
            };
        }
        let bound = 1.0 / ((c_in * k) as f64).sqrt();
        let v: Tensor<B, 3> = uniform([c_out, c_in, k], bound, device);
        let g = v.clone().square().sum_dim(2).sum_dim(1).sqrt();
        Self {
            weight_g: Param::from_tensor(g),
            weight_v: Param::from_tensor(v),
            bias: Param::from_tensor(uniform([c_out], bound, device)),
            dilation,
        }
    }

    /// The effective convolution weight [out, in, k].
    pub fn weight(&self) -> Tensor<B, 3> {
        let v = self.weight_v.val();
        let norm = v.clone().square().sum_dim(2).sum_dim(1).sqrt(); // [out, 1, 1]
        v * (self.weight_g.val() / norm)
    }

    /// Causal convolution [B, T, in] → [B, T, out]: PyTorch's conv1d with padding (k−1)·d and the right end
    /// chomped, `y[t] = b + Σ_j W[:, :, j] · x[t − (k−1−j)·d]` (zero before the start). Computed on the left-padded
    /// input as one GEMM per kernel tap ([`conv1d_taps`]; taps that only ever see the padding are skipped), which
    /// is several times faster on the CPU backend than its direct `conv1d` (docs/benchmarks.md);
    /// [`Self::forward_conv1d`] is the reference it is tested against.
    pub fn forward(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        let [b, t, c_in] = x.dims();
        let k = self.weight_v.dims()[2];
        let pad = (k - 1) * self.dilation;
        let x = if pad > 0 {
            let zeros = Tensor::zeros([b, pad, c_in], &x.device());
            Tensor::cat(vec![zeros, x], 1) // [B, pad + T, in]
        } else {
            x
        };
        // Tap j reads x[t − (k−1−j)·d]: with a shift ≥ T it reads only zeros.
        let first_tap = (0..k)
            .find(|&j| (k - 1 - j) * self.dilation < t)
            .unwrap_or(k - 1);
        conv1d_taps(
            x,
            self.weight(),
            Some(self.bias.val()),
            self.dilation,
            first_tap,
        )
    }

    /// The same convolution through burn's `conv1d` on [B, in, T] → [B, out, T] (reference for tests).
    pub fn forward_conv1d(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        let [_, _, t] = x.dims();
        let k = self.weight_v.dims()[2];
        let pad = (k - 1) * self.dilation;
        let y = conv1d(
            x,
            self.weight(),
            Some(self.bias.val()),
            ConvOptions::new([1], [pad], [self.dilation], 1),
        );
        y.narrow(2, 0, t)
    }
}

/// `TemporalBlock`: conv1 → chomp → ReLU → dropout → conv2 → chomp → ReLU → dropout, then `ReLU(out + x)`.
#[derive(Module, Debug)]
pub struct TemporalBlock<B: Backend> {
    /// First causal convolution.
    pub conv1: WeightNormConv1d<B>,
    /// Second causal convolution.
    pub conv2: WeightNormConv1d<B>,
    /// 1×1 projection of the residual when in ≠ out (`downsample`); absent in the official 512→512 model.
    pub downsample: Option<Conv1d<B>>,
    /// Dropout probability (training only).
    pub dropout: f64,
}

impl<B: Backend> TemporalBlock<B> {
    /// [B, T, in] → [B, T, out].
    pub fn forward(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        let out = dropout(relu(self.conv1.forward(x.clone())), self.dropout);
        let out = dropout(relu(self.conv2.forward(out)), self.dropout);
        let res = match &self.downsample {
            Some(d) => d.forward_time_major(x), // 1×1 conv along time, [B, T, out]
            None => x,
        };
        relu(out + res)
    }
}

/// `TemporalConvNet`: the stack of [`TemporalBlock`]s (`network.N`), applied to [B, T, C] features.
#[derive(Module, Debug)]
pub struct TemporalConvNet<B: Backend> {
    /// Level i has dilation 2^i.
    pub network: Vec<TemporalBlock<B>>,
}

impl<B: Backend> TemporalConvNet<B> {
    fn check(cfg: &AudioTcnConfig) -> Result<()> {
        if cfg.kernel_size < 1 || cfg.channels.is_empty() || !(0.0..1.0).contains(&cfg.dropout) {
            return Err(ModelError::Config(format!("bad audio TCN config {cfg:?}")));
        }
        Ok(())
    }

    /// Freshly initialised TCN (or placeholders).
    pub fn new(cfg: &AudioTcnConfig, init: Init, device: &B::Device) -> Result<Self> {
        Self::check(cfg)?;
        let mut network = Vec::new();
        let mut c_in = cfg.input_width;
        for (i, &c_out) in cfg.channels.iter().enumerate() {
            let d = 1 << i;
            let k = cfg.kernel_size;
            network.push(TemporalBlock {
                conv1: WeightNormConv1d::new(c_in, c_out, k, d, init, device),
                conv2: WeightNormConv1d::new(c_out, c_out, k, d, init, device),
                downsample: (c_in != c_out).then(|| {
                    let mut c = Conv1d::new([c_out, c_in, 1], 0, 1, init, device);
                    if init == Init::Random {
                        c.weight = Param::from_tensor(Tensor::random(
                            [c_out, c_in, 1],
                            Distribution::Normal(0.0, 0.01),
                            device,
                        ));
                    }
                    c
                }),
                dropout: cfg.dropout,
            });
            c_in = c_out;
        }
        Ok(Self { network })
    }

    /// Audio features [B, T, C_in] → [B, T, C_out].
    pub fn forward(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        let mut h = x; // [B, T, C]
        for b in &self.network {
            h = b.forward(h);
        }
        h
    }
}

impl<B: Backend> VisitWeights for WeightNormConv1d<B> {
    fn visit_weights(&mut self, v: &mut WeightVisitor<'_>) {
        v.param("bias", &mut self.bias);
        v.param("weight_g", &mut self.weight_g);
        v.param("weight_v", &mut self.weight_v);
    }
}

/// Keys `network.N.conv{1,2}.*`, each also under the alias PyTorch registers for it (`net.0`, `net.4`: the
/// `nn.Sequential` of `TCN.py` holds the same modules), and `network.N.downsample.*` when needed.
impl<B: Backend> VisitWeights for TemporalConvNet<B> {
    fn visit_weights(&mut self, v: &mut WeightVisitor<'_>) {
        for (i, b) in self.network.iter_mut().enumerate() {
            v.scope(&format!("network.{i}"), |v| {
                v.nested_aliases(&["conv1", "net.0"], &mut b.conv1);
                v.nested_aliases(&["conv2", "net.4"], &mut b.conv2);
                v.nested("downsample", &mut b.downsample);
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Distribution;

    type B = burn_flex::Flex;

    /// The per-tap GEMM form equals burn's conv1d (PyTorch semantics) for every kernel size, dilation and length,
    /// including videos shorter than the dilation.
    #[test]
    fn tap_gemms_equal_conv1d() {
        let dev = Default::default();
        for (k, dilation) in [(2, 1), (2, 2), (2, 4), (3, 2)] {
            for t in [1, 3, 5, 17] {
                let conv = WeightNormConv1d::<B> {
                    weight_g: Param::from_tensor(Tensor::random(
                        [6, 1, 1],
                        Distribution::Normal(0.0, 1.0),
                        &dev,
                    )),
                    weight_v: Param::from_tensor(Tensor::random(
                        [6, 5, k],
                        Distribution::Normal(0.0, 1.0),
                        &dev,
                    )),
                    bias: Param::from_tensor(Tensor::random(
                        [6],
                        Distribution::Normal(0.0, 1.0),
                        &dev,
                    )),
                    dilation,
                };
                let x = Tensor::<B, 3>::random([2, t, 5], Distribution::Normal(0.0, 1.0), &dev);
                let fast = conv.forward(x.clone()); // [B, T, out]
                let reference = conv.forward_conv1d(x.swap_dims(1, 2)).swap_dims(1, 2);
                let err = (fast - reference)
                    .abs()
                    .max()
                    .into_data()
                    .to_vec::<f32>()
                    .unwrap()[0];
                assert!(err < 1e-5, "k {k} dilation {dilation} T {t}: {err}");
            }
        }
    }
}
