//! Variation and selection operators, each a small serializable type with pymoo's defaults:
//! uniform sampling, binary tournament, SBX and uniform crossover, polynomial and random-reset
//! mutation, duplicate elimination. Real variables go through SBX and polynomial mutation,
//! integer and choice variables through uniform crossover and random-reset mutation; one genome
//! may mix both.

use std::cmp::Ordering;
use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hasher};

use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::problem::Var;
use crate::survival::{dominance, permutation, Individual};

/// Uniform random sampling within the bounds (pymoo's `FloatRandomSampling` for reals,
/// uniform integers for `Int` and `Choice`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Sampling;

impl Sampling {
    /// One random genome.
    pub fn sample<R: Rng + ?Sized>(&self, vars: &[Var], rng: &mut R) -> Vec<f64> {
        vars.iter().map(|v| sample_var(v, rng)).collect()
    }
}

fn sample_var<R: Rng + ?Sized>(var: &Var, rng: &mut R) -> f64 {
    match *var {
        Var::Real { lo, hi } => (lo + rng.random::<f64>() * (hi - lo)).clamp(lo, hi),
        Var::Int { lo, hi } => (lo + rng.random_range(0..=(hi - lo) as u64) as i64) as f64,
        Var::Choice { n } => rng.random_range(0..n as u64) as f64,
    }
}

/// How a binary tournament decides between two feasible individuals.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TournamentKind {
    /// Pareto dominance, then crowding distance (pymoo's NSGA-II default,
    /// `comp_by_dom_and_crowding`).
    #[default]
    DominanceAndCrowding,
    /// Non-domination rank, then crowding distance (`comp_by_rank_and_crowding`).
    RankAndCrowding,
}

/// Binary tournament selection as pymoo's NSGA-II: competitors are drawn from concatenated
/// random permutations of the population; if either is infeasible the smaller total violation
/// wins; otherwise dominance (or rank), then the larger crowding distance; remaining ties are
/// broken at random.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct BinaryTournament {
    /// Comparison used between two feasible individuals.
    pub kind: TournamentKind,
}

impl BinaryTournament {
    /// `n_select` winners (indices into `pop`, which must not be empty).
    pub fn select<R: Rng + ?Sized>(&self, pop: &[Individual], n_select: usize, rng: &mut R) -> Vec<usize> {
        let n = pop.len();
        if n == 0 {
            return Vec::new();
        }
        let n_random = n_select * 2;
        let mut draws = Vec::with_capacity(n_random + n);
        while draws.len() < n_random {
            draws.extend(permutation(n, rng));
        }
        draws.truncate(n_random);
        draws.chunks_exact(2).map(|p| self.compete(pop, p[0], p[1], rng)).collect()
    }

    fn compete<R: Rng + ?Sized>(&self, pop: &[Individual], a: usize, b: usize, rng: &mut R) -> usize {
        let (ia, ib) = (&pop[a], &pop[b]);
        if ia.cv > 0.0 || ib.cv > 0.0 {
            return pick(a, b, ib.cv.total_cmp(&ia.cv), rng);
        }
        let decided = match self.kind {
            TournamentKind::DominanceAndCrowding => dominance(&ia.objectives, &ib.objectives),
            TournamentKind::RankAndCrowding => ib.rank.cmp(&ia.rank),
        };
        match decided {
            Ordering::Greater => a,
            Ordering::Less => b,
            Ordering::Equal => pick(a, b, ia.crowding.total_cmp(&ib.crowding), rng),
        }
    }
}

/// A Bernoulli trial with probability `p` (resolution 2^-32; `p >= 1` always, `p <= 0` never),
/// from one 32-bit draw: half the generator output of comparing a uniform `f64`.
#[inline]
pub(crate) fn chance<R: Rng + ?Sized>(rng: &mut R, p: f64) -> bool {
    (rng.next_u32() as f64) < p * 4_294_967_296.0
}

