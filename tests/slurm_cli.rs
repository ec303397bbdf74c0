//! `--executor slurm` on a real single-node Slurm cluster (scripts/slurm-local.sh, started once
//! for this binary; needs root, as CI has): the same journal, front, models and summary as
//! in-process; a cancelled task resubmitted; a coordinator killed with SIGKILL and resumed
//! without running landed tasks again; a task failing every try recorded as failed; a worker
//! pointed at another run refused.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::search::{search_args, setup, with};
use support::{edgenas, fails, journal_entries, ok, root};

/// `SLURM_CONF` of the test cluster, started (or found running) once.
fn slurm_conf() -> &'static str {
    static CONF: OnceLock<String> = OnceLock::new();
    CONF.get_or_init(|| {
        let out = Command::new("bash")
            .arg(root().join("scripts/slurm-local.sh"))
            .arg("start")
            .current_dir(root())
            .output()
            .expect("run scripts/slurm-local.sh");
        assert!(out.status.success(), "cannot start the test cluster: {}", String::from_utf8_lossy(&out.stderr));
        root().join("target/slurm-local/slurm.conf").display().to_string()
    })
}

/// A small proxy-scored search of the tiny space in `out`: the search tests' arguments, with
/// `extra`'s flag-value pairs (replacing a flag they have).
fn proxy_args<'a>(tiny: &'a str, out: &'a str, generations: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let base = search_args(tiny, out, &["--eval", "proxy", "--proxy-steps", "20", "--valid-images", "100"]);
    let mut v = with(base, &[("--population", "4"), ("--generations", generations)]);
    for pair in extra.chunks(2) {
        match v.iter().position(|a| *a == pair[0]) {
            Some(i) => v[i + 1] = pair[1],
            None => v.extend_from_slice(pair),
        }
    }
    v
}

const SLURM: [&str; 4] = ["--executor", "slurm", "--poll-ms", "200"];

fn with_slurm<'a>(args: &[&'a str]) -> Vec<&'a str> {
    [args, &SLURM[..]].concat()
}

/// `edgenas ARGS` in `cwd` with the cluster's SLURM_CONF and `env`.
fn run(args: &[&str], cwd: &Path, env: &[(&str, &str)]) -> std::process::Output {
    edgenas(args, cwd, &[&[("SLURM_CONF", slurm_conf())], env].concat())
}

/// A journal's records without their timing field.
fn records(path: &Path) -> Vec<Value> {
    journal_entries(path)
        .into_iter()
        .map(|mut r| {
            r.as_object_mut().unwrap().remove("seconds");
            r
        })
        .collect()
}

/// `pareto.json` without the records' timing field.
fn front(run: &Path) -> Value {
    let mut v: Value = serde_json::from_str(&std::fs::read_to_string(run.join("pareto.json")).unwrap()).unwrap();
    for p in v.as_array_mut().unwrap() {
        p["record"].as_object_mut().unwrap().remove("seconds");
    }
    v
}

/// Every result file under `run/tasks`, with its bytes.
fn result_files(run: &Path) -> BTreeMap<PathBuf, String> {
    let mut out = BTreeMap::new();
    for batch in std::fs::read_dir(run.join("tasks")).into_iter().flatten().flatten() {
        for f in std::fs::read_dir(batch.path()).unwrap().flatten() {
            if f.file_name().to_string_lossy().starts_with("result-") {
                out.insert(f.path(), std::fs::read_to_string(f.path()).unwrap());
            }
        }
    }
    out
}

/// The submissions recorded in a batch's `jobs.jsonl`.
fn submissions(batch: &Path) -> Vec<Value> {
    journal_entries(&batch.join("jobs.jsonl"))
}

