//! `edgenas profile`, `profile check`, `profile verify`, `predict` and `devices` end to end
//! on this machine (the in-process local device) with the tiny space.

mod support;

use std::path::Path;

use support::{edgenas, err, ok, root};

/// (key, pass, median) of every measurement line of a journal.
fn journal_keys(path: &Path) -> Vec<(String, u64, f64)> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["type"] == "key")
        .map(|v| {
            (
                v["key"].as_str().unwrap().to_string(),
                v["pass"].as_u64().unwrap(),
                v["stat"]["median_ns"].as_f64().unwrap(),
            )
        })
        .collect()
}

fn profile_args<'a>(tiny: &'a str, out: &'a str) -> Vec<&'a str> {
    vec![
        "profile",
        "--space",
        tiny,
        "--out",
        out,
        "--runs",
        "3",
        "--warmup",
        "1",
        "--passes",
        "2",
        "--calibrate",
        "3",
        "--quiet",
    ]
}

#[test]
fn killed_profile_resumes_without_remeasuring() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    let tiny = root().join("spaces/tiny.toml");
    let tiny = tiny.to_str().unwrap();
    let args = profile_args(tiny, "p.json");
    // killed (abort) after 5 keys were journaled
    let out = edgenas(&args, p, &[("EDGENAS_TEST_ABORT_AFTER_KEYS", "5")]);
    assert!(!out.status.success());
    assert!(!p.join("p.json").exists(), "no profile from a killed run");
    let before = journal_keys(&p.join("p.journal.jsonl"));
    assert_eq!(before.len(), 5);
    // a journal written before journals had their common header line (that line removed here)
    // resumes the same
    let j = p.join("p.journal.jsonl");
    let text = std::fs::read_to_string(&j).unwrap();
    let (first, rest) = text.split_once('\n').unwrap();
    assert!(first.contains("\"journal\":\"profile\""), "{first}");
    std::fs::write(&j, rest).unwrap();
    // a kill in the middle of writing a line leaves half a line: resume must cope
    let mut f = std::fs::OpenOptions::new().append(true).open(p.join("p.journal.jsonl")).unwrap();
    std::io::Write::write_all(&mut f, b"{\"type\":\"key\",\"key\":\"stem-i1").unwrap();
    drop(f);
    // without --resume the journal is not silently thrown away
    let e = err(&edgenas(&args, p, &[]));
    assert!(e.contains("--resume") && e.contains("p.journal.jsonl"), "{e}");
    // resume
    let mut resume = args.clone();
    resume.push("--resume");
    resume.push("--json");
    let v: serde_json::Value = serde_json::from_str(&ok(&edgenas(&resume, p, &[]))).unwrap();
    let prof: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(p.join("p.json")).unwrap()).unwrap();
    let keys = prof["keys"].as_object().unwrap();
    let info: serde_json::Value =
        serde_json::from_str(&ok(&edgenas(&["space", "info", "--space", tiny, "--json", "--keys"], p, &[]))).unwrap();
    let mut want: Vec<&str> = info["keys"].as_array().unwrap().iter().map(|k| k.as_str().unwrap()).collect();
    want.sort();
    let mut got: Vec<&str> = keys.keys().map(|k| k.as_str()).collect();
    got.sort();
    assert_eq!(got, want, "the same key set as a full profile");
    assert_eq!(v["resumed_measurements"], 5);
    assert_eq!(
        v["measurements"].as_u64().unwrap() as usize,
        2 * want.len() - 5,
        "journaled measurements are not repeated"
    );
    assert!(!p.join("p.journal.jsonl").exists(), "the journal name is free once the profile is written");
    // the raw measurements stay beside the profile: each (key, pass) exactly once, and the
    // five measured before the kill kept as they were
    let raw = journal_keys(&p.join("p.measurements.jsonl"));
    assert_eq!(raw.len(), 2 * want.len());
    let distinct: std::collections::BTreeSet<(String, u64)> = raw.iter().map(|(k, p, _)| (k.clone(), *p)).collect();
    assert_eq!(distinct.len(), raw.len(), "no key measured twice in a pass");
    assert_eq!(&raw[..5], &before[..], "measurements before the kill kept");
    for (k, _, median) in &before {
        assert!(keys[k]["median_ns"].as_f64().unwrap() <= *median, "{k}: the fastest pass is kept");
    }
    // provenance
    let prov = &prof["provenance"];
    assert_eq!(prov["runs"], 3);
    assert_eq!(prov["warmup"], 1);
    assert_eq!(prov["passes"], 2);
    assert_eq!(prov["threads"], 1);
    assert_eq!(prov["space_name"], "tiny");
    assert_eq!(prov["device_info"]["runtime"], "tract 0.23.9");
    assert!(prov["date"].as_str().unwrap().starts_with("20"));
    for s in keys.values() {
        assert!(s["p10_ns"].as_f64().unwrap() <= s["median_ns"].as_f64().unwrap());
        assert!(s["median_ns"].as_f64().unwrap() <= s["p90_ns"].as_f64().unwrap());
    }
}

