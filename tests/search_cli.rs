//! `edgenas search` end to end on the tiny space and a small synthetic dataset: outputs
//! (journal, checkpoint, pareto.json, models with cards, plots, summary), finishing checks
//! (tract reproduces Burn), resume after an abort equals an uninterrupted run, kept finishing
//! trainings and `confirm`. Proxy and random search, bad input and `run` are in
//! tests/search_modes_cli.rs; the helpers both use in tests/support/search.rs.

mod support;

use std::path::Path;

use support::search::{one_generation, quick_profile, read_text, search_args, setup, with, with_profile};
use support::{edgenas, err, journal_entries, ok, root};

#[test]
fn search_writes_every_output_and_resumes_to_the_same_result() {
    let tmp = setup();
    let cwd = tmp.path();
    let tiny = root().join("spaces/tiny.toml");
    let tiny = tiny.to_str().unwrap();
    let out = ok(&edgenas(&search_args(tiny, "run-a", &["--json"]), cwd, &[]));
    let summary: serde_json::Value = serde_json::from_str(&out).unwrap();
    let a = cwd.join("run-a");
    for f in [
        "config.json",
        "journal.jsonl",
        "search.checkpoint.json",
        "pareto.json",
        "baselines.json",
        "pareto.svg",
        "pareto.png",
        "pareto-finished.svg",
        "pareto-finished.png",
        "summary.json",
        "supernet/supernet.bpk",
    ] {
        assert!(a.join(f).exists(), "{f} is missing");
    }
    // journal: one line per distinct evaluated architecture
    let journal = journal_entries(&a.join("journal.jsonl"));
    assert_eq!(journal.len() as u64, summary["evaluations"].as_u64().unwrap());
    assert!(journal.len() >= 6 && journal.len() <= 18);
    for r in &journal {
        let acc = r["accuracy"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&acc));
        assert!(r["latency_ms"][0].as_f64().unwrap() > 0.0);
    }
    // the supernet learned the task: the best candidate is far above chance (25 %)
    let best = journal.iter().map(|r| r["accuracy"].as_f64().unwrap()).fold(0.0, f64::max);
    assert!(best > 0.6, "best validation accuracy {best}");
    // pareto.json is non-dominated in (error, latency)
    let front: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(a.join("pareto.json")).unwrap()).unwrap();
    assert!(!front.is_empty());
    let pts: Vec<(f64, f64)> = front
        .iter()
        .map(|p| (1.0 - p["record"]["accuracy"].as_f64().unwrap(), p["record"]["latency_ms"][0].as_f64().unwrap()))
        .collect();
    for p in &pts {
        assert!(!pts.iter().any(|q| q.0 <= p.0 && q.1 <= p.1 && (q.0 < p.0 || q.1 < p.1)), "dominated point in front");
    }
    // finished models: ONNX + card, tract reproduces Burn, measured latency reported
    let finished = summary["finished"].as_array().unwrap();
    assert!(!finished.is_empty() && finished.len() <= 2);
    for f in finished {
        let model = cwd.join(f["model"].as_str().unwrap());
        assert!(model.exists());
        let card: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(model.with_extension("json")).unwrap()).unwrap();
        for k in ["genome", "architecture", "metrics", "device", "profile_hash", "seed"] {
            assert!(!card[k].is_null(), "model card lacks {k}");
        }
        assert!(f["max_abs_diff"].as_f64().unwrap() <= 1e-4);
        assert!((f["test_accuracy_burn"].as_f64().unwrap() - f["test_accuracy_tract"].as_f64().unwrap()).abs() < 0.01);
        assert!(f["measured_ms"].as_f64().unwrap() > 0.0);
        let v = edgenas(&["validate", model.to_str().unwrap(), "--runs", "3"], cwd, &[]);
        ok(&v);
    }
    // the plots say what they show: the search's candidates at their supernet scores and
    // predicted latency; the finished models, each labelled, at test error and measured latency
    let search_svg = read_text(&a.join("pareto.svg"));
    for needle in [
        "validation error, supernet-inherited weights (%)",
        "latency predicted by the profile tiny.json (ms)",
        "candidates (supernet weights)",
        "plotted in pareto-finished.png",
    ] {
        assert!(search_svg.contains(needle), "pareto.svg lacks {needle:?}");
    }
    let finished_svg = read_text(&a.join("pareto-finished.svg"));
    for needle in [
        "Finished models: test error vs measured latency",
        "latency measured on local, median (ms)",
        "test error of the trained model, data (%)",
        "searched networks (supernet weights, not fine-tuned)",
        "The hand-designed baselines were not finished",
    ] {
        assert!(finished_svg.contains(needle), "pareto-finished.svg lacks {needle:?}");
    }
    for f in finished {
        let name = f["name"].as_str().unwrap();
        let star = if f["recommended"].as_bool().unwrap() { " *" } else { "" };
        assert!(finished_svg.contains(&format!("\n{name}{star}\n")), "pareto-finished.svg lacks the label of {name}");
    }
    // the same search, killed while training its supernet (after 60 of 80 steps; the state of
    // step 50 is kept), started again, aborted after generation 2 and resumed, ends with the
    // same front
    let e = err(&edgenas(&search_args(tiny, "run-b", &[]), cwd, &[("EDGENAS_TEST_ABORT_AFTER_SUPERNET_STEPS", "60")]));
    assert!(e.contains("aborted after 60 supernet steps"), "{e}");
    let partial = cwd.join("run-b/supernet/partial");
    let index: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(partial.join("partial.json")).unwrap()).unwrap();
    assert_eq!(index["step"], 50);
    let e = err(&edgenas(&search_args(tiny, "run-b", &[]), cwd, &[("EDGENAS_TEST_ABORT_AFTER_GENERATIONS", "2")]));
    assert!(!partial.exists(), "the partial state is removed once the supernet is saved");
    assert!(e.contains("aborted after generation 2"), "{e}");
    ok(&edgenas(&search_args(tiny, "run-b", &["--resume"]), cwd, &[]));
    // the same architectures and scores (the seconds each evaluation took differ)
    let read = |d: &str| {
        let mut v: Vec<serde_json::Value> =
            serde_json::from_str(&std::fs::read_to_string(cwd.join(d).join("pareto.json")).unwrap()).unwrap();
        for p in &mut v {
            p["record"].as_object_mut().unwrap().remove("seconds");
        }
        v
    };
    assert_eq!(read("run-a"), read("run-b"));
    // a finished folder is not overwritten by accident
    let e = err(&edgenas(&search_args(tiny, "run-a", &[]), cwd, &[]));
    assert!(e.contains("--resume"), "{e}");
    // resuming with other settings is refused
    let e = err(&edgenas(&search_args(tiny, "run-a", &["--resume", "--seed", "5"]), cwd, &[]));
    assert!(e.contains("settings differ") && e.contains("seed: 0 there, 5 now"), "{e}");
    // another seed reusing run-a's supernet must validate on the split the supernet did not train on
    let sn = a.join("supernet");
    let sn = sn.to_str().unwrap();
    let e = err(&edgenas(&search_args(tiny, "run-c", &["--seed", "3", "--supernet", sn]), cwd, &[]));
    assert!(e.contains("--split-seed 0"), "{e}");
    let out = ok(&edgenas(
        &search_args(
            tiny,
            "run-c",
            &["--seed", "3", "--supernet", sn, "--split-seed", "0", "--finish-baselines", "--json"],
        ),
        cwd,
        &[],
    ));
    assert!(!cwd.join("run-c/supernet").exists(), "the supernet was reused, not retrained");
    let s: serde_json::Value = serde_json::from_str(&out).unwrap();
    // the baselines went through the same finishing as the winners, and each is judged
    let based = s["baselines_finished"].as_array().unwrap();
    assert_eq!(based.len(), 3);
    for b in based {
        assert!(b["name"].as_str().unwrap().starts_with("baseline-"));
        assert!(b["measured_ms"].as_f64().unwrap() > 0.0);
        assert!(cwd.join(b["model"].as_str().unwrap()).exists());
    }
    let judged = s["baselines_dominated"].as_array().unwrap();
    assert_eq!(judged.len(), 3);
    // the finished baselines are in the finished models' plot, labelled
    let finished_svg = read_text(&cwd.join("run-c/pareto-finished.svg"));
    assert!(finished_svg.contains("hand-designed baselines (supernet weights, not fine-tuned)"), "legend");
    assert!(!finished_svg.contains("were not finished"), "a note for runs without --finish-baselines");
    for b in based {
        assert!(finished_svg.contains(&format!("\n{}", b["name"].as_str().unwrap())), "label of {b}");
    }
    let winners = s["finished"].as_array().unwrap();
    let field = |f: &serde_json::Value, k: &str| f[k].as_f64().unwrap();
    // each baseline has a challenger (the front point predicted no slower that scores best on
    // the whole validation split) whenever the front reaches below its latency with another
    // network than the baseline's own, and it is finished
    let pareto: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(cwd.join("run-c/pareto.json")).unwrap()).unwrap();
    let front: Vec<&serde_json::Value> = pareto.as_array().unwrap().iter().map(|p| &p["record"]).collect();
    let based_c: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(cwd.join("run-c/baselines.json")).unwrap()).unwrap();
    let challengers = s["challengers"].as_array().unwrap();
    assert_eq!(challengers.len(), 3);
    for ((c, b), bj) in challengers.iter().zip(s["baselines"].as_array().unwrap()).zip(based_c.as_array().unwrap()) {
        assert_eq!(c["baseline"], b["name"]);
        assert_eq!(bj["name"], b["name"]);
        let lat = b["latency_ms"][0].as_f64().unwrap();
        let reachable =
            pareto.as_array().unwrap().iter().any(|p| {
                p["record"]["latency_ms"][0].as_f64().unwrap() <= lat && p["architecture"] != bj["architecture"]
            });
        assert_eq!(!c["challenger"].is_null(), reachable, "{c}");
        if reachable {
            let ch = &c["challenger"];
            assert!(front.iter().any(|r| r["genome"] == ch["genome"]), "the challenger is on the front: {ch}");
            let ch_lat = ch["latency_ms"][0].as_f64().unwrap();
            assert!(ch_lat <= lat);
            assert!(winners.iter().any(|w| field(w, "predicted_ms") == ch_lat), "the challenger is finished: {ch}");
            let acc = ch["valid_accuracy"].as_f64().unwrap();
            assert!(
                (0.0..=1.0).contains(&acc) && (0.0..=1.0).contains(&c["baseline_valid_accuracy"].as_f64().unwrap())
            );
        }
    }
    let mut compared_baselines = check_dominance(&s);
    // several challenger candidates: drawn from the front and from the evaluated candidates in
    // the latency band below each baseline, each fine-tuned, the best on validation after
    // fine-tuning is the challenger and is finished. In a space whose baselines use its
    // largest expansion (e6), most candidates are faster than the baselines.
    let tiny6 = std::fs::read_to_string(root().join("spaces/tiny.toml")).unwrap();
    assert!(tiny6.contains("expansions = [1, 3]"));
    std::fs::write(cwd.join("tiny6.toml"), tiny6.replace("expansions = [1, 3]", "expansions = [1, 6]")).unwrap();
    quick_profile(cwd, "tiny6.toml", "tiny6.json");
    let mut args = with_profile(search_args("tiny6.toml", "run-d", &[]), "tiny6.json");
    args.extend_from_slice(&[
        "--finish-baselines",
        "--finetune-steps",
        "3",
        "--challenger-candidates",
        "3",
        "--challenger-band",
        "0.1",
        "--finish-steps",
        "4",
        "--json",
    ]);
    let out = ok(&edgenas(&args, cwd, &[]));
    let s: serde_json::Value = serde_json::from_str(&out).unwrap();
    let journal = journal_entries(&cwd.join("run-d/journal.jsonl"));
    let pareto: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(cwd.join("run-d/pareto.json")).unwrap()).unwrap();
    let front: Vec<&serde_json::Value> = pareto.as_array().unwrap().iter().map(|p| &p["record"]).collect();
    compared_baselines += check_dominance(&s);
    // measured latencies are noisy, but over both runs some baseline meets a winner as fast
    assert!(compared_baselines >= 1, "no baseline was compared image by image");
    let winners = s["finished"].as_array().unwrap();
    let space6 = edgenas_space::SearchSpace::from_file(&cwd.join("tiny6.toml")).unwrap();
    let based: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(cwd.join("run-d/baselines.json")).unwrap()).unwrap();
    let baseline_arch = |name: &str| -> edgenas_space::Architecture {
        let b = based.as_array().unwrap().iter().find(|b| b["name"] == name).unwrap();
        serde_json::from_value(b["architecture"].clone()).unwrap()
    };
    let mut compared = 0;
    for (c, b) in s["challengers"].as_array().unwrap().iter().zip(s["baselines"].as_array().unwrap()) {
        let lat = b["latency_ms"][0].as_f64().unwrap();
        let cands = c["candidates"].as_array().unwrap();
        assert!(cands.len() <= 3, "{c}");
        // distinct networks, none of them the baseline's own
        let decode = |g: &serde_json::Value| {
            let genes: Vec<usize> = serde_json::from_value(g.clone()).unwrap();
            space6.decode(&edgenas_space::Genome(genes)).unwrap()
        };
        let mut archs = vec![baseline_arch(b["name"].as_str().unwrap())];
        for k in cands {
            let a = decode(&k["genome"]);
            assert!(!archs.contains(&a), "{k}");
            archs.push(a);
        }
        for k in cands {
            let k_lat = k["latency_ms"][0].as_f64().unwrap();
            assert!(k_lat <= lat, "{k}");
            let on_front = front.iter().any(|r| r["genome"] == k["genome"]);
            let evaluated = journal.iter().any(|r| r["genome"] == k["genome"]);
            assert!(on_front || (evaluated && k_lat >= 0.1 * lat), "{k}");
            let ft = k["finetuned_valid_accuracy"].as_f64().unwrap();
            assert!((0.0..=1.0).contains(&ft));
        }
        if cands.len() >= 2 {
            compared += 1;
            let ch = &c["challenger"];
            let best = cands.iter().map(|k| k["finetuned_valid_accuracy"].as_f64().unwrap()).fold(0.0, f64::max);
            assert_eq!(ch["finetuned_valid_accuracy"].as_f64().unwrap(), best, "{c}");
            assert!(cands.iter().any(|k| k["genome"] == ch["genome"]));
            // the baseline was fine-tuned the same way, for the comparison on validation
            assert!((0.0..=1.0).contains(&c["baseline_finetuned_valid_accuracy"].as_f64().unwrap()), "{c}");
        }
        if !c["challenger"].is_null() {
            let ch_lat = c["challenger"]["latency_ms"][0].as_f64().unwrap();
            assert!(winners.iter().any(|w| field(w, "predicted_ms") == ch_lat), "the challenger is finished: {c}");
        }
    }
    // candidates were compared after 3 fine-tuning steps; the finished models trained for 4
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&std::fs::read_to_string(cwd.join("run-d/config.json")).unwrap())
            .unwrap()["finish_steps"],
        4
    );
    for w in winners.iter().chain(s["baselines_finished"].as_array().unwrap()) {
        let card = cwd.join(w["model"].as_str().unwrap()).with_extension("json");
        let card: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(card).unwrap()).unwrap();
        assert_eq!(card["finetune_steps"], 4, "{}", w["name"]);
    }
    let lats: Vec<f64> = journal.iter().map(|r| r["latency_ms"][0].as_f64().unwrap()).collect();
    assert!(compared >= 1, "some baseline had several candidates: {} {:?} {}", s["challengers"], lats, s["baselines"]);
}

