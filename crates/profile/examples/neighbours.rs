//! Experiment: the architectures of a profile's space one or two gene changes away from a given one that are
//! predicted no slower than it, slowest first.
//!
//! `cargo run --release -p edgenas-profile --example neighbours -- PROFILE ARCH.json [OUT_DIR]`
use edgenas_profile::LatencyProfile;
use edgenas_space::{Architecture, Genome};

fn main() {
    let a: Vec<String> = std::env::args().collect();
    let prof = LatencyProfile::from_file(std::path::Path::new(&a[1])).expect("profile");
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&a[2]).unwrap()).unwrap();
    let arch: Architecture = serde_json::from_value(v.get("architecture").cloned().unwrap_or(v)).unwrap();
    let space = prof.space.clone();
    let g0 = space.encode(&arch).unwrap();
    let limit = prof.predict(&arch).unwrap().latency_ns;
    let genes = space.genes();
    let mut seen = std::collections::BTreeSet::new();
    seen.insert(format!("{:?}", arch));
    let mut out: Vec<(f64, u64, String, Architecture)> = Vec::new();
    let mut consider = |g: &Genome, what: String| {
        let x = space.decode(g).unwrap();
        let key = format!("{x:?}");
        if !seen.insert(key) {
            return;
        }
        let l = prof.predict(&x).unwrap().latency_ns;
        if l <= limit {
            out.push((l, x.stats().params, what, x));
        }
    };
    for i in 0..genes.len() {
        for vi in 0..genes[i].choices() {
            if vi == g0.0[i] {
                continue;
            }
            let mut h = g0.clone();
            h.0[i] = vi;
            consider(&h, format!("{}={}", genes[i].name, genes[i].values[vi]));
            for j in i + 1..genes.len() {
                for vj in 0..genes[j].choices() {
                    if vj == g0.0[j] {
                        continue;
                    }
                    let mut k = h.clone();
                    k.0[j] = vj;
                    consider(
                        &k,
                        format!("{}={} {}={}", genes[i].name, genes[i].values[vi], genes[j].name, genes[j].values[vj]),
                    );
                }
            }
        }
    }
    out.sort_by(|a, b| b.0.total_cmp(&a.0));
    println!("{} neighbours no slower than {:.0} us", out.len(), limit / 1e3);
    for (i, (l, p, what, x)) in out.iter().take(usize::MAX).enumerate() {
        println!("n{i}\t{:.0}us\t{p}\t{what}", l / 1e3);
        if let Some(dir) = a.get(3) {
            std::fs::create_dir_all(dir).unwrap();
            std::fs::write(
                std::path::Path::new(dir).join(format!("n{i}.json")),
                serde_json::to_string_pretty(x).unwrap(),
            )
            .unwrap();
        }
    }
}
