//! Full-budget runs against pymoo 0.6.2's NSGA-II: population 100, 250 generations (25,000
//! evaluations), hypervolume of the final non-dominated set with reference point 1.1 per
//! objective: the mean over seeds 0..5 (the seeds of the example and of
//! benches/compare/pymoo_nsga2.py) lies within 0.5 % of pymoo's mean over seeds. One run's
//! standard deviation is about 0.05 % of the HV on the ZDTs but 0.6 % on DTLZ2 (pymoo's too),
//! hence a mean over five runs. Each run takes about 0.6 s in the debug profile.

use edgenas_search::problems::{Dtlz2, KnownFront, Zdt1, Zdt2, Zdt3};
use edgenas_search::{gd, hypervolume, run, Nsga2Config, Problem, Termination};

const SEEDS: [u64; 5] = [0, 1, 2, 3, 4];

fn final_hv(problem: &dyn Problem, seed: u64) -> (f64, Vec<Vec<f64>>) {
    let config = Nsga2Config { pop_size: 100, termination: Termination::generations(250), ..Nsga2Config::default() };
    let algo = run(problem, config, seed, |_| Ok(())).unwrap();
    assert_eq!(algo.evaluations(), 25_000);
    let front = algo.front_objectives();
    let hv = hypervolume(&front, &vec![1.1; problem.n_obj()]).unwrap();
    (hv, front)
}

fn check(name: &str, problem: &dyn Problem, pymoo_mean: f64) -> Vec<Vec<f64>> {
    let runs: Vec<(f64, Vec<Vec<f64>>)> = SEEDS.iter().map(|&s| final_hv(problem, s)).collect();
    let hv = runs.iter().map(|r| r.0).sum::<f64>() / runs.len() as f64;
    let front = runs[0].1.clone();
    let rel = (hv - pymoo_mean) / pymoo_mean;
    let each: Vec<String> = runs.iter().map(|r| format!("{:.5}", r.0)).collect();
    eprintln!("{name}: HV mean {hv:.5} ({}), pymoo mean {pymoo_mean}, {:+.3} %", each.join(", "), rel * 100.0);
    assert!(rel.abs() <= 0.005, "{name}: HV {hv} vs pymoo {pymoo_mean} ({:+.3} %)", rel * 100.0);
    front
}

#[test]
fn zdt1_matches_pymoo_and_converges() {
    let p = Zdt1::default();
    let front = check("zdt1", &p, 0.8698);
    // Close to the true front: mean distance to a dense sample of it.
    let d = gd(&front, &p.pareto_front(2000));
    assert!(d < 2e-3, "mean distance to the true front {d}");
    assert!(front.len() >= 95, "front of {} points", front.len());
}

#[test]
fn zdt2_matches_pymoo() {
    check("zdt2", &Zdt2::default(), 0.5363);
}

#[test]
fn zdt3_matches_pymoo() {
    let p = Zdt3::default();
    let front = check("zdt3", &p, 1.3276);
    assert!(gd(&front, &p.pareto_front(5000)) < 5e-3);
}

#[test]
fn dtlz2_matches_pymoo() {
    let p = Dtlz2::default();
    // pymoo's mean over its seeds 0..5 is 0.7055, but DTLZ2's spread is wide: over 30 seeds
    // pymoo gives 0.7025 +- 0.0070 (sd), edgenas-search over 100 seeds 0.7028 +- 0.0059. The
    // 30-seed mean is the reference here.
    let front = check("dtlz2", &p, 0.7025);
    // All points near the unit sphere.
    let worst = front.iter().map(|f| (f.iter().map(|v| v * v).sum::<f64>().sqrt() - 1.0).abs()).fold(0.0, f64::max);
    assert!(worst < 0.05, "farthest point {worst} from the sphere");
}
