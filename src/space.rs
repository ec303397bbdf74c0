//! `edgenas space`: sample, stats, info.

use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, Subcommand};
use serde_json::json;

use crate::util::{human_bytes, load_arch, load_space, write_or_print};

/// Space subcommands.
#[derive(Subcommand)]
pub enum SpaceCmd {
    /// Sample a random architecture (seeded) and print or write its JSON.
    Sample(SampleCmd),
    /// Parameters, MACs, flash bytes and peak activation memory of an architecture.
    Stats(StatsCmd),
    /// Size of the space and number of distinct block configurations (latency-table keys).
    Info(InfoCmd),
}

impl SpaceCmd {
    pub fn run(self) -> Result<()> {
        match self {
            SpaceCmd::Sample(c) => c.run(),
            SpaceCmd::Stats(c) => c.run(),
            SpaceCmd::Info(c) => c.run(),
        }
    }
}

/// Options of `space sample`.
#[derive(Args)]
pub struct SampleCmd {
    /// Search space TOML (default: the built-in default space).
    #[arg(long)]
    space: Option<PathBuf>,
    /// Random seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Write the architecture JSON here instead of printing it.
    #[arg(long)]
    out: Option<PathBuf>,
}

impl SampleCmd {
    fn run(self) -> Result<()> {
        let space = load_space(self.space.as_deref())?;
        let arch = space.sample(self.seed);
        write_or_print(self.out.as_ref(), &arch.to_json())
    }
}

/// Options of `space stats`.
#[derive(Args)]
pub struct StatsCmd {
    /// Architecture JSON.
    arch: PathBuf,
    /// Also check the architecture is a member of this space (TOML).
    #[arg(long)]
    space: Option<PathBuf>,
    /// Machine-readable JSON output.
    #[arg(long)]
    json: bool,
}

impl StatsCmd {
    fn run(self) -> Result<()> {
        let arch = load_arch(&self.arch)?;
        if let Some(p) = &self.space {
            let space = load_space(Some(p))?;
            space
                .encode(&arch)
                .map_err(|e| anyhow::anyhow!("{}: not in space {}: {e}", self.arch.display(), p.display()))?;
        }
        let s = arch.stats();
        if self.json {
            println!("{}", serde_json::to_string_pretty(&s)?);
        } else {
            println!("architecture        {}", self.arch.display());
            println!("blocks              {}", s.blocks);
            println!("parameters          {}", s.params);
            println!("MACs                {}", s.macs);
            println!("flash (f32)         {} ({})", s.flash_f32_bytes, human_bytes(s.flash_f32_bytes));
            println!("flash (int8)        {} ({})", s.flash_int8_bytes, human_bytes(s.flash_int8_bytes));
            println!(
                "peak activations    {} ({}) at f32, {} at int8",
                s.peak_activation_f32_bytes,
                human_bytes(s.peak_activation_f32_bytes),
                human_bytes(s.peak_activation_int8_bytes)
            );
        }
        Ok(())
    }
}

/// Options of `space info`.
#[derive(Args)]
pub struct InfoCmd {
    /// Search space TOML (default: the built-in default space).
    #[arg(long)]
    space: Option<PathBuf>,
    /// Machine-readable JSON output.
    #[arg(long)]
    json: bool,
    /// List every block configuration (latency-table key).
    #[arg(long)]
    keys: bool,
}

impl InfoCmd {
    fn run(self) -> Result<()> {
        let space = load_space(self.space.as_deref())?;
        let n = space.num_architectures();
        let keys = space.block_keys();
        let genes = space.genes().len();
        let size = n.map(|v| v.to_string()).unwrap_or_else(|| "more than 2^128".into());
        if self.json {
            let mut v = json!({
                "name": space.name,
                "hash": space.hash(),
                "architectures": size,
                "architectures_log10": n.map(|v| (v as f64).log10()),
                "block_configs": keys.len(),
                "genes": genes,
            });
            if self.keys {
                v["keys"] = json!(keys.iter().map(|k| k.to_string()).collect::<Vec<_>>());
            }
            println!("{}", serde_json::to_string_pretty(&v)?);
        } else {
            println!("space               {} (hash {})", space.name, space.hash());
            println!(
                "input               {}x{}x{}, {} classes",
                space.input.channels, space.input.height, space.input.width, space.classes
            );
            println!("architectures       {size} (~10^{:.1})", n.map(|v| (v as f64).log10()).unwrap_or(f64::INFINITY));
            println!("block configs       {} (latency-table keys)", keys.len());
            println!("genes               {genes}");
            if self.keys {
                for k in &keys {
                    println!("{k}");
                }
            }
        }
        Ok(())
    }
}
