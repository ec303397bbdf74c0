//! `edgenas export`: architecture JSON (random weights) or a trained checkpoint -> ONNX.
//! A trained export is validated with tract against Burn on test images.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Args;
use edgenas_onnx::TractModel;
use edgenas_space::RandomWeights;
use edgenas_train::trainer::{device, load_checkpoint, predict, top1};
use serde_json::json;

use crate::util::load_arch;

/// Options of `export`.
#[derive(Args)]
pub struct ExportCmd {
    /// Architecture JSON (e.g. from `edgenas space sample`); exported with seeded random weights.
    #[arg(conflicts_with = "checkpoint")]
    arch: Option<PathBuf>,
    /// A trained checkpoint folder (from `edgenas train`) instead of an architecture.
    #[arg(long)]
    checkpoint: Option<PathBuf>,
    /// Output ONNX file (its folder must exist).
    #[arg(long)]
    out: PathBuf,
    /// Seed of the random weights (architecture export).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Test images compared between Burn and tract (trained export).
    #[arg(long, default_value_t = 256)]
    check_images: usize,
    /// Print nothing on success.
    #[arg(long)]
    quiet: bool,
    /// Machine-readable JSON output.
    #[arg(long)]
    json: bool,
}

/// Largest difference between Burn's and tract's logits accepted.
pub const MAX_ABS_DIFF: f32 = 1e-4;

impl ExportCmd {
    pub fn run(self) -> Result<()> {
        match (&self.arch, &self.checkpoint) {
            (Some(a), None) => self.export_random(a.clone()),
            (None, Some(c)) => self.export_trained(c.clone()),
            _ => bail!(
                "nothing to export: give an architecture JSON (`edgenas export ARCH.json --out M.onnx`, random \
                 weights) or a trained checkpoint (`edgenas export --checkpoint DIR --out M.onnx`)"
            ),
        }
    }

    fn export_random(&self, arch_path: PathBuf) -> Result<()> {
        let arch = load_arch(&arch_path)?;
        let model = edgenas_onnx::export_architecture(&arch, &RandomWeights { seed: self.seed })
            .with_context(|| format!("cannot export {}", arch_path.display()))?;
        edgenas_onnx::write_model(&self.out, &model).with_context(|| format!("cannot write {}", self.out.display()))?;
        if self.json {
            let summary = json!({
                "onnx": self.out,
                "architecture": arch_path,
                "seed": self.seed,
                "ir_version": edgenas_onnx::IR_VERSION,
                "opset": edgenas_onnx::OPSET,
                "params": arch.stats().params,
                "nodes": model.graph.node.len(),
            });
            println!("{}", serde_json::to_string_pretty(&summary)?);
        } else if !self.quiet {
            println!(
                "wrote {} (IR {}, opset {}, {} parameters, {} nodes)",
                self.out.display(),
                edgenas_onnx::IR_VERSION,
                edgenas_onnx::OPSET,
                arch.stats().params,
                model.graph.node.len()
            );
        }
        Ok(())
    }

    fn export_trained(&self, dir: PathBuf) -> Result<()> {
        anyhow::ensure!(
            self.check_images >= 1,
            "--check-images: 0 is not allowed; allowed: 1 or more (the export is checked against Burn on them)"
        );
        if !dir.join("checkpoint.json").exists() && dir.join("config.json").exists() {
            bail!(
                "--checkpoint {}: a search's folder, not a checkpoint of `edgenas train`; its exported models are \
                 in {}",
                dir.display(),
                dir.join("models").display()
            );
        }
        let dev = device(0);
        let (net, info) = load_checkpoint(&dir, &dev)?;
        let arch = &info.architecture;
        let weights = net.named_weights(arch);
        let model = edgenas_onnx::export_architecture(arch, &weights)
            .with_context(|| format!("cannot export {}", dir.display()))?;
        let bytes = edgenas_onnx::to_bytes(&model);
        // validate before writing: tract must reproduce Burn on test images
        let a = &info.architecture;
        let splits = edgenas_train::data::load_splits_shaped(
            &info.data,
            info.config.valid_fraction,
            info.config.seed,
            [a.input.channels, a.input.height, a.input.width],
        )
        .with_context(|| format!("test images for validating the export ({})", info.data.display()))?;
        let test = splits.test.take(self.check_images);
        let burn_logits = predict(&net, &test, &dev);
        let tract = TractModel::from_bytes(&bytes)?;
        let mut tract_logits = Vec::with_capacity(burn_logits.len());
        for i in 0..test.len() {
            tract_logits.extend(tract.run(test.image(i))?);
        }
        let max_diff = burn_logits.iter().zip(&tract_logits).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
        let acc_burn = top1(&burn_logits, &test.labels, test.classes);
        let acc_tract = top1(&tract_logits, &test.labels, test.classes);
        if max_diff.is_nan() || max_diff > MAX_ABS_DIFF || acc_burn != acc_tract {
            bail!(
                "{}: the exported model does not reproduce the trained one on {} test images (max abs logit difference {max_diff:.2e}, allowed {MAX_ABS_DIFF:.0e}; top-1 Burn {:.2} %, tract {:.2} %); nothing written",
                dir.display(),
                test.len(),
                100.0 * acc_burn,
                100.0 * acc_tract
            );
        }
        edgenas_space::io::write_atomic(&self.out, &bytes)
            .with_context(|| format!("cannot write {}", self.out.display()))?;
        let summary = json!({
            "onnx": self.out,
            "checkpoint": dir,
            "images": test.len(),
            "max_abs_diff": max_diff,
            "top1_burn": acc_burn,
            "top1_tract": acc_tract,
            "normalization": info.normalization,
        });
        if self.json {
            println!("{}", serde_json::to_string_pretty(&summary)?);
        } else if !self.quiet {
            println!(
                "wrote {}: tract reproduces Burn on {} test images (max abs logit difference {max_diff:.2e}; top-1 {:.2} % both)",
                self.out.display(),
                test.len(),
                100.0 * acc_tract
            );
            println!(
                "inputs must be normalized per channel: mean {:?}, std {:?}",
                info.normalization.mean, info.normalization.std
            );
        }
        Ok(())
    }
}
