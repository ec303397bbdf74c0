//! `--executor local|slurm` and the Slurm options, shared by `search`, `run` and `confirm`:
//! where their independent work (evaluations, the supernet's training, finishing trainings,
//! retrainings) runs. The work and its results are the same either way.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;
use clap::{Args, ValueEnum};
use edgenas_nas::{Executor, InProcess, Slurm, SlurmOptions};

/// Where the work runs.
#[derive(Clone, Copy, Debug, PartialEq, ValueEnum)]
pub enum ExecutorKind {
    /// In this process, one piece after the other.
    Local,
    /// As Slurm job arrays (`sbatch`), each task running `edgenas worker`; the run folder (or
    /// --task-dir) and the data must be on a file system every node shares.
    Slurm,
}

/// The executor flags.
#[derive(Args, Clone, Debug)]
pub struct ExecutorArgs {
    /// Where independent work runs: here, or as Slurm job arrays.
    #[arg(long, value_enum, default_value_t = ExecutorKind::Local)]
    pub executor: ExecutorKind,
    /// Slurm partition of the tasks (sbatch --partition).
    #[arg(long, help_heading = "Slurm")]
    pub partition: Option<String>,
    /// Time limit of each task (sbatch --time: MM, HH:MM:SS, D-HH:MM).
    #[arg(long, help_heading = "Slurm")]
    pub time: Option<String>,
    /// CPUs per task (sbatch --cpus-per-task).
    #[arg(long, help_heading = "Slurm", value_parser = clap::value_parser!(u32).range(1..))]
    pub cpus_per_task: Option<u32>,
    /// Generic resources per task, e.g. GPUs (sbatch --gres=gpu:1).
    #[arg(long, help_heading = "Slurm")]
    pub gres: Option<String>,
    /// Memory per task's node (sbatch --mem, e.g. 4G).
    #[arg(long, help_heading = "Slurm")]
    pub mem: Option<String>,
    /// Tasks of one array running at once (sbatch --array=...%K).
    #[arg(long, help_heading = "Slurm", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_running: Option<u32>,
    /// A further sbatch argument for every task, as given; repeat for several
    /// (--sbatch-arg=--account=nas).
    #[arg(long = "sbatch-arg", help_heading = "Slurm", allow_hyphen_values = true)]
    pub sbatch_args: Vec<String>,
    /// A further sbatch argument for the supernet's training alone, after the others; repeat
    /// for several (--supernet-sbatch-arg=--partition=gpu --supernet-sbatch-arg=--gres=gpu:1).
    #[arg(long = "supernet-sbatch-arg", help_heading = "Slurm", allow_hyphen_values = true)]
    pub supernet_sbatch_args: Vec<String>,
    /// Folder of the task, result and log files (default: tasks/ in the run folder); every node
    /// must see it at the same path.
    #[arg(long, help_heading = "Slurm")]
    pub task_dir: Option<PathBuf>,
    /// Resubmissions of a task that fails or leaves the queue without a result (default 2);
    /// after them its candidate is recorded as failed (a finishing training's failure stops the
    /// finishing).
    #[arg(long, help_heading = "Slurm")]
    pub retries: Option<u32>,
    /// Milliseconds between two looks at the queue and the result files (default 1000).
    #[arg(long, help_heading = "Slurm", hide = true)]
    pub poll_ms: Option<u64>,
}

impl ExecutorArgs {
    /// The executor these flags choose; Slurm's is refused when sbatch cannot be run.
    pub fn executor(&self) -> Result<Box<dyn Executor>> {
        match self.executor {
            ExecutorKind::Local => {
                self.check()?;
                Ok(Box::new(InProcess))
            }
            ExecutorKind::Slurm => {
                let defaults = SlurmOptions::default();
                let worker = std::env::current_exe()
                    .map_err(|e| anyhow::anyhow!("cannot find this edgenas executable for the tasks: {e}"))?;
                Ok(Box::new(Slurm::new(SlurmOptions {
                    partition: self.partition.clone(),
                    time: self.time.clone(),
                    cpus_per_task: self.cpus_per_task,
                    gres: self.gres.clone(),
                    mem: self.mem.clone(),
                    max_running: self.max_running,
                    sbatch_args: self.sbatch_args.clone(),
                    supernet_sbatch_args: self.supernet_sbatch_args.clone(),
                    task_dir: self.task_dir.clone(),
                    retries: self.retries.unwrap_or(defaults.retries),
                    poll: self.poll_ms.map(|ms| Duration::from_millis(ms.max(10))).unwrap_or(defaults.poll),
                    worker,
                })?))
            }
        }
    }

    /// Refuses Slurm options without `--executor slurm`.
    pub fn check(&self) -> Result<()> {
        match (self.executor, self.slurm_flag()) {
            (ExecutorKind::Local, Some(flag)) => {
                anyhow::bail!("{flag} is an option of --executor slurm; add --executor slurm or leave it out")
            }
            _ => Ok(()),
        }
    }

    /// The first Slurm option given, by its flag.
    fn slurm_flag(&self) -> Option<&'static str> {
        let given = [
            ("--partition", self.partition.is_some()),
            ("--time", self.time.is_some()),
            ("--cpus-per-task", self.cpus_per_task.is_some()),
            ("--gres", self.gres.is_some()),
            ("--mem", self.mem.is_some()),
            ("--max-running", self.max_running.is_some()),
            ("--sbatch-arg", !self.sbatch_args.is_empty()),
            ("--supernet-sbatch-arg", !self.supernet_sbatch_args.is_empty()),
            ("--task-dir", self.task_dir.is_some()),
            ("--retries", self.retries.is_some()),
            ("--poll-ms", self.poll_ms.is_some()),
        ];
        given.into_iter().find(|(_, g)| *g).map(|(f, _)| f)
    }
}
