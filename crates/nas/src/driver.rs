//! The search loop: one generation = ask -> evaluate the genomes not yet journaled (through an
//! [`Executor`]) -> commit their records to the journal in ask order -> tell -> checkpoint.
//! A resumed run reads the journal back, so nothing journaled is evaluated twice, and the
//! engine's checkpoint makes the continuation equal to an uninterrupted run.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use edgenas_search::{hypervolume, Evaluation, Nsga2, Nsga2Config, Termination, Var};
use edgenas_space::Genome;
use edgenas_store::{Header, Journal};

use edgenas_space::Architecture;
use edgenas_train::Splits;

use crate::config::{Algorithm, SearchConfig};
use crate::context::EvalContext;
use crate::evaluate::{evaluate, objectives, violations, Candidate, Record};
use crate::events::{Flow, Observer, Step, Stopped, Task};
use crate::finish::{Retrained, Retrainer, Trainings};
use crate::run_dir::RunDir;

/// Schema version of the search journal's lines.
pub const JOURNAL_SCHEMA: u32 = 1;

/// Where an executor hands each record as it lands: the index of its genome in the batch and
/// the record. The caller commits records to the journal in ask order.
pub type Sink<'a> = dyn FnMut(usize, Record) -> Result<()> + 'a;

/// Where an executor hands each retraining as it lands, with its index in the batch.
pub type RetrainSink<'a> = dyn FnMut(usize, Retrained) -> Result<()> + 'a;

/// Runs the independent work of a search and of `confirm`: in this process ([`InProcess`]) or
/// as the tasks of a cluster ([`crate::slurm::Slurm`]). Each call names its batch of work
/// (`gen-003`, `baselines`, `finishing-1`, ...) the same way on a resumed run, so work handed
/// out before an interruption is found again.
pub trait Executor {
    /// Evaluate `genomes` (distinct, none journaled yet), handing each record to `sink` with its
    /// index as it lands, in any order.
    fn evaluate(
        &mut self,
        ctx: &EvalContext,
        batch: &str,
        genomes: &[Genome],
        obs: &mut dyn Observer,
        sink: &mut Sink,
    ) -> Result<()>;

    /// Make sure the supernet `config` trains into `run` is there before the evaluation context
    /// opens. In-process this is left to the context, which trains it when it opens.
    fn supernet(&mut self, config: &SearchConfig, run: &RunDir, splits: &Splits, obs: &mut dyn Observer) -> Result<()>;

    /// Keep the finishing trainings `todo` (candidates and steps) in `trainings`' folder before
    /// the finishing reads them. In-process this is left to the finishing, which trains each
    /// when it comes to it.
    fn trainings(
        &mut self,
        ctx: &EvalContext,
        batch: &str,
        todo: &[(Candidate, usize)],
        trainings: &mut Trainings,
        obs: &mut dyn Observer,
    ) -> Result<()>;

    /// Retrain each of `jobs` (a network and a seed) as `retrainer` does, handing each result to
    /// `sink` with its index as it lands, in any order.
    fn retrain(
        &mut self,
        retrainer: &Retrainer,
        batch: &str,
        jobs: &[(Architecture, u64)],
        obs: &mut dyn Observer,
        sink: &mut RetrainSink,
    ) -> Result<()>;
}

/// Does the work in this process, one piece after the other (each evaluation is journaled
/// before the next starts, so a killed run loses at most the one under way).
pub struct InProcess;

impl Executor for InProcess {
    fn evaluate(
        &mut self,
        ctx: &EvalContext,
        _batch: &str,
        genomes: &[Genome],
        _obs: &mut dyn Observer,
        sink: &mut Sink,
    ) -> Result<()> {
        for (i, g) in genomes.iter().enumerate() {
            sink(i, evaluate(ctx, g)?)?;
        }
        Ok(())
    }

    fn supernet(&mut self, _: &SearchConfig, _: &RunDir, _: &Splits, _: &mut dyn Observer) -> Result<()> {
        Ok(())
    }