/// A space with ConvNeXt-like blocks goes through the whole pipeline: the search samples both
/// kinds, and a convnext-only space's finished models (baselines included) are exported with
/// the kind and reproduced by tract.
#[test]
fn convnext_blocks_are_searched_finished_and_exported() {
    let tmp = setup();
    let cwd = tmp.path();
    let tiny = std::fs::read_to_string(root().join("spaces/tiny.toml")).unwrap();
    // both kinds: the journal holds networks with each
    std::fs::write(
        cwd.join("two.toml"),
        tiny.replacen("[block]\n", "[block]\nkinds = [\"mbconv\", \"convnext\"]\n", 1),
    )
    .unwrap();
    quick_profile(cwd, "two.toml", "two.json");
    let prof: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(cwd.join("two.json")).unwrap()).unwrap();
    let keys = prof["keys"].as_object().unwrap();
    assert!(keys.keys().any(|k| k.starts_with("convnext-")) && keys.keys().any(|k| k.starts_with("mbconv-")));
    ok(&edgenas(&with_profile(one_generation(search_args("two.toml", "two", &[])), "two.json"), cwd, &[]));
    let space = edgenas_space::SearchSpace::from_file(&cwd.join("two.toml")).unwrap();
    let kinds: std::collections::BTreeSet<edgenas_space::BlockKind> = journal_entries(&cwd.join("two/journal.jsonl"))
        .into_iter()
        .flat_map(|r| {
            let g: Vec<usize> = serde_json::from_value(r["genome"].clone()).unwrap();
            space.decode(&edgenas_space::Genome(g)).unwrap().stages.into_iter().flat_map(|s| s.blocks)
        })
        .map(|b| b.kind)
        .collect();
    assert_eq!(kinds.len(), 2, "{kinds:?}");
    // convnext only: every finished model is ConvNeXt-like, and tract reproduces Burn
    std::fs::write(cwd.join("cn.toml"), tiny.replacen("[block]\n", "[block]\nkinds = [\"convnext\"]\n", 1)).unwrap();
    quick_profile(cwd, "cn.toml", "cn.json");
    let args = with_profile(
        with(
            search_args("cn.toml", "cn", &["--finish-baselines", "--json"]),
            &[("--generations", "1"), ("--finish", "1")],
        ),
        "cn.json",
    );
    let s: serde_json::Value = serde_json::from_str(&ok(&edgenas(&args, cwd, &[]))).unwrap();
    let finished: Vec<&serde_json::Value> =
        s["finished"].as_array().unwrap().iter().chain(s["baselines_finished"].as_array().unwrap()).collect();
    assert!(finished.len() >= 2, "{s}");
    for f in finished {
        let model = cwd.join(f["model"].as_str().unwrap());
        let card: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(model.with_extension("json")).unwrap()).unwrap();
        let arch: edgenas_space::Architecture = serde_json::from_value(card["architecture"].clone()).unwrap();
        assert!(arch.stages.iter().flat_map(|s| &s.blocks).all(|b| b.kind == edgenas_space::BlockKind::Convnext));
        assert!(f["max_abs_diff"].as_f64().unwrap() <= 1e-4, "{f}");
        assert!((f["test_accuracy_burn"].as_f64().unwrap() - f["test_accuracy_tract"].as_f64().unwrap()).abs() < 0.01);
    }
}

