//! Problems: decision variables with bounds, evaluations, the `Problem` trait.
//!
//! A genome is a `Vec<f64>` with one entry per variable. Real variables hold any value in
//! `[lo, hi]`; integer variables hold an integral value in `[lo, hi]` (both inclusive); choice
//! variables hold an integral index in `0..n`. Integers are exact in an `f64` up to 2^53, which
//! bounds the integer variables' range.

use serde::{Deserialize, Serialize};

use crate::error::SearchError;

/// Largest magnitude of an integer bound (integers are stored exactly in `f64` up to 2^53).
pub const MAX_INT_BOUND: i64 = 1 << 53;

/// One decision variable and its domain.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Var {
    /// A real number in `[lo, hi]`.
    Real {
        /// Lower bound (inclusive).
        lo: f64,
        /// Upper bound (inclusive).
        hi: f64,
    },
    /// An integer in `lo..=hi`.
    Int {
        /// Lower bound (inclusive).
        lo: i64,
        /// Upper bound (inclusive).
        hi: i64,
    },
    /// An index in `0..n` (an unordered choice among `n` options).
    Choice {
        /// Number of options (at least 1).
        n: usize,
    },
}

impl Var {
    /// A real variable in `[lo, hi]`.
    pub fn real(lo: f64, hi: f64) -> Self {
        Var::Real { lo, hi }
    }

    /// An integer variable in `lo..=hi`.
    pub fn int(lo: i64, hi: i64) -> Self {
        Var::Int { lo, hi }
    }

    /// A choice among `n` options (index `0..n`).
    pub fn choice(n: usize) -> Self {
        Var::Choice { n }
    }

    /// Whether the variable is real-valued (handled by SBX and polynomial mutation; the others
    /// by uniform crossover and random-reset mutation).
    pub fn is_real(&self) -> bool {
        matches!(self, Var::Real { .. })
    }

    /// Lower bound as stored in a genome.
    pub fn lower(&self) -> f64 {
        match *self {
            Var::Real { lo, .. } => lo,
            Var::Int { lo, .. } => lo as f64,
            Var::Choice { .. } => 0.0,
        }
    }

    /// Upper bound (inclusive) as stored in a genome.
    pub fn upper(&self) -> f64 {
        match *self {
            Var::Real { hi, .. } => hi,
            Var::Int { hi, .. } => hi as f64,
            Var::Choice { n } => n.saturating_sub(1) as f64,
        }
    }

    /// Whether `x` is a valid value of this variable (within bounds, integral for discrete
    /// variables).
    pub fn contains(&self, x: f64) -> bool {
        let in_bounds = x >= self.lower() && x <= self.upper();
        match self {
            Var::Real { .. } => in_bounds,
            _ => in_bounds && x.fract() == 0.0,
        }
    }

    /// Checks the bounds; `index` is used in the error.
    pub fn validate(&self, index: usize) -> Result<(), SearchError> {
        let reason = match *self {
            Var::Real { lo, hi } if !lo.is_finite() || !hi.is_finite() => {
                Some(format!("real bounds must be finite, got [{lo}, {hi}]"))
            }
            Var::Real { lo, hi } if lo > hi => Some(format!("lower bound {lo} above upper bound {hi}")),
            Var::Int { lo, hi } if lo > hi => Some(format!("lower bound {lo} above upper bound {hi}")),
            Var::Int { lo, hi } if lo < -MAX_INT_BOUND || hi > MAX_INT_BOUND => {
                Some(format!("integer bounds must lie within +-2^53, got {lo}..={hi}"))
            }
            Var::Choice { n: 0 } => Some("a choice needs at least one option".to_string()),
            Var::Choice { n } if n as u64 > MAX_INT_BOUND as u64 => {
                Some(format!("a choice may have at most 2^53 options, got {n}"))
            }
            _ => None,
        };
        match reason {
            Some(reason) => Err(SearchError::Var { index, reason }),
            None => Ok(()),
        }
    }
}

/// Checks every variable of a list (and that there is at least one).
pub fn validate_vars(vars: &[Var]) -> Result<(), SearchError> {
    if vars.is_empty() {
        return Err(SearchError::Config("a problem needs at least one variable".into()));
    }
    vars.iter().enumerate().try_for_each(|(i, v)| v.validate(i))
}

/// The outcome of evaluating one genome. Everything is minimized; a constraint is satisfied
/// when its violation is `<= 0`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    /// Objective values (minimized).
    pub objectives: Vec<f64>,
    /// Constraint values: `<= 0` satisfied, `> 0` violated by that amount.
    pub violations: Vec<f64>,
}

impl Evaluation {
    /// An unconstrained evaluation.
    pub fn new(objectives: Vec<f64>) -> Self {
        Evaluation { objectives, violations: Vec::new() }
    }

    /// An evaluation with constraint values.
    pub fn constrained(objectives: Vec<f64>, violations: Vec<f64>) -> Self {
        Evaluation { objectives, violations }
    }

    /// Total constraint violation: the sum of `max(0, v)` (NaN counts as infinite).
    pub fn total_violation(&self) -> f64 {
        total_violation(&self.violations)
    }

    /// Whether every constraint is satisfied.
    pub fn is_feasible(&self) -> bool {
        self.total_violation() <= 0.0
    }
}

/// Sum of `max(0, v)` over the constraint values; a NaN value counts as infinitely violated.
pub fn total_violation(violations: &[f64]) -> f64 {
    violations.iter().map(|&v| if v.is_nan() { f64::INFINITY } else { v.max(0.0) }).sum()
}

/// A multi-objective problem: variables with bounds, objectives and constraints, all
/// minimized. The engine calls `evaluate` with a batch (one generation's offspring), so an
/// implementation may evaluate in parallel or on a remote device.
pub trait Problem {
    /// The decision variables, in genome order.
    fn vars(&self) -> &[Var];
    /// Number of objectives.
    fn n_obj(&self) -> usize;
    /// Number of constraints (0 by default).
    fn n_constr(&self) -> usize {
        0
    }
    /// Evaluates a batch of genomes; returns one evaluation per genome, in order.
    fn evaluate(&self, xs: &[Vec<f64>]) -> Vec<Evaluation>;
}
