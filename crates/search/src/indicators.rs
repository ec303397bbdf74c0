//! Quality indicators: non-dominated filtering, exact hypervolume (sweep in 2-D, slicing with
//! an incrementally maintained 2-D front in 3-D, recursive slicing beyond), generational
//! distance and inverted generational distance. Everything is minimized.

use std::cmp::Ordering;

use crate::error::SearchError;
use crate::survival::dominates;

/// Indices of the points no other point dominates (duplicates are all kept), ascending.
pub fn non_dominated<T: AsRef<[f64]>>(points: &[T]) -> Vec<usize> {
    (0..points.len()).filter(|&i| !points.iter().any(|q| dominates(q.as_ref(), points[i].as_ref()))).collect()
}

/// The non-dominated points themselves.
pub fn non_dominated_points<T: AsRef<[f64]>>(points: &[T]) -> Vec<Vec<f64>> {
    non_dominated(points).into_iter().map(|i| points[i].as_ref().to_vec()).collect()
}

/// Exact hypervolume dominated by `points` and bounded by `reference` (minimization). Points
/// that do not strictly dominate the reference point in every objective contribute nothing and
/// are ignored. Exact for any dimension; 2-D is O(n log n), 3-D O(n^2), higher dimensions slice
/// recursively (fine for fronts of a few hundred points in 4-D).
pub fn hypervolume<T: AsRef<[f64]>>(points: &[T], reference: &[f64]) -> Result<f64, SearchError> {
    let d = reference.len();
    if d == 0 {
        return Err(SearchError::Indicator("the reference point is empty".into()));
    }
    if let Some(p) = points.iter().find(|p| p.as_ref().len() != d) {
        return Err(SearchError::Indicator(format!(
            "a point has {} objectives, the reference point {d}",
            p.as_ref().len()
        )));
    }
    if reference.iter().any(|r| r.is_nan()) {
        return Err(SearchError::Indicator("the reference point contains NaN".into()));
    }
    let inside: Vec<&[f64]> =
        points.iter().map(|p| p.as_ref()).filter(|p| p.iter().zip(reference).all(|(x, r)| x < r)).collect();
    Ok(hv_rec(inside, reference))
}

fn hv_rec(mut pts: Vec<&[f64]>, r: &[f64]) -> f64 {
    let d = r.len();
    match d {
        1 => pts.iter().map(|p| r[0] - p[0]).fold(0.0, f64::max),
        2 => hv2(&mut pts, r),
        3 => hv3(&mut pts, r),
        _ => {
            // Slice along the last objective: between consecutive values the cross-section is
            // the (d-1)-D hypervolume of the points seen so far.
            pts.sort_by(|a, b| a[d - 1].total_cmp(&b[d - 1]));
            let mut vol = 0.0;
            let mut prefix: Vec<&[f64]> = Vec::new();
            for i in 0..pts.len() {
                prefix.push(&pts[i][..d - 1]);
                let next = if i + 1 < pts.len() { pts[i + 1][d - 1] } else { r[d - 1] };
                let thickness = next - pts[i][d - 1];
                if thickness > 0.0 {
                    let nd: Vec<&[f64]> = non_dominated(&prefix).into_iter().map(|k| prefix[k]).collect();
                    prefix = nd.clone();
                    vol += hv_rec(nd, &r[..d - 1]) * thickness;
                }
            }
            vol
        }
    }
}

fn hv2(pts: &mut [&[f64]], r: &[f64]) -> f64 {
    pts.sort_by(|a, b| a[0].total_cmp(&b[0]).then(a[1].total_cmp(&b[1])));
    let mut area = 0.0;
    let mut best_y = r[1];
    for p in pts.iter() {
        if p[1] < best_y {
            area += (r[0] - p[0]) * (best_y - p[1]);
            best_y = p[1];
        }
    }
    area
}

