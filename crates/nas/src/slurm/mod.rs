//! [`Slurm`]: an [`crate::Executor`] that hands a search's independent work to a Slurm cluster as job
//! arrays (`sbatch --array`), one batch folder per piece of work (see [`crate::tasks`]), and
//! takes the results back as the tasks land. Each task runs `edgenas worker`. A task that
//! leaves the queue without a result (failed, cancelled, timed out, node lost) is resubmitted
//! up to `retries` times. Every submission is recorded in the batch's `jobs.jsonl`, so a
//! coordinator started again finds the results that landed, waits for tasks still queued or
//! running (`squeue`), and submits only what is missing. `sacct` is never used: clusters
//! without accounting have none.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use edgenas_store::{Header, Journal};
use serde::{Deserialize, Serialize};

use crate::events::Observer;
use crate::run_dir::RunDir;
use crate::tasks::{now, write_tasks, Batch, Output, Work};

mod executor;

/// Supernet scores per task. A score takes about a second (calibration and the validation
/// images through tract); a task costs about a second of a slot on Slurm (scheduling and
/// launch, measured in BENCHMARKS.md), plus the worker's start (settings, data, supernet:
/// tenths of a second). With 8 scores a task spends close to 90 % of its time scoring, and a
/// generation of 24 still spreads over 3 nodes; one score per task would spend half of the
/// cluster's time starting tasks.
pub const SUPERNET_CHUNK: usize = 8;

/// Looks at a failing `squeue`, 2 s apart, before the coordinator gives up.
const QUEUE_TRIES: usize = 30;

/// What the coordinator knows of a batch's tasks while it watches them.
#[derive(Default)]
struct Watch {
    /// Submissions of each task so far (since its last give-up).
    tries: BTreeMap<usize, u32>,
    /// Tasks submitted and not landed, with their latest job.
    waiting: BTreeMap<usize, String>,
    to_submit: Vec<usize>,
    /// Gone from the queue without a result at the last look.
    suspect: BTreeSet<usize>,
    /// Warned about as held or waiting for an unavailable node.
    held: BTreeSet<usize>,
}

impl Watch {
    fn done(&mut self, i: usize) {
        self.waiting.remove(&i);
        self.suspect.remove(&i);
    }
}

/// How the tasks are submitted: `sbatch`'s options and the coordinator's.
#[derive(Debug, Clone, PartialEq)]
pub struct SlurmOptions {
    /// `--partition`.
    pub partition: Option<String>,
    /// `--time`: the limit of each task (Slurm's formats: `MM`, `HH:MM:SS`, `D-HH`).
    pub time: Option<String>,
    /// `--cpus-per-task`.
    pub cpus_per_task: Option<u32>,
    /// `--gres` (GPUs: `gpu:1`).
    pub gres: Option<String>,
    /// `--mem`: memory per node (`4G`).
    pub mem: Option<String>,
    /// Tasks of one array running at once (`--array=...%K`).
    pub max_running: Option<u32>,
    /// Further `sbatch` arguments, as given, for every task.
    pub sbatch_args: Vec<String>,
    /// Further `sbatch` arguments for the supernet's training alone (after the others: a GPU
    /// partition and `--gres=gpu:1`).
    pub supernet_sbatch_args: Vec<String>,
    /// Where the batch folders go (`None`: `tasks/` in the run folder); every node must see it.
    pub task_dir: Option<PathBuf>,
    /// Resubmissions of a task that left the queue without a result.
    pub retries: u32,
    /// Between two looks at the queue and the result files.
    pub poll: Duration,
    /// The `edgenas` executable the tasks run (every node must be able to run it).
    pub worker: PathBuf,
}

impl Default for SlurmOptions {
    fn default() -> Self {
        SlurmOptions {
            partition: None,
            time: None,
            cpus_per_task: None,
            gres: None,
            mem: None,
            max_running: None,
            sbatch_args: Vec::new(),
            supernet_sbatch_args: Vec::new(),
            task_dir: None,
            retries: 2,
            poll: Duration::from_secs(1),
            worker: PathBuf::from("edgenas"),
        }
    }
}

