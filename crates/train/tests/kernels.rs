//! The training kernels against Burn's own operations on random shapes: outputs and gradients
//! (input, weight, gamma, beta) within 1e-4 relative, including weights sliced out of larger
//! parameters as the supernet slices them, and the inference batch-norm.

use burn::nn::conv::Conv2dConfig;
use burn::nn::{BatchNormConfig, PaddingConfig2d};
use burn::prelude::*;
use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::Distribution;
use edgenas_train::kernels::{
    self, batch_norm_act, batch_norm_act_batch, conv_batch_norm_act, depthwise_conv2d, pointwise_conv2d, Act, ConvKind,
};

/// Largest difference relative to the reference's largest magnitude (at least 1).
fn rel_diff<const D: usize>(got: Tensor<D>, want: Tensor<D>) -> f32 {
    assert_eq!(got.dims(), want.dims());
    let (g, w) = (got.into_data().try_to_vec::<f32>().unwrap(), want.into_data().try_to_vec::<f32>().unwrap());
    let scale = w.iter().fold(1f32, |m, v| m.max(v.abs()));
    g.iter().zip(&w).fold(0f32, |m, (a, b)| m.max((a - b).abs())) / scale
}

fn assert_close<const D: usize>(what: &str, got: Tensor<D>, want: Tensor<D>) {
    let d = rel_diff(got, want);
    assert!(d <= 1e-4, "{what}: relative difference {d}");
}

fn device() -> Device {
    assert!(kernels::enabled(), "these tests compare the kernels; unset EDGENAS_KERNELS");
    let d = Device::flex();
    d.seed(7);
    d.autodiff()
}

fn random<const D: usize>(shape: [usize; D], device: &Device) -> Tensor<D> {
    Tensor::random(shape, Distribution::Normal(0.0, 1.0), device)
}

/// A kernel's convolution (`fast`) against Burn's (`slow`) of the same input `x` and a weight
/// sliced out of `big`: the outputs, and the gradients of `x` and of `big` under one random
/// upstream gradient.
fn assert_same_conv(what: &str, fast: Tensor<4>, slow: Tensor<4>, x: &Tensor<4>, big: &Tensor<4>, device: &Device) {
    let r = random(slow.dims(), device);
    assert_close(&format!("{what} output"), fast.clone(), slow.clone());
    let gf = (fast * r.clone()).sum().backward();
    let gs = (slow * r).sum().backward();
    assert_close(&format!("{what} input gradient"), x.grad(&gf).unwrap(), x.grad(&gs).unwrap());
    assert_close(&format!("{what} sliced weight gradient"), big.grad(&gf).unwrap(), big.grad(&gs).unwrap());
}

#[test]
fn depthwise_matches_burn_values_and_gradients() {
    let device = device();
    // (n, c, h, w, k, stride): the project's kernels 3/5/7, strides 1/2, planes large and small
    for (n, c, h, w, k, stride) in [
        (4, 8, 14, 14, 3, 1),
        (3, 6, 15, 13, 5, 2),
        (2, 5, 7, 7, 7, 1),
        (5, 16, 4, 4, 3, 1),
        (4, 12, 2, 2, 5, 1),
        (3, 9, 7, 7, 3, 2),
        (2, 4, 28, 28, 7, 2),
    ] {
        let x = random([n, c, h, w], &device).require_grad();
        let big = random([c + 3, 1, 7, 7], &device).require_grad();
        let o = (7 - k) / 2;
        let weight = |b: Tensor<4>| b.slice(s![0..c, .., o..o + k, o..o + k]);
        let opts = ConvOptions::new([stride; 2], [k / 2; 2], [1, 1], c);
        let fast = depthwise_conv2d(x.clone(), weight(big.clone()), stride, k / 2);
        let slow = conv2d(x.clone(), weight(big.clone()), None, opts);
        let what = format!("depthwise n{n} c{c} {h}x{w} k{k} s{stride}");
        assert_same_conv(&what, fast, slow, &x, &big, &device);
    }
}

