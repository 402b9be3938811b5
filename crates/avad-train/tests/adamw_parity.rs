//! AdamW parity with PyTorch (`tools/make_adamw_fixture.py` → `fixtures/train/adamw.safetensors`): 5 steps, two
//! settings, through a real `backward()`; plus frozen and unused parameters are left untouched.

use avad_nn::WeightMap;
use avad_train::{AdamW, AdamWConfig, MultiStepLr};
use burn::module::{Module, Param};
use burn::optim::GradientsParams;
use burn::prelude::*;

type B = burn::backend::Autodiff<burn_flex::Flex>;

#[derive(Module, Debug)]
struct Toy<B: Backend> {
    w: Param<Tensor<B, 2>>,
    b: Param<Tensor<B, 1>>,
    c: Param<Tensor<B, 3>>,
    frozen: Param<Tensor<B, 1>>,
    unused: Param<Tensor<B, 1>>,
}

fn fixture() -> WeightMap {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fixtures/train/adamw.safetensors"
    );
    WeightMap::load_safetensors(path).expect("fixture (run tools/make_adamw_fixture.py)")
}

fn t<const D: usize>(sd: &WeightMap, name: &str) -> Tensor<B, D> {
    let data = sd
        .get(name)
        .unwrap_or_else(|| panic!("missing {name}"))
        .clone();
    Tensor::from_data(data.convert::<f32>(), &Default::default())
}

fn max_diff<const D: usize>(a: Tensor<B, D>, b: Tensor<B, D>) -> f32 {
    let v = |t: Tensor<B, D>| t.into_data().to_vec::<f32>().unwrap();
    avad_core::testing::max_abs_diff(&v(a), &v(b))
}

fn run(name: &str, base_lr: f64, weight_decay: f64, schedule: Option<MultiStepLr>) {
    let sd = fixture();
    let dev = Default::default();
    let mut model = Toy::<B> {
        w: Param::from_tensor(t(&sd, "init.w")),
        b: Param::from_tensor(t(&sd, "init.b")),
        c: Param::from_tensor(t(&sd, "init.c")),
        frozen: Param::from_tensor(Tensor::ones([4], &dev)).set_require_grad(false),
        unused: Param::from_tensor(Tensor::ones([2], &dev)),
    };
    let mut opt = AdamW::<burn_flex::Flex>::new(AdamWConfig {
        weight_decay,
        ..AdamWConfig::default()
    });
    for k in 0..5 {
        // Loss Σ <p, G_k> (+ the frozen parameter, which must get no update): grad = G_k.
        let loss = (model.w.val() * t::<2>(&sd, &format!("grad.{k}.w"))).sum()
            + (model.b.val() * t::<1>(&sd, &format!("grad.{k}.b"))).sum()
            + (model.c.val() * t::<3>(&sd, &format!("grad.{k}.c"))).sum()
            + model.frozen.val().sum();
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        let lr = schedule.as_ref().map(|s| s.lr_at(k)).unwrap_or(base_lr);
        let want_lr: f64 = sd
            .get(&format!("{name}.lr.{k}"))
            .unwrap()
            .to_vec::<f64>()
            .unwrap()[0];
        assert!(
            (lr - want_lr).abs() < 1e-15,
            "lr at step {k}: {lr} vs {want_lr}"
        );
        model = opt.step(lr, model, grads);
        let dw = max_diff(model.w.val(), t(&sd, &format!("{name}.after.{k}.w")));
        let db = max_diff(model.b.val(), t(&sd, &format!("{name}.after.{k}.b")));
        let dc = max_diff(model.c.val(), t(&sd, &format!("{name}.after.{k}.c")));
        let worst = dw.max(db).max(dc);
        assert!(worst <= 1e-6, "run {name} step {k}: max |Δ| = {worst:e}");
        // The update itself is large compared with the tolerance (the test can fail).
        let moved = max_diff(model.w.val(), t(&sd, "init.w"));
        assert!(moved > 1e-4, "parameters moved only {moved:e}");
    }
    assert_eq!(
        model.frozen.val().to_data().to_vec::<f32>().unwrap(),
        vec![1.0; 4]
    );
    assert_eq!(
        model.unused.val().to_data().to_vec::<f32>().unwrap(),
        vec![1.0; 2]
    );
    assert_eq!(opt.num_tracked(), 3);
    assert_eq!(opt.param_step("w"), 5);
    assert!(model.w.val().is_require_grad());
}

#[test]
fn adamw_matches_pytorch_defaults() {
    run("a", 1e-3, 1e-2, None);
}

#[test]
fn adamw_matches_pytorch_with_multistep_schedule() {
    run("b", 0.05, 0.1, Some(MultiStepLr::new(0.05, vec![3], 0.1)));
}

#[test]
fn adamw_state_round_trip_continues_identically() {
    let sd = fixture();
    let make = || Toy::<B> {
        w: Param::from_tensor(t(&sd, "init.w")),
        b: Param::from_tensor(t(&sd, "init.b")),
        c: Param::from_tensor(t(&sd, "init.c")),
        frozen: Param::from_tensor(Tensor::ones([4], &Default::default())),
        unused: Param::from_tensor(Tensor::ones([2], &Default::default())),
    };
    let step = |m: Toy<B>, opt: &mut AdamW<burn_flex::Flex>, k: usize| {
        let loss = (m.w.val() * t::<2>(&sd, &format!("grad.{k}.w"))).sum()
            + (m.b.val() * t::<1>(&sd, &format!("grad.{k}.b"))).sum()
            + (m.c.val() * t::<3>(&sd, &format!("grad.{k}.c"))).sum();
        let grads = GradientsParams::from_grads(loss.backward(), &m);
        opt.step(1e-3, m, grads)
    };
    // Two steps, save the state, rebuild a new optimiser (fresh ParamIds in a fresh model) and continue.
    let mut opt = AdamW::new(AdamWConfig::default());
    let mut m = make();
    for k in 0..2 {
        m = step(m, &mut opt, k);
    }
    let bytes = opt.save_state().to_safetensors_bytes().unwrap();
    let restored = WeightMap::from_safetensors_bytes(&bytes, std::path::Path::new("mem")).unwrap();
    let mut opt2 = AdamW::new(AdamWConfig::default());
    opt2.load_state(&restored, &Default::default()).unwrap();
    let mut m2 = make();
    m2.w = Param::from_tensor(m.w.val().detach());
    m2.b = Param::from_tensor(m.b.val().detach());
    m2.c = Param::from_tensor(m.c.val().detach());
    for k in 2..5 {
        m = step(m, &mut opt, k);
        m2 = step(m2, &mut opt2, k);
    }
    assert_eq!(max_diff(m.w.val(), m2.w.val()), 0.0);
    assert!(max_diff(m.c.val(), t(&sd, "a.after.4.c")) <= 1e-6);
}
