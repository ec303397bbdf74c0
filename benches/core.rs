//! Speed of what the search will call thousands of times: sampling and decoding genomes,
//! counting an architecture's cost, predicting its latency from a profile, exporting it.
//! `cargo bench --bench core`; figures go to BENCHMARKS.md.

use std::collections::BTreeMap;
use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use edgenas_device::lut::{Calibration, KeyStat, LatencyProfile, Provenance, PROFILE_FORMAT};
use edgenas_device::protocol::DeviceInfo;
use edgenas_space::{RandomWeights, SearchSpace};

/// A profile of the default space whose key latencies are the keys' MAC counts (a stand-in:
/// only the lookup speed is measured here).
fn synthetic_profile(space: &SearchSpace) -> LatencyProfile {
    let keys: BTreeMap<_, _> = space
        .block_keys()
        .into_iter()
        .map(|k| {
            let m = edgenas_space::Graph::of_key(&k).stats().macs as f64;
            (k, KeyStat { median_ns: m, p10_ns: m, p90_ns: m, min_ns: m, runs: 1, attempts: 1 })
        })
        .collect();
    LatencyProfile {
        format: PROFILE_FORMAT,
        provenance: Provenance {
            device: "bench".into(),
            description: String::new(),
            device_info: DeviceInfo {
                protocol: 1,
                agent_version: String::new(),
                runtime: String::new(),
                os: String::new(),
                arch: String::new(),
                cpu: String::new(),
                cores: 1,
                threads: 1,
                max_model_bytes: 0,
            },
            edgenas_version: String::new(),
            warmup: 0,
            runs: 1,
            passes: 1,
            threads: 1,
            space_name: space.name.clone(),
            space_hash: space.hash(),
            date: String::new(),
            seconds: 0.0,
            resumed_measurements: 0,
            measurements: 0,
            host_load: None,
        },
        space: space.clone(),
        keys,
        calibration: Calibration::default(),
        accuracy: None,
        verify: None,
    }
}

fn bench(c: &mut Criterion) {
    let space = SearchSpace::default_space();
    let arch = space.sample(1);
    let genome = space.encode(&arch).unwrap();
    let prof = synthetic_profile(&space);
    c.bench_function("sample_architecture", |b| {
        let mut s = 0u64;
        b.iter(|| {
            s += 1;
            black_box(space.sample(s))
        })
    });
    c.bench_function("decode_genome", |b| b.iter(|| black_box(space.decode(black_box(&genome)).unwrap())));
    c.bench_function("stats", |b| b.iter(|| black_box(black_box(&arch).stats())));
    c.bench_function("predict_latency", |b| b.iter(|| black_box(prof.predict(black_box(&arch)).unwrap())));
    c.bench_function("export_onnx_random_weights", |b| {
        b.iter(|| {
            black_box(edgenas_onnx::to_bytes(
                &edgenas_onnx::export_architecture(&arch, &RandomWeights { seed: 1 }).unwrap(),
            ))
        })
    });
}

/// Training and inference throughput of the reference architecture with Burn flex (batch 64
/// training steps with AdamW, batch 256 inference); images/s = batch / time per iteration.
fn bench_train(c: &mut Criterion) {
    use burn::optim::{AdamWConfig, GradientsParams};
    use burn::prelude::*;
    let arch = edgenas_space::Architecture::from_json_file(std::path::Path::new("spaces/reference-arch.json")).unwrap();
    let base = edgenas_train::trainer::device(0);
    let ad = base.clone().autodiff();
    let mut g = c.benchmark_group("reference-arch");
    g.sample_size(10);
    g.throughput(criterion::Throughput::Elements(64));
    let mut model = Some(edgenas_train::trainer::init_seeded(&arch, 0, &ad));
    let mut optim = AdamWConfig::new().init();
    let loss_fn = burn::nn::loss::CrossEntropyLossConfig::new().init(&ad);
    let x: Tensor<4> = Tensor::random([64, 1, 28, 28], burn::tensor::Distribution::Default, &ad);
    let y: Tensor<1, Int> =
        Tensor::from_data(TensorData::new((0..64i64).map(|i| i % 10).collect::<Vec<_>>(), [64]), &ad);
    g.bench_function("train step (64 images)", |b| {
        b.iter(|| {
            let m = model.take().unwrap();
            let loss = loss_fn.forward(m.forward(x.clone()), y.clone());
            let grads = GradientsParams::from_grads(loss.backward(), &m);
            model = Some(optim.step(1e-3, m, grads));
        })
    });
    let eval = model.take().unwrap().valid();
    let xb: Tensor<4> = Tensor::random([256, 1, 28, 28], burn::tensor::Distribution::Default, &base);
    g.throughput(criterion::Throughput::Elements(256));
    g.bench_function("inference (256 images)", |b| b.iter(|| eval.forward(xb.clone()).into_data()));
    g.finish();
}

criterion_group!(benches, bench, bench_train);
criterion_main!(benches);
