//! Survival: Pareto dominance, non-dominated sorting, crowding distance and NSGA-II's
//! rank-and-crowding survival with constraint handling (feasible first, then infeasible by
//! total violation), as pymoo's `RankAndCrowding`.

use std::cmp::Ordering;

use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::fser;

/// One member of a population: its genome, its evaluation and the survival's bookkeeping.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Individual {
    /// The genome (one value per variable, see [`crate::problem`]).
    pub x: Vec<f64>,
    /// Objective values (minimized; NaN from the problem is stored as +inf).
    #[serde(with = "fser::vec")]
    pub objectives: Vec<f64>,
    /// Constraint values as returned by the problem (NaN stored as +inf).
    #[serde(with = "fser::vec")]
    pub violations: Vec<f64>,
    /// Total constraint violation (`0` means feasible).
    #[serde(with = "fser::one")]
    pub cv: f64,
    /// Non-domination rank from the last survival (0 = best front among feasible ones;
    /// infeasible individuals rank after all feasible fronts, by violation).
    pub rank: usize,
    /// Crowding distance from the last survival (infinite at a front's extremes, 0 for
    /// infeasible individuals).
    #[serde(with = "fser::one")]
    pub crowding: f64,
}

impl Individual {
    /// Whether every constraint is satisfied.
    pub fn is_feasible(&self) -> bool {
        self.cv <= 0.0
    }
}

/// Pareto relation of `a` to `b` (minimization): `Greater` when `a` dominates `b`, `Less`
/// when `b` dominates `a`, `Equal` when neither does.
pub fn dominance(a: &[f64], b: &[f64]) -> Ordering {
    let (mut a_better, mut b_better) = (false, false);
    for (x, y) in a.iter().zip(b) {
        if x < y {
            a_better = true;
        } else if y < x {
            b_better = true;
        }
    }
    match (a_better, b_better) {
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        _ => Ordering::Equal,
    }
}

/// Whether `a` Pareto-dominates `b` (no worse in every objective, better in one).
pub fn dominates(a: &[f64], b: &[f64]) -> bool {
    dominance(a, b) == Ordering::Greater
}

/// Non-dominated sorting: the fronts as lists of indices into `points` (ascending within a
/// front). With `n_stop = Some(n)` only the fronts needed to rank at least `n` points are
/// returned. NaN counts as +inf and -0.0 as 0.0. Points are sorted lexicographically first (a
/// point can then only be dominated by earlier ones); two objectives use a binary search over
/// the fronts (O(n log n)), more objectives compare each point with the members of the fronts
/// in turn (ENS-SS, Zhang et al. 2015).
pub fn non_dominated_sort<T: AsRef<[f64]>>(points: &[T], n_stop: Option<usize>) -> Vec<Vec<usize>> {
    let n = points.len();
    let Some(obj) = Objectives::new(points) else {
        // Empty or ragged input: nothing dominates anything.
        return if n == 0 { Vec::new() } else { vec![(0..n).collect()] };
    };
    let mut fronts = obj.fronts();
    let n_stop = n_stop.unwrap_or(n).min(n);
    let mut ranked = 0;
    let mut keep = 0;
    while keep < fronts.len() && ranked < n_stop {
        ranked += fronts[keep].len();
        keep += 1;
    }
    fronts.truncate(keep.max(1));
    for f in &mut fronts {
        f.sort_unstable();
    }
    fronts
}

/// NSGA-II crowding distance of each point of one front, as pymoo's `calc_crowding_distance`
/// with `filter_out_duplicates=True` (older pymoo releases; 0.6.2's `cd` no longer filters): per
/// objective, the gap between the two neighbours normalized by the objective's range, averaged
/// over objectives; extremes get +inf; an exact duplicate of an earlier point gets 0 (so
/// different genomes with equal objectives, common in discrete spaces, are thinned first);
/// fronts of at most two points are all +inf.
pub fn crowding_distance<T: AsRef<[f64]>>(points: &[T]) -> Vec<f64> {
    let n = points.len();
    let Some(obj) = Objectives::new(points) else {
        return vec![f64::INFINITY; n];
    };
    let order = obj.lex_order((0..n).collect());
    let cd = obj.crowding(&order);
    let mut out = vec![0.0; n];
    for (pos, &i) in order.iter().enumerate() {
        out[i] = cd[pos];
    }
    out
}

