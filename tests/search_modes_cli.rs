//! `edgenas search` with proxy scoring and random search, the refusal of bad input, and
//! `edgenas run` end to end, on the tiny space and a small synthetic dataset (the supernet
//! search's outputs, resume and finishing: tests/search_cli.rs).

mod support;

use std::path::Path;

use support::search::{one_generation, quick_profile, read_text, search_args, setup, with, with_profile};
use support::{edgenas, err, ok, root};

#[test]
fn proxy_and_random_search_run_and_bad_input_is_refused() {
    let tmp = setup();
    let cwd = tmp.path();
    let tiny = root().join("spaces/tiny.toml");
    let tiny = tiny.to_str().unwrap();
    let out = ok(&edgenas(
        &search_args(tiny, "proxy", &["--eval", "proxy", "--proxy-steps", "5", "--algorithm", "random", "--json"]),
        cwd,
        &[],
    ));
    let s: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(s["evaluations"].as_u64().unwrap() >= 1);
    assert!(!cwd.join("proxy/supernet").exists());
    let search_svg = read_text(&cwd.join("proxy/pareto.svg"));
    assert!(search_svg.contains("validation error after 5 proxy training steps (%)"), "proxy scores say so");
    assert!(!search_svg.contains("supernet"), "no supernet in a proxy search's plot");
    // budgets: nothing fits a 1 ns budget, and the error says what the space's fastest takes
    let e = err(&edgenas(&search_args(tiny, "budget", &["--latency-budget-ms", "0.000001", "--json"]), cwd, &[]));
    assert_eq!(e.trim_end().lines().count(), 1, "{e}");
    assert!(
        e.contains("none of the") && e.contains("--latency-budget-ms 0.000001 on tiny.json: the fastest is"),
        "{e}"
    );
    assert!(cwd.join("budget/journal.jsonl").exists(), "the evaluations are kept");
    let e = err(&edgenas(&search_args(tiny, "x1", &["--flash-budget-kib", "0"]), cwd, &[]));
    assert!(e.contains("--flash-budget-kib: 0 is not allowed"), "{e}");
    assert!(!cwd.join("x1").exists(), "settings are checked before anything is written");
    let e = err(&edgenas(&with(search_args(tiny, "x1", &[]), &[("--supernet-steps", "0")]), cwd, &[]));
    assert!(e.contains("--supernet-steps: 0 is not allowed"), "{e}");
    // bad input: clear one-line errors, no panic
    let e = err(&edgenas(&with(search_args(tiny, "x1", &[]), &[("--population", "1")]), cwd, &[]));
    assert!(e.contains("--population: 1 is not allowed"), "{e}");
    let e = err(&edgenas(&search_args(tiny, "x1", &["--finish-baselines", "--challenger-candidates", "0"]), cwd, &[]));
    assert!(e.contains("--challenger-candidates: 0 is not allowed"), "{e}");
    // challenger settings without --finish-baselines would be ignored: refused
    let e = err(&edgenas(&search_args(tiny, "x1", &["--challenger-candidates", "4"]), cwd, &[]));
    assert!(e.contains("--finish-baselines"), "{e}");
    // --resume with nothing to resume creates nothing
    let e = err(&edgenas(&search_args(tiny, "x1", &["--resume"]), cwd, &[]));
    assert!(e.contains("--resume: x1 holds no search") && e.contains("nothing to resume"), "{e}");
    let e = err(&edgenas(&search_args(tiny, "x1", &["--measure-runs", "0"]), cwd, &[]));
    assert!(e.contains("--measure-runs"), "{e}");
    let e = err(&edgenas(&search_args(tiny, "x1", &["--finish-baselines", "--challenger-band", "1.5"]), cwd, &[]));
    assert!(e.contains("--challenger-band") && e.contains("(0, 1]"), "{e}");
    let e =
        err(&edgenas(&search_args(tiny, "x2", &["--latency-budget-ms", "1", "--latency-budget-ms", "2"]), cwd, &[]));
    assert!(e.contains("--latency-budget-ms"), "{e}");
    let e = err(&edgenas(&search_args(tiny, "x3", &["--objectives", "latency,flash"]), cwd, &[]));
    assert!(e.contains("error"), "{e}");
    // a profile measured for another space names the file
    let def = root().join("profiles/local.json");
    let e = err(&edgenas(&with_profile(search_args(tiny, "x4", &[]), def.to_str().unwrap()), cwd, &[]));
    assert!(e.contains("local.json") && e.contains("another space"), "{e}");
    let mut args = search_args(tiny, "x5", &[]);
    let i = args.iter().position(|a| *a == "data").unwrap();
    args[i] = "nowhere";
    let e = err(&edgenas(&args, cwd, &[]));
    assert!(e.contains("nowhere"), "{e}");
    assert!(!cwd.join("x5").exists(), "a search that could not start leaves no folder behind");

    // warm start: the first generation holds the baselines and the --init-arch model card
    let card = std::fs::read_dir(cwd.join("proxy/models"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "json"))
        .expect("a model card");
    let card_s = card.to_str().unwrap().to_string();
    let card_json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&card).unwrap()).unwrap();
    let card_arch = card_json["architecture"].clone();
    // a model card stands for its architecture where one is expected (stats, predict, export)
    let stats = |a: &str| -> serde_json::Value {
        serde_json::from_str(&ok(&edgenas(&["space", "stats", a, "--space", tiny, "--json"], cwd, &[]))).unwrap()
    };
    std::fs::write(cwd.join("card-arch.json"), card_arch.to_string()).unwrap();
    assert_eq!(stats(&card_s), stats("card-arch.json"));
    ok(&edgenas(&["predict", &card_s, "--profile", "tiny.json"], cwd, &[]));
    ok(&edgenas(&["export", &card_s, "--out", "card.onnx"], cwd, &[]));
    let genomes_of_generation_1 = |run: &str| -> Vec<serde_json::Value> {
        std::fs::read_to_string(cwd.join(run).join("journal.jsonl"))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .filter(|r| r["generation"] == 1)
            .map(|r| r["genome"].clone())
            .collect()
    };
    // the card's network, encoded the way the space encodes it
    let space = edgenas_space::SearchSpace::from_file(Path::new(tiny)).unwrap();
    let arch: edgenas_space::Architecture = serde_json::from_value(card_arch.clone()).unwrap();
    let card_genome = serde_json::to_value(&space.encode(&arch).unwrap().0).unwrap();
    for algorithm in ["nsga2", "random"] {
        let run = format!("warm-{algorithm}");
        let extra = [
            "--eval",
            "proxy",
            "--proxy-steps",
            "5",
            "--algorithm",
            algorithm,
            "--init-baselines",
            "--init-arch",
            &card_s,
        ];
        ok(&edgenas(&one_generation(search_args(tiny, &run, &extra)), cwd, &[]));
        let first = genomes_of_generation_1(&run);
        assert_eq!(first.len(), 6, "{algorithm}: the population is still 6");
        let base: Vec<serde_json::Value> =
            serde_json::from_str(&std::fs::read_to_string(cwd.join(&run).join("baselines.json")).unwrap()).unwrap();
        assert_eq!(base.len(), 3);
        for b in &base {
            assert!(first.contains(&b["record"]["genome"]), "{algorithm}: baseline {} not in generation 1", b["name"]);
        }
        assert!(first.contains(&card_genome), "{algorithm}: the --init-arch network is not in generation 1");
    }
    // a bare architecture file works as well; bad files name the file and the problem
    std::fs::write(cwd.join("arch.json"), card_arch.to_string()).unwrap();
    let extra = ["--eval", "proxy", "--proxy-steps", "5", "--init-arch", "arch.json"];
    let text = ok(&edgenas(&one_generation(search_args(tiny, "warm-arch", &extra)), cwd, &[]));
    assert!(genomes_of_generation_1("warm-arch").contains(&card_genome));
    assert!(text.contains("no model finished (--finish 0)") && !text.contains("acc Burn"), "{text}");
    // --init-uniform: the tiny space's largest uniform networks (stem 4, stages 8 and 16, head
    // 32, middle depths, k3 and the expansion closest to 6), with and without squeeze-excite
    let extra = ["--eval", "proxy", "--proxy-steps", "5", "--init-uniform"];
    ok(&edgenas(&one_generation(search_args(tiny, "warm-uniform", &extra)), cwd, &[]));
    let first = genomes_of_generation_1("warm-uniform");
    for se in [false, true] {
        let block = serde_json::json!({"kernel": 3, "expansion": 3, "se": se});
        let arch = serde_json::json!({
            "input": {"channels": 1, "height": 16, "width": 16}, "classes": 10,
            "stem": {"width": 4, "kernel": 3, "stride": 1},
            "stages": [{"width": 8, "stride": 2, "blocks": [block]}, {"width": 16, "stride": 2, "blocks": [block]}],
            "head": {"width": 32}
        });
        let arch: edgenas_space::Architecture = serde_json::from_value(arch).unwrap();
        let genome = serde_json::to_value(&space.encode(&arch).unwrap().0).unwrap();
        assert!(first.contains(&genome), "the uniform network with se = {se} is not in generation 1");
    }
    std::fs::write(cwd.join("garbage.json"), "{ not json").unwrap();
    let e = err(&edgenas(&search_args(tiny, "x6", &["--init-arch", "garbage.json"]), cwd, &[]));
    assert!(e.contains("--init-arch garbage.json") && e.contains("not JSON"), "{e}");
    let e = err(&edgenas(&search_args(tiny, "x6", &["--init-arch", "missing.json"]), cwd, &[]));
    assert!(e.contains("missing.json"), "{e}");
    let reference = root().join("spaces/reference-arch.json");
    let e = err(&edgenas(&search_args(tiny, "x6", &["--init-arch", reference.to_str().unwrap()]), cwd, &[]));
    assert!(e.contains("reference-arch.json") && e.contains("not in the search space"), "{e}");
    assert!(!cwd.join("x6/journal.jsonl").exists(), "refused before any work");
    // a device file the finished models would be measured on is checked before any work;
    // an objective or a profile given twice is refused
    let e = err(&edgenas(&search_args(tiny, "x7", &["--device", "nodev.toml"]), cwd, &[]));
    assert!(e.contains("--device nodev.toml"), "{e}");
    let e = err(&edgenas(&search_args(tiny, "x7", &["--objectives", "error,latency,latency"]), cwd, &[]));
    assert!(e.contains("--objectives: latency is given twice"), "{e}");
    assert!(!cwd.join("x7").exists(), "refused before any work");
    // more warm-start networks than the population: the tiny space has two distinct baselines
    // (its widths give narrow = mid), plus a k5 variant of one of them
    let base: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(cwd.join("warm-nsga2/baselines.json")).unwrap()).unwrap();
    let mut k5 = base[0]["architecture"].clone();
    k5["stages"][0]["blocks"][0]["kernel"] = 5.into();
    std::fs::write(cwd.join("k5.json"), k5.to_string()).unwrap();
    let extra = ["--init-baselines", "--init-arch", "k5.json"];
    let e = err(&edgenas(&with(search_args(tiny, "x7", &extra), &[("--population", "2")]), cwd, &[]));
    assert!(e.contains("--init-baselines / --init-uniform / --init-arch: 3 initial architectures"), "{e}");
}

