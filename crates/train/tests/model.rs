//! The Burn model against the reference interpreter and tract: the three implementations of
//! SEMANTICS.md agree (eval mode, batch-norm statistics after some training steps).

use edgenas_onnx::{export_architecture, to_bytes, TractModel};
use edgenas_reference::Reference;
use edgenas_space::SearchSpace;
use edgenas_train::data::Dataset;
use edgenas_train::trainer::{device, predict, train};
use edgenas_train::{TrainConfig, TrainEvent};

/// Random images with labels tied to their mean brightness, so training changes something.
fn synthetic(n: usize, shape: [usize; 3], seed: u64) -> Dataset {
    let len: usize = shape.iter().product();
    let mut s = seed | 1;
    let mut images = Vec::with_capacity(n * len);
    let mut labels = Vec::with_capacity(n);
    for _ in 0..n {
        let mut sum = 0.0;
        for _ in 0..len {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let v = (s >> 40) as f32 / (1u64 << 24) as f32 - 0.5;
            sum += v;
            images.push(v * 2.0);
        }
        labels.push(((sum / len as f32 + 0.5) * 10.0).clamp(0.0, 9.0) as u8);
    }
    Dataset { shape, classes: 10, images, labels }
}

#[test]
fn burn_reference_and_tract_agree_on_trained_models() {
    let space = SearchSpace::default_space();
    for seed in [3u64, 11, 29] {
        let arch = space.sample(seed);
        let data = synthetic(64, [1, 28, 28], seed);
        let cfg = TrainConfig { epochs: 1, batch_size: 16, seed, ..TrainConfig::default() };
        let mut steps = 0;
        let (net, m) = train(&arch, &data, &data.take(16), &cfg, &mut |e| {
            if let TrainEvent::Step { .. } = e {
                steps += 1
            }
        })
        .unwrap();
        assert_eq!(steps, 4);
        assert_eq!(m.steps, 4);
        let weights = net.named_weights(&arch);
        // batch-norm statistics moved away from their initial values (mean 0, variance 1)
        let bn = weights.convs["stem"].bn.as_ref().unwrap();
        assert!(bn.var.iter().any(|&v| (v - 1.0).abs() > 1e-3), "running variance was updated");
        let bn = weights.convs["head.conv"].bn.as_ref().unwrap();
        assert!(bn.mean.iter().any(|&v| v != 0.0), "running mean was updated");
        let test = synthetic(8, [1, 28, 28], seed + 100);
        let burn = predict(&net, &test, &device(0));
        let tract = TractModel::from_bytes(&to_bytes(&export_architecture(&arch, &weights).unwrap())).unwrap();
        let reference = Reference::new(&weights);
        for i in 0..test.len() {
            let b = &burn[i * 10..(i + 1) * 10];
            let t = tract.run(test.image(i)).unwrap();
            let r = reference.forward(&arch, test.image(i)).unwrap();
            for k in 0..10 {
                assert!((b[k] - r[k]).abs() <= 1e-4, "seed {seed} image {i}: burn {b:?} reference {r:?}");
                assert!((b[k] - t[k]).abs() <= 1e-4, "seed {seed} image {i}: burn {b:?} tract {t:?}");
            }
        }
    }
}

#[test]
fn training_is_deterministic_for_a_seed() {
    let arch = SearchSpace::default_space().sample(5);
    let data = synthetic(48, [1, 28, 28], 1);
    let cfg = TrainConfig { epochs: 1, batch_size: 16, seed: 9, ..TrainConfig::default() };
    let run = || {
        let (net, m) = train(&arch, &data, &data.take(16), &cfg, &mut |_| {}).unwrap();
        (predict(&net, &data.take(4), &device(0)), m.final_loss)
    };
    let (a, la) = run();
    let (b, lb) = run();
    assert_eq!(a, b, "same seed, same model");
    assert_eq!(la, lb);
}

#[test]
fn learning_rate_schedule_warms_up_and_decays() {
    let cfg = TrainConfig { lr: 1.0, warmup_fraction: 0.1, ..TrainConfig::default() };
    assert!((cfg.lr_at(0, 100) - 0.1).abs() < 1e-12);
    assert!((cfg.lr_at(9, 100) - 1.0).abs() < 1e-12);
    assert!((cfg.lr_at(10, 100) - 1.0).abs() < 1e-12);
    assert!((cfg.lr_at(55, 100) - 0.5).abs() < 1e-12);
    assert!(cfg.lr_at(99, 100) < 0.001);
    assert_eq!(cfg.total_steps(1000), 5 * 16);
}
