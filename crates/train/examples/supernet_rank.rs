//! How well does a supernet rank subnets? For N architectures sampled from the supernet's
//! space: accuracy with inherited, recalibrated weights vs accuracy after proxy training
//! from scratch; prints both and Kendall's tau.
//!
//! `cargo run --release -p edgenas-train --example supernet_rank -- runs/default/supernet [--n 20] [--steps 100] [--data data/mnist-10k] [--proxy-cache FILE]`
//!
//! `--proxy-cache FILE` keeps the proxy accuracies (JSON, by sample index, steps and data), so
//! several supernets are compared against one set of proxy trainings.
use edgenas_train::supernet::{evaluate_subnet, Supernet};
use edgenas_train::trainer::device;
use edgenas_train::{train, TrainConfig};

fn kendall_tau(a: &[f64], b: &[f64]) -> f64 {
    let (mut c, mut d) = (0i64, 0i64);
    for i in 0..a.len() {
        for j in i + 1..a.len() {
            let s = (a[i] - a[j]) * (b[i] - b[j]);
            if s > 0.0 {
                c += 1
            } else if s < 0.0 {
                d += 1
            }
        }
    }
    (c - d) as f64 / ((a.len() * (a.len() - 1)) / 2).max(1) as f64
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let opt =
        |f: &str, d: &str| args.iter().position(|a| a == f).and_then(|i| args.get(i + 1).cloned()).unwrap_or(d.into());
    let dir = args.get(1).cloned().unwrap_or("runs/default/supernet".into());
    let n: usize = opt("--n", "20").parse().unwrap();
    let steps: usize = opt("--steps", "100").parse().unwrap();
    let data = opt("--data", "data/mnist-10k");
    let cache_path = args.iter().position(|a| a == "--proxy-cache").and_then(|i| args.get(i + 1).cloned());
    let mut cache: std::collections::BTreeMap<String, f64> = cache_path
        .as_ref()
        .and_then(|p| std::fs::read_to_string(p).ok())
        .map(|t| serde_json::from_str(&t).expect("proxy cache: not a JSON map"))
        .unwrap_or_default();
    let dev = device(0);
    let (sn, info) = Supernet::load(std::path::Path::new(&dir), &dev).expect("load the supernet");
    let splits = edgenas_train::load_splits(std::path::Path::new(&data), 0.1, 0).expect("load the data");
    let (mut a_sn, mut a_px) = (Vec::new(), Vec::new());
    let started = std::time::Instant::now();
    for i in 0..n {
        let arch = info.space.sample(1000 + i as u64);
        let t = std::time::Instant::now();
        let (acc_sn, _) = evaluate_subnet(&sn, &arch, &splits.train, 4, &splits.valid, 0);
        let sn_s = t.elapsed().as_secs_f64();
        let key = format!("{data}|{steps}|{i}");
        let proxy = match cache.get(&key) {
            Some(&a) => a,
            None => {
                let cfg = TrainConfig { steps: Some(steps), seed: 0, ..TrainConfig::default() };
                let (_, m) = train(&arch, &splits.train, &splits.valid, &cfg, &mut |_| {}).expect("train");
                cache.insert(key, m.valid_accuracy);
                if let Some(p) = &cache_path {
                    std::fs::write(p, serde_json::to_string_pretty(&cache).unwrap()).expect("write the proxy cache");
                }
                m.valid_accuracy
            }
        };
        println!("arch {i:2}: {:>9} MACs  supernet {acc_sn:.3} ({sn_s:.2} s)  proxy {proxy:.3}", arch.stats().macs);
        a_sn.push(acc_sn);
        a_px.push(proxy);
    }
    println!(
        "Kendall's tau (supernet vs {steps}-step proxy training, {n} architectures, {} validation images): {:.3}  [{:.0} s]",
        splits.valid.len(),
        kendall_tau(&a_sn, &a_px),
        started.elapsed().as_secs_f64()
    );
}
