//! Axis ranges, tick positions and tick labels, computed in "plot space": the data value for a
//! linear axis, its base-10 logarithm for a log axis. Plotters then only ever sees a linear
//! coordinate with explicit key points, which behaves the same for both kinds of axis (its own
//! log axis draws no tick at all when the range lies within one decade).

use std::ops::Range;

use plotters::coord::ranged1d::{KeyPointHint, NoDefaultFormatting, Ranged, ValueFormatter};

/// Relative margin added on each side of the data range.
const MARGIN: f64 = 0.05;
/// Desired number of labelled ticks on a linear axis.
const TARGET_TICKS: usize = 8;
/// Hard cap on ticks, whatever the range.
const MAX_TICKS: usize = 40;

/// One axis of a plot, in plot space.
#[derive(Debug, Clone)]
pub(crate) struct Axis {
    /// Lower end of the drawn range (plot space).
    pub lo: f64,
    /// Upper end of the drawn range (plot space).
    pub hi: f64,
    /// Labelled ticks, with bold grid lines (plot space).
    pub bold: Vec<f64>,
    /// Unlabelled minor grid lines (plot space).
    pub light: Vec<f64>,
    log: bool,
    /// Step between ticks in data space, for the label precision; 0 on a log axis whose ticks
    /// are powers of ten or 1-2-5 mantissas (labels then show up to four significant digits).
    step: f64,
    /// Linear labels in scientific notation (very large or very small magnitudes).
    scientific: bool,
}

/// The plot-space value of a data value, or `None` when it cannot be drawn (NaN, infinite,
/// or not positive on a log axis).
pub(crate) fn to_plot(v: f64, log: bool) -> Option<f64> {
    if !v.is_finite() {
        return None;
    }
    if log {
        (v > 0.0).then(|| v.log10())
    } else {
        Some(v)
    }
}

impl Axis {
    /// An axis covering `values` (finite, plot space) with 5 % margins. No value: a unit range
    /// (0..1, or 1..10 on a log axis); a single value or equal values: a range centred on it.
    pub(crate) fn new(values: impl IntoIterator<Item = f64>, log: bool) -> Axis {
        let (lo, hi) = padded_range(values, log);
        let (bold, light, step) = if log { log_ticks(lo, hi) } else { linear_ticks(lo, hi) };
        let magnitude = if log { 10f64.powf(lo).max(10f64.powf(hi)) } else { lo.abs().max(hi.abs()) };
        let scientific = !(1e-3..1e6).contains(&magnitude);
        Axis { lo, hi, bold, light, log, step, scientific }
    }

    /// Fraction (0 at `lo`, 1 at `hi`) of a plot-space value along the axis.
    pub(crate) fn fraction(&self, v: f64) -> f64 {
        let f = (v - self.lo) / (self.hi - self.lo);
        if f.is_finite() {
            f
        } else {
            0.5
        }
    }

    /// The tick label of a plot-space value.
    pub(crate) fn label(&self, v: f64) -> String {
        if self.log && self.step == 0.0 {
            format_significant(10f64.powf(v))
        } else if self.log {
            format_step(10f64.powf(v), self.step, self.scientific)
        } else {
            format_step(v, self.step, self.scientific)
        }
    }
}

/// Plotters sees an [`Axis`] as a linear coordinate with our ticks and labels.
impl Ranged for Axis {
    type FormatOption = NoDefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        let f = (value - self.lo) / (self.hi - self.lo);
        if !f.is_finite() {
            return limit.0 + (limit.1 - limit.0) / 2;
        }
        // `as` saturates, so far-off values cannot wrap around.
        (f64::from(limit.0) + f * f64::from(limit.1 - limit.0)).round() as i32
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            return self.light.clone();
        }
        // Thin the ticks out if plotters asks for fewer (tiny drawing areas).
        let max = hint.max_num_points().max(2);
        let every = self.bold.len().div_ceil(max).max(1);
        self.bold.iter().copied().step_by(every).collect()
    }

    fn range(&self) -> Range<f64> {
        self.lo..self.hi
    }
}

impl ValueFormatter<f64> for Axis {
    fn format_ext(&self, value: &f64) -> String {
        self.label(*value)
    }
}

fn padded_range(values: impl IntoIterator<Item = f64>, log: bool) -> (f64, f64) {
    let mut min = f64::INFINITY;
    let mut max = f64::NEG_INFINITY;
    for v in values.into_iter().filter(|v| v.is_finite()) {
        min = min.min(v);
        max = max.max(v);
    }
    if min > max {
        return (0.0, 1.0);
    }
    let span = max - min;
    let scale = min.abs().max(max.abs());
    if span <= scale * 1e-9 {
        // One value (or values equal up to rounding): centre it.
        let centre = min + span / 2.0;
        let half = if log {
            0.5
        } else if scale == 0.0 {
            1.0
        } else {
            scale * MARGIN * 2.0
        };
        return (centre - half, centre + half);
    }
    let lo = min - MARGIN * span;
    let hi = max + MARGIN * span;
    // Ranges near f64::MAX: margins would overflow, keep the data range.
    (if lo.is_finite() { lo } else { min }, if hi.is_finite() { hi } else { max })
}

