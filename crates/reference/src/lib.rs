//! A deliberately plain reference interpreter of an [`Architecture`], used by tests to check
//! the ONNX exporter (and the Burn model builder) against an independent computation.
//!
//! It shares no code with the exporter: it walks the architecture itself (not
//! `edgenas_space::Graph`), applies batch-norm unfolded, and accumulates in f64. Only the
//! constants of `edgenas_space::semantics` and the layer names of the weight source are shared.

use edgenas_space::semantics::{BN_EPS, HSIGMOID_ALPHA, HSIGMOID_BETA, RELU6_MAX};
use edgenas_space::{Architecture, Block, BlockKind, ConvSpec, Result, WeightSource};

/// A feature map of one sample, NCHW without the batch dimension.
#[derive(Debug, Clone, PartialEq)]
pub struct Fmap {
    /// Channels.
    pub c: usize,
    /// Height.
    pub h: usize,
    /// Width.
    pub w: usize,
    /// Values, `[c, h, w]` row-major.
    pub data: Vec<f32>,
}

impl Fmap {
    fn at(&self, c: usize, y: usize, x: usize) -> f32 {
        self.data[(c * self.h + y) * self.w + x]
    }
}

fn relu6(v: f32) -> f32 {
    v.clamp(0.0, RELU6_MAX)
}

/// Convolution with `k/2` zero padding, optional bias, then optional unfolded batch-norm.
fn conv(x: &Fmap, w: &[f32], bias: Option<&[f32]>, cout: usize, k: usize, stride: usize, groups: usize) -> Fmap {
    let pad = (k / 2) as isize;
    let ho = (x.h + 2 * (k / 2) - k) / stride + 1;
    let wo = (x.w + 2 * (k / 2) - k) / stride + 1;
    let cin_g = x.c / groups;
    let cout_g = cout / groups;
    let mut out = vec![0f32; cout * ho * wo];
    for oc in 0..cout {
        let g = oc / cout_g;
        for oy in 0..ho {
            for ox in 0..wo {
                let mut acc = 0f64;
                for ic in 0..cin_g {
                    let c = g * cin_g + ic;
                    for ky in 0..k {
                        let iy = (oy * stride) as isize + ky as isize - pad;
                        if iy < 0 || iy >= x.h as isize {
                            continue;
                        }
                        for kx in 0..k {
                            let ix = (ox * stride) as isize + kx as isize - pad;
                            if ix < 0 || ix >= x.w as isize {
                                continue;
                            }
                            let wv = w[((oc * cin_g + ic) * k + ky) * k + kx];
                            acc += wv as f64 * x.at(c, iy as usize, ix as usize) as f64;
                        }
                    }
                }
                if let Some(b) = bias {
                    acc += b[oc] as f64;
                }
                out[(oc * ho + oy) * wo + ox] = acc as f32;
            }
        }
    }
    Fmap { c: cout, h: ho, w: wo, data: out }
}

/// Interprets architectures with weights from a [`WeightSource`].
pub struct Reference<'a, W: WeightSource> {
    weights: &'a W,
}

impl<'a, W: WeightSource> Reference<'a, W> {
    /// An interpreter reading parameters from `weights`.
    pub fn new(weights: &'a W) -> Self {
        Reference { weights }
    }

    #[allow(clippy::too_many_arguments)]
    fn conv_bn(
        &self,
        name: &str,
        x: &Fmap,
        cout: usize,
        k: usize,
        stride: usize,
        depthwise: bool,
        act: bool,
    ) -> Result<Fmap> {
        let groups = if depthwise { x.c } else { 1 };
        let p = self.weights.conv(name, ConvSpec { cin: x.c, cout, kernel: k, groups, bn: true })?;
        let mut y = conv(x, &p.weight, p.bias.as_deref(), cout, k, stride, groups);
        let bn = p.bn.as_ref().expect("conv layers carry batch-norm");
        let hw = y.h * y.w;
        for c in 0..cout {
            let inv = 1.0 / ((bn.var[c] as f64) + BN_EPS as f64).sqrt();
            for v in &mut y.data[c * hw..(c + 1) * hw] {
                let mut z = ((*v as f64 - bn.mean[c] as f64) * inv * bn.gamma[c] as f64 + bn.beta[c] as f64) as f32;
                if act {
                    z = relu6(z);
                }
                *v = z;
            }
        }
        Ok(y)
    }

