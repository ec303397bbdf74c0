//! One candidate's evaluation: accuracy from the scorer, predicted latency on every profile,
//! flash, SRAM and counts, feasibility under the budgets; and the objective and constraint
//! values the engine sees. A function of the context and the genome, callable from any process.

use std::collections::BTreeMap;

use anyhow::Result;
use edgenas_onnx::{export_architecture, to_bytes, TractModel};
use edgenas_space::{Architecture, Genome, SearchSpace};
use edgenas_train::data::Dataset;
use edgenas_train::supernet::Supernet;
use edgenas_train::trainer::top1;
use edgenas_train::{train, TrainConfig};
use serde::{Deserialize, Serialize};

use crate::config::{Objective, SearchConfig};
use crate::context::{EvalContext, Scorer};

/// One evaluated architecture (a line of `journal.jsonl`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// Gene values.
    pub genome: Genome,
    /// Generation that first asked for it (0 for baselines).
    pub generation: usize,
    /// Validation top-1 accuracy.
    pub accuracy: f64,
    /// Predicted latency per profile, ms.
    pub latency_ms: Vec<f64>,
    /// Flash bytes (f32 weights).
    pub flash_bytes: u64,
    /// Peak activation bytes (f32).
    pub sram_bytes: u64,
    /// Multiply-accumulates.
    pub macs: u64,
    /// Parameters.
    pub params: u64,
    /// Within every budget.
    pub feasible: bool,
    /// Seconds spent measuring its accuracy.
    pub seconds: f64,
    /// Why its accuracy could not be measured (a task that failed every retry): it then scores
    /// 0 and is infeasible, and the search goes on without it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed: Option<String>,
}

#[cfg(test)]
impl Record {
    /// A record with only its scores set, for unit tests of what reads them.
    pub(crate) fn scored(accuracy: f64, latency_ms: f64, feasible: bool) -> Record {
        Record {
            genome: edgenas_space::Genome(Vec::new()),
            generation: 1,
            accuracy,
            latency_ms: vec![latency_ms],
            flash_bytes: 0,
            sram_bytes: 0,
            macs: 0,
            params: 0,
            feasible,
            seconds: 0.0,
            failed: None,
        }
    }
}

/// A genome and the network it builds, decoded once.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub genome: Genome,
    pub arch: Architecture,
}

impl Candidate {
    /// `genome` decoded in `space`.
    pub fn decode(space: &SearchSpace, genome: &Genome) -> Result<Self> {
        Ok(Candidate { genome: genome.clone(), arch: space.decode(genome)? })
    }
}

/// The networks of a run's evaluated genomes, each decoded once after the search (genomes that
/// differ only in genes of unused blocks decode to the same network).
#[derive(Debug, Default)]
pub struct Decoded(BTreeMap<Genome, Architecture>);

impl Decoded {
    /// The networks of `records`' genomes in `space`.
    pub fn of<'a>(space: &SearchSpace, records: impl IntoIterator<Item = &'a Record>) -> Result<Self> {
        let mut archs = BTreeMap::new();
        for r in records {
            if !archs.contains_key(&r.genome) {
                archs.insert(r.genome.clone(), space.decode(&r.genome)?);
            }
        }
        Ok(Decoded(archs))
    }

    /// The network of `genome`, when it was among the decoded.
    pub fn arch(&self, genome: &Genome) -> Option<&Architecture> {
        self.0.get(genome)
    }

    /// The candidate `r` stands for.
    pub fn candidate(&self, r: &Record) -> Result<Candidate> {
        let arch = self.arch(&r.genome).ok_or_else(|| anyhow::anyhow!("genome {:?} was not decoded", r.genome.0))?;
        Ok(Candidate { genome: r.genome.clone(), arch: arch.clone() })
    }
}

/// Accuracy on `valid` of subnet `arch` with the supernet's weights: batch-norm recalibrated
/// in Burn, then the images run through the ONNX export in tract, spread over the cores (1.5x
/// faster than the Burn forward here, same accuracy).
pub(crate) fn supernet_accuracy(
    config: &SearchConfig,
    net: &Supernet,
    calib: &Dataset,
    arch: &Architecture,
    valid: &Dataset,
) -> Result<f64> {
    let w = net.extract(arch, calib, 64, config.calib_batches, config.seed);
    let tract = TractModel::from_bytes(&to_bytes(&export_architecture(arch, &w)?))?;
    Ok(top1(&tract.run_many(&valid.images)?, &valid.labels, valid.classes))
}

