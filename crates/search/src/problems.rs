//! Standard test problems (as defined in pymoo): ZDT1, ZDT2, ZDT3 (30 real variables, 2
//! objectives), DTLZ2 (12 variables, 3 objectives) and the constrained BNH, with points on
//! their true Pareto fronts.

use std::f64::consts::PI;

use crate::problem::{Evaluation, Problem, Var};

/// A problem whose Pareto front is known.
pub trait KnownFront {
    /// About `n_points` points on the true Pareto front (objective space).
    fn pareto_front(&self, n_points: usize) -> Vec<Vec<f64>>;
}

fn zdt_g(x: &[f64]) -> f64 {
    let n = x.len();
    if n < 2 {
        return 1.0;
    }
    1.0 + 9.0 / (n - 1) as f64 * x[1..].iter().sum::<f64>()
}

fn zdt_front(n_points: usize, h: impl Fn(f64) -> f64) -> Vec<Vec<f64>> {
    let n = n_points.max(2);
    (0..n)
        .map(|i| {
            let f1 = i as f64 / (n - 1) as f64;
            vec![f1, h(f1)]
        })
        .collect()
}

macro_rules! zdt {
    ($name:ident, $doc:literal, $f2:expr, $front:expr) => {
        #[doc = $doc]
        #[derive(Clone, Debug, PartialEq)]
        pub struct $name {
            vars: Vec<Var>,
        }

        impl $name {
            /// The problem with `n_var` variables in `[0, 1]` (the standard is 30).
            pub fn new(n_var: usize) -> Self {
                $name { vars: vec![Var::real(0.0, 1.0); n_var.max(1)] }
            }
        }

        impl Default for $name {
            fn default() -> Self {
                $name::new(30)
            }
        }

        impl Problem for $name {
            fn vars(&self) -> &[Var] {
                &self.vars
            }
            fn n_obj(&self) -> usize {
                2
            }
            fn evaluate(&self, xs: &[Vec<f64>]) -> Vec<Evaluation> {
                xs.iter()
                    .map(|x| {
                        let f1 = x[0];
                        let g = zdt_g(x);
                        let f2: fn(f64, f64) -> f64 = $f2;
                        Evaluation::new(vec![f1, f2(f1, g)])
                    })
                    .collect()
            }
        }

        impl KnownFront for $name {
            fn pareto_front(&self, n_points: usize) -> Vec<Vec<f64>> {
                let front: fn(usize) -> Vec<Vec<f64>> = $front;
                front(n_points)
            }
        }
    };
}

zdt!(Zdt1, "ZDT1: convex front `f2 = 1 - sqrt(f1)`.", |f1, g| g * (1.0 - (f1 / g).sqrt()), |n| zdt_front(n, |f1| 1.0
    - f1.sqrt()));
zdt!(Zdt2, "ZDT2: concave front `f2 = 1 - f1^2`.", |f1, g| g * (1.0 - (f1 / g).powi(2)), |n| zdt_front(n, |f1| 1.0
    - f1 * f1));
zdt!(
    Zdt3,
    "ZDT3: disconnected front `f2 = 1 - sqrt(f1) - f1 sin(10 pi f1)` on five intervals of f1.",
    |f1, g| g * (1.0 - (f1 / g).sqrt() - f1 / g * (10.0 * PI * f1).sin()),
    zdt3_front
);

/// The f1 intervals of ZDT3's Pareto front (pymoo's values).
pub const ZDT3_REGIONS: [[f64; 2]; 5] = [
    [0.0, 0.0830015349],
    [0.182228780, 0.2577623634],
    [0.4093136748, 0.4538821041],
    [0.6183967944, 0.6525117038],
    [0.8233317983, 0.8518328654],
];

fn zdt3_front(n_points: usize) -> Vec<Vec<f64>> {
    let total: f64 = ZDT3_REGIONS.iter().map(|r| r[1] - r[0]).sum();
    let mut out = Vec::new();
    for r in ZDT3_REGIONS {
        let k = ((n_points as f64 * (r[1] - r[0]) / total).round() as usize).max(2);
        for i in 0..k {
            let f1 = r[0] + (r[1] - r[0]) * i as f64 / (k - 1) as f64;
            out.push(vec![f1, 1.0 - f1.sqrt() - f1 * (10.0 * PI * f1).sin()]);
        }
    }
    out
}

/// DTLZ2 with `n_obj` objectives: the front is the positive orthant of the unit sphere.
#[derive(Clone, Debug, PartialEq)]
pub struct Dtlz2 {
    vars: Vec<Var>,
    n_obj: usize,
}

impl Dtlz2 {
    /// `n_var` variables in `[0, 1]`, `n_obj` objectives (the standard is 12 and 3); at least
    /// `n_obj` variables and 2 objectives.
    pub fn new(n_var: usize, n_obj: usize) -> Self {
        let n_obj = n_obj.max(2);
        Dtlz2 { vars: vec![Var::real(0.0, 1.0); n_var.max(n_obj)], n_obj }
    }
}

impl Default for Dtlz2 {
    fn default() -> Self {
        Dtlz2::new(12, 3)
    }
}

