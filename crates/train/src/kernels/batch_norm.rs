//! Batch-norm fused with its activation (none or ReLU6) on plain `f32` slices, NCHW: the
//! training forward pass (batch statistics, biased variance as Burn's `batch_norm_train`), its
//! backward pass, and the inference pass with running statistics. One pass for the statistics
//! and one for the output, where Burn's composition makes six.
//!
//! Per-channel sums run over the batch in a fixed order (planes in eight `f32` lanes, planes
//! added in `f64`), so results do not depend on the number of threads.

use rayon::prelude::*;

use super::wide::wide;

/// The activation fused after the normalisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Act {
    /// None.
    Identity,
    /// `clamp(x, 0, max)`.
    Relu6 {
        /// The upper bound (6).
        max_bits: u32,
    },
}

impl Act {
    /// ReLU6 with upper bound `max`.
    pub fn relu6(max: f32) -> Act {
        Act::Relu6 { max_bits: max.to_bits() }
    }

    /// The clamp bounds: `(-inf, inf)` for none, `(0, max)` for ReLU6. Written as bounds so
    /// the loops stay branch-free and vectorise.
    pub(super) fn bounds(self) -> (f32, f32) {
        match self {
            Act::Identity => (f32::NEG_INFINITY, f32::INFINITY),
            Act::Relu6 { max_bits } => (0.0, f32::from_bits(max_bits)),
        }
    }
}

/// `[n, c, hw]`: the layout of a batch-norm input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BnShape {
    pub n: usize,
    pub c: usize,
    /// Height times width.
    pub hw: usize,
}

impl BnShape {
    fn count(&self) -> f64 {
        (self.n * self.hw) as f64
    }

    /// The planes of channel `ch`, image by image.
    fn planes<'a>(&self, t: &'a [f32], ch: usize) -> impl Iterator<Item = &'a [f32]> + 'a {
        let (c, hw) = (self.c, self.hw);
        (0..self.n).map(move |img| &t[(img * c + ch) * hw..(img * c + ch + 1) * hw])
    }
}

/// The batch statistics of a training forward pass.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchStats {
    /// Mean per channel.
    pub mean: Vec<f32>,
    /// Biased variance per channel.
    pub var: Vec<f32>,
}

/// Batch mean and (biased) variance per channel of `x`, in one pass: sums of `x - x0` and of
/// its square, with `x0` the channel's first value (the shift keeps the difference of squares
/// from cancelling when the mean is large against the spread).
pub fn batch_stats(x: &[f32], s: BnShape) -> BatchStats {
    let (mean, var): (Vec<f32>, Vec<f32>) = (0..s.c).into_par_iter().map(|ch| channel_stats(x, s, ch)).unzip();
    BatchStats { mean, var }
}

wide! {
    /// Mean and biased variance of channel `ch`.
    fn channel_stats(x: &[f32], s: BnShape, ch: usize) -> (f32, f32) {
        let x0 = x[ch * s.hw];
        let (mut sum, mut sq) = (0f64, 0f64);
        for p in s.planes(x, ch) {
            let (a, b) = plane_moments(p, x0);
            sum += a as f64;
            sq += b as f64;
        }
        let d = sum / s.count();
        ((x0 as f64 + d) as f32, (sq / s.count() - d * d).max(0.0) as f32)
    }
}

/// Sums of `v - x0` and `(v - x0)^2` over a plane, in eight lanes.
#[inline(always)]
fn plane_moments(p: &[f32], x0: f32) -> (f32, f32) {
    let (mut a, mut b) = ([0f32; 8], [0f32; 8]);
    let chunks = p.chunks_exact(8);
    let (mut ta, mut tb) = (0f32, 0f32);
    for &v in chunks.remainder() {
        ta += v - x0;
        tb += (v - x0) * (v - x0);
    }
    for c in chunks {
        let c: &[f32; 8] = c.try_into().unwrap();
        for l in 0..8 {
            let d = c[l] - x0;
            a[l] += d;
            b[l] += d * d;
        }
    }
    (a.iter().sum::<f32>() + ta, b.iter().sum::<f32>() + tb)
}

wide! {
    /// One image: `out = clamp(inp * scale[c] + shift[c], lo, hi)` plane by plane.
    fn image_affine(inp: &[f32], out: &mut [f32], scale: &[f32], shift: &[f32], lo: f32, hi: f32, hw: usize) {
        for (c, (o, i)) in out.chunks_exact_mut(hw).zip(inp.chunks_exact(hw)).enumerate() {
            let (a, b) = (scale[c], shift[c]);
            for (o, &v) in o.iter_mut().zip(i) {
                *o = (v * a + b).max(lo).min(hi);
            }
        }
    }
}

/// `act(x * scale[c] + shift[c])` over every plane.
fn affine_act(x: &[f32], scale: &[f32], shift: &[f32], act: Act, s: BnShape) -> Vec<f32> {
    let mut y = vec![0f32; x.len()];
    let (lo, hi) = act.bounds();
    let image = s.c * s.hw;
    y.par_chunks_mut(image)
        .zip(x.par_chunks(image))
        .for_each(|(out, inp)| image_affine(inp, out, scale, shift, lo, hi, s.hw));
    y
}

