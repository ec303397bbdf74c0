//! Depthwise convolution (`groups == channels`, one `k x k` filter per channel, NCHW, square
//! kernel and symmetric padding) on plain `f32` slices: the forward pass and both gradients.
//!
//! Two layouts, chosen by plane size:
//! - large planes (early in a network, few channels): one zero-padded plane at a time, read
//!   as one flat row at stride 1 so that every tap is one long vectorisable run;
//! - small planes (late, many channels; [`uses_rows`]): channel-last rows (`[n, h * w, c]`),
//!   so that the loops run over channels.
//!
//! Work is split over planes or images with rayon; every sum runs in a fixed order (the
//! weight gradient over the batch in a fixed grouping), so results do not depend on the
//! number of threads.

use rayon::prelude::*;

use super::epilogue::Epilogue;
use super::pointwise::{from_rows, to_rows};
use super::wide::wide;

/// The shape of one depthwise convolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DwShape {
    /// Batch size.
    pub n: usize,
    /// Channels (= groups).
    pub c: usize,
    /// Input height and width.
    pub h: usize,
    pub w: usize,
    /// Kernel size (square).
    pub k: usize,
    /// Stride (both directions).
    pub stride: usize,
    /// Zero padding on every side.
    pub pad: usize,
}

impl DwShape {
    /// Output height.
    pub fn ho(&self) -> usize {
        (self.h + 2 * self.pad - self.k) / self.stride + 1
    }

    /// Output width.
    pub fn wo(&self) -> usize {
        (self.w + 2 * self.pad - self.k) / self.stride + 1
    }

    fn hp(&self) -> usize {
        self.h + 2 * self.pad
    }

    fn wp(&self) -> usize {
        self.w + 2 * self.pad
    }

    /// At stride 1 the padded plane is read as one flat row: output `(oh, ow)` and tap
    /// `(ki, kj)` meet input `oh * wp + ow + ki * wp + kj`, so every tap is one run over the
    /// `(ho - 1) * wp + wo` flat output positions (the `wp - wo` between rows are computed
    /// and dropped).
    fn flat_len(&self) -> usize {
        (self.ho() - 1) * self.wp() + self.wo()
    }
}

/// Whether the shape goes through channel-last rows: planes of 4 x 4 or less, and strided
/// planes of 7 x 7 or less (measured on the reference architecture's layers).
pub fn uses_rows(s: DwShape) -> bool {
    let pixels = s.h * s.w;
    pixels <= 16 || (s.stride > 1 && pixels <= 49)
}

/// How many runs of images the channel-last weight gradient is split into.
const GROUPS: usize = 8;

/// `y[n, c] = x[n, c] * w[c]` (cross-correlation, as Burn's and ONNX's Conv).
/// `x` is `[n, c, h, w]`, `w` is `[c, 1, k, k]`; returns `[n, c, ho, wo]`, with `epilogue`
/// (an inference batch-norm and activation) applied to each plane as it is written.
pub fn forward(x: &[f32], w: &[f32], s: DwShape, epilogue: Option<&Epilogue>) -> Vec<f32> {
    if uses_rows(s) {
        return forward_rows(x, w, s, epilogue);
    }
    let (plane_in, plane_out, kk) = (s.h * s.w, s.ho() * s.wo(), s.k * s.k);
    let mut y = vec![0f32; s.n * s.c * plane_out];
    y.par_chunks_mut(plane_out).enumerate().for_each_init(
        || (vec![0f32; s.hp() * s.wp()], vec![0f32; s.flat_len()]),
        |(padded, flat), (plane, out)| {
            let ch = plane % s.c;
            pad_plane(&x[plane * plane_in..(plane + 1) * plane_in], padded, s);
            let wk = &w[ch * kk..(ch + 1) * kk];
            if s.stride == 1 {
                forward_flat(padded, wk, out, flat, s);
            } else {
                forward_strided(padded, wk, out, s);
            }
            if let Some(e) = epilogue {
                e.plane(out, ch);
            }
        },
    );
    y
}

