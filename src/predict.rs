//! `edgenas predict`: latency of an architecture from a device profile.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use edgenas_device::LatencyProfile;

use crate::util::{human_ns, load_arch, load_space};

/// Options of `predict`.
#[derive(Args)]
pub struct PredictCmd {
    /// Architecture JSON.
    arch: PathBuf,
    /// Device profile.
    #[arg(long)]
    profile: PathBuf,
    /// The space the architecture comes from (refused if the profile was measured for another).
    #[arg(long)]
    space: Option<PathBuf>,
    /// Machine-readable JSON output.
    #[arg(long)]
    json: bool,
}

impl PredictCmd {
    pub fn run(self) -> Result<()> {
        let prof = LatencyProfile::from_file(&self.profile)?;
        if let Some(w) = crate::util::other_machine(&self.profile, &prof) {
            eprintln!("{w}");
        }
        if let Some(p) = &self.space {
            let space = load_space(Some(p))?;
            prof.check_space(&space).map_err(|e| anyhow::anyhow!("{}: {e}", self.profile.display()))?;
        }
        let arch = load_arch(&self.arch)?;
        let pred = prof.predict(&arch).map_err(|e| anyhow::anyhow!("{}: {e}", self.arch.display()))?;
        if self.json {
            println!(
                "{}",
                serde_json::to_string_pretty(&serde_json::json!({
                    "architecture": self.arch,
                    "device": prof.provenance.device,
                    "predicted_ns": pred.latency_ns,
                    "sum_ns": pred.sum_ns,
                    "blocks": pred.blocks.iter().map(|(k, v)| serde_json::json!({"key": k, "median_ns": v})).collect::<Vec<_>>(),
                }))?
            );
        } else {
            // the profile times the stem and the head as parts of their own, so the parts outnumber
            // the blocks that `space stats` and the architecture count
            let blocks = arch.num_blocks();
            println!(
                "{} on {}: {} predicted (calibrated from {}, the sum of the profile's {} parts: stem, {} blocks, head)",
                self.arch.display(),
                prof.provenance.device,
                human_ns(pred.latency_ns),
                human_ns(pred.sum_ns),
                pred.blocks.len(),
                blocks,
            );
        }
        Ok(())
    }
}
