//! Helpers of the search's end-to-end tests (tests/search_cli.rs, tests/search_modes_cli.rs):
//! a scratch folder with data and a quick profile, and the arguments of a small search.

use std::path::Path;

use super::{edgenas, ok, root, write_quadrant_data};

/// A scratch folder with the data and a quick profile of this machine for the tiny space.
pub fn setup() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    write_quadrant_data(tmp.path());
    quick_profile(tmp.path(), root().join("spaces/tiny.toml").to_str().unwrap(), "tiny.json");
    tmp
}

/// A quick profile of this machine for `space`, written to `out` (paths relative to `cwd`).
pub fn quick_profile(cwd: &Path, space: &str, out: &str) {
    let args = ["profile", "--space", space, "--out", out, "--passes", "1", "--runs", "5"];
    ok(&edgenas(&[&args[..], &["--warmup", "1", "--calibrate", "3", "--quiet"]].concat(), cwd, &[]));
}

/// A text file's contents; the panic names the file.
pub fn read_text(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `args` (from `search_args`) reading the profile `prof` instead of `tiny.json`.
pub fn with_profile<'a>(mut args: Vec<&'a str>, prof: &'a str) -> Vec<&'a str> {
    let p = args.iter().position(|a| *a == "tiny.json").unwrap();
    args[p] = prof;
    args
}

pub fn search_args<'a>(tiny: &'a str, out: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec![
        "search",
        "--space",
        tiny,
        "--data",
        "data",
        "--profile",
        "tiny.json",
        "--population",
        "6",
        "--generations",
        "3",
        "--supernet-steps",
        "80",
        "--finish",
        "2",
        "--out",
        out,
        "--quiet",
    ];
    v.extend_from_slice(extra);
    v
}

/// `args` with the values of flags it already has replaced (clap refuses a flag given twice).
pub fn with<'a>(mut args: Vec<&'a str>, values: &[(&str, &'a str)]) -> Vec<&'a str> {
    for (flag, value) in values {
        let i = args.iter().position(|a| a == flag).unwrap();
        args[i + 1] = value;
    }
    args
}

/// `search_args` cut to one generation with nothing finished.
pub fn one_generation(args: Vec<&str>) -> Vec<&str> {
    with(args, &[("--generations", "1"), ("--finish", "0")])
}
