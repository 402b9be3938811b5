//! Gradients reach the input embeddings through a frozen text tower (learnable prompts, VadCLIP `src/model.py: encode_textprompt`).

use std::path::Path;

use avad_clip::ClipTextModel;
use burn::module::Module;
use burn::tensor::{Distribution, Tensor};

type AD = burn::backend::Autodiff<burn_flex::Flex>;

#[test]
fn gradient_flows_to_embeddings_not_weights() {
    let dev = Default::default();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/clip/tiny_hf");
    let text = ClipTextModel::<AD>::load(&dir, "", &dev).unwrap().no_grad();
    let prompt =
        Tensor::<AD, 3>::random([2, 77, 32], Distribution::Normal(0.0, 0.1), &dev).require_grad();
    let out = text.encode_embeddings(prompt.clone(), &[6, 20]).unwrap(); // [2, 24]
    let grads = (out.clone() * out).sum().backward();

    let g = prompt.grad(&grads).expect("embeddings get a gradient");
    let g: Vec<f32> = g.into_data().iter::<f32>().collect();
    let (l, d) = (77, 32);
    let row_norm = |b: usize, t: usize| -> f32 {
        g[(b * l + t) * d..(b * l + t + 1) * d]
            .iter()
            .map(|x| x.abs())
            .sum()
    };
    assert!(
        row_norm(0, 0) > 0.0 && row_norm(0, 6) > 0.0,
        "positions up to EOT get a gradient"
    );
    assert!(row_norm(1, 20) > 0.0);
    // Causal mask: positions after the EOT cannot influence it.
    assert_eq!(row_norm(0, 7), 0.0);
    assert_eq!(row_norm(1, 21), 0.0);

    assert!(
        text.token_embedding.val().grad(&grads).is_none(),
        "frozen table"
    );
    assert!(
        text.position_embedding.val().grad(&grads).is_none(),
        "frozen positions"
    );
    let l0 = &text.encoder.layers[0];
    assert!(
        l0.self_attn.q_proj.weight.val().grad(&grads).is_none(),
        "frozen attention"
    );
    assert!(l0.mlp.fc1.weight.val().grad(&grads).is_none(), "frozen mlp");
    assert!(
        text.text_projection.weight.val().grad(&grads).is_none(),
        "frozen projection"
    );
}

#[test]
fn gradient_matches_finite_difference() {
    let dev = Default::default();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/clip/tiny_hf");
    let text = ClipTextModel::<AD>::load(&dir, "", &dev).unwrap().no_grad();
    let base = Tensor::<AD, 3>::random([1, 8, 32], Distribution::Normal(0.0, 0.3), &dev);
    let f =
        |x: Tensor<AD, 3>| -> f32 { text.encode_embeddings(x, &[7]).unwrap().sum().into_scalar() };
    let x = base.clone().require_grad();
    let grads = text
        .encode_embeddings(x.clone(), &[7])
        .unwrap()
        .sum()
        .backward();
    let g: Vec<f32> = x.grad(&grads).unwrap().into_data().iter::<f32>().collect();
    let v: Vec<f32> = base.clone().into_data().iter::<f32>().collect();
    for &i in &[3usize, 40, 100, 200, 255] {
        let h = 1e-2;
        let mut p = v.clone();
        p[i] += h;
        let mut m = v.clone();
        m[i] -= h;
        let mk = |d: Vec<f32>| {
            Tensor::<AD, 3>::from_data(burn::tensor::TensorData::new(d, [1, 8, 32]), &dev)
        };
        let fd = (f(mk(p)) - f(mk(m))) / (2.0 * h);
        let err = (fd - g[i]).abs() / (fd.abs().max(g[i].abs()).max(1e-2));
        assert!(err < 2e-2, "element {i}: analytic {} vs numeric {fd}", g[i]);
    }
}
