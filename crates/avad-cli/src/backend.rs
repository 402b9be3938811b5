//! The one place that picks the tensor backend; nothing below the CLI names a concrete backend.

/// Backend for inference (no autodiff): burn's pure-Rust multithreaded CPU backend.
pub type InferBackend = burn_flex::Flex;
/// Backend for training: autodiff over [`InferBackend`].
#[allow(dead_code)]
pub type TrainBackend = burn::backend::Autodiff<InferBackend>;

/// The device the CPU backend runs on.
#[allow(dead_code)]
pub fn cpu_device() -> burn_flex::FlexDevice {
    burn_flex::FlexDevice
}
