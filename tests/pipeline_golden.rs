//! The search pipeline's behaviour pinned: a small search with a fixed seed (tiny space,
//! synthetic data, a committed profile, baselines and challengers finished) gives the same
//! journal, front, baselines, challengers, finished models and exported ONNX bytes as recorded
//! in `tests/fixtures/golden-search/<scenario>.json` before the pipeline moved into its library.
//!
//! Timings (seconds, measured latencies) are left out: they are the machine's, not the code's.
//! Burn and tract may round differently on another CPU model, so the exact comparison runs on
//! the CPU that recorded the fixture (named in it); on another, the parts that do not depend on
//! floating-point rounding are compared exactly (every architecture's counts and predicted
//! latency, the first generation) and accuracies within a tolerance. `EDGENAS_BLESS=1 cargo test
//! --test pipeline_golden` records the fixture anew (only after a change meant to alter results).

mod support;

use serde_json::{json, Value};
use support::{cpu_model, edgenas, ok, root, write_quadrant_data};

fn fixture() -> std::path::PathBuf {
    root().join("tests/fixtures/golden-search")
}

/// The searches the fixture pins: NSGA-II over supernet scores with baselines and challengers
/// finished; random search over proxy training under a flash budget, finished from scratch.
fn golden_args(scenario: &str, tiny: &str, profile: &str) -> Vec<String> {
    let a = match scenario {
        "supernet" => {
            "search --data data --population 6 --generations 3 --supernet-steps 60 --finish 1 \
             --finish-baselines --finetune-steps 10 --challenger-candidates 2 --measure-runs 5 \
             --seed 7 --out run --quiet --json"
        }
        _ => {
            "search --data data --eval proxy --proxy-steps 30 --algorithm random --population 4 \
             --generations 2 --objectives error,latency,flash --flash-budget-kib 9 --finish 2 \
             --finish-from scratch --finish-steps 6 --measure-runs 5 --seed 3 --out run --quiet --json"
        }
    };
    let mut v: Vec<String> = a.split_whitespace().map(String::from).collect();
    v.extend(["--space".into(), tiny.into(), "--profile".into(), profile.into()]);
    v
}

/// A record without its timing.
fn record(r: &Value) -> Value {
    let mut r = r.clone();
    r.as_object_mut().unwrap().remove("seconds");
    r
}

/// What the fixture compares, read from a finished run folder.
fn outputs(run: &std::path::Path) -> Value {
    let read = |f: &str| std::fs::read_to_string(run.join(f)).unwrap();
    let json = |f: &str| serde_json::from_str::<Value>(&read(f)).unwrap();
    // journal entries (a header line, when there is one, names the journal)
    let journal: Vec<Value> = read("journal.jsonl")
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|v| v.get("genome").is_some())
        .map(|v| record(&v))
        .collect();
    let pareto: Vec<Value> = json("pareto.json")
        .as_array()
        .unwrap()
        .iter()
        .map(|p| json!({"record": record(&p["record"]), "architecture": p["architecture"]}))
        .collect();
    let baselines: Vec<Value> = json("baselines.json")
        .as_array()
        .unwrap()
        .iter()
        .map(|b| json!({"name": b["name"], "architecture": b["architecture"], "record": record(&b["record"])}))
        .collect();
    let summary = json("summary.json");
    let finished: Vec<Value> = ["finished", "baselines_finished"]
        .iter()
        .flat_map(|k| summary[*k].as_array().unwrap().clone())
        .map(|f| {
            let name = f["name"].as_str().unwrap().to_string();
            let onnx = std::fs::read(run.join("models").join(format!("{name}.onnx"))).unwrap();
            let card = json(&format!("models/{name}.json"));
            json!({
                "name": name,
                "genome": card["genome"],
                "search_accuracy": f["search_accuracy"],
                "valid_accuracy": f["valid_accuracy"],
                "test_accuracy_burn": f["test_accuracy_burn"],
                "test_accuracy_tract": f["test_accuracy_tract"],
                "predicted_ms": f["predicted_ms"],
                "flash_bytes": f["flash_bytes"],
                "sram_bytes": f["sram_bytes"],
                "params": f["params"],
                "onnx_bytes": onnx.len(),
                "onnx_hash": edgenas_store::content_hash(&onnx),
            })
        })
        .collect();
    json!({
        "journal": journal,
        "pareto": pareto,
        "baselines": baselines,
        "challengers": summary["challengers"],
        "finished": finished,
        "evaluations": summary["evaluations"],
        "front": summary["front"],
        "hypervolume": summary["hypervolume"],
    })
}