#[test]
fn pointwise_matches_burn_values_and_gradients() {
    let device = device();
    for (n, cin, cout, h) in [(4, 16, 24, 14), (3, 24, 8, 7), (6, 48, 96, 4), (8, 96, 40, 2), (2, 5, 3, 1)] {
        let x = random([n, cin, h, h], &device).require_grad();
        let big = random([cout + 4, cin + 2, 1, 1], &device).require_grad();
        let weight = |b: Tensor<4>| b.slice(s![0..cout, 0..cin, .., ..]);
        let fast = pointwise_conv2d(x.clone(), weight(big.clone()));
        let slow = conv2d(x.clone(), weight(big.clone()), None, ConvOptions::new([1, 1], [0, 0], [1, 1], 1));
        assert_same_conv(&format!("pointwise n{n} {cin}->{cout} {h}x{h}"), fast, slow, &x, &big, &device);
    }
}

#[test]
fn batch_norm_act_matches_burn_values_statistics_and_gradients() {
    let device = device();
    for (n, c, h, act) in [
        (8, 6, 14, Act::relu6(6.0)),
        (16, 12, 2, Act::Identity),
        (4, 5, 7, Act::relu6(6.0)),
        (32, 20, 4, Act::Identity),
    ] {
        // a mean away from zero, as after a convolution
        let x = (random([n, c, h, h], &device) * 2.0 + 1.5).require_grad();
        let gamma_big = (random([c + 4], &device) * 0.5 + 1.0).require_grad();
        let beta_big = random([c + 4], &device).require_grad();
        // each path slices for itself: one backward pass may not consume the other's graph
        let sliced = || (gamma_big.clone().slice(s![0..c]), beta_big.clone().slice(s![0..c]));
        let (g, b) = sliced();
        let (fast, mean, var) = batch_norm_act_batch(x.clone(), g, b, 1e-5, act);
        let (g, b) = sliced();
        let reference = burn::tensor::module::batch_norm_train(x.clone(), g, b, 1e-5);
        let slow = match act {
            Act::Identity => reference.output,
            Act::Relu6 { .. } => reference.output.clamp(0.0, 6.0),
        };
        let what = format!("batch-norm n{n} c{c} {h}x{h} {act:?}");
        assert_close(&format!("{what} output"), fast.clone(), slow.clone());
        assert_close(&format!("{what} mean"), mean, reference.mean);
        assert_close(&format!("{what} variance"), var, reference.variance);
        let r = random(slow.dims(), &device);
        let gf = (fast * r.clone()).sum().backward();
        let gs = (slow * r).sum().backward();
        assert_close(&format!("{what} input gradient"), x.grad(&gf).unwrap(), x.grad(&gs).unwrap());
        assert_close(&format!("{what} gamma gradient"), gamma_big.grad(&gf).unwrap(), gamma_big.grad(&gs).unwrap());
        assert_close(&format!("{what} beta gradient"), beta_big.grad(&gf).unwrap(), beta_big.grad(&gs).unwrap());
    }
}

#[test]
fn batch_norm_module_matches_burn_in_training_and_inference() {
    let device = device();
    let bn = BatchNormConfig::new(6).init(&device);
    let x = random([8, 6, 5, 5], &device) + 0.7;
    // training: output and the running statistics' update
    let reference = BatchNormConfig::new(6).init(&device);
    let fast = batch_norm_act(&bn, x.clone(), Act::relu6(6.0));
    let slow = reference.forward(x.clone()).clamp(0.0, 6.0);
    assert_close("training output", fast, slow);
    assert_close("running mean", bn.running_mean.value_sync(), reference.running_mean.value_sync());
    assert_close("running variance", bn.running_var.value_sync(), reference.running_var.value_sync());
    // inference on the plain device, with the running statistics
    let (bn, reference) = (bn.valid(), reference.valid());
    let xi = x.inner();
    assert_close("inference output", batch_norm_act(&bn, xi.clone(), Act::Identity), reference.forward(xi));
}

