//! Regression: a saturated probability (exactly 0 or 1 in f32) must not turn the BCE gradient into NaN.

use avad_model::losses::binary_cross_entropy;
use burn::backend::Autodiff;
use burn::prelude::*;
use burn_flex::Flex;

type AB = Autodiff<Flex>;

#[test]
fn saturated_probabilities_give_finite_loss_and_gradient() {
    let device = Default::default();
    let p = Tensor::<AB, 1>::from_floats([0.0, 1.0, 0.3, 1.0], &device).require_grad();
    let y = Tensor::<AB, 1>::from_floats([1.0, 0.0, 1.0, 1.0], &device);
    let loss = binary_cross_entropy(p.clone(), y);
    let value: f32 = loss.clone().into_scalar();
    assert!(value.is_finite(), "loss {value}");
    let grads = loss.backward();
    let g = p.grad(&grads).unwrap().into_data().to_vec::<f32>().unwrap();
    assert!(g.iter().all(|v| v.is_finite()), "gradient {g:?}");
    // The unsaturated entry keeps PyTorch's gradient: d/dp mean(-log p) = -1/(4·0.3).
    assert!((g[2] - (-1.0 / (4.0 * 0.3))).abs() < 1e-5, "{g:?}");
}