/// The parts of `v` that do not depend on floating-point rounding: every record's genome,
/// counts and predicted latency in the journal's first generation, and every baseline's.
fn rounding_free(v: &Value) -> Value {
    let strip = |r: &Value| {
        let mut r = r.clone();
        r.as_object_mut().unwrap().remove("accuracy");
        r
    };
    let first: Vec<Value> =
        v["journal"].as_array().unwrap().iter().filter(|r| r["generation"] == 1).map(strip).collect();
    let baselines: Vec<Value> = v["baselines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| json!({"name": b["name"], "record": strip(&b["record"])}))
        .collect();
    json!({"first_generation": first, "baselines": baselines})
}

/// Runs `scenario` and compares it with (or, with `EDGENAS_BLESS`, records) its fixture.
fn check(scenario: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let cwd = tmp.path();
    write_quadrant_data(cwd);
    let tiny = root().join("spaces/tiny.toml");
    let profile = fixture().join("tiny.json");
    let args = golden_args(scenario, tiny.to_str().unwrap(), profile.to_str().unwrap());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    ok(&edgenas(&args, cwd, &[]));
    let got = json!({"cpu": cpu_model(), "outputs": outputs(&cwd.join("run"))});
    let path = fixture().join(format!("{scenario}.json"));
    if std::env::var_os("EDGENAS_BLESS").is_some() {
        std::fs::write(&path, serde_json::to_string_pretty(&got).unwrap() + "\n").unwrap();
        eprintln!("recorded {}", path.display());
        return;
    }
    let want: Value = serde_json::from_str(&std::fs::read_to_string(&path).expect("the fixture")).unwrap();
    if want["cpu"] == got["cpu"] {
        for key in want["outputs"].as_object().unwrap().keys() {
            assert_eq!(
                got["outputs"][key],
                want["outputs"][key],
                "{key} differs from {} (recorded on this CPU model)",
                path.display()
            );
        }
    } else {
        eprintln!(
            "note: {} was recorded on {}, this is {}: rounding-free parts compared",
            path.display(),
            want["cpu"],
            got["cpu"]
        );
        assert_eq!(rounding_free(&got["outputs"]), rounding_free(&want["outputs"]));
        let acc = |v: &Value| -> Vec<f64> {
            let first = v["journal"].as_array().unwrap().iter().filter(|r| r["generation"] == 1);
            first.map(|r| r["accuracy"].as_f64().unwrap()).collect()
        };
        for (g, w) in acc(&got["outputs"]).iter().zip(acc(&want["outputs"])) {
            assert!((g - w).abs() <= 0.1, "first-generation accuracy {g} against the recorded {w}");
        }
    }
}

#[test]
fn a_fixed_seed_supernet_search_gives_the_recorded_outputs() {
    check("supernet");
}

#[test]
fn a_fixed_seed_random_proxy_search_gives_the_recorded_outputs() {
    check("proxy");
}

/// Copy the files of `from` into `to` (folders included).
fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

#[test]
fn a_run_folder_written_before_the_pipeline_moved_resumes() {
    // tests/fixtures/old-run/run: a search killed after its first of two generations by the
    // edgenas before edgenas-nas (config.json without a schema, a journal without a header)
    let tmp = tempfile::tempdir().unwrap();
    let cwd = tmp.path();
    write_quadrant_data(cwd);
    copy_dir(&root().join("tests/fixtures/old-run"), cwd);
    std::fs::copy(fixture().join("tiny.json"), cwd.join("tiny.json")).unwrap();
    let old_journal = std::fs::read_to_string(cwd.join("run/journal.jsonl")).unwrap();
    let args = "search --space tiny.toml --data data --profile tiny.json --population 4 --generations 2 \
                --supernet-steps 20 --finish 1 --finetune-steps 3 --out run --quiet --json --resume";
    let out = ok(&edgenas(&args.split_whitespace().collect::<Vec<_>>(), cwd, &[]));
    let summary: Value = serde_json::from_str(&out).unwrap();
    let journal = std::fs::read_to_string(cwd.join("run/journal.jsonl")).unwrap();
    assert!(journal.starts_with(&old_journal), "the old lines stay, no header is put before them");
    assert!(journal.lines().count() > old_journal.lines().count(), "the second generation was evaluated");
    assert_eq!(summary["evaluations"].as_u64().unwrap() as usize, journal.lines().count());
    assert_eq!(summary["finished"].as_array().unwrap().len(), 1);
    // a changed setting is refused by name
    let moved = args.replace("--population 4", "--population 5");
    let e = support::err(&edgenas(&moved.split_whitespace().collect::<Vec<_>>(), cwd, &[]));
    assert!(e.contains("population: 4 there, 5 now"), "{e}");
}
