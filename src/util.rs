//! Helpers shared by subcommands: reading inputs, writing outputs atomically, journal lines.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use edgenas_space::{Architecture, SearchSpace};

/// Append one line to a journal file (created when missing) and sync it to disk. A torn last
/// line left by an interrupted write is ended first, so the new line always reads back whole.
pub fn append_line(path: &Path, line: &str) -> Result<()> {
    use std::io::{Read, Seek, SeekFrom, Write};
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .read(true)
        .append(true)
        .open(path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    let torn = |f: &mut std::fs::File| -> std::io::Result<bool> {
        if f.metadata()?.len() == 0 {
            return Ok(false);
        }
        let mut last = [0u8];
        f.seek(SeekFrom::End(-1))?;
        f.read_exact(&mut last)?;
        Ok(last[0] != b'\n')
    };
    let sep = if torn(&mut f).with_context(|| format!("cannot read {}", path.display()))? { "\n" } else { "" };
    writeln!(f, "{sep}{line}").and_then(|_| f.sync_data()).with_context(|| format!("cannot write {}", path.display()))
}

/// The space given by `--space` (a TOML file) or the built-in default.
pub fn load_space(path: Option<&Path>) -> Result<SearchSpace> {
    Ok(match path {
        Some(p) => SearchSpace::from_file(p)?,
        None => SearchSpace::default_space(),
    })
}

/// Read an architecture JSON file, or the architecture of a model card (`models/NAME.json` of a
/// search, which holds it under `"architecture"` beside its `"genome"`); a file that is not JSON
/// at all is named as such.
pub fn load_arch(path: &Path) -> Result<Architecture> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let not_json = |why: String| {
        anyhow::anyhow!(
            "{}: not JSON ({why}); expected an architecture JSON (`edgenas space sample --out FILE`) or a model card",
            path.display()
        )
    };
    let text = String::from_utf8(bytes).map_err(|_| not_json("not UTF-8 text".into()))?;
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| not_json(e.to_string()))?;
    Ok(match value.get("architecture") {
        Some(a) if a.is_object() && value.get("genome").is_some() => Architecture::from_json_str(
            &a.to_string(),
            &PathBuf::from(format!("{} (its architecture)", path.display())),
        )?,
        _ => Architecture::from_json_str(&text, path)?,
    })
}

/// [`load_arch`] for a file a flag named; errors start with `what` (the flag or role).
pub fn load_arch_or_card(path: &Path, what: &str) -> Result<Architecture> {
    load_arch(path).map_err(|e| anyhow::anyhow!("{what} {e:#}"))
}

/// The warning to give when `prof`, a profile of this machine (device `local`), was measured
/// on another CPU than this one: its predictions are another machine's latencies.
pub fn other_machine(path: &Path, prof: &edgenas_device::LatencyProfile) -> Option<String> {
    (prof.provenance.device == "local" && !measured_on_this_cpu(prof)).then(|| {
        format!(
            "warning: {}: measured on {:?}, this machine is {:?}: its latencies are that machine's; \
             `edgenas profile --out {} --force` measures this one",
            path.display(),
            prof.provenance.device_info.cpu,
            edgenas_device::agent::cpu_model(),
            path.display()
        )
    })
}

/// Whether `prof` was measured on this machine's CPU model.
pub fn measured_on_this_cpu(prof: &edgenas_device::LatencyProfile) -> bool {
    prof.provenance.device_info.cpu == edgenas_device::agent::cpu_model()
}

/// Refuse an `--out` folder path that is taken by a file, before any long work starts.
pub fn check_out_folder(out: &Path) -> Result<()> {
    anyhow::ensure!(
        !out.exists() || out.is_dir(),
        "{}: is a file; --out takes a folder (created when missing), choose another --out",
        out.display()
    );
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_appended_after_a_torn_one_reads_back_whole() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("journal.jsonl");
        append_line(&p, "{\"a\":1}").unwrap();
        std::fs::write(&p, format!("{}{{\"b\":", std::fs::read_to_string(&p).unwrap())).unwrap();
        append_line(&p, "{\"c\":3}").unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        assert_eq!(text.lines().collect::<Vec<_>>(), ["{\"a\":1}", "{\"b\":", "{\"c\":3}"]);
    }
}
