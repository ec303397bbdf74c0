//! Fast CPU training kernels for the layers that dominate a step: the depthwise convolution
//! (forward, input and weight gradients), the pointwise convolution, and batch-norm fused with its activation (training
//! forward and backward, inference). They are a Burn backend extension ([`FastOps`]) for the
//! flex backend and for autodiff over flex, with the backward passes written by hand
//! ([`autodiff`]); the slice-level kernels live in [`depthwise`], [`pointwise`] and
//! [`batch_norm`].
//!
//! The layers call [`depthwise_conv2d`], [`pointwise_conv2d`], [`batch_norm_act`] and [`batch_norm_act_batch`]: on
//! a flex device they take the kernels, on any other backend (ndarray, wgpu, cuda builds)
//! Burn's own operations. `EDGENAS_KERNELS=burn` takes Burn's operations on flex too (a user
//! setting, for comparisons; [`KERNELS_VAR`]).

mod autodiff;
pub mod batch_norm;
pub mod depthwise;
pub mod epilogue;
pub mod pointwise;
mod wide;

use std::sync::atomic::{AtomicU8, Ordering};

use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{backend_extension, Backend, Dispatch, DispatchDevice, ExtensionType, Flex};
use burn::nn::BatchNorm;
use burn::prelude::*;
use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;

pub use batch_norm::Act;
use batch_norm::BnShape;
use depthwise::DwShape;
use epilogue::Epilogue;
use pointwise::PwShape;

/// The environment variable that turns the kernels off (`burn`) or on (unset, `fast`).
pub const KERNELS_VAR: &str = "EDGENAS_KERNELS";

static STATE: AtomicU8 = AtomicU8::new(UNSET);
const UNSET: u8 = 0;
const ON: u8 = 1;
const OFF: u8 = 2;

/// What a value of `EDGENAS_KERNELS` says: on (`None`, empty or `fast`) or off (`burn`); any
/// other value is an error naming the variable and the allowed values.
pub fn parse_setting(value: Option<&str>) -> crate::Result<bool> {
    match value.unwrap_or("") {
        "" | "fast" => Ok(true),
        "burn" => Ok(false),
        other => Err(crate::TrainError::Config(format!(
            "{KERNELS_VAR}={other:?} is not allowed; allowed: fast (edgenas's kernels, the default) or burn (Burn's own operations)"
        ))),
    }
}

/// Checks `EDGENAS_KERNELS` (the CLI does at start-up, before any work).
pub fn check_setting() -> crate::Result<bool> {
    parse_setting(std::env::var(KERNELS_VAR).ok().as_deref())
}

/// Whether the kernels are on: as [`set_enabled`] last said, else as `EDGENAS_KERNELS` says
/// (unset, empty or `fast`: on; `burn`: off; anything else, refused by [`check_setting`]: on).
pub fn enabled() -> bool {
    match STATE.load(Ordering::Relaxed) {
        UNSET => {
            let on = check_setting().unwrap_or(true);
            let _ = STATE.compare_exchange(UNSET, if on { ON } else { OFF }, Ordering::Relaxed, Ordering::Relaxed);
            STATE.load(Ordering::Relaxed) == ON
        }
        s => s == ON,
    }
}

/// Turns the kernels on or off for this process (benchmarks compare both in one run).
pub fn set_enabled(on: bool) {
    STATE.store(if on { ON } else { OFF }, Ordering::Relaxed);
}

/// Whether `device` is flex, plain or under autodiff: the devices the kernels serve.
pub fn serves(device: &Device) -> bool {
    enabled() && matches!(device.as_dispatch().clone().inner(), DispatchDevice::Flex(_))
}

/// Output and batch statistics of a training batch-norm.
#[derive(ExtensionType)]
pub struct BnActOut<B: Backend> {
    /// `act(batch_norm(x))`.
    pub output: FloatTensor<B>,
    /// The batch mean per channel (no gradient).
    pub mean: FloatTensor<B>,
    /// The batch's biased variance per channel (no gradient).
    pub var: FloatTensor<B>,
}

/// A batch-norm's parameters and statistics.
#[derive(ExtensionType)]
pub struct BnParams<B: Backend> {
    pub gamma: FloatTensor<B>,
    pub beta: FloatTensor<B>,
    pub mean: FloatTensor<B>,
    pub var: FloatTensor<B>,
}

