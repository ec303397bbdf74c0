//! Experiment: which networks of a profile's space have the most parameters at a predicted
//! latency no higher than a given one? Random-restart hill climbing on the genome, latency
//! from a device profile, parameters from the space's counts. No training.
//!
//! `cargo run --release -p edgenas-profile --example params_at_latency -- PROFILE LATENCY_US [RESTARTS] [OUT_DIR]`
//! (BY_MACS=1 in the environment: multiply-accumulates instead of parameters; OUT_DIR: the ten largest written there as architecture JSON, `p0.json` the largest)
use edgenas_profile::LatencyProfile;
use edgenas_space::Genome;
use rand::{Rng, SeedableRng};

fn main() {
    let a: Vec<String> = std::env::args().collect();
    let prof = LatencyProfile::from_file(std::path::Path::new(&a[1])).expect("profile");
    let limit = a[2].parse::<f64>().expect("latency in us") * 1e3;
    let restarts: usize = a.get(3).map_or(20, |s| s.parse().unwrap());
    let by_macs = std::env::var("BY_MACS").is_ok();
    let space = prof.space.clone();
    let genes = space.genes();
    let eval = |g: &Genome| {
        let arch = space.decode(g).unwrap();
        let st = arch.stats();
        (prof.predict(&arch).unwrap().latency_ns, if by_macs { st.macs } else { st.params }, arch)
    };
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
    let mut found: Vec<(u64, f64, String, edgenas_space::Architecture)> = Vec::new();
    for _ in 0..restarts {
        let mut g = loop {
            let g = space.sample_genome(&mut rng);
            if eval(&g).0 <= limit {
                break g;
            }
        };
        loop {
            let (_, p0, _) = eval(&g);
            let mut best: Option<(u64, Genome)> = None;
            for (i, gene) in genes.iter().enumerate() {
                for v in 0..gene.choices() {
                    if v == g.0[i] {
                        continue;
                    }
                    let mut h = g.clone();
                    h.0[i] = v;
                    let (l, p, _) = eval(&h);
                    if l <= limit && p > p0 && best.as_ref().is_none_or(|b| p > b.0) {
                        best = Some((p, h));
                    }
                }
            }
            match best {
                Some((_, h)) => g = h,
                None => break,
            }
        }
        let (l, p, arch) = eval(&g);
        let desc = format!(
            "stem {} | {} | head {}",
            arch.stem.width,
            arch.stages
                .iter()
                .map(|s| format!(
                    "{}:{}",
                    s.width,
                    s.blocks
                        .iter()
                        .map(|b| {
                            let cn = if b.kind == edgenas_space::BlockKind::Convnext { "cn-" } else { "" };
                            format!("{cn}k{}e{}{}", b.kernel, b.expansion, if b.se { "s" } else { "" })
                        })
                        .collect::<Vec<_>>()
                        .join(",")
                ))
                .collect::<Vec<_>>()
                .join(" | "),
            arch.head.width
        );
        if !found.iter().any(|f| f.2 == desc) {
            found.push((p, l, desc, arch));
        }
        let _ = rng.random::<u32>();
    }
    found.sort_by_key(|f| std::cmp::Reverse(f.0));
    for (i, (p, l, d, arch)) in found.iter().take(10).enumerate() {
        println!("p{i}\t{p}\t{:.0}us\t{d}", l / 1e3);
        if let Some(dir) = a.get(4) {
            std::fs::create_dir_all(dir).unwrap();
            let path = std::path::Path::new(dir).join(format!("p{i}.json"));
            std::fs::write(path, serde_json::to_string_pretty(arch).unwrap()).unwrap();
        }
    }
}