    fn squeeze_excite(&self, name: &str, x: &Fmap) -> Result<Fmap> {
        let c = x.c;
        let hidden = edgenas_space::semantics::se_hidden(c);
        let hw = x.h * x.w;
        let pooled: Vec<f64> = (0..c)
            .map(|ch| x.data[ch * hw..(ch + 1) * hw].iter().map(|&v| v as f64).sum::<f64>() / hw as f64)
            .collect();
        let spec = |cin, cout| ConvSpec { cin, cout, kernel: 1, groups: 1, bn: false };
        let r = self.weights.conv(&format!("{name}.reduce"), spec(c, hidden))?;
        let e = self.weights.conv(&format!("{name}.expand"), spec(hidden, c))?;
        let rb = r.bias.as_ref().expect("SE convs have a bias");
        let eb = e.bias.as_ref().expect("SE convs have a bias");
        let hid: Vec<f64> = (0..hidden)
            .map(|o| {
                let s: f64 = (0..c).map(|i| r.weight[o * c + i] as f64 * pooled[i]).sum::<f64>() + rb[o] as f64;
                s.max(0.0)
            })
            .collect();
        let mut out = x.clone();
        for (o, &bias) in eb.iter().enumerate().take(c) {
            let s: f64 = (0..hidden).map(|i| e.weight[o * hidden + i] as f64 * hid[i]).sum::<f64>() + bias as f64;
            let gate = (s * HSIGMOID_ALPHA as f64 + HSIGMOID_BETA as f64).clamp(0.0, 1.0);
            for v in &mut out.data[o * hw..(o + 1) * hw] {
                *v = (*v as f64 * gate) as f32;
            }
        }
        Ok(out)
    }

    fn block(&self, name: &str, x: &Fmap, b: &Block, cout: usize, stride: usize) -> Result<Fmap> {
        let cexp = x.c * b.expansion;
        let expand = |t: &Fmap| -> Result<Fmap> {
            if b.expansion != 1 {
                self.conv_bn(&format!("{name}.expand"), t, cexp, 1, 1, false, true)
            } else {
                Ok(t.clone())
            }
        };
        let mut t = match b.kind {
            BlockKind::Mbconv => {
                let t = expand(x)?;
                self.conv_bn(&format!("{name}.dw"), &t, cexp, b.kernel, stride, true, true)?
            }
            BlockKind::Convnext => {
                let t = self.conv_bn(&format!("{name}.dw"), x, x.c, b.kernel, stride, true, false)?;
                expand(&t)?
            }
        };
        if b.se {
            t = self.squeeze_excite(&format!("{name}.se"), &t)?;
        }
        t = self.conv_bn(&format!("{name}.project"), &t, cout, 1, 1, false, false)?;
        if stride == 1 && x.c == cout {
            for (o, i) in t.data.iter_mut().zip(&x.data) {
                *o += *i;
            }
        }
        Ok(t)
    }

    /// Logits of `arch` for one input sample `[c, h, w]`.
    pub fn forward(&self, arch: &Architecture, input: &[f32]) -> Result<Vec<f32>> {
        let x = Fmap { c: arch.input.channels, h: arch.input.height, w: arch.input.width, data: input.to_vec() };
        assert_eq!(input.len(), x.c * x.h * x.w, "input size");
        let mut t = self.conv_bn("stem", &x, arch.stem.width, arch.stem.kernel, arch.stem.stride, false, true)?;
        for (i, st) in arch.stages.iter().enumerate() {
            for (j, b) in st.blocks.iter().enumerate() {
                let stride = if j == 0 { st.stride } else { 1 };
                t = self.block(&format!("s{i}.b{j}"), &t, b, st.width, stride)?;
            }
        }
        t = self.conv_bn("head.conv", &t, arch.head.width, 1, 1, false, true)?;
        let hw = t.h * t.w;
        let pooled: Vec<f64> =
            (0..t.c).map(|c| t.data[c * hw..(c + 1) * hw].iter().map(|&v| v as f64).sum::<f64>() / hw as f64).collect();
        let fc = self.weights.linear("head.fc", t.c, arch.classes)?;
        Ok((0..arch.classes)
            .map(|o| {
                ((0..t.c).map(|i| fc.weight[o * t.c + i] as f64 * pooled[i]).sum::<f64>() + fc.bias[o] as f64) as f32
            })
            .collect())
    }
}
