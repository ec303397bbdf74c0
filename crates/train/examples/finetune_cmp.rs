//! Experiment: fine-tune named genomes from a supernet for several step counts and print
//! validation and test accuracy (as the search's finishing does).
//! `finetune_cmp SUPERNET DATA GENOMES.json STEPS,STEPS.. SEED`
use edgenas_space::Genome;
use edgenas_train::supernet::Supernet;
use edgenas_train::trainer::{device, evaluate};
use edgenas_train::{train_model, Net, TrainConfig};

fn main() {
    let a: Vec<String> = std::env::args().collect();
    let dev = device(0);
    let (sn, info) = Supernet::load(std::path::Path::new(&a[1]), &dev).expect("supernet");
    let splits = edgenas_train::load_splits(std::path::Path::new(&a[2]), 0.1, 0).expect("data");
    let items: Vec<(String, Vec<usize>)> = serde_json::from_str(&std::fs::read_to_string(&a[3]).unwrap()).unwrap();
    let steps: Vec<usize> = a[4].split(',').map(|s| s.parse().unwrap()).collect();
    let seed: u64 = a[5].parse().unwrap();
    for (name, g) in items {
        let arch = info.space.decode(&Genome(g)).unwrap();
        for &s in &steps {
            let t = std::time::Instant::now();
            let w = sn.extract(&arch, &splits.train, 64, 4, seed);
            let ad = device(seed).autodiff();
            let model = Net::from_named_weights(&arch, &w, &ad);
            let cfg = TrainConfig { steps: Some(s), lr: 1e-3, warmup_fraction: 0.0, seed, ..TrainConfig::default() };
            let (net, m) = train_model(model, &splits.train, &splits.valid, &cfg, &mut |_| {}).unwrap();
            let test = evaluate(&net, &splits.test, &device(seed));
            println!("{name}\t{s}\tvalid {:.4}\ttest {:.4}\t{:.0}s", m.valid_accuracy, test, t.elapsed().as_secs_f64());
        }
    }
}
