//! edgenas-store: the one implementation of persisted state that every edgenas crate uses.
//!
//! - [`write_atomic`] (and [`temp_path`] + [`replace`] for writers that need a file name, such as
//!   Burn's): a temporary file in the same folder, synced, renamed over the target; a failed write
//!   leaves no partial file.
//! - [`Journal`]: JSONL, one finished unit of work per line, behind a header line that names the
//!   journal, its schema version and the hash of the settings it was written for. One rule for
//!   damage: a torn last line (a write interrupted by a kill) is dropped with a warning and cut
//!   off the file, so the next line starts clean; a bad line anywhere else is an error naming the
//!   file and the line. Journals written before headers existed still read.
//! - [`content_hash`]: FNV-1a 64 of bytes as 16 hex digits, the hash of settings and of files
//!   in run folders.
//!
//! It depends on serde alone, so the search engine, the device crate and the pipeline can share
//! it without depending on each other.

mod atomic;
mod hash;
mod journal;

pub use atomic::{replace, temp_path, write_atomic, write_json};
pub use hash::content_hash;
pub use journal::{Header, Journal, JournalError, Loaded};
