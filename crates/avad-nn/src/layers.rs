//! The layers every network of avad uses, with PyTorch's parameter layouts and key names, so that weight files load
//! without renames: [`Linear`] (`weight` `[out, in]`, `bias`), [`LayerNorm`] (`weight`, `bias`), and the
//! activations.

use burn::module::{Module, Param};
use burn::tensor::{activation, backend::Backend, Tensor};

use crate::init::{placeholder, uniform, Init};
use crate::params::{VisitWeights, WeightVisitor};

/// CLIP's QuickGELU, `x · sigmoid(1.702 x)`.
pub fn quick_gelu<B: Backend, const D: usize>(x: Tensor<B, D>) -> Tensor<B, D> {
    x.clone() * activation::sigmoid(x * 1.702)
}

/// Exact (erf) GELU, PyTorch `nn.GELU()`.
pub fn gelu<B: Backend, const D: usize>(x: Tensor<B, D>) -> Tensor<B, D> {
    activation::gelu(x)
}

/// Affine map `y = x Wᵀ + b` on the last axis, PyTorch `nn.Linear` layout: `weight` `[out, in]`, `bias` `[out]`.
#[derive(Module, Debug)]
pub struct Linear<B: Backend> {
    /// `[d_out, d_in]`.
    pub weight: Param<Tensor<B, 2>>,
    /// `[d_out]`.
    pub bias: Option<Param<Tensor<B, 1>>>,
}

impl<B: Backend> Linear<B> {
    /// PyTorch's default init: weight and bias ~ U(±1/√d_in).
    pub fn new(d_in: usize, d_out: usize, bias: bool, device: &B::Device) -> Self {
        let bound = 1.0 / (d_in as f64).sqrt();
        Self {
            weight: Param::from_tensor(uniform([d_out, d_in], bound, device)),
            bias: bias.then(|| Param::from_tensor(uniform([d_out], bound, device))),
        }
    }

    /// A skeleton to load weights into (allocates nothing until read).
    pub fn placeholder(d_in: usize, d_out: usize, bias: bool, device: &B::Device) -> Self {
        Self {
            weight: placeholder([d_out, d_in], device),
            bias: bias.then(|| placeholder([d_out], device)),
        }
    }

    /// [`Linear::new`] or [`Linear::placeholder`], as `init` says.
    pub fn init(d_in: usize, d_out: usize, bias: bool, init: Init, device: &B::Device) -> Self {
        match init {
            Init::Random => Self::new(d_in, d_out, bias, device),
            Init::Placeholder => Self::placeholder(d_in, d_out, bias, device),
        }
    }

    /// Output width.
    pub fn d_out(&self) -> usize {
        self.weight.lazy_shape().dims::<2>()[0]
    }

    /// `[..., d_in] → [..., d_out]`.
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

impl<B: Backend> VisitWeights for Linear<B> {
    fn visit_weights(&mut self, v: &mut WeightVisitor<'_>) {
        v.param("weight", &mut self.weight);
        if let Some(b) = &mut self.bias {
            v.param("bias", b);
        }
    }
}

/// LayerNorm over the last axis (biased variance, as PyTorch).
#[derive(Module, Debug)]
pub struct LayerNorm<B: Backend> {
    /// `[D]` scale.
    pub weight: Param<Tensor<B, 1>>,
    /// `[D]` shift.
    pub bias: Param<Tensor<B, 1>>,
    /// Epsilon added to the variance.
    pub eps: f64,
}

impl<B: Backend> LayerNorm<B> {
    /// Ones / zeros init (PyTorch's).
    pub fn new(d: usize, eps: f64, device: &B::Device) -> Self {
        Self {
            weight: Param::from_tensor(Tensor::ones([d], device)),
            bias: Param::from_tensor(Tensor::zeros([d], device)),
            eps,
        }
    }

    /// A skeleton to load weights into.
    pub fn placeholder(d: usize, eps: f64, device: &B::Device) -> Self {
        Self {
            weight: placeholder([d], device),
            bias: placeholder([d], device),
            eps,
        }
    }

    /// [`LayerNorm::new`] or [`LayerNorm::placeholder`], as `init` says.
    pub fn init(d: usize, eps: f64, init: Init, device: &B::Device) -> Self {
        match init {
            Init::Random => Self::new(d, eps, device),
            Init::Placeholder => Self::placeholder(d, eps, device),
        }
    }

    /// Normalises the last axis of `x`.
    pub fn forward<const D: usize>(&self, x: Tensor<B, D>) -> Tensor<B, D> {
        let (var, mean) = x.clone().var_mean_bias(D - 1);
        let x = (x - mean) / (var + self.eps).sqrt();
        let w = self.weight.val().unsqueeze::<D>();
        let b = self.bias.val().unsqueeze::<D>();
        x * w + b
    }
}

impl<B: Backend> VisitWeights for LayerNorm<B> {
    fn visit_weights(&mut self, v: &mut WeightVisitor<'_>) {
        v.param("weight", &mut self.weight);
        v.param("bias", &mut self.bias);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::{load_weights, save_weights};
    use crate::weights::WeightMap;
    use burn::tensor::TensorData;

    type B = burn_flex::Flex;

    #[test]
    fn linear_matches_pytorch_layout_and_round_trips() {
        let dev = Default::default();
        let mut w = WeightMap::with_source("mem");
        // weight [out=2, in=3], bias [2]
        w.insert_f32("fc.weight", vec![2, 3], vec![1., 2., 3., 4., 5., 6.]);
        w.insert_f32("fc.bias", vec![2], vec![0.5, -1.0]);
        w.insert_f32("other", vec![1], vec![0.0]);
        let mut lin = Linear::<B>::placeholder(3, 2, true, &dev);
        let report = load_weights(&mut lin, &w, "fc.").unwrap();
        assert!(report.unused_keys.is_empty(), "{report:?}");
        let x = Tensor::<B, 2>::from_data(TensorData::new(vec![1f32, 0., -1.], [1, 3]), &dev);
        let y = lin.forward(x).into_data().to_vec::<f32>().unwrap();
        assert_eq!(y, vec![1. - 3. + 0.5, 4. - 6. - 1.0]);
        let saved = save_weights(&lin, "fc.");
        assert_eq!(
            saved.f32_values("fc.weight").unwrap(),
            vec![1., 2., 3., 4., 5., 6.]
        );
        assert_eq!(saved.shape("fc.weight").unwrap(), vec![2, 3]);

        let mut wrong = Linear::<B>::placeholder(2, 3, true, &dev);
        let e = load_weights(&mut wrong, &w, "fc.").unwrap_err().to_string();
        assert!(e.contains("fc.weight") && e.contains("[3, 2]"), "{e}");
        let mut missing = Linear::<B>::placeholder(3, 2, true, &dev);
        let e = load_weights(&mut missing, &w, "gc.")
            .unwrap_err()
            .to_string();
        assert!(e.contains("gc.weight"), "{e}");
    }

    #[test]
    fn layer_norm_normalises_last_axis() {
        let dev = Default::default();
        let ln = LayerNorm::<B>::new(2, 1e-5, &dev);
        let x = Tensor::<B, 2>::from_data(TensorData::new(vec![1f32, 3.], [1, 2]), &dev);
        let y = ln.forward(x).into_data().to_vec::<f32>().unwrap();
        assert!(
            (y[0] + 1.0).abs() < 1e-4 && (y[1] - 1.0).abs() < 1e-4,
            "{y:?}"
        );
    }
}
