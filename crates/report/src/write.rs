//! Atomic file writes ([`edgenas_store::write_atomic`]) with errors in this crate's terms.

use std::path::Path;

use crate::error::ReportError;

/// Write `bytes` to `path` atomically; a missing folder is an error naming `path` (folders are
/// never created).
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ReportError> {
    edgenas_store::write_atomic(path, bytes).map_err(|source| ReportError::Io { path: path.to_path_buf(), source })
}
