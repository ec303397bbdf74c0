//! End-to-end tests of the CLI: the happy path and every kind of bad input.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use support::{edgenas_in as edgenas, fails, ok};

fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    v.sort();
    v
}

#[test]
fn sample_stats_export_validate_happy_path() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    ok(&edgenas(&["space", "sample", "--seed", "3", "--out", "a.json"], p));
    let again = ok(&edgenas(&["space", "sample", "--seed", "3"], p));
    assert_eq!(std::fs::read_to_string(p.join("a.json")).unwrap().trim(), again.trim(), "same seed, same architecture");
    let stats: serde_json::Value =
        serde_json::from_str(&ok(&edgenas(&["space", "stats", "a.json", "--json"], p))).unwrap();
    assert!(stats["params"].as_u64().unwrap() > 0);
    assert!(stats["peak_activation_f32_bytes"].as_u64().unwrap() > 0);
    let text = ok(&edgenas(&["space", "stats", "a.json"], p));
    assert!(text.contains("MACs") && text.contains("peak activations"), "{text}");
    let info: serde_json::Value = serde_json::from_str(&ok(&edgenas(&["space", "info", "--json"], p))).unwrap();
    assert!(info["architectures_log10"].as_f64().unwrap() >= 9.0);
    assert!(info["block_configs"].as_u64().unwrap() < 3000);
    ok(&edgenas(&["export", "a.json", "--out", "m.onnx"], p));
    let v: serde_json::Value =
        serde_json::from_str(&ok(&edgenas(&["validate", "m.onnx", "--runs", "5", "--json"], p))).unwrap();
    assert_eq!(v["input_shape"], serde_json::json!([1, 1, 28, 28]));
    assert_eq!(v["output_shape"], serde_json::json!([1, 10]));
    assert_eq!(v["timing"]["runs"], 5);
    assert!(v["timing"]["median_ns"].as_f64().unwrap() > 0.0);
    let text = ok(&edgenas(&["validate", "m.onnx", "--runs", "3"], p));
    assert!(text.contains("median") && text.contains("[1, 10]"), "{text}");
    // timed on a device through its agent (here the in-process one of devices/local.toml):
    // the same JSON, with the device and what it reported of itself
    let local = format!("{}/devices/local.toml", env!("CARGO_MANIFEST_DIR"));
    let on: serde_json::Value =
        serde_json::from_str(&ok(&edgenas(&["validate", "m.onnx", "--runs", "4", "--device", &local, "--json"], p)))
            .unwrap();
    for key in v.as_object().unwrap().keys() {
        assert!(on.get(key).is_some(), "{key} missing from {on}");
    }
    assert_eq!(on["timing"]["runs"], 4);
    assert!(on["timing"]["median_ns"].as_f64().unwrap() > 0.0);
    assert!(on["timing"]["p10_ns"].as_f64().unwrap() <= on["timing"]["p90_ns"].as_f64().unwrap());
    assert_eq!(
        (on["device"]["name"].as_str(), on["device"]["info"]["arch"].as_str()),
        (Some("local"), Some(std::env::consts::ARCH))
    );
    let text = ok(&edgenas(&["validate", "m.onnx", "--runs", "3", "--device", &local], p));
    assert!(text.contains("on local (") && text.contains("median"), "{text}");
    fails(&edgenas(&["validate", "m.onnx", "--device", "nodev.toml"], p), &["--device nodev.toml"]);
    // a serial port that is not there (a pty pair gone with its agent) fails at once, not
    // after minutes of retries
    let gone = "name = \"gone\"\n[transport]\nkind = \"serial\"\npath = \"/dev/edgenas-no-such-tty\"\n";
    std::fs::write(p.join("gone.toml"), gone).unwrap();
    let started = std::time::Instant::now();
    fails(
        &edgenas(&["validate", "m.onnx", "--device", "gone.toml"], p),
        &["/dev/edgenas-no-such-tty", "no such serial port"],
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(20), "{:?}", started.elapsed());
}