#[test]
fn finishing_from_scratch_does_not_depend_on_the_supernet() {
    let tmp = setup();
    let cwd = tmp.path();
    let tiny = root().join("spaces/tiny.toml");
    let tiny = tiny.to_str().unwrap();
    // The finished baselines' ONNX files of one run, by name.
    let baselines = |out: &str, from: &str, supernet_steps: &str| {
        let args = with(
            search_args(tiny, out, &["--finish-baselines", "--finish-from", from, "--finetune-steps", "30", "--json"]),
            &[("--generations", "1"), ("--finish", "1"), ("--supernet-steps", supernet_steps)],
        );
        let s: serde_json::Value = serde_json::from_str(&ok(&edgenas(&args, cwd, &[]))).unwrap();
        let models: Vec<(String, Vec<u8>)> = s["baselines_finished"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                let model = cwd.join(f["model"].as_str().unwrap());
                let card: serde_json::Value =
                    serde_json::from_str(&std::fs::read_to_string(model.with_extension("json")).unwrap()).unwrap();
                assert_eq!(card["finish_from"], from, "{card}");
                (f["name"].as_str().unwrap_or_default().to_string(), std::fs::read(&model).unwrap())
            })
            .collect();
        assert_eq!(models.len(), 3, "{s}");
        models
    };
    // Two supernets trained for different numbers of steps: retrained from scratch, the
    // baselines come out bit for bit the same; fine-tuned from the supernets, they do not.
    assert_eq!(baselines("s-a", "scratch", "80"), baselines("s-b", "scratch", "40"));
    check_confirm(cwd, tiny);
    let (a, b) = (baselines("f-a", "supernet", "80"), baselines("f-b", "supernet", "40"));
    assert!(a.iter().zip(&b).all(|(x, y)| x.1 != y.1), "fine-tuned weights depend on the supernet");
    // models fine-tuned from the supernet are confirmed from it, found where the run now is
    std::fs::rename(cwd.join("f-a"), cwd.join("moved-f")).unwrap();
    let c: serde_json::Value =
        serde_json::from_str(&ok(&edgenas(&["confirm", "moved-f", "--repeats", "1", "--json"], cwd, &[]))).unwrap();
    assert_eq!(c["finish_from"], "supernet");
    assert!(!c["comparisons"].as_array().unwrap().is_empty(), "{c}");
    std::fs::rename(cwd.join("moved-f/supernet"), cwd.join("elsewhere")).unwrap();
    std::fs::remove_file(cwd.join("moved-f/confirm.jsonl")).unwrap();
    let e = err(&edgenas(&["confirm", "moved-f"], cwd, &[]));
    assert!(e.contains("moved-f/supernet") && e.contains("--supernet"), "{e}");
    let again: serde_json::Value = serde_json::from_str(&ok(&edgenas(
        &["confirm", "moved-f", "--repeats", "1", "--supernet", "elsewhere", "--json"],
        cwd,
        &[],
    )))
    .unwrap();
    assert_eq!(again["comparisons"], c["comparisons"], "the same fine-tuning from the same supernet");
    // Retraining needs steps.
    let args = with(search_args(tiny, "z", &["--finish-from", "scratch"]), &[("--generations", "1")]);
    let e = err(&edgenas(&args, cwd, &[]));
    assert!(e.contains("--finish-from scratch") && e.contains("--finish-steps"), "{e}");
}

