//! `edgenas run`: the main job on the bundled default. For now: sample an architecture from
//! the default space, report its cost, export it to ONNX and validate it with tract.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use edgenas_space::RandomWeights;

use crate::util::{human_bytes, human_ns, load_space};

/// Options of `run`.
#[derive(Args)]
pub struct RunCmd {
    /// Search space TOML (default: the built-in default space).
    #[arg(long)]
    space: Option<PathBuf>,
    /// Seed for sampling and weights.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Output folder (created if missing).
    #[arg(long, default_value = "runs/default")]
    out: PathBuf,
}

impl RunCmd {
    pub fn run(self) -> Result<()> {
        let space = load_space(self.space.as_deref())?;
        std::fs::create_dir_all(&self.out).with_context(|| format!("cannot create {}", self.out.display()))?;
        let arch = space.sample(self.seed);
        let arch_path = self.out.join("arch.json");
        edgenas_space::io::write_atomic(&arch_path, arch.to_json().as_bytes())?;
        let s = arch.stats();
        println!(
            "space {}: {} architectures, {} block configurations",
            space.name,
            space.num_architectures().map(|n| n.to_string()).unwrap_or("> 2^128".into()),
            space.block_keys().len()
        );
        println!(
            "sampled (seed {}): {} blocks, {} params, {} MACs, flash {} (f32) / {} (int8), peak activations {}",
            self.seed,
            s.blocks,
            s.params,
            s.macs,
            human_bytes(s.flash_f32_bytes),
            human_bytes(s.flash_int8_bytes),
            human_bytes(s.peak_activation_f32_bytes)
        );
        let model_path = self.out.join("model.onnx");
        let model = edgenas_onnx::export_architecture(&arch, &RandomWeights { seed: self.seed })?;
        edgenas_onnx::write_model(&model_path, &model)?;
        let (m, out, t) = crate::validate::load_and_time(&model_path, 5, 50, self.seed)?;
        println!(
            "exported {} and loaded it in tract: input {:?} -> output {:?}",
            model_path.display(),
            m.input_shape(),
            m.output_shape()
        );
        println!("logits[0..3] = {:?}", &out[..3.min(out.len())]);
        println!(
            "latency on this machine: median {} (p10 {}, p90 {}, {} runs)",
            human_ns(t.median_ns),
            human_ns(t.p10_ns),
            human_ns(t.p90_ns),
            t.runs
        );
        // Predicted latency next to the measurement, when this machine has a matching profile.
        let profile = PathBuf::from("profiles/local.json");
        match edgenas_device::LatencyProfile::from_file(&profile) {
            Ok(p)
                if p.check_space(&space).is_ok()
                    && p.provenance.device_info.cpu == edgenas_device::agent::cpu_model() =>
            {
                let pred = p.predict(&arch)?;
                println!(
                    "predicted from {}: {} ({:+.1} % vs measured)",
                    profile.display(),
                    human_ns(pred.latency_ns),
                    100.0 * (pred.latency_ns - t.median_ns) / t.median_ns
                );
            }
            _ => println!("(run `edgenas profile` to build a latency table of this machine and see predictions here)"),
        }
        Ok(())
    }
}
