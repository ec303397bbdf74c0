//! Experiment: fine-tune given architectures from a supernet exactly as `edgenas search`
//! finishes its models (4 x 64 recalibration images, AdamW lr 1e-3, no warm-up, batch 64) and
//! compare each with the first on the test images (McNemar's exact test).
//!
//! `cargo run --release -p edgenas-train --example finetune_archs -- SUPERNET DATA STEPS SEED REFERENCE.json OTHER.json...`
//! (each file an architecture JSON or a model card; the data split with seed 0, as
//! `--split-seed 0` searches do)
use edgenas_space::Architecture;
use edgenas_train::supernet::Supernet;
use edgenas_train::trainer::{accuracy, device, hits, predict};

fn main() {
    let a: Vec<String> = std::env::args().collect();
    let dev = device(0);
    let (sn, _) = Supernet::load(std::path::Path::new(&a[1]), &dev).expect("supernet");
    let splits = edgenas_train::load_splits(std::path::Path::new(&a[2]), 0.1, 0).expect("data");
    let steps: usize = a[3].parse().unwrap();
    let seed: u64 = a[4].parse().unwrap();
    let mut reference: Option<Vec<bool>> = None;
    for file in &a[5..] {
        let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(file).expect("read")).expect("JSON");
        let arch: Architecture = serde_json::from_value(v.get("architecture").cloned().unwrap_or(v)).expect("arch");
        let t = std::time::Instant::now();
        let (net, m) = sn.fine_tune(&arch, &splits.train, 4, &splits.train, &splits.valid, steps, seed).unwrap();
        let m = m.expect("steps > 0");
        let logits = predict(&net, &splits.test, &device(seed));
        let h = hits(&logits, &splits.test.labels, splits.test.classes);
        print!(
            "{file}\tparams {}\tvalid {:.4}\ttest {:.4}\t{:.0}s",
            arch.stats().params,
            m.valid_accuracy,
            accuracy(&h),
            t.elapsed().as_secs_f64()
        );
        match &reference {
            None => reference = Some(h),
            Some(r) => {
                let p = edgenas_report::compare(&h, r);
                print!(
                    "\t{:+.2} points ({} / {}), McNemar {}",
                    100.0 * p.difference,
                    p.only_a,
                    p.only_b,
                    edgenas_report::format_p(p.p_value)
                );
            }
        }
        println!();
    }
}
