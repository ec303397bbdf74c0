//! NSGA-II with an ask/tell interface, pymoo-style: sampling, binary tournament, crossover,
//! mutation, duplicate elimination with top-up, rank-and-crowding survival, termination.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::error::SearchError;
use crate::operators::{BinaryTournament, Crossover, DuplicateElimination, Mutation, Sampling};
use crate::problem::{total_violation, validate_vars, Evaluation, Problem, Var};
use crate::survival::{Individual, RankAndCrowding};

/// When to stop. A generation is one `tell`; as in pymoo, the initial population is
/// generation 1, so 250 generations of 100 cost 100 + 249 * 100 = 25,000 evaluations.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Termination {
    /// Stop after this many generations.
    pub max_generations: Option<usize>,
    /// Stop after this many evaluations (the last batch is cut to fit the budget).
    pub max_evaluations: Option<usize>,
}

impl Termination {
    /// Stop after `n` generations.
    pub fn generations(n: usize) -> Self {
        Termination { max_generations: Some(n), max_evaluations: None }
    }

    /// Stop after `n` evaluations.
    pub fn evaluations(n: usize) -> Self {
        Termination { max_generations: None, max_evaluations: Some(n) }
    }

    /// Never stop by itself (ask/tell users decide).
    pub fn never() -> Self {
        Termination { max_generations: None, max_evaluations: None }
    }
}

impl Default for Termination {
    /// 250 generations.
    fn default() -> Self {
        Termination::generations(250)
    }
}

/// NSGA-II settings; the defaults are pymoo 0.6's `NSGA2()`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Nsga2Config {
    /// Population size (survivors per generation).
    pub pop_size: usize,
    /// Offspring per generation; `None` means `pop_size`.
    pub n_offsprings: Option<usize>,
    /// Initial sampling.
    pub sampling: Sampling,
    /// Mating selection.
    pub selection: BinaryTournament,
    /// Recombination.
    pub crossover: Crossover,
    /// Mutation.
    pub mutation: Mutation,
    /// Survival.
    pub survival: RankAndCrowding,
    /// Drop offspring equal to a population member or to an earlier offspring, and mate again
    /// to top up.
    pub eliminate_duplicates: bool,
    /// Mating rounds per generation while topping up after duplicate elimination (pymoo: 100).
    pub max_mating_rounds: usize,
    /// When to stop.
    pub termination: Termination,
}

impl Default for Nsga2Config {
    fn default() -> Self {
        Nsga2Config {
            pop_size: 100,
            n_offsprings: None,
            sampling: Sampling,
            selection: BinaryTournament::default(),
            crossover: Crossover::default(),
            mutation: Mutation::default(),
            survival: RankAndCrowding,
            eliminate_duplicates: true,
            max_mating_rounds: 100,
            termination: Termination::default(),
        }
    }
}

impl Nsga2Config {
    /// Checks sizes and probabilities.
    pub fn validate(&self) -> Result<(), SearchError> {
        let bad = |m: String| Err(SearchError::Config(m));
        if self.pop_size == 0 {
            return bad("pop_size must be at least 1".into());
        }
        if self.n_offsprings == Some(0) {
            return bad("n_offsprings must be at least 1".into());
        }
        if self.max_mating_rounds == 0 {
            return bad("max_mating_rounds must be at least 1".into());
        }
        let probs = [
            ("crossover.prob", Some(self.crossover.prob)),
            ("crossover.sbx.prob_var", Some(self.crossover.sbx.prob_var)),
            ("crossover.sbx.prob_exchange", Some(self.crossover.sbx.prob_exchange)),
            ("crossover.uniform.prob_swap", Some(self.crossover.uniform.prob_swap)),
            ("mutation.prob", Some(self.mutation.prob)),
            ("mutation.prob_var", self.mutation.prob_var),
        ];
        for (name, p) in probs {
            if let Some(p) = p {
                if !(0.0..=1.0).contains(&p) {
                    return bad(format!("{name} must lie in [0, 1], got {p}"));
                }
            }
        }
        for (name, eta) in
            [("crossover.sbx.eta", self.crossover.sbx.eta), ("mutation.polynomial.eta", self.mutation.polynomial.eta)]
        {
            if !(eta.is_finite() && eta >= 0.0) {
                return bad(format!("{name} must be finite and >= 0, got {eta}"));
            }
        }
        Ok(())
    }

