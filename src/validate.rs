//! `edgenas validate`: load an ONNX model with tract, run it, time it: here, or on a device
//! through its agent (`--device`), so any ONNX file can be timed on a board.

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
    /// Time the model on this device (a devices/*.toml) through its agent instead of here; the
    /// model is checked and run here first.
    #[arg(long)]
    device: Option<PathBuf>,
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
        let (model, out, mut t) = load_and_time(&self.model, self.warmup, self.runs, self.seed)?;
        // the JSON keeps the runtime as it always read ("tract X"); the text says more
        let mut runtime = format!("tract {}", edgenas_onnx::runtime::tract_version());
        let mut runtime_line = format!("{runtime} (1 thread)");
        let mut device = None;
        if let Some(path) = &self.device {
            let (name, info, timing) = self.on_device(path)?;
            runtime = info.runtime.clone();
            runtime_line = format!("{} on {name} ({}/{}, {})", info.runtime, info.os, info.arch, info.cpu);
            device = Some(json!({"file": path, "name": name, "info": info}));
            t = timing;
        }
        if self.json {
            let mut v = json!({
                "model": self.model,
                "input_shape": model.input_shape(),
                "output_shape": model.output_shape(),
                "output_sample": out.iter().take(10).collect::<Vec<_>>(),
                "runtime": runtime,
                "warmup": self.warmup,
                "timing": t,
            });
            if let Some(d) = device {
                v["device"] = d;
            }
            println!("{}", serde_json::to_string_pretty(&v)?);
        } else {
            println!("model      {}", self.model.display());
            println!("runtime    {runtime_line}");
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

    /// The model timed on the device `path` describes: uploaded through its agent, `--warmup`
    /// and `--runs` there; returns the device's name, what it reported of itself and the timing.
    fn on_device(&self, path: &std::path::Path) -> Result<(String, edgenas_device::protocol::DeviceInfo, Timing)> {
        let dev =
            edgenas_device::DeviceConfig::from_file(path).with_context(|| format!("--device {}", path.display()))?;
        let bytes = std::fs::read(&self.model).with_context(|| format!("cannot read {}", self.model.display()))?;
        let mut client = dev.client();
        let info =
            client.hello().with_context(|| format!("--device {}: no answer from {}", path.display(), dev.name))?;
        let opts = edgenas_device::profiler::ProfileOptions {
            warmup: self.warmup as u32,
            runs: self.runs as u32,
            passes: 1,
            ..edgenas_device::profiler::ProfileOptions::for_device(&dev)
        };
        let mut timings = edgenas_device::profiler::measure_models(&mut client, &[bytes], &opts, &mut |_| {})
            .with_context(|| format!("timing {} on {}", self.model.display(), dev.name))?;
        Ok((dev.name.clone(), info, timings.remove(0)))
    }
}