/// The gradients of [`forward`] with respect to its input (`[n, c, h, w]`) and its weight
/// (`[c, 1, k, k]`), given the gradient `gy` of its output (`[n, c, ho, wo]`).
pub fn backward(x: &[f32], w: &[f32], gy: &[f32], s: DwShape) -> (Vec<f32>, Vec<f32>) {
    if uses_rows(s) {
        return backward_rows(x, w, gy, s);
    }
    let (plane_in, plane_out, kk) = (s.h * s.w, s.ho() * s.wo(), s.k * s.k);
    let mut gx = vec![0f32; s.n * s.c * plane_in];
    // the weight gradient of every plane, summed over the batch afterwards (in batch order)
    let mut gw_planes = vec![0f32; s.n * s.c * kk];
    let padded_len = s.hp() * s.wp();
    gx.par_chunks_mut(plane_in).zip(gw_planes.par_chunks_mut(kk)).enumerate().for_each_init(
        || (vec![0f32; padded_len], vec![0f32; padded_len], vec![0f32; s.flat_len()]),
        |(padded, gpad, gflat), (plane, (gx_plane, gw_plane))| {
            let ch = plane % s.c;
            pad_plane(&x[plane * plane_in..(plane + 1) * plane_in], padded, s);
            gpad.fill(0.0);
            let wk = &w[ch * kk..(ch + 1) * kk];
            let g = &gy[plane * plane_out..(plane + 1) * plane_out];
            if s.stride == 1 {
                backward_flat(padded, wk, g, gpad, gflat, gw_plane, s);
            } else {
                backward_strided(padded, wk, g, gpad, gw_plane, s);
            }
            crop_plane(gpad, gx_plane, s);
        },
    );
    let mut gw = vec![0f32; s.c * kk];
    gw.par_chunks_mut(kk).enumerate().for_each(|(ch, gw_c)| {
        for img in 0..s.n {
            let part = &gw_planes[(img * s.c + ch) * kk..(img * s.c + ch + 1) * kk];
            gw_c.iter_mut().zip(part).for_each(|(a, b)| *a += b);
        }
    });
    (gx, gw)
}

/// Copies input plane `src` (`h x w`) into the zero-padded `dst` (`hp x wp`).
fn pad_plane(src: &[f32], dst: &mut [f32], s: DwShape) {
    let (wp, p) = (s.wp(), s.pad);
    if p > 0 {
        dst.fill(0.0);
    }
    for (r, row) in src.chunks_exact(s.w).enumerate() {
        dst[(r + p) * wp + p..(r + p) * wp + p + s.w].copy_from_slice(row);
    }
}

/// The inner `h x w` of the padded plane `src` into `dst`.
fn crop_plane(src: &[f32], dst: &mut [f32], s: DwShape) {
    let (wp, p) = (s.wp(), s.pad);
    for (r, row) in dst.chunks_exact_mut(s.w).enumerate() {
        row.copy_from_slice(&src[(r + p) * wp + p..(r + p) * wp + p + s.w]);
    }
}

wide! {
    fn forward_flat(padded: &[f32], wk: &[f32], out: &mut [f32], flat: &mut [f32], s: DwShape) {
        let (wp, wo, k, len) = (s.wp(), s.wo(), s.k, s.flat_len());
        flat.fill(0.0);
        for ki in 0..k {
            for kj in 0..k {
                let (wv, off) = (wk[ki * k + kj], ki * wp + kj);
                for (o, xv) in flat.iter_mut().zip(&padded[off..off + len]) {
                    *o += wv * xv;
                }
            }
        }
        for (oh, orow) in out.chunks_exact_mut(wo).enumerate() {
            orow.copy_from_slice(&flat[oh * wp..oh * wp + wo]);
        }
    }
}

wide! {
    fn forward_strided(padded: &[f32], wk: &[f32], out: &mut [f32], s: DwShape) {
        let (wp, wo, k, st) = (s.wp(), s.wo(), s.k, s.stride);
        for (oh, orow) in out.chunks_exact_mut(wo).enumerate() {
            for ki in 0..k {
                let irow = &padded[(oh * st + ki) * wp..(oh * st + ki + 1) * wp];
                for kj in 0..k {
                    let wv = wk[ki * k + kj];
                    for (ow, o) in orow.iter_mut().enumerate() {
                        *o += wv * irow[kj + ow * st];
                    }
                }
            }
        }
    }
}

/// `sum(a * b)` in eight lanes (vectorisable; a fixed order).
#[inline(always)]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let (ac, bc) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ac.remainder().iter().zip(bc.remainder()).map(|(x, y)| x * y).sum();
    for (a8, b8) in ac.zip(bc) {
        for l in 0..8 {
            acc[l] += a8[l] * b8[l];
        }
    }
    acc.iter().sum::<f32>() + tail
}

