//! Where does a training step spend its time? Times depthwise convolution variants.
use burn::module::Param;
use burn::nn::conv::Conv2dConfig;
use burn::nn::PaddingConfig2d;
use burn::prelude::*;
use std::time::Instant;

fn time<F: FnMut()>(name: &str, reps: usize, mut f: F) -> f64 {
    f();
    let mut v = vec![];
    for _ in 0..reps {
        let t = Instant::now();
        f();
        v.push(t.elapsed().as_secs_f64() * 1e3);
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let m = v[v.len() / 2];
    println!("{name:50} {m:8.2} ms");
    m
}

/// Depthwise conv as a sum of k*k shifted slices times per-channel weights.
fn dw_shift(x: Tensor<4>, w: Tensor<4>, k: usize, s: usize) -> Tensor<4> {
    let [n, c, h, wd] = x.dims();
    let p = k / 2;
    let ho = (h + 2 * p - k) / s + 1;
    let wo = (wd + 2 * p - k) / s + 1;
    let xp = x.pad([(0, 0), (0, 0), (p, p), (p, p)], burn::tensor::ops::PadMode::Constant(0.0));
    let mut acc: Option<Tensor<4>> = None;
    for i in 0..k {
        for j in 0..k {
            let sl = xp.clone().slice(s![.., .., i..i + (ho - 1) * s + 1;s, j..j + (wo - 1) * s + 1;s]);
            let wij = w.clone().slice(s![.., .., i..i + 1, j..j + 1]).reshape([1, c, 1, 1]);
            let t = sl * wij;
            acc = Some(match acc {
                None => t,
                Some(a) => a + t,
            });
        }
    }
    let _ = n;
    acc.unwrap()
}

fn main() {
    let base = Device::flex();
    base.seed(1);
    let ad = base.clone().autodiff();
    for &(n, c, h, k, st) in &[(64usize, 96usize, 28usize, 3usize, 1usize), (64, 96, 28, 5, 2), (64, 144, 14, 3, 1), (64, 288, 7, 5, 1)] {
        println!("--- x [{n},{c},{h},{h}] k{k} s{st}");
        let x0: Tensor<4> = Tensor::random([n, c, h, h], burn::tensor::Distribution::Default, &ad);
        let conv = Conv2dConfig::new([c, c], [k, k])
            .with_stride([st, st])
            .with_padding(PaddingConfig2d::Explicit(k / 2, k / 2, k / 2, k / 2))
            .with_groups(c)
            .with_bias(false)
            .init(&ad);
        time("grouped conv fwd (no grad)", 5, || {
            let _ = conv.forward(x0.clone()).into_data();
        });
        time("grouped conv fwd+bwd", 5, || {
            let x = x0.clone().require_grad();
            let y = conv.forward(x.clone());
            let g = y.sum().backward();
            let _ = x.grad(&g).unwrap().into_data();
        });
        let w: Param<Tensor<4>> = conv.weight.clone();
        time("shift-add fwd+bwd", 5, || {
            let x = x0.clone().require_grad();
            let y = dw_shift(x.clone(), w.val(), k, st);
            let g = y.sum().backward();
            let _ = x.grad(&g).unwrap().into_data();
        });
        let pw = Conv2dConfig::new([c, c / 6 * 1 + 16], [1, 1]).with_bias(false).init(&ad);
        time("pointwise conv fwd+bwd (c -> c/6+16)", 5, || {
            let x = x0.clone().require_grad();
            let y = pw.forward(x.clone());
            let g = y.sum().backward();
            let _ = x.grad(&g).unwrap().into_data();
        });
        let bn = burn::nn::BatchNormConfig::new(c).init(&ad);
        time("batchnorm + clamp fwd+bwd", 5, || {
            let x = x0.clone().require_grad();
            let y = bn.forward(x.clone()).clamp(0.0, 6.0);
            let g = y.sum().backward();
            let _ = x.grad(&g).unwrap().into_data();
        });
    }
    // the whole reference net
    let arch: edgenas_space::Architecture =
        serde_json::from_str(&std::fs::read_to_string("spaces/reference-arch.json").unwrap()).unwrap();
    for bs in [64usize, 128] {
        let model = edgenas_train::trainer::init_seeded(&arch, 0, &ad);
        let x0: Tensor<4> = Tensor::random([bs, 1, 28, 28], burn::tensor::Distribution::Default, &ad);
        let xb: Tensor<4> = Tensor::random([bs, 1, 28, 28], burn::tensor::Distribution::Default, &base);
        let ms = time(&format!("reference net fwd+bwd bs{bs}"), 5, || {
            let x = x0.clone();
            let y = model.forward(x);
            let g = y.sum().backward();
            drop(g);
        });
        println!("  = {:.0} img/s (fwd+bwd only)", bs as f64 / ms * 1e3);
        let mv = model.valid();
        let ms = time(&format!("reference net fwd eval bs{bs}"), 5, || {
            let _ = mv.forward(xb.clone()).into_data();
        });
        println!("  = {:.0} img/s infer", bs as f64 / ms * 1e3);
    }
}
