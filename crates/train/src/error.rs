//! Errors of the training crate.

use std::path::{Path, PathBuf};

/// What can go wrong reading data, training or checkpointing.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// A data file is malformed or inconsistent.
    #[error("{path}: {message}")]
    Data {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A training setting is not allowed.
    #[error("training config: {0}")]
    Config(String),
    /// The loss became NaN or infinite.
    #[error("training diverged at step {step} (loss {loss}); lower the learning rate")]
    Diverged {
        /// Step.
        step: usize,
        /// Loss.
        loss: f32,
    },
    /// The caller stopped the training after `step` steps (its kept state stays).
    #[error("training stopped by the caller after {step} steps")]
    Stopped {
        /// Steps done.
        step: usize,
    },
    /// A checkpoint could not be saved or loaded.
    #[error("{0}: {1}")]
    Checkpoint(PathBuf, String),
    /// Architecture error.
    #[error(transparent)]
    Space(#[from] edgenas_space::SpaceError),
}

impl TrainError {
    pub(crate) fn data(path: impl AsRef<Path>, message: impl Into<String>) -> Self {
        TrainError::Data { path: path.as_ref().to_path_buf(), message: message.into() }
    }
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, TrainError>;
