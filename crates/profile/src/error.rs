//! Errors of reading, writing and using a latency profile.

use std::path::PathBuf;

/// What can go wrong with a profile. The messages are the ones edgenas-device reported before
/// profiles had their own crate (it wraps this error transparently).
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    /// A file or setting is wrong, or an architecture does not fit the profile.
    #[error("{path}: {message}")]
    Config {
        /// The file (or argument) concerned.
        path: PathBuf,
        /// What is wrong (field and what is allowed).
        message: String,
    },
    /// I/O on a file.
    #[error("{path}: {source}")]
    Io {
        /// The file concerned.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// Space or architecture error (also: writing the file atomically).
    #[error(transparent)]
    Space(#[from] edgenas_space::SpaceError),
}

impl ProfileError {
    pub(crate) fn config(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        ProfileError::Config { path: path.into(), message: message.into() }
    }
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, ProfileError>;
