//! Pointwise (1x1, stride 1, no padding, one group) convolution on plain `f32` slices, NCHW:
//! the forward pass and both gradients as matrix products. Planes of [`ROWS_BELOW`] pixels or
//! more take one product per image on the NCHW layout itself (no copies); smaller planes
//! (2 x 2 late in a network) are turned into channel-last rows (`[n * hw, c]`) so that one
//! product covers the whole batch.
//!
//! The weight gradient sums over the batch in a fixed grouping (images in [`GROUPS`] runs,
//! the runs added in order), so results do not depend on the number of threads.

use gemm::{gemm, Parallelism};
use rayon::prelude::*;

use super::epilogue::Epilogue;
use super::wide::wide;

/// The shape of one pointwise convolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PwShape {
    /// Batch size.
    pub n: usize,
    /// Input and output channels.
    pub cin: usize,
    pub cout: usize,
    /// Height times width.
    pub hw: usize,
}

/// Planes smaller than this go through channel-last rows.
pub const ROWS_BELOW: usize = 8;

/// How many runs of images the per-image weight gradient is split into.
pub const GROUPS: usize = 8;

/// A row-major matrix view: the slice, its row stride and its column stride.
type View<'a> = (&'a [f32], usize, usize);

/// `dst (m x n, row-major) = lhs (m x k) * rhs (k x n)` (`+ dst` when `accumulate`), on
/// one thread (`single`) or all.
#[allow(clippy::too_many_arguments)]
fn product(dst: &mut [f32], lhs: View, rhs: View, m: usize, n: usize, k: usize, accumulate: bool, single: bool) {
    assert!(dst.len() == m * n, "destination of the wrong size");
    let fits = |(v, rs, cs): View, rows: usize, cols: usize| {
        rows == 0 || cols == 0 || (rows - 1) * rs + (cols - 1) * cs < v.len()
    };
    assert!(fits(lhs, m, k) && fits(rhs, k, n), "operand views out of bounds");
    let threads = rayon::current_num_threads();
    let par =
        if !single && m * n * k > 1 << 16 && threads > 1 { Parallelism::Rayon(threads) } else { Parallelism::None };
    // SAFETY: the asserts above keep every element the strides address inside its slice, and
    // `dst` is a distinct, exclusively borrowed m x n buffer.
    unsafe {
        gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            lhs.0.as_ptr(),
            lhs.2 as isize,
            lhs.1 as isize,
            rhs.0.as_ptr(),
            rhs.2 as isize,
            rhs.1 as isize,
            if accumulate { 1.0 } else { 0.0 },
            1.0,
            false,
            false,
            false,
            par,
        )
    }
}

/// `[n, c, hw]` -> `[n, hw, c]` (channel-last rows).
pub fn to_rows(t: &[f32], c: usize, hw: usize) -> Vec<f32> {
    let mut out = vec![0f32; t.len()];
    out.par_chunks_mut(c * hw).zip(t.par_chunks(c * hw)).for_each(|(o, i)| transpose(i, o, c, hw));
    out
}

/// `[n, hw, c]` -> `[n, c, hw]`.
pub fn from_rows(t: &[f32], c: usize, hw: usize) -> Vec<f32> {
    let mut out = vec![0f32; t.len()];
    out.par_chunks_mut(c * hw).zip(t.par_chunks(c * hw)).for_each(|(o, i)| transpose(i, o, hw, c));
    out
}

wide! {
    /// `src` (`rows x cols`, row-major) into `dst` (`cols x rows`): each row of `dst` is a
    /// column of `src`, read with a stride (no bounds checks in the loop).
    fn transpose(src: &[f32], dst: &mut [f32], rows: usize, cols: usize) {
        assert!(src.len() == rows * cols && dst.len() == rows * cols, "transpose of the wrong size");
        for (c, drow) in dst.chunks_exact_mut(rows).enumerate() {
            for (d, s) in drow.iter_mut().zip(src[c..].iter().step_by(cols)) {
                *d = *s;
            }
        }
    }
}

/// `y[n] = w . x[n]`: `x` is `[n, cin, hw]`, `w` is `[cout, cin]`; returns `[n, cout, hw]`,
/// with `epilogue` (an inference batch-norm and activation) applied to each image's output
/// as it is written.
pub fn forward(x: &[f32], w: &[f32], s: PwShape, epilogue: Option<&Epilogue>) -> Vec<f32> {
    if s.hw < ROWS_BELOW {
        let rows = s.n * s.hw;
        let xr = to_rows(x, s.cin, s.hw);
        // y_rows [rows, cout] = x_rows [rows, cin] . w^T
        let mut yr = vec![0f32; rows * s.cout];
        product(&mut yr, (&xr, s.cin, 1), (w, 1, s.cin), rows, s.cout, s.cin, false, false);
        if let Some(e) = epilogue {
            yr.par_chunks_mut(s.hw * s.cout).for_each(|rows| e.rows(rows));
        }
        return from_rows(&yr, s.cout, s.hw);
    }
    let mut y = vec![0f32; s.n * s.cout * s.hw];
    y.par_chunks_mut(s.cout * s.hw).zip(x.par_chunks(s.cin * s.hw)).for_each(|(yn, xn)| {
        product(yn, (w, s.cin, 1), (xn, s.hw, 1), s.cout, s.hw, s.cin, false, true);
        if let Some(e) = epilogue {
            for (c, plane) in yn.chunks_exact_mut(s.hw).enumerate() {
                e.plane(plane, c);
            }
        }
    });
    y
}

