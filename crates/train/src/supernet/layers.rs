//! The super layers: the largest shape of every layer, sliced per subnet in the forward pass.
//!
//! Owns [`SuperConvBn`] (convolution + batch-norm), [`SuperSe`] (squeeze-excite), the block
//! of the largest shape ([`SuperBlock`], with the ConvNeXt-like layers in [`SuperCn`]) and how
//! batch-norm behaves in one forward pass ([`BnMode`]): with the batch's statistics, and
//! optionally recording them into [`BnStats`] under the layer names of SEMANTICS.md. What a
//! block kind does in the forward pass lives in [`SuperBlock::forward`]; which layers a kind
//! owns, in [`SuperBlock::new`] and [`SuperBlock::layers`].

use std::collections::BTreeMap;

use crate::kernels::{batch_norm_act_batch, depthwise_conv2d, pointwise_conv2d};
use crate::model::activation;
use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig};
use burn::prelude::*;
use burn::tensor::activation::{hard_sigmoid, relu};
use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;
use edgenas_space::semantics::{has_residual, padding, se_hidden, BN_EPS, HSIGMOID_ALPHA, HSIGMOID_BETA};
use edgenas_space::{Block, BlockKind};

/// Batch-norm statistics (mean, variance per channel) by layer name (`stem`,
/// `s{i}.b{j}.expand`, `s{i}.b{j}.dw`, `s{i}.b{j}.project`, `head.conv`).
#[derive(Debug, Default)]
pub(super) struct BnStats(BTreeMap<String, (Vec<f32>, Vec<f32>)>);

impl BnStats {
    /// Adds `other`'s statistics layer by layer (the first batch's are taken as they are).
    pub(super) fn add(&mut self, other: BnStats) {
        if self.0.is_empty() {
            *self = other;
            return;
        }
        assert_eq!(self.0.len(), other.0.len(), "every batch records the same layers");
        for (name, (m, v)) in other.0 {
            let (sm, sv) = self.0.get_mut(&name).expect("every batch records the same layers");
            sm.iter_mut().zip(m).for_each(|(a, b)| *a += b);
            sv.iter_mut().zip(v).for_each(|(a, b)| *a += b);
        }
    }

    /// Every statistic multiplied by `factor` (sums into means).
    pub(super) fn scale(&mut self, factor: f32) {
        for (m, v) in self.0.values_mut() {
            m.iter_mut().chain(v.iter_mut()).for_each(|x| *x *= factor);
        }
    }

    /// The statistics of layer `name`, taken out.
    pub(super) fn take(&mut self, name: &str) -> (Vec<f32>, Vec<f32>) {
        self.0.remove(name).unwrap_or_else(|| panic!("no batch-norm statistics recorded for layer {name}"))
    }

    /// Whether every statistic was taken out.
    pub(super) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn record(&mut self, name: &str, stats: (Vec<f32>, Vec<f32>)) {
        let old = self.0.insert(name.to_string(), stats);
        assert!(old.is_none(), "layer {name} recorded twice in one forward pass");
    }
}

/// How batch-norm layers behave in one forward pass.
pub(super) enum BnMode {
    /// Normalize with the batch's statistics (training).
    Batch,
    /// Normalize with the batch's statistics and record them by layer name.
    Record(BnStats),
}

/// Convolution (largest shape) + batch-norm, sliced per subnet.
#[derive(Module, Debug)]
pub struct SuperConvBn {
    pub(super) conv: Conv2d,
    pub(super) bn: BatchNorm,
    kmax: usize,
    stride: usize,
    depthwise: bool,
    act: bool,
}

impl SuperConvBn {
    pub(super) fn new(
        cin: usize,
        cout: usize,
        k: usize,
        stride: usize,
        depthwise: bool,
        act: bool,
        device: &Device,
    ) -> Self {
        SuperConvBn {
            conv: Conv2dConfig::new([if depthwise { 1 } else { cin }, cout], [k, k]).with_bias(false).init(device),
            bn: BatchNormConfig::new(cout).with_epsilon(BN_EPS as f64).init(device),
            kmax: k,
            stride,
            depthwise,
            act,
        }
    }

