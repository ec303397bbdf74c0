//! [`Slurm`]: an [`Executor`] that hands a search's independent work to a Slurm cluster as job
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
use edgenas_space::{Architecture, Genome};
use edgenas_store::{Header, Journal};
use edgenas_train::Splits;
use serde::{Deserialize, Serialize};

use crate::config::{EvalMode, SearchConfig};
use crate::context::EvalContext;
use crate::driver::{Executor, RetrainSink, Sink};
use crate::evaluate::{failed, Candidate};
use crate::events::Observer;
use crate::finish::{Retrainer, Trainings};
use crate::run_dir::RunDir;
use crate::tasks::{now, write_tasks, Batch, Output, Work};

/// Supernet scores per task. A score takes about a second (calibration and the validation
/// images through tract); a task costs about a second of a slot on Slurm (scheduling and
/// launch, measured in BENCHMARKS.md), plus the worker's start (settings, data, supernet:
/// tenths of a second). With 8 scores a task spends close to 90 % of its time scoring, and a
/// generation of 24 still spreads over 3 nodes; one score per task would spend half of the
/// cluster's time starting tasks.
pub const SUPERNET_CHUNK: usize = 8;

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
    /// try) to `landed`, with its index in `works`, as it lands.
    #[allow(clippy::too_many_arguments)] // the batch, what it is for, and where results go
    fn run_batch(
        &self,
        run: &RunDir,
        batch: &Batch,
        config_hash: &str,
        data: &str,
        works: Vec<Work>,
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
        let submitted = jobs.load()?.entries;
        // tries so far, and the latest job of each task
        let mut tries: BTreeMap<usize, u32> = BTreeMap::new();
        let mut latest: BTreeMap<usize, String> = BTreeMap::new();
        for s in &submitted {
            for &i in &s.tasks {
                *tries.entry(i).or_default() += 1;
                latest.insert(i, s.job.clone());
            }
        }
        let mut waiting: BTreeMap<usize, String> = BTreeMap::new(); // task -> job
        let mut to_submit: Vec<usize> = Vec::new();
        let queued = if latest.is_empty() { BTreeSet::new() } else { self.queued()?.unwrap_or_default() };
        let mut reused = 0;
        for i in indices.iter().copied().collect::<BTreeSet<usize>>() {
            if let Some(r) = batch.read_result(i) {
                reused += 1;
                deliver(i, Ok(r.output))?;
            } else if let Some(job) = latest.get(&i).filter(|j| queued.contains(&(j.to_string(), i))) {
                waiting.insert(i, job.clone());
            } else if let Some(job) = latest.get(&i) {
                // it left the queue without a result while no coordinator watched
                let why = self.why(batch, job, i);
                self.failed_try(batch, i, &why, tries[&i], obs, &mut to_submit, &mut |i, why| deliver(i, Err(why)))?;
            } else {
                to_submit.push(i);
            }
        }
        if reused > 0 || !waiting.is_empty() {
            obs.note(&format!(
                "{}: {reused} results already landed, {} tasks still queued or running",
                batch.dir().display(),
                waiting.len()
            ));
        }
        loop {
            if !to_submit.is_empty() {
                let job = self.submit(run, batch, &to_submit, extra)?;
                jobs.append(&Submission { job: job.clone(), tasks: to_submit.clone(), submitted_at: now() })?;
                obs.note(&format!("{}: {} tasks submitted as job {job}", batch.dir().display(), to_submit.len()));
                for i in to_submit.drain(..) {
                    *tries.entry(i).or_default() += 1;
                    waiting.insert(i, job.clone());
                }
            }
            if waiting.is_empty() {
                return Ok(());
            }
            std::thread::sleep(self.opts.poll);
            // the queue first, then the result files: a task gone from the queue wrote its
            // result before it left
            let Some(queued) = self.queued()? else { continue };
            let mut gone = Vec::new();
            for (&i, job) in &waiting {
                if let Some(r) = batch.read_result(i) {
                    deliver(i, Ok(r.output))?;
                    gone.push(i);
                } else if !queued.contains(&(job.clone(), i)) {
                    let why = self.why(batch, job, i);
                    self.failed_try(batch, i, &why, tries[&i], obs, &mut to_submit, &mut |i, why| {
                        deliver(i, Err(why))
                    })?;
                    gone.push(i);
                }
            }
            for i in gone {
                waiting.remove(&i);
            }
        }
    }

    /// Task `i` left the queue without a result after `tries` tries: resubmitted while retries
    /// are left, otherwise handed to `give_up` with why.
    #[allow(clippy::too_many_arguments)]
    fn failed_try(
        &self,
        batch: &Batch,
        i: usize,
        why: &str,
        tries: u32,
        obs: &mut dyn Observer,
        to_submit: &mut Vec<usize>,
        give_up: &mut dyn FnMut(usize, String) -> Result<()>,
    ) -> Result<()> {
        let _ = std::fs::remove_file(batch.error(i));
        if tries <= self.opts.retries {
            obs.warning(&format!(
                "warning: {}: {why}; resubmitting it (try {} of {})",
                batch.task(i).display(),
                tries + 1,
                self.opts.retries + 1
            ));
            to_submit.push(i);
            Ok(())
        } else {
            let why = format!("{} failed {tries} times, the last: {why}", batch.task(i).display());
            obs.warning(&format!("warning: {why}"));
            give_up(i, why)
        }
    }

    /// Why task `i` of job `job` left the queue without a result: the worker's error, what
    /// `scontrol` still knows of the task, and where its log is.
    fn why(&self, batch: &Batch, job: &str, i: usize) -> String {
        let mut parts = Vec::new();
        match std::fs::read_to_string(batch.error(i)) {
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

    /// The (job, task) pairs of this user's jobs still in the queue; `None` when `squeue`
    /// failed this time (the next look tries again).
    fn queued(&self) -> Result<Option<BTreeSet<(String, usize)>>> {
        let out =
            Command::new("squeue").args(["-h", "-r", "--me", "-o", "%F %K"]).output().context("cannot run squeue")?;
        if !out.status.success() {
            return Ok(None);
        }
        let text = String::from_utf8_lossy(&out.stdout);
        Ok(Some(
            text.lines()
                .filter_map(|l| {
                    let mut f = l.split_whitespace();
                    Some((f.next()?.to_string(), f.next()?.parse().ok()?))
                })
                .collect(),
        ))
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

impl Executor for Slurm {
    fn evaluate(
        &mut self,
        ctx: &EvalContext,
        batch: &str,
        genomes: &[Genome],
        obs: &mut dyn Observer,
        sink: &mut Sink,
    ) -> Result<()> {
        if genomes.is_empty() {
            return Ok(());
        }
        let chunk = match ctx.config.eval {
            EvalMode::Supernet => SUPERNET_CHUNK,
            EvalMode::Proxy => 1,
        };
        let works = genomes.chunks(chunk).map(|c| Work::Evaluate { genomes: c.to_vec() }).collect();
        let b = self.batch(&ctx.run, batch);
        let data = ctx.splits.fingerprint();
        self.run_batch(&ctx.run, &b, &ctx.config.hash(), &data, works, &[], obs, &mut |p, out| {
            let first = p * chunk;
            let part = &genomes[first..(first + chunk).min(genomes.len())];
            match out {
                Ok(Output::Records(rs)) if rs.len() == part.len() => {
                    for (k, r) in rs.into_iter().enumerate() {
                        sink(first + k, r)?;
                    }
                }
                Ok(other) => bail!("{}: task {p} handed back {other:?}, not {} records", b.dir().display(), part.len()),
                Err(why) => {
                    // the search goes on without them (they score 0 and are infeasible)
                    for (k, g) in part.iter().enumerate() {
                        sink(first + k, failed(ctx, g, &why)?)?;
                    }
                }
            }
            Ok(())
        })
    }

    fn supernet(&mut self, config: &SearchConfig, run: &RunDir, splits: &Splits, obs: &mut dyn Observer) -> Result<()> {
        if config.supernet.is_some() || run.supernet().join("supernet.json").exists() {
            return Ok(());
        }
        let b = self.batch(run, "supernet");
        let extra = self.opts.supernet_sbatch_args.clone();
        let mut failure = None;
        self.run_batch(
            run,
            &b,
            &config.hash(),
            &splits.fingerprint(),
            vec![Work::Supernet],
            &extra,
            obs,
            &mut |_, out| {
                if let Err(why) = out {
                    failure = Some(why);
                }
                Ok(())
            },
        )?;
        match failure {
            Some(why) => bail!("the supernet's training failed: {why}"),
            None => Ok(()),
        }
    }

    fn trainings(
        &mut self,
        ctx: &EvalContext,
        batch: &str,
        todo: &[(Candidate, usize)],
        trainings: &mut Trainings,
        obs: &mut dyn Observer,
    ) -> Result<()> {
        let missing: Vec<(Candidate, usize, String)> =
            trainings.missing(ctx, todo).into_iter().map(|(c, s, stem)| (c.clone(), s, stem)).collect();
        if missing.is_empty() {
            return Ok(());
        }
        let works =
            missing.iter().map(|(c, steps, _)| Work::Train { genome: c.genome.clone(), steps: *steps }).collect();
        let b = self.batch(&ctx.run, batch);
        let mut failures = Vec::new();
        self.run_batch(&ctx.run, &b, &ctx.config.hash(), &ctx.splits.fingerprint(), works, &[], obs, &mut |p, out| {
            match out {
                Ok(_) => trainings.landed(missing[p].2.clone()),
                Err(why) => failures.push(why),
            }
            Ok(())
        })?;
        if !failures.is_empty() {
            bail!(
                "{} of {} finishing trainings failed ({}); the others are kept in {}, and --resume trains only the missing",
                failures.len(),
                missing.len(),
                failures.join("; "),
                trainings.dir.display()
            );
        }
        Ok(())
    }

    fn retrain(
        &mut self,
        retrainer: &Retrainer,
        batch: &str,
        jobs: &[(Architecture, u64)],
        obs: &mut dyn Observer,
        sink: &mut RetrainSink,
    ) -> Result<()> {
        if jobs.is_empty() {
            return Ok(());
        }
        let ctx = retrainer.context();
        let saved = SearchConfig::from_file(&ctx.run.config()).map_err(anyhow::Error::msg)?;
        let works = jobs
            .iter()
            .map(|(arch, seed)| Work::Retrain {
                config: Box::new(ctx.config.clone()),
                arch: Box::new(arch.clone()),
                seed: *seed,
            })
            .collect();
        let b = self.batch(&ctx.run, batch);
        let mut failures = Vec::new();
        self.run_batch(&ctx.run, &b, &saved.hash(), &ctx.splits.fingerprint(), works, &[], obs, &mut |p, out| {
            match out {
                Ok(Output::Retrained(r)) => sink(p, r)?,
                Ok(other) => bail!("{}: task {p} handed back {other:?}, not a retraining", b.dir().display()),
                Err(why) => failures.push(why),
            }
            Ok(())
        })?;
        if !failures.is_empty() {
            bail!(
                "{} of {} retrainings failed ({}); the others are journaled, and running confirm again retrains only the missing",
                failures.len(),
                jobs.len(),
                failures.join("; ")
            );
        }
        Ok(())
    }
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