#[test]
fn compare_two_models_image_by_image() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    let root = env!("CARGO_MANIFEST_DIR");
    let data = format!("{root}/data/mnist-10k");
    for (seed, name) in [("3", "a"), ("4", "b")] {
        ok(&edgenas(&["space", "sample", "--seed", seed, "--out", &format!("{name}.json")], p));
        ok(&edgenas(&["export", &format!("{name}.json"), "--seed", seed, "--out", &format!("{name}.onnx")], p));
    }
    let cmp = |a: &str, b: &str| -> serde_json::Value {
        serde_json::from_str(&ok(&edgenas(&["compare", a, b, "--data", &data, "--json"], p))).unwrap()
    };
    let v = cmp("a.onnx", "b.onnx");
    let f = |k: &str| v[k].as_f64().unwrap();
    let (only_a, only_b) = (v["only_model_right"].as_u64().unwrap(), v["only_baseline_right"].as_u64().unwrap());
    assert_eq!(v["images"], 2000, "the bundled test split");
    // two differently seeded random networks disagree on many images
    assert!(only_a + only_b > 0, "{v}");
    assert!((f("model_accuracy") - f("baseline_accuracy") - f("accuracy_difference")).abs() < 1e-12, "{v}");
    assert!((f("accuracy_difference") * 2000.0 - (only_a as f64 - only_b as f64)).abs() < 1e-6, "{v}");
    assert_eq!(f("p_value"), edgenas_report::mcnemar_exact(only_a as usize, only_b as usize));
    assert_eq!(v["significant"].as_bool().unwrap(), f("p_value") < 0.05);
    // swapped: the sign flips, the test does not change
    let w = cmp("b.onnx", "a.onnx");
    assert_eq!(w["accuracy_difference"].as_f64().unwrap(), -f("accuracy_difference"));
    assert_eq!(w["p_value"].as_f64().unwrap(), f("p_value"));
    // a model against itself: nothing differs
    let same = cmp("a.onnx", "a.onnx");
    assert_eq!((same["only_model_right"].as_u64(), same["only_baseline_right"].as_u64()), (Some(0), Some(0)));
    assert_eq!((same["p_value"].as_f64(), same["significant"].as_bool()), (Some(1.0), Some(false)));
    let text = ok(&edgenas(&["compare", "a.onnx", "b.onnx", "--data", &data], p));
    assert!(text.contains("McNemar exact p") && text.contains("2000 test images"), "{text}");
    assert_eq!((v["split_seed"].as_u64(), v["baseline_split_seed"].as_u64()), (Some(0), Some(0)), "no card: 0");
    // a model card beside a model gives its split seed; --split-seed against the card warns
    std::fs::copy(p.join("a.onnx"), p.join("w.onnx")).unwrap();
    std::fs::write(p.join("w.json"), r#"{"model": "w.onnx", "split_seed": 7}"#).unwrap();
    let c = cmp("w.onnx", "b.onnx");
    assert_eq!((c["split_seed"].as_u64(), c["baseline_split_seed"].as_u64()), (Some(7), Some(0)), "{c}");
    let out = edgenas(&["compare", "b.onnx", "w.onnx", "--data", &data, "--split-seed", "3", "--json"], p);
    let c: serde_json::Value = serde_json::from_str(&ok(&out)).unwrap();
    assert_eq!((c["split_seed"].as_u64(), c["baseline_split_seed"].as_u64()), (Some(3), Some(3)), "{c}");
    let w = String::from_utf8_lossy(&out.stderr);
    assert!(w.contains("warning: w.json: split_seed 7, but --split-seed 3"), "{w}");
    // bad input: a missing model, models of other input shapes, a missing dataset
    fails(&edgenas(&["compare", "a.onnx", "nope.onnx", "--data", &data], p), &["nope.onnx"]);
    let tiny = format!("{root}/spaces/tiny.toml");
    ok(&edgenas(&["space", "sample", "--space", &tiny, "--out", "t.json"], p));
    ok(&edgenas(&["export", "t.json", "--out", "t.onnx"], p));
    fails(&edgenas(&["compare", "a.onnx", "t.onnx", "--data", &data], p), &["t.onnx", "input shape"]);
    fails(&edgenas(&["compare", "t.onnx", "t.onnx", "--data", &data], p), &["mnist-10k", "images are [1, 28, 28]"]);
    std::fs::write(p.join("garbage.onnx"), b"not a model").unwrap();
    fails(&edgenas(&["compare", "a.onnx", "garbage.onnx", "--data", &data], p), &["garbage.onnx"]);
    fails(&edgenas(&["compare", "a.onnx", "b.onnx", "--data", "no-such-data"], p), &["no-such-data"]);
}

