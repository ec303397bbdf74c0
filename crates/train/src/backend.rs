//! Which Burn backend trains: flex (CPU, the default) or, in builds with the cargo feature, ndarray,
//! wgpu or cuda, chosen at run time with the `EDGENAS_BACKEND` environment variable.

use crate::error::{Result, TrainError};
use burn::tensor::Device;

/// The environment variable that names the backend.
pub const BACKEND_VAR: &str = "EDGENAS_BACKEND";

/// The backends this build holds (cargo features `ndarray`, `wgpu`, `cuda` add theirs).
pub fn available() -> Vec<&'static str> {
    let mut v = vec!["flex"];
    if cfg!(feature = "ndarray") {
        v.push("ndarray");
    }
    if cfg!(feature = "wgpu") {
        v.push("wgpu");
    }
    if cfg!(feature = "cuda") {
        v.push("cuda");
    }
    v
}

/// The backend `EDGENAS_BACKEND` names (flex when unset). An unknown name, or one this build
/// lacks, is an error naming the variable and the allowed values.
pub fn selected() -> Result<&'static str> {
    parse(std::env::var(BACKEND_VAR).ok().as_deref())
}

/// The backend a value of `EDGENAS_BACKEND` names (`None` or empty: flex).
pub fn parse(name: Option<&str>) -> Result<&'static str> {
    let name = name.unwrap_or("");
    if name.is_empty() {
        return Ok("flex");
    }
    let all = available();
    all.iter().copied().find(|b| *b == name).ok_or_else(|| {
        let hint = if ["ndarray", "wgpu", "cuda"].contains(&name) {
            format!(" (rebuild with `--features {name}`)")
        } else {
            String::new()
        };
        TrainError::Config(format!(
            "{BACKEND_VAR}={name:?} is not a backend of this build; allowed: {}{hint}",
            all.join(", ")
        ))
    })
}

/// A fresh device of the selected backend (flex when the selection is invalid: callers check
/// [`selected`] first, as the CLI does at start-up).
pub fn base_device() -> Device {
    match selected().unwrap_or("flex") {
        #[cfg(feature = "ndarray")]
        #[allow(deprecated)]
        "ndarray" => Device::ndarray(),
        #[cfg(feature = "wgpu")]
        "wgpu" => Device::wgpu(burn::tensor::DeviceKind::default()),
        #[cfg(feature = "cuda")]
        "cuda" => Device::cuda(0),
        _ => Device::flex(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flex_by_default_and_unknown_names_refused() {
        assert_eq!(parse(None).unwrap(), "flex");
        assert_eq!(parse(Some("")).unwrap(), "flex");
        assert_eq!(parse(Some("flex")).unwrap(), "flex");
        let e = parse(Some("tpu")).unwrap_err().to_string();
        assert!(e.contains("EDGENAS_BACKEND") && e.contains("\"tpu\"") && e.contains("allowed: flex"), "{e}");
        // a backend behind a feature this build lacks says how to get it
        if !cfg!(feature = "cuda") {
            let e = parse(Some("cuda")).unwrap_err().to_string();
            assert!(e.contains("--features cuda"), "{e}");
        } else {
            assert_eq!(parse(Some("cuda")).unwrap(), "cuda");
        }
    }
}
