//! `edgenas worker`: what a Slurm task runs. It does one task of a batch folder for a run
//! folder (settings and data checked against the task), through the same library code as the
//! in-process executor, and writes the result file; it never writes the journal.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use edgenas_nas::tasks::{run_task, Batch};
use edgenas_nas::RunDir;

use crate::progress::CliObserver;

/// `edgenas worker`.
#[derive(Args)]
pub struct WorkerCmd {
    /// The run folder (the search's --out) the task belongs to.
    #[arg(long)]
    run: PathBuf,
    /// The batch folder holding the task (`task-<N>.json`).
    #[arg(long)]
    batch: PathBuf,
    /// The task's index (default: $SLURM_ARRAY_TASK_ID).
    #[arg(long)]
    task: Option<usize>,
    /// No progress bars.
    #[arg(long)]
    quiet: bool,
}

impl WorkerCmd {
    pub fn run(self) -> Result<()> {
        let task = match self.task {
            Some(t) => t,
            None => std::env::var("SLURM_ARRAY_TASK_ID")
                .context("--task is missing and SLURM_ARRAY_TASK_ID is not set")?
                .parse()
                .context("SLURM_ARRAY_TASK_ID: not a task index")?,
        };
        let mut obs = CliObserver::new(self.quiet, false);
        let batch = Batch::new(&self.batch);
        test_hooks(&batch, task)?;
        let r = run_task(&RunDir::new(&self.run), &batch, task, &mut obs)?;
        if !self.quiet {
            eprintln!("{}: done in {:.1} s on {}", batch.result(task).display(), r.seconds, r.host);
        }
        Ok(())
    }
}

/// The tests' hooks, read from the environment (sbatch passes the coordinator's on):
/// `EDGENAS_TEST_WORKER_SLEEP_MS` makes every task wait first (so a test can cancel or kill
/// while tasks run); `EDGENAS_TEST_WORKER_FAIL=<batch>:<index>` makes that task fail every try.
fn test_hooks(batch: &Batch, task: usize) -> Result<()> {
    if let Some(ms) = std::env::var("EDGENAS_TEST_WORKER_SLEEP_MS").ok().and_then(|v| v.parse().ok()) {
        std::thread::sleep(std::time::Duration::from_millis(ms));
    }
    let name = batch.dir().file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    if std::env::var("EDGENAS_TEST_WORKER_FAIL").is_ok_and(|v| v == format!("{name}:{task}")) {
        let why = format!("task {task} of {name} failed on purpose (EDGENAS_TEST_WORKER_FAIL)");
        let _ = edgenas_store::write_atomic(&batch.error(task), why.as_bytes());
        anyhow::bail!(why);
    }
    Ok(())
}
