//! Work handed to other processes (the tasks of a Slurm job array): a batch folder holds one
//! file per task (what to do, and the fingerprints of the run's settings and data it is for)
//! and one result file per finished task, written atomically; [`run_task`] is the worker that
//! does a task through the same library code as the in-process executor.
//!
//! A batch folder (`<task dir>/<batch>/`):
//! - `task-<i>.json`: a [`TaskFile`], written by the coordinator;
//! - `result-<i>.json`: a [`ResultFile`], written by the worker when the task succeeded;
//! - `error-<i>.txt`: the worker's one-line error when it failed;
//! - `jobs.jsonl`: every submission of the batch (job id, task indices), for a resumed
//!   coordinator; `task.sh` and `log-<job>_<i>.txt`: the job script and each task's output.

use std::path::{Path, PathBuf};

use anyhow::{bail, ensure, Context, Result};
use edgenas_space::{Architecture, Genome};
use serde::{Deserialize, Serialize};

use crate::config::SearchConfig;
use crate::context::{load_search_splits, load_space, EvalContext};
use crate::evaluate::{evaluate, Candidate, Record};
use crate::events::Observer;
use crate::finish::{Retrained, Retrainer, Trainings};
use crate::run_dir::RunDir;
use crate::supernet::train_or_load_supernet;

/// What one task does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Work {
    /// Score these genomes (one for proxy training, a chunk for supernet scores).
    Evaluate { genomes: Vec<Genome> },
    /// Train the run's supernet into its folder (going on from a kept state).
    Supernet,
    /// Keep this finishing training in the run's `finishing/`.
    Train { genome: Genome, steps: usize },
    /// Retrain a finished model with a new seed, as `confirm` does, under `config` (the run's
    /// settings with what `confirm` changed: steps, moved data).
    Retrain { config: Box<SearchConfig>, arch: Box<Architecture>, seed: u64 },
}

/// A task as its file holds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskFile {
    /// The hash of the run's `config.json` ([`SearchConfig::hash`]) the task is for.
    pub config_hash: String,
    /// The fingerprint of the data splits the coordinator read ([`edgenas_train::Splits::fingerprint`]).
    pub data: String,
    pub work: Work,
}

/// What a task hands back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Output {
    /// The records of [`Work::Evaluate`]'s genomes, in order.
    Records(Vec<Record>),
    /// The supernet is saved in the run's supernet folder.
    Supernet,
    /// The training is kept in `finishing/`, with the validation accuracy its training reported.
    Trained {
        valid_accuracy: Option<f64>,
    },
    Retrained(Retrained),
}

/// A result file: the output, and where and when it was made (a task run twice leaves another
/// host, pid or time).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResultFile {
    pub output: Output,
    pub host: String,
    pub pid: u32,
    /// Seconds since the Unix epoch when the task finished.
    pub finished_at: f64,
    /// Seconds the work took, opening the context included.
    pub seconds: f64,
}

/// A batch folder and the paths of what it holds.
#[derive(Debug, Clone)]
pub struct Batch {
    dir: PathBuf,
}

impl Batch {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Batch { dir: dir.into() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn task(&self, i: usize) -> PathBuf {
        self.dir.join(format!("task-{i}.json"))
    }

    pub fn result(&self, i: usize) -> PathBuf {
        self.dir.join(format!("result-{i}.json"))
    }

    pub fn error(&self, i: usize) -> PathBuf {
        self.dir.join(format!("error-{i}.txt"))
    }

    pub fn jobs(&self) -> PathBuf {
        self.dir.join("jobs.jsonl")
    }

    pub fn script(&self) -> PathBuf {
        self.dir.join("task.sh")
    }

    /// Task `i`'s output in job `job` (Slurm's `%A_%a`).
    pub fn log(&self, job: &str, i: usize) -> PathBuf {
        self.dir.join(format!("log-{job}_{i}.txt"))
    }

    /// The tasks written so far, by index (they are numbered from 0 without gaps).
    pub fn tasks(&self) -> Result<Vec<TaskFile>> {
        let mut out = Vec::new();
        loop {
            let p = self.task(out.len());
            if !p.exists() {
                return Ok(out);
            }
            out.push(read_json(&p)?);
        }
    }

    /// Task `i`'s result, when it landed.
    pub fn read_result(&self, i: usize) -> Option<ResultFile> {
        let text = std::fs::read_to_string(self.result(i)).ok()?;
        serde_json::from_str(&text).ok()
    }
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path).with_context(|| {
        format!(
            "cannot read {}; the task folder must be on a file system every node shares (--task-dir)",
            path.display()
        )
    })?;
    serde_json::from_str(&text).with_context(|| format!("{}: not a task file of this edgenas", path.display()))
}

/// Runs task `index` of `batch` for the run in `run`: refuses a run folder whose settings or
/// data are not those the task was written for, does the work, and writes the result file (or,
/// on failure, the error file) atomically. The work goes through the library code the
/// in-process executor runs, so the result is the same.
pub fn run_task(run: &RunDir, batch: &Batch, index: usize, obs: &mut dyn Observer) -> Result<ResultFile> {
    let started = std::time::Instant::now();
    let done = do_task(run, batch, index, obs).and_then(|output| {
        let result = ResultFile {
            output,
            host: hostname(),
            pid: std::process::id(),
            finished_at: now(),
            seconds: started.elapsed().as_secs_f64(),
        };
        let path = batch.result(index);
        edgenas_store::write_json(&path, &result).with_context(|| format!("cannot write {}", path.display()))?;
        Ok(result)
    });
    if let Err(e) = &done {
        let line = format!("{e:#}").replace('\n', " ");
        // best effort: a folder the node cannot write takes the error file with it
        let _ = edgenas_store::write_atomic(&batch.error(index), line.as_bytes());
    }
    done
}

