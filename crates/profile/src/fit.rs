//! The pure figures behind calibration and accuracy checks: no device, no I/O.

use crate::{now_utc, AccuracyReport, CheckRow};

/// Line `y = a x + b` minimising the squared *relative* error `((a x + b - y) / y)^2`, so a
/// 0.2 ms model counts as much as a 2 ms one; falls back to `a = 1, b = 0` on degenerate input.
pub fn fit_line(xs: &[f64], ys: &[f64]) -> (f64, f64) {
    if xs.len() < 2 || ys.iter().any(|&y| y <= 0.0) {
        return (1.0, 0.0);
    }
    let w: Vec<f64> = ys.iter().map(|y| 1.0 / (y * y)).collect();
    let sw: f64 = w.iter().sum();
    let mx = xs.iter().zip(&w).map(|(x, w)| w * x).sum::<f64>() / sw;
    let my = ys.iter().zip(&w).map(|(y, w)| w * y).sum::<f64>() / sw;
    let sxx: f64 = xs.iter().zip(&w).map(|(x, w)| w * (x - mx) * (x - mx)).sum();
    let sxy: f64 = xs.iter().zip(ys).zip(&w).map(|((x, y), w)| w * (x - mx) * (y - my)).sum();
    if sxx <= 0.0 {
        return (1.0, 0.0);
    }
    let a = sxy / sxx;
    (a, my - a * mx)
}

/// Kendall's tau-b between two equally long series.
pub fn kendall_tau(a: &[f64], b: &[f64]) -> f64 {
    let (mut conc, mut disc, mut ta, mut tb) = (0f64, 0f64, 0f64, 0f64);
    for i in 0..a.len() {
        for j in i + 1..a.len() {
            // f64::signum(0.0) is 1.0, so compare explicitly to see ties
            let sign = |d: f64| {
                if d > 0.0 {
                    1.0
                } else if d < 0.0 {
                    -1.0
                } else {
                    0.0
                }
            };
            let da = sign(a[i] - a[j]);
            let db = sign(b[i] - b[j]);
            if da == 0.0 && db == 0.0 {
                continue;
            } else if da == 0.0 {
                ta += 1.0;
            } else if db == 0.0 {
                tb += 1.0;
            } else if da == db {
                conc += 1.0;
            } else {
                disc += 1.0;
            }
        }
    }
    let denom = ((conc + disc + ta) * (conc + disc + tb)).sqrt();
    if denom == 0.0 {
        0.0
    } else {
        (conc - disc) / denom
    }
}

/// Accuracy figures of predicted vs measured rows.
pub fn accuracy(rows: Vec<CheckRow>) -> AccuracyReport {
    let n = rows.len().max(1) as f64;
    let err: Vec<f64> = rows.iter().map(|r| (r.predicted_ns - r.measured_ns).abs() / r.measured_ns).collect();
    let p: Vec<f64> = rows.iter().map(|r| r.predicted_ns).collect();
    let m: Vec<f64> = rows.iter().map(|r| r.measured_ns).collect();
    AccuracyReport {
        architectures: rows.len(),
        mape: 100.0 * err.iter().sum::<f64>() / n,
        within_5: err.iter().filter(|&&e| e <= 0.05).count() as f64 / n,
        within_10: err.iter().filter(|&&e| e <= 0.10).count() as f64 / n,
        kendall_tau: kendall_tau(&p, &m),
        date: now_utc(),
        rows,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Calibration;

    #[test]
    fn kendall_tau_known_values() {
        let a = [1.0, 2.0, 3.0, 4.0, 5.0];
        assert_eq!(kendall_tau(&a, &[10.0, 20.0, 30.0, 40.0, 50.0]), 1.0);
        assert_eq!(kendall_tau(&a, &[5.0, 4.0, 3.0, 2.0, 1.0]), -1.0);
        // one swapped pair out of 10: (9 - 1) / 10
        assert!((kendall_tau(&a, &[1.0, 2.0, 3.0, 5.0, 4.0]) - 0.8).abs() < 1e-12);
        // ties (tau-b): x = [1,1,2], y = [1,2,3]: 2 concordant, 1 tied in x -> 2 / sqrt(2 * 3)
        assert!((kendall_tau(&[1.0, 1.0, 2.0], &[1.0, 2.0, 3.0]) - 2.0 / 6f64.sqrt()).abs() < 1e-12);
    }

    #[test]
    fn accuracy_figures_known_values() {
        let row = |p: f64, m: f64| CheckRow { seed: 0, predicted_ns: p, measured_ns: m };
        let r = accuracy(vec![row(104.0, 100.0), row(92.0, 100.0), row(300.0, 200.0), row(400.0, 400.0)]);
        assert_eq!(r.architectures, 4);
        assert!((r.mape - (4.0 + 8.0 + 50.0 + 0.0) / 4.0).abs() < 1e-9);
        assert_eq!(r.within_5, 0.5);
        assert_eq!(r.within_10, 0.75);
        // 5 concordant pairs, one pair tied in measured: 5 / sqrt(6 * 5)
        assert!((r.kendall_tau - 5.0 / 30f64.sqrt()).abs() < 1e-12);
    }

    #[test]
    fn line_fit_recovers_a_line_and_survives_degenerate_input() {
        let xs = [1.0, 2.0, 3.0, 4.0];
        let ys: Vec<f64> = xs.iter().map(|x| 2.5 * x + 7.0).collect();
        let (a, b) = fit_line(&xs, &ys);
        assert!((a - 2.5).abs() < 1e-12 && (b - 7.0).abs() < 1e-12);
        assert_eq!(fit_line(&[1.0], &[3.0]), (1.0, 0.0));
        assert_eq!(fit_line(&[2.0, 2.0], &[3.0, 4.0]), (1.0, 0.0));
        // relative errors are what is fitted: one large model does not ruin the small ones
        // (ordinary least squares errs by 51 % on the smallest point here, this fit by < 20 %)
        let (xs, ys) = ([1.0, 2.0, 3.0, 100.0], [1.0, 2.0, 3.0, 150.0]);
        let (a, b) = fit_line(&xs, &ys);
        let worst = xs.iter().zip(&ys).map(|(x, y)| ((a * x + b - y) / y).abs()).fold(0.0, f64::max);
        assert!(worst < 0.2, "worst relative error {worst}");
    }

    #[test]
    fn calibration_removes_the_repeated_overhead() {
        let c = Calibration { overhead_ns: 10.0, scale: 2.0, offset_ns: 5.0, fitted_on: 3 };
        // 4 micro-models each held the overhead once; the whole model holds it once
        assert_eq!(c.apply(100.0, 4), 2.0 * (100.0 - 30.0) + 5.0);
    }
}