/// A "nice" step (1, 2, 2.5 or 5 times a power of ten) giving about `target` steps over `span`.
fn nice_step(span: f64, target: usize) -> f64 {
    let raw = span / target as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let norm = raw / mag;
    let m = if norm <= 1.0 {
        1.0
    } else if norm <= 2.0 {
        2.0
    } else if norm <= 2.5 {
        2.5
    } else if norm <= 5.0 {
        5.0
    } else {
        10.0
    };
    m * mag
}

/// Multiples of a nice step within `lo..=hi`.
fn multiples(lo: f64, hi: f64, step: f64) -> Vec<f64> {
    let first = (lo / step).ceil();
    let mut ticks = Vec::new();
    if !first.is_finite() {
        return ticks;
    }
    for i in 0..MAX_TICKS {
        let t = (first + i as f64) * step;
        if t > hi + step * 1e-9 {
            break;
        }
        // Snap rounding noise around zero so that no "-0" label appears.
        let t = if t.abs() < step * 1e-9 { 0.0 } else { t };
        if ticks.last() != Some(&t) {
            ticks.push(t);
        }
    }
    ticks
}

fn linear_ticks(lo: f64, hi: f64) -> (Vec<f64>, Vec<f64>, f64) {
    let span = hi - lo;
    let step = nice_step(span, TARGET_TICKS);
    if !(span.is_finite() && step.is_finite() && step > 0.0) {
        return (vec![lo, hi], Vec::new(), span);
    }
    let bold = multiples(lo, hi, step);
    (bold, Vec::new(), step)
}

fn log_ticks(lo: f64, hi: f64) -> (Vec<f64>, Vec<f64>, f64) {
    let span = hi - lo;
    if !(span.is_finite() && span > 0.0) {
        return (vec![lo, hi], Vec::new(), 0.0);
    }
    let e_lo = lo.floor().max(-400.0) as i32;
    let e_hi = hi.ceil().min(400.0) as i32;
    let in_range = |t: f64| t >= lo - 1e-12 && t <= hi + 1e-12;
    let with_mantissas = |ms: &[f64]| -> Vec<f64> {
        (e_lo..=e_hi).flat_map(|e| ms.iter().map(move |m| f64::from(e) + m.log10())).filter(|&t| in_range(t)).collect()
    };
    let decades: Vec<f64> = (e_lo..=e_hi).map(f64::from).filter(|&t| in_range(t)).collect();
    if decades.len() >= 2 {
        let every = decades.len().div_ceil(10).max(1);
        let bold: Vec<f64> = decades.iter().copied().step_by(every).collect();
        let light = if span <= 6.0 {
            with_mantissas(&[2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0])
        } else {
            decades.iter().copied().filter(|t| !bold.contains(t)).collect()
        };
        return (bold, light, 0.0);
    }
    let one_two_five = with_mantissas(&[1.0, 2.0, 5.0]);
    if one_two_five.len() >= 3 {
        let light = with_mantissas(&[3.0, 4.0, 6.0, 7.0, 8.0, 9.0]);
        return (one_two_five, light, 0.0);
    }
    let all = with_mantissas(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0]);
    if all.len() >= 3 {
        return (all, Vec::new(), 0.0);
    }
    // Less than a third of a decade: linear ticks in data space, placed on the log axis.
    let (vlo, vhi) = (10f64.powf(lo), 10f64.powf(hi));
    let (ticks, _, step) = linear_ticks(vlo, vhi);
    let bold: Vec<f64> = ticks.into_iter().filter(|&v| v > 0.0).map(f64::log10).filter(|&t| in_range(t)).collect();
    if bold.is_empty() {
        return (vec![lo, hi], Vec::new(), 0.0);
    }
    (bold, Vec::new(), step)
}

/// Label of a linear tick: as many decimals as the step needs, or scientific notation (for
/// axes of very large or very small magnitude) with as many digits as the step needs.
fn format_step(v: f64, step: f64, scientific: bool) -> String {
    if !(step.is_finite() && step > 0.0) {
        return format_significant(v);
    }
    let step_exp = step.log10().floor();
    let mantissa = step / 10f64.powf(step_exp);
    let extra = usize::from((mantissa - 2.5).abs() < 1e-9);
    let abs = v.abs();
    if scientific {
        if v == 0.0 {
            return "0".to_string();
        }
        let digits = (abs.log10().floor() - step_exp).clamp(0.0, 12.0) as usize + extra;
        return trim_exponent(&format!("{:.*e}", digits, v));
    }
    let decimals = (-step_exp).clamp(0.0, 12.0) as usize + extra;
    format!("{:.*}", decimals, v)
}

