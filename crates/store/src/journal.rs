//! JSONL journals: one finished unit of work per line, appended and synced as it lands, so a
//! killed process resumes without doing it again.

use std::io::{Seek, SeekFrom, Write};
use std::marker::PhantomData;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// The first line of a journal: what it is, its schema version, and the hash of the settings it
/// was written for (a journal read back under other settings is refused).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Header {
    /// What the journal holds, e.g. `search` or `confirm`.
    pub journal: String,
    /// Schema version of its lines.
    pub schema: u32,
    /// [`crate::content_hash`] of the settings that produced its lines.
    pub config_hash: String,
}

/// Errors reading or writing a journal; each names the file.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{} line {line}: not a {what} ({message}); remove the file to start over", path.display())]
    BadLine { path: PathBuf, line: usize, what: String, message: String },
    #[error("{}: {message}", path.display())]
    Header { path: PathBuf, message: String },
}

impl JournalError {
    /// The message without the file name in front (for callers whose errors name it already).
    pub fn detail(&self) -> String {
        match self {
            JournalError::Io { source, .. } => source.to_string(),
            JournalError::BadLine { line, what, message, .. } => {
                format!("line {line}: not a {what} ({message}); remove the file to start over")
            }
            JournalError::Header { message, .. } => message.clone(),
        }
    }
}

/// What a journal held when it was read.
#[derive(Debug)]
pub struct Loaded<T> {
    /// Its entries in file order.
    pub entries: Vec<T>,
    /// Its header (`None`: a journal written before headers existed).
    pub header: Option<Header>,
    /// The warning to pass on when a torn last line was dropped (and cut off the file).
    pub torn: Option<String>,
}

/// A journal of `T` lines behind a [`Header`]. The file is created, header first, by the first
/// [`Journal::append`], so opening one for a run that never evaluates anything leaves no file.
pub struct Journal<T> {
    path: PathBuf,
    header: Header,
    /// Whether a header's `config_hash` must equal this one's (see
    /// [`Journal::settings_checked_by_caller`]).
    check_hash: bool,
    _entries: PhantomData<fn(T)>,
}

impl<T: Serialize + DeserializeOwned> Journal<T> {
    /// The journal at `path` for `header`'s settings (nothing is read or written yet).
    pub fn new(path: &Path, header: Header) -> Self {
        Journal { path: path.to_path_buf(), header, check_hash: true, _entries: PhantomData }
    }

    /// A journal whose entries carry the settings they were made under and whose caller compares
    /// them itself (to say which setting differs): a header of other settings is not refused.
    pub fn settings_checked_by_caller(mut self) -> Self {
        self.check_hash = false;
        self
    }

    /// Its file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The entries already there (none when the file is missing). A header of another journal
    /// kind, a newer schema or other settings is refused; a file without a header (written
    /// before headers existed) is read as it is. A torn last line is cut off the file and
    /// reported in [`Loaded::torn`]; any other line that does not parse is an error.
    pub fn load(&self) -> Result<Loaded<T>, JournalError> {
        let io = |source| JournalError::Io { path: self.path.clone(), source };
        let text = match std::fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Loaded { entries: Vec::new(), header: None, torn: None })
            }
            Err(e) => return Err(io(e)),
        };
        let mut lines: Vec<(usize, &str)> = text.lines().enumerate().map(|(i, l)| (i + 1, l)).collect();
        let mut torn = None;
        if !text.is_empty() && !text.ends_with('\n') {
            // a write interrupted by a kill: drop the partial line, and cut it off the file so
            // the next append starts on a line of its own
            let (n, _) = lines.pop().expect("a non-empty file has a line");
            let keep = text.rfind('\n').map_or(0, |i| i + 1);
            let f = std::fs::OpenOptions::new().write(true).open(&self.path).map_err(io)?;
            f.set_len(keep as u64).and_then(|_| f.sync_all()).map_err(io)?;
            torn = Some(format!(
                "{} line {n}: an unfinished last line (an interrupted write) was dropped",
                self.path.display()
            ));
        }
        let header = match lines.first() {
            Some((_, l)) if is_header(l) => {
                let h: Header = serde_json::from_str(l).map_err(|e| JournalError::BadLine {
                    path: self.path.clone(),
                    line: 1,
                    what: "journal header".into(),
                    message: e.to_string(),
                })?;
                self.check_header(&h)?;
                lines.remove(0);
                Some(h)
            }
            _ => None,
        };
        let entries = lines
            .into_iter()
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(n, l)| {
                serde_json::from_str(l).map_err(|e| JournalError::BadLine {
                    path: self.path.clone(),
                    line: n,
                    what: format!("{} journal line", self.header.journal),
                    message: e.to_string(),
                })
            })
            .collect::<Result<Vec<T>, _>>()?;
        Ok(Loaded { entries, header, torn })
    }

    fn check_header(&self, h: &Header) -> Result<(), JournalError> {
        let refuse = |message: String| Err(JournalError::Header { path: self.path.clone(), message });
        let want = &self.header;
        if h.journal != want.journal {
            return refuse(format!("is a {} journal, expected a {} journal", h.journal, want.journal));
        }
        if h.schema > want.schema {
            return refuse(format!(
                "schema {} is newer than this edgenas reads ({}); use a newer edgenas",
                h.schema, want.schema
            ));
        }
        if self.check_hash && h.config_hash != want.config_hash {
            return refuse(format!(
                "was written for other settings (hash {}, these are {}); continue with the same settings or remove it to start over",
                h.config_hash, want.config_hash
            ));
        }
        Ok(())
    }

    /// Append `entry` as one line, synced to disk; a new or empty file gets the header first.
    pub fn append(&mut self, entry: &T) -> Result<(), JournalError> {
        let io = |source| JournalError::Io { path: self.path.clone(), source };
        let mut f = std::fs::OpenOptions::new().create(true).append(true).open(&self.path).map_err(io)?;
        let mut text = String::new();
        if f.seek(SeekFrom::End(0)).map_err(io)? == 0 {
            text.push_str(&serde_json::to_string(&self.header).expect("a header serializes"));
            text.push('\n');
        }
        text.push_str(&serde_json::to_string(entry).map_err(|e| io(std::io::Error::other(e)))?);
        text.push('\n');
        f.write_all(text.as_bytes()).and_then(|_| f.sync_data()).map_err(io)
    }
}

