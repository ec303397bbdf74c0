//! [`FastOps`] under autodiff over flex: the forward passes run the flex kernels and register
//! hand-written backward steps (Burn's `Backward` trait), so a training step never falls back
//! to Burn's generic grouped-convolution gradient or to the batch-norm composition.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::autodiff::Autodiff;
use burn::backend::flex::FlexTensor;
use burn::backend::ops::{FloatTensorOps, ModuleOps};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Flex, Scalar};

use super::batch_norm::{self, Act, BatchStats};
use super::depthwise::{self, DwShape};
use super::pointwise::{self, PwShape};
use super::{
    bn_shape, contiguous, dims4, dw_shape, flex_tensor, pw_shape, values, BnActOut, BnParams, ConvKind, FastOps,
};

#[derive(Debug)]
struct DepthwiseBackward;

impl Backward<Flex, 2> for DepthwiseBackward {
    type State = (FlexTensor, FlexTensor, DwShape);

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x, node_w] = ops.parents;
        let gy = contiguous(grads.consume::<Flex>(&ops.node));
        let (x, w, s) = ops.state;
        let (gx, gw) = depthwise::backward(values(&x), values(&w), values(&gy), s);
        if let Some(node) = node_x {
            grads.register::<Flex>(node.id, flex_tensor(gx, [s.n, s.c, s.h, s.w]));
        }
        if let Some(node) = node_w {
            grads.register::<Flex>(node.id, flex_tensor(gw, [s.c, 1, s.k, s.k]));
        }
    }
}

#[derive(Debug)]
struct PointwiseBackward;

impl Backward<Flex, 2> for PointwiseBackward {
    type State = (FlexTensor, FlexTensor, PwShape);

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x, node_w] = ops.parents;
        let gy = contiguous(grads.consume::<Flex>(&ops.node));
        let (x, w, s) = ops.state;
        let (gx, gw) = pointwise::backward(values(&x), values(&w), values(&gy), s);
        if let Some(node) = node_x {
            grads.register::<Flex>(node.id, flex_tensor(gx, dims4(&x)));
        }
        if let Some(node) = node_w {
            grads.register::<Flex>(node.id, flex_tensor(gw, [s.cout, s.cin, 1, 1]));
        }
    }
}

#[derive(Debug)]
struct BnActBackward;

/// What the batch-norm backward step keeps: the input, gamma and beta, the batch statistics.
type BnState = (FlexTensor, Vec<f32>, Vec<f32>, BatchStats, f64, Act);

impl Backward<Flex, 3> for BnActBackward {
    type State = BnState;

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x, node_gamma, node_beta] = ops.parents;
        let gy = contiguous(grads.consume::<Flex>(&ops.node));
        let (x, gamma, beta, stats, eps, act) = ops.state;
        let s = bn_shape(&x);
        let (gx, gg, gb) = batch_norm::train_backward(values(&x), &gamma, &beta, &stats, eps, act, values(&gy), s);
        if let Some(node) = node_x {
            grads.register::<Flex>(node.id, flex_tensor(gx, dims4(&x)));
        }
        if let Some(node) = node_gamma {
            grads.register::<Flex>(node.id, flex_tensor(gg, [s.c]));
        }
        if let Some(node) = node_beta {
            grads.register::<Flex>(node.id, flex_tensor(gb, [s.c]));
        }
    }
}

impl<C: CheckpointStrategy> FastOps for Autodiff<Flex, C> {
    fn depthwise_conv(x: FloatTensor<Self>, w: FloatTensor<Self>, stride: usize, pad: usize) -> FloatTensor<Self> {
        match DepthwiseBackward.prepare::<C>([x.node(), w.node()]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                // the inputs are kept (contiguous, shared, not copied) for the backward step
                let (x, w) = (contiguous(x.into_primitive()), contiguous(w.into_primitive()));
                let y = <Flex as FastOps>::depthwise_conv(x.clone(), w.clone(), stride, pad);
                let s = dw_shape(&x, &w, stride, pad);
                prep.finish((x, w, s), y)
            }
            OpsKind::UnTracked(prep) => {
                prep.finish(<Flex as FastOps>::depthwise_conv(x.into_primitive(), w.into_primitive(), stride, pad))
            }
        }
    }

    fn pointwise_conv(x: FloatTensor<Self>, w: FloatTensor<Self>) -> FloatTensor<Self> {
        match PointwiseBackward.prepare::<C>([x.node(), w.node()]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let (x, w) = (contiguous(x.into_primitive()), contiguous(w.into_primitive()));
                let y = <Flex as FastOps>::pointwise_conv(x.clone(), w.clone());
                let s = pw_shape(&x, &w);
                prep.finish((x, w, s), y)
            }
            OpsKind::UnTracked(prep) => {
                prep.finish(<Flex as FastOps>::pointwise_conv(x.into_primitive(), w.into_primitive()))
            }
        }
    }

    fn bn_act_train(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        eps: f64,
        act: Act,
    ) -> BnActOut<Self> {
        let prepared = BnActBackward.prepare::<C>([x.node(), gamma.node(), beta.node()]).compute_bound().stateful();
        let x = contiguous(x.into_primitive());
        let (gamma, beta) = (contiguous(gamma.into_primitive()), contiguous(beta.into_primitive()));
        let out = <Flex as FastOps>::bn_act_train(x.clone(), gamma.clone(), beta.clone(), eps, act);
        let output = match prepared {
            OpsKind::Tracked(prep) => {
                let stats = BatchStats { mean: values(&out.mean).to_vec(), var: values(&out.var).to_vec() };
                let state = (x, values(&gamma).to_vec(), values(&beta).to_vec(), stats, eps, act);
                prep.finish(state, out.output)
            }
            OpsKind::UnTracked(prep) => prep.finish(out.output),
        };
        // the statistics carry no gradient
        BnActOut { output, mean: FloatTensor::<Self>::new(out.mean), var: FloatTensor::<Self>::new(out.var) }
    }

    fn conv_bn_act_eval(
        x: FloatTensor<Self>,
        w: FloatTensor<Self>,
        bn: BnParams<Self>,
        conv: ConvKind,
        eps: f64,
        act: Act,
    ) -> FloatTensor<Self> {
        // a frozen layer on an autodiff device: the differentiable operations in turn
        let y = match conv {
            ConvKind::Depthwise { stride, pad } => Self::depthwise_conv(x, w, stride, pad),
            ConvKind::Pointwise => Self::pointwise_conv(x, w),
        };
        Self::bn_act_eval(y, bn.gamma, bn.beta, bn.mean, bn.var, eps, act)
    }

    fn bn_act_eval(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        mean: FloatTensor<Self>,
        var: FloatTensor<Self>,
        eps: f64,
        act: Act,
    ) -> FloatTensor<Self> {
        // a frozen batch-norm on an autodiff device: Burn's differentiable operations
        let y = Self::batch_norm(x, gamma, beta, mean, var, eps);
        match act {
            Act::Identity => y,
            Act::Relu6 { max_bits } => {
                Self::float_clamp(y, Scalar::from(0.0f32), Scalar::from(f32::from_bits(max_bits)))
            }
        }
    }
}