/// Which convolution a kernel runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConvKind {
    /// Depthwise (`groups == channels`), with its stride and padding.
    Depthwise { stride: usize, pad: usize },
    /// Pointwise (1x1, stride 1, no padding, one group).
    Pointwise,
}

/// The operations the kernels implement (see the module documentation).
#[backend_extension(Flex, Autodiff)]
pub trait FastOps: Backend {
    /// Depthwise convolution of `x` `[n, c, h, w]` with `w` `[c, 1, k, k]`.
    fn depthwise_conv(x: FloatTensor<Self>, w: FloatTensor<Self>, stride: usize, pad: usize) -> FloatTensor<Self>;
    /// Pointwise convolution of `x` `[n, cin, h, w]` with `w` `[cout, cin, 1, 1]`.
    fn pointwise_conv(x: FloatTensor<Self>, w: FloatTensor<Self>) -> FloatTensor<Self>;
    /// Training batch-norm (batch statistics) of `x` `[n, c, h, w]`, then `act`.
    fn bn_act_train(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        eps: f64,
        act: Act,
    ) -> BnActOut<Self>;
    /// Inference: a depthwise (`depthwise`, with `stride` and `pad`) or pointwise convolution
    /// of `x` with `w`, then batch-norm with the given statistics and `act`, applied as the
    /// convolution writes its output.
    fn conv_bn_act_eval(
        x: FloatTensor<Self>,
        w: FloatTensor<Self>,
        #[extension_type] bn: BnParams<Self>,
        conv: ConvKind,
        eps: f64,
        act: Act,
    ) -> FloatTensor<Self>;
    /// Inference batch-norm (given statistics) of `x` `[n, c, h, w]`, then `act`.
    fn bn_act_eval(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        mean: FloatTensor<Self>,
        var: FloatTensor<Self>,
        eps: f64,
        act: Act,
    ) -> FloatTensor<Self>;
}

/// `t` in one contiguous f32 run.
fn contiguous(t: FlexTensor) -> FlexTensor {
    if t.as_slice::<f32>().is_some() {
        t
    } else {
        t.to_contiguous()
    }
}

fn values(t: &FlexTensor) -> &[f32] {
    t.as_slice::<f32>().expect("the kernels take contiguous f32 tensors")
}

fn dims4(t: &FlexTensor) -> [usize; 4] {
    let s = t.layout().shape();
    assert_eq!(s.num_dims(), 4, "the kernels take NCHW tensors");
    [s[0], s[1], s[2], s[3]]
}

fn flex_tensor<const D: usize>(v: Vec<f32>, shape: [usize; D]) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(v, shape))
}

fn dw_shape(x: &FlexTensor, w: &FlexTensor, stride: usize, pad: usize) -> DwShape {
    let [n, c, h, wd] = dims4(x);
    let [wc, one, k, k2] = dims4(w);
    assert!(wc == c && one == 1 && k == k2, "depthwise weight [{wc}, {one}, {k}, {k2}] for {c} channels");
    DwShape { n, c, h, w: wd, k, stride, pad }
}

fn pw_shape(x: &FlexTensor, w: &FlexTensor) -> PwShape {
    let [n, cin, h, wd] = dims4(x);
    let [cout, wcin, k, k2] = dims4(w);
    assert!(wcin == cin && k == 1 && k2 == 1, "pointwise weight [{cout}, {wcin}, {k}, {k2}] for {cin} channels");
    PwShape { n, cin, cout, hw: h * wd }
}

fn bn_shape(x: &FlexTensor) -> BnShape {
    let [n, c, h, w] = dims4(x);
    BnShape { n, c, hw: h * w }
}

impl FastOps for Flex {
    fn depthwise_conv(x: FlexTensor, w: FlexTensor, stride: usize, pad: usize) -> FlexTensor {
        let (x, w) = (contiguous(x), contiguous(w));
        let s = dw_shape(&x, &w, stride, pad);
        flex_tensor(depthwise::forward(values(&x), values(&w), s, None), [s.n, s.c, s.ho(), s.wo()])
    }