/// `a` if `a_better` is Greater, `b` if Less, a coin flip if Equal.
fn pick<R: Rng + ?Sized>(a: usize, b: usize, a_better: Ordering, rng: &mut R) -> usize {
    match a_better {
        Ordering::Greater => a,
        Ordering::Less => b,
        Ordering::Equal => {
            if chance(rng, 0.5) {
                a
            } else {
                b
            }
        }
    }
}

/// Simulated binary crossover for real variables (pymoo's `SBX`: eta 15, each variable
/// crossed with probability 0.5, children exchanged with probability 0.5, variables whose
/// parents differ by at most 1e-14 left alone, results clamped to the bounds).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Sbx {
    /// Distribution index (larger: children closer to the parents).
    pub eta: f64,
    /// Probability that a variable takes part.
    pub prob_var: f64,
    /// Probability that the two children's values of a variable are swapped.
    pub prob_exchange: f64,
}

impl Default for Sbx {
    fn default() -> Self {
        Sbx { eta: 15.0, prob_var: 0.5, prob_exchange: 0.5 }
    }
}

impl Sbx {
    /// Crosses one real variable of two parents in place.
    pub fn cross_var<R: Rng + ?Sized>(&self, x1: &mut f64, x2: &mut f64, lo: f64, hi: f64, rng: &mut R) {
        if !chance(rng, self.prob_var) {
            return;
        }
        let (p1, p2) = (*x1, *x2);
        if (p1 - p2).abs() <= 1e-14 || lo == hi {
            return;
        }
        let (y1, y2) = if p1 < p2 { (p1, p2) } else { (p2, p1) };
        let delta = y2 - y1;
        let u: f64 = rng.random();
        let eta = self.eta;
        let betaq = |beta: f64| {
            let alpha = 2.0 - pow(beta, -(eta + 1.0));
            if u <= 1.0 / alpha {
                root(u * alpha, eta + 1.0)
            } else {
                root(1.0 / (2.0 - u * alpha), eta + 1.0)
            }
        };
        let c1 = 0.5 * ((y1 + y2) - betaq(1.0 + 2.0 * (y1 - lo) / delta) * delta);
        let c2 = 0.5 * ((y1 + y2) + betaq(1.0 + 2.0 * (hi - y2) / delta) * delta);
        // The child near each parent, then the optional exchange.
        let (mut k1, mut k2) = if p1 < p2 { (c1, c2) } else { (c2, c1) };
        if chance(rng, self.prob_exchange) {
            std::mem::swap(&mut k1, &mut k2);
        }
        *x1 = clamp_or(k1, lo, hi, p1);
        *x2 = clamp_or(k2, lo, hi, p2);
    }
}

/// `x^e`, by repeated squaring when `e` is a small integer (the default distribution indices
/// 15 and 20 give exponents 16 and 21): several times cheaper than `powf`.
#[inline]
fn pow(x: f64, e: f64) -> f64 {
    if e.fract() == 0.0 && e.abs() <= 64.0 {
        let mut n = e.abs() as u32;
        let (mut base, mut acc) = (x, 1.0);
        while n > 0 {
            if n & 1 == 1 {
                acc *= base;
            }
            base *= base;
            n >>= 1;
        }
        if e < 0.0 {
            1.0 / acc
        } else {
            acc
        }
    } else {
        x.powf(e)
    }
}

/// `x^(1/k)`, by repeated square roots when `k` is a power of two up to 64 (SBX's default
/// `eta + 1 = 16`), otherwise `powf`.
#[inline]
fn root(x: f64, k: f64) -> f64 {
    if k.fract() == 0.0 && (1.0..=64.0).contains(&k) && (k as u32).is_power_of_two() {
        let mut v = x;
        for _ in 0..(k as u32).trailing_zeros() {
            v = v.sqrt();
        }
        v
    } else {
        x.powf(1.0 / k)
    }
}