fn wait_for(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < timeout, "waited {timeout:?} for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_proxy_search_on_slurm_gives_the_local_journal_front_and_models() {
    let tmp = setup();
    let dir = tmp.path();
    let tiny = root().join("spaces/tiny.toml");
    let tiny = tiny.to_str().unwrap();
    let extra = ["--finish", "2", "--finetune-steps", "20", "--measure-runs", "5"];
    ok(&run(&proxy_args(tiny, "local", "2", &extra), dir, &[]));
    ok(&run(&with_slurm(&proxy_args(tiny, "slurm", "2", &extra)), dir, &[]));
    let (local, slurm) = (dir.join("local"), dir.join("slurm"));
    assert_eq!(records(&local.join("journal.jsonl")), records(&slurm.join("journal.jsonl")));
    assert_eq!(records(&slurm.join("journal.jsonl")).len(), 8);
    assert_eq!(front(&local), front(&slurm));
    let models: Vec<_> = std::fs::read_dir(local.join("models"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .filter(|n| n.to_string_lossy().ends_with(".onnx"))
        .collect();
    assert!(!models.is_empty());
    for m in models {
        let (a, b) =
            (std::fs::read(local.join("models").join(&m)).unwrap(), std::fs::read(slurm.join("models").join(&m)));
        assert_eq!(Some(a), b.ok(), "{m:?} differs");
    }
    // each candidate went out as a task of its own, and each landed once
    let gen1 = slurm.join("tasks/gen-001");
    assert_eq!(submissions(&gen1).len(), 1);
    assert!(gen1.join("result-3.json").exists() && !gen1.join("task-4.json").exists());
    // a worker pointed at a run folder of other settings refuses the task
    let batch = gen1.display().to_string();
    let out = run(&["worker", "--run", "local", "--batch", &batch, "--task", "0"], dir, &[]);
    fails(&out, &["local/config.json", "another run folder"]);
}

#[test]
fn a_supernet_search_with_finished_baselines_on_slurm_gives_the_local_summary() {
    let tmp = setup();
    let dir = tmp.path();
    let tiny = root().join("spaces/tiny.toml");
    let tiny = tiny.to_str().unwrap();
    let args = |out: &'static str| -> Vec<&str> {
        let mut v = search_args(tiny, out, &["--finish-baselines", "--finetune-steps", "20"]);
        v.extend(["--measure-runs", "5"]);
        with(v, &[("--supernet-steps", "30"), ("--generations", "2")])
    };
    ok(&run(&args("local"), dir, &[]));
    ok(&run(&with_slurm(&args("slurm")), dir, &[]));
    let summary = |run: &str| -> Value {
        let mut s: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join(run).join("summary.json")).unwrap()).unwrap();
        let o = s.as_object_mut().unwrap();
        // timings and what rests on measured latency (noise) aside
        for k in ["seconds", "out", "recommended", "baselines_dominated"] {
            o.remove(k);
        }
        for list in ["finished", "baselines_finished"] {
            for f in o[list].as_array_mut().unwrap() {
                for k in ["measured_ms", "measured_p10_ms", "model", "recommended"] {
                    f.as_object_mut().unwrap().remove(k);
                }
            }
        }
        s
    };
    let (a, b) = (summary("local"), summary("slurm"));
    assert!(!a["baselines_finished"].as_array().unwrap().is_empty());
    assert_eq!(a, b);
    // the supernet trained as one task, the finishing's trainings as tasks
    assert_eq!(submissions(&dir.join("slurm/tasks/supernet")).len(), 1);
    assert!(dir.join("slurm/tasks/finishing/result-0.json").exists());
    // confirm's retrainings: the same in-process and as tasks (on a copy of the same run)
    let copy = Command::new("cp").args(["-r", "slurm", "copy"]).current_dir(dir).status().unwrap();
    assert!(copy.success());
    ok(&run(&["confirm", "slurm", "--repeats", "1", "--quiet"], dir, &[]));
    ok(&run(&with_slurm(&["confirm", "copy", "--repeats", "1", "--quiet"]), dir, &[]));
    let trainings = records(&dir.join("slurm/confirm.jsonl"));
    assert!(!trainings.is_empty());
    assert_eq!(trainings, records(&dir.join("copy/confirm.jsonl")));
    assert_eq!(submissions(&dir.join("copy/tasks/confirm")).len(), 1);
}

