//! Determinism, checkpoints and resume, termination, constraints, discrete variables, bad input.

use std::path::PathBuf;

use edgenas_search::problems::{Bnh, Zdt1};
use edgenas_search::{hypervolume, run, Evaluation, Nsga2, Nsga2Config, Problem, SearchError, Termination, Var};

fn config(gens: usize) -> Nsga2Config {
    Nsga2Config { termination: Termination::generations(gens), ..Nsga2Config::default() }
}

fn bits(algo: &Nsga2) -> Vec<Vec<u64>> {
    algo.population()
        .iter()
        .map(|i| {
            i.x.iter()
                .chain(&i.objectives)
                .chain([&i.cv, &i.crowding])
                .map(|v| v.to_bits())
                .chain([i.rank as u64])
                .collect()
        })
        .collect()
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("edgenas-search-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn same_seed_same_run_different_seed_different_run() {
    let p = Zdt1::default();
    let a = run(&p, config(30), 5, |_| Ok(())).unwrap();
    let b = run(&p, config(30), 5, |_| Ok(())).unwrap();
    let c = run(&p, config(30), 6, |_| Ok(())).unwrap();
    assert_eq!(bits(&a), bits(&b));
    assert_eq!(a.state(), b.state());
    assert_ne!(bits(&a), bits(&c));
}

#[test]
fn resume_from_checkpoint_gives_the_same_run() {
    let p = Zdt1::default();
    let dir = temp_dir("resume");
    let path = dir.join("run.json");
    let straight = run(&p, config(20), 11, |_| Ok(())).unwrap();

    // Run 10 generations, checkpointing after each one.
    let mut saved = 0;
    let first = run(&p, config(10), 11, |a| {
        saved += 1;
        a.save_checkpoint(&path)
    })
    .unwrap();
    assert_eq!(saved, 10);
    assert_eq!(first.generation(), 10);
    // No temporary file is left behind.
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);

    let mut resumed = Nsga2::load_checkpoint(&path, p.vars()).unwrap();
    assert_eq!(resumed.state(), first.state());
    // Extend the budget to 20 generations and continue.
    let mut state = resumed.state();
    state.config.termination = Termination::generations(20);
    resumed = Nsga2::from_state(state, p.vars()).unwrap();
    resumed.run_with(&p, |_| Ok(())).unwrap();
    assert_eq!(resumed.generation(), 20);
    assert_eq!(bits(&resumed), bits(&straight));
    assert_eq!(resumed.state(), straight.state());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn checkpoint_between_ask_and_tell_keeps_the_pending_genomes() {
    let p = Zdt1::default();
    let dir = temp_dir("pending");
    let path = dir.join("ckpt.json");
    let mut a = Nsga2::new(config(5), p.vars(), 3).unwrap();
    for _ in 0..2 {
        let xs = a.ask();
        a.tell(p.evaluate(&xs)).unwrap();
    }
    let xs = a.ask();
    assert_eq!(a.ask(), xs, "asking twice returns the same genomes");
    a.save_checkpoint(&path).unwrap();
    let mut b = Nsga2::load_checkpoint(&path, p.vars()).unwrap();
    assert_eq!(b.ask(), xs);
    a.tell(p.evaluate(&xs)).unwrap();
    b.tell(p.evaluate(&xs)).unwrap();
    assert_eq!(bits(&a), bits(&b));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn checkpoint_errors_name_the_file() {
    let dir = temp_dir("errors");
    let path = dir.join("zdt1-ckpt.json");
    let a = run(&Zdt1::default(), config(2), 1, |_| Ok(())).unwrap();
    a.save_checkpoint(&path).unwrap();

    // A problem of another size.
    let err = Nsga2::load_checkpoint(&path, Zdt1::new(12).vars()).unwrap_err();
    assert!(matches!(err, SearchError::Incompatible { .. }));
    let msg = err.to_string();
    assert!(msg.contains("zdt1-ckpt.json") && msg.contains("30 variables") && msg.contains("12"), "{msg}");
    // Same size, other bounds.
    let other = vec![Var::real(0.0, 2.0); 30];
    assert!(Nsga2::load_checkpoint(&path, &other).unwrap_err().to_string().contains("variable 0"));

    // Not JSON / wrong shape.
    let bad = dir.join("garbage.json");
    std::fs::write(&bad, b"{\"format\": 1").unwrap();
    let err = Nsga2::load_checkpoint(&bad, Zdt1::default().vars()).unwrap_err();
    assert!(matches!(err, SearchError::Format { .. }) && err.to_string().contains("garbage.json"), "{err}");

    // A tampered population (genome outside the bounds).
    let mut state = a.state();
    state.population[0].x[0] = 7.0;
    std::fs::write(&bad, serde_json::to_vec(&state).unwrap()).unwrap();
    let err = Nsga2::load_checkpoint(&bad, Zdt1::default().vars()).unwrap_err();
    assert!(err.to_string().contains("population member 0"), "{err}");

    // Missing file.
    let err = Nsga2::load_checkpoint(&dir.join("missing.json"), Zdt1::default().vars()).unwrap_err();
    assert!(matches!(err, SearchError::Io { .. }) && err.to_string().contains("missing.json"), "{err}");
    // Unwritable destination.
    let err = a.save_checkpoint(&dir.join("no-such-dir").join("x.json")).unwrap_err();
    assert!(matches!(err, SearchError::Io { .. }), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn non_finite_values_survive_a_checkpoint() {
    let vars = vec![Var::real(0.0, 1.0); 2];
    let mut a = Nsga2::new(config(3), &vars, 0).unwrap();
    let xs = a.ask();
    let evals = xs
        .iter()
        .enumerate()
        .map(|(i, x)| match i {
            0 => Evaluation::new(vec![f64::NAN, 1.0]),
            1 => Evaluation::new(vec![f64::INFINITY, f64::NEG_INFINITY]),
            _ => Evaluation::new(vec![x[0], x[1]]),
        })
        .collect();
    a.tell(evals).unwrap();
    let json = serde_json::to_string(&a.state()).unwrap();
    let back: edgenas_search::Nsga2State = serde_json::from_str(&json).unwrap();
    let b = Nsga2::from_state(back, &vars).unwrap();
    assert_eq!(bits(&a), bits(&b));
    // NaN objectives were stored as +inf.
    assert!(a.population().iter().all(|i| i.objectives.iter().all(|v| !v.is_nan())));
}

#[test]
fn evaluation_budget_is_exact() {
    let p = Zdt1::default();
    let cfg = Nsga2Config { termination: Termination::evaluations(1050), ..Nsga2Config::default() };
    let mut sizes = Vec::new();
    let a = run(&p, cfg, 0, |a| {
        sizes.push(a.evaluations());
        Ok(())
    })
    .unwrap();
    assert_eq!(a.evaluations(), 1050);
    assert_eq!(sizes.last(), Some(&1050));
    assert_eq!(sizes[sizes.len() - 2], 1000);
    assert_eq!(a.population().len(), 100);
}

#[test]
fn tell_rejects_bad_input_and_keeps_state() {
    let vars = vec![Var::real(0.0, 1.0), Var::int(0, 3)];
    let mut a = Nsga2::new(config(5), &vars, 0).unwrap();
    assert!(matches!(a.tell(vec![]), Err(SearchError::Tell(_))));
    let xs = a.ask();
    let good: Vec<Evaluation> = xs.iter().map(|x| Evaluation::new(vec![x[0], x[1]])).collect();
    assert!(a.tell(good[1..].to_vec()).is_err());
    let mut wrong = good.clone();
    wrong[3].objectives.push(1.0);
    let err = a.tell(wrong).unwrap_err();
    assert!(err.to_string().contains("evaluation 3"), "{err}");
    assert_eq!(a.pending().map(|p| p.len()), Some(xs.len()));
    a.tell(good).unwrap();
    assert_eq!(a.generation(), 1);
    // Later generations must keep the objective count.
    let xs = a.ask();
    assert!(a.tell(xs.iter().map(|x| Evaluation::new(vec![x[0]])).collect()).is_err());

    // Bad configurations and variables are errors, not panics.
    let bad = Nsga2Config { pop_size: 0, ..Nsga2Config::default() };
    assert!(matches!(Nsga2::new(bad, &vars, 0), Err(SearchError::Config(_))));
    let mut bad = Nsga2Config::default();
    bad.crossover.prob = 1.5;
    assert!(Nsga2::new(bad, &vars, 0).unwrap_err().to_string().contains("crossover.prob"));
    assert!(matches!(
        Nsga2::new(Nsga2Config::default(), &[Var::real(1.0, 0.0)], 0),
        Err(SearchError::Var { index: 0, .. })
    ));
    assert!(Nsga2::new(Nsga2Config::default(), &[Var::real(0.0, f64::INFINITY)], 0).is_err());
    assert!(Nsga2::new(Nsga2Config::default(), &[Var::choice(0)], 0).is_err());
    assert!(Nsga2::new(Nsga2Config::default(), &[], 0).is_err());
    let never = Nsga2Config { termination: Termination::never(), ..Nsga2Config::default() };
    assert!(run(&Zdt1::default(), never, 0, |_| Ok(())).is_err());
}

/// ZDT1 with the constraint f1 >= 0.6 (most random samples violate it at first).
struct ConstrainedZdt1(Zdt1);

impl Problem for ConstrainedZdt1 {
    fn vars(&self) -> &[Var] {
        self.0.vars()
    }
    fn n_obj(&self) -> usize {
        2
    }
    fn n_constr(&self) -> usize {
        1
    }
    fn evaluate(&self, xs: &[Vec<f64>]) -> Vec<Evaluation> {
        self.0
            .evaluate(xs)
            .into_iter()
            .zip(xs)
            .map(|(e, x)| Evaluation::constrained(e.objectives, vec![0.6 - x[0]]))
            .collect()
    }
}

#[test]
fn infeasible_solutions_rank_behind_feasible_ones() {
    let p = ConstrainedZdt1(Zdt1::default());
    let mut checked = 0;
    let a = run(&p, config(100), 4, |a| {
        let pop = a.population();
        // Feasible first; every infeasible member ranks behind every feasible one, ordered by
        // violation, whatever its objectives.
        let first_infeasible = pop.iter().position(|i| !i.is_feasible()).unwrap_or(pop.len());
        assert!(pop[first_infeasible..].iter().all(|i| !i.is_feasible()));
        let max_feasible_rank = pop[..first_infeasible].iter().map(|i| i.rank).max();
        for w in pop[first_infeasible..].windows(2) {
            assert!(w[0].cv <= w[1].cv);
        }
        if let Some(r) = max_feasible_rank {
            assert!(pop[first_infeasible..].iter().all(|i| i.rank > r));
            if first_infeasible < pop.len() {
                checked += 1;
            }
        }
        Ok(())
    })
    .unwrap();
    assert!(checked > 0, "some generation mixed feasible and infeasible members");
    let pop = a.population();
    assert!(pop.iter().all(|i| i.is_feasible()));
    assert!(a.front_objectives().iter().all(|f| f[0] >= 0.6));
}

#[test]
fn bnh_front_is_feasible_and_good() {
    let p = Bnh::default();
    let a = run(&p, config(100), 0, |_| Ok(())).unwrap();
    assert!(a.population().iter().all(|i| i.is_feasible()));
    // Reference (140, 50) after the usual normalisation-free evaluation; the true front's
    // hypervolume is about 5224 (sampled front of 10,000 points, see below).
    let front = a.front_objectives();
    let hv = hypervolume(&front, &[140.0, 50.0]).unwrap();
    let true_front: Vec<Vec<f64>> = (0..=10_000)
        .map(|k| {
            // Pareto set: x1 = x2 in [0, 3], then x2 = 3 and x1 in [3, 5].
            let t = 5.0 * k as f64 / 10_000.0;
            let (x1, x2) = if t <= 3.0 { (t, t) } else { (t, 3.0) };
            vec![4.0 * x1 * x1 + 4.0 * x2 * x2, (x1 - 5.0f64).powi(2) + (x2 - 5.0f64).powi(2)]
        })
        .collect();
    let best = hypervolume(&true_front, &[140.0, 50.0]).unwrap();
    assert!(hv > 0.99 * best, "HV {hv} vs true front {best}");
}

/// Bi-objective 0/1 knapsack (choice variables): minimise weight, maximise value.
struct Knapsack {
    vars: Vec<Var>,
    weight: Vec<u32>,
    value: Vec<u32>,
}

impl Knapsack {
    fn new(n: usize) -> Self {
        let weight = (0..n).map(|i| 1 + (i as u32 * 7) % 13).collect();
        let value = (0..n).map(|i| 1 + (i as u32 * 11 + 5) % 17).collect();
        Knapsack { vars: vec![Var::choice(2); n], weight, value }
    }

    /// The exact Pareto front by dynamic programming: best value for every total weight.
    fn exact_front(&self) -> Vec<Vec<f64>> {
        let total: usize = self.weight.iter().map(|&w| w as usize).sum();
        let mut best: Vec<Option<u32>> = vec![None; total + 1];
        best[0] = Some(0);
        for (w, v) in self.weight.iter().zip(&self.value) {
            for t in (*w as usize..=total).rev() {
                if let Some(b) = best[t - *w as usize] {
                    best[t] = Some(best[t].map_or(b + v, |c| c.max(b + v)));
                }
            }
        }
        let pts: Vec<Vec<f64>> =
            best.iter().enumerate().filter_map(|(t, b)| b.map(|b| vec![t as f64, -(b as f64)])).collect();
        edgenas_search::non_dominated_points(&pts)
    }
}

impl Problem for Knapsack {
    fn vars(&self) -> &[Var] {
        &self.vars
    }
    fn n_obj(&self) -> usize {
        2
    }
    fn evaluate(&self, xs: &[Vec<f64>]) -> Vec<Evaluation> {
        xs.iter()
            .map(|x| {
                let (mut w, mut v) = (0.0, 0.0);
                for (i, &b) in x.iter().enumerate() {
                    if b == 1.0 {
                        w += self.weight[i] as f64;
                        v += self.value[i] as f64;
                    }
                }
                Evaluation::new(vec![w, -v])
            })
            .collect()
    }
}

#[test]
fn discrete_knapsack_reaches_the_exact_front() {
    let p = Knapsack::new(30);
    let exact = p.exact_front();
    let total_w: f64 = p.weight.iter().map(|&w| w as f64).sum();
    let reference = [total_w + 1.0, 1.0];
    let best = hypervolume(&exact, &reference).unwrap();
    let a = run(&p, config(200), 8, |a| {
        for i in a.population() {
            assert!(i.x.iter().all(|&b| b == 0.0 || b == 1.0));
        }
        Ok(())
    })
    .unwrap();
    let hv = hypervolume(&a.front_objectives(), &reference).unwrap();
    assert!(hv > 0.995 * best, "HV {hv} vs exact {best}");
}

/// Integer, choice and real variables together; the ideal points are known.
struct Mixed {
    vars: Vec<Var>,
}

impl Problem for Mixed {
    fn vars(&self) -> &[Var] {
        &self.vars
    }
    fn n_obj(&self) -> usize {
        2
    }
    fn evaluate(&self, xs: &[Vec<f64>]) -> Vec<Evaluation> {
        xs.iter()
            .map(|x| {
                let (ints, rest) = x.split_at(5);
                let (choices, real) = rest.split_at(3);
                let f1 = ints.iter().map(|v| (v - 2.0).powi(2)).sum::<f64>()
                    + choices.iter().filter(|&&c| c != 1.0).count() as f64
                    + real[0] * real[0];
                let f2 = ints.iter().map(|v| (v + 2.0).powi(2)).sum::<f64>()
                    + choices.iter().filter(|&&c| c != 3.0).count() as f64
                    + (real[0] - 1.0).powi(2);
                Evaluation::new(vec![f1, f2])
            })
            .collect()
    }
}

#[test]
fn mixed_integer_choice_real_problem() {
    let mut vars = vec![Var::int(-5, 5); 5];
    vars.extend([Var::choice(4); 3]);
    vars.push(Var::real(-1.0, 2.0));
    let p = Mixed { vars };
    let a = run(&p, config(100), 1, |a| {
        for i in a.population() {
            assert!(i.x.iter().zip(a.vars()).all(|(v, var)| var.contains(*v)), "{:?}", i.x);
        }
        Ok(())
    })
    .unwrap();
    let front = a.front_objectives();
    // Near both extremes (f1 = 0: ints 2, choices 1, real 0; f2 = 0: ints -2, choices 3,
    // real 1), within one integer step.
    let min_f1 = front.iter().map(|f| f[0]).fold(f64::INFINITY, f64::min);
    let min_f2 = front.iter().map(|f| f[1]).fold(f64::INFINITY, f64::min);
    assert!(min_f1 <= 2.0 && min_f2 <= 2.0, "extremes {min_f1} {min_f2}");
    assert_eq!(front.len(), 100);
}

/// Integer variables only: x_i in 0..=9 (6 of them), f1 = sum x_i, f2 = sum (9 - x_i)^2. For
/// each total s the best f2 spreads 54 - s as evenly as possible, which gives the exact front.
struct Balance {
    vars: Vec<Var>,
}

impl Problem for Balance {
    fn vars(&self) -> &[Var] {
        &self.vars
    }
    fn n_obj(&self) -> usize {
        2
    }
    fn evaluate(&self, xs: &[Vec<f64>]) -> Vec<Evaluation> {
        xs.iter()
            .map(|x| Evaluation::new(vec![x.iter().sum(), x.iter().map(|v| (9.0 - v) * (9.0 - v)).sum()]))
            .collect()
    }
}

#[test]
fn integer_problem_reaches_the_exact_front() {
    let p = Balance { vars: vec![Var::int(0, 9); 6] };
    let exact: Vec<Vec<f64>> = (0..=54u32)
        .map(|s| {
            let t = 54 - s;
            let (q, r) = (t / 6, t % 6);
            vec![s as f64, (r * (q + 1) * (q + 1) + (6 - r) * q * q) as f64]
        })
        .collect();
    let reference = [55.0, 487.0];
    let best = hypervolume(&exact, &reference).unwrap();
    let a = run(&p, config(200), 2, |_| Ok(())).unwrap();
    let front = a.front_objectives();
    let hv = hypervolume(&front, &reference).unwrap();
    // Seeds 0..8 give 0.9968..0.9999 of the exact HV and 48..54 of the 55 points.
    assert!(hv >= 0.995 * best, "HV {hv} vs exact {best}");
    let hits = exact.iter().filter(|e| front.contains(e)).count();
    let missing: Vec<&Vec<f64>> = exact.iter().filter(|e| !front.contains(e)).collect();
    assert!(hits >= 45, "{hits} of 55 exact front points found, missing {missing:?}");
}

#[test]
fn tiny_discrete_space_stalls_instead_of_looping() {
    let vars = [Var::choice(3)];
    struct Tiny(Vec<Var>);
    impl Problem for Tiny {
        fn vars(&self) -> &[Var] {
            &self.0
        }
        fn n_obj(&self) -> usize {
            2
        }
        fn evaluate(&self, xs: &[Vec<f64>]) -> Vec<Evaluation> {
            xs.iter().map(|x| Evaluation::new(vec![x[0], -x[0]])).collect()
        }
    }
    let cfg = Nsga2Config { pop_size: 10, termination: Termination::evaluations(1_000_000), ..Nsga2Config::default() };
    let a = run(&Tiny(vars.to_vec()), cfg, 0, |_| Ok(())).unwrap();
    assert!(a.is_stalled() && a.is_done());
    assert_eq!(a.evaluations(), 3);
    assert_eq!(a.population().len(), 3);
}

/// ZDT1 genomes on its true front: x1 spread over [0, 1], every other variable 0.
fn zdt1_front_genomes(n: usize) -> Vec<Vec<f64>> {
    (0..n)
        .map(|i| {
            let mut x = vec![0.0; 30];
            x[0] = i as f64 / (n - 1) as f64;
            x
        })
        .collect()
}

#[test]
fn seeded_population_opens_the_run_and_warm_starts_it() {
    let p = Zdt1::default();
    let seeds = zdt1_front_genomes(10);
    let mut dup = seeds.clone();
    dup.push(seeds[3].clone());
    let start = |s: &[Vec<f64>]| {
        let mut a = Nsga2::new(config(5), p.vars(), 3).unwrap();
        a.seed_population(s).unwrap();
        a
    };
    // the seeds come first, in order, a duplicate seed is dropped, samples fill up the rest
    let mut a = start(&dup);
    let first = a.ask();
    assert_eq!(first.len(), 100);
    assert_eq!(&first[..10], &seeds[..]);
    assert!(first[10..].iter().all(|x| !seeds.contains(x)));
    // same seed and seeds, same run
    let mut b = start(&dup);
    assert_eq!(b.ask(), first);
    a.run_with(&p, |_| Ok(())).unwrap();
    b.run_with(&p, |_| Ok(())).unwrap();
    assert_eq!(bits(&a), bits(&b));
    // after 5 generations the warm start is far ahead of a cold one (which is still far
    // from ZDT1's front), and its front still holds true-front points
    let cold = run(&p, config(5), 3, |_| Ok(())).unwrap();
    let r = [1.1, 1.1];
    let hv = |x: &Nsga2| hypervolume(&x.front_objectives(), &r).unwrap();
    assert!(hv(&a) > 0.8 && hv(&a) > hv(&cold) + 0.2, "warm {} cold {}", hv(&a), hv(&cold));
    assert!(a.pareto_front().iter().any(|i| seeds.contains(&i.x)));
}

#[test]
fn seed_population_rejects_bad_genomes_and_late_calls() {
    let p = Zdt1::default();
    let fresh = || Nsga2::new(config(5), p.vars(), 3).unwrap();
    let err = |r: Result<(), SearchError>| match r {
        Err(SearchError::Config(m)) => m,
        other => panic!("expected a config error, got {other:?}"),
    };
    let mut out_of_bounds = zdt1_front_genomes(3);
    out_of_bounds[1][4] = 1.5;
    let m = err(fresh().seed_population(&out_of_bounds));
    assert!(m.contains("seed genome 1") && m.contains("variable 4"), "{m}");
    let m = err(fresh().seed_population(&[vec![0.5; 29]]));
    assert!(m.contains("29 values") && m.contains("30 variables"), "{m}");
    let m = err(fresh().seed_population(&zdt1_front_genomes(101)));
    assert!(m.contains("101 seed genomes"), "{m}");
    let mut started = fresh();
    started.ask();
    let m = err(started.seed_population(&zdt1_front_genomes(2)));
    assert!(m.contains("before the first ask"), "{m}");
}