#[test]
fn help_exists_everywhere() {
    let d = tempfile::tempdir().unwrap();
    for args in [
        vec!["--help"],
        vec!["space", "--help"],
        vec!["space", "sample", "--help"],
        vec!["space", "stats", "--help"],
        vec!["space", "info", "--help"],
        vec!["export", "--help"],
        vec!["validate", "--help"],
        vec!["compare", "--help"],
        vec!["run", "--help"],
        vec!["devices", "--help"],
        vec!["profile", "--help"],
        vec!["profile", "check", "--help"],
        vec!["profile", "verify", "--help"],
        vec!["predict", "--help"],
    ] {
        let s = ok(&edgenas(&args, d.path()));
        assert!(s.contains("Usage"), "{args:?}: {s}");
    }
}

#[test]
fn arch_json_with_unknown_field_is_refused() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    ok(&edgenas(&["space", "sample", "--out", "a.json"], p));
    let text = std::fs::read_to_string(p.join("a.json")).unwrap();
    std::fs::write(p.join("bad.json"), text.replacen("\"classes\"", "\"colour\": 2, \"classes\"", 1)).unwrap();
    fails(&edgenas(&["space", "stats", "bad.json"], p), &["bad.json", "colour"]);
    fails(&edgenas(&["export", "bad.json", "--out", "m.onnx"], p), &["bad.json", "colour"]);
    assert!(!p.join("m.onnx").exists());
    // a value of the wrong type or range is named by its path
    let mut a: serde_json::Value = serde_json::from_str(&text).unwrap();
    a["stages"][1]["blocks"][0]["kernel"] = serde_json::json!(-3);
    std::fs::write(p.join("neg.json"), a.to_string()).unwrap();
    fails(&edgenas(&["space", "stats", "neg.json"], p), &["neg.json: stages[1].blocks[0].kernel: invalid value", "-3"]);
}

#[test]
fn taken_out_paths_missing_inputs_and_bad_toml_are_explained() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    ok(&edgenas(&["space", "sample", "--out", "a.json"], p));
    std::fs::write(p.join("afile"), "mine").unwrap();
    // an --out folder taken by a file is refused before any work, for every command writing one
    for args in [
        vec!["train", "a.json", "--out", "afile", "--steps", "1"],
        vec!["search", "--out", "afile"],
        vec!["run", "--out", "afile"],
    ] {
        fails(&edgenas(&args, p), &["afile: is a file", "--out takes a folder"]);
    }
    assert_eq!(std::fs::read_to_string(p.join("afile")).unwrap(), "mine");
    // a file that is not JSON where an architecture is expected says so
    fails(&edgenas(&["space", "stats", "afile"], p), &["afile: not JSON", "architecture JSON"]);
    // the architecture export speaks JSON too
    let v: serde_json::Value =
        serde_json::from_str(&ok(&edgenas(&["export", "a.json", "--out", "a.onnx", "--json"], p))).unwrap();
    assert_eq!((v["ir_version"].as_i64(), v["opset"].as_i64()), (Some(8), Some(13)), "{v}");
    assert!(v["params"].as_u64().unwrap() > 0 && p.join("a.onnx").exists(), "{v}");
    // a search folder is not a checkpoint: the error says where its models are
    std::fs::create_dir(p.join("srch")).unwrap();
    std::fs::write(p.join("srch/config.json"), "{}").unwrap();
    fails(&edgenas(&["export", "--checkpoint", "srch", "--out", "m.onnx"], p), &["a search's folder", "srch/models"]);
    // export with nothing to export names both ways
    fails(&edgenas(&["export", "--out", "m.onnx"], p), &["nothing to export", "ARCH.json", "--checkpoint"]);
    // a space file with a TOML error names the file, line and column on one line
    std::fs::write(p.join("s.toml"), "name = \"s\"\nclasses = [\n").unwrap();
    fails(&edgenas(&["space", "stats", "a.json", "--space", "s.toml"], p), &["s.toml", "line 2, column"]);
    std::fs::write(p.join("s.toml"), "name = \"s\"\ncolour = 1\n").unwrap();
    fails(&edgenas(&["space", "stats", "a.json", "--space", "s.toml"], p), &["s.toml: line 2, column 1", "colour"]);
}

