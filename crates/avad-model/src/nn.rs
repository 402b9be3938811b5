//! Small layers with PyTorch parameter layouts and key names (`weight` [out, in], `bias`), so that official
//! state dicts load without transposes or renames.

use burn::module::Param;
use burn::prelude::*;
use burn::tensor::activation;
use burn::tensor::module::conv1d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::Distribution;

use crate::error::Result;
use crate::state::{key, put, Loader, StateDict};

/// CLIP's QuickGELU, `x · sigmoid(1.702 x)`.
pub fn quick_gelu<B: Backend, const D: usize>(x: Tensor<B, D>) -> Tensor<B, D> {
    x.clone() * activation::sigmoid(x * 1.702)
}

/// Exact (erf) GELU, PyTorch `nn.GELU()`.
pub fn gelu<B: Backend, const D: usize>(x: Tensor<B, D>) -> Tensor<B, D> {
    activation::gelu(x)
}

/// `x / ‖x‖₂` along the last axis, without epsilon (as the official code).
pub fn l2_normalize<B: Backend, const D: usize>(x: Tensor<B, D>) -> Tensor<B, D> {
    let n = x.clone().square().sum_dim(D - 1).sqrt();
    x / n
}

pub(crate) fn uniform<B: Backend, const D: usize>(
    shape: [usize; D],
    bound: f64,
    device: &B::Device,
) -> Tensor<B, D> {
    Tensor::random(shape, Distribution::Uniform(-bound, bound), device)
}

pub(crate) fn normal<B: Backend, const D: usize>(
    shape: [usize; D],
    std: f64,
    device: &B::Device,
) -> Tensor<B, D> {
    Tensor::random(shape, Distribution::Normal(0.0, std), device)
}

/// Xavier-uniform init of a [fan_a, fan_b] matrix (PyTorch `nn.init.xavier_uniform_`).
pub(crate) fn xavier<B: Backend>(shape: [usize; 2], device: &B::Device) -> Tensor<B, 2> {
    let bound = (6.0 / (shape[0] + shape[1]) as f64).sqrt();
    uniform(shape, bound, device)
}

/// Fully connected layer `y = x Wᵀ + b` with PyTorch layout: `weight` [out, in], `bias` [out].
#[derive(Module, Debug)]
pub struct Linear<B: Backend> {
    /// [d_out, d_in]
    pub weight: Param<Tensor<B, 2>>,
    /// [d_out]
    pub bias: Option<Param<Tensor<B, 1>>>,
}

impl<B: Backend> Linear<B> {
    /// PyTorch default init: weight and bias ~ U(±1/√d_in).
    pub fn new(d_in: usize, d_out: usize, bias: bool, device: &B::Device) -> Self {
        let bound = 1.0 / (d_in as f64).sqrt();
        Self {
            weight: Param::from_tensor(uniform([d_out, d_in], bound, device)),
            bias: bias.then(|| Param::from_tensor(uniform([d_out], bound, device))),
        }
    }

    /// Loads `{prefix}.weight` [d_out, d_in] and, if `bias`, `{prefix}.bias`.
    pub fn load(
        l: &mut Loader<B>,
        prefix: &str,
        d_in: usize,
        d_out: usize,
        bias: bool,
    ) -> Result<Self> {
        Ok(Self {
            weight: l.param(&key(prefix, "weight"), [d_out, d_in])?,
            bias: if bias {
                Some(l.param(&key(prefix, "bias"), [d_out])?)
            } else {
                None
            },
        })
    }

    /// Writes the parameters under `prefix`.
    pub fn save(&self, prefix: &str, out: &mut StateDict) {
        put(out, key(prefix, "weight"), &self.weight);
        if let Some(b) = &self.bias {
            put(out, key(prefix, "bias"), b);
        }
    }

    /// Applies the layer to the last axis: [..., d_in] → [..., d_out].
    pub fn forward<const D: usize>(&self, x: Tensor<B, D>) -> Tensor<B, D> {
        let dims = x.dims();
        let [d_out, d_in] = self.weight.dims();
        let rows: usize = dims[..D - 1].iter().product();
        let y = x
            .reshape([rows, d_in])
            .matmul(self.weight.val().transpose()); // [rows, d_out]
        let y = match &self.bias {
            Some(b) => y + b.val().unsqueeze_dim::<2>(0),
            None => y,
        };
        let mut out_dims = dims;
        out_dims[D - 1] = d_out;
        y.reshape(out_dims)
    }
}

/// LayerNorm over the last axis, computed in f32 with eps 1e-5 (PyTorch `nn.LayerNorm` defaults).
#[derive(Module, Debug)]
pub struct LayerNorm<B: Backend> {
    /// [d] scale.
    pub weight: Param<Tensor<B, 1>>,
    /// [d] shift.
    pub bias: Param<Tensor<B, 1>>,
}

impl<B: Backend> LayerNorm<B> {
    /// Ones / zeros init.
    pub fn new(d: usize, device: &B::Device) -> Self {
        Self {
            weight: Param::from_tensor(Tensor::ones([d], device)),
            bias: Param::from_tensor(Tensor::zeros([d], device)),
        }
    }