    fn trainings(
        &mut self,
        _: &EvalContext,
        _: &str,
        _: &[(Candidate, usize)],
        _: &mut Trainings,
        _: &mut dyn Observer,
    ) -> Result<()> {
        Ok(())
    }

    fn retrain(
        &mut self,
        retrainer: &Retrainer,
        _batch: &str,
        jobs: &[(Architecture, u64)],
        _obs: &mut dyn Observer,
        sink: &mut RetrainSink,
    ) -> Result<()> {
        for (i, (arch, seed)) in jobs.iter().enumerate() {
            sink(i, retrainer.retrain(arch, *seed)?)?;
        }
        Ok(())
    }
}

/// Commits what lands out of order in order: an item that lands early waits for those before
/// it; `commit` sees each once, by index from 0.
pub struct InOrder<T> {
    early: BTreeMap<usize, T>,
    next: usize,
}

impl<T> Default for InOrder<T> {
    fn default() -> Self {
        InOrder { early: BTreeMap::new(), next: 0 }
    }
}

impl<T> InOrder<T> {
    /// Item `i` landed: commit it and every one after it that waited.
    pub fn land(&mut self, i: usize, item: T, commit: &mut dyn FnMut(usize, T) -> Result<()>) -> Result<()> {
        self.early.insert(i, item);
        while let Some(item) = self.early.remove(&self.next) {
            commit(self.next, item)?;
            self.next += 1;
        }
        Ok(())
    }

    /// How many were committed.
    pub fn committed(&self) -> usize {
        self.next
    }
}

/// The evaluations of a run: what its journal holds, and the journal new ones go to.
pub struct Evaluations {
    journal: Journal<Record>,
    records: BTreeMap<Genome, Record>,
}

impl Evaluations {
    /// The journal of the run `config` describes; with `resume`, what it already holds.
    pub fn open(config: &SearchConfig, resume: bool, obs: &mut dyn Observer) -> Result<Self> {
        let header = Header { journal: "search".into(), schema: JOURNAL_SCHEMA, config_hash: config.hash() };
        let journal: Journal<Record> = Journal::new(&crate::RunDir::new(&config.out).journal(), header);
        let mut records = BTreeMap::new();
        if resume {
            let loaded = journal.load()?;
            if let Some(w) = loaded.torn {
                obs.warning(&format!("warning: {w}"));
            }
            for r in loaded.entries {
                records.insert(r.genome.clone(), r);
            }
        }
        Ok(Evaluations { journal, records })
    }

    /// Every record so far, by genome.
    pub fn records(&self) -> Vec<Record> {
        self.records.values().cloned().collect()
    }

    /// The records of `genomes` (asked by `generation`): journaled ones read back, the others
    /// evaluated by `exec` and journaled in ask order (a genome asked twice is evaluated once).
    pub fn of(
        &mut self,
        ctx: &EvalContext,
        exec: &mut dyn Executor,
        genomes: &[Genome],
        generation: usize,
        obs: &mut dyn Observer,
    ) -> Result<Vec<Record>> {
        let mut missing: Vec<Genome> = Vec::new();
        for g in genomes {
            if !self.records.contains_key(g) && !missing.contains(g) {
                missing.push(g.clone());
            }
        }
        // records are committed in ask order: one that lands early waits for those before it
        let (journal, records) = (&mut self.journal, &mut self.records);
        let mut order = InOrder::default();
        let batch = format!("gen-{generation:03}");
        exec.evaluate(ctx, &batch, &missing, obs, &mut |i, r| {
            order.land(i, r, &mut |_, mut r: Record| {
                r.generation = generation;
                journal.append(&r)?;
                records.insert(r.genome.clone(), r);
                Ok(())
            })
        })?;
        let next = order.committed();
        anyhow::ensure!(next == missing.len(), "{} of {} evaluations came back", next, missing.len());
        Ok(genomes.iter().map(|g| self.records[g].clone()).collect())
    }
}