    /// The weight of the subnet layer `cin -> cout` with kernel `k` (centre crop).
    pub(super) fn weight(&self, cin: usize, cout: usize, k: usize) -> Tensor<4> {
        let o = (self.kmax - k) / 2;
        let cin = if self.depthwise { 1 } else { cin };
        self.conv.weight.val().slice(s![0..cout, 0..cin, o..o + k, o..o + k])
    }

    /// The subnet layer `name` (`cout` channels, kernel `k`) on `x`.
    pub(super) fn forward(&self, x: Tensor<4>, cout: usize, k: usize, name: &str, mode: &mut BnMode) -> Tensor<4> {
        self.forward_strided(x, cout, k, self.stride, name, mode)
    }

    /// [`SuperConvBn::forward`] with the subnet's `stride` (the stem's stride is a choice in
    /// some spaces; the weights do not depend on it).
    pub(super) fn forward_strided(
        &self,
        x: Tensor<4>,
        cout: usize,
        k: usize,
        stride: usize,
        name: &str,
        mode: &mut BnMode,
    ) -> Tensor<4> {
        let [_, cin, _, _] = x.dims();
        let p = padding(k);
        let w = self.weight(cin, cout, k);
        let y = if self.depthwise {
            depthwise_conv2d(x, w, stride, p)
        } else if k == 1 && stride == 1 {
            pointwise_conv2d(x, w)
        } else {
            conv2d(x, w, None, ConvOptions::new([stride, stride], [p, p], [1, 1], 1))
        };
        let gamma = self.bn.gamma.val().slice(s![0..cout]);
        let beta = self.bn.beta.val().slice(s![0..cout]);
        let (y, mean, var) = batch_norm_act_batch(y, gamma, beta, BN_EPS as f64, activation(self.act));
        if let BnMode::Record(stats) = mode {
            let v = |t: Tensor<1>| t.into_data().try_to_vec::<f32>().expect("f32 tensor");
            stats.record(name, (v(mean), v(var)));
        }
        y
    }
}

/// Squeeze-excite of the largest block, sliced per subnet.
#[derive(Module, Debug)]
pub struct SuperSe {
    reduce: Conv2d,
    expand: Conv2d,
}

impl SuperSe {
    fn new(c: usize, device: &Device) -> Self {
        let h = se_hidden(c);
        SuperSe {
            reduce: Conv2dConfig::new([c, h], [1, 1]).init(device),
            expand: Conv2dConfig::new([h, c], [1, 1]).init(device),
        }
    }

    /// Reduce weight and bias, expand weight and bias of the subnet's squeeze-excite on `c`
    /// channels.
    pub(super) fn parts(&self, c: usize) -> (Tensor<4>, Tensor<1>, Tensor<4>, Tensor<1>) {
        let h = se_hidden(c);
        let b = |conv: &Conv2d, n: usize| conv.bias.as_ref().expect("SE convs have a bias").val().slice(s![0..n]);
        (
            self.reduce.weight.val().slice(s![0..h, 0..c, .., ..]),
            b(&self.reduce, h),
            self.expand.weight.val().slice(s![0..c, 0..h, .., ..]),
            b(&self.expand, c),
        )
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let [_, c, _, _] = x.dims();
        let (rw, rb, ew, eb) = self.parts(c);
        let pooled = x.clone().mean_dim(3).mean_dim(2);
        let opts = || ConvOptions::new([1, 1], [0, 0], [1, 1], 1);
        let hidden = relu(conv2d(pooled, rw, Some(rb), opts()));
        let gate = hard_sigmoid(conv2d(hidden, ew, Some(eb), opts()), HSIGMOID_ALPHA as f64, HSIGMOID_BETA as f64);
        x.mul(gate)
    }
}

/// One block of the largest shape: the MBConv layers, and the ConvNeXt-like ones when the
/// space offers that kind (the two kinds share no weights).
#[derive(Module, Debug)]
pub struct SuperBlock {
    expand: SuperConvBn,
    dw: SuperConvBn,
    se: SuperSe,
    project: SuperConvBn,
    cn: Option<SuperCn>,
}

