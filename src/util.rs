//! Helpers shared by subcommands: reading inputs, writing outputs atomically.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use edgenas_space::{Architecture, SearchSpace};

/// The space given by `--space` (a TOML file) or the built-in default.
pub fn load_space(path: Option<&Path>) -> Result<SearchSpace> {
    Ok(match path {
        Some(p) => SearchSpace::from_file(p)?,
        None => SearchSpace::default_space(),
    })
}

/// Read an architecture JSON file.
pub fn load_arch(path: &Path) -> Result<Architecture> {
    Ok(Architecture::from_json_file(path)?)
}

/// Write text to `path` atomically, or print it when no path is given.
pub fn write_or_print(out: Option<&PathBuf>, text: &str) -> Result<()> {
    match out {
        Some(p) => {
            edgenas_space::io::write_atomic(p, text.as_bytes()).with_context(|| format!("cannot write {}", p.display()))
        }
        None => {
            println!("{text}");
            Ok(())
        }
    }
}

/// Format a byte count for people.
pub fn human_bytes(b: u64) -> String {
    if b >= 1 << 20 {
        format!("{:.2} MiB", b as f64 / (1u64 << 20) as f64)
    } else if b >= 1 << 10 {
        format!("{:.1} KiB", b as f64 / 1024.0)
    } else {
        format!("{b} B")
    }
}

/// Format nanoseconds for people.
pub fn human_ns(ns: f64) -> String {
    if ns >= 1e6 {
        format!("{:.3} ms", ns / 1e6)
    } else {
        format!("{:.1} us", ns / 1e3)
    }
}
