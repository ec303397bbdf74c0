//! `edgenas train` and `edgenas export --checkpoint` end to end on the bundled MNIST subset:
//! the trained export is validated with tract against Burn, and bad input is refused.

mod support;

use std::process::{Command, Output};

use support::{edgenas_in as edgenas, ok, root};

/// A failing run: one line on stderr, no panic.
fn err(out: &Output) -> String {
    support::fails(out, &[])
}

/// A small member of the default space (smallest widths, one block per stage, two with SE).
const SMALL: &str = r#"{
  "input": {"channels": 1, "height": 28, "width": 28},
  "classes": 10,
  "stem": {"width": 8, "kernel": 3, "stride": 1},
  "stages": [
    {"width": 8, "stride": 1, "blocks": [{"kernel": 3, "expansion": 1, "se": false}]},
    {"width": 16, "stride": 2, "blocks": [{"kernel": 3, "expansion": 3, "se": true}]},
    {"width": 32, "stride": 2, "blocks": [{"kernel": 5, "expansion": 3, "se": false}]},
    {"width": 64, "stride": 1, "blocks": [{"kernel": 3, "expansion": 3, "se": true}]}
  ],
  "head": {"width": 128}
}"#;

#[test]
fn train_then_export_is_validated_with_tract() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    std::fs::write(p.join("small.json"), SMALL).unwrap();
    let data = root().join("data/mnist-10k");
    let data = data.to_str().unwrap();
    let out = ok(&edgenas(
        &[
            "train",
            "small.json",
            "--data",
            data,
            "--steps",
            "100",
            "--batch-size",
            "32",
            "--lr",
            "2e-3",
            "--seed",
            "1",
            "--out",
            "run",
            "--quiet",
            "--json",
        ],
        p,
    ));
    let m: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(m["steps"], 100);
    let test_acc = m["test_accuracy"].as_f64().unwrap();
    assert!(test_acc > 0.5, "100 steps on MNIST digits learn something: {test_acc}");
    let info: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(p.join("run/checkpoint.json")).unwrap()).unwrap();
    assert_eq!(info["architecture"]["stem"]["width"], 8);
    assert_eq!(info["config"]["seed"], 1);
    assert!(p.join("run/model.bpk").exists());
    // a checkpoint is not replaced by accident
    let again = ["train", "small.json", "--data", data, "--steps", "1", "--out", "run", "--quiet"];
    let e = err(&edgenas(&again, p));
    assert!(e.contains("run: already holds a checkpoint") && e.contains("--force"), "{e}");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&std::fs::read_to_string(p.join("run/checkpoint.json")).unwrap())
            .unwrap()["metrics"]["steps"],
        100
    );
    let v: serde_json::Value =
        serde_json::from_str(&ok(&edgenas(&["export", "--checkpoint", "run", "--out", "m.onnx", "--json"], p)))
            .unwrap();
    assert_eq!(v["images"], 256);
    assert!(v["max_abs_diff"].as_f64().unwrap() <= 1e-4, "{v}");
    assert_eq!(v["top1_burn"], v["top1_tract"]);
    assert!(p.join("m.onnx").exists());
    // a check on no image is no check: refused
    let e = err(&edgenas(&["export", "--checkpoint", "run", "--out", "z.onnx", "--check-images", "0"], p));
    assert!(e.contains("--check-images: 0 is not allowed"), "{e}");
    assert!(!p.join("z.onnx").exists());
    // the exported file loads in tract on its own
    let val: serde_json::Value =
        serde_json::from_str(&ok(&edgenas(&["validate", "m.onnx", "--runs", "2", "--json"], p))).unwrap();
    assert_eq!(val["output_shape"], serde_json::json!([1, 10]));
}

#[test]
fn training_errors_name_what_is_wrong() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    std::fs::write(p.join("small.json"), SMALL).unwrap();
    let e = err(&edgenas(&["train", "small.json", "--data", "nowhere", "--out", "run"], p));
    assert!(e.contains("nowhere"), "{e}");
    let data = root().join("data/mnist-10k");
    let e = err(&edgenas(
        &["train", "small.json", "--data", data.to_str().unwrap(), "--batch-size", "0", "--out", "run"],
        p,
    ));
    assert!(e.contains("batch_size"), "{e}");
    let e =
        err(&edgenas(&["train", "small.json", "--data", data.to_str().unwrap(), "--shift", "9", "--out", "run"], p));
    assert!(e.contains("shift") && e.contains("0..=8"), "{e}");
    let e =
        err(&edgenas(&["train", "small.json", "--data", data.to_str().unwrap(), "--steps", "0", "--out", "run"], p));
    assert!(e.contains("steps: 0 is not allowed"), "{e}");
    let e =
        err(&edgenas(&["train", "small.json", "--data", data.to_str().unwrap(), "--subset", "0", "--out", "run"], p));
    assert!(e.contains("--subset: 0 is not allowed"), "{e}");
    // a training backend this build lacks is refused before any work
    let train_with = |var: &str, value: &str| {
        let args = ["train", "small.json", "--data", data.to_str().unwrap(), "--out", "run"];
        Command::new(env!("CARGO_BIN_EXE_edgenas")).args(args).current_dir(p).env(var, value).output().unwrap()
    };
    let e = err(&train_with("EDGENAS_BACKEND", "tpu"));
    assert!(e.contains("EDGENAS_BACKEND") && e.contains("allowed: flex"), "{e}");
    assert!(!p.join("run").exists());
    // so is a kernel setting it does not know
    let e = err(&train_with("EDGENAS_KERNELS", "off"));
    assert!(e.contains("EDGENAS_KERNELS=\"off\"") && e.contains("allowed: fast"), "{e}");
    assert!(!p.join("run").exists());
    // an architecture for other images
    std::fs::write(p.join("rgb.json"), SMALL.replace("\"channels\": 1", "\"channels\": 3")).unwrap();
    let e = err(&edgenas(&["train", "rgb.json", "--data", data.to_str().unwrap(), "--out", "run", "--steps", "1"], p));
    assert!(e.contains("3x28x28"), "{e}");
    let e = err(&edgenas(&["export", "--checkpoint", "missing", "--out", "m.onnx"], p));
    assert!(e.contains("missing"), "{e}");
    assert!(!p.join("m.onnx").exists());
}
