//! One module per subcommand: its clap `Args` and a `run` that wires library calls together.

pub mod bench;
pub mod clip;
pub mod demo;
pub mod detect;
pub mod distill;
pub mod eval;
pub mod extract;
pub mod import;
pub mod merge_lists;
pub mod predict;
pub mod serve;
pub mod synth;
pub mod train;
pub mod watch;
pub mod wav2clip;
