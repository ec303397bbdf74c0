//! Paired comparison of two classifiers on the same test images: which images only one of
//! them gets right, and McNemar's exact test of whether that split could be chance.
//!
//! Two models scored on one test set are not independent samples: most images are right (or
//! wrong) for both, and only the discordant ones say anything about which is better. With
//! 10,000 images a difference of a few tenths of a point is usually within that noise; the
//! p-value tells the caller how often a split this uneven happens when both are equally good.

/// Gaps with a McNemar p-value under this are called significant.
pub const SIGNIFICANCE: f64 = 0.05;

/// The outcome of comparing classifier A with classifier B image by image.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Paired {
    /// Images that only A classifies correctly.
    pub only_a: usize,
    /// Images that only B classifies correctly.
    pub only_b: usize,
    /// Images compared.
    pub images: usize,
    /// A's accuracy minus B's (a fraction: 0.01 is one point).
    pub difference: f64,
    /// Two-sided exact McNemar p-value: the chance of a split at least this uneven when both
    /// classifiers are equally accurate (1.0 when nothing differs).
    pub p_value: f64,
}

/// What a paired comparison says at the [`SIGNIFICANCE`] level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reading {
    /// A is significantly more accurate.
    ABetter,
    /// B is significantly more accurate.
    BBetter,
    /// The gap, either way, is within the test set's noise.
    WithinNoise,
}

impl Paired {
    /// The gap is more than the test set's noise (p under [`SIGNIFICANCE`]), either way.
    pub fn significant(&self) -> bool {
        self.p_value < SIGNIFICANCE
    }

    /// Which classifier, if either, is significantly more accurate.
    pub fn reading(&self) -> Reading {
        match (self.significant(), self.difference > 0.0) {
            (false, _) => Reading::WithinNoise,
            (true, true) => Reading::ABetter,
            (true, false) => Reading::BBetter,
        }
    }
}

/// Compares per-image correctness `a` against `b`: the same images in the same order, so the
/// two slices must be equally long (only the common prefix is compared otherwise).
pub fn compare(a: &[bool], b: &[bool]) -> Paired {
    debug_assert_eq!(a.len(), b.len(), "paired comparison of different image counts");
    let images = a.len().min(b.len());
    let only_a = a.iter().zip(b).filter(|(x, y)| **x && !**y).count();
    let only_b = a.iter().zip(b).filter(|(x, y)| !**x && **y).count();
    let difference = if images == 0 { 0.0 } else { (only_a as f64 - only_b as f64) / images as f64 };
    Paired { only_a, only_b, images, difference, p_value: mcnemar_exact(only_a, only_b) }
}

/// Two-sided exact McNemar test on the discordant counts: `2 * P(X <= min)` for
/// `X ~ Binomial(only_a + only_b, 1/2)`, capped at 1. Computed in log space, so counts in the
/// tens of thousands never overflow; a very uneven split may round to 0.
pub fn mcnemar_exact(only_a: usize, only_b: usize) -> f64 {
    let n = only_a + only_b;
    let k = only_a.min(only_b);
    // splits as even as they can be (including none) are exactly 1
    if only_a.abs_diff(only_b) <= 1 {
        return 1.0;
    }
    // ln C(n, i) for i = 0..=k; the terms grow with i (k <= n / 2), so scale by the last
    let mut log_c = Vec::with_capacity(k + 1);
    log_c.push(0.0f64);
    for i in 1..=k {
        log_c.push(log_c[i - 1] + ((n - i + 1) as f64).ln() - (i as f64).ln());
    }
    let top = log_c[k];
    let sum: f64 = log_c.iter().map(|l| (l - top).exp()).sum();
    let log_tail = top + sum.ln() - n as f64 * std::f64::consts::LN_2;
    (2.0 * log_tail.exp()).min(1.0)
}

/// A p-value for a summary with three significant digits (`p = 0.245`, `p = 0.0499`), or
/// `p < 0.001` for smaller ones; never rounded across [`SIGNIFICANCE`].
pub fn format_p(p: f64) -> String {
    if p < 0.001 {
        return "p < 0.001".to_string();
    }
    let decimals = (2 - p.log10().floor() as i32).max(3) as usize;
    format!("p = {p:.decimals$}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_values_by_hand() {
        // n = 12, k = 2: 2 * (1 + 12 + 66) / 4096
        assert!((mcnemar_exact(10, 2) - 2.0 * 79.0 / 4096.0).abs() < 1e-12);
        assert!((mcnemar_exact(2, 10) - mcnemar_exact(10, 2)).abs() < 1e-15);
        // n = 5, k = 0: 2 / 32
        assert!((mcnemar_exact(0, 5) - 2.0 / 32.0).abs() < 1e-12);
        assert_eq!(mcnemar_exact(7, 7), 1.0);
        assert_eq!(mcnemar_exact(0, 0), 1.0);
        assert_eq!(mcnemar_exact(5000, 5001), 1.0);
        assert_eq!(mcnemar_exact(1, 0), 1.0);
    }

    #[test]
    fn large_counts_stay_exact() {
        // exact values from Python's integer math (math.comb), close to the continuity-corrected
        // chi-square (|600 - 500| - 1)^2 / 1100 = 8.91 -> p ~ 0.0028
        let p = mcnemar_exact(600, 500);
        assert!((p - 0.0028195449914364275).abs() < 1e-9, "{p}");
        let p = mcnemar_exact(5050, 4950);
        assert!((p - 0.322174199795312).abs() < 1e-9, "{p}");
        // far apart on many images: vanishingly small, never NaN
        let p = mcnemar_exact(9000, 1000);
        assert!(p < 1e-100 && !p.is_nan(), "{p}");
    }

    #[test]
    fn p_values_print_without_crossing_the_threshold() {
        assert_eq!(format_p(0.151), "p = 0.151");
        assert_eq!(format_p(0.0499), "p = 0.0499");
        assert_eq!(format_p(0.0231), "p = 0.0231");
        assert_eq!(format_p(1.0), "p = 1.000");
        assert_eq!(format_p(0.0004), "p < 0.001");
    }

    #[test]
    fn compare_counts_discordant_images() {
        let a = [true, true, false, false, true, true];
        let b = [true, false, true, false, false, true];
        let p = compare(&a, &b);
        assert_eq!((p.only_a, p.only_b, p.images), (2, 1, 6));
        assert!((p.difference - 1.0 / 6.0).abs() < 1e-12);
        assert!((p.p_value - mcnemar_exact(2, 1)).abs() < 1e-15);
        let same = compare(&a, &a);
        assert_eq!((same.only_a, same.only_b, same.difference, same.p_value), (0, 0, 0.0, 1.0));
        assert!(!same.significant());
        assert_eq!(same.reading(), Reading::WithinNoise);
        assert!(compare(&[true; 40], &[false; 40]).significant());
        assert_eq!(compare(&[true; 40], &[false; 40]).reading(), Reading::ABetter);
        assert_eq!(compare(&[false; 40], &[true; 40]).reading(), Reading::BBetter);
    }
}
