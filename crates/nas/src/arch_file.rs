//! Reading an architecture from a file: an architecture JSON, or the architecture of a model
//! card (`models/NAME.json` of a search).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use edgenas_space::Architecture;

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