#[test]
fn predict_check_verify_and_space_mismatch() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    let tiny = root().join("spaces/tiny.toml");
    let tiny = tiny.to_str().unwrap();
    ok(&edgenas(&profile_args(tiny, "p.json"), p, &[]));
    // a profile is not measured over by accident
    let before = std::fs::read(p.join("p.json")).unwrap();
    let e = err(&edgenas(&profile_args(tiny, "p.json"), p, &[]));
    assert!(e.contains("p.json: already holds a profile") && e.contains("--force"), "{e}");
    assert_eq!(std::fs::read(p.join("p.json")).unwrap(), before);
    ok(&edgenas(&[&profile_args(tiny, "p.json")[..], &["--force"]].concat(), p, &[]));
    ok(&edgenas(&["space", "sample", "--space", tiny, "--seed", "4", "--out", "a.json"], p, &[]));
    let v: serde_json::Value =
        serde_json::from_str(&ok(&edgenas(&["predict", "a.json", "--profile", "p.json", "--json"], p, &[]))).unwrap();
    assert!(v["predicted_ns"].as_f64().unwrap() > 0.0);
    let blocks = v["blocks"].as_array().unwrap();
    let sum: f64 = blocks.iter().map(|b| b["median_ns"].as_f64().unwrap()).sum();
    assert!((sum - v["sum_ns"].as_f64().unwrap()).abs() < 1e-6 * sum);
    let out = edgenas(&["predict", "a.json", "--profile", "p.json"], p, &[]);
    let text = ok(&out);
    assert!(text.contains("predicted"), "{text}");
    assert!(!String::from_utf8_lossy(&out.stderr).contains("warning"), "this machine's own profile");
    // a profile of this machine's kind measured on another CPU predicts with a warning
    let mut other: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(p.join("p.json")).unwrap()).unwrap();
    other["provenance"]["device_info"]["cpu"] = "Some Other CPU @ 1.0GHz".into();
    std::fs::write(p.join("other.json"), other.to_string()).unwrap();
    let out = edgenas(&["predict", "a.json", "--profile", "other.json"], p, &[]);
    assert_eq!(ok(&out), text, "the same prediction");
    let w = String::from_utf8_lossy(&out.stderr);
    assert!(w.contains("warning: other.json") && w.contains("Some Other CPU") && w.contains("edgenas profile"), "{w}");
    // a profile of another space is refused
    let default = root().join("spaces/default.toml");
    let e = err(&edgenas(&["predict", "a.json", "--profile", "p.json", "--space", default.to_str().unwrap()], p, &[]));
    assert!(e.contains("p.json") && e.contains("hash"), "{e}");
    // an architecture of another space is refused, naming the field
    ok(&edgenas(&["space", "sample", "--out", "big.json"], p, &[]));
    let e = err(&edgenas(&["predict", "big.json", "--profile", "p.json"], p, &[]));
    assert!(e.contains("big.json"), "{e}");
    // accuracy report stored in the profile
    let r: serde_json::Value = serde_json::from_str(&ok(&edgenas(
        &["profile", "check", "--profile", "p.json", "-n", "4", "--quiet", "--json"],
        p,
        &[],
    )))
    .unwrap();
    assert_eq!(r["architectures"], 4);
    assert!(r["mape"].as_f64().unwrap() >= 0.0);
    assert!((-1.0..=1.0).contains(&r["kendall_tau"].as_f64().unwrap()));
    let prof: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(p.join("p.json")).unwrap()).unwrap();
    assert_eq!(prof["accuracy"]["architectures"], 4);
    let table = ok(&edgenas(&["profile", "check", "--profile", "p.json", "-n", "3", "--quiet", "--no-save"], p, &[]));
    assert!(table.contains("MAPE") && table.contains("Kendall"), "{table}");
    // drift check: a generous margin on an unchanged machine is fresh; an impossible one is stale
    let out = edgenas(
        &["profile", "verify", "--profile", "p.json", "-n", "6", "--margin", "10", "--quiet", "--json"],
        p,
        &[],
    );
    let v: serde_json::Value = serde_json::from_str(&ok(&out)).unwrap();
    assert_eq!(v["stale"], false);
    assert_eq!(v["sampled"], 6);
    let e = err(&edgenas(&["profile", "verify", "--profile", "p.json", "--stale-share", "5"], p, &[]));
    assert!(e.contains("--stale-share: 5 is not allowed") && e.contains("(0, 1]"), "{e}");
    let e = err(&edgenas(&["profile", "check", "--profile", "p.json", "-n", "1"], p, &[]));
    assert!(e.contains("-n/--archs: 1 is not allowed; allowed: 2 or more"), "{e}");
    let e = err(&edgenas(&["profile", "verify", "--profile", "p.json", "-n", "0"], p, &[]));
    assert!(e.contains("-n/--keys: 0 is not allowed"), "{e}");
    let e = err(&edgenas(&["profile", "verify", "--profile", "p.json", "--margin=-10"], p, &[]));
    assert!(e.contains("--margin: -10 is not allowed") && e.contains("0 or more"), "{e}");
    // a profile whose every entry is 100x off (as if measured on a far slower board) is stale
    let mut slow: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(p.join("p.json")).unwrap()).unwrap();
    for (_, k) in slow["keys"].as_object_mut().unwrap() {
        for f in ["median_ns", "p10_ns", "p90_ns", "min_ns"] {
            k[f] = (k[f].as_f64().unwrap() * 100.0).into();
        }
    }
    std::fs::write(p.join("slow.json"), slow.to_string()).unwrap();
    let out = edgenas(&["profile", "verify", "--profile", "slow.json", "-n", "6", "--quiet", "--json"], p, &[]);
    assert_eq!(out.status.code(), Some(3), "stale exits 3");
    let v: serde_json::Value = serde_json::from_str(&String::from_utf8_lossy(&out.stdout)).unwrap();
    assert_eq!(v["stale"], true);
    assert_eq!(v["moved"].as_array().unwrap().len(), 6);
}

