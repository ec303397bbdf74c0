//! Errors of the report crate.

use std::path::PathBuf;

/// Everything that can go wrong while writing a report; every variant names the output file.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// An output file could not be written (missing folder, permissions, disk full, ...).
    #[error("{path}: {source}")]
    Io {
        /// The output file concerned.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The plot destined for `path` could not be drawn or encoded.
    #[error("{path}: cannot render plot: {message}")]
    Render {
        /// The output file concerned.
        path: PathBuf,
        /// What plotters (or the PNG encoder) said.
        message: String,
    },
}