fn do_task(run: &RunDir, batch: &Batch, index: usize, obs: &mut dyn Observer) -> Result<Output> {
    let task_path = batch.task(index);
    let task: TaskFile = read_json(&task_path)?;
    let saved = SearchConfig::from_file(&run.config()).map_err(|e| {
        anyhow::anyhow!("{e}; the run folder must be on a file system every node shares (--task-dir, --out)")
    })?;
    ensure!(
        saved.hash() == task.config_hash,
        "{}: this run's settings (hash {}) are not those task {} was written for (hash {}): the worker was \
         pointed at another run folder",
        run.config().display(),
        saved.hash(),
        task_path.display(),
        task.config_hash
    );
    let config = match &task.work {
        Work::Retrain { config, .. } => (**config).clone(),
        _ => saved,
    };
    let space = load_space(config.space.as_deref())?;
    let splits = load_search_splits(&config.data, config.split_seed(), &space)?;
    let data = splits.fingerprint();
    ensure!(
        data == task.data,
        "{}: the data this node reads (fingerprint {data}) is not what the coordinator read (fingerprint {}); \
         the same dataset must be at the same path on every node",
        config.data.display(),
        task.data
    );
    Ok(match task.work {
        Work::Evaluate { genomes } => {
            let ctx = EvalContext::for_task(&config, run, space, splits, obs)?;
            Output::Records(genomes.iter().map(|g| evaluate(&ctx, g)).collect::<Result<_>>()?)
        }
        Work::Supernet => {
            train_or_load_supernet(&config, run, &space, &splits, obs)?;
            Output::Supernet
        }
        Work::Train { genome, steps } => {
            let ctx = EvalContext::for_task(&config, run, space, splits, obs)?;
            let c = Candidate::decode(&ctx.space, &genome)?;
            let (_, valid_accuracy) = Trainings::new(run.finishing()).net(&ctx, &c, steps, obs)?;
            Output::Trained { valid_accuracy }
        }
        Work::Retrain { arch, seed, .. } => {
            drop(splits);
            Output::Retrained(Retrainer::new(&config, run)?.retrain(&arch, seed)?)
        }
    })
}

/// Seconds since the Unix epoch.
pub(crate) fn now() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

/// This machine's name, for result files.
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").map(|s| s.trim().to_string()).unwrap_or_default()
}

/// Writes the tasks of `works` into `batch` for a run with settings hash `config_hash` and data
/// fingerprint `data`; tasks already there (a resumed coordinator) keep their index. Returns
/// each work's task index.
pub fn write_tasks(batch: &Batch, config_hash: &str, data: &str, works: Vec<Work>) -> Result<Vec<usize>> {
    std::fs::create_dir_all(batch.dir()).with_context(|| format!("cannot create {}", batch.dir().display()))?;
    let mut tasks = batch.tasks()?;
    let mut indices = Vec::new();
    for work in works {
        let task = TaskFile { config_hash: config_hash.to_string(), data: data.to_string(), work };
        let i = match tasks.iter().position(|t| *t == task) {
            Some(i) => i,
            None => {
                if let Some(other) = tasks.first() {
                    if other.config_hash != task.config_hash {
                        bail!(
                            "{}: holds the tasks of another search (settings hash {}, this one {}); choose another --task-dir",
                            batch.dir().display(),
                            other.config_hash,
                            task.config_hash
                        );
                    }
                }
                let i = tasks.len();
                edgenas_store::write_json(&batch.task(i), &task)?;
                tasks.push(task);
                i
            }
        };
        indices.push(i);
    }
    Ok(indices)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn evaluate(genes: &[usize]) -> Work {
        Work::Evaluate { genomes: vec![Genome(genes.to_vec())] }
    }

    #[test]
    fn a_batch_written_again_keeps_the_indices_of_its_tasks() {
        let tmp = tempfile::tempdir().unwrap();
        let batch = Batch::new(tmp.path().join("gen-002"));
        let first = write_tasks(&batch, "h", "d", vec![evaluate(&[0]), evaluate(&[1]), evaluate(&[2])]).unwrap();
        assert_eq!(first, vec![0, 1, 2]);
        // a resumed coordinator asks for what was not committed: the same tasks, same indices
        assert_eq!(write_tasks(&batch, "h", "d", vec![evaluate(&[2]), evaluate(&[1])]).unwrap(), vec![2, 1]);
        // equal works share a task; a new one is appended
        assert_eq!(write_tasks(&batch, "h", "d", vec![evaluate(&[3]), evaluate(&[3])]).unwrap(), vec![3, 3]);
        assert_eq!(batch.tasks().unwrap().len(), 4);
        // the batch of another search is refused, naming the folder
        let e = write_tasks(&batch, "other", "d", vec![evaluate(&[9])]).unwrap_err().to_string();
        assert!(e.contains("gen-002") && e.contains("another search"), "{e}");
    }
}
