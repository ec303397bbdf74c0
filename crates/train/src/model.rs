//! The Burn model of an architecture, following `SEMANTICS.md` (conv + batch-norm +
//! activation, depthwise via groups, squeeze-excite, residual rule, head), and the read-out
//! of its parameters into the weight source the ONNX exporter takes.

use crate::kernels::{batch_norm_act, conv_batch_norm_act, Act, ConvKind};
use burn::module::{Module, Param, RunningState};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig, PaddingConfig2d};
use burn::prelude::*;
use burn::tensor::activation::{hard_sigmoid, relu};
use edgenas_space::semantics::{has_residual, padding, se_hidden, BN_EPS, HSIGMOID_ALPHA, HSIGMOID_BETA, RELU6_MAX};
use edgenas_space::{Architecture, BatchNorm as BnWeights, BlockKind, ConvWeights, LinearWeights, NamedWeights};

/// Convolution + batch-norm (+ ReLU6 when `act`).
#[derive(Module, Debug)]
pub struct ConvBn {
    conv: Conv2d,
    bn: BatchNorm,
    act: bool,
}

impl ConvBn {
    fn new(cin: usize, cout: usize, k: usize, stride: usize, depthwise: bool, act: bool, device: &Device) -> Self {
        let p = padding(k);
        ConvBn {
            conv: Conv2dConfig::new([cin, cout], [k, k])
                .with_stride([stride, stride])
                .with_padding(PaddingConfig2d::Explicit(p, p, p, p))
                .with_groups(if depthwise { cin } else { 1 })
                .with_bias(false)
                .init(device),
            bn: BatchNormConfig::new(cout).with_epsilon(BN_EPS as f64).init(device),
            act,
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let c = &self.conv;
        let kind = if c.groups > 1 && c.groups == c.weight.dims()[0] {
            Some(ConvKind::Depthwise { stride: c.stride[0], pad: padding(c.kernel_size[0]) })
        } else if c.kernel_size == [1, 1] && c.stride == [1, 1] && c.groups == 1 {
            Some(ConvKind::Pointwise)
        } else {
            None
        };
        match kind {
            Some(kind) => conv_batch_norm_act(x, c.weight.val(), kind, &self.bn, activation(self.act)),
            None => batch_norm_act(&self.bn, c.forward(x), activation(self.act)),
        }
    }

    fn load(mut self, w: &ConvWeights, device: &Device) -> Self {
        self.conv.weight = param4(&w.weight, self.conv.weight.dims(), device);
        if let Some(bn) = &w.bn {
            let n = bn.gamma.len();
            self.bn.gamma = Param::from_tensor(tensor1(&bn.gamma, n, device));
            self.bn.beta = Param::from_tensor(tensor1(&bn.beta, n, device));
            self.bn.running_mean = RunningState::new(tensor1(&bn.mean, n, device));
            self.bn.running_var = RunningState::new(tensor1(&bn.var, n, device));
        }
        self
    }

    fn weights(&self) -> ConvWeights {
        let v = |t: Tensor<1>| t.into_data().try_to_vec::<f32>().expect("f32 tensor");
        ConvWeights {
            weight: self.conv.weight.val().into_data().try_to_vec::<f32>().expect("f32 tensor"),
            bias: None,
            bn: Some(BnWeights {
                gamma: v(self.bn.gamma.val()),
                beta: v(self.bn.beta.val()),
                mean: v(self.bn.running_mean.value()),
                var: v(self.bn.running_var.value()),
            }),
        }
    }
}

/// The activation after a batch-norm: ReLU6 when `act`.
pub(crate) fn activation(act: bool) -> Act {
    if act {
        Act::relu6(RELU6_MAX)
    } else {
        Act::Identity
    }
}

fn tensor1(v: &[f32], n: usize, device: &Device) -> Tensor<1> {
    Tensor::from_data(TensorData::new(v.to_vec(), [n]), device)
}

fn param4(v: &[f32], dims: [usize; 4], device: &Device) -> Param<Tensor<4>> {
    Param::from_tensor(Tensor::from_data(TensorData::new(v.to_vec(), dims), device))
}

fn load_conv_bias(mut c: Conv2d, w: &ConvWeights, device: &Device) -> Conv2d {
    c.weight = param4(&w.weight, c.weight.dims(), device);
    if let (Some(b), Some(_)) = (&w.bias, &c.bias) {
        c.bias = Some(Param::from_tensor(tensor1(b, b.len(), device)));
    }
    c
}

/// Squeeze-excite: pool, 1x1 conv (bias) + ReLU, 1x1 conv (bias) + hard-sigmoid, scale.
#[derive(Module, Debug)]
pub struct SqueezeExcite {
    reduce: Conv2d,
    expand: Conv2d,
}

fn conv_bias_weights(c: &Conv2d) -> ConvWeights {
    ConvWeights {
        weight: c.weight.val().into_data().try_to_vec::<f32>().expect("f32 tensor"),
        bias: c.bias.as_ref().map(|b| b.val().into_data().try_to_vec::<f32>().expect("f32 tensor")),
        bn: None,
    }
}

impl SqueezeExcite {
    fn new(channels: usize, device: &Device) -> Self {
        let h = se_hidden(channels);
        SqueezeExcite {
            reduce: Conv2dConfig::new([channels, h], [1, 1]).init(device),
            expand: Conv2dConfig::new([h, channels], [1, 1]).init(device),
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let pooled = x.clone().mean_dim(3).mean_dim(2);
        let gate = hard_sigmoid(
            self.expand.forward(relu(self.reduce.forward(pooled))),
            HSIGMOID_ALPHA as f64,
            HSIGMOID_BETA as f64,
        );
        x.mul(gate)
    }
}

/// One MBConv block.
#[derive(Module, Debug)]
pub struct MbBlock {
    expand: Option<ConvBn>,
    dw: ConvBn,
    se: Option<SqueezeExcite>,
    project: ConvBn,
    residual: bool,
    /// ConvNeXt-like order: depthwise before the expansion.
    dw_first: bool,
}

impl MbBlock {
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let expand = |t: Tensor<4>| match &self.expand {
            Some(e) => e.forward(t),
            None => t,
        };
        let mut t = if self.dw_first { expand(self.dw.forward(x.clone())) } else { self.dw.forward(expand(x.clone())) };
        if let Some(se) = &self.se {
            t = se.forward(t);
        }
        t = self.project.forward(t);
        if self.residual {
            t = t + x;
        }
        t
    }
}

/// The whole network.
#[derive(Module, Debug)]
pub struct Net {
    stem: ConvBn,
    blocks: Vec<MbBlock>,
    head: ConvBn,
    fc: Linear,
}

/// Builds a [`Net`] for an architecture (the `XConfig::new(..).init(&device)` pattern).
#[derive(Debug, Clone)]
pub struct NetConfig {
    /// The architecture.
    pub arch: Architecture,
}

impl NetConfig {
    /// A config for `arch`.
    pub fn new(arch: Architecture) -> Self {
        NetConfig { arch }
    }