#[test]
fn fused_inference_convolution_and_batch_norm_match_burn() {
    let device = device();
    // a batch-norm with statistics of its own, as after training
    let mut bn = BatchNormConfig::new(12).init(&device);
    bn.gamma = burn::module::Param::from_tensor(random([12], &device) * 0.3 + 1.0);
    bn.beta = burn::module::Param::from_tensor(random([12], &device));
    bn.running_mean = burn::module::RunningState::new(random([12], &device));
    bn.running_var = burn::module::RunningState::new(random([12], &device).abs() + 0.5);
    let bn = bn.valid();
    let plain = Device::flex();
    // (input channels, plane, convolution): large and small planes, both layouts of each kernel
    for (cin, h, conv) in [
        (12, 14, ConvKind::Depthwise { stride: 1, pad: 1 }),
        (12, 9, ConvKind::Depthwise { stride: 2, pad: 2 }),
        (12, 4, ConvKind::Depthwise { stride: 1, pad: 3 }),
        (8, 7, ConvKind::Pointwise),
        (20, 2, ConvKind::Pointwise),
    ] {
        let x = random([5, cin, h, h], &plain);
        let (w, opts) = match conv {
            ConvKind::Depthwise { stride, pad } => {
                let k = 2 * pad + 1;
                (random([12, 1, k, k], &plain), ConvOptions::new([stride; 2], [pad; 2], [1, 1], 12))
            }
            ConvKind::Pointwise => (random([12, cin, 1, 1], &plain), ConvOptions::new([1, 1], [0, 0], [1, 1], 1)),
        };
        for act in [Act::relu6(6.0), Act::Identity] {
            let fused = conv_batch_norm_act(x.clone(), w.clone(), conv, &bn, act);
            let y = bn.forward(conv2d(x.clone(), w.clone(), None, opts.clone()));
            let want = if act == Act::Identity { y } else { y.clamp(0.0, 6.0) };
            assert_close(&format!("{conv:?} {h}x{h} {act:?}"), fused, want);
        }
    }
}

#[test]
fn a_strided_convolution_layer_still_takes_burn() {
    // the stem (3x3, stride 2, one group) is not a kernel's shape: the layer's own conv runs
    let device = device();
    let conv = Conv2dConfig::new([1, 8], [3, 3])
        .with_stride([2, 2])
        .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
        .init(&device);
    let x = random([2, 1, 9, 9], &device);
    assert_eq!(conv.forward(x).dims(), [2, 8, 5, 5]);
}

#[test]
fn results_do_not_depend_on_the_number_of_threads() {
    use edgenas_train::kernels::{batch_norm as bn, depthwise as dw, pointwise as pw};
    let values = |n: usize, seed: u64| -> Vec<f32> {
        (0..n as u64)
            .map(|i| ((i.wrapping_mul(6364136223846793005).wrapping_add(seed) >> 40) % 2000) as f32 / 1000.0 - 1.0)
            .collect()
    };
    let all = || {
        let mut out: Vec<Vec<f32>> = Vec::new();
        for (c, h, k, stride) in [(12, 14, 3, 1), (24, 7, 5, 2), (48, 2, 3, 1), (32, 4, 7, 1)] {
            let s = dw::DwShape { n: 16, c, h, w: h, k, stride, pad: k / 2 };
            let (x, w) = (values(16 * c * h * h, 1), values(c * k * k, 2));
            let y = dw::forward(&x, &w, s, None);
            let (gx, gw) = dw::backward(&x, &w, &values(y.len(), 3), s);
            out.extend([y, gx, gw]);
        }
        for (cin, cout, hw) in [(16, 96, 196), (96, 24, 49), (96, 576, 4)] {
            let s = pw::PwShape { n: 16, cin, cout, hw };
            let (x, w) = (values(16 * cin * hw, 4), values(cout * cin, 5));
            let y = pw::forward(&x, &w, s, None);
            let (gx, gw) = pw::backward(&x, &w, &values(y.len(), 6), s);
            out.extend([y, gx, gw]);
        }
        for (c, hw) in [(24, 49), (96, 4)] {
            let s = bn::BnShape { n: 16, c, hw };
            let (x, g, b) = (values(16 * c * hw, 7), values(c, 8), values(c, 9));
            let (y, st) = bn::train_forward(&x, &g, &b, 1e-5, Act::relu6(6.0), s);
            let (gx, gg, gb) = bn::train_backward(&x, &g, &b, &st, 1e-5, Act::relu6(6.0), &values(y.len(), 10), s);
            out.extend([y, st.mean, st.var, gx, gg, gb]);
        }
        out
    };
    let with = |threads: usize| rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap().install(all);
    let (one, three) = (with(1), with(3));
    for (i, (a, b)) in one.iter().zip(&three).enumerate() {
        assert!(a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits()), "output {i} differs between 1 and 3 threads");
    }
}