    /// Offspring per generation.
    pub fn offsprings(&self) -> usize {
        self.n_offsprings.unwrap_or(self.pop_size)
    }
}

/// The NSGA-II engine, driven by `ask` (genomes to evaluate) and `tell` (their evaluations).
/// Deterministic: the same configuration, variables and seed give bit-identical populations.
/// Its whole state, random generator included, can be saved after any `tell` and resumed
/// (see [`Nsga2::save_checkpoint`]).
#[derive(Clone, Debug)]
pub struct Nsga2 {
    pub(crate) config: Nsga2Config,
    pub(crate) vars: Vec<Var>,
    pub(crate) seed: u64,
    pub(crate) rng: ChaCha8Rng,
    pub(crate) generation: usize,
    pub(crate) evaluations: usize,
    pub(crate) n_obj: Option<usize>,
    pub(crate) n_constr: Option<usize>,
    pub(crate) population: Vec<Individual>,
    pub(crate) pending: Option<Vec<Vec<f64>>>,
    pub(crate) stalled: bool,
}

impl Nsga2 {
    /// A fresh run over `vars` with random generator ChaCha8 seeded by `seed`.
    pub fn new(config: Nsga2Config, vars: &[Var], seed: u64) -> Result<Self, SearchError> {
        config.validate()?;
        validate_vars(vars)?;
        Ok(Nsga2 {
            config,
            vars: vars.to_vec(),
            seed,
            rng: ChaCha8Rng::seed_from_u64(seed),
            generation: 0,
            evaluations: 0,
            n_obj: None,
            n_constr: None,
            population: Vec::new(),
            pending: None,
            stalled: false,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &Nsga2Config {
        &self.config
    }

    /// The decision variables.
    pub fn vars(&self) -> &[Var] {
        &self.vars
    }

    /// The seed the run started from.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Completed generations (tells); the initial population is generation 1.
    pub fn generation(&self) -> usize {
        self.generation
    }

    /// Evaluations told so far.
    pub fn evaluations(&self) -> usize {
        self.evaluations
    }

    /// Number of objectives (known after the first `tell`).
    pub fn n_obj(&self) -> Option<usize> {
        self.n_obj
    }

    /// The current population (after the last survival), front by front.
    pub fn population(&self) -> &[Individual] {
        &self.population
    }

    /// Genomes handed out by `ask` and not yet told.
    pub fn pending(&self) -> Option<&[Vec<f64>]> {
        self.pending.as_deref()
    }

    /// The feasible non-dominated members of the population (rank 0).
    pub fn pareto_front(&self) -> Vec<&Individual> {
        self.population.iter().filter(|i| i.is_feasible() && i.rank == 0).collect()
    }

    /// The objective vectors of [`Nsga2::pareto_front`].
    pub fn front_objectives(&self) -> Vec<Vec<f64>> {
        self.pareto_front().iter().map(|i| i.objectives.clone()).collect()
    }

    /// Whether the run is over: a termination criterion is met, or mating could not produce a
    /// single new genome in `max_mating_rounds` rounds (a tiny discrete space exhausted).
    pub fn is_done(&self) -> bool {
        let t = &self.config.termination;
        self.stalled
            || t.max_generations.is_some_and(|g| self.generation >= g)
            || t.max_evaluations.is_some_and(|e| self.evaluations >= e)
    }

    /// Whether mating stalled (see [`Nsga2::is_done`]).
    pub fn is_stalled(&self) -> bool {
        self.stalled
    }

    fn budget(&self) -> usize {
        self.config.termination.max_evaluations.map_or(usize::MAX, |e| e.saturating_sub(self.evaluations))
    }

    /// The genomes to evaluate next: the initial population first, then each generation's
    /// offspring. Asking again before `tell` returns the same genomes. Empty when the run is
    /// over.
    pub fn ask(&mut self) -> Vec<Vec<f64>> {
        self.ask_pending().map(<[Vec<f64>]>::to_vec).unwrap_or_default()
    }

    /// `ask` without the copy: the pending genomes, produced if needed; `None` when done.
    fn ask_pending(&mut self) -> Option<&[Vec<f64>]> {
        if self.pending.is_none() && !self.is_done() {
            let xs = if self.population.is_empty() { self.initial(Vec::new()) } else { self.offspring() };
            if xs.is_empty() {
                self.stalled = true;
            } else {
                self.pending = Some(xs);
            }
        }
        self.pending.as_deref()
    }

    /// Starts the run from known genomes (a warm start: hand-designed solutions, the winners of
    /// an earlier run): they open the initial population, in order, and random samples fill it
    /// up to `pop_size` (duplicates dropped as usual). Call before the first `ask`; afterwards
    /// `ask` returns this population. Errors name the first genome outside the variables'
    /// bounds, too many genomes, or a run already started.
    pub fn seed_population(&mut self, xs: &[Vec<f64>]) -> Result<(), SearchError> {
        if !self.population.is_empty() || self.pending.is_some() || self.generation > 0 {
            return Err(SearchError::Config("the initial population can only be seeded before the first ask".into()));
        }
        if xs.len() > self.config.pop_size {
            return Err(SearchError::Config(format!(
                "{} seed genomes given, but the population holds {}",
                xs.len(),
                self.config.pop_size
            )));
        }
        for (i, x) in xs.iter().enumerate() {
            if x.len() != self.vars.len() {
                return Err(SearchError::Config(format!(
                    "seed genome {i} has {} values, the problem has {} variables",
                    x.len(),
                    self.vars.len()
                )));
            }
            if let Some(j) = (0..x.len()).find(|&j| !self.vars[j].contains(x[j])) {
                return Err(SearchError::Config(format!(
                    "seed genome {i}: value {} of variable {j} is outside {:?}",
                    x[j], self.vars[j]
                )));
            }
        }
        if self.is_done() {
            return Ok(());
        }
        let xs = self.initial(xs.to_vec());
        if xs.is_empty() {
            self.stalled = true;
        } else {
            self.pending = Some(xs);
        }
        Ok(())
    }

    fn initial(&mut self, seeds: Vec<Vec<f64>>) -> Vec<Vec<f64>> {
        let n = self.config.pop_size.min(self.budget());
        let mut dups = DuplicateElimination::default();
        let mut xs = Vec::with_capacity(n);
        if self.config.eliminate_duplicates {
            dups.extend_unique(&[], &mut xs, seeds, n);
        } else {
            xs.extend(seeds.into_iter().take(n));
        }
        for _ in 0..self.config.max_mating_rounds {
            let missing = n - xs.len();
            if missing == 0 {
                break;
            }
            let batch: Vec<Vec<f64>> =
                (0..missing).map(|_| self.config.sampling.sample(&self.vars, &mut self.rng)).collect();
            if self.config.eliminate_duplicates {
                dups.extend_unique(&[], &mut xs, batch, n);
            } else {
                xs.extend(batch);
            }
        }
        xs
    }

    fn offspring(&mut self) -> Vec<Vec<f64>> {
        let n_off = self.config.offsprings().min(self.budget());
        let cfg = &self.config;
        let known: Vec<&[f64]> = self.population.iter().map(|i| i.x.as_slice()).collect();
        let mut dups = DuplicateElimination::with(known.iter().copied());
        let mut off: Vec<Vec<f64>> = Vec::with_capacity(n_off);
        for _ in 0..cfg.max_mating_rounds {
            if off.len() >= n_off {
                break;
            }
            let remaining = n_off - off.len();
            let n_matings = remaining.div_ceil(2);
            let parents = cfg.selection.select(&self.population, 2 * n_matings, &mut self.rng);
            let mut batch = Vec::with_capacity(2 * n_matings);
            for pair in parents.chunks_exact(2) {
                let (a, b) = (&self.population[pair[0]].x, &self.population[pair[1]].x);
                let [c1, c2] = cfg.crossover.mate(&self.vars, a, b, &mut self.rng);
                batch.push(c1);
                batch.push(c2);
            }
            for x in &mut batch {
                cfg.mutation.mutate(&self.vars, x, &mut self.rng);
            }
            if cfg.eliminate_duplicates {
                dups.extend_unique(&known, &mut off, batch, n_off);
            } else {
                batch.truncate(remaining);
                off.extend(batch);
            }
        }
        off
    }

    /// Hands in the evaluations of the genomes from the last `ask`, in order; runs survival
    /// and advances one generation. NaN objectives and constraint values are stored as +inf
    /// (worst). Errors leave the state unchanged.
    pub fn tell(&mut self, evals: Vec<Evaluation>) -> Result<(), SearchError> {
        let Some(xs) = &self.pending else {
            return Err(SearchError::Tell("nothing was asked (call ask first)".into()));
        };
        if evals.len() != xs.len() {
            return Err(SearchError::Tell(format!(
                "{} genomes were asked, {} evaluations told",
                xs.len(),
                evals.len()
            )));
        }
        let n_obj = self.n_obj.unwrap_or_else(|| evals[0].objectives.len());
        let n_constr = self.n_constr.unwrap_or_else(|| evals[0].violations.len());
        if n_obj == 0 {
            return Err(SearchError::Tell("an evaluation needs at least one objective".into()));
        }
        for (i, e) in evals.iter().enumerate() {
            if e.objectives.len() != n_obj || e.violations.len() != n_constr {
                return Err(SearchError::Tell(format!(
                    "evaluation {i} has {} objectives and {} constraints, expected {n_obj} and {n_constr}",
                    e.objectives.len(),
                    e.violations.len()
                )));
            }
        }
        let xs = self.pending.take().unwrap_or_default();
        let n = xs.len();
        let sanitize = |v: Vec<f64>| v.into_iter().map(|x| if x.is_nan() { f64::INFINITY } else { x }).collect();
        let mut merged = std::mem::take(&mut self.population);
        merged.extend(xs.into_iter().zip(evals).map(|(x, e)| {
            let violations: Vec<f64> = sanitize(e.violations);
            Individual {
                x,
                objectives: sanitize(e.objectives),
                cv: total_violation(&violations),
                violations,
                rank: 0,
                crowding: 0.0,
            }
        }));
        self.population = self.config.survival.survive(merged, self.config.pop_size, &mut self.rng);
        self.n_obj = Some(n_obj);
        self.n_constr = Some(n_constr);
        self.generation += 1;
        self.evaluations += n;
        Ok(())
    }

    /// Runs ask/evaluate/tell until done, calling `callback` after every generation (e.g. to
    /// save a checkpoint or report progress; an error from it stops the run). Continues a
    /// resumed run as well as a fresh one.
    pub fn run_with<P, F>(&mut self, problem: &P, mut callback: F) -> Result<(), SearchError>
    where
        P: Problem + ?Sized,
        F: FnMut(&Nsga2) -> Result<(), SearchError>,
    {
        let t = &self.config.termination;
        if t.max_generations.is_none() && t.max_evaluations.is_none() {
            return Err(SearchError::Config("run needs max_generations or max_evaluations".into()));
        }
        if problem.vars() != self.vars.as_slice() {
            return Err(SearchError::Problem("the problem's variables differ from the algorithm's".into()));
        }
        if let Some(n) = self.n_obj {
            if n != problem.n_obj() {
                return Err(SearchError::Problem(format!(
                    "the run has {n} objectives, the problem {}",
                    problem.n_obj()
                )));
            }
        }
        while !self.is_done() {
            if self.ask_pending().is_none() {
                break;
            }
            let evals = problem.evaluate(self.pending.as_deref().unwrap_or_default());
            if let Some(e) =
                evals.iter().find(|e| e.objectives.len() != problem.n_obj() || e.violations.len() != problem.n_constr())
            {
                return Err(SearchError::Problem(format!(
                    "the problem declares {} objectives and {} constraints but returned {} and {}",
                    problem.n_obj(),
                    problem.n_constr(),
                    e.objectives.len(),
                    e.violations.len()
                )));
            }
            self.tell(evals)?;
            callback(self)?;
        }
        Ok(())
    }
}

/// Solves `problem` from scratch: `Nsga2::new(config, problem.vars(), seed)` then
/// [`Nsga2::run_with`]. Returns the finished algorithm (population, front, counters).
pub fn run<P, F>(problem: &P, config: Nsga2Config, seed: u64, callback: F) -> Result<Nsga2, SearchError>
where
    P: Problem + ?Sized,
    F: FnMut(&Nsga2) -> Result<(), SearchError>,
{
    let mut algo = Nsga2::new(config, problem.vars(), seed)?;
    algo.run_with(problem, callback)?;
    Ok(algo)
}