/// One submission of a batch's tasks, as `jobs.jsonl` records it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Submission {
    job: String,
    tasks: Vec<usize>,
    /// Seconds since the Unix epoch when `sbatch` accepted it (for the cost per task).
    #[serde(default)]
    submitted_at: f64,
    /// Not a submission: `tasks` failed every try and were given up (a coordinator that asks
    /// for them again starts their tries anew).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    gave_up: bool,
}

/// The Slurm executor.
pub struct Slurm {
    opts: SlurmOptions,
    /// The folder tasks start in (relative paths of the run's settings resolve from it).
    cwd: PathBuf,
}

impl Slurm {
    /// An executor submitting with `opts`; refused when `sbatch` cannot be run here.
    pub fn new(opts: SlurmOptions) -> Result<Self> {
        let out = Command::new("sbatch").arg("--version").output();
        match out {
            Ok(o) if o.status.success() => {}
            _ => bail!(
                "--executor slurm: cannot run `sbatch --version`; Slurm's client commands (sbatch, squeue, \
                 scontrol) must be on PATH, with SLURM_CONF naming the cluster when it is not the default"
            ),
        }
        let cwd = std::env::current_dir().context("cannot read the current folder")?;
        Ok(Slurm { opts, cwd })
    }

    fn batch(&self, run: &RunDir, name: &str) -> Batch {
        let root = self.opts.task_dir.clone().unwrap_or_else(|| run.tasks());
        Batch::new(self.absolute(&root).join(name))
    }