#[test]
fn run_pipeline_reuses_the_profile_and_fine_tunes_the_winners() {
    let tmp = setup();
    let cwd = tmp.path();
    let tiny = root().join("spaces/tiny.toml");
    let args = [
        "run",
        "--space",
        tiny.to_str().unwrap(),
        "--data",
        "data",
        "--profile",
        "tiny.json",
        "--population",
        "4",
        "--generations",
        "2",
        "--supernet-steps",
        "20",
        "--finetune-steps",
        "3",
        "--out",
        "r",
        "--json",
    ];
    let profile_before = std::fs::read(cwd.join("tiny.json")).unwrap();
    let s: serde_json::Value = serde_json::from_str(&ok(&edgenas(&args, cwd, &[]))).unwrap();
    assert_eq!(std::fs::read(cwd.join("tiny.json")).unwrap(), profile_before, "the matching profile is reused");
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(cwd.join("r/config.json")).unwrap()).unwrap();
    assert_eq!(config["finetune_steps"], 3);
    let budget = config["latency_budget_ms"][0].as_f64().unwrap();
    let winners = s["finished"].as_array().unwrap();
    assert!(!winners.is_empty() && winners.len() <= 3, "{s}");
    for w in winners {
        assert!(w["predicted_ms"].as_f64().unwrap() <= budget, "winners are under the budget: {w}");
        let card = cwd.join(w["model"].as_str().unwrap()).with_extension("json");
        let card: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(card).unwrap()).unwrap();
        assert_eq!(card["finetune_steps"], 3, "{}", w["name"]);
    }
    // run again: the finished run is resumed, not redone, and says the same
    let again: serde_json::Value = serde_json::from_str(&ok(&edgenas(&args, cwd, &[]))).unwrap();
    let names = |v: &serde_json::Value| -> Vec<serde_json::Value> {
        v["finished"].as_array().unwrap().iter().map(|w| w["name"].clone()).collect()
    };
    assert_eq!(names(&again), names(&s));
    assert_eq!(again["evaluations"], s["evaluations"]);
    // a profile measured again (here: every key 2 % slower) moves the default budget; run keeps
    // the budget the run in --out started with, so it still continues
    let mut slower: serde_json::Value = serde_json::from_slice(&profile_before).unwrap();
    for (_, k) in slower["keys"].as_object_mut().unwrap() {
        for f in ["median_ns", "p10_ns", "p90_ns", "min_ns"] {
            k[f] = (k[f].as_f64().unwrap() * 1.02).into();
        }
    }
    std::fs::write(cwd.join("tiny.json"), slower.to_string()).unwrap();
    let third: serde_json::Value = serde_json::from_str(&ok(&edgenas(&args, cwd, &[]))).unwrap();
    assert_eq!(names(&third), names(&s));
    // refused before any profiling or training, and the profile is left as it is: settings no
    // search takes, data of another shape, a profile of another space, a file that is no profile
    let with_profile = |profile: &str, extra: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        let i = v.iter().position(|a| a == "tiny.json").unwrap();
        v[i] = profile.to_string();
        v.extend(extra.iter().map(|a| a.to_string()));
        v
    };
    let run = |v: Vec<String>| err(&edgenas(&v.iter().map(String::as_str).collect::<Vec<_>>(), cwd, &[]));
    let mut v = with_profile("new.json", &[]);
    let i = v.iter().position(|a| a == "--population").unwrap();
    v[i + 1] = "1".into();
    let e = run(v);
    assert!(e.contains("--population: 1 is not allowed"), "{e}");
    let mnist = root().join("data/mnist-10k");
    let mut v = with_profile("new.json", &[]);
    let i = v.iter().position(|a| a == "data").unwrap();
    v[i] = mnist.to_str().unwrap().to_string();
    let e = run(v);
    assert!(e.contains("images are [1, 28, 28], the space takes 1x16x16"), "{e}");
    assert!(!cwd.join("new.json").exists(), "nothing profiled");
    let default_args: Vec<String> = with_profile("tiny.json", &[]).into_iter().filter(|a| a != "--json").collect();
    let i = default_args.iter().position(|a| a == "--space").unwrap();
    let mut v = default_args.clone();
    v.drain(i..i + 2);
    let d = v.iter().position(|a| a == "data").unwrap();
    v[d] = mnist.to_str().unwrap().to_string();
    let e = run(v);
    assert!(e.contains("tiny.json: holds a profile of another space") && e.contains("--force"), "{e}");
    std::fs::write(cwd.join("notes.txt"), "mine").unwrap();
    let e = run(with_profile("notes.txt", &[]));
    assert!(e.contains("notes.txt: exists but is not a latency profile"), "{e}");
    assert_eq!(std::fs::read_to_string(cwd.join("notes.txt")).unwrap(), "mine");
    assert_eq!(std::fs::read(cwd.join("tiny.json")).unwrap(), slower.to_string().into_bytes());
}

