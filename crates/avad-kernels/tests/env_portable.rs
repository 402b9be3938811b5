//! `AVAD_KERNELS=portable` forces the portable kernels for `KernelChoice::Auto` (its own test binary, so the
//! variable is set before any call reads it and no other test runs concurrently in this process).

use avad_kernels::{gemm, Epilogue, GemmOptions, Kernel, KernelChoice, PackedB};

#[test]
fn env_var_forces_portable_kernels() {
    // SAFETY (edition 2024 semantics): the only test of this binary, run before any other thread reads the
    // environment.
    std::env::set_var("AVAD_KERNELS", "portable");
    assert_eq!(KernelChoice::Auto.resolve(), Kernel::Portable);
    // The choice is read once: it sticks for the process.
    std::env::set_var("AVAD_KERNELS", "avx512");
    assert_eq!(KernelChoice::Auto.resolve(), Kernel::Portable);

    // And the forced path computes the right thing: [2, 3] · [3, 2] + bias.
    let a = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
    let b = PackedB::from_kn(&[1.0, 0.0, 0.0, 1.0, 1.0, 1.0], 3, 2);
    let mut c = [0.0; 4];
    gemm(
        2,
        &a,
        3,
        &b,
        &mut c,
        2,
        &Epilogue::bias(&[10.0, 20.0]),
        &GemmOptions::default(),
    );
    assert_eq!(c, [14.0, 25.0, 20.0, 31.0]);
}