#[test]
fn a_search_killed_while_finishing_resumes_without_training_anything_twice() {
    let tmp = setup();
    let cwd = tmp.path();
    let tiny = root().join("spaces/tiny.toml");
    let tiny = tiny.to_str().unwrap();
    // challenger candidates fine-tuned, then winners and baselines finished: several trainings
    let args = with(
        search_args(
            tiny,
            "k",
            &["--finish-baselines", "--finetune-steps", "30", "--challenger-candidates", "2", "--json"],
        ),
        &[("--generations", "1"), ("--finish", "1")],
    );
    let e = err(&edgenas(&args, cwd, &[("EDGENAS_TEST_ABORT_AFTER_TRAININGS", "2")]));
    assert!(e.contains("aborted after 2 finishing trainings"), "{e}");
    let kept = |ext: &str| {
        std::fs::read_dir(cwd.join("k/finishing"))
            .unwrap()
            .filter(|f| f.as_ref().unwrap().path().extension().is_some_and(|x| x == ext))
            .count() as u64
    };
    assert_eq!((kept("bpk"), kept("json")), (2, 2), "each training kept as weights and a sidecar");
    let resume = [&args[..], &["--resume"]].concat();
    let summary =
        |env: &[(&str, &str)]| -> serde_json::Value { serde_json::from_str(&ok(&edgenas(&resume, cwd, env))).unwrap() };
    let first = summary(&[]);
    let t = &first["finishing_trainings"];
    assert_eq!(t["reused"], 2, "{t}");
    let trained = t["trained"].as_u64().unwrap();
    assert!(trained >= 2, "{t}");
    assert_eq!(kept("bpk"), 2 + trained);
    // the finished models, as files and as figures that do not depend on the timing
    let models = |s: &serde_json::Value| -> Vec<(serde_json::Value, Vec<u8>)> {
        let all = s["finished"].as_array().unwrap().iter().chain(s["baselines_finished"].as_array().unwrap());
        all.map(|f| {
            let mut f = f.clone();
            let bytes = std::fs::read(cwd.join(f["model"].as_str().unwrap())).unwrap();
            for k in ["measured_ms", "measured_p10_ms", "recommended"] {
                f.as_object_mut().unwrap().remove(k);
            }
            (f, bytes)
        })
        .collect()
    };
    let finished = models(&first);
    assert!(finished.len() >= 4, "{first}");
    // resumed once more, every training is read back, none trained (an abort on the first
    // training would fail the run), and the weights read back are the weights trained: the
    // same ONNX files bit for bit, the same accuracies, the same challengers
    let again = summary(&[("EDGENAS_TEST_ABORT_AFTER_TRAININGS", "1")]);
    assert_eq!(again["finishing_trainings"], serde_json::json!({"trained": 0, "reused": 2 + trained}));
    assert_eq!(models(&again), finished);
    assert_eq!(again["challengers"], first["challengers"]);
    // a kept training that cannot be read is trained again, with a warning
    let sidecar = std::fs::read_dir(cwd.join("k/finishing"))
        .unwrap()
        .map(|f| f.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "bpk"))
        .unwrap();
    std::fs::write(&sidecar, b"not weights").unwrap();
    let out = edgenas(&resume, cwd, &[]);
    let s: serde_json::Value = serde_json::from_str(&ok(&out)).unwrap();
    assert_eq!(s["finishing_trainings"], serde_json::json!({"trained": 1, "reused": 1 + trained}));
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(e.contains(sidecar.file_name().unwrap().to_str().unwrap()) && e.contains("training it again"), "{e}");
    assert_eq!(models(&s), finished);
}