/// Objective vectors as one row-major matrix (NaN as +inf, -0.0 as 0.0), shared by the sorting
/// and the crowding distance.
struct Objectives {
    flat: Vec<f64>,
    m: usize,
    n: usize,
}

impl Objectives {
    fn new<T: AsRef<[f64]>>(points: &[T]) -> Option<Self> {
        let n = points.len();
        let m = points.first()?.as_ref().len();
        if m == 0 || points.iter().any(|p| p.as_ref().len() != m) {
            return None;
        }
        let mut flat = Vec::with_capacity(n * m);
        for p in points {
            flat.extend(p.as_ref().iter().map(|&v| if v.is_nan() { f64::INFINITY } else { v + 0.0 }));
        }
        Some(Objectives { flat, m, n })
    }

    fn row(&self, i: usize) -> &[f64] {
        &self.flat[i * self.m..(i + 1) * self.m]
    }

    /// `ids` sorted lexicographically, ties by index.
    fn lex_order(&self, mut ids: Vec<usize>) -> Vec<usize> {
        if self.m == 2 {
            let f = &self.flat;
            ids.sort_unstable_by(|&a, &b| {
                f[2 * a].total_cmp(&f[2 * b]).then(f[2 * a + 1].total_cmp(&f[2 * b + 1])).then(a.cmp(&b))
            });
        } else {
            ids.sort_unstable_by(|&a, &b| lex_cmp(self.row(a), self.row(b)).then(a.cmp(&b)));
        }
        ids
    }

    /// All fronts, each in lexicographic order.
    fn fronts(&self) -> Vec<Vec<usize>> {
        let order = self.lex_order((0..self.n).collect());
        let mut fronts: Vec<Vec<usize>> = Vec::new();
        for &i in &order {
            let p = self.row(i);
            let k = if self.m == 2 {
                // Each front's last member has the front's smallest f2; p is dominated by front
                // k iff that member's f2 <= p's f2 and it is not an exact duplicate of p.
                // Monotone in k, hence the binary search.
                fronts.partition_point(|f| {
                    let q = self.row(f[f.len() - 1]);
                    q[1] <= p[1] && q != p
                })
            } else {
                // q precedes p lexicographically, so q dominates p iff q <= p everywhere and
                // q != p.
                let dominated_by = |f: &Vec<usize>| {
                    f.iter().rev().any(|&j| {
                        let q = self.row(j);
                        q.iter().zip(p).all(|(a, b)| a <= b) && q != p
                    })
                };
                fronts.iter().position(|f| !dominated_by(f)).unwrap_or(fronts.len())
            };
            if k == fronts.len() {
                fronts.push(vec![i]);
            } else {
                fronts[k].push(i);
            }
        }
        fronts
    }

    /// Crowding distances of `front` (in lexicographic order, as `fronts` and `lex_order`
    /// give it), by position.
    fn crowding(&self, front: &[usize]) -> Vec<f64> {
        let (n, m) = (front.len(), self.m);
        if n <= 2 {
            return vec![f64::INFINITY; n];
        }
        // Lexicographic order puts duplicates side by side; the first of each group (smallest
        // index) is kept, the others get 0 as in pymoo.
        let mut ids: Vec<usize> = Vec::with_capacity(n);
        for (pos, &i) in front.iter().enumerate() {
            if pos == 0 || self.row(front[pos - 1]) != self.row(i) {
                ids.push(pos);
            }
        }
        let u = ids.len();
        let mut cd = vec![0.0; n];
        let val = |pos: usize, k: usize| self.flat[front[pos] * m + k];
        // `ids` is already sorted by the first objective (ties by the other objectives).
        let mut sorted = ids.clone();
        for k in 0..m {
            if k > 0 {
                sorted.copy_from_slice(&ids);
                sorted.sort_unstable_by(|&a, &b| val(a, k).total_cmp(&val(b, k)).then(front[a].cmp(&front[b])));
            }
            let norm = val(sorted[u - 1], k) - val(sorted[0], k);
            if norm == 0.0 || norm.is_nan() {
                continue;
            }
            for j in 0..u {
                let v = val(sorted[j], k);
                let prev = if j == 0 { f64::NEG_INFINITY } else { val(sorted[j - 1], k) };
                let next = if j + 1 == u { f64::INFINITY } else { val(sorted[j + 1], k) };
                cd[sorted[j]] += nan_to_zero((v - prev) / norm) + nan_to_zero((next - v) / norm);
            }
        }
        for c in &mut cd {
            *c /= m as f64;
        }
        cd
    }
}

