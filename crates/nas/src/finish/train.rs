//! The finishing's trainings: a model's weights inherited from the supernet (fine-tuned) or
//! trained from scratch, each kept in `finishing/` as it ends (weights, then a JSON sidecar
//! naming genome, steps, seed and start; both atomic) so a resumed search trains none twice;
//! and the retraining of finished models under new seeds (`edgenas confirm`).

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;

use anyhow::{Context, Result};
use edgenas_space::{Architecture, Genome};
use edgenas_train::data::Dataset;
use edgenas_train::trainer::{device, hits, load_weights, predict, save_weights, top1};
use edgenas_train::{train, Net, TrainConfig};
use serde::{Deserialize, Serialize};

use crate::config::{EvalMode, FinishFrom, SearchConfig};
use crate::context::{EvalContext, Scorer};
use crate::evaluate::{Candidate, Record};
use crate::events::{Flow, Observer, Step, Stopped};

/// Weights of a finished model: inherited from the supernet (fine-tuned for `steps` when above
/// 0) or trained (proxy evaluation, for at least the proxy's steps, or `finish_from` scratch),
/// with `seed`; with the accuracy on `valid` after training (`None` for inherited weights used
/// as they are).
pub(crate) fn winner_net(
    ctx: &EvalContext,
    arch: &Architecture,
    valid: &Dataset,
    steps: usize,
    seed: u64,
) -> Result<(Net, Option<f64>)> {
    let config = &ctx.config;
    let from_scratch = |steps: usize| -> Result<(Net, Option<f64>)> {
        let cfg = TrainConfig { steps: Some(steps), seed, ..TrainConfig::default() };
        let (net, metrics) = train(arch, &ctx.splits.train, valid, &cfg, &mut |_| {})?;
        Ok((net, Some(metrics.valid_accuracy)))
    };
    match &ctx.scorer {
        _ if config.finish_from == FinishFrom::Scratch => from_scratch(steps),
        Scorer::Supernet { net, calib } => {
            let (net, metrics) =
                net.fine_tune(arch, calib, config.calib_batches, &ctx.splits.train, valid, steps, seed)?;
            Ok((net, metrics.map(|m| m.valid_accuracy)))
        }
        Scorer::Proxy { steps: proxy } => from_scratch(steps.max(*proxy)),
    }
}

/// Steps a search's finished models train for, as [`winner_net`] counts them: `finish_steps`
/// (default `finetune_steps`), at least `proxy_steps` when proxy scoring trains them from
/// scratch; 0 means they kept the supernet's weights as they are.
pub fn finished_steps(config: &SearchConfig) -> usize {
    let steps = config.finishing_steps();
    match (config.finish_from, config.eval) {
        (FinishFrom::Supernet, EvalMode::Proxy) => steps.max(config.proxy_steps),
        _ => steps,
    }
}

/// One finishing training as kept in `finishing/`: what it was (the key) and the validation
/// accuracy its training reported.
#[derive(Clone, Serialize, Deserialize, PartialEq)]
struct KeptTraining {
    genome: Genome,
    steps: usize,
    seed: u64,
    finish_from: FinishFrom,
    valid_accuracy: Option<f64>,
}

/// The finishing's trainings (winners, baselines, challenger candidates), each kept in
/// `finishing/` as it ends, so a resumed search trains none of them twice.
pub struct Trainings {
    pub dir: PathBuf,
    /// Trained in this run.
    pub trained: usize,
    /// Read back from an earlier, interrupted run.
    pub reused: usize,
    /// Trained or read back in this run (a network finished twice, as a winner and as a
    /// baseline, counts once).
    this_run: HashSet<String>,
    /// Kept by tasks of this run (another process trained them): read back, they count as
    /// trained.
    landed: HashSet<String>,
}

impl Trainings {
    /// The trainings kept in `dir` (the run's `finishing/`).
    pub fn new(dir: PathBuf) -> Self {
        Trainings { dir, trained: 0, reused: 0, this_run: Default::default(), landed: Default::default() }
    }

    /// What identifies `c` trained for `steps` as [`Trainings::net`] would train it, and the
    /// name its files are kept under; `None` when it keeps the supernet's weights untrained
    /// (nothing to keep).
    fn kept_key(ctx: &EvalContext, c: &Candidate, steps: usize) -> Option<(KeptTraining, String)> {
        let config = &ctx.config;
        let trains = steps > 0 || config.finish_from == FinishFrom::Scratch || config.eval == EvalMode::Proxy;
        let kept = KeptTraining {
            genome: c.genome.clone(),
            steps,
            seed: config.seed,
            finish_from: config.finish_from,
            valid_accuracy: None,
        };
        let stem = edgenas_store::content_hash(&serde_json::to_vec(&kept).expect("serializable"));
        trains.then_some((kept, stem))
    }

