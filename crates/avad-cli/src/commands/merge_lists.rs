//! `avad merge-lists`: join the list CSVs of several `avad extract --shard` runs.

use std::path::PathBuf;

/// Arguments of `avad merge-lists`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// List CSVs with the same header (e.g. OUT1/list.csv OUT2/list.csv ...).
    #[arg(required = true)]
    pub lists: Vec<PathBuf>,
    /// The merged list to write.
    #[arg(long)]
    pub out: PathBuf,
}

/// Runs `avad merge-lists`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let n = avad_pipeline::merge_lists(&args.lists, &args.out)?;
    println!(
        "wrote {n} rows from {} lists to {}",
        args.lists.len(),
        args.out.display()
    );
    Ok(())
}