fn nan_to_zero(v: f64) -> f64 {
    if v.is_nan() {
        0.0
    } else {
        v
    }
}

fn lex_cmp(a: &[f64], b: &[f64]) -> Ordering {
    for (x, y) in a.iter().zip(b) {
        match x.total_cmp(y) {
            Ordering::Equal => {}
            o => return o,
        }
    }
    a.len().cmp(&b.len())
}

/// Indices `0..n` in random order (Fisher-Yates).
pub(crate) fn permutation<R: Rng + ?Sized>(n: usize, rng: &mut R) -> Vec<usize> {
    let mut p: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        let j = rng.random_range(0..=i);
        p.swap(i, j);
    }
    p
}

/// NSGA-II survival (pymoo's `RankAndCrowding` with `filter_infeasible`): feasible individuals
/// are sorted into fronts and taken front by front; the front that does not fit whole is cut by
/// descending crowding distance (ties broken at random); remaining places go to infeasible
/// individuals in ascending order of total violation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RankAndCrowding;

impl RankAndCrowding {
    /// Keeps `n_survive` individuals of `pop` (all of them if fewer), setting their `rank` and
    /// `crowding`; survivors come out front by front.
    pub fn survive<R: Rng + ?Sized>(&self, pop: Vec<Individual>, n_survive: usize, rng: &mut R) -> Vec<Individual> {
        let n_survive = n_survive.min(pop.len());
        let mut slots: Vec<Option<Individual>> = pop.into_iter().map(Some).collect();
        let feasible: Vec<usize> = (0..slots.len()).filter(|&i| slot(&slots, i).is_feasible()).collect();
        let mut infeasible: Vec<usize> = (0..slots.len()).filter(|&i| !slot(&slots, i).is_feasible()).collect();
        let mut survivors: Vec<usize> = Vec::with_capacity(n_survive);
        let mut n_fronts = 0;

        let target = n_survive.min(feasible.len());
        if target > 0 {
            let objs: Vec<&[f64]> = feasible.iter().map(|&i| slot(&slots, i).objectives.as_slice()).collect();
            let obj = Objectives::new(&objs);
            let fronts = match &obj {
                Some(o) => o.fronts(),
                None => vec![(0..feasible.len()).collect()],
            };
            for (k, front) in fronts.iter().enumerate() {
                if survivors.len() >= target {
                    break;
                }
                n_fronts = k + 1;
                let cd = match &obj {
                    Some(o) => o.crowding(front),
                    None => vec![f64::INFINITY; front.len()],
                };
                let mut order: Vec<usize> = (0..front.len()).collect();
                if survivors.len() + front.len() > target {
                    // Randomized descending argsort: shuffle, then stable sort.
                    order = permutation(front.len(), rng);
                    order.sort_by(|&a, &b| cd[b].total_cmp(&cd[a]));
                    order.truncate(target - survivors.len());
                }
                for (j, &f) in front.iter().enumerate() {
                    if let Some(ind) = slots[feasible[f]].as_mut() {
                        ind.rank = k;
                        ind.crowding = cd[j];
                    }
                }
                survivors.extend(order.iter().map(|&j| feasible[front[j]]));
            }
        }

        if survivors.len() < n_survive {
            infeasible.sort_unstable_by(|&a, &b| slot(&slots, a).cv.total_cmp(&slot(&slots, b).cv).then(a.cmp(&b)));
            infeasible.truncate(n_survive - survivors.len());
            let mut rank = n_fronts;
            let mut last_cv = None;
            for &i in &infeasible {
                if let Some(ind) = slots[i].as_mut() {
                    if let Some(prev) = last_cv {
                        if ind.cv > prev {
                            rank += 1;
                        }
                    }
                    last_cv = Some(ind.cv);
                    ind.rank = rank;
                    ind.crowding = 0.0;
                }
            }
            survivors.extend(infeasible);
        }
        survivors.into_iter().filter_map(|i| slots[i].take()).collect()
    }
}

