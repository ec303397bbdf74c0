//! edgenas-nas: the hardware-aware NAS pipeline as a library, for the CLI and any other process
//! (a worker, a notebook, a test). It owns:
//!
//! - [`config`]: [`SearchConfig`], every setting as plain data (`config.json`), one `Default`;
//! - [`run_dir`]: [`RunDir`], every path of a run folder;
//! - [`context`]: [`EvalContext`], the space, splits, profiles and scorer, opened once;
//! - [`evaluate`]: [`Record`], [`Candidate`] and [`evaluate()`], a candidate's objectives and
//!   constraints as a function of the context and its genome;
//! - [`driver`]: the generation loop (ask, evaluate what is not journaled through an
//!   [`Executor`], in this process or elsewhere, commit in ask order, tell, checkpoint);
//! - [`select`]: the front's spread, challenger pools, dominance and verdicts;
//! - [`finish`]: trainings kept under `finishing/`, export with the tract check, measurement on
//!   the device, model cards, and retraining under new seeds;
//! - [`baselines`]: the space's hand-designed networks and the warm-start genomes;
//! - [`pipeline`]: [`search()`], all of the above in order;
//! - [`tasks`]: work handed to other processes as files (task, result, error) and the worker
//!   that does a task ([`tasks::run_task`]);
//! - [`slurm`]: [`Slurm`], the executor that hands tasks to a Slurm cluster as job arrays,
//!   resubmits failed ones and finds its tasks again after a restart;
//! - `plots` (private): the run folder's two plots, the search's candidates at their search
//!   scores (`pareto.png`) and the finished models at test error and measured latency
//!   (`pareto-finished.png`);
//! - [`events`]: the [`Observer`] the pipeline reports to (it never prints, exits or reads the
//!   environment).
//!
//! Errors are `anyhow` errors with context naming files and flags: the pipeline composes the
//! errors of six crates, and its callers print them; [`Stopped`] marks a stop asked for by the
//! observer.

pub mod arch_file;
pub mod baselines;
pub mod config;
pub mod context;
pub mod driver;
pub mod evaluate;
pub mod events;
pub mod finish;
pub mod pipeline;
mod plots;
pub mod run_dir;
pub mod select;
pub mod slurm;
mod supernet;
pub mod tasks;

pub use config::{Algorithm, ChallengerRank, EvalMode, FinishFrom, Objective, SearchConfig};
pub use context::EvalContext;
pub use driver::{Executor, InProcess};
pub use evaluate::{evaluate, Candidate, Record};
pub use events::{Flow, Observer, Silent, Step, Stopped, Task};
pub use pipeline::{search, SearchOutcome};
pub use run_dir::RunDir;
pub use slurm::{Slurm, SlurmOptions};
pub use supernet::SUPERNET_KEEP_STEPS;