fn hv3(pts: &mut [&[f64]], r: &[f64]) -> f64 {
    pts.sort_by(|a, b| a[2].total_cmp(&b[2]));
    // The 2-D front of the points below the current slice: x ascending, y strictly descending.
    let mut front: Vec<(f64, f64)> = Vec::with_capacity(pts.len());
    let mut vol = 0.0;
    for i in 0..pts.len() {
        let (x, y) = (pts[i][0], pts[i][1]);
        let pos = front.partition_point(|&(fx, _)| fx < x);
        let dominated =
            (pos > 0 && front[pos - 1].1 <= y) || (pos < front.len() && front[pos].0 == x && front[pos].1 <= y);
        if !dominated {
            let end = pos + front[pos..].iter().take_while(|&&(_, fy)| fy >= y).count();
            front.splice(pos..end, [(x, y)]);
        }
        let next = if i + 1 < pts.len() { pts[i + 1][2] } else { r[2] };
        let thickness = next - pts[i][2];
        if thickness > 0.0 {
            vol += area2(&front, r) * thickness;
        }
    }
    vol
}

fn area2(front: &[(f64, f64)], r: &[f64]) -> f64 {
    let mut area = 0.0;
    for (k, &(x, y)) in front.iter().enumerate() {
        let next_x = front.get(k + 1).map_or(r[0], |p| p.0);
        area += (next_x - x) * (r[1] - y);
    }
    area
}

fn distance(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum::<f64>().sqrt()
}

fn mean_min_distance<A: AsRef<[f64]>, B: AsRef<[f64]>>(from: &[A], to: &[B]) -> f64 {
    if from.is_empty() || to.is_empty() {
        return f64::INFINITY;
    }
    let total: f64 = from
        .iter()
        .map(|a| {
            to.iter()
                .map(|b| distance(a.as_ref(), b.as_ref()))
                .min_by(|x, y| x.partial_cmp(y).unwrap_or(Ordering::Equal))
                .unwrap_or(f64::INFINITY)
        })
        .sum();
    total / from.len() as f64
}

/// Generational distance: mean Euclidean distance from each of `points` to the nearest point
/// of `reference_front` (+inf if either is empty).
pub fn gd<A: AsRef<[f64]>, B: AsRef<[f64]>>(points: &[A], reference_front: &[B]) -> f64 {
    mean_min_distance(points, reference_front)
}

