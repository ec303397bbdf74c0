//! The pipeline's observer: progress, notes, warnings and finished steps go to an [`Observer`]
//! that the caller implements (the CLI draws progress bars and prints); the library never
//! prints, exits or reads the environment.

/// A long piece of work that reports progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Task {
    /// The supernet's training, in steps.
    Supernet,
    /// The search, in generations.
    Generations,
    /// Fine-tuning a baseline's challenger candidates.
    Challengers { baseline: String },
    /// Weights, export and tract check of the finished models.
    Finishing,
}

impl Task {
    /// A short label for a progress bar.
    pub fn label(&self) -> String {
        match self {
            Task::Supernet => "supernet".into(),
            Task::Generations => "generations".into(),
            Task::Challengers { baseline } => format!("challengers of {baseline}"),
            Task::Finishing => "finishing".into(),
        }
    }
}

/// Whether the pipeline goes on after a finished step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue,
    /// Stop now, as if the process were killed here (what was kept stays kept); the pipeline
    /// returns [`crate::Stopped`].
    Stop,
}

/// A unit of work that was kept (journaled or saved), after which the pipeline may be stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// The supernet's training reached `step` (1-based) steps.
    SupernetStep(usize),
    /// A generation was evaluated, told and checkpointed (1-based).
    Generation(usize),
    /// A finishing training was kept; `count` trained so far in this run.
    Training(usize),
}

/// Receives what the pipeline reports. Every method has a default that ignores it.
pub trait Observer {
    /// `task` starts, `len` units long.
    fn begin(&mut self, _task: &Task, _len: u64) {}
    /// `task` is at `position` units, with a status message.
    fn progress(&mut self, _task: &Task, _position: u64, _message: &str) {}
    /// `task` ended.
    fn end(&mut self, _task: &Task) {}
    /// Something worth telling (a reused supernet, a trained one).
    fn note(&mut self, _message: &str) {}
    /// Something the user should look at; the work goes on.
    fn warning(&mut self, _message: &str) {}
    /// A step was kept; [`Flow::Stop`] stops the pipeline there.
    fn kept(&mut self, _step: Step) -> Flow {
        Flow::Continue
    }
}

/// An observer that ignores everything (library callers and tests).
pub struct Silent;

impl Observer for Silent {}

/// The error a pipeline stopped by its observer returns.
#[derive(Debug, Clone, thiserror::Error)]
#[error("stopped by the caller after {0}")]
pub struct Stopped(pub String);
