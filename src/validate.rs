//! `edgenas validate`: load an ONNX model with tract, run it, time it.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use edgenas_onnx::{Timing, TractModel};
use serde_json::json;

use crate::util::human_ns;

/// Options of `validate`.
#[derive(Args)]
pub struct ValidateCmd {
    /// ONNX model file.
    model: PathBuf,
    /// Timed runs.
    #[arg(long, default_value_t = 50)]
    runs: usize,
    /// Untimed warm-up runs.
    #[arg(long, default_value_t = 5)]
    warmup: usize,
    /// Seed of the random input.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Machine-readable JSON output.
    #[arg(long)]
    json: bool,
}

/// A deterministic pseudo-random input in [0, 1) (xorshift; no dependency needed for noise).
pub fn random_input(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9E3779B97F4A7C15) | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 40) as f32 / (1u64 << 24) as f32
        })
        .collect()
}

/// Load, run once and time a model; returns the model, its output and timing.
pub fn load_and_time(
    path: &std::path::Path,
    warmup: usize,
    runs: usize,
    seed: u64,
) -> Result<(TractModel, Vec<f32>, Timing)> {
    let model = TractModel::from_path(path).with_context(|| format!("cannot validate {}", path.display()))?;
    let n: usize = model.input_shape().iter().product();
    let input = random_input(n, seed);
    let out = model.run(&input).with_context(|| format!("cannot run {}", path.display()))?;
    if let Some(bad) = out.iter().find(|v| !v.is_finite()) {
        anyhow::bail!("{}: the model produced a non-finite value ({bad})", path.display());
    }
    let timing = model.bench(&input, warmup, runs.max(1))?;
    Ok((model, out, timing))
}

impl ValidateCmd {
    pub fn run(self) -> Result<()> {
        anyhow::ensure!(self.runs >= 1, "--runs must be at least 1");
        let (model, out, t) = load_and_time(&self.model, self.warmup, self.runs, self.seed)?;
        if self.json {
            let v = json!({
                "model": self.model,
                "input_shape": model.input_shape(),
                "output_shape": model.output_shape(),
                "output_sample": out.iter().take(10).collect::<Vec<_>>(),
                "runtime": format!("tract {}", edgenas_onnx::runtime::tract_version()),
                "warmup": self.warmup,
                "timing": t,
            });
            println!("{}", serde_json::to_string_pretty(&v)?);
        } else {
            println!("model      {}", self.model.display());
            println!("runtime    tract {} (1 thread)", edgenas_onnx::runtime::tract_version());
            println!("input      {:?}", model.input_shape());
            println!("output     {:?}", model.output_shape());
            println!(
                "latency    median {}  p10 {}  p90 {}  min {}  ({} run{} after {} warm-up)",
                human_ns(t.median_ns),
                human_ns(t.p10_ns),
                human_ns(t.p90_ns),
                human_ns(t.min_ns),
                t.runs,
                if t.runs == 1 { "" } else { "s" },
                self.warmup
            );
        }
        Ok(())
    }
}
