//! Experiment: does longer fine-tuning change how a search's challengers compare with the
//! hand-designed baselines? Each baseline of a finished `edgenas search --finish-baselines` run
//! and its challenger are fine-tuned from the supernet for each step count exactly as the
//! search's finishing does (4 x 64 recalibration images, AdamW lr 1e-3, no warm-up, batch 64,
//! the run's seed), and their validation and test accuracy printed, with McNemar's exact test
//! of each challenger against its baseline on the test images.
//!
//! `cargo run --release -p edgenas-train --example finetune_cmp -- SUPERNET DATA RUN_DIR 200,1000 SEED [ONLY]`
//! (ONLY: just the baselines whose name contains it, e.g. `narrow`)
//! (the data split with seed 0, as `--split-seed 0` searches do)
use edgenas_space::Genome;
use edgenas_train::supernet::Supernet;
use edgenas_train::trainer::{accuracy, device, hits, predict};

fn main() {
    let a: Vec<String> = std::env::args().collect();
    let dev = device(0);
    let (sn, info) = Supernet::load(std::path::Path::new(&a[1]), &dev).expect("supernet");
    let splits = edgenas_train::load_splits(std::path::Path::new(&a[2]), 0.1, 0).expect("data");
    let read = |f: &str| -> serde_json::Value {
        let path = std::path::Path::new(&a[3]).join(f);
        serde_json::from_str(&std::fs::read_to_string(&path).expect("read the run's JSON")).expect("JSON")
    };
    let genome = |v: &serde_json::Value| -> Vec<usize> {
        v.as_array().expect("a genome").iter().map(|g| g.as_u64().expect("a gene") as usize).collect()
    };
    let (baselines, summary) = (read("baselines.json"), read("summary.json"));
    let mut items = Vec::new();
    for (b, c) in baselines.as_array().unwrap().iter().zip(summary["challengers"].as_array().unwrap()) {
        let name = b["name"].as_str().unwrap().to_string();
        if a.get(6).is_some_and(|only| !name.contains(only.as_str())) {
            continue;
        }
        items.push((name.clone(), genome(&b["record"]["genome"])));
        if !c["challenger"].is_null() {
            items.push((format!("challenger of {name}"), genome(&c["challenger"]["genome"])));
        }
    }
    let steps: Vec<usize> = a[4].split(',').map(|s| s.parse().unwrap()).collect();
    let seed: u64 = a[5].parse().unwrap();
    // the baselines' test hits per step count, for McNemar against their challengers
    let mut base_hits: std::collections::BTreeMap<(String, usize), Vec<bool>> = Default::default();
    for (name, g) in items {
        let arch = info.space.decode(&Genome(g)).unwrap();
        for &s in &steps {
            let t = std::time::Instant::now();
            let (net, m) = sn.fine_tune(&arch, &splits.train, 4, &splits.train, &splits.valid, s, seed).unwrap();
            let m = m.expect("steps > 0");
            let logits = predict(&net, &splits.test, &device(seed));
            let h = hits(&logits, &splits.test.labels, splits.test.classes);
            println!(
                "{name}\t{s}\tvalid {:.4}\ttest {:.4}\t{:.0}s",
                m.valid_accuracy,
                accuracy(&h),
                t.elapsed().as_secs_f64()
            );
            match name.strip_prefix("challenger of ") {
                Some(b) => {
                    let p = edgenas_report::compare(&h, &base_hits[&(b.to_string(), s)]);
                    println!(
                        "  vs {b} at {s} steps: {:+.2} points ({} / {} images), McNemar {}",
                        100.0 * p.difference,
                        p.only_a,
                        p.only_b,
                        edgenas_report::format_p(p.p_value)
                    );
                }
                None => {
                    base_hits.insert((name.clone(), s), h);
                }
            }
        }
    }
}