/// The progress line after a generation: evaluations, best feasible accuracy, hypervolume
/// (reference point fixed at the first generation's worst values x 1.1).
fn report(config: &SearchConfig, all: &[Record], hv_ref: &mut Option<Vec<f64>>, position: u64, obs: &mut dyn Observer) {
    let pts: Vec<Vec<f64>> = all.iter().filter(|r| r.feasible).map(|r| objectives(config, r)).collect();
    if hv_ref.is_none() && !pts.is_empty() {
        let n = pts[0].len();
        *hv_ref = Some((0..n).map(|i| pts.iter().map(|p| p[i]).fold(0.0, f64::max) * 1.1).collect());
    }
    let hv = hv_ref.as_ref().and_then(|r| hypervolume(&pts, r).ok()).unwrap_or(0.0);
    let best = all.iter().filter(|r| r.feasible).map(|r| r.accuracy).fold(0.0, f64::max);
    let message =
        format!("{} evaluated, best feasible validation accuracy {:.2} %, hv {hv:.4}", all.len(), 100.0 * best);
    obs.progress(&Task::Generations, position, &message);
}

/// Run the search `ctx.config` describes, opening with `init` genomes, to its last generation;
/// returns every evaluated record.
pub fn run_search(
    ctx: &EvalContext,
    evals: &mut Evaluations,
    init: &[Genome],
    resume: bool,
    exec: &mut dyn Executor,
    obs: &mut dyn Observer,
) -> Result<Vec<Record>> {
    let config = &ctx.config;
    let genes = ctx.space.genes();
    let vars: Vec<Var> = genes.iter().map(|g| Var::choice(g.choices())).collect();
    let ckpt = crate::RunDir::new(&config.out).checkpoint();
    obs.begin(&Task::Generations, config.generations as u64);
    let mut hv_ref: Option<Vec<f64>> = None;
    match config.algorithm {
        Algorithm::Nsga2 => {
            let mut algo = if resume && ckpt.exists() {
                Nsga2::load_checkpoint(&ckpt, &vars)?
            } else {
                let nsga = Nsga2Config {
                    pop_size: config.population,
                    termination: Termination::generations(config.generations),
                    ..Nsga2Config::default()
                };
                let mut algo = Nsga2::new(nsga, &vars, config.seed)?;
                let xs: Vec<Vec<f64>> = init.iter().map(|g| g.0.iter().map(|&v| v as f64).collect()).collect();
                algo.seed_population(&xs)?;
                algo
            };
            let mut position = algo.generation() as u64;
            obs.progress(&Task::Generations, position, "");
            while !algo.is_done() {
                let xs = algo.ask();
                if xs.is_empty() {
                    break;
                }
                let gs: Vec<Genome> = xs.iter().map(|x| Genome(x.iter().map(|&v| v as usize).collect())).collect();
                let recs = evals.of(ctx, exec, &gs, algo.generation() + 1, obs)?;
                let told = recs.iter().map(|r| Evaluation::constrained(objectives(config, r), violations(config, r)));
                algo.tell(told.collect())?;
                algo.save_checkpoint(&ckpt).with_context(|| format!("cannot write {}", ckpt.display()))?;
                if obs.kept(Step::Generation(algo.generation())) == Flow::Stop {
                    return Err(Stopped(format!("generation {}", algo.generation())).into());
                }
                position += 1;
                report(config, &evals.records(), &mut hv_ref, position, obs);
            }
        }
        Algorithm::Random => {
            use rand::{Rng, SeedableRng};
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(config.seed);
            for gen in 0..config.generations {
                // the first generation opens with the warm-start genomes, as NSGA-II's does
                let warm: &[Genome] = if gen == 0 { init } else { &[] };
                let gs: Vec<Genome> = warm
                    .iter()
                    .cloned()
                    .chain(
                        (warm.len()..config.population)
                            .map(|_| Genome(genes.iter().map(|g| rng.random_range(0..g.choices())).collect())),
                    )
                    .collect();
                evals.of(ctx, exec, &gs, gen + 1, obs)?;
                report(config, &evals.records(), &mut hv_ref, gen as u64 + 1, obs);
            }
        }
    }
    obs.end(&Task::Generations);
    Ok(evals.records())
}