    fn absolute(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.cwd.join(p)
        }
    }

    /// Runs `works` as the tasks of `batch` and hands each one's output (or why it failed every
    /// try) to `landed`, with its index in `works`, as it lands. A result already in the batch
    /// folder is used as it is when `reuse` (the result is the data: scores, retrainings);
    /// otherwise it is stale (the work's files elsewhere are missing, or it would not have been
    /// asked for again) and the task runs again.
    #[allow(clippy::too_many_arguments)] // the batch, what it is for, and where results go
    fn run_batch(
        &self,
        run: &RunDir,
        batch: &Batch,
        (config_hash, data): (&str, &str),
        works: Vec<Work>,
        reuse: bool,
        extra: &[String],
        obs: &mut dyn Observer,
        landed: &mut dyn FnMut(usize, std::result::Result<Output, String>) -> Result<()>,
    ) -> Result<()> {
        let indices = write_tasks(batch, config_hash, data, works)?;
        // equal works share a task: its output goes to each of them
        let mut positions: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
        for (p, &i) in indices.iter().enumerate() {
            positions.entry(i).or_default().push(p);
        }
        let mut deliver = |i: usize, out: std::result::Result<Output, String>| -> Result<()> {
            for &p in &positions[&i] {
                landed(p, out.clone())?;
            }
            Ok(())
        };
        let mut jobs = Journal::<Submission>::new(
            &batch.jobs(),
            Header { journal: "slurm-jobs".into(), schema: 1, config_hash: config_hash.to_string() },
        );
        let mut watch = Watch::default();
        let mut latest: BTreeMap<usize, String> = BTreeMap::new();
        for s in jobs.load()?.entries {
            for &i in &s.tasks {
                if s.gave_up {
                    // asked for again after a give-up: a fresh set of tries
                    watch.tries.remove(&i);
                    latest.remove(&i);
                } else {
                    *watch.tries.entry(i).or_default() += 1;
                    latest.insert(i, s.job.clone());
                }
            }
        }
        let mut reused = 0;
        for &i in positions.keys() {
            if !reuse {
                let _ = std::fs::remove_file(batch.result(i));
            }
            if let Some(r) = batch.read_result(i) {
                reused += 1;
                deliver(i, Ok(r.output))?;
            } else if let Some(job) = latest.get(&i) {
                // submitted by an earlier coordinator: waited for while it is in the queue
                watch.waiting.insert(i, job.clone());
            } else {
                watch.to_submit.push(i);
            }
        }
        if reused > 0 || !watch.waiting.is_empty() {
            obs.note(&format!(
                "{}: {reused} results already landed, {} tasks submitted earlier",
                batch.dir().display(),
                watch.waiting.len()
            ));
        }
        loop {
            if !watch.to_submit.is_empty() {
                let tasks = std::mem::take(&mut watch.to_submit);
                let job = self.submit(run, batch, &tasks, extra)?;
                jobs.append(&Submission {
                    job: job.clone(),
                    tasks: tasks.clone(),
                    submitted_at: now(),
                    gave_up: false,
                })?;
                obs.note(&format!("{}: {} tasks submitted as job {job}", batch.dir().display(), tasks.len()));
                for i in tasks {
                    *watch.tries.entry(i).or_default() += 1;
                    watch.waiting.insert(i, job.clone());
                }
            }
            if watch.waiting.is_empty() {
                return Ok(());
            }
            std::thread::sleep(self.opts.poll);
            // the queue first, then the result files: a task gone from the queue wrote its
            // result before it left
            let queued = self.queued(batch)?;
            for (i, job) in watch.waiting.clone() {
                if let Some(r) = batch.read_result(i) {
                    deliver(i, Ok(r.output))?;
                    watch.done(i);
                } else if let Some(state) = queued.get(&(job.clone(), i)) {
                    watch.suspect.remove(&i);
                    let stuck = ["Held", "NotAvail", "PartitionDown"].iter().any(|w| state.contains(w));
                    if stuck && watch.held.insert(i) {
                        obs.warning(&format!("warning: {}: job {job}_{i} waits: {state}", batch.task(i).display()));
                    }
                } else if watch.suspect.insert(i) {
                    // gone without a result: confirmed at the next look, so a result still on
                    // its way over a network file system is not taken for a failure
                } else if let Some(why) = self.failed_try(batch, &job, i, &mut watch, obs) {
                    jobs.append(&Submission { job, tasks: vec![i], submitted_at: now(), gave_up: true })?;
                    deliver(i, Err(why))?;
                }
            }
        }
    }

    /// Task `i` (of job `job`) left the queue without a result: resubmitted while retries are
    /// left; otherwise returns why it is given up.
    fn failed_try(
        &self,
        batch: &Batch,
        job: &str,
        i: usize,
        watch: &mut Watch,
        obs: &mut dyn Observer,
    ) -> Option<String> {
        let why = self.why(batch, job, i);
        watch.done(i);
        let tries = watch.tries[&i];
        if tries <= self.opts.retries {
            let (task, next, of) = (batch.task(i), tries + 1, self.opts.retries + 1);
            obs.warning(&format!("warning: {}: {why}; resubmitting it (try {next} of {of})", task.display()));
            watch.to_submit.push(i);
            None
        } else {
            let why = format!("{} failed {tries} times, the last: {why}", batch.task(i).display());
            obs.warning(&format!("warning: {why}"));
            Some(why)
        }
    }

    /// Why task `i` of job `job` left the queue without a result: the worker's error, what
    /// `scontrol` still knows of the task, and where its log is.
    fn why(&self, batch: &Batch, job: &str, i: usize) -> String {
        let mut parts = Vec::new();
        let error = std::fs::read_to_string(batch.error(i));
        let _ = std::fs::remove_file(batch.error(i));
        match error {
            Ok(e) => parts.push(e.trim().to_string()),
            Err(_) => parts.push("it left the queue without a result".to_string()),
        }
        let state = Command::new("scontrol").args(["show", "job", &format!("{job}_{i}")]).output();
        if let Some(o) = state.ok().filter(|o| o.status.success()) {
            let text = String::from_utf8_lossy(&o.stdout);
            let fields: Vec<&str> = text
                .split_whitespace()
                .filter(|f| ["JobState=", "Reason=", "ExitCode="].iter().any(|k| f.starts_with(k)))
                .collect();
            if !fields.is_empty() {
                parts.push(format!("Slurm: {}", fields.join(" ")));
            }
        }
        let log = batch.log(job, i);
        if log.exists() {
            parts.push(format!("log {}", log.display()));
        } else {
            parts.push(format!("no log at {}: is the task folder on a file system every node shares?", log.display()));
        }
        parts.join("; ")
    }

    /// This user's tasks in the queue: (job, task) -> state and reason. A failing `squeue` (a
    /// busy controller) is asked again for about a minute, then it is an error naming what it
    /// said.
    fn queued(&self, batch: &Batch) -> Result<BTreeMap<(String, usize), String>> {
        let mut said = String::new();
        for _ in 0..QUEUE_TRIES {
            let out = Command::new("squeue").args(["-h", "-r", "--me", "-o", "%F %K %T %r"]).output();
            match out {
                Ok(o) if o.status.success() => {
                    let text = String::from_utf8_lossy(&o.stdout);
                    return Ok(text
                        .lines()
                        .filter_map(|l| {
                            let mut f = l.splitn(3, ' ');
                            let key = (f.next()?.to_string(), f.next()?.parse().ok()?);
                            Some((key, f.next().unwrap_or("").to_string()))
                        })
                        .collect());
                }
                Ok(o) => said = String::from_utf8_lossy(&o.stderr).trim().replace('\n', " "),
                Err(e) => said = e.to_string(),
            }
            std::thread::sleep(Duration::from_secs(2));
        }
        bail!(
            "squeue -h -r --me failed {QUEUE_TRIES} times in a row ({said}); the submitted tasks are recorded in {}, \
             so --resume finds them (Slurm 20.11 or later is needed for --me)",
            batch.jobs().display()
        )
    }

    /// Submits tasks `indices` of `batch` as one job array; returns its job id.
    fn submit(&self, run: &RunDir, batch: &Batch, indices: &[usize], extra: &[String]) -> Result<String> {
        let script = format!(
            "#!/bin/sh\n# one task of the edgenas batch in this folder: the array index is the task\nexec {} worker --run {} --batch {} --quiet\n",
            quote(&self.absolute(&self.opts.worker)),
            quote(&self.absolute(run.root())),
            quote(batch.dir())
        );
        edgenas_store::write_atomic(&batch.script(), script.as_bytes())
            .with_context(|| format!("cannot write {}", batch.script().display()))?;
        let mut array = ranges(indices);
        if let Some(k) = self.opts.max_running {
            array.push_str(&format!("%{k}"));
        }
        let name = batch.dir().file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let mut cmd = Command::new("sbatch");
        cmd.arg("--parsable")
            .arg(format!("--array={array}"))
            .arg(format!("--job-name=edgenas-{name}"))
            .arg(format!("--output={}", batch.dir().join("log-%A_%a.txt").display()))
            .arg(format!("--chdir={}", self.cwd.display()));
        let o = &self.opts;
        let flags = [("partition", &o.partition), ("time", &o.time), ("gres", &o.gres), ("mem", &o.mem)];
        for (flag, value) in flags {
            if let Some(v) = value {
                cmd.arg(format!("--{flag}={v}"));
            }
        }
        if let Some(c) = o.cpus_per_task {
            cmd.arg(format!("--cpus-per-task={c}"));
        }
        cmd.args(&o.sbatch_args).args(extra).arg(batch.script());
        let out = cmd.output().context("cannot run sbatch")?;
        if !out.status.success() {
            bail!(
                "sbatch refused the tasks of {}: {}",
                batch.dir().display(),
                String::from_utf8_lossy(&out.stderr).trim().replace('\n', " ")
            );
        }
        let text = String::from_utf8_lossy(&out.stdout);
        let job = text.trim().split(';').next().unwrap_or("").to_string();
        if job.is_empty() || !job.chars().all(|c| c.is_ascii_digit()) {
            bail!("sbatch answered {:?}, not a job id", text.trim());
        }
        Ok(job)
    }
}

/// A path in single quotes for `sh`.
fn quote(p: &Path) -> String {
    format!("'{}'", p.display().to_string().replace('\'', r"'\''"))
}

/// Indices as Slurm's array ranges: `0-3,5,7-8`.
fn ranges(indices: &[usize]) -> String {
    let mut sorted: Vec<usize> = indices.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while i < sorted.len() {
        let start = sorted[i];
        while i + 1 < sorted.len() && sorted[i + 1] == sorted[i] + 1 {
            i += 1;
        }
        parts.push(if sorted[i] == start { start.to_string() } else { format!("{start}-{}", sorted[i]) });
        i += 1;
    }
    parts.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn array_ranges_join_runs_of_indices() {
        assert_eq!(ranges(&[0, 1, 2, 3]), "0-3");
        assert_eq!(ranges(&[5, 0, 1, 7, 8, 3]), "0-1,3,5,7-8");
        assert_eq!(ranges(&[4]), "4");
    }

    #[test]
    fn paths_are_quoted_for_sh() {
        assert_eq!(quote(Path::new("/a b/it's")), r"'/a b/it'\''s'");
    }
}
