//! The training kernels (depthwise, pointwise, batch-norm + ReLU6) against Burn's own operations on the reference architecture's shapes
//! (batch 64), forward and backward, and a whole training step of the reference architecture
//! with the kernels on and off: `cargo bench -p edgenas-train --bench kernels`.
//! Run with `RAYON_NUM_THREADS=2` to compare with PyTorch's 2-thread figures.

use burn::optim::{AdamWConfig, GradientsParams};
use burn::prelude::*;
use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::Distribution;
use criterion::{criterion_group, criterion_main, Criterion};
use edgenas_train::kernels::{self, batch_norm_act_batch, depthwise_conv2d, pointwise_conv2d, Act};

fn depthwise(c: &mut Criterion) {
    let device = Device::flex().autodiff();
    let mut g = c.benchmark_group("depthwise fwd+bwd");
    g.sample_size(20);
    for (ch, hw, k, stride) in
        [(96, 14, 3, 1), (96, 14, 3, 2), (144, 7, 3, 1), (288, 4, 3, 1), (576, 2, 3, 1), (144, 7, 7, 1)]
    {
        let x: Tensor<4> = Tensor::random([64, ch, hw, hw], Distribution::Default, &device).require_grad();
        let w: Tensor<4> = Tensor::random([ch, 1, k, k], Distribution::Default, &device).require_grad();
        let name = format!("c{ch} {hw}x{hw} k{k} s{stride}");
        g.bench_function(format!("kernel {name}"), |b| {
            b.iter(|| (depthwise_conv2d(x.clone(), w.clone(), stride, k / 2) * 1.5).sum().backward())
        });
        g.bench_function(format!("burn {name}"), |b| {
            b.iter(|| {
                let y = conv2d(x.clone(), w.clone(), None, ConvOptions::new([stride; 2], [k / 2; 2], [1, 1], ch));
                (y * 1.5).sum().backward()
            })
        });
    }
    g.finish();
}

fn pointwise(c: &mut Criterion) {
    let device = Device::flex().autodiff();
    let mut g = c.benchmark_group("pointwise fwd+bwd");
    g.sample_size(20);
    for (cin, cout, hw) in [(16, 96, 14), (144, 24, 7), (48, 288, 4), (96, 576, 2)] {
        let x: Tensor<4> = Tensor::random([64, cin, hw, hw], Distribution::Default, &device).require_grad();
        let w: Tensor<4> = Tensor::random([cout, cin, 1, 1], Distribution::Default, &device).require_grad();
        let name = format!("{cin}->{cout} {hw}x{hw}");
        g.bench_function(format!("kernel {name}"), |b| {
            b.iter(|| (pointwise_conv2d(x.clone(), w.clone()) * 1.5).sum().backward())
        });
        g.bench_function(format!("burn {name}"), |b| {
            b.iter(|| {
                let y = conv2d(x.clone(), w.clone(), None, ConvOptions::new([1, 1], [0, 0], [1, 1], 1));
                (y * 1.5).sum().backward()
            })
        });
    }
    g.finish();
}

fn batch_norm(c: &mut Criterion) {
    let device = Device::flex().autodiff();
    let mut g = c.benchmark_group("batch-norm+relu6 fwd+bwd");
    g.sample_size(20);
    for (ch, hw) in [(96, 14), (144, 7), (576, 2)] {
        let x: Tensor<4> = Tensor::random([64, ch, hw, hw], Distribution::Default, &device).require_grad();
        let gamma: Tensor<1> = Tensor::ones([ch], &device).require_grad();
        let beta: Tensor<1> = Tensor::zeros([ch], &device).require_grad();
        g.bench_function(format!("kernel c{ch} {hw}x{hw}"), |b| {
            b.iter(|| {
                (batch_norm_act_batch(x.clone(), gamma.clone(), beta.clone(), 1e-5, Act::relu6(6.0)).0 * 1.5)
                    .sum()
                    .backward()
            })
        });
        g.bench_function(format!("burn c{ch} {hw}x{hw}"), |b| {
            b.iter(|| {
                let r = burn::tensor::module::batch_norm_train(x.clone(), gamma.clone(), beta.clone(), 1e-5);
                (r.output.clamp(0.0, 6.0) * 1.5).sum().backward()
            })
        });
    }
    g.finish();
}

fn train_step(c: &mut Criterion) {
    let arch: edgenas_space::Architecture = serde_json::from_str(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../spaces/reference-arch.json")).unwrap(),
    )
    .unwrap();
    let device = Device::flex().autodiff();
    let x: Tensor<4> = Tensor::random([64, 1, 28, 28], Distribution::Default, &device);
    let y: Tensor<1, Int> =
        Tensor::from_data(TensorData::new((0..64i64).map(|i| i % 10).collect::<Vec<_>>(), [64]), &device);
    let loss_fn = burn::nn::loss::CrossEntropyLossConfig::new().init(&device);
    let mut g = c.benchmark_group("train step, reference architecture, batch 64");
    g.sample_size(10);
    for on in [true, false] {
        kernels::set_enabled(on);
        let mut model = edgenas_train::trainer::init_seeded(&arch, 0, &device);
        let mut optim = AdamWConfig::new().init();
        g.bench_function(if on { "kernels" } else { "burn" }, |b| {
            b.iter(|| {
                let m = model.clone();
                let loss = loss_fn.forward(m.forward(x.clone()), y.clone());
                let grads = GradientsParams::from_grads(loss.backward(), &m);
                model = optim.step(1e-3, m, grads);
            })
        });
    }
    kernels::set_enabled(true);
    g.finish();
}

criterion_group!(benches, depthwise, pointwise, batch_norm, train_step);
criterion_main!(benches);