/// The ConvNeXt-like layers of one block of the largest shape.
#[derive(Module, Debug)]
pub struct SuperCn {
    dw: SuperConvBn,
    expand: SuperConvBn,
    se: SuperSe,
    project: SuperConvBn,
}

/// The layers of one block of a subnet, borrowed from its [`SuperBlock`].
pub(super) struct BlockLayers<'a> {
    pub(super) expand: &'a SuperConvBn,
    pub(super) dw: &'a SuperConvBn,
    pub(super) se: &'a SuperSe,
    pub(super) project: &'a SuperConvBn,
}

/// Where a subnet's block sits: its layer-name prefix (`s{i}.b{j}`), input and output
/// channels, and stride.
pub(super) struct BlockAt {
    pub(super) name: String,
    pub(super) cin: usize,
    pub(super) cout: usize,
    pub(super) stride: usize,
}

impl SuperBlock {
    /// The largest block `cin -> cout` (expanded to `cexp`, kernel `kmax`, `stride`), with
    /// the ConvNeXt-like layers when `convnext`. Parameters are created in a fixed order
    /// (seeded initializations depend on it).
    pub(super) fn new(
        [cin, cexp, cout]: [usize; 3],
        kmax: usize,
        stride: usize,
        convnext: bool,
        device: &Device,
    ) -> Self {
        SuperBlock {
            expand: SuperConvBn::new(cin, cexp, 1, 1, false, true, device),
            dw: SuperConvBn::new(cexp, cexp, kmax, stride, true, true, device),
            se: SuperSe::new(cexp, device),
            project: SuperConvBn::new(cexp, cout, 1, 1, false, false, device),
            cn: convnext.then(|| SuperCn {
                dw: SuperConvBn::new(cin, cin, kmax, stride, true, false, device),
                expand: SuperConvBn::new(cin, cexp, 1, 1, false, true, device),
                se: SuperSe::new(cexp, device),
                project: SuperConvBn::new(cexp, cout, 1, 1, false, false, device),
            }),
        }
    }

    /// The layers a block of `kind` uses.
    pub(super) fn layers(&self, kind: BlockKind) -> BlockLayers<'_> {
        match kind {
            BlockKind::Mbconv => {
                BlockLayers { expand: &self.expand, dw: &self.dw, se: &self.se, project: &self.project }
            }
            BlockKind::Convnext => {
                let cn = self.cn.as_ref().expect("the supernet of a space with convnext blocks has their layers");
                BlockLayers { expand: &cn.expand, dw: &cn.dw, se: &cn.se, project: &cn.project }
            }
        }
    }

    /// Block `b` of a subnet at `at` on `x`: MBConv expands, then convolves depthwise; the
    /// ConvNeXt-like kind convolves depthwise, then expands. Squeeze-excite (when asked) on
    /// the expanded width, projection, and the residual when the shapes allow it.
    pub(super) fn forward(&self, x: Tensor<4>, b: &Block, at: &BlockAt, mode: &mut BnMode) -> Tensor<4> {
        let n = &at.name;
        let cexp = at.cin * b.expansion;
        let l = self.layers(b.kind);
        let expand = |u: Tensor<4>, mode: &mut BnMode| {
            if b.expansion > 1 {
                l.expand.forward(u, cexp, 1, &format!("{n}.expand"), mode)
            } else {
                u
            }
        };
        let input = x.clone();
        let u = match b.kind {
            BlockKind::Mbconv => {
                let u = expand(x, mode);
                l.dw.forward(u, cexp, b.kernel, &format!("{n}.dw"), mode)
            }
            BlockKind::Convnext => {
                let u = l.dw.forward(x, at.cin, b.kernel, &format!("{n}.dw"), mode);
                expand(u, mode)
            }
        };
        let u = if b.se { l.se.forward(u) } else { u };
        let u = l.project.forward(u, at.cout, 1, &format!("{n}.project"), mode);
        if has_residual(at.cin, at.cout, at.stride) {
            u + input
        } else {
            u
        }
    }
}