/// Per channel: `gamma / sqrt(var + eps)` and `beta - mean * that`.
pub(super) fn fold(gamma: &[f32], beta: &[f32], mean: &[f32], var: &[f32], eps: f64) -> (Vec<f32>, Vec<f32>) {
    let scale: Vec<f32> = gamma.iter().zip(var).map(|(g, v)| g / ((*v as f64 + eps).sqrt() as f32)).collect();
    let shift = beta.iter().zip(mean).zip(&scale).map(|((b, m), a)| b - m * a).collect();
    (scale, shift)
}

/// Training forward: normalise with the batch's statistics, scale, shift, activate.
pub fn train_forward(x: &[f32], gamma: &[f32], beta: &[f32], eps: f64, act: Act, s: BnShape) -> (Vec<f32>, BatchStats) {
    let stats = batch_stats(x, s);
    let (scale, shift) = fold(gamma, beta, &stats.mean, &stats.var, eps);
    (affine_act(x, &scale, &shift, act, s), stats)
}

/// Inference: normalise with the given (running) statistics, scale, shift, activate.
#[allow(clippy::too_many_arguments)]
pub fn eval_forward(
    x: &[f32],
    gamma: &[f32],
    beta: &[f32],
    mean: &[f32],
    var: &[f32],
    eps: f64,
    act: Act,
    s: BnShape,
) -> Vec<f32> {
    let (scale, shift) = fold(gamma, beta, mean, var, eps);
    affine_act(x, &scale, &shift, act, s)
}

/// One channel's normalisation as the backward pass sees it.
#[derive(Clone, Copy)]
struct Channel {
    mean: f32,
    inv_std: f32,
    gamma: f32,
    beta: f32,
    lo: f32,
    hi: f32,
}

impl Channel {
    /// `(x-hat, the gradient through the activation)` at input `x` with output gradient `g`.
    #[inline(always)]
    fn at(self, x: f32, g: f32) -> (f32, f32) {
        let xh = (x - self.mean) * self.inv_std;
        let z = xh * self.gamma + self.beta;
        // `g` where `lo <= z <= hi`, else 0: times 1 or 0, with no branch, so the loops vectorise
        let keep = ((z >= self.lo) & (z <= self.hi)) as i32 as f32;
        (xh, g * keep)
    }
}

/// Sums over a plane of the gradient through the activation, and of it times x-hat, in
/// eight lanes.
#[inline(always)]
fn plane_grad_sums(xp: &[f32], gp: &[f32], ch: Channel) -> (f32, f32) {
    let (mut a, mut b) = ([0f32; 8], [0f32; 8]);
    let (xc, gc) = (xp.chunks_exact(8), gp.chunks_exact(8));
    let (mut ta, mut tb) = (0f32, 0f32);
    for (&x, &g) in xc.remainder().iter().zip(gc.remainder()) {
        let (xh, gz) = ch.at(x, g);
        ta += gz;
        tb += gz * xh;
    }
    for (x8, g8) in xc.zip(gc) {
        let (x8, g8): (&[f32; 8], &[f32; 8]) = (x8.try_into().unwrap(), g8.try_into().unwrap());
        for l in 0..8 {
            let (xh, gz) = ch.at(x8[l], g8[l]);
            a[l] += gz;
            b[l] += gz * xh;
        }
    }
    (a.iter().sum::<f32>() + ta, b.iter().sum::<f32>() + tb)
}

wide! {
    /// Channel `c`'s sums of the gradient through the activation (beta's gradient) and of it
    /// times x-hat (gamma's gradient).
    fn channel_grad_sums(x: &[f32], gy: &[f32], s: BnShape, c: usize, ch: Channel) -> (f32, f32) {
        let (mut sum, mut sum_xh) = (0f64, 0f64);
        for (xp, gp) in s.planes(x, c).zip(s.planes(gy, c)) {
            let (a, b) = plane_grad_sums(xp, gp, ch);
            sum += a as f64;
            sum_xh += b as f64;
        }
        (sum as f32, sum_xh as f32)
    }
}

wide! {
    /// One image of the input gradient, plane by plane:
    /// `gamma * inv_std * (gz - mean(gz) - x-hat * mean(gz * x-hat))`.
    fn image_grad_x(xn: &[f32], gn: &[f32], out: &mut [f32], channels: &[Channel], mean_gz: &[f32], mean_gzxh: &[f32], hw: usize) {
        for (c, ((o, xp), gp)) in out.chunks_exact_mut(hw).zip(xn.chunks_exact(hw)).zip(gn.chunks_exact(hw)).enumerate() {
            let (ch, mg, mx) = (channels[c], mean_gz[c], mean_gzxh[c]);
            let k = ch.gamma * ch.inv_std;
            for ((o, &x), &g) in o.iter_mut().zip(xp).zip(gp) {
                let (xh, gz) = ch.at(x, g);
                *o = k * (gz - mg - xh * mx);
            }
        }
    }
}

