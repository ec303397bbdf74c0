//! Latency statistics over repeated runs.

use serde::{Deserialize, Serialize};

/// Summary of repeated timed runs, in nanoseconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Timing {
    /// Number of timed runs.
    pub runs: usize,
    /// Median.
    pub median_ns: f64,
    /// 10th percentile.
    pub p10_ns: f64,
    /// 90th percentile.
    pub p90_ns: f64,
    /// Fastest run.
    pub min_ns: f64,
    /// Slowest run.
    pub max_ns: f64,
    /// Mean.
    pub mean_ns: f64,
}

/// Percentile `q` in [0, 1] of sorted values, linear interpolation between ranks.
pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let pos = q.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

impl Timing {
    /// Statistics of the given per-run durations in nanoseconds (at least one).
    pub fn from_ns(samples: &[u64]) -> Timing {
        let mut s: Vec<f64> = samples.iter().map(|&v| v as f64).collect();
        s.sort_by(|a, b| a.total_cmp(b));
        Timing {
            runs: s.len(),
            median_ns: percentile(&s, 0.5),
            p10_ns: percentile(&s, 0.1),
            p90_ns: percentile(&s, 0.9),
            min_ns: s.first().copied().unwrap_or(f64::NAN),
            max_ns: s.last().copied().unwrap_or(f64::NAN),
            mean_ns: s.iter().sum::<f64>() / s.len().max(1) as f64,
        }
    }

    /// Relative spread `(p90 - p10) / median`.
    pub fn spread(&self) -> f64 {
        (self.p90_ns - self.p10_ns) / self.median_ns
    }
}