#[test]
fn a_search_for_two_profiles_measures_its_winners_on_both_devices() {
    let tmp = setup();
    let cwd = tmp.path();
    let tiny = root().join("spaces/tiny.toml");
    let tiny = tiny.to_str().unwrap();
    // a second profile (of this machine again: the path is the same as for a board's)
    quick_profile(cwd, tiny, "tiny2.json");
    let extra = ["--profile", "tiny2.json", "--eval", "proxy", "--proxy-steps", "5", "--measure-runs", "3"];
    let args = with(search_args(tiny, "two", &extra), &[("--generations", "1"), ("--finish", "1")]);
    let text = ok(&edgenas(&args, cwd, &[]));
    assert!(text.contains("pred ms local") && text.contains("meas ms local"), "{text}");
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(cwd.join("two/summary.json")).unwrap()).unwrap();
    let f = &summary["finished"][0];
    let on = f["on_devices"].as_array().unwrap();
    assert_eq!(on.len(), 2, "{f}");
    assert_eq!(
        (on[0]["measured_ms"].clone(), on[0]["predicted_ms"].clone()),
        (f["measured_ms"].clone(), f["predicted_ms"].clone())
    );
    let pareto: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(cwd.join("two/pareto.json")).unwrap()).unwrap();
    let predicted: Vec<f64> =
        pareto.as_array().unwrap().iter().map(|p| p["record"]["latency_ms"][1].as_f64().unwrap()).collect();
    assert!(predicted.contains(&on[1]["predicted_ms"].as_f64().unwrap()), "{on:?} {predicted:?}");
    assert!(on[1]["measured_ms"].as_f64().unwrap() > 0.0);
}
