//! The pipeline in-process, through the library alone (no CLI): one candidate evaluated, one
//! winner finished (its training kept and read back), a search stopped by its observer and
//! resumed to the same result as an uninterrupted one.

#[path = "../../../tests/support/data.rs"]
mod data;

use std::path::{Path, PathBuf};

use edgenas_nas::finish::{finish, ToFinish, Trainings, Tuned};
use edgenas_nas::{evaluate, EvalContext, EvalMode, Flow, InProcess, Observer, RunDir, SearchConfig, Silent, Step};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A proxy-scored search of the tiny space on the quadrant data, in `dir/run`.
fn config(dir: &Path) -> SearchConfig {
    data::write_quadrant_data(dir);
    SearchConfig {
        space: Some(root().join("spaces/tiny.toml")),
        data: dir.join("data"),
        profiles: vec![root().join("tests/fixtures/golden-search/tiny.json")],
        eval: EvalMode::Proxy,
        proxy_steps: 10,
        population: 4,
        generations: 2,
        finish: 1,
        measure_runs: 3,
        out: dir.join("run"),
        ..SearchConfig::default()
    }
}

#[test]
fn one_candidate_is_evaluated_and_one_winner_finished_in_process() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = config(tmp.path());
    let run = RunDir::new(&cfg.out);
    std::fs::create_dir_all(run.root()).unwrap();
    let ctx = EvalContext::open(&cfg, &run, &mut Silent).unwrap();
    let genome = ctx.space.encode(&ctx.space.sample(1)).unwrap();
    let r = evaluate(&ctx, &genome).unwrap();
    let arch = ctx.space.decode(&genome).unwrap();
    assert_eq!(r.genome, genome);
    assert_eq!(r.latency_ms, [ctx.profiles[0].predict(&arch).unwrap().latency_ns / 1e6]);
    assert_eq!((r.params, r.flash_bytes), (arch.stats().params, arch.stats().flash_f32_bytes));
    assert!((0.0..=1.0).contains(&r.accuracy) && r.feasible);
    // seeded: the same genome scores the same in another context
    let again = EvalContext::open(&cfg, &run, &mut Silent).unwrap();
    assert_eq!(evaluate(&again, &genome).unwrap().accuracy, r.accuracy);

    // finished: trained (proxy scoring trains from scratch), exported, checked, measured
    let mut trainings = Trainings::new(run.finishing());
    let candidate = edgenas_nas::Candidate::decode(&ctx.space, &genome).unwrap();
    let models = [ToFinish { name: "model-0".into(), candidate, record: r.clone() }];
    let f = finish(&ctx, &models, &Tuned::new(), &mut trainings, &mut Silent).unwrap();
    assert_eq!((f.len(), trainings.trained, trainings.reused), (1, 1, 0));
    let (onnx, card) = run.model("model-0");
    assert!(f[0].max_abs_diff <= edgenas_nas::finish::MAX_ABS_DIFF && f[0].measured_ms > 0.0);
    assert!(card.exists() && f[0].model == onnx);
    let first = std::fs::read(&onnx).unwrap();
    // a second finishing reads the kept training back: the same bytes, nothing trained
    let mut trainings = Trainings::new(run.finishing());
    finish(&ctx, &models, &Tuned::new(), &mut trainings, &mut Silent).unwrap();
    assert_eq!((trainings.trained, trainings.reused), (0, 1));
    assert_eq!(std::fs::read(&onnx).unwrap(), first);
}

#[test]
fn a_run_folders_supernet_of_other_settings_is_refused_and_a_stop_keeps_its_state() {
    let tmp = tempfile::tempdir().unwrap();
    let base = SearchConfig { eval: EvalMode::Supernet, supernet_steps: 60, finish: 0, ..config(tmp.path()) };
    // stopped during the supernet's training after step 55, its state of step 50 kept
    let mut stop = StopAt(Step::SupernetStep(55));
    let e = edgenas_nas::search(&base, false, &mut InProcess, &mut stop).err().unwrap();
    assert!(e.downcast_ref::<edgenas_nas::Stopped>().is_some(), "{e}");
    let run = RunDir::new(&base.out);
    assert!(run.supernet().join("partial").exists() && !run.supernet().join("supernet.json").exists());
    // started again (a search that never got past its supernet is started, not resumed), it
    // goes on from the kept state to the end
    edgenas_nas::search(&base, false, &mut InProcess, &mut Silent).unwrap();
    assert!(!run.supernet().join("partial").exists(), "the kept state is cleared once the supernet is saved");
    // a new search into a folder whose supernet these settings would not train is refused
    let other = SearchConfig { supernet_steps: 61, out: tmp.path().join("other"), ..base.clone() };
    std::fs::create_dir_all(RunDir::new(&other.out).supernet()).unwrap();
    for f in ["supernet.json", "supernet.bpk"] {
        std::fs::copy(run.supernet().join(f), RunDir::new(&other.out).supernet().join(f)).unwrap();
    }
    let e = edgenas_nas::search(&other, false, &mut InProcess, &mut Silent).err().unwrap().to_string();
    assert!(e.contains("trained with other settings (steps 60") && e.contains("these are steps 61"), "{e}");
}