    /// Loads `{prefix}.weight` and `{prefix}.bias`.
    pub fn load(l: &mut Loader<B>, prefix: &str, d: usize) -> Result<Self> {
        Ok(Self {
            weight: l.param(&key(prefix, "weight"), [d])?,
            bias: l.param(&key(prefix, "bias"), [d])?,
        })
    }

    /// Writes the parameters under `prefix`.
    pub fn save(&self, prefix: &str, out: &mut StateDict) {
        put(out, key(prefix, "weight"), &self.weight);
        put(out, key(prefix, "bias"), &self.bias);
    }

    /// Normalises the last axis (biased variance, eps 1e-5).
    pub fn forward<const D: usize>(&self, x: Tensor<B, D>) -> Tensor<B, D> {
        let mean = x.clone().mean_dim(D - 1);
        let xc = x - mean;
        let var = xc.clone().square().mean_dim(D - 1);
        let y = xc / (var + 1e-5).sqrt();
        let shape = {
            let mut s = [1usize; D];
            s[D - 1] = self.weight.dims()[0];
            s
        };
        y * self.weight.val().reshape(shape) + self.bias.val().reshape(shape)
    }
}

/// 1-D convolution over [B, C, T] with PyTorch layout `weight` [out, in, k], `bias` [out].
#[derive(Module, Debug)]
pub struct Conv1d<B: Backend> {
    /// [c_out, c_in, k]
    pub weight: Param<Tensor<B, 3>>,
    /// [c_out]
    pub bias: Option<Param<Tensor<B, 1>>>,
    /// Zero padding on both sides.
    pub padding: usize,
    /// Dilation.
    pub dilation: usize,
}

impl<B: Backend> Conv1d<B> {
    /// PyTorch default init: U(±1/√(c_in·k)) for weight and bias.
    pub fn new(
        c_in: usize,
        c_out: usize,
        k: usize,
        padding: usize,
        dilation: usize,
        device: &B::Device,
    ) -> Self {
        let bound = 1.0 / ((c_in * k) as f64).sqrt();
        Self {
            weight: Param::from_tensor(uniform([c_out, c_in, k], bound, device)),
            bias: Some(Param::from_tensor(uniform([c_out], bound, device))),
            padding,
            dilation,
        }
    }

    /// Loads `{prefix}.weight` [c_out, c_in, k] and `{prefix}.bias`.
    pub fn load(
        l: &mut Loader<B>,
        prefix: &str,
        shape: [usize; 3],
        padding: usize,
        dilation: usize,
    ) -> Result<Self> {
        Ok(Self {
            weight: l.param(&key(prefix, "weight"), shape)?,
            bias: Some(l.param(&key(prefix, "bias"), [shape[0]])?),
            padding,
            dilation,
        })
    }

    /// Writes the parameters under `prefix`.
    pub fn save(&self, prefix: &str, out: &mut StateDict) {
        put(out, key(prefix, "weight"), &self.weight);
        if let Some(b) = &self.bias {
            put(out, key(prefix, "bias"), b);
        }
    }

    /// [B, c_in, T] → [B, c_out, T + 2·padding − dilation·(k−1)].
    pub fn forward(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        conv1d(
            x,
            self.weight.val(),
            self.bias.as_ref().map(|b| b.val()),
            ConvOptions::new([1], [self.padding], [self.dilation], 1),
        )
    }
}

/// Two-layer MLP `c_proj(QuickGELU(c_fc(x)))`, the CLIP block MLP and VadCLIP's `mlp1` / `mlp2`.
#[derive(Module, Debug)]
pub struct Mlp<B: Backend> {
    /// Linear(d → 4d).
    pub c_fc: Linear<B>,
    /// Linear(4d → d).
    pub c_proj: Linear<B>,
}

impl<B: Backend> Mlp<B> {
    /// PyTorch default init.
    pub fn new(d: usize, hidden: usize, device: &B::Device) -> Self {
        Self {
            c_fc: Linear::new(d, hidden, true, device),
            c_proj: Linear::new(hidden, d, true, device),
        }
    }

    /// Loads `{prefix}.c_fc.*` and `{prefix}.c_proj.*`.
    pub fn load(l: &mut Loader<B>, prefix: &str, d: usize, hidden: usize) -> Result<Self> {
        Ok(Self {
            c_fc: Linear::load(l, &key(prefix, "c_fc"), d, hidden, true)?,
            c_proj: Linear::load(l, &key(prefix, "c_proj"), hidden, d, true)?,
        })
    }

    /// Writes the parameters under `prefix`.
    pub fn save(&self, prefix: &str, out: &mut StateDict) {
        self.c_fc.save(&key(prefix, "c_fc"), out);
        self.c_proj.save(&key(prefix, "c_proj"), out);
    }

    /// [..., d] → [..., d].
    pub fn forward<const D: usize>(&self, x: Tensor<B, D>) -> Tensor<B, D> {
        self.c_proj.forward(quick_gelu(self.c_fc.forward(x)))
    }
}
