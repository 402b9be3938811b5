//! The one place that picks the tensor backend; nothing below the CLI names a concrete backend.
//!
//! Every command that computes takes [`DeviceArgs`] (`--device cpu|cuda[:N]`, `--dtype f32|f16|bf16`) and runs
//! its generic body through [`with_infer_backend!`] or [`with_train_backend!`]. The CPU backend is burn's pure-Rust
//! multithreaded `Flex` (f32). Built with `--features cuda`, the same binary also carries burn's CUDA backend
//! (CubeCL, kernels compiled by NVRTC at first use, libcuda loaded at run time), so it still runs on machines
//! without a GPU and uses one only when asked.

use std::fmt;
use std::str::FromStr;

/// CPU inference backend: burn's pure-Rust multithreaded backend, f32.
pub type CpuBackend = burn_flex::Flex;

/// CUDA inference backend (CubeCL with kernel fusion and autotuning). Its float dtype is set per device at start
/// (`--dtype`), f32 unless asked otherwise.
#[cfg(feature = "cuda")]
pub type CudaBackend = burn::backend::Cuda;

/// The CPU device (commands that always run on the CPU: `import` converts weights, the demo's small models).
pub fn cpu_device() -> burn_flex::FlexDevice {
    burn_flex::FlexDevice
}

/// Where tensors live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceKind {
    /// The CPU (all cores, through rayon).
    Cpu,
    /// CUDA GPU number N.
    Cuda(usize),
}

impl FromStr for DeviceKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "cpu" => Ok(Self::Cpu),
            "cuda" | "gpu" => Ok(Self::Cuda(0)),
            _ => match s.strip_prefix("cuda:").map(str::parse::<usize>) {
                Some(Ok(i)) => Ok(Self::Cuda(i)),
                _ => Err(format!(
                    "unknown device `{s}` (expected cpu, cuda or cuda:N)"
                )),
            },
        }
    }
}

impl fmt::Display for DeviceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Cpu => write!(f, "cpu"),
            Self::Cuda(i) => write!(f, "cuda:{i}"),
        }
    }
}

/// Floating-point type of the computation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Precision {
    /// 32-bit float (the default; training always uses it).
    F32,
    /// IEEE half precision (CUDA only).
    F16,
    /// bfloat16 (CUDA only).
    Bf16,
}

impl fmt::Display for Precision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::F32 => "f32",
            Self::F16 => "f16",
            Self::Bf16 => "bf16",
        })
    }
}

/// `--device` and `--dtype`, shared by every command that computes.
#[derive(clap::Args, Debug, Clone)]
pub struct DeviceArgs {
    /// Device: `cpu`, or `cuda` / `cuda:N` for a binary built with `--features cuda`.
    #[arg(long, default_value = "cpu", value_name = "cpu|cuda[:N]")]
    pub device: DeviceKind,
    /// Float type of the computation: f32, or f16 / bf16 on CUDA (inference only; weights are converted when
    /// loaded, results are returned as f32).
    #[arg(long, value_enum, default_value_t = Precision::F32)]
    pub dtype: Precision,
    /// CPU threads for the computation (the encoders, the model, training); default: one per core, or
    /// `RAYON_NUM_THREADS` when set. Decoding runs on FFmpeg's own threads besides.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub threads: Option<u16>,
}

impl Default for DeviceArgs {
    fn default() -> Self {
        Self {
            device: DeviceKind::Cpu,
            dtype: Precision::F32,
            threads: None,
        }
    }
}

impl DeviceArgs {
    /// Sizes the global rayon pool (every CPU kernel's threads) to `--threads`; a no-op without it. Must run
    /// before anything computes.
    pub fn apply_threads(&self) -> anyhow::Result<()> {
        let Some(n) = self.threads else {
            return Ok(());
        };
        let built = rayon::ThreadPoolBuilder::new()
            .num_threads(n.into())
            .build_global();
        match built {
            Ok(()) => Ok(()),
            Err(_) if rayon::current_num_threads() == usize::from(n) => Ok(()),
            Err(e) => anyhow::bail!("--threads {n}: the CPU thread pool was already started: {e}"),
        }
    }

    /// Fails with a clear message for combinations the binary cannot run.
    pub fn check(&self, training: bool) -> anyhow::Result<()> {
        if training && self.dtype != Precision::F32 {
            anyhow::bail!(
                "--dtype {} is for inference; training runs in f32 (leave --dtype out)",
                self.dtype
            );
        }
        match self.device {
            DeviceKind::Cpu if self.dtype != Precision::F32 => anyhow::bail!(
                "--dtype {} needs --device cuda: the CPU backend computes in f32",
                self.dtype
            ),
            DeviceKind::Cuda(_) if !cfg!(feature = "cuda") => anyhow::bail!(
                "this avad binary was built without CUDA support: rebuild it with \
                 `cargo build --release --features cuda` (it still runs on CPU-only machines)"
            ),
            _ => Ok(()),
        }
    }
}

/// Creates CUDA device `index` and sets its float dtype; must run before any tensor exists on it.
#[cfg(feature = "cuda")]
pub fn cuda_device(
    index: usize,
    dtype: Precision,
) -> anyhow::Result<burn::backend::cuda::CudaDevice> {
    use burn::tensor::{FloatDType, IntDType};
    check_cuda_libraries()?;
    let device = burn::backend::cuda::CudaDevice::new(index);
    let float = match dtype {
        Precision::F32 => FloatDType::F32,
        Precision::F16 => FloatDType::F16,
        Precision::Bf16 => FloatDType::BF16,
    };
    if float != FloatDType::F32 {
        burn::tensor::set_default_dtypes::<CudaBackend>(&device, float, IntDType::I32)
            .map_err(|e| anyhow::anyhow!("cuda:{index}: cannot compute in {dtype}: {e:?}"))?;
    }
    Ok(device)
}

