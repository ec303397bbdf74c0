//! edgenas-search owns the multi-objective search engine and nothing else: a problem-agnostic
//! NSGA-II in the style of pymoo's core (sampling, mating selection, crossover, mutation,
//! duplicate elimination, survival and termination as small serializable types, driven by
//! ask/tell), its checkpoints, quality indicators (exact hypervolume, GD, IGD) and standard
//! test problems (ZDT1-3, DTLZ2, BNH). It knows nothing about neural networks: a NAS problem
//! is just a [`Problem`] whose variables are choices.
//!
//! Genomes are `Vec<f64>`, one value per [`Var`]: reals in `[lo, hi]`, integers and choice
//! indices as integral values. Objectives and constraints are minimized; a constraint value
//! `<= 0` is satisfied.
//!
//! ```
//! use edgenas_search::{problems::Zdt1, run, Nsga2Config, Termination, hypervolume};
//! let config = Nsga2Config { termination: Termination::generations(100), ..Nsga2Config::default() };
//! let algo = run(&Zdt1::default(), config, 42, |_| Ok(())).unwrap();
//! let hv = hypervolume(&algo.front_objectives(), &[1.1, 1.1]).unwrap();
//! assert!(hv > 0.8, "{hv}");
//! ```
//!
//! Ask/tell, for evaluations the engine does not drive (a device farm, a training queue):
//!
//! ```
//! use edgenas_search::{problems::Zdt1, Nsga2, Nsga2Config, Problem, Termination};
//! let problem = Zdt1::default();
//! let config = Nsga2Config { termination: Termination::generations(5), ..Nsga2Config::default() };
//! let mut algo = Nsga2::new(config, problem.vars(), 7).unwrap();
//! while !algo.is_done() {
//!     let xs = algo.ask();
//!     algo.tell(problem.evaluate(&xs)).unwrap();
//! }
//! assert_eq!(algo.evaluations(), 500);
//! ```
//!
//! A warm start: known genomes (hand-designed solutions, an earlier run's winners) open the
//! initial population with [`Nsga2::seed_population`], random samples fill the rest.

#![warn(missing_docs)]

pub mod checkpoint;
pub mod error;
mod fser;
pub mod indicators;
pub mod nsga2;
pub mod operators;
pub mod problem;
pub mod problems;
pub mod survival;

pub use checkpoint::{write_atomic, Nsga2State, RngState, CHECKPOINT_FORMAT, CHECKPOINT_VERSION};
pub use error::SearchError;
pub use indicators::{gd, hypervolume, igd, non_dominated, non_dominated_points};
pub use nsga2::{run, Nsga2, Nsga2Config, Termination};
pub use operators::{
    BinaryTournament, Crossover, DuplicateElimination, Mutation, PolynomialMutation, RandomResetMutation, Sampling,
    Sbx, TournamentKind, UniformCrossover,
};
pub use problem::{total_violation, Evaluation, Problem, Var};
pub use survival::{crowding_distance, dominates, non_dominated_sort, Individual, RankAndCrowding};
