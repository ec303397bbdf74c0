//! Diagnose a trained supernet: batch-statistics accuracy vs recalibrated accuracy.
use edgenas_train::supernet::{evaluate_subnet, Supernet};
use edgenas_train::trainer::{batch, device, top1};

fn main() {
    let dir = std::env::args().nth(1).unwrap();
    let dev = device(0);
    let (sn, info) = Supernet::load(std::path::Path::new(&dir), &dev).unwrap();
    let splits = edgenas_train::load_splits(std::path::Path::new("data/mnist-10k"), 0.1, 0).unwrap();
    let space = info.space;
    let big = space.largest_architecture();
    let small = space.smallest_architecture();
    let vary = |f: &dyn Fn(&mut edgenas_space::Architecture)| {
        let mut a = big.clone();
        f(&mut a);
        a
    };
    let variants = vec![
        ("largest", big.clone()),
        ("smallest", small.clone()),
        ("s1", space.sample(1)),
        ("s2", space.sample(2)),
        ("largest k3", vary(&|a| a.stages.iter_mut().flat_map(|s| s.blocks.iter_mut()).for_each(|b| b.kernel = 3))),
        ("largest k5", vary(&|a| a.stages.iter_mut().flat_map(|s| s.blocks.iter_mut()).for_each(|b| b.kernel = 5))),
        ("largest e3", vary(&|a| a.stages.iter_mut().flat_map(|s| s.blocks.iter_mut()).for_each(|b| b.expansion = 3))),
        ("largest e1", vary(&|a| a.stages.iter_mut().flat_map(|s| s.blocks.iter_mut()).for_each(|b| b.expansion = 1))),
        ("largest no-se", vary(&|a| a.stages.iter_mut().flat_map(|s| s.blocks.iter_mut()).for_each(|b| b.se = false))),
        ("largest depth1", vary(&|a| a.stages.iter_mut().for_each(|s| s.blocks.truncate(1)))),
        (
            "largest narrow",
            vary(&|a| {
                a.stem.width = small.stem.width;
                for (s, t) in a.stages.iter_mut().zip(&small.stages) {
                    s.width = t.width;
                }
                a.head.width = small.head.width;
            }),
        ),
    ];
    for (name, arch) in variants {
        let idx: Vec<usize> = (0..800).collect();
        let (x, _) = batch(&splits.valid, &idx, &dev);
        let logits = sn.forward(&arch, x).into_data().try_to_vec::<f32>().unwrap();
        let acc_batch = top1(&logits, &splits.valid.labels[..800], 10);
        let (acc_recal, _) = evaluate_subnet(&sn, &arch, &splits.train, 4, &splits.valid, 0);
        let (acc_recal20, _) = evaluate_subnet(&sn, &arch, &splits.train, 20, &splits.valid, 0);
        println!(
            "{name}: batch-stat acc {acc_batch:.3}, recalibrated(4) {acc_recal:.3}, recalibrated(20) {acc_recal20:.3}"
        );
    }
}
