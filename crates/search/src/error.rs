//! The crate's error type.

use std::path::PathBuf;

/// Everything that can go wrong in the search engine. Nothing in this crate panics on bad
/// input (a bad configuration, malformed evaluations, a foreign checkpoint): it returns one of
/// these instead.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    /// The algorithm's configuration is unusable (a probability outside [0, 1], a zero
    /// population, no termination criterion for `run`).
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A decision variable's bounds are unusable.
    #[error("invalid variable {index}: {reason}")]
    Var {
        /// Position of the variable in the problem's variable list.
        index: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// `tell` got evaluations that do not match what `ask` handed out.
    #[error("tell: {0}")]
    Tell(String),
    /// The problem and the algorithm disagree (variables, objective or constraint counts).
    #[error("problem mismatch: {0}")]
    Problem(String),
    /// Indicator input is inconsistent (points of different dimensions, empty reference).
    #[error("indicator: {0}")]
    Indicator(String),
    /// An in-memory state does not fit the algorithm or the problem.
    #[error("invalid state: {0}")]
    State(String),
    /// Reading or writing a checkpoint file failed.
    #[error("checkpoint {}: {source}", .path.display())]
    Io {
        /// The checkpoint file (or its temporary sibling).
        path: PathBuf,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// A checkpoint file is not valid JSON of the expected shape.
    #[error("checkpoint {}: not an NSGA-II checkpoint: {source}", .path.display())]
    Format {
        /// The checkpoint file.
        path: PathBuf,
        /// The JSON error.
        source: serde_json::Error,
    },
    /// A checkpoint parses but belongs to another problem or version, or is inconsistent.
    #[error("checkpoint {}: {reason}", .path.display())]
    Incompatible {
        /// The checkpoint file.
        path: PathBuf,
        /// Why it cannot be resumed.
        reason: String,
    },
}
