//! An inference batch-norm and activation applied to a convolution's output while it is
//! produced: per channel `clamp(v * scale + shift, lo, hi)`, on each plane (or channel-last
//! row) as soon as the convolution has written it, instead of one more pass over the whole
//! tensor afterwards.

use super::batch_norm::{fold, Act};
use super::wide::wide;

/// The folded batch-norm (`scale`, `shift` per channel) and the activation's bounds.
#[derive(Debug, Clone, PartialEq)]
pub struct Epilogue {
    pub scale: Vec<f32>,
    pub shift: Vec<f32>,
    pub lo: f32,
    pub hi: f32,
}

impl Epilogue {
    /// Batch-norm with the given statistics, then `act`.
    pub fn new(gamma: &[f32], beta: &[f32], mean: &[f32], var: &[f32], eps: f64, act: Act) -> Epilogue {
        let (scale, shift) = fold(gamma, beta, mean, var, eps);
        let (lo, hi) = act.bounds();
        Epilogue { scale, shift, lo, hi }
    }

    /// Applies channel `c`'s normalisation to one plane.
    pub fn plane(&self, out: &mut [f32], c: usize) {
        apply_plane(out, self.scale[c], self.shift[c], self.lo, self.hi);
    }

    /// Applies every channel's normalisation to channel-last rows (`[.., c]`).
    pub fn rows(&self, out: &mut [f32]) {
        apply_rows(out, &self.scale, &self.shift, self.lo, self.hi);
    }
}

wide! {
    fn apply_plane(out: &mut [f32], a: f32, b: f32, lo: f32, hi: f32) {
        for v in out.iter_mut() {
            *v = (*v * a + b).max(lo).min(hi);
        }
    }
}

wide! {
    fn apply_rows(out: &mut [f32], scale: &[f32], shift: &[f32], lo: f32, hi: f32) {
        for row in out.chunks_exact_mut(scale.len()) {
            for ((v, a), b) in row.iter_mut().zip(scale).zip(shift) {
                *v = (*v * a + b).max(lo).min(hi);
            }
        }
    }
}