/// Clamps to `[lo, hi]`; a NaN (numerical breakdown) falls back to `fallback`.
fn clamp_or(v: f64, lo: f64, hi: f64, fallback: f64) -> f64 {
    if v.is_nan() {
        fallback
    } else {
        v.clamp(lo, hi)
    }
}

/// Uniform crossover for integer and choice variables: each variable's values are swapped
/// between the two children with probability `prob_swap`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct UniformCrossover {
    /// Probability that a variable is swapped.
    pub prob_swap: f64,
}

impl Default for UniformCrossover {
    fn default() -> Self {
        UniformCrossover { prob_swap: 0.5 }
    }
}

/// Crossover of a pair of parents: with probability `prob` the pair is recombined (SBX on
/// reals, uniform crossover on discrete variables), otherwise the children are copies.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Crossover {
    /// Probability that a mating recombines at all (pymoo: 0.9).
    pub prob: f64,
    /// Operator for real variables.
    pub sbx: Sbx,
    /// Operator for integer and choice variables.
    pub uniform: UniformCrossover,
}

impl Default for Crossover {
    fn default() -> Self {
        Crossover { prob: 0.9, sbx: Sbx::default(), uniform: UniformCrossover::default() }
    }
}

impl Crossover {
    /// Two children of two parents.
    pub fn mate<R: Rng + ?Sized>(&self, vars: &[Var], p1: &[f64], p2: &[f64], rng: &mut R) -> [Vec<f64>; 2] {
        let (mut c1, mut c2) = (p1.to_vec(), p2.to_vec());
        if chance(rng, self.prob) {
            for (j, var) in vars.iter().enumerate() {
                match *var {
                    Var::Real { lo, hi } => self.sbx.cross_var(&mut c1[j], &mut c2[j], lo, hi, rng),
                    _ => {
                        if chance(rng, self.uniform.prob_swap) {
                            std::mem::swap(&mut c1[j], &mut c2[j]);
                        }
                    }
                }
            }
        }
        [c1, c2]
    }
}

/// Polynomial mutation for real variables (pymoo's `PM`, eta 20).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct PolynomialMutation {
    /// Distribution index (larger: smaller steps).
    pub eta: f64,
}

impl Default for PolynomialMutation {
    fn default() -> Self {
        PolynomialMutation { eta: 20.0 }
    }
}

impl PolynomialMutation {
    /// The mutated value of `x` in `[lo, hi]`.
    pub fn mutate_var<R: Rng + ?Sized>(&self, x: f64, lo: f64, hi: f64, rng: &mut R) -> f64 {
        if lo == hi {
            return x;
        }
        let range = hi - lo;
        let (delta1, delta2) = ((x - lo) / range, (hi - x) / range);
        let u: f64 = rng.random();
        let deltaq = if u <= 0.5 {
            let val = 2.0 * u + (1.0 - 2.0 * u) * pow(1.0 - delta1, self.eta + 1.0);
            root(val, self.eta + 1.0) - 1.0
        } else {
            let val = 2.0 * (1.0 - u) + 2.0 * (u - 0.5) * pow(1.0 - delta2, self.eta + 1.0);
            1.0 - root(val, self.eta + 1.0)
        };
        clamp_or(x + deltaq * range, lo, hi, x)
    }
}

/// Random-reset mutation for integer and choice variables: the value is replaced by a
/// different value of the domain drawn uniformly (a domain of one value is left alone).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RandomResetMutation;

impl RandomResetMutation {
    /// The mutated value of `x` (a valid value of `var`).
    pub fn mutate_var<R: Rng + ?Sized>(&self, x: f64, var: &Var, rng: &mut R) -> f64 {
        let (lo, size) = match *var {
            Var::Int { lo, hi } => (lo, (hi - lo) as u64 + 1),
            Var::Choice { n } => (0, n as u64),
            Var::Real { .. } => return x,
        };
        if size < 2 {
            return x;
        }
        let current = (x as i64 - lo) as u64;
        let mut r = rng.random_range(0..size - 1);
        if r >= current {
            r += 1;
        }
        (lo + r as i64) as f64
    }
}

