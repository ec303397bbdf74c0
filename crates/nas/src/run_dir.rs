//! `RunDir`: every path of a search's run folder, in one place.

use std::path::{Path, PathBuf};

/// Refuse an `--out` folder path that is taken by a file, before any long work starts.
pub fn check_out_folder(out: &Path) -> Result<(), String> {
    if out.exists() && !out.is_dir() {
        return Err(format!(
            "{}: is a file; --out takes a folder (created when missing), choose another --out",
            out.display()
        ));
    }
    Ok(())
}

/// A search's run folder (`--out`) and the paths of what it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunDir {
    root: PathBuf,
}

impl RunDir {
    /// The run folder at `root` (nothing is created).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        RunDir { root: root.into() }
    }

    /// The folder itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `config.json`: the run's [`crate::SearchConfig`].
    pub fn config(&self) -> PathBuf {
        self.root.join("config.json")
    }

    /// `journal.jsonl`: one evaluated architecture per line.
    pub fn journal(&self) -> PathBuf {
        self.root.join("journal.jsonl")
    }

    /// `search.checkpoint.json`: the engine's state after the last generation.
    pub fn checkpoint(&self) -> PathBuf {
        self.root.join("search.checkpoint.json")
    }

    /// `supernet/`, where a search trains its supernet unless it reuses one (`supernet` in the
    /// config); see [`RunDir::supernet_of`].
    pub fn supernet(&self) -> PathBuf {
        self.root.join("supernet")
    }

    /// The supernet folder a search with `given` (its `supernet` setting) uses.
    pub fn supernet_of(&self, given: Option<&Path>) -> PathBuf {
        given.map(Path::to_path_buf).unwrap_or_else(|| self.supernet())
    }

    /// `finishing/`: the finishing's kept trainings (weights and a sidecar each).
    pub fn finishing(&self) -> PathBuf {
        self.root.join("finishing")
    }

    /// `models/`: the finished ONNX files and their model cards.
    pub fn models(&self) -> PathBuf {
        self.root.join("models")
    }

    /// `models/<name>.onnx` and `models/<name>.json` (its model card).
    pub fn model(&self, name: &str) -> (PathBuf, PathBuf) {
        let m = self.models();
        (m.join(format!("{name}.onnx")), m.join(format!("{name}.json")))
    }

    /// `baselines.json`: the hand-designed baselines, scored as the candidates are.
    pub fn baselines(&self) -> PathBuf {
        self.root.join("baselines.json")
    }

    /// `pareto.json`: the feasible front.
    pub fn pareto(&self) -> PathBuf {
        self.root.join("pareto.json")
    }

    /// `pareto.svg` and `pareto.png`: the search's plot (candidates, front and baselines at
    /// their search scores and predicted latency).
    pub fn plots(&self) -> (PathBuf, PathBuf) {
        (self.root.join("pareto.svg"), self.root.join("pareto.png"))
    }

    /// `pareto-finished.svg` and `pareto-finished.png`: the finished models' plot (test error
    /// and measured latency), written when the search finishes any model.
    pub fn finished_plots(&self) -> (PathBuf, PathBuf) {
        (self.root.join("pareto-finished.svg"), self.root.join("pareto-finished.png"))
    }

    /// `summary.json`: what the search found and finished.
    pub fn summary(&self) -> PathBuf {
        self.root.join("summary.json")
    }

    /// `confirm.jsonl` and `confirm.json`: `edgenas confirm`'s trainings and report.
    pub fn confirm(&self) -> (PathBuf, PathBuf) {
        (self.root.join("confirm.jsonl"), self.root.join("confirm.json"))
    }

    /// `tasks/`: work handed to other processes (remote executors).
    pub fn tasks(&self) -> PathBuf {
        self.root.join("tasks")
    }

    /// `results/`: what other processes handed back.
    pub fn results(&self) -> PathBuf {
        self.root.join("results")
    }
}