#[test]
fn a_cancelled_task_is_resubmitted_and_gives_the_same_result() {
    let tmp = setup();
    let dir = tmp.path();
    let tiny = root().join("spaces/tiny.toml");
    let tiny = tiny.to_str().unwrap();
    let extra = ["--finish", "0"];
    ok(&run(&proxy_args(tiny, "local", "1", &extra), dir, &[]));
    let child = Command::new(env!("CARGO_BIN_EXE_edgenas"))
        .args(with_slurm(&proxy_args(tiny, "slurm", "1", &extra)))
        .current_dir(dir)
        .env("SLURM_CONF", slurm_conf())
        .env("EDGENAS_TEST_WORKER_SLEEP_MS", "3000")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let gen1 = dir.join("slurm/tasks/gen-001");
    wait_for("gen-001's submission", Duration::from_secs(120), || {
        gen1.join("jobs.jsonl").exists() && !submissions(&gen1).is_empty()
    });
    let job = submissions(&gen1)[0]["job"].as_str().unwrap().to_string();
    // cancel the first task seen running
    let mut running = String::new();
    wait_for("a running task", Duration::from_secs(60), || {
        let q = Command::new("squeue")
            .args(["-h", "-r", "-j", &job, "-o", "%K %T"])
            .env("SLURM_CONF", slurm_conf())
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&q.stdout).to_string();
        running = text
            .lines()
            .find(|l| l.ends_with("RUNNING"))
            .map(|l| l.split(' ').next().unwrap().to_string())
            .unwrap_or_default();
        !running.is_empty()
    });
    let cancelled =
        Command::new("scancel").arg(format!("{job}_{running}")).env("SLURM_CONF", slurm_conf()).status().unwrap();
    assert!(cancelled.success());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("resubmitting it (try 2 of 3)"), "{stderr}");
    let subs = submissions(&gen1);
    assert_eq!(subs.len(), 2, "{subs:?}");
    assert_eq!(subs[1]["tasks"], serde_json::json!([running.parse::<usize>().unwrap()]));
    assert_eq!(records(&dir.join("local/journal.jsonl")), records(&dir.join("slurm/journal.jsonl")));
}

#[test]
fn a_coordinator_killed_mid_generation_resumes_without_running_landed_tasks_again() {
    let tmp = setup();
    let dir = tmp.path();
    let tiny = root().join("spaces/tiny.toml");
    let tiny = tiny.to_str().unwrap();
    ok(&run(&proxy_args(tiny, "local", "2", &["--finish", "0"]), dir, &[]));
    let args = with_slurm(&proxy_args(tiny, "slurm", "2", &["--finish", "0", "--max-running", "1"]));
    let slow = [("EDGENAS_TEST_WORKER_SLEEP_MS", "1000")];
    let mut child = Command::new(env!("CARGO_BIN_EXE_edgenas"))
        .args(&args)
        .current_dir(dir)
        .env("SLURM_CONF", slurm_conf())
        .envs(slow)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // killed once the second generation's first result landed (the others queued or running)
    let gen2 = dir.join("slurm/tasks/gen-002");
    wait_for("a result of generation 2", Duration::from_secs(180), || gen2.join("result-0.json").exists());
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let landed = result_files(&dir.join("slurm"));
    assert!(!gen2.join("result-3.json").exists(), "the generation ended before the kill");
    ok(&run(&[&args[..], &["--resume"]].concat(), dir, &slow));
    // nothing that landed ran again, and nothing still queued was submitted twice
    let after = result_files(&dir.join("slurm"));
    for (path, text) in &landed {
        assert_eq!(after.get(path), Some(text), "{} was written again", path.display());
    }
    assert_eq!(submissions(&gen2).len(), 1, "{:?}", submissions(&gen2));
    assert_eq!(front(&dir.join("local")), front(&dir.join("slurm")));
    assert_eq!(records(&dir.join("local/journal.jsonl")), records(&dir.join("slurm/journal.jsonl")));
}

