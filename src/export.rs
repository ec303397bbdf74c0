//! `edgenas export`: architecture JSON -> ONNX.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use edgenas_space::RandomWeights;

use crate::util::load_arch;

/// Options of `export`.
#[derive(Args)]
pub struct ExportCmd {
    /// Architecture JSON (e.g. from `edgenas space sample`).
    arch: PathBuf,
    /// Output ONNX file (its folder must exist).
    #[arg(long)]
    out: PathBuf,
    /// Seed of the random weights (until a trained checkpoint is given).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Print nothing on success.
    #[arg(long)]
    quiet: bool,
}

impl ExportCmd {
    pub fn run(self) -> Result<()> {
        let arch = load_arch(&self.arch)?;
        let model = edgenas_onnx::export_architecture(&arch, &RandomWeights { seed: self.seed })
            .with_context(|| format!("cannot export {}", self.arch.display()))?;
        edgenas_onnx::write_model(&self.out, &model).with_context(|| format!("cannot write {}", self.out.display()))?;
        if !self.quiet {
            let s = arch.stats();
            println!(
                "wrote {} (IR {}, opset {}, {} parameters, {} nodes)",
                self.out.display(),
                edgenas_onnx::IR_VERSION,
                edgenas_onnx::OPSET,
                s.params,
                model.graph.node.len()
            );
        }
        Ok(())
    }
}