/// The CUDA backend loads the driver (libcuda) and NVRTC at run time and panics when they are missing; look for
/// them first so that `--device cuda` on a machine without them is a clear error.
#[cfg(feature = "cuda")]
fn check_cuda_libraries() -> anyhow::Result<()> {
    for (what, names) in [
        ("the CUDA driver", &["libcuda.so.1", "libcuda.so"][..]),
        (
            "NVRTC (CUDA's runtime compiler, from the CUDA toolkit)",
            &["libnvrtc.so.13", "libnvrtc.so"][..],
        ),
    ] {
        // SAFETY: loading a shared library runs its initialisers; these are NVIDIA's own libraries, which the
        // backend would load next anyway.
        let found = names
            .iter()
            .any(|&n| unsafe { libloading::Library::new(n) }.is_ok());
        if !found {
            anyhow::bail!(
                "--device cuda: {what} was not found ({}); install it or add its folder to LD_LIBRARY_PATH \
                 (e.g. /usr/local/cuda/lib64), or use --device cpu",
                names.join(", ")
            );
        }
    }
    Ok(())
}

/// An inference backend as [`with_backend!`] binds it: the backend itself.
pub type Inference<B> = B;
/// A training backend as [`with_backend!`] binds it: autodiff over the backend.
pub type Training<B> = burn::backend::Autodiff<B>;

/// Runs `$body` with `$B` bound to `$Kind<backend>` ([`Inference`] or [`Training`]) and `$dev` to its device, as
/// chosen by a [`DeviceArgs`] (checked for `training` first). `$body` must evaluate to `anyhow::Result<_>`. Use it
/// through [`with_infer_backend!`] and [`with_train_backend!`].
#[macro_export]
macro_rules! with_backend {
    ($args:expr, $Kind:ident, $training:expr, |$B:ident, $dev:ident| $body:expr) => {{
        let args: &$crate::backend::DeviceArgs = &$args;
        match args.check($training).and_then(|()| args.apply_threads()) {
            Err(e) => Err(e),
            Ok(()) => match args.device {
                $crate::backend::DeviceKind::Cpu => {
                    type $B = $crate::backend::$Kind<$crate::backend::CpuBackend>;
                    let $dev = burn_flex::FlexDevice;
                    $body
                }
                #[cfg(feature = "cuda")]
                $crate::backend::DeviceKind::Cuda(index) => {
                    type $B = $crate::backend::$Kind<$crate::backend::CudaBackend>;
                    match $crate::backend::cuda_device(index, args.dtype) {
                        Ok($dev) => $body,
                        Err(e) => Err(e),
                    }
                }
                #[cfg(not(feature = "cuda"))]
                $crate::backend::DeviceKind::Cuda(_) => {
                    unreachable!("checked by DeviceArgs::check")
                }
            },
        }
    }};
}

/// Runs `$body` with `$B` bound to the inference backend and `$dev` to its device, as chosen by a
/// [`DeviceArgs`]. `$body` must evaluate to `anyhow::Result<_>`.
#[macro_export]
macro_rules! with_infer_backend {
    ($args:expr, |$B:ident, $dev:ident| $body:expr) => {
        $crate::with_backend!($args, Inference, false, |$B, $dev| $body)
    };
}

/// Like [`with_infer_backend!`], with `$B` bound to the autodiff (training) backend; f32 only.
#[macro_export]
macro_rules! with_train_backend {
    ($args:expr, |$B:ident, $dev:ident| $body:expr) => {
        $crate::with_backend!($args, Training, true, |$B, $dev| $body)
    };
}

/// A command whose body is generic over the inference backend (see [`run_inference`]).
pub trait InferCommand {
    /// The command's body on backend `B`, device `device`.
    fn run_on<B: burn::tensor::backend::Backend>(&self, device: &B::Device) -> anyhow::Result<()>;
}

/// Runs `command` on the inference backend and device that `device` (its `--device` / `--dtype`) picks.
pub fn run_inference(device: &DeviceArgs, command: &impl InferCommand) -> anyhow::Result<()> {
    crate::with_infer_backend!(device, |B, dev| command.run_on::<B>(&dev))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_devices() {
        assert_eq!("cpu".parse::<DeviceKind>(), Ok(DeviceKind::Cpu));
        assert_eq!("cuda".parse::<DeviceKind>(), Ok(DeviceKind::Cuda(0)));
        assert_eq!("cuda:3".parse::<DeviceKind>(), Ok(DeviceKind::Cuda(3)));
        assert!("cuda:x".parse::<DeviceKind>().is_err());
        assert!("tpu".parse::<DeviceKind>().is_err());
    }

    #[test]
    fn rejects_what_cannot_run() {
        let half_on_cpu = DeviceArgs {
            device: DeviceKind::Cpu,
            dtype: Precision::Bf16,
            threads: None,
        };
        assert!(half_on_cpu.check(false).is_err());
        let half_training = DeviceArgs {
            device: DeviceKind::Cuda(0),
            dtype: Precision::F16,
            threads: None,
        };
        assert!(half_training.check(true).is_err());
        assert!(DeviceArgs::default().check(true).is_ok());
        let cuda = DeviceArgs {
            device: DeviceKind::Cuda(0),
            dtype: Precision::F32,
            threads: None,
        };
        assert_eq!(cuda.check(false).is_ok(), cfg!(feature = "cuda"));
    }
}