fn slot(slots: &[Option<Individual>], i: usize) -> &Individual {
    slots[i].as_ref().expect("each index is taken once")
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn ind(objectives: Vec<f64>, cv: f64) -> Individual {
        Individual { x: objectives.clone(), objectives, violations: vec![cv], cv, rank: 0, crowding: 0.0 }
    }

    #[test]
    fn sorts_fronts() {
        let pts = vec![vec![1.0, 4.0], vec![2.0, 2.0], vec![4.0, 1.0], vec![3.0, 3.0], vec![5.0, 5.0], vec![2.0, 2.0]];
        let fronts = non_dominated_sort(&pts, None);
        assert_eq!(fronts, vec![vec![0, 1, 2, 5], vec![3], vec![4]]);
        assert_eq!(non_dominated_sort(&pts, Some(4)).len(), 1);
        assert!(dominates(&[1.0, 1.0], &[1.0, 2.0]));
        assert!(!dominates(&[1.0, 2.0], &[1.0, 2.0]));
    }

    #[test]
    fn sorting_matches_naive_definition() {
        use rand::Rng;
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        for m in [2usize, 3, 4] {
            for _ in 0..30 {
                // Coarse values give many ties and duplicates.
                let pts: Vec<Vec<f64>> =
                    (0..60).map(|_| (0..m).map(|_| rng.random_range(0..6) as f64).collect()).collect();
                // Naive: peel off the points no remaining point dominates.
                let mut left: Vec<usize> = (0..pts.len()).collect();
                let mut naive = Vec::new();
                while !left.is_empty() {
                    let front: Vec<usize> =
                        left.iter().copied().filter(|&i| !left.iter().any(|&j| dominates(&pts[j], &pts[i]))).collect();
                    left.retain(|i| !front.contains(i));
                    naive.push(front);
                }
                assert_eq!(non_dominated_sort(&pts, None), naive, "m = {m}");
            }
        }
    }

    #[test]
    fn crowding_matches_hand_values() {
        let pts = vec![vec![0.0, 4.0], vec![1.0, 2.0], vec![3.0, 1.0], vec![4.0, 0.0]];
        let cd = crowding_distance(&pts);
        assert!(cd[0].is_infinite() && cd[3].is_infinite());
        // point 1: (3-0)/4 + (4-1)/4 over 2 objectives
        assert!((cd[1] - (0.75 + 0.75) / 2.0).abs() < 1e-12);
        assert!((cd[2] - (0.75 + 0.5) / 2.0).abs() < 1e-12);
        // duplicates: the later copy gets zero
        let dup = vec![vec![0.0, 4.0], vec![1.0, 2.0], vec![1.0, 2.0], vec![4.0, 0.0]];
        let cd = crowding_distance(&dup);
        assert_eq!(cd[2], 0.0);
        assert!(cd[1] > 0.0);
    }

    #[test]
    fn feasible_beat_infeasible() {
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        // The infeasible ones have better objectives but must come last, ordered by violation.
        let pop = vec![
            ind(vec![0.0, 0.0], 2.0),
            ind(vec![5.0, 5.0], 0.0),
            ind(vec![0.1, 0.1], 1.0),
            ind(vec![4.0, 6.0], 0.0),
        ];
        let out = RankAndCrowding.survive(pop.clone(), 4, &mut rng);
        let cvs: Vec<f64> = out.iter().map(|i| i.cv).collect();
        assert_eq!(cvs, vec![0.0, 0.0, 1.0, 2.0]);
        assert!(out[2].rank > out[0].rank && out[3].rank > out[2].rank);
        let out = RankAndCrowding.survive(pop, 1, &mut rng);
        assert_eq!(out.len(), 1);
        assert!(out[0].is_feasible());
    }

    #[test]
    fn last_front_cut_by_crowding() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let pop: Vec<Individual> =
            [[0.0, 4.0], [1.0, 3.0], [1.1, 2.9], [3.0, 1.0], [4.0, 0.0]].iter().map(|p| ind(p.to_vec(), 0.0)).collect();
        let out = RankAndCrowding.survive(pop, 4, &mut rng);
        let kept: Vec<f64> = out.iter().map(|i| i.objectives[0]).collect();
        // The two extremes (inf) and the least crowded interior point survive; one of the
        // close pair (1.0 / 1.1) goes.
        assert!(kept.contains(&0.0) && kept.contains(&4.0) && kept.contains(&3.0));
        assert_eq!(kept.iter().filter(|&&v| v == 1.0 || v == 1.1).count(), 1);
    }
}