/// Inverted generational distance: mean distance from each point of `reference_front` to the
/// nearest of `points` (+inf if either is empty).
pub fn igd<A: AsRef<[f64]>, B: AsRef<[f64]>>(points: &[A], reference_front: &[B]) -> f64 {
    mean_min_distance(reference_front, points)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn hv(points: &[Vec<f64>], r: &[f64]) -> f64 {
        hypervolume(points, r).unwrap()
    }

    #[test]
    fn hand_computed_2d() {
        let pts = vec![vec![1.0, 3.0], vec![2.0, 2.0], vec![3.0, 1.0]];
        assert_eq!(hv(&pts, &[4.0, 4.0]), 6.0);
        // Dominated, duplicate and outside points change nothing.
        let mut more = pts.clone();
        more.extend([vec![3.0, 3.0], vec![2.0, 2.0], vec![5.0, 0.0], vec![0.0, 4.0]]);
        assert_eq!(hv(&more, &[4.0, 4.0]), 6.0);
        assert_eq!(hv(&[vec![5.0, 5.0]], &[4.0, 4.0]), 0.0);
        assert_eq!(hv(&[], &[4.0, 4.0]), 0.0);
        // ZDT1-like front x, 1 - x at three points, reference 1.1.
        let pts = vec![vec![0.0, 1.0], vec![0.5, 0.5], vec![1.0, 0.0]];
        let expect = 1.1 * 0.1 + 0.6 * 0.5 + 0.1 * 0.5;
        assert!((hv(&pts, &[1.1, 1.1]) - expect).abs() < 1e-12);
    }

    #[test]
    fn hand_computed_3d_and_beyond() {
        assert_eq!(hv(&[vec![0.0, 0.0, 0.0]], &[1.0, 2.0, 3.0]), 6.0);
        // Two boxes 2x2x1 and 1x1x2 overlapping in a unit cube: 4 + 2 - 1.
        let pts = vec![vec![0.0, 0.0, 1.0], vec![1.0, 1.0, 0.0]];
        assert_eq!(hv(&pts, &[2.0, 2.0, 2.0]), 5.0);
        let mut more = pts.clone();
        more.extend([vec![1.0, 1.0, 1.0], vec![0.0, 0.0, 2.0], vec![1.0, 1.0, 0.0]]);
        assert_eq!(hv(&more, &[2.0, 2.0, 2.0]), 5.0);
        // The 4-D recursion on a 3-D set lifted by a constant last objective.
        let lifted: Vec<Vec<f64>> = pts.iter().map(|p| [p.as_slice(), &[0.0]].concat()).collect();
        assert_eq!(hv(&lifted, &[2.0, 2.0, 2.0, 3.0]), 15.0);
        assert_eq!(hv(&[vec![1.0]], &[3.0]), 2.0);
        assert!(hypervolume(&[vec![1.0, 2.0]], &[3.0, 3.0, 3.0]).is_err());
    }

    fn random_front(d: usize, n: usize, rng: &mut ChaCha8Rng) -> Vec<Vec<f64>> {
        // Points on the unit sphere's positive orthant, plus some dominated ones.
        (0..n)
            .map(|_| {
                let v: Vec<f64> = (0..d).map(|_| rng.random::<f64>() + 1e-3).collect();
                let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
                let scale = if rng.random::<f64>() < 0.2 { 1.2 } else { 1.0 };
                v.iter().map(|x| scale * x / norm).collect()
            })
            .collect()
    }

    #[test]
    fn monte_carlo_agrees() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        for d in [2usize, 3, 4] {
            let pts = random_front(d, 40, &mut rng);
            let r = vec![1.1; d];
            let exact = hv(&pts, &r);
            let samples = 200_000;
            let mut hits = 0usize;
            for _ in 0..samples {
                let s: Vec<f64> = (0..d).map(|k| rng.random::<f64>() * r[k]).collect();
                if pts.iter().any(|p| p.iter().zip(&s).all(|(a, b)| a <= b)) {
                    hits += 1;
                }
            }
            let box_vol: f64 = r.iter().product();
            let p = hits as f64 / samples as f64;
            let est = p * box_vol;
            let sigma = (p * (1.0 - p) / samples as f64).sqrt() * box_vol;
            assert!((est - exact).abs() < 4.0 * sigma + 1e-9, "d={d}: exact {exact}, monte carlo {est} +- {sigma}");
        }
    }

    #[test]
    fn slicing_matches_recursion_in_3d() {
        // The incremental 3-D routine against the general recursion (via a 4-D lift).
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let pts = random_front(3, 100, &mut rng);
        let r = [1.1, 1.1, 1.1];
        let lifted: Vec<Vec<f64>> = pts.iter().map(|p| [p.as_slice(), &[0.0]].concat()).collect();
        let a = hv(&pts, &r);
        let b = hv(&lifted, &[1.1, 1.1, 1.1, 1.0]);
        assert!((a - b).abs() < 1e-12, "{a} vs {b}");
    }

    #[test]
    fn filters_and_distances() {
        let pts = vec![vec![1.0, 3.0], vec![2.0, 2.0], vec![3.0, 3.0], vec![2.0, 2.0]];
        assert_eq!(non_dominated(&pts), vec![0, 1, 3]);
        let front = vec![vec![0.0, 0.0]];
        assert_eq!(gd(&[vec![3.0, 4.0]], &front), 5.0);
        assert_eq!(igd(&[vec![3.0, 4.0], vec![0.0, 1.0]], &front), 1.0);
    }
}