impl Problem for Dtlz2 {
    fn vars(&self) -> &[Var] {
        &self.vars
    }
    fn n_obj(&self) -> usize {
        self.n_obj
    }
    fn evaluate(&self, xs: &[Vec<f64>]) -> Vec<Evaluation> {
        let m = self.n_obj;
        xs.iter()
            .map(|x| {
                let g: f64 = x[m - 1..].iter().map(|v| (v - 0.5) * (v - 0.5)).sum();
                let f = (0..m)
                    .map(|i| {
                        // f_i = (1 + g) * prod_{j < m-1-i} cos(x_j pi/2) * [sin(x_{m-1-i} pi/2) if i > 0]
                        let mut v = 1.0 + g;
                        for xj in &x[..m - 1 - i] {
                            v *= (xj * PI / 2.0).cos();
                        }
                        if i > 0 {
                            v *= (x[m - 1 - i] * PI / 2.0).sin();
                        }
                        v
                    })
                    .collect();
                Evaluation::new(f)
            })
            .collect()
    }
}

impl KnownFront for Dtlz2 {
    /// Das-Dennis reference directions (the largest grid with at most `n_points` points)
    /// projected onto the unit sphere.
    fn pareto_front(&self, n_points: usize) -> Vec<Vec<f64>> {
        let m = self.n_obj;
        let mut h = 1;
        while binom(h + 1 + m - 1, m - 1) <= n_points.max(m) {
            h += 1;
        }
        let mut out = Vec::new();
        das_dennis(m, h, &mut Vec::new(), h, &mut out);
        for p in &mut out {
            let norm = p.iter().map(|v| v * v).sum::<f64>().sqrt();
            p.iter_mut().for_each(|v| *v /= norm);
        }
        out
    }
}

fn binom(n: usize, k: usize) -> usize {
    (0..k).fold(1usize, |acc, i| acc.saturating_mul(n - i) / (i + 1))
}

fn das_dennis(m: usize, h: usize, prefix: &mut Vec<f64>, left: usize, out: &mut Vec<Vec<f64>>) {
    if prefix.len() == m - 1 {
        let mut p = prefix.clone();
        p.push(left as f64 / h as f64);
        out.push(p);
        return;
    }
    for k in 0..=left {
        prefix.push(k as f64 / h as f64);
        das_dennis(m, h, prefix, left - k, out);
        prefix.pop();
    }
}

/// BNH (Binh and Korn): 2 real variables, 2 objectives, 2 constraints; the standard small
/// constrained benchmark.
#[derive(Clone, Debug, PartialEq)]
pub struct Bnh {
    vars: Vec<Var>,
}

impl Default for Bnh {
    fn default() -> Self {
        Bnh { vars: vec![Var::real(0.0, 5.0), Var::real(0.0, 3.0)] }
    }
}

impl Problem for Bnh {
    fn vars(&self) -> &[Var] {
        &self.vars
    }
    fn n_obj(&self) -> usize {
        2
    }
    fn n_constr(&self) -> usize {
        2
    }
    fn evaluate(&self, xs: &[Vec<f64>]) -> Vec<Evaluation> {
        xs.iter()
            .map(|x| {
                let (a, b) = (x[0], x[1]);
                let f1 = 4.0 * a * a + 4.0 * b * b;
                let f2 = (a - 5.0).powi(2) + (b - 5.0).powi(2);
                let g1 = (a - 5.0).powi(2) + b * b - 25.0;
                let g2 = 7.7 - (a - 8.0).powi(2) - (b + 3.0).powi(2);
                Evaluation::constrained(vec![f1, f2], vec![g1, g2])
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fronts_are_attained() {
        // x = (f1, 0, ..., 0) lies on the ZDT fronts.
        let x: Vec<f64> = [0.25].into_iter().chain(std::iter::repeat_n(0.0, 29)).collect();
        let e = Zdt1::default().evaluate(std::slice::from_ref(&x));
        assert!((e[0].objectives[1] - 0.5).abs() < 1e-12);
        let e = Zdt2::default().evaluate(std::slice::from_ref(&x));
        assert!((e[0].objectives[1] - (1.0 - 0.0625)).abs() < 1e-12);
        let e = Zdt3::default().evaluate(&[x]);
        assert!((e[0].objectives[1] - (0.5 - 0.25 * (2.5 * PI).sin())).abs() < 1e-12);
        // DTLZ2 with the distance variables at 0.5 lies on the unit sphere.
        let x: Vec<f64> = [0.3, 0.7].into_iter().chain(std::iter::repeat_n(0.5, 10)).collect();
        let f = &Dtlz2::default().evaluate(&[x])[0].objectives;
        assert!((f.iter().map(|v| v * v).sum::<f64>() - 1.0).abs() < 1e-12);
        let front = Dtlz2::default().pareto_front(100);
        assert_eq!(front.len(), 91); // h = 12
        assert!(front.iter().all(|p| (p.iter().map(|v| v * v).sum::<f64>() - 1.0).abs() < 1e-12));
        assert!(Zdt3::default().pareto_front(100).len() >= 90);
    }
}