#[test]
fn a_task_failing_every_try_records_its_candidate_as_failed_and_the_search_goes_on() {
    let tmp = setup();
    let dir = tmp.path();
    let tiny = root().join("spaces/tiny.toml");
    let tiny = tiny.to_str().unwrap();
    let args = with_slurm(&proxy_args(tiny, "slurm", "1", &["--finish", "0", "--retries", "1"]));
    let out = run(&args, dir, &[("EDGENAS_TEST_WORKER_FAIL", "gen-001:1")]);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("failed 2 times"), "{stderr}");
    let journal = journal_entries(&dir.join("slurm/journal.jsonl"));
    let failed: Vec<&Value> = journal.iter().filter(|r| r.get("failed").is_some()).collect();
    assert_eq!(failed.len(), 1, "{journal:?}");
    assert!(failed[0]["failed"].as_str().unwrap().contains("failed on purpose"), "{failed:?}");
    assert_eq!((failed[0]["accuracy"].as_f64(), failed[0]["feasible"].as_bool()), (Some(0.0), Some(false)));
    assert_eq!(journal.len(), 4);
    // two tries of task 1, then a line saying it was given up (a coordinator asking for it
    // again would start its tries anew)
    let lines = submissions(&dir.join("slurm/tasks/gen-001"));
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert_eq!(lines[1]["tasks"], serde_json::json!([1]));
    assert_eq!((lines[2]["tasks"].clone(), lines[2]["gave_up"].as_bool()), (serde_json::json!([1]), Some(true)));
}

#[test]
fn slurm_options_without_slurm_and_a_missing_sbatch_are_refused_before_any_work() {
    let tmp = setup();
    let dir = tmp.path();
    let tiny = root().join("spaces/tiny.toml");
    let tiny = tiny.to_str().unwrap();
    let out = edgenas(&proxy_args(tiny, "x", "1", &["--partition", "gpu"]), dir, &[]);
    fails(&out, &["--partition is an option of --executor slurm"]);
    let out = edgenas(&["confirm", "x", "--retries", "1"], dir, &[]);
    fails(&out, &["--retries is an option of --executor slurm"]);
    // no Slurm client commands on PATH
    let out = edgenas(&with_slurm(&proxy_args(tiny, "x", "1", &[])), dir, &[("PATH", "")]);
    fails(&out, &["--executor slurm", "sbatch --version", "PATH"]);
    assert!(!dir.join("x").exists(), "refused before any work");
}

#[test]
fn a_finishing_training_failing_every_try_stops_the_search_and_resume_trains_it() {
    let tmp = setup();
    let dir = tmp.path();
    let tiny = root().join("spaces/tiny.toml");
    let tiny = tiny.to_str().unwrap();
    let args =
        with_slurm(&proxy_args(tiny, "slurm", "1", &["--finish", "1", "--retries", "0", "--finetune-steps", "20"]));
    let out = run(&args, dir, &[("EDGENAS_TEST_WORKER_FAIL", "finishing:0")]);
    let e = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!out.status.success(), "{e}");
    let last = e.trim_end().lines().last().unwrap();
    assert!(last.contains("1 of 1 finishing trainings failed") && last.contains("--resume"), "{e}");
    assert!(last.contains("failed on purpose"), "{e}");
    // resumed without the fault: the given-up task runs again, and the finishing completes
    ok(&run(&[&args[..], &["--resume"]].concat(), dir, &[]));
    let finishing = dir.join("slurm/tasks/finishing");
    assert!(finishing.join("result-0.json").exists());
    let lines = submissions(&finishing);
    assert_eq!(lines.len(), 3, "a try, the give-up, a try after --resume: {lines:?}");
    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("slurm/summary.json")).unwrap()).unwrap();
    assert_eq!(summary["finishing_trainings"]["trained"], 1);
}