/// Label with up to four significant digits, trailing zeros removed.
fn format_significant(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return format!("{v}");
    }
    let abs = v.abs();
    if !(1e-3..1e6).contains(&abs) {
        return trim_exponent(&format!("{:.3e}", v));
    }
    let decimals = (3.0 - abs.log10().floor()).clamp(0.0, 12.0) as usize;
    trim_zeros(&format!("{:.*}", decimals, v))
}

fn trim_zeros(s: &str) -> String {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s.to_string()
    }
}

/// `2.500e6` -> `2.5e6`.
fn trim_exponent(s: &str) -> String {
    match s.split_once('e') {
        Some((m, e)) => format!("{}e{}", trim_zeros(m), e),
        None => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_have_margins_and_survive_degenerate_input() {
        let a = Axis::new([0.0, 10.0], false);
        assert!((a.lo + 0.5).abs() < 1e-12 && (a.hi - 10.5).abs() < 1e-12);
        assert_eq!(a.bold.first(), Some(&0.0));
        let single = Axis::new([3.0], false);
        assert!(single.lo < 3.0 && single.hi > 3.0);
        let zero = Axis::new([0.0, 0.0], false);
        assert_eq!((zero.lo, zero.hi), (-1.0, 1.0));
        let empty = Axis::new(std::iter::empty(), true);
        assert_eq!((empty.lo, empty.hi), (0.0, 1.0));
        let huge = Axis::new([-1e308, 1e308], false);
        assert!(huge.lo.is_finite() && huge.hi.is_finite());
        let skipped = Axis::new([f64::NAN, 1.0, f64::INFINITY, 2.0], false);
        assert!(skipped.lo > 0.9 && skipped.hi < 2.1);
    }

    #[test]
    fn ticks_are_round_and_labelled() {
        let a = Axis::new([0.0, 1.0], false);
        let labels: Vec<String> = a.bold.iter().map(|&t| a.label(t)).collect();
        assert_eq!(labels, ["0.0", "0.2", "0.4", "0.6", "0.8", "1.0"]);
        let b = Axis::new([1e6, 3e6], false);
        let labels: Vec<String> = b.bold.iter().map(|&t| b.label(t)).collect();
        assert!(labels.contains(&"2e6".to_string()) && labels.contains(&"2.5e6".to_string()), "{labels:?}");
        let c = Axis::new([0.0, 0.0004], false);
        let labels: Vec<String> = c.bold.iter().map(|&t| c.label(t)).collect();
        assert_eq!(labels.first().map(String::as_str), Some("0"), "{labels:?}");
        assert!(labels.iter().skip(1).all(|l| l.contains('e')), "{labels:?}");
    }

    #[test]
    fn log_ticks_exist_for_every_span() {
        for (lo, hi) in [(1.0, 1e6), (3.0, 7.0), (3.0, 3.5), (0.01, 100.0), (1e-30, 1e30), (5.0, 5.0)] {
            let a = Axis::new([lo, hi].map(|v: f64| v.log10()), true);
            assert!(a.bold.len() >= 2, "{lo}..{hi}: {:?}", a.bold);
            assert!(a.bold.iter().all(|t| *t >= a.lo && *t <= a.hi));
        }
        let a = Axis::new([1.0f64.log10(), 1000.0f64.log10()], true);
        let labels: Vec<String> = a.bold.iter().map(|&t| a.label(t)).collect();
        assert_eq!(labels, ["1", "10", "100", "1000"]);
        let tiny = Axis::new([1e-12f64.log10(), 1.0000001e-12f64.log10()], true);
        let labels: Vec<String> = tiny.bold.iter().map(|&t| tiny.label(t)).collect();
        let mut distinct = labels.clone();
        distinct.dedup();
        assert!(labels.len() >= 2 && distinct.len() == labels.len(), "{labels:?}");
        let b = Axis::new([3.0f64.log10(), 7.0f64.log10()], true);
        let labels: Vec<String> = b.bold.iter().map(|&t| b.label(t)).collect();
        assert_eq!(labels, ["3", "4", "5", "6", "7"]);
    }

    #[test]
    fn to_plot_skips_undrawable_values() {
        assert_eq!(to_plot(f64::NAN, false), None);
        assert_eq!(to_plot(f64::NEG_INFINITY, false), None);
        assert_eq!(to_plot(0.0, true), None);
        assert_eq!(to_plot(-1.0, true), None);
        assert_eq!(to_plot(100.0, true), Some(2.0));
        assert_eq!(to_plot(-1.0, false), Some(-1.0));
    }
}