/// Stops the pipeline at one kept step, as a kill would.
struct StopAt(Step);

impl Observer for StopAt {
    fn kept(&mut self, step: Step) -> Flow {
        if step == self.0 {
            Flow::Stop
        } else {
            Flow::Continue
        }
    }
}

/// Stops the pipeline after a given generation, as a kill would.
struct StopAfter(usize);

impl Observer for StopAfter {
    fn kept(&mut self, step: Step) -> Flow {
        if step == Step::Generation(self.0) {
            Flow::Stop
        } else {
            Flow::Continue
        }
    }
}

#[test]
fn a_search_stopped_by_its_observer_resumes_to_the_uninterrupted_result() {
    let tmp = tempfile::tempdir().unwrap();
    let whole = SearchConfig { finish: 0, ..config(tmp.path()) };
    let stopped = SearchConfig { out: tmp.path().join("run-b"), ..whole.clone() };
    let a = edgenas_nas::search(&whole, false, &mut InProcess, &mut Silent).unwrap();
    let e = edgenas_nas::search(&stopped, false, &mut InProcess, &mut StopAfter(1)).err().unwrap();
    assert!(e.downcast_ref::<edgenas_nas::Stopped>().is_some(), "{e}");
    let b = edgenas_nas::search(&stopped, true, &mut InProcess, &mut Silent).unwrap();
    let genomes = |o: &edgenas_nas::SearchOutcome| o.front.iter().map(|r| r.genome.clone()).collect::<Vec<_>>();
    assert_eq!(genomes(&a), genomes(&b));
    assert_eq!(a.records.len(), b.records.len());
    // the journal opens with its header; resuming with other settings is refused by field
    let journal = std::fs::read_to_string(RunDir::new(&stopped.out).journal()).unwrap();
    assert!(journal.starts_with("{\"journal\":\"search\",\"schema\":1,\"config_hash\":"), "{journal}");
    let other = SearchConfig { seed: 9, ..stopped };
    let e = edgenas_nas::search(&other, true, &mut InProcess, &mut Silent).err().unwrap().to_string();
    assert!(e.contains("seed: 0 there, 9 now"), "{e}");
}

#[test]
fn baselines_that_open_the_search_are_matched_or_beaten_by_its_front() {
    // as `edgenas run` searches: the baselines in the first generation
    let tmp = tempfile::tempdir().unwrap();
    let cfg = SearchConfig { init_baselines: true, finish: 0, latency_budget_ms: vec![1e6], ..config(tmp.path()) };
    let o = edgenas_nas::search(&cfg, false, &mut InProcess, &mut Silent).unwrap();
    assert_eq!(o.front_matches.len(), o.baselines.len(), "every baseline is within this budget");
    let written = &o.summary["baselines_on_front"];
    for (m, b) in o.front_matches.iter().zip(&o.baselines) {
        let i = m.front_index.unwrap_or_else(|| panic!("baseline {} has no match on the front", b.name));
        let p = &o.front[i];
        assert!(p.accuracy >= b.record.accuracy && p.latency_ms[0] <= b.record.latency_ms[0], "{}", b.name);
        let entry = written.as_array().unwrap().iter().find(|e| e["baseline"] == b.name.as_str()).unwrap();
        assert_eq!(entry["front_index"], i);
    }
    // pareto.json holds the same front, in the same order
    let pareto: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(RunDir::new(&cfg.out).pareto()).unwrap()).unwrap();
    assert_eq!(pareto.as_array().unwrap().len(), o.front.len());
}