/// Mutation of one child: with probability `prob` the child is mutated at all (pymoo: 0.9),
/// then each variable with probability `prob_var` (default `min(0.5, 1 / n_var)`), reals by
/// polynomial mutation, discrete variables by random reset.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Mutation {
    /// Probability that a child is mutated at all.
    pub prob: f64,
    /// Per-variable probability; `None` means `min(0.5, 1 / n_var)`.
    pub prob_var: Option<f64>,
    /// Operator for real variables.
    pub polynomial: PolynomialMutation,
    /// Operator for integer and choice variables.
    pub reset: RandomResetMutation,
}

impl Default for Mutation {
    fn default() -> Self {
        Mutation { prob: 0.9, prob_var: None, polynomial: PolynomialMutation::default(), reset: RandomResetMutation }
    }
}

impl Mutation {
    /// The per-variable probability for `n_var` variables.
    pub fn prob_var(&self, n_var: usize) -> f64 {
        self.prob_var.unwrap_or_else(|| (1.0 / n_var.max(1) as f64).min(0.5))
    }

    /// Mutates one genome in place.
    pub fn mutate<R: Rng + ?Sized>(&self, vars: &[Var], x: &mut [f64], rng: &mut R) {
        if !chance(rng, self.prob) {
            return;
        }
        let pv = self.prob_var(vars.len());
        for (xj, var) in x.iter_mut().zip(vars) {
            if chance(rng, pv) {
                *xj = match *var {
                    Var::Real { lo, hi } => self.polynomial.mutate_var(*xj, lo, hi, rng),
                    _ => self.reset.mutate_var(*xj, var, rng),
                };
            }
        }
    }
}

/// Exact duplicate elimination over genomes (pymoo's default compares with a 1e-16 distance,
/// which for genomes within bounds is equality). Remembers a 64-bit hash of every genome it has
/// seen; a hash hit is confirmed by comparing with the genomes themselves, so a hash collision
/// never drops a new genome. The hash set is used for membership only, so its iteration order
/// never matters.
#[derive(Clone, Debug, Default)]
pub struct DuplicateElimination {
    seen: HashSet<u64, BuildHasherDefault<PassThrough>>,
}

impl DuplicateElimination {
    /// A filter that already knows `genomes` (e.g. the current population).
    pub fn with<'a>(genomes: impl IntoIterator<Item = &'a [f64]>) -> Self {
        let mut d = DuplicateElimination::default();
        for x in genomes {
            d.seen.insert(genome_hash(x));
        }
        d
    }

    /// Moves the genomes of `batch` that equal neither one of `known` nor a genome already in
    /// `accepted` into `accepted`, until `accepted` holds `limit` genomes. `known` and
    /// `accepted` must be what this filter has seen.
    pub fn extend_unique(
        &mut self,
        known: &[&[f64]],
        accepted: &mut Vec<Vec<f64>>,
        batch: Vec<Vec<f64>>,
        limit: usize,
    ) {
        for x in batch {
            if accepted.len() >= limit {
                break;
            }
            let new = self.seen.insert(genome_hash(&x))
                || !(known.iter().any(|k| same(k, &x)) || accepted.iter().any(|k| same(k, &x)));
            if new {
                accepted.push(x);
            }
        }
    }
}

fn same(a: &[f64], b: &[f64]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x == y)
}

