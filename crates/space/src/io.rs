//! File helpers of the space crate: atomic writes through `edgenas-store`, with errors in this
//! crate's terms.

use std::path::Path;

use crate::error::{Result, SpaceError};

/// Write `bytes` to `path` atomically ([`edgenas_store::write_atomic`]): a temporary file in the
/// same folder, synced and then renamed over `path`. On any failure no partial file is left
/// behind. A missing folder is an error naming it (folders are never created implicitly).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    edgenas_store::write_atomic(path, bytes).map_err(|source| SpaceError::Io { path: path.to_path_buf(), source })
}