#[test]
fn devices_lists_and_probes() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    std::fs::create_dir(p.join("devices")).unwrap();
    std::fs::copy(root().join("devices/local.toml"), p.join("devices/local.toml")).unwrap();
    // a TCP device on loopback where nothing listens
    std::fs::write(
        p.join("devices/gone.toml"),
        "name = \"gone\"\n[transport]\nkind = \"tcp\"\naddress = \"127.0.0.1:9\"\n",
    )
    .unwrap();
    std::fs::write(p.join("devices/broken.toml"), "name = \"broken\"\ncolour = 1\n[transport]\nkind = \"local\"\n")
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&ok(&edgenas(&["devices", "--json"], p, &[]))).unwrap();
    let rows = v.as_array().unwrap();
    assert_eq!(rows.len(), 3);
    let by = |n: &str| rows.iter().find(|r| r["file"].as_str().unwrap().ends_with(n)).unwrap().clone();
    assert_eq!(by("local.toml")["status"]["ok"], true);
    assert_eq!(by("local.toml")["status"]["info"]["runtime"], "tract 0.23.9");
    assert_eq!(by("gone.toml")["status"]["ok"], false);
    assert!(by("broken.toml")["error"].as_str().unwrap().contains("colour"));
    let text = ok(&edgenas(&["devices"], p, &[]));
    assert!(text.contains("local") && text.contains("unreachable") && text.contains("invalid"), "{text}");
}