#[test]
fn arch_json_with_missing_field_is_refused() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    std::fs::write(p.join("bad.json"), r#"{"input": {"channels": 1, "height": 28, "width": 28}, "classes": 10}"#)
        .unwrap();
    fails(&edgenas(&["space", "stats", "bad.json"], p), &["bad.json", "stem"]);
}

#[test]
fn illegal_choice_names_field_and_allowed_values() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    ok(&edgenas(&["space", "sample", "--out", "a.json"], p));
    let mut a: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(p.join("a.json")).unwrap()).unwrap();
    a["stages"][1]["blocks"][0]["kernel"] = serde_json::json!(9);
    std::fs::write(p.join("bad.json"), a.to_string()).unwrap();
    fails(
        &edgenas(
            &["space", "stats", "bad.json", "--space", &format!("{}/spaces/default.toml", env!("CARGO_MANIFEST_DIR"))],
            p,
        ),
        &["bad.json", "stages[1].blocks[0].kernel", "3, 5"],
    );
    a["stages"][1]["blocks"][0]["kernel"] = serde_json::json!(4);
    std::fs::write(p.join("even.json"), a.to_string()).unwrap();
    fails(&edgenas(&["export", "even.json", "--out", "m.onnx"], p), &["even.json", "stages[1].blocks[0].kernel"]);
    assert!(!p.join("m.onnx").exists());
}

#[test]
fn space_toml_errors_name_file_and_field() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("spaces/default.toml")).unwrap();
    std::fs::write(p.join("unknown.toml"), text.replace("[head]", "[head]\ncolour = 1")).unwrap();
    fails(&edgenas(&["space", "info", "--space", "unknown.toml"], p), &["unknown.toml", "colour"]);
    std::fs::write(p.join("missing.toml"), text.replace("expansions = [3, 6]", "")).unwrap();
    fails(&edgenas(&["space", "sample", "--space", "missing.toml"], p), &["missing.toml", "expansions"]);
    std::fs::write(p.join("illegal.toml"), text.replace("stride = 2", "stride = 3")).unwrap();
    fails(&edgenas(&["space", "info", "--space", "illegal.toml"], p), &["illegal.toml", "stride", "1, 2"]);
}

#[test]
fn garbage_and_truncated_onnx_are_refused() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    std::fs::write(p.join("garbage.onnx"), b"this is not a model at all \x00\xff\x13").unwrap();
    fails(&edgenas(&["validate", "garbage.onnx"], p), &["garbage.onnx"]);
    ok(&edgenas(&["space", "sample", "--out", "a.json"], p));
    ok(&edgenas(&["export", "a.json", "--out", "m.onnx"], p));
    let bytes = std::fs::read(p.join("m.onnx")).unwrap();
    std::fs::write(p.join("trunc.onnx"), &bytes[..bytes.len() / 2]).unwrap();
    fails(&edgenas(&["validate", "trunc.onnx"], p), &["trunc.onnx"]);
    std::fs::write(p.join("empty.onnx"), b"").unwrap();
    fails(&edgenas(&["validate", "empty.onnx"], p), &["empty.onnx"]);
}

#[test]
fn missing_files_are_reported() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    fails(&edgenas(&["space", "stats", "nope.json"], p), &["nope.json"]);
    fails(&edgenas(&["export", "nope.json", "--out", "m.onnx"], p), &["nope.json"]);
    fails(&edgenas(&["validate", "nope.onnx"], p), &["nope.onnx"]);
    fails(&edgenas(&["space", "info", "--space", "nope.toml"], p), &["nope.toml"]);
}

#[test]
fn output_in_missing_folder_leaves_nothing_behind() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    ok(&edgenas(&["space", "sample", "--out", "a.json"], p));
    let before = files_in(p);
    fails(&edgenas(&["export", "a.json", "--out", "no/such/dir/m.onnx"], p), &["no/such/dir", "does not exist"]);
    fails(&edgenas(&["space", "sample", "--out", "missing/a.json"], p), &["missing", "does not exist"]);
    assert_eq!(files_in(p), before, "no partial output");
}

#[test]
fn output_into_a_closed_pipe_ends_quietly() {
    use std::process::Stdio;
    let d = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_edgenas"))
        .args(["space", "info", "--keys"])
        .current_dir(d.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // the reader goes away before the first line is written, as `| head -0` would
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(101), "panicked: {err}");
    assert!(!err.contains("panicked") && !err.contains("Broken pipe"), "{err}");
}
