//! The profile crate alone is enough to load a committed profile and predict, and it pulls in
//! neither serialport nor tract nor the agent (what the search needs of a device compiles
//! without them).

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use edgenas_profile::{LatencyProfile, ProfileError};
use edgenas_space::SearchSpace;

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

#[test]
fn committed_profile_loads_and_predicts() {
    let prof = LatencyProfile::from_file(&root().join("profiles/local.json")).unwrap();
    let space = SearchSpace::from_file(&root().join("spaces/default.toml")).unwrap();
    prof.check_space(&space).unwrap();
    let small = prof.predict(&space.smallest_architecture()).unwrap();
    let large = prof.predict(&space.largest_architecture()).unwrap();
    assert!(small.latency_ns > 0.0 && small.latency_ns < large.latency_ns, "{small:?} vs {large:?}");
    let arch = space.sample(7);
    let p = prof.predict(&arch).unwrap();
    assert_eq!(p.blocks.len(), arch.block_keys().len());
    assert_eq!(p.sum_ns, p.blocks.iter().map(|b| b.1).sum::<f64>());
    assert_eq!(p.latency_ns, prof.calibration.apply(p.sum_ns, p.blocks.len()));
    // another space is refused, naming both
    let tiny = SearchSpace::from_file(&root().join("spaces/tiny.toml")).unwrap();
    let e = prof.check_space(&tiny).unwrap_err();
    assert!(matches!(e, ProfileError::Config { .. }) && e.to_string().contains("profile the device"), "{e}");
}

/// Every package `package` depends on for this platform (normal and build dependencies,
/// transitively), from `cargo tree` as in `cargo tree -p edgenas-profile -e normal`.
fn dependencies_of(package: &str) -> BTreeSet<String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["tree", "--offline", "-e", "no-dev", "--prefix", "none", "-p", package, "--manifest-path"])
        .arg(root().join("Cargo.toml"))
        .output()
        .expect("cargo tree runs");
    assert!(out.status.success(), "cargo tree: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    // lines are `name vX.Y.Z [(path)] [(*)]`; the first is the package itself
    text.lines().skip(1).filter_map(|l| l.split_whitespace().next()).map(str::to_string).collect()
}

#[test]
fn profile_crate_needs_no_serialport_tract_or_agent() {
    let deps = dependencies_of("edgenas-profile");
    assert!(deps.contains("edgenas-space") && deps.contains("edgenas-protocol"), "{deps:?}");
    let banned: Vec<&String> = deps
        .iter()
        .filter(|d| {
            d.starts_with("serialport")
                || d.starts_with("tract")
                || d.starts_with("burn")
                || ["edgenas-agent", "edgenas-device", "edgenas-onnx"].contains(&d.as_str())
        })
        .collect();
    assert!(banned.is_empty(), "edgenas-profile depends on {banned:?}");
    // the walk sees them where they are
    let device = dependencies_of("edgenas-device");
    assert!(device.contains("serialport") && device.contains("tract-onnx") && device.contains("edgenas-agent"));
}