/// `edgenas confirm` on the search in `s-a` (finished from scratch, seed 0): it retrains each
/// compared baseline and winner under a new seed exactly as a search finishes its models,
/// resumes from its journal, and refuses folders it cannot confirm.
fn check_confirm(cwd: &Path, tiny: &str) {
    let read = |p: &str| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(cwd.join(p)).unwrap()).unwrap()
    };
    let c: serde_json::Value =
        serde_json::from_str(&ok(&edgenas(&["confirm", "s-a", "--repeats", "1", "--json"], cwd, &[]))).unwrap();
    assert_eq!(c, read("s-a/confirm.json"));
    assert_eq!(c["seeds"], serde_json::json!([1_000_001]), "{c}");
    let s = read("s-a/summary.json");
    let compared: Vec<&serde_json::Value> =
        s["baselines_dominated"].as_array().unwrap().iter().filter(|d| !d["best"].is_null()).collect();
    let comparisons = c["comparisons"].as_array().unwrap();
    assert!(!comparisons.is_empty() && comparisons.len() == compared.len(), "{c}\n{s}");
    for (cmp, d) in comparisons.iter().zip(&compared) {
        assert_eq!(cmp["baseline"], d["baseline"]);
        assert_eq!(cmp["model"], d["best"]["model"]);
        assert_eq!(cmp["run_gap"], d["best"]["accuracy_difference"]);
        let t = &cmp["trainings"][0];
        let gap = t["model_test_accuracy"].as_f64().unwrap() - t["baseline_test_accuracy"].as_f64().unwrap();
        assert!((cmp["gaps"][0].as_f64().unwrap() - gap).abs() < 1e-9, "{cmp}");
        assert_eq!(cmp["mean_gap"], cmp["gaps"][0]);
    }
    // the new training is the search's finishing at that seed: a search run with it (on the same
    // split) finishes the baselines to the same test accuracy
    let args = with(
        search_args(
            tiny,
            "s-c",
            &["--finish-baselines", "--finish-from", "scratch", "--finetune-steps", "30", "--seed", "1000001"],
        ),
        &[("--generations", "1"), ("--finish", "1")],
    );
    ok(&edgenas(&[&args[..], &["--split-seed", "0", "--json"]].concat(), cwd, &[]));
    let s2 = read("s-c/summary.json");
    for cmp in comparisons {
        let b = s2["baselines_finished"].as_array().unwrap().iter().find(|b| b["name"] == cmp["baseline"]).unwrap();
        assert_eq!(b["test_accuracy_burn"], cmp["trainings"][0]["baseline_test_accuracy"], "{cmp}\n{b}");
    }
    // a second confirm reads the journal back: nothing is retrained, the report is the same
    let journal = std::fs::read_to_string(cwd.join("s-a/confirm.jsonl")).unwrap();
    let again: serde_json::Value =
        serde_json::from_str(&ok(&edgenas(&["confirm", "s-a", "--repeats", "1", "--json", "--quiet"], cwd, &[])))
            .unwrap();
    assert_eq!(again, c);
    assert_eq!(std::fs::read_to_string(cwd.join("s-a/confirm.jsonl")).unwrap(), journal);
    // the text report names the winner first, then the baseline, and their accuracies in that order
    let text = ok(&edgenas(&["confirm", "s-a", "--repeats", "1", "--quiet"], cwd, &[]));
    for cmp in comparisons {
        let (model, baseline) = (cmp["model"].as_str().unwrap(), cmp["baseline"].as_str().unwrap());
        let line = text.lines().find(|l| l.contains(baseline) && l.contains(model)).expect(&text);
        assert!(line.starts_with(model), "{line}");
        let pct = |k: &str| 100.0 * cmp[k]["mean"].as_f64().unwrap();
        let want = format!("{:.2} % vs {:.2} %", pct("model_test_accuracy"), pct("baseline_test_accuracy"));
        assert!(line.contains(&want), "{line} lacks {want}");
    }
    // a second seed trains each compared model once more (a winner shared by two baselines once)
    let mut models: Vec<&str> =
        comparisons.iter().flat_map(|c| [c["baseline"].as_str().unwrap(), c["model"].as_str().unwrap()]).collect();
    models.sort();
    models.dedup();
    let two: serde_json::Value =
        serde_json::from_str(&ok(&edgenas(&["confirm", "s-a", "--repeats", "2", "--json"], cwd, &[]))).unwrap();
    let lines = |p: &str| journal_entries(&cwd.join(p)).len();
    assert_eq!(lines("s-a/confirm.jsonl"), 2 * models.len());
    for (a, b) in two["comparisons"].as_array().unwrap().iter().zip(comparisons) {
        assert_eq!(a["trainings"][0], b["trainings"][0], "the first seed is read back");
        assert_eq!(a["trainings"].as_array().unwrap().len(), 2);
    }
    // another number of steps trains anew, beside the trainings of the search's steps
    let other: serde_json::Value =
        serde_json::from_str(&ok(&edgenas(&["confirm", "s-a", "--repeats", "1", "--steps", "10", "--json"], cwd, &[])))
            .unwrap();
    assert_eq!(other["steps"], 10);
    assert_eq!(lines("s-a/confirm.jsonl"), 3 * models.len());
    assert_eq!(read("s-a/confirm.json"), other);
    // folders it cannot confirm, and bad settings
    let e = err(&edgenas(&["confirm", "data"], cwd, &[]));
    assert!(e.contains("data/config.json") && e.contains("edgenas search"), "{e}");
    std::fs::create_dir_all(cwd.join("nb")).unwrap();
    std::fs::copy(cwd.join("s-a/config.json"), cwd.join("nb/config.json")).unwrap();
    std::fs::write(cwd.join("nb/summary.json"), r#"{"baselines_dominated": []}"#).unwrap();
    let e = err(&edgenas(&["confirm", "nb"], cwd, &[]));
    assert!(e.contains("nb/summary.json") && e.contains("--finish-baselines"), "{e}");
    let e = err(&edgenas(&["confirm", "s-a", "--repeats", "0"], cwd, &[]));
    assert!(e.contains("--repeats"), "{e}");
    let e = err(&edgenas(&["confirm", "s-a", "--baseline", "k9e9-huge"], cwd, &[]));
    assert!(
        e.contains("--baseline k9e9-huge") && e.contains("s-a/summary.json") && e.contains("allowed: baseline-"),
        "{e}"
    );
    // one baseline's comparison alone: read back from the journal, the same as in the full report
    let name = comparisons[0]["baseline"].as_str().unwrap();
    let short = name.trim_start_matches("baseline-");
    let one: serde_json::Value = serde_json::from_str(&ok(&edgenas(
        &["confirm", "s-a", "--repeats", "1", "--baseline", short, "--json"],
        cwd,
        &[],
    )))
    .unwrap();
    assert_eq!(one["comparisons"], serde_json::json!([comparisons[0]]));
}