    fn pointwise_conv(x: FlexTensor, w: FlexTensor) -> FlexTensor {
        let (x, w) = (contiguous(x), contiguous(w));
        let s = pw_shape(&x, &w);
        let [n, _, h, wd] = dims4(&x);
        flex_tensor(pointwise::forward(values(&x), values(&w), s, None), [n, s.cout, h, wd])
    }

    fn bn_act_train(x: FlexTensor, gamma: FlexTensor, beta: FlexTensor, eps: f64, act: Act) -> BnActOut<Self> {
        let (x, gamma, beta) = (contiguous(x), contiguous(gamma), contiguous(beta));
        let s = bn_shape(&x);
        let (y, st) = batch_norm::train_forward(values(&x), values(&gamma), values(&beta), eps, act, s);
        BnActOut {
            output: flex_tensor(y, dims4(&x)),
            mean: flex_tensor(st.mean, [s.c]),
            var: flex_tensor(st.var, [s.c]),
        }
    }

    fn conv_bn_act_eval(
        x: FlexTensor,
        w: FlexTensor,
        bn: BnParams<Self>,
        conv: ConvKind,
        eps: f64,
        act: Act,
    ) -> FlexTensor {
        let (x, w) = (contiguous(x), contiguous(w));
        let [gamma, beta, mean, var] = [bn.gamma, bn.beta, bn.mean, bn.var].map(contiguous);
        let e = Epilogue::new(values(&gamma), values(&beta), values(&mean), values(&var), eps, act);
        match conv {
            ConvKind::Depthwise { stride, pad } => {
                let s = dw_shape(&x, &w, stride, pad);
                flex_tensor(depthwise::forward(values(&x), values(&w), s, Some(&e)), [s.n, s.c, s.ho(), s.wo()])
            }
            ConvKind::Pointwise => {
                let s = pw_shape(&x, &w);
                let [n, _, h, wd] = dims4(&x);
                flex_tensor(pointwise::forward(values(&x), values(&w), s, Some(&e)), [n, s.cout, h, wd])
            }
        }
    }

    fn bn_act_eval(
        x: FlexTensor,
        gamma: FlexTensor,
        beta: FlexTensor,
        mean: FlexTensor,
        var: FlexTensor,
        eps: f64,
        act: Act,
    ) -> FlexTensor {
        let x = contiguous(x);
        let [gamma, beta, mean, var] = [gamma, beta, mean, var].map(contiguous);
        let s = bn_shape(&x);
        let y = batch_norm::eval_forward(
            values(&x),
            values(&gamma),
            values(&beta),
            values(&mean),
            values(&var),
            eps,
            act,
            s,
        );
        flex_tensor(y, dims4(&x))
    }
}

/// Depthwise convolution of `x` `[n, c, h, w]` with `w` `[c, 1, k, k]` (stride, padding on
/// every side), as `conv2d` with `groups = c` computes it.
pub fn depthwise_conv2d(x: Tensor<4>, w: Tensor<4>, stride: usize, pad: usize) -> Tensor<4> {
    if serves(&x.device()) {
        Tensor::from_dispatch(<Dispatch as FastOps>::depthwise_conv(x.into_dispatch(), w.into_dispatch(), stride, pad))
    } else {
        let c = x.dims()[1];
        conv2d(x, w, None, ConvOptions::new([stride, stride], [pad, pad], [1, 1], c))
    }
}

/// Pointwise convolution of `x` `[n, cin, h, w]` with `w` `[cout, cin, 1, 1]` (stride 1, no
/// padding, no bias), as `conv2d` computes it.
pub fn pointwise_conv2d(x: Tensor<4>, w: Tensor<4>) -> Tensor<4> {
    if serves(&x.device()) {
        Tensor::from_dispatch(<Dispatch as FastOps>::pointwise_conv(x.into_dispatch(), w.into_dispatch()))
    } else {
        conv2d(x, w, None, ConvOptions::new([1, 1], [0, 0], [1, 1], 1))
    }
}

fn act_burn(y: Tensor<4>, act: Act) -> Tensor<4> {
    match act {
        Act::Identity => y,
        Act::Relu6 { max_bits } => y.clamp(0.0, f32::from_bits(max_bits)),
    }
}

