//! NSGA-II on the standard problems (ZDT1, ZDT2, ZDT3, DTLZ2) over several seeds: hypervolume
//! (reference point 1.1 per objective, feasible non-dominated final population) and wall time
//! per run.
//!
//! `cargo run --release -p edgenas-search --example standard -- [--seeds 5] [--gens 250] [--pop 100] [--json]`

use std::process::ExitCode;
use std::time::Instant;

use edgenas_search::problems::{Dtlz2, Zdt1, Zdt2, Zdt3};
use edgenas_search::{hypervolume, run, Nsga2Config, Problem, Termination};

struct Args {
    seeds: u64,
    gens: usize,
    pop: usize,
    json: bool,
}

fn parse() -> Result<Args, String> {
    let mut a = Args { seeds: 5, gens: 250, pop: 100, json: false };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = |name: &str| it.next().ok_or(format!("{name} needs a value"));
        match flag.as_str() {
            "--seeds" => a.seeds = value("--seeds")?.parse().map_err(|e| format!("--seeds: {e}"))?,
            "--gens" => a.gens = value("--gens")?.parse().map_err(|e| format!("--gens: {e}"))?,
            "--pop" => a.pop = value("--pop")?.parse().map_err(|e| format!("--pop: {e}"))?,
            "--json" => a.json = true,
            "-h" | "--help" => return Err("usage: standard [--seeds N] [--gens N] [--pop N] [--json]".into()),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(a)
}

struct Row {
    name: &'static str,
    hv: Vec<f64>,
    secs: Vec<f64>,
    evals: usize,
}

fn bench(name: &'static str, problem: &dyn Problem, a: &Args) -> Result<Row, String> {
    let config =
        Nsga2Config { pop_size: a.pop, termination: Termination::generations(a.gens), ..Nsga2Config::default() };
    let reference = vec![1.1; problem.n_obj()];
    let (mut hv, mut secs, mut evals) = (Vec::new(), Vec::new(), 0);
    for seed in 0..a.seeds {
        let t = Instant::now();
        let algo = run(problem, config.clone(), seed, |_| Ok(())).map_err(|e| e.to_string())?;
        secs.push(t.elapsed().as_secs_f64());
        hv.push(hypervolume(&algo.front_objectives(), &reference).map_err(|e| e.to_string())?);
        evals = algo.evaluations();
    }
    Ok(Row { name, hv, secs, evals })
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

fn std(v: &[f64]) -> f64 {
    let m = mean(v);
    (v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (v.len().max(2) - 1) as f64).sqrt()
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    }
}

fn main() -> ExitCode {
    let a = match parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let problems: [(&'static str, Box<dyn Problem>); 4] = [
        ("zdt1", Box::new(Zdt1::default())),
        ("zdt2", Box::new(Zdt2::default())),
        ("zdt3", Box::new(Zdt3::default())),
        ("dtlz2", Box::new(Dtlz2::default())),
    ];
    let mut rows = Vec::new();
    for (name, p) in &problems {
        match bench(name, p.as_ref(), &a) {
            Ok(r) => rows.push(r),
            Err(e) => {
                eprintln!("{name}: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    if a.json {
        let out: Vec<serde_json::Value> = rows
            .iter()
            .map(|r| {
                serde_json::json!({
                    "problem": r.name, "seeds": a.seeds, "gens": a.gens, "pop": a.pop, "evaluations": r.evals,
                    "hv": r.hv, "hv_mean": mean(&r.hv), "hv_std": std(&r.hv),
                    "time_s": r.secs, "time_median_s": median(&r.secs),
                })
            })
            .collect();
        println!("{}", serde_json::Value::Array(out));
    } else {
        println!("NSGA-II, pop {}, {} generations, {} seeds, HV reference 1.1 per objective", a.pop, a.gens, a.seeds);
        println!(
            "{:<6} {:>7} {:>9} {:>8} {:>8} {:>8} {:>11} {:>11}",
            "", "evals", "HV mean", "HV std", "HV min", "HV max", "time med", "time range"
        );
        for r in &rows {
            let (lo, hi) = r.secs.iter().fold((f64::INFINITY, 0.0f64), |(l, h), &s| (l.min(s), h.max(s)));
            println!(
                "{:<6} {:>7} {:>9.4} {:>8.4} {:>8.4} {:>8.4} {:>8.1} ms {:>4.1}-{:.1} ms",
                r.name,
                r.evals,
                mean(&r.hv),
                std(&r.hv),
                r.hv.iter().cloned().fold(f64::INFINITY, f64::min),
                r.hv.iter().cloned().fold(0.0, f64::max),
                median(&r.secs) * 1e3,
                lo * 1e3,
                hi * 1e3
            );
        }
    }
    ExitCode::SUCCESS
}
