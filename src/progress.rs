//! Progress bars (indicatif), silenced by `--quiet` or when stderr is not a terminal; and the
//! CLI's observer of the pipeline, which draws them and prints its notes and warnings.

use edgenas_nas::{Flow, Observer, Step, Task};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A bar of `len` steps with a message; hidden when `quiet`.
pub fn bar(len: u64, quiet: bool, what: &str) -> ProgressBar {
    let pb = ProgressBar::new(len);
    if quiet {
        pb.set_draw_target(ProgressDrawTarget::hidden());
    }
    pb.set_style(
        ProgressStyle::with_template("{prefix:>12} [{bar:30}] {pos}/{len} ({eta} left) {msg}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    pb.set_prefix(what.to_string());
    pb
}

/// Stops the tests ask for through the environment, as if the process were killed there: the
/// binary's test hooks (the library reads no environment).
#[derive(Default)]
struct TestHooks {
    supernet_steps: Option<usize>,
    generations: Option<usize>,
    trainings: Option<usize>,
}

impl TestHooks {
    fn from_env() -> Self {
        let var = |name: &str| std::env::var(name).ok().and_then(|v| v.parse().ok());
        TestHooks {
            supernet_steps: var("EDGENAS_TEST_ABORT_AFTER_SUPERNET_STEPS"),
            generations: var("EDGENAS_TEST_ABORT_AFTER_GENERATIONS"),
            trainings: var("EDGENAS_TEST_ABORT_AFTER_TRAININGS"),
        }
    }
}

/// The pipeline's observer in the terminal: a bar per task, notes unless quiet, warnings always.
pub struct CliObserver {
    /// The line a test hook's stop ends with (`aborted after ...`).
    pub stopped: Option<String>,
    quiet: bool,
    notes: bool,
    bars: Vec<(Task, ProgressBar)>,
    hooks: TestHooks,
}

impl CliObserver {
    /// Bars hidden when `quiet`; notes printed unless `quiet` or `json`.
    pub fn new(quiet: bool, json: bool) -> Self {
        CliObserver { stopped: None, quiet, notes: !quiet && !json, bars: Vec::new(), hooks: TestHooks::from_env() }
    }

    fn bar(&self, task: &Task) -> Option<&ProgressBar> {
        self.bars.iter().find(|(t, _)| t == task).map(|(_, b)| b)
    }
}

impl Observer for CliObserver {
    fn begin(&mut self, task: &Task, len: u64) {
        let pb = bar(len, self.quiet, &task.label());
        self.bars.push((task.clone(), pb));
    }

    fn progress(&mut self, task: &Task, position: u64, message: &str) {
        if let Some(pb) = self.bar(task) {
            if !message.is_empty() {
                pb.set_message(message.to_string());
            }
            pb.set_position(position);
        }
    }

    fn end(&mut self, task: &Task) {
        if let Some(i) = self.bars.iter().position(|(t, _)| t == task) {
            self.bars.remove(i).1.finish_and_clear();
        }
    }

    fn note(&mut self, message: &str) {
        if self.notes {
            eprintln!("{message}");
        }
    }

    fn warning(&mut self, message: &str) {
        eprintln!("{message}");
    }

    fn kept(&mut self, step: Step) -> Flow {
        let line = match step {
            Step::SupernetStep(n) if self.hooks.supernet_steps == Some(n) => {
                format!("aborted after {n} supernet steps (EDGENAS_TEST_ABORT_AFTER_SUPERNET_STEPS)")
            }
            Step::Generation(n) if self.hooks.generations == Some(n) => {
                format!("aborted after generation {n} (EDGENAS_TEST_ABORT_AFTER_GENERATIONS)")
            }
            Step::Training(n) if self.hooks.trainings == Some(n) => {
                format!("aborted after {n} finishing trainings (EDGENAS_TEST_ABORT_AFTER_TRAININGS)")
            }
            _ => return Flow::Continue,
        };
        self.stopped = Some(line);
        Flow::Stop
    }
}