/// FxHash-style mix of the genome's bits (-0.0 normalized to 0.0, matching `==`).
fn genome_hash(x: &[f64]) -> u64 {
    let mut h: u64 = x.len() as u64;
    for v in x {
        h = (h.rotate_left(5) ^ (v + 0.0).to_bits()).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
    h ^ (h >> 29)
}

/// A hasher for keys that are already hashes.
#[derive(Clone, Copy, Debug, Default)]
pub struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | b as u64;
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn operators_stay_in_bounds() {
        let vars = [Var::real(-1.0, 2.0), Var::int(-3, 4), Var::choice(3), Var::real(0.5, 0.5), Var::int(7, 7)];
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let cx = Crossover { prob: 1.0, ..Crossover::default() };
        let mt = Mutation { prob: 1.0, prob_var: Some(1.0), ..Mutation::default() };
        for _ in 0..2000 {
            let a = Sampling.sample(&vars, &mut rng);
            let b = Sampling.sample(&vars, &mut rng);
            let [mut c, mut d] = cx.mate(&vars, &a, &b, &mut rng);
            mt.mutate(&vars, &mut c, &mut rng);
            mt.mutate(&vars, &mut d, &mut rng);
            for x in [&a, &b, &c, &d] {
                for (v, var) in x.iter().zip(&vars) {
                    assert!(var.contains(*v), "{v} outside {var:?}");
                }
            }
        }
    }

    #[test]
    fn fast_powers_match_powf() {
        for x in [0.0, 1e-9, 0.3, 0.999, 1.0, 1.7, 40.0] {
            for e in [16.0, -16.0, 21.0, 2.5, -0.5, 0.0] {
                let (a, b) = (pow(x, e), x.powf(e));
                assert!(a == b || ((a - b) / b).abs() < 1e-13, "{x}^{e}: {a} vs {b}");
            }
            for k in [16.0, 21.0, 1.0, 2.0, 3.5] {
                let (a, b) = (root(x, k), x.powf(1.0 / k));
                assert!(a == b || ((a - b) / b).abs() < 1e-14, "{x}^(1/{k}): {a} vs {b}");
            }
        }
    }

    #[test]
    fn random_reset_always_changes() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let var = Var::choice(2);
        for _ in 0..100 {
            assert_eq!(RandomResetMutation.mutate_var(0.0, &var, &mut rng), 1.0);
        }
        let var = Var::int(-2, 2);
        let mut hits = [0; 5];
        for _ in 0..5000 {
            let v = RandomResetMutation.mutate_var(0.0, &var, &mut rng);
            assert_ne!(v, 0.0);
            hits[(v + 2.0) as usize] += 1;
        }
        assert!(hits.iter().enumerate().all(|(i, &h)| if i == 2 { h == 0 } else { h > 1000 }));
    }

    #[test]
    fn sbx_children_symmetric_around_parents() {
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let sbx = Sbx { prob_var: 1.0, ..Sbx::default() };
        let mut mean = 0.0;
        for _ in 0..10_000 {
            let (mut a, mut b) = (0.4, 0.6);
            sbx.cross_var(&mut a, &mut b, 0.0, 1.0, &mut rng);
            // SBX keeps the parents' mean when no bound is hit.
            assert!((a + b - 1.0).abs() < 1e-9 || a == 0.0 || b == 1.0 || a == 1.0 || b == 0.0);
            mean += a;
        }
        assert!((mean / 10_000.0 - 0.5).abs() < 0.01);
    }

    #[test]
    fn duplicates_detected() {
        let pop = [vec![1.0, 0.0]];
        let known: Vec<&[f64]> = pop.iter().map(|x| x.as_slice()).collect();
        let mut d = DuplicateElimination::with(known.iter().copied());
        let mut acc = Vec::new();
        let batch = vec![vec![1.0, -0.0], vec![1.0, 1.0], vec![1.0, 1.0], vec![2.0, 2.0], vec![3.0, 3.0]];
        d.extend_unique(&known, &mut acc, batch, 2);
        assert_eq!(acc, vec![vec![1.0, 1.0], vec![2.0, 2.0]]);
        // A forced hash collision is resolved by comparing the genomes.
        let mut d = DuplicateElimination::default();
        d.seen.insert(genome_hash(&[5.0]));
        let mut acc = Vec::new();
        d.extend_unique(&[], &mut acc, vec![vec![5.0]], 9);
        assert_eq!(acc, vec![vec![5.0]]);
    }
}