/// The record of `genome` (generation 0; the driver sets the generation that asked for it).
pub fn evaluate(ctx: &EvalContext, genome: &Genome) -> Result<Record> {
    let c = Candidate::decode(&ctx.space, genome)?;
    let arch = &c.arch;
    let started = std::time::Instant::now();
    let accuracy = match &ctx.scorer {
        Scorer::Supernet { net, calib } => supernet_accuracy(&ctx.config, net, calib, arch, &ctx.valid)?,
        Scorer::Proxy { steps } => {
            let cfg = TrainConfig { steps: Some(*steps), seed: ctx.config.seed, ..TrainConfig::default() };
            train(arch, &ctx.splits.train, &ctx.valid, &cfg, &mut |_| {})?.1.valid_accuracy
        }
    };
    record(ctx, c, accuracy, started.elapsed().as_secs_f64(), None)
}

/// The record of `genome` whose accuracy could not be measured (`reason`): latency, size and
/// counts as [`evaluate`] gives them, accuracy 0, infeasible.
pub fn failed(ctx: &EvalContext, genome: &Genome, reason: &str) -> Result<Record> {
    let c = Candidate::decode(&ctx.space, genome)?;
    record(ctx, c, 0.0, 0.0, Some(reason.to_string()))
}

/// `c`'s record with `accuracy`: predicted latency on every profile, size, counts, feasibility.
fn record(ctx: &EvalContext, c: Candidate, accuracy: f64, seconds: f64, failed: Option<String>) -> Result<Record> {
    let arch = &c.arch;
    let latency_ms =
        ctx.profiles.iter().map(|p| Ok(p.predict(arch)?.latency_ns / 1e6)).collect::<Result<Vec<f64>>>()?;
    let s = arch.stats();
    let mut r = Record {
        genome: c.genome,
        generation: 0,
        accuracy,
        latency_ms,
        flash_bytes: s.flash_f32_bytes,
        sram_bytes: s.peak_activation_f32_bytes,
        macs: s.macs,
        params: s.params,
        feasible: true,
        seconds,
        failed,
    };
    r.feasible = r.failed.is_none() && violations(&ctx.config, &r).iter().all(|&v| v <= 0.0);
    Ok(r)
}

/// Constraint values of `r` under `config`'s budgets: `(value - budget) / budget`, feasible at 0
/// or below; a failed evaluation violates each by at least 1.
pub fn violations(config: &SearchConfig, r: &Record) -> Vec<f64> {
    let mut v: Vec<f64> = config.latency_budget_ms.iter().zip(&r.latency_ms).map(|(b, l)| (l - b) / b).collect();
    if let Some(b) = config.flash_budget_kib {
        v.push((r.flash_bytes as f64 / 1024.0 - b) / b);
    }
    if let Some(b) = config.sram_budget_kib {
        v.push((r.sram_bytes as f64 / 1024.0 - b) / b);
    }
    if r.failed.is_some() {
        v.iter_mut().for_each(|x| *x = x.max(1.0));
    }
    v
}

/// Objective values of `r` (all minimized), in `config.objectives`' order.
pub fn objectives(config: &SearchConfig, r: &Record) -> Vec<f64> {
    let mut o = Vec::new();
    for obj in &config.objectives {
        match obj {
            Objective::Error => o.push(1.0 - r.accuracy),
            Objective::Latency => o.extend(&r.latency_ms),
            Objective::Flash => o.push(r.flash_bytes as f64 / 1024.0),
            Objective::Sram => o.push(r.sram_bytes as f64 / 1024.0),
        }
    }
    o
}

impl EvalContext {
    /// Accuracy of `c` on the whole validation split (supernet scoring; proxy training keeps
    /// `scored`, the accuracy it has: retraining would cost a training per record).
    pub fn full_accuracy(&self, c: &Candidate, scored: f64) -> Result<f64> {
        match &self.scorer {
            Scorer::Supernet { net, calib } if self.valid.len() < self.splits.valid.len() => {
                supernet_accuracy(&self.config, net, calib, &c.arch, &self.splits.valid)
            }
            _ => Ok(scored),
        }
    }
}