/// Whether a first line is a header (an object with a `journal` key) rather than an entry.
fn is_header(line: &str) -> bool {
    serde_json::from_str::<serde_json::Value>(line).is_ok_and(|v| v.get("journal").is_some_and(|j| j.is_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Line {
        n: u32,
    }

    fn header(hash: &str) -> Header {
        Header { journal: "test".into(), schema: 1, config_hash: hash.into() }
    }

    #[test]
    fn entries_read_back_after_the_header_and_a_torn_last_line_is_dropped_and_cut() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("j.jsonl");
        let mut j: Journal<Line> = Journal::new(&p, header("h1"));
        assert!(j.load().unwrap().entries.is_empty());
        assert!(!p.exists(), "loading creates nothing");
        j.append(&Line { n: 1 }).unwrap();
        j.append(&Line { n: 2 }).unwrap();
        let first = std::fs::read_to_string(&p).unwrap();
        assert!(first.starts_with("{\"journal\":\"test\",\"schema\":1,\"config_hash\":\"h1\"}\n"), "{first}");
        std::fs::write(&p, format!("{first}{{\"n\":")).unwrap();
        let l = j.load().unwrap();
        assert_eq!(l.entries, [Line { n: 1 }, Line { n: 2 }]);
        assert_eq!(l.header, Some(header("h1")));
        assert!(l.torn.unwrap().contains("j.jsonl line 4"));
        assert_eq!(std::fs::read_to_string(&p).unwrap(), first, "the torn line is cut off the file");
        j.append(&Line { n: 3 }).unwrap();
        assert_eq!(j.load().unwrap().entries.len(), 3);
    }

    #[test]
    fn a_bad_line_elsewhere_and_another_settings_header_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("j.jsonl");
        let mut j: Journal<Line> = Journal::new(&p, header("h1"));
        j.append(&Line { n: 1 }).unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        std::fs::write(&p, format!("{text}garbage\n{{\"n\":2}}\n")).unwrap();
        let e = j.load().unwrap_err().to_string();
        assert!(e.contains("j.jsonl line 3: not a test journal line"), "{e}");
        std::fs::write(&p, &text).unwrap();
        let other: Journal<Line> = Journal::new(&p, header("h2"));
        let e = other.load().unwrap_err().to_string();
        assert!(e.contains("other settings (hash h1, these are h2)"), "{e}");
        let newer: Journal<Line> = Journal::new(&p, Header { schema: 0, ..header("h1") });
        assert!(newer.load().unwrap_err().to_string().contains("newer than this edgenas reads"));
    }

    #[test]
    fn a_journal_without_header_still_reads_and_gets_no_header_midway() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("old.jsonl");
        std::fs::write(&p, "{\"n\":1}\n{\"n\":2}\n").unwrap();
        let mut j: Journal<Line> = Journal::new(&p, header("h1"));
        let l = j.load().unwrap();
        assert_eq!((l.entries.len(), l.header), (2, None));
        j.append(&Line { n: 3 }).unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "{\"n\":1}\n{\"n\":2}\n{\"n\":3}\n");
    }
}