    /// Of `todo` (candidates and steps), those `Trainings::net` would train now: not kept in
    /// the folder and not untrained; each once, with the name it is kept under.
    pub fn missing<'a>(
        &self,
        ctx: &EvalContext,
        todo: &'a [(Candidate, usize)],
    ) -> Vec<(&'a Candidate, usize, String)> {
        let mut out: Vec<(&Candidate, usize, String)> = Vec::new();
        for (c, steps) in todo {
            if let Some((key, stem)) = Self::kept_key(ctx, c, *steps) {
                if !out.iter().any(|(_, _, s)| *s == stem) && self.read_kept(&key, &stem).is_none() {
                    out.push((c, *steps, stem));
                }
            }
        }
        out
    }

    /// The kept training `stem` when it is `key`'s (its validation accuracy), with its weights'
    /// path; `None` when nothing (or something else) is kept under that name.
    fn read_kept(&self, key: &KeptTraining, stem: &str) -> Option<(Option<f64>, PathBuf)> {
        let (json, weights) = (self.dir.join(format!("{stem}.json")), self.dir.join(format!("{stem}.bpk")));
        let earlier =
            std::fs::read_to_string(&json).ok().and_then(|t| serde_json::from_str::<KeptTraining>(&t).ok())?;
        (KeptTraining { valid_accuracy: None, ..earlier.clone() } == *key).then_some((earlier.valid_accuracy, weights))
    }

    /// Marks the training kept as `stem` as trained by a task of this run.
    pub fn landed(&mut self, stem: String) {
        self.landed.insert(stem);
    }

    /// `c` trained or fine-tuned for `steps` with the search's seed, as [`winner_net`] does, and
    /// the validation accuracy (whole split) its training reported.
    pub(crate) fn net(
        &mut self,
        ctx: &EvalContext,
        c: &Candidate,
        steps: usize,
        obs: &mut dyn Observer,
    ) -> Result<(Net, Option<f64>)> {
        let seed = ctx.config.seed;
        let Some((mut kept, stem)) = Self::kept_key(ctx, c, steps) else {
            // the supernet's weights as they are, batch-norm recalibrated: nothing worth keeping
            return winner_net(ctx, &c.arch, &ctx.splits.valid, steps, seed);
        };
        let weights = self.dir.join(format!("{stem}.bpk"));
        if let Some((valid, weights)) = self.read_kept(&kept, &stem) {
            match load_weights(&c.arch, &weights, &device(seed)) {
                Ok(net) => {
                    if self.this_run.insert(stem.clone()) {
                        if self.landed.contains(&stem) {
                            self.trained += 1;
                        } else {
                            self.reused += 1;
                        }
                    }
                    return Ok((net, valid));
                }
                Err(e) => obs.warning(&format!("warning: {}: {e}; training it again", weights.display())),
            }
        }
        let (net, valid) = winner_net(ctx, &c.arch, &ctx.splits.valid, steps, seed)?;
        std::fs::create_dir_all(&self.dir).with_context(|| format!("cannot create {}", self.dir.display()))?;
        save_weights(&weights, &net)?;
        kept.valid_accuracy = valid;
        edgenas_store::write_json(&self.dir.join(format!("{stem}.json")), &kept)?;
        self.trained += 1;
        self.this_run.insert(stem);
        if obs.kept(Step::Training(self.trained)) == Flow::Stop {
            return Err(Stopped(format!("{} finishing trainings", self.trained)).into());
        }
        Ok((net, valid))
    }
}

/// Fine-tuned weights of challenger candidates (once per genome) and their accuracy on the
/// whole validation split, reused when they are finished.
pub type Tuned = BTreeMap<Genome, (Net, f64)>;

/// `c` (scored `r`) fine-tuned as a winner is, once per genome: its weights and their accuracy
/// on the whole validation split go to `tuned`; returns the accuracy.
pub(crate) fn fine_tune(
    ctx: &EvalContext,
    c: &Candidate,
    r: &Record,
    tuned: &mut Tuned,
    trainings: &mut Trainings,
    obs: &mut dyn Observer,
) -> Result<f64> {
    if let Some((_, a)) = tuned.get(&c.genome) {
        return Ok(*a);
    }
    let (net, valid) = trainings.net(ctx, c, ctx.config.finetune_steps, obs)?;
    let a = valid.unwrap_or(r.accuracy);
    tuned.insert(c.genome.clone(), (net, a));
    Ok(a)
}

/// Retrains the finished models of a search under new seeds, as its finishing did.
pub struct Retrainer {
    ctx: EvalContext,
}

/// One retraining's results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Retrained {
    /// Accuracy on the whole validation split (Burn).
    pub valid_accuracy: f64,
    /// Whether it gets each test image right.
    pub test_hits: Vec<bool>,
}

impl Retrainer {
    /// The data, split and (when finishing fine-tuned from it) the supernet of the search that
    /// `config` describes, in `run`; a missing supernet is an error, not trained anew.
    pub fn new(config: &SearchConfig, run: &crate::RunDir) -> Result<Self> {
        Ok(Retrainer { ctx: EvalContext::for_retraining(config, run)? })
    }

    /// What the retrainings read: settings, run folder, data.
    pub fn context(&self) -> &EvalContext {
        &self.ctx
    }

    /// Steps each finished model was trained or fine-tuned for.
    pub fn steps(&self) -> usize {
        finished_steps(&self.ctx.config)
    }

    /// `arch` trained (or fine-tuned) as the search finished its models, with `seed`.
    pub fn retrain(&self, arch: &Architecture, seed: u64) -> Result<Retrained> {
        let ctx = &self.ctx;
        let net = winner_net(ctx, arch, &ctx.valid, self.steps(), seed)?.0;
        let base = device(seed);
        let (valid, test) = (&ctx.splits.valid, &ctx.splits.test);
        let valid_accuracy = top1(&predict(&net, valid, &base), &valid.labels, valid.classes);
        let test_hits = hits(&predict(&net, test, &base), &test.labels, test.classes);
        Ok(Retrained { valid_accuracy, test_hits })
    }
}