    /// Initialize the network's parameters on `device` (seed the device for determinism).
    pub fn init(&self, device: &Device) -> Net {
        let a = &self.arch;
        let stem = ConvBn::new(a.input.channels, a.stem.width, a.stem.kernel, a.stem.stride, false, true, device);
        let mut blocks = Vec::new();
        let mut cin = a.stem.width;
        for st in &a.stages {
            for (j, b) in st.blocks.iter().enumerate() {
                let stride = if j == 0 { st.stride } else { 1 };
                let cexp = cin * b.expansion;
                let dw_first = b.kind == BlockKind::Convnext;
                let dw = if dw_first {
                    ConvBn::new(cin, cin, b.kernel, stride, true, false, device)
                } else {
                    ConvBn::new(cexp, cexp, b.kernel, stride, true, true, device)
                };
                blocks.push(MbBlock {
                    expand: (b.expansion > 1).then(|| ConvBn::new(cin, cexp, 1, 1, false, true, device)),
                    dw,
                    se: b.se.then(|| SqueezeExcite::new(cexp, device)),
                    project: ConvBn::new(cexp, st.width, 1, 1, false, false, device),
                    residual: has_residual(cin, st.width, stride),
                    dw_first,
                });
                cin = st.width;
            }
        }
        let head = ConvBn::new(cin, a.head.width, 1, 1, false, true, device);
        let fc = LinearConfig::new(a.head.width, a.classes).init(device);
        Net { stem, blocks, head, fc }
    }
}

impl Net {
    /// A network for `arch` holding the given weights (batch-norm statistics included), e.g.
    /// weights inherited from a supernet. The shapes must be those of `arch`.
    pub fn from_named_weights(arch: &Architecture, w: &NamedWeights, device: &Device) -> Net {
        let mut net = NetConfig::new(arch.clone()).init(device);
        let conv = |name: &str| w.convs.get(name).unwrap_or_else(|| panic!("weights of layer {name} are missing"));
        net.stem = net.stem.load(conv("stem"), device);
        let mut blocks = std::mem::take(&mut net.blocks).into_iter();
        for (i, st) in arch.stages.iter().enumerate() {
            for j in 0..st.blocks.len() {
                let mut b = blocks.next().expect("one module block per architecture block");
                let n = format!("s{i}.b{j}");
                b.expand = b.expand.map(|e| e.load(conv(&format!("{n}.expand")), device));
                b.dw = b.dw.load(conv(&format!("{n}.dw")), device);
                b.se = b.se.map(|se| SqueezeExcite {
                    reduce: load_conv_bias(se.reduce, conv(&format!("{n}.se.reduce")), device),
                    expand: load_conv_bias(se.expand, conv(&format!("{n}.se.expand")), device),
                });
                b.project = b.project.load(conv(&format!("{n}.project")), device);
                net.blocks.push(b);
            }
        }
        net.head = net.head.load(conv("head.conv"), device);
        let fc = w.linears.get("head.fc").expect("weights of head.fc are missing");
        let [din, dout] = net.fc.weight.dims();
        let mut wt = vec![0f32; din * dout];
        for i in 0..din {
            for o in 0..dout {
                wt[i * dout + o] = fc.weight[o * din + i];
            }
        }
        net.fc.weight = Param::from_tensor(Tensor::from_data(TensorData::new(wt, [din, dout]), device));
        net.fc.bias = Some(Param::from_tensor(tensor1(&fc.bias, dout, device)));
        net
    }