#[test]
fn bad_device_files_are_refused() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    for (name, body, needle) in [
        ("kind.toml", "name = \"x\"\n[transport]\nkind = \"carrier-pigeon\"\n", "carrier-pigeon"),
        ("runs.toml", "name = \"x\"\n[transport]\nkind = \"local\"\n[runtime]\nruns = 0\n", "runtime.runs"),
        ("threads.toml", "name = \"x\"\n[transport]\nkind = \"local\"\n[runtime]\nthreads = 4\n", "runtime.threads"),
        ("tcp.toml", "name = \"x\"\n[transport]\nkind = \"tcp\"\n", "address"),
        ("passes.toml", "name = \"x\"\n[transport]\nkind = \"local\"\n[runtime]\npasses = 0\n", "runtime.passes"),
        ("many.toml", "name = \"x\"\n[transport]\nkind = \"local\"\n[runtime]\nruns = 9000\n", "1..=8000"),
        // TOML errors name the line and column, on one line
        (
            "unknown.toml",
            "name = \"x\"\nspeed = 1\n[transport]\nkind = \"local\"\n",
            "line 2, column 1: unknown field `speed`",
        ),
        ("syntax.toml", "name = \"x\"\n[transport\nkind = \"local\"\n", "syntax.toml: line 2, column "),
        (
            "addr.toml",
            "name = \"x\"\n[transport]\nkind = \"tcp\"\naddress = \"not an address\"\n",
            "transport.address = \"not an address\" is not allowed; allowed: host:port",
        ),
    ] {
        std::fs::write(p.join(name), body).unwrap();
        let e = err(&edgenas(&["profile", "--device", name, "--quiet"], p, &[]));
        assert!(e.contains(name) && e.contains(needle), "{name}: {e}");
        assert_eq!(e.trim().lines().count(), 1, "{e}");
    }
    // flags that override the device's settings are named as flags
    let e = err(&edgenas(&["profile", "--runs", "9000", "--out", "x.json", "--quiet"], p, &[]));
    assert!(e.contains("--runs 9000 is not allowed; allowed: 1..=8000"), "{e}");
    // an --out that is a folder, or a file that is not a profile
    std::fs::create_dir(p.join("dir.json")).unwrap();
    let e = err(&edgenas(&["profile", "--out", "dir.json", "--quiet"], p, &[]));
    assert!(e.contains("dir.json: is a folder"), "{e}");
    std::fs::write(p.join("notes.txt"), "mine").unwrap();
    let e = err(&edgenas(&["profile", "--out", "notes.txt", "--quiet"], p, &[]));
    assert!(e.contains("notes.txt: exists (not a profile)") && e.contains("--force"), "{e}");
    assert_eq!(std::fs::read_to_string(p.join("notes.txt")).unwrap(), "mine");
    // nothing to resume is an error, not a fresh profile
    let e = err(&edgenas(&["profile", "--out", "never.json", "--resume", "--quiet"], p, &[]));
    assert!(e.contains("--resume") && e.contains("nothing to resume"), "{e}");
    assert!(!p.join("never.json").exists());
    // ... and a finished profile says so
    std::fs::copy(root().join("tests/fixtures/golden-search/tiny.json"), p.join("done.json")).unwrap();
    let e = err(&edgenas(&["profile", "--out", "done.json", "--resume", "--quiet"], p, &[]));
    assert!(e.contains("done.json is a finished profile; --force measures it again"), "{e}");
    let e = err(&edgenas(&["profile", "--device", "nope.toml"], p, &[]));
    assert!(e.contains("nope.toml"), "{e}");
    std::fs::write(p.join("garbage.json"), "{").unwrap();
    std::fs::write(p.join("a.json"), "{}").unwrap();
    let e = err(&edgenas(&["predict", "a.json", "--profile", "garbage.json"], p, &[]));
    assert!(e.contains("garbage.json"), "{e}");
}
