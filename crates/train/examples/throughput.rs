//! Training and inference throughput of an architecture with Burn flex, and (`--ops`) where a
//! training step spends its time: depthwise, pointwise and batch-norm layers alone, and a
//! shift-and-add depthwise variant.
//!
//! `cargo run --release -p edgenas-train --example throughput -- [--arch spaces/reference-arch.json] [--ops] [--json]`
//! (benches/compare/train_throughput.py runs it side by side with PyTorch).
use burn::module::Param;
use burn::nn::conv::Conv2dConfig;
use burn::nn::PaddingConfig2d;
use burn::prelude::*;
use std::time::Instant;

/// Median milliseconds of `reps` calls of `f` after one warm-up call; printed unless `quiet`.
fn time<F: FnMut()>(name: &str, reps: usize, quiet: bool, mut f: F) -> f64 {
    f();
    let mut v = vec![];
    for _ in 0..reps {
        let t = Instant::now();
        f();
        v.push(t.elapsed().as_secs_f64() * 1e3);
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let m = v[v.len() / 2];
    if !quiet {
        println!("{name:50} {m:8.2} ms (min {:.2}, max {:.2})", v[0], v[v.len() - 1]);
    }
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
    let args: Vec<String> = std::env::args().collect();
    let flag = |f: &str| args.iter().any(|a| a == f);
    let arch_path = args
        .iter()
        .position(|a| a == "--arch")
        .and_then(|i| args.get(i + 1).cloned())
        .unwrap_or_else(|| "spaces/reference-arch.json".into());
    let json = flag("--json");
    let base = edgenas_train::backend::base_device();
    base.seed(1);
    let ad = base.clone().autodiff();
    if flag("--ops") {
        ops(&ad);
    }
    let arch: edgenas_space::Architecture =
        serde_json::from_str(&std::fs::read_to_string(&arch_path).expect("read the architecture"))
            .expect("architecture JSON");
    let [c, h, w] = [arch.input.channels, arch.input.height, arch.input.width];
    let quiet = json;
    // a full training step: forward, loss, backward, AdamW
    use burn::optim::{AdamWConfig, GradientsParams};
    let bs = 64;
    let mut model = edgenas_train::trainer::init_seeded(&arch, 0, &ad);
    let mut optim = AdamWConfig::new().init();
    let loss_fn = burn::nn::loss::CrossEntropyLossConfig::new().init(&ad);
    let x: Tensor<4> = Tensor::random([bs, c, h, w], burn::tensor::Distribution::Default, &ad);
    let y: Tensor<1, Int> =
        Tensor::from_data(TensorData::new((0..bs as i64).map(|i| i % 10).collect::<Vec<_>>(), [bs]), &ad);
    let train_ms = time(&format!("train step bs{bs}"), 5, quiet, || {
        let m = model.clone();
        let loss = loss_fn.forward(m.forward(x.clone()), y.clone());
        let grads = GradientsParams::from_grads(loss.backward(), &m);
        model = optim.step(1e-3, m, grads);
    });
    let mv = model.valid();
    let xb: Tensor<4> = Tensor::random([256, c, h, w], burn::tensor::Distribution::Default, &base);
    let infer_ms = time("inference bs256", 5, quiet, || {
        let _ = mv.forward(xb.clone()).into_data();
    });
    let train_ips = bs as f64 / train_ms * 1e3;
    let infer_ips = 256.0 / infer_ms * 1e3;
    if json {
        println!("{{\"train_images_per_s\": {train_ips:.1}, \"infer_images_per_s\": {infer_ips:.1}, \"train_step_ms\": {train_ms:.2}, \"infer_batch_ms\": {infer_ms:.2}}}");
    } else {
        println!("training {train_ips:.0} img/s, inference {infer_ips:.0} img/s");
    }
}

fn ops(ad: &Device) {
    for &(n, c, h, k, st) in
        &[(64usize, 96usize, 28usize, 3usize, 1usize), (64, 96, 28, 5, 2), (64, 144, 14, 3, 1), (64, 288, 7, 5, 1)]
    {
        println!("--- x [{n},{c},{h},{h}] k{k} s{st}");
        let x0: Tensor<4> = Tensor::random([n, c, h, h], burn::tensor::Distribution::Default, ad);
        let conv = Conv2dConfig::new([c, c], [k, k])
            .with_stride([st, st])
            .with_padding(PaddingConfig2d::Explicit(k / 2, k / 2, k / 2, k / 2))
            .with_groups(c)
            .with_bias(false)
            .init(ad);
        time("grouped conv fwd (no grad)", 5, false, || {
            let _ = conv.forward(x0.clone()).into_data();
        });
        time("grouped conv fwd+bwd", 5, false, || {
            let x = x0.clone().require_grad();
            let y = conv.forward(x.clone());
            let g = y.sum().backward();
            let _ = x.grad(&g).unwrap().into_data();
        });
        let w: Param<Tensor<4>> = conv.weight.clone();
        time("shift-add fwd+bwd", 5, false, || {
            let x = x0.clone().require_grad();
            let y = dw_shift(x.clone(), w.val(), k, st);
            let g = y.sum().backward();
            let _ = x.grad(&g).unwrap().into_data();
        });
        let pw = Conv2dConfig::new([c, c / 6 + 16], [1, 1]).with_bias(false).init(ad);
        time("pointwise conv fwd+bwd (c -> c/6+16)", 5, false, || {
            let x = x0.clone().require_grad();
            let y = pw.forward(x.clone());
            let g = y.sum().backward();
            let _ = x.grad(&g).unwrap().into_data();
        });
        let bn = burn::nn::BatchNormConfig::new(c).init(ad);
        time("batchnorm + clamp fwd+bwd", 5, false, || {
            let x = x0.clone().require_grad();
            let y = bn.forward(x.clone()).clamp(0.0, 6.0);
            let g = y.sum().backward();
            let _ = x.grad(&g).unwrap().into_data();
        });
    }
}