    /// Logits `[batch, classes]` of images `[batch, c, h, w]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        let mut t = self.stem.forward(x);
        for b in &self.blocks {
            t = b.forward(t);
        }
        t = self.head.forward(t);
        let [batch, c, _, _] = t.dims();
        let pooled = t.mean_dim(3).mean_dim(2).reshape([batch, c]);
        self.fc.forward(pooled)
    }

    /// The parameters by layer name (batch-norm unfolded, running statistics included), for
    /// the ONNX exporter. Read from an eval-mode (`valid()`) model.
    pub fn named_weights(&self, arch: &Architecture) -> NamedWeights {
        let mut w = NamedWeights::default();
        w.convs.insert("stem".into(), self.stem.weights());
        let mut it = self.blocks.iter();
        for (i, st) in arch.stages.iter().enumerate() {
            for j in 0..st.blocks.len() {
                let b = it.next().expect("one module block per architecture block");
                let n = format!("s{i}.b{j}");
                if let Some(e) = &b.expand {
                    w.convs.insert(format!("{n}.expand"), e.weights());
                }
                w.convs.insert(format!("{n}.dw"), b.dw.weights());
                if let Some(se) = &b.se {
                    w.convs.insert(format!("{n}.se.reduce"), conv_bias_weights(&se.reduce));
                    w.convs.insert(format!("{n}.se.expand"), conv_bias_weights(&se.expand));
                }
                w.convs.insert(format!("{n}.project"), b.project.weights());
            }
        }
        w.convs.insert("head.conv".into(), self.head.weights());
        // Burn's Linear weight is [d_in, d_out]; the weight source wants [out, in].
        let [din, dout] = self.fc.weight.dims();
        let wt = self.fc.weight.val().into_data().try_to_vec::<f32>().expect("f32 tensor");
        let mut weight = vec![0f32; din * dout];
        for i in 0..din {
            for o in 0..dout {
                weight[o * din + i] = wt[i * dout + o];
            }
        }
        let bias = self
            .fc
            .bias
            .as_ref()
            .map(|b| b.val().into_data().try_to_vec::<f32>().expect("f32 tensor"))
            .unwrap_or(vec![0.0; dout]);
        w.linears.insert("head.fc".into(), LinearWeights { weight, bias });
        w
    }
}
