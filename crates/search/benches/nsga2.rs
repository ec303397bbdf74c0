//! Speed of the search engine: one full NSGA-II run (population 100, 250 generations, 25,000
//! evaluations) on ZDT1 and DTLZ2, and exact hypervolume of a 100-point front in 2-D and 3-D.
//! `cargo bench -p edgenas-search --bench nsga2`; figures go to BENCHMARKS.md.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use edgenas_search::problems::{Dtlz2, KnownFront, Zdt1};
use edgenas_search::{hypervolume, run, Nsga2Config, Problem, Termination};

fn full_run(problem: &dyn Problem) -> usize {
    let config = Nsga2Config { termination: Termination::generations(250), ..Nsga2Config::default() };
    let algo = run(problem, config, 0, |_| Ok(())).expect("valid configuration");
    algo.population().len()
}

fn runs(c: &mut Criterion) {
    let mut g = c.benchmark_group("nsga2_250_generations");
    g.sample_size(10);
    let zdt1 = Zdt1::default();
    g.bench_function("zdt1", |b| b.iter(|| full_run(black_box(&zdt1))));
    let dtlz2 = Dtlz2::default();
    g.bench_function("dtlz2", |b| b.iter(|| full_run(black_box(&dtlz2))));
    g.finish();
}

fn indicators(c: &mut Criterion) {
    let front2 = Zdt1::default().pareto_front(100);
    // 105 Das-Dennis points on the sphere, cut to 100.
    let mut front3 = Dtlz2::default().pareto_front(105);
    front3.truncate(100);
    c.bench_function("hypervolume_2d_100", |b| b.iter(|| hypervolume(black_box(&front2), &[1.1, 1.1])));
    c.bench_function("hypervolume_3d_100", |b| b.iter(|| hypervolume(black_box(&front3), &[1.1, 1.1, 1.1])));
}

criterion_group!(benches, runs, indicators);
criterion_main!(benches);