/// Checks each baseline's dominance entry against the finished models of summary `s`; returns
/// how many baselines were compared image by image with a winner at least as fast.
fn check_dominance(s: &serde_json::Value) -> usize {
    let judged = s["baselines_dominated"].as_array().unwrap();
    let based = s["baselines_finished"].as_array().unwrap();
    let winners = s["finished"].as_array().unwrap();
    let field = |f: &serde_json::Value, k: &str| f[k].as_f64().unwrap();
    // the front of the finished models, searched and baselines together: validation accuracy
    // against measured latency, listed in the summary and flagged on each model
    let all: Vec<&serde_json::Value> = winners.iter().chain(based).collect();
    for f in &all {
        let (acc, ms) = (field(f, "valid_accuracy"), field(f, "measured_ms"));
        assert!((0.0..=1.0).contains(&acc), "{f}");
        let beaten = all.iter().any(|g| {
            let (a, m) = (field(g, "valid_accuracy"), field(g, "measured_ms"));
            a >= acc && m <= ms && (a > acc || m < ms)
        });
        assert_eq!(f["recommended"].as_bool().unwrap(), !beaten, "{f}");
    }
    let listed: Vec<&str> = s["recommended"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    let want: Vec<&str> =
        all.iter().filter(|f| f["recommended"].as_bool().unwrap()).map(|f| f["name"].as_str().unwrap()).collect();
    assert!(!listed.is_empty());
    assert_eq!(listed, want);
    let mut compared = 0;
    for (d, b) in judged.iter().zip(based) {
        assert_eq!(d["baseline"], b["name"]);
        // exactly the winners at least as accurate and at least as fast are named
        let want: Vec<&str> = winners
            .iter()
            .filter(|w| {
                field(w, "measured_ms") <= field(b, "measured_ms")
                    && field(w, "test_accuracy_burn") >= field(b, "test_accuracy_burn")
            })
            .map(|w| w["name"].as_str().unwrap())
            .collect();
        let by: Vec<&str> = d["by"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
        assert_eq!(by, want);
        assert_eq!(d["dominated"].as_bool().unwrap(), !want.is_empty());
        // within the baseline's run-to-run spread (median - p10 of its measured pass): a superset
        let spread = field(d, "spread_ms");
        assert!(
            spread >= 0.0 && (spread - (field(b, "measured_ms") - field(b, "measured_p10_ms"))).abs() < 1e-12,
            "{d}"
        );
        let within: Vec<&str> = winners
            .iter()
            .filter(|w| {
                field(w, "measured_ms") <= field(b, "measured_ms") + spread
                    && field(w, "test_accuracy_burn") >= field(b, "test_accuracy_burn")
            })
            .map(|w| w["name"].as_str().unwrap())
            .collect();
        let by_within: Vec<&str> =
            d["by_within_spread"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
        assert_eq!(by_within, within);
        assert!(by.iter().all(|n| by_within.contains(n)), "{d}");
        assert_eq!(d["dominated_within_spread"].as_bool().unwrap(), !within.is_empty());
        // the winner at least as fast most accurate on validation is compared image by image
        // on the test set (McNemar)
        let faster: Vec<&serde_json::Value> =
            winners.iter().filter(|w| field(w, "measured_ms") <= field(b, "measured_ms")).collect();
        let best = &d["best"];
        if faster.is_empty() {
            assert!(best.is_null() && !d["dominated"].as_bool().unwrap(), "{d}");
            assert_eq!(d["verdict"], "no_faster_winner");
            continue;
        }
        compared += 1;
        let top = faster.iter().map(|w| field(w, "valid_accuracy")).fold(f64::MIN, f64::max);
        let w = faster.iter().find(|w| w["name"] == best["model"]).expect("best is a winner as fast");
        assert_eq!(field(w, "valid_accuracy"), top, "{d}");
        let diff = field(best, "accuracy_difference");
        assert!((diff - (field(w, "test_accuracy_burn") - field(b, "test_accuracy_burn"))).abs() < 1e-9, "{d}");
        let (only_w, only_b, images) = (
            best["only_model_right"].as_u64().unwrap(),
            best["only_baseline_right"].as_u64().unwrap(),
            best["images"].as_u64().unwrap(),
        );
        assert!(images > 0 && only_w + only_b <= images);
        assert!((diff * images as f64 - (only_w as f64 - only_b as f64)).abs() < 1e-6, "{d}");
        let p = field(best, "p_value");
        assert_eq!(p, edgenas_report::mcnemar_exact(only_w as usize, only_b as usize), "{d}");
        assert_eq!(best["significant"].as_bool().unwrap(), p < 0.05, "{d}");
        let verdict = match (p < 0.05, diff > 0.0) {
            (false, _) => "within_noise",
            (true, true) => "winner_significantly_better",
            (true, false) => "baseline_significantly_better",
        };
        assert_eq!(d["verdict"], verdict, "{d}");
        if verdict == "winner_significantly_better" {
            assert!(d["dominated"].as_bool().unwrap(), "{d}");
        }
    }
    compared
}
