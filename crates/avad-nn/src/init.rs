//! Parameter initialisers with PyTorch's semantics, drawn from the backend's random generator (seed it with
//! `B::seed` for reproducible runs), and lazy placeholders for modules whose weights are loaded next.

use std::sync::{Mutex, MutexGuard};

use burn::module::{Param, ParamId};
use burn::tensor::{backend::Backend, Distribution, Shape, Tensor};

/// Serialises seeded sections: burn's random generator is global to the process.
static RNG_SECTION: Mutex<()> = Mutex::new(());

/// Holds the backend's random generator for one seeded computation (see [`seeded`]); dropping it lets the next
/// seeded section start.
pub struct SeededSection {
    _guard: MutexGuard<'static, ()>,
}

/// Seeds the backend's random generator with `seed` and keeps it for the caller until the returned guard drops.
/// burn's generator is one per process, so two seeded computations on different threads (tests run in parallel)
/// would otherwise interleave their draws and neither would be reproducible. Within the section, re-seeding with
/// `B::seed` is fine; starting another section on the same thread deadlocks.
pub fn seeded<B: Backend>(device: &B::Device, seed: u64) -> SeededSection {
    let guard = RNG_SECTION.lock().unwrap_or_else(|e| e.into_inner());
    B::seed(device, seed);
    SeededSection { _guard: guard }
}

/// `U(−bound, bound)` (PyTorch's default for `nn.Linear` / `nn.Conv1d` with `bound = 1/√fan_in`).
pub fn uniform<B: Backend, const D: usize>(
    shape: [usize; D],
    bound: f64,
    device: &B::Device,
) -> Tensor<B, D> {
    Tensor::random(shape, Distribution::Uniform(-bound, bound), device)
}

/// `N(0, std²)`.
pub fn normal<B: Backend, const D: usize>(
    shape: [usize; D],
    std: f64,
    device: &B::Device,
) -> Tensor<B, D> {
    Tensor::random(shape, Distribution::Normal(0.0, std), device)
}

/// Xavier-uniform init of a `[fan_a, fan_b]` matrix (PyTorch `nn.init.xavier_uniform_`).
pub fn xavier<B: Backend>(shape: [usize; 2], device: &B::Device) -> Tensor<B, 2> {
    let bound = (6.0 / (shape[0] + shape[1]) as f64).sqrt();
    uniform(shape, bound, device)
}

/// A parameter of `shape` that allocates nothing until read (zeros then): the skeleton of a module whose weights
/// are loaded right after, so loading never pays for a random init.
pub fn placeholder<B: Backend, const D: usize>(
    shape: [usize; D],
    device: &B::Device,
) -> Param<Tensor<B, D>> {
    Param::uninitialized(
        ParamId::new(),
        move |dev: &B::Device, require_grad: bool| {
            let t = Tensor::<B, D>::zeros(shape, dev);
            if require_grad {
                t.require_grad()
            } else {
                t
            }
        },
        device.clone(),
        true,
        Shape::from(shape.to_vec()),
    )
}

/// How to fill a new module's parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Init {
    /// Draw them (PyTorch's initialisers, from the backend's random generator).
    Random,
    /// Lazy placeholders, to be replaced by loaded weights.
    Placeholder,
}

impl Init {
    /// `tensor()` when random, else a placeholder of `shape` (the closure is not called).
    pub fn param<B: Backend, const D: usize>(
        self,
        shape: [usize; D],
        device: &B::Device,
        tensor: impl FnOnce() -> Tensor<B, D>,
    ) -> Param<Tensor<B, D>> {
        match self {
            Init::Random => Param::from_tensor(tensor()),
            Init::Placeholder => placeholder(shape, device),
        }
    }
}
