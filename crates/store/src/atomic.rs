//! Atomic writes: a reader sees the old file or the new one, never a part.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

static COUNTER: AtomicU64 = AtomicU64::new(0);

fn invalid(kind: std::io::ErrorKind, msg: String) -> std::io::Error {
    std::io::Error::new(kind, msg)
}

/// A fresh temporary path beside `path` (unique per process and call), for a writer that must
/// name its own file; hand it to [`replace`] once written. A missing folder is an error naming
/// it (folders are never created implicitly).
pub fn temp_path(path: &Path) -> std::io::Result<PathBuf> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if !dir.is_dir() {
        return Err(invalid(std::io::ErrorKind::NotFound, format!("folder {} does not exist", dir.display())));
    }
    let name = path.file_name().ok_or_else(|| invalid(std::io::ErrorKind::InvalidInput, "not a file name".into()))?;
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    Ok(dir.join(format!(".{}.tmp-{}-{n}", name.to_string_lossy(), std::process::id())))
}

/// Move the written temporary file `tmp` over `path` (synced first); on failure `tmp` is removed.
pub fn replace(tmp: &Path, path: &Path) -> std::io::Result<()> {
    let result = std::fs::File::open(tmp).and_then(|f| f.sync_all()).and_then(|_| std::fs::rename(tmp, path));
    if result.is_err() {
        let _ = std::fs::remove_file(tmp);
    }
    result
}

/// Write `bytes` to `path` atomically: a temporary file in the same folder, synced, then
/// renamed over `path`. On any failure no partial file is left behind.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = temp_path(path)?;
    let written = (|| {
        let mut f = std::fs::OpenOptions::new().write(true).create_new(true).open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

/// `value` as pretty JSON, written atomically; the error names the file.
pub fn write_json<T: serde::Serialize + ?Sized>(path: &Path, value: &T) -> std::io::Result<()> {
    let text = serde_json::to_string_pretty(value).map_err(std::io::Error::other)?;
    write_atomic(path, text.as_bytes()).map_err(|e| invalid(e.kind(), format!("cannot write {}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_replace_whole_files_and_leave_no_temporaries() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.json");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        let tmp = temp_path(&p).unwrap();
        std::fs::write(&tmp, b"three").unwrap();
        replace(&tmp, &p).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"three");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "only a.json is left");
        let e = write_atomic(&dir.path().join("missing/b.json"), b"x").unwrap_err();
        assert!(e.to_string().contains("missing") && e.to_string().contains("does not exist"), "{e}");
    }
}