/// The gradients of [`forward`] with respect to `x` (`[n, cin, hw]`) and `w` (`[cout, cin]`),
/// given the gradient `gy` of its output (`[n, cout, hw]`).
pub fn backward(x: &[f32], w: &[f32], gy: &[f32], s: PwShape) -> (Vec<f32>, Vec<f32>) {
    let mut gw = vec![0f32; s.cout * s.cin];
    if s.hw < ROWS_BELOW {
        let rows = s.n * s.hw;
        let (xr, gr) = (to_rows(x, s.cin, s.hw), to_rows(gy, s.cout, s.hw));
        // gx_rows [rows, cin] = gy_rows [rows, cout] . w
        let mut gxr = vec![0f32; rows * s.cin];
        product(&mut gxr, (&gr, s.cout, 1), (w, s.cin, 1), rows, s.cin, s.cout, false, false);
        // gw [cout, cin] = gy_rows^T . x_rows
        product(&mut gw, (&gr, 1, s.cout), (&xr, s.cin, 1), s.cout, s.cin, rows, false, false);
        return (from_rows(&gxr, s.cin, s.hw), gw);
    }
    let mut gx = vec![0f32; x.len()];
    // gx[n] = w^T . gy[n]
    gx.par_chunks_mut(s.cin * s.hw).zip(gy.par_chunks(s.cout * s.hw)).for_each(|(gxn, gyn)| {
        product(gxn, (w, 1, s.cin), (gyn, s.hw, 1), s.cin, s.hw, s.cout, false, true);
    });
    // gw = sum over images of gy[n] . x[n]^T, in GROUPS runs of images
    let per = s.n.div_ceil(GROUPS).max(1);
    let parts: Vec<Vec<f32>> = (0..s.n.div_ceil(per))
        .into_par_iter()
        .map(|g| {
            let mut acc = vec![0f32; s.cout * s.cin];
            for (i, img) in (g * per..((g + 1) * per).min(s.n)).enumerate() {
                let gyn = &gy[img * s.cout * s.hw..(img + 1) * s.cout * s.hw];
                let xn = &x[img * s.cin * s.hw..(img + 1) * s.cin * s.hw];
                product(&mut acc, (gyn, s.hw, 1), (xn, 1, s.hw), s.cout, s.cin, s.hw, i > 0, true);
            }
            acc
        })
        .collect();
    for p in parts {
        gw.iter_mut().zip(p).for_each(|(a, b)| *a += b);
    }
    (gx, gw)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(len: usize, seed: u32) -> Vec<f32> {
        (0..len)
            .map(|i| (((i as u32).wrapping_mul(2654435761).wrapping_add(seed) >> 8) % 1000) as f32 / 500.0 - 1.0)
            .collect()
    }

    #[test]
    fn forward_and_gradients_match_the_definition() {
        for s in [
            PwShape { n: 11, cin: 5, cout: 7, hw: 6 },
            PwShape { n: 13, cin: 48, cout: 96, hw: 49 },
            PwShape { n: 64, cin: 96, cout: 40, hw: 4 },
        ] {
            let (x, w, gy) = (values(s.n * s.cin * s.hw, 1), values(s.cout * s.cin, 2), values(s.n * s.cout * s.hw, 3));
            let y = forward(&x, &w, s, None);
            let (gx, gw) = backward(&x, &w, &gy, s);
            let at = |n: usize, c: usize, p: usize, ch: usize| (n * ch + c) * s.hw + p;
            let close = |a: f32, b: f32| (a - b).abs() <= 1e-4 * b.abs().max(1.0);
            for n in (0..s.n).step_by(5) {
                for p in 0..s.hw {
                    for o in 0..s.cout {
                        let want: f32 = (0..s.cin).map(|i| w[o * s.cin + i] * x[at(n, i, p, s.cin)]).sum();
                        assert!(close(y[at(n, o, p, s.cout)], want));
                    }
                    for i in 0..s.cin {
                        let want: f32 = (0..s.cout).map(|o| w[o * s.cin + i] * gy[at(n, o, p, s.cout)]).sum();
                        assert!(close(gx[at(n, i, p, s.cin)], want));
                    }
                }
            }
            for o in 0..s.cout {
                for i in 0..s.cin {
                    let want: f64 = (0..s.n)
                        .flat_map(|n| (0..s.hw).map(move |p| (n, p)))
                        .map(|(n, p)| (gy[at(n, o, p, s.cout)] * x[at(n, i, p, s.cin)]) as f64)
                        .sum();
                    assert!(close(gw[o * s.cin + i], want as f32), "gw[{o},{i}] {} vs {want}", gw[o * s.cin + i]);
                }
            }
        }
    }
}