/// Training batch-norm with the batch's statistics, then `act`: the output and the batch
/// mean and biased variance per channel (`[c]`, no gradient). `gamma` and `beta` may be
/// slices of larger parameters (the supernet's).
pub fn batch_norm_act_batch(
    x: Tensor<4>,
    gamma: Tensor<1>,
    beta: Tensor<1>,
    eps: f64,
    act: Act,
) -> (Tensor<4>, Tensor<1>, Tensor<1>) {
    if serves(&x.device()) {
        let out = <Dispatch as FastOps>::bn_act_train(
            x.into_dispatch(),
            gamma.into_dispatch(),
            beta.into_dispatch(),
            eps,
            act,
        );
        (Tensor::from_dispatch(out.output), Tensor::from_dispatch(out.mean), Tensor::from_dispatch(out.var))
    } else {
        let r = burn::tensor::module::batch_norm_train(x, gamma, beta, eps);
        (act_burn(r.output, act), r.mean.detach(), r.variance.detach())
    }
}

/// `act(bn(conv(x, w)))` for a depthwise or pointwise convolution (no bias) and Burn's
/// [`BatchNorm`]: in training the convolution and [`batch_norm_act`]; in inference on flex one
/// fused pass (the batch-norm applied as the convolution writes each plane).
pub fn conv_batch_norm_act(x: Tensor<4>, w: Tensor<4>, conv: ConvKind, bn: &BatchNorm, act: Act) -> Tensor<4> {
    let device = x.device();
    let training = device.is_autodiff() && bn.training.is_enabled();
    if serves(&device) && !training {
        let params = BnParams {
            gamma: bn.gamma.val().into_dispatch(),
            beta: bn.beta.val().into_dispatch(),
            mean: bn.running_mean.value().to_device(&device).into_dispatch(),
            var: bn.running_var.value().to_device(&device).into_dispatch(),
        };
        let out = <Dispatch as FastOps>::conv_bn_act_eval(
            x.into_dispatch(),
            w.into_dispatch(),
            params,
            conv,
            bn.epsilon,
            act,
        );
        return Tensor::from_dispatch(out);
    }
    let y = match conv {
        ConvKind::Depthwise { stride, pad } => depthwise_conv2d(x, w, stride, pad),
        ConvKind::Pointwise => pointwise_conv2d(x, w),
    };
    batch_norm_act(bn, y, act)
}

/// `act(bn.forward(x))` as Burn's [`BatchNorm`] computes it: batch statistics (and an update
/// of the running ones) when training on an autodiff device, running statistics otherwise.
pub fn batch_norm_act(bn: &BatchNorm, x: Tensor<4>, act: Act) -> Tensor<4> {
    let device = x.device();
    if !serves(&device) {
        return act_burn(bn.forward(x), act);
    }
    if device.is_autodiff() && bn.training.is_enabled() {
        let (y, mean, var) = batch_norm_act_batch(x, bn.gamma.val(), bn.beta.val(), bn.epsilon, act);
        let m = bn.momentum;
        let running_mean = bn.running_mean.value_sync().to_device(&device);
        let running_var = bn.running_var.value_sync().to_device(&device);
        bn.running_mean.update(running_mean.mul_scalar(1.0 - m).add(mean.mul_scalar(m)).detach());
        bn.running_var.update(running_var.mul_scalar(1.0 - m).add(var.mul_scalar(m)).detach());
        y
    } else {
        let mean = bn.running_mean.value().to_device(&device);
        let var = bn.running_var.value().to_device(&device);
        let out = <Dispatch as FastOps>::bn_act_eval(
            x.into_dispatch(),
            bn.gamma.val().into_dispatch(),
            bn.beta.val().into_dispatch(),
            mean.into_dispatch(),
            var.into_dispatch(),
            bn.epsilon,
            act,
        );
        Tensor::from_dispatch(out)
    }
}

#[cfg(test)]
mod tests {
    use super::parse_setting;

    #[test]
    fn the_setting_is_fast_or_burn() {
        assert!(
            parse_setting(None).unwrap() && parse_setting(Some("")).unwrap() && parse_setting(Some("fast")).unwrap()
        );
        assert!(!parse_setting(Some("burn")).unwrap());
        let e = parse_setting(Some("off")).unwrap_err().to_string();
        assert!(e.contains("EDGENAS_KERNELS=\"off\"") && e.contains("allowed: fast") && e.contains("burn"), "{e}");
    }
}