wide! {
    fn backward_flat(padded: &[f32], wk: &[f32], g: &[f32], gpad: &mut [f32], gflat: &mut [f32], gw_plane: &mut [f32], s: DwShape) {
        let (wp, wo, k, len) = (s.wp(), s.wo(), s.k, s.flat_len());
        // the output gradient laid out on the flat rows, zero between them
        gflat.fill(0.0);
        for (oh, grow) in g.chunks_exact(wo).enumerate() {
            gflat[oh * wp..oh * wp + wo].copy_from_slice(grow);
        }
        for ki in 0..k {
            for kj in 0..k {
                let (wv, off) = (wk[ki * k + kj], ki * wp + kj);
                gw_plane[ki * k + kj] += dot(gflat, &padded[off..off + len]);
                for (gi, gv) in gpad[off..off + len].iter_mut().zip(gflat.iter()) {
                    *gi += wv * gv;
                }
            }
        }
    }
}

wide! {
    fn backward_strided(padded: &[f32], wk: &[f32], g: &[f32], gpad: &mut [f32], gw_plane: &mut [f32], s: DwShape) {
        let (wo, wp, k, st) = (s.wo(), s.wp(), s.k, s.stride);
        for (oh, grow) in g.chunks_exact(wo).enumerate() {
            for ki in 0..k {
                let r = (oh * st + ki) * wp;
                for kj in 0..k {
                    let wv = wk[ki * k + kj];
                    let mut acc = 0f32;
                    for (ow, gv) in grow.iter().enumerate() {
                        acc += gv * padded[r + kj + ow * st];
                        gpad[r + kj + ow * st] += wv * gv;
                    }
                    gw_plane[ki * k + kj] += acc;
                }
            }
        }
    }
}

/// The taps of output `(oh, ow)` that fall inside the input: `(tap, input pixel)`.
fn taps(s: DwShape, oh: usize, ow: usize) -> impl Iterator<Item = (usize, usize)> {
    let (k, st, p, h, w) = (s.k, s.stride, s.pad as isize, s.h as isize, s.w as isize);
    (0..k * k).filter_map(move |tap| {
        let ih = (oh * st + tap / k) as isize - p;
        let iw = (ow * st + tap % k) as isize - p;
        (ih >= 0 && iw >= 0 && ih < h && iw < w).then_some((tap, (ih * w + iw) as usize))
    })
}

fn forward_rows(x: &[f32], w: &[f32], s: DwShape, epilogue: Option<&Epilogue>) -> Vec<f32> {
    let (c, kk, pin, pout) = (s.c, s.k * s.k, s.h * s.w, s.ho() * s.wo());
    let (xr, wt) = (to_rows(x, c, pin), to_rows(w, c, kk));
    let mut yr = vec![0f32; s.n * pout * c];
    yr.par_chunks_mut(pout * c).zip(xr.par_chunks(pin * c)).for_each(|(yn, xn)| {
        image_rows_forward(xn, &wt, yn, s);
        if let Some(e) = epilogue {
            e.rows(yn);
        }
    });
    from_rows(&yr, c, pout)
}

wide! {
    /// One image in channel-last rows: `yn` `[ho * wo, c]` from `xn` `[h * w, c]` and the
    /// weight `wt` `[k * k, c]`.
    fn image_rows_forward(xn: &[f32], wt: &[f32], yn: &mut [f32], s: DwShape) {
        let c = s.c;
        for (o, yrow) in yn.chunks_exact_mut(c).enumerate() {
            for (tap, i) in taps(s, o / s.wo(), o % s.wo()) {
                let (xrow, wrow) = (&xn[i * c..(i + 1) * c], &wt[tap * c..(tap + 1) * c]);
                for ((y, xv), wv) in yrow.iter_mut().zip(xrow).zip(wrow) {
                    *y += wv * xv;
                }
            }
        }
    }
}

fn backward_rows(x: &[f32], w: &[f32], gy: &[f32], s: DwShape) -> (Vec<f32>, Vec<f32>) {
    let (c, kk, pin, pout) = (s.c, s.k * s.k, s.h * s.w, s.ho() * s.wo());
    let (xr, gr, wt) = (to_rows(x, c, pin), to_rows(gy, c, pout), to_rows(w, c, kk));
    let mut gxr = vec![0f32; s.n * pin * c];
    let per = s.n.div_ceil(GROUPS).max(1);
    let parts: Vec<Vec<f32>> = gxr
        .par_chunks_mut(per * pin * c)
        .enumerate()
        .map(|(g, gx_run)| {
            let mut gwt = vec![0f32; kk * c];
            for (j, gxn) in gx_run.chunks_exact_mut(pin * c).enumerate() {
                let img = g * per + j;
                let xn = &xr[img * pin * c..(img + 1) * pin * c];
                let gn = &gr[img * pout * c..(img + 1) * pout * c];
                image_rows_backward(xn, &wt, gn, gxn, &mut gwt, s);
            }
            gwt
        })
        .collect();
    let mut gwt = vec![0f32; kk * c];
    for p in parts {
        gwt.iter_mut().zip(p).for_each(|(a, b)| *a += b);
    }
    (from_rows(&gxr, c, pin), from_rows(&gwt, c, kk))
}