/// The gradients of [`train_forward`] with respect to `x`, `gamma` and `beta`, given the
/// gradient `gy` of its output and the statistics it used.
#[allow(clippy::too_many_arguments)]
pub fn train_backward(
    x: &[f32],
    gamma: &[f32],
    beta: &[f32],
    stats: &BatchStats,
    eps: f64,
    act: Act,
    gy: &[f32],
    s: BnShape,
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let (lo, hi) = act.bounds();
    let channels: Vec<Channel> = (0..s.c)
        .map(|c| Channel {
            mean: stats.mean[c],
            inv_std: (1.0 / (stats.var[c] as f64 + eps).sqrt()) as f32,
            gamma: gamma[c],
            beta: beta[c],
            lo,
            hi,
        })
        .collect();
    let (gbeta, ggamma): (Vec<f32>, Vec<f32>) =
        (0..s.c).into_par_iter().map(|c| channel_grad_sums(x, gy, s, c, channels[c])).unzip();
    let count = s.count() as f32;
    let mean_gz: Vec<f32> = gbeta.iter().map(|v| v / count).collect();
    let mean_gzxh: Vec<f32> = ggamma.iter().map(|v| v / count).collect();
    let mut gx = vec![0f32; x.len()];
    let image = s.c * s.hw;
    gx.par_chunks_mut(image).zip(x.par_chunks(image)).zip(gy.par_chunks(image)).for_each(|((out, xn), gn)| {
        image_grad_x(xn, gn, out, &channels, &mean_gz, &mean_gzxh, s.hw);
    });
    (gx, ggamma, gbeta)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(len: usize, seed: u32) -> Vec<f32> {
        (0..len)
            .map(|i| (((i as u32).wrapping_mul(2654435761).wrapping_add(seed) >> 8) % 1000) as f32 / 250.0 - 2.0)
            .collect()
    }

    /// The loss `sum(gy * train_forward(x))` in f64 at `x`, for finite differences.
    fn loss(x: &[f32], gamma: &[f32], beta: &[f32], gy: &[f32], act: Act, s: BnShape) -> f64 {
        let (y, _) = train_forward(x, gamma, beta, 1e-5, act, s);
        y.iter().zip(gy).map(|(a, b)| (a * b) as f64).sum()
    }

    #[test]
    fn statistics_and_gradients_match_finite_differences() {
        let s = BnShape { n: 3, c: 4, hw: 5 };
        let x = values(s.n * s.c * s.hw, 1);
        let gamma = values(s.c, 7).iter().map(|v| v + 2.5).collect::<Vec<_>>();
        let beta = values(s.c, 9);
        let gy = values(x.len(), 3);
        for act in [Act::Identity, Act::relu6(6.0)] {
            let (y, st) = train_forward(&x, &gamma, &beta, 1e-5, act, s);
            // the mean of a normalised identity channel is beta
            if act == Act::Identity {
                for (ch, b) in beta.iter().enumerate() {
                    let m: f32 = s.planes(&y, ch).flatten().sum::<f32>() / 15.0;
                    assert!((m - b).abs() < 1e-5, "{m} vs {b}");
                }
            }
            let (gx, gg, gb) = train_backward(&x, &gamma, &beta, &st, 1e-5, act, &gy, s);
            let h = 1e-2f32;
            for i in [0, 7, 23, x.len() - 1] {
                let (mut xp, mut xm) = (x.clone(), x.clone());
                xp[i] += h;
                xm[i] -= h;
                let fd =
                    (loss(&xp, &gamma, &beta, &gy, act, s) - loss(&xm, &gamma, &beta, &gy, act, s)) / (2.0 * h as f64);
                assert!((gx[i] as f64 - fd).abs() < 2e-2 * fd.abs().max(1.0), "gx[{i}] {act:?}: {} vs {fd}", gx[i]);
            }
            for ch in 0..s.c {
                let (mut gp, mut gm) = (gamma.clone(), gamma.clone());
                gp[ch] += h;
                gm[ch] -= h;
                let fd = (loss(&x, &gp, &beta, &gy, act, s) - loss(&x, &gm, &beta, &gy, act, s)) / (2.0 * h as f64);
                assert!((gg[ch] as f64 - fd).abs() < 2e-2 * fd.abs().max(1.0), "ggamma[{ch}] {act:?}");
                let (mut bp, mut bm) = (beta.clone(), beta.clone());
                bp[ch] += h;
                bm[ch] -= h;
                let fd = (loss(&x, &gamma, &bp, &gy, act, s) - loss(&x, &gamma, &bm, &gy, act, s)) / (2.0 * h as f64);
                assert!((gb[ch] as f64 - fd).abs() < 2e-2 * fd.abs().max(1.0), "gbeta[{ch}] {act:?}");
            }
        }
    }
}
