//! avad-kernels: CPU inference kernels on plain `f32` slices, independent of burn.
//!
//! The first kernel is an fp32 GEMM for the CLIP encoders' linear layers ([`gemm()`], module [`mod@gemm`]): the
//! weight is packed once ([`PackedB`]), the product is cache-blocked and computed by an AVX-512 register-tile
//! micro-kernel (chosen at run time; a plain-Rust fallback runs everywhere else), split over threads with rayon, and
//! the bias, quick_gelu and residual add of a transformer block (or the bias and ReLU of a convolution with folded
//! batch norm) can be fused into the store of each output tile ([`Epilogue`]).
//!
//! Module [`cpu`] holds what the fast CPU paths built on it share (avad-clip's `FastVisionEncoder`, avad-wav2clip's
//! `FastWav2Clip`, avad-model's `FastModel`): their options ([`CpuOptions`]: threads, kernels), LayerNorm, softmax,
//! sigmoid and exact GELU on rows, and parallel loops over whole items.
//!
//! Setting the environment variable `AVAD_KERNELS=portable` forces the plain-Rust kernels in every call that leaves
//! the choice to the library ([`KernelChoice::Auto`]); `AVAD_KERNELS=avx512` asks for the AVX-512 kernels where the
//! CPU has them.

//!
//! ```
//! use avad_kernels::{gemm, Epilogue, GemmOptions, PackedB};
//!
//! // y = quick_gelu(x · Wᵀ + b) for x [2, 3] and a PyTorch-layout weight W [4, 3].
//! let x = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
//! let w = PackedB::from_nk(&[1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0], 4, 3);
//! let b = [0.0, 0.0, 0.0, -6.0];
//! let mut y = [0.0f32; 8];
//! gemm(2, &x, 3, &w, &mut y, 4, &Epilogue::bias_quick_gelu(&b), &GemmOptions::default());
//! assert!((y[0] - 1.0 / (1.0 + (-1.702f32).exp())).abs() < 1e-6);
//! assert_eq!(y[3], 0.0); // 1 + 2 + 3 - 6 = 0
//! ```

#![warn(missing_docs)]

mod aligned;
pub mod cpu;
pub mod gemm;
pub mod machine;

pub use cpu::{CpuOptions, LayerNormParams};

pub use gemm::{
    exp_approx, gemm, Epilogue, EpilogueActivation, GemmOptions, Kernel, KernelChoice, PackedB,
    Residual,
};