wide! {
    /// One image in channel-last rows: adds its input gradient into `gxn` `[h * w, c]` and
    /// its weight gradient into `gwt` `[k * k, c]`.
    fn image_rows_backward(xn: &[f32], wt: &[f32], gn: &[f32], gxn: &mut [f32], gwt: &mut [f32], s: DwShape) {
        let c = s.c;
        for (o, grow) in gn.chunks_exact(c).enumerate() {
            for (tap, i) in taps(s, o / s.wo(), o % s.wo()) {
                let (xrow, wrow) = (&xn[i * c..(i + 1) * c], &wt[tap * c..(tap + 1) * c]);
                for ((gx, gv), wv) in gxn[i * c..(i + 1) * c].iter_mut().zip(grow).zip(wrow) {
                    *gx += wv * gv;
                }
                for ((gw, gv), xv) in gwt[tap * c..(tap + 1) * c].iter_mut().zip(grow).zip(xrow) {
                    *gw += gv * xv;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The definition, one output at a time.
    fn naive(x: &[f32], w: &[f32], s: DwShape) -> Vec<f32> {
        let (ho, wo) = (s.ho(), s.wo());
        let mut y = vec![0f32; s.n * s.c * ho * wo];
        for n in 0..s.n {
            for c in 0..s.c {
                for oh in 0..ho {
                    for ow in 0..wo {
                        let mut acc = 0f32;
                        for ki in 0..s.k {
                            for kj in 0..s.k {
                                let ih = (oh * s.stride + ki) as isize - s.pad as isize;
                                let iw = (ow * s.stride + kj) as isize - s.pad as isize;
                                if ih >= 0 && iw >= 0 && (ih as usize) < s.h && (iw as usize) < s.w {
                                    acc += x[((n * s.c + c) * s.h + ih as usize) * s.w + iw as usize]
                                        * w[(c * s.k + ki) * s.k + kj];
                                }
                            }
                        }
                        y[((n * s.c + c) * ho + oh) * wo + ow] = acc;
                    }
                }
            }
        }
        y
    }

    fn values(len: usize, seed: u32) -> Vec<f32> {
        (0..len)
            .map(|i| (((i as u32).wrapping_mul(2654435761).wrapping_add(seed) >> 8) % 1000) as f32 / 500.0 - 1.0)
            .collect()
    }

    #[test]
    fn forward_and_gradients_match_the_definition_in_both_layouts() {
        let shapes = [
            (3, 1, 7),
            (3, 2, 8),
            (5, 1, 6),
            (5, 2, 9),
            (7, 1, 7),
            (7, 2, 14),
            (3, 1, 2),
            (3, 2, 4),
            (5, 1, 3),
            (7, 2, 3),
        ];
        let mut layouts = [false, false];
        for (k, stride, h) in shapes {
            let s = DwShape { n: 10, c: 3, h, w: h + 1, k, stride, pad: k / 2 };
            layouts[uses_rows(s) as usize] = true;
            let x = values(s.n * s.c * s.h * s.w, 1);
            let w = values(s.c * k * k, 2);
            let y = forward(&x, &w, s, None);
            let want = naive(&x, &w, s);
            assert!(y.iter().zip(&want).all(|(a, b)| (a - b).abs() < 1e-5), "k{k} s{stride} h{h}");
            // gradients by the linearity of y in x and in w: <gy, dy/dx . e_i> = gx_i
            let gy = values(y.len(), 3);
            let (gx, gw) = backward(&x, &w, &gy, s);
            let dot = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(a, b)| (a * b) as f64).sum::<f64>();
            for i in [0, 5, x.len() / 2, x.len() - 1] {
                let mut e = vec![0f32; x.len()];
                e[i] = 1.0;
                let want = dot(&gy, &naive(&e, &w, s));
                assert!((gx[i] as f64 - want).abs() < 1e-4, "gx[{i}] k{k} s{stride}: {} vs {want}", gx[i]);
            }
            for i in 0..w.len() {
                let mut e = vec![0f32; w.len()];
                e[i] = 1.0;
                let want = dot(&gy, &naive(&x, &e, s));
                assert!((gw[i] as f64 - want).abs() < 1e-3 * want.abs().max(1.0), "gw[{i}] k{k} s{stride}");
            }
        }
        assert_eq!(layouts, [true, true], "both layouts are tested");
    }
}
