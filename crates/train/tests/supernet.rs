//! The weight-sharing supernet: subnets inherit the right slices (kernel centre crop,
//! leading channels, first blocks, squeeze-excite), recalibrated statistics give a network
//! whose eval-mode outputs equal the supernet's batch-statistics forward on the calibration
//! batch, the ONNX export of an inherited subnet runs the same in tract, and supernet
//! training learns and is deterministic.

use edgenas_onnx::{export_architecture, to_bytes, TractModel};
use edgenas_space::SearchSpace;
use edgenas_train::data::Dataset;
use edgenas_train::supernet::{
    evaluate_subnet, init_supernet_seeded, train_supernet, train_supernet_resumable, Resumable, SupernetTrainConfig,
};
use edgenas_train::trainer::{batch, device, predict};
use edgenas_train::{Net, Supernet, TrainEvent};

/// Images whose label is the quadrant holding a bright square, so a small network can learn.
fn quadrants(n: usize, shape: [usize; 3], seed: u64) -> Dataset {
    let [c, h, w] = shape;
    let mut s = seed | 1;
    let mut rnd = || {
        s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (s >> 33) as usize
    };
    let mut images = vec![0f32; n * c * h * w];
    let mut labels = Vec::new();
    for i in 0..n {
        let q = rnd() % 4;
        let (y0, x0) = ((q / 2) * h / 2, (q % 2) * w / 2);
        for y in y0..y0 + h / 2 {
            for x in x0..x0 + w / 2 {
                images[i * h * w + y * w + x] = 1.0;
            }
        }
        for v in &mut images[i * h * w..(i + 1) * h * w] {
            *v += (rnd() % 100) as f32 / 400.0;
        }
        labels.push(q as u8);
    }
    Dataset { shape, classes: 10, images, labels }
}

fn tiny() -> SearchSpace {
    SearchSpace::from_file(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../spaces/tiny.toml")).unwrap()
}

/// The tiny space with both block kinds (MBConv and ConvNeXt-like).
fn tiny_two_kinds() -> SearchSpace {
    let text = tiny().to_toml().replacen("[block]\n", "[block]\nkinds = [\"mbconv\", \"convnext\"]\n", 1);
    let space = SearchSpace::from_toml_str(&text, std::path::Path::new("tiny-two-kinds.toml")).unwrap();
    assert_eq!(space.block.kinds.len(), 2);
    space
}

#[test]
fn inherited_subnets_match_the_supernet_and_tract() {
    check_inherited_subnets(&tiny());
}

#[test]
fn inherited_convnext_subnets_match_the_supernet_and_tract_and_survive_save_and_load() {
    let space = tiny_two_kinds();
    let kinds: std::collections::BTreeSet<_> =
        (0..6).flat_map(|s| space.sample(s).stages.into_iter().flat_map(|st| st.blocks)).map(|b| b.kind).collect();
    assert_eq!(kinds.len(), 2, "the sampled subnets mix both kinds");
    check_inherited_subnets(&space);
    // saved and loaded, the supernet gives the same subnet weights (both kinds' layers kept)
    let dev = device(5);
    let sn = init_supernet_seeded(&space, 5, &dev);
    let dir = std::env::temp_dir().join(format!("edgenas-supernet-kinds-{}", std::process::id()));
    let info = edgenas_train::SupernetInfo {
        space: space.clone(),
        config: SupernetTrainConfig::default(),
        data: "quadrants".into(),
        split_seed: Some(0),
        train_seconds: 0.0,
        images_per_s: 0.0,
    };
    sn.save(&dir, &info).unwrap();
    let (back, _) = Supernet::load(&dir, &dev).unwrap();
    let calib = quadrants(24, [1, 16, 16], 9);
    let arch = space.smallest_architecture();
    assert!(arch.stages.iter().flat_map(|s| &s.blocks).all(|b| b.kind == edgenas_space::BlockKind::Convnext));
    assert_eq!(sn.extract(&arch, &calib, 24, 1, 0), back.extract(&arch, &calib, 24, 1, 0));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn inherited_subnets_with_a_stem_stride_choice_match_the_supernet_and_tract() {
    // tiny's stem has stride 1; offer 2 as well: one set of weights serves both resolutions
    let text = tiny().to_toml().replacen("stride = 1\n", "stride = 1\nstrides = [1, 2]\n", 1);
    let space = SearchSpace::from_toml_str(&text, std::path::Path::new("tiny-strides.toml")).unwrap();
    let strides: std::collections::BTreeSet<_> = (0..6).map(|s| space.sample(s).stem.stride).collect();
    assert_eq!(strides.len(), 2, "the sampled subnets use both stem strides");
    check_inherited_subnets(&space);
}

fn check_inherited_subnets(space: &SearchSpace) {
    let space = space.clone();
    let dev = device(5);
    let sn = init_supernet_seeded(&space, 5, &dev);
    let calib = quadrants(24, [1, 16, 16], 9);
    let mut archs = vec![space.largest_architecture(), space.smallest_architecture()];
    archs.extend((0..6).map(|s| space.sample(s)));
    for arch in &archs {
        // statistics from exactly one batch: the whole calibration set
        let w = sn.extract(arch, &calib, calib.len(), 1, 0);
        let idx: Vec<usize> = (0..calib.len()).collect();
        let (x, _) = batch(&calib, &idx, &dev);
        let super_logits = sn.forward(arch, x).into_data().try_to_vec::<f32>().unwrap();
        let net = Net::from_named_weights(arch, &w, &dev);
        let net_logits = predict(&net, &calib, &dev);
        let max = super_logits.iter().zip(&net_logits).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
        assert!(max < 1e-3, "supernet vs inherited network: max abs {max} for {}", arch.to_json());
        // the kernel is the centre crop of the largest kernel (the largest subnet is MBConv)
        if arch.stages[0].blocks[0].kind != edgenas_space::BlockKind::Mbconv {
            continue;
        }
        let kmax = 5;
        let big = sn.extract(&space.largest_architecture(), &calib, calib.len(), 1, 0);
        let k = arch.stages[0].blocks[0].kernel;
        let c = w.convs["s0.b0.dw"].weight.len() / (k * k);
        let o = (kmax - k) / 2;
        for ch in 0..c {
            for y in 0..k {
                for x in 0..k {
                    assert_eq!(
                        w.convs["s0.b0.dw"].weight[ch * k * k + y * k + x],
                        big.convs["s0.b0.dw"].weight[ch * kmax * kmax + (y + o) * kmax + x + o]
                    );
                }
            }
        }
        // the exported subnet runs the same in tract
        let tract = TractModel::from_bytes(&to_bytes(&export_architecture(arch, &w).unwrap())).unwrap();
        for i in 0..4 {
            let t = tract.run(calib.image(i)).unwrap();
            for k in 0..10 {
                assert!((t[k] - net_logits[i * 10 + k]).abs() < 1e-3, "tract vs Burn at image {i} logit {k}");
            }
        }
    }
}

/// The tiny space, 256 training and 128 validation quadrant images, and a 60-step training.
fn small_training() -> (SearchSpace, Dataset, Dataset, SupernetTrainConfig) {
    let cfg = SupernetTrainConfig { steps: 60, batch_size: 32, lr: 5e-3, seed: 3, ..Default::default() };
    (tiny(), quadrants(256, [1, 16, 16], 1), quadrants(128, [1, 16, 16], 2), cfg)
}

#[test]
fn supernet_training_learns_and_is_deterministic() {
    let (space, data, valid, cfg) = small_training();
    let mut losses = Vec::new();
    let (sn, _, ips) = train_supernet(&space, &data, &cfg, &mut |e| {
        if let TrainEvent::Step { loss, .. } = e {
            losses.push(loss)
        }
    })
    .unwrap();
    assert_eq!(losses.len(), 60);
    assert!(ips > 0.0);
    let first: f32 = losses[..5].iter().sum::<f32>() / 5.0;
    let last: f32 = losses[55..].iter().sum::<f32>() / 5.0;
    assert!(last < first * 0.7, "loss fell: {first} -> {last}");
    // every subnet, including ones never trained alone, is well above chance (25 %)
    for arch in [space.largest_architecture(), space.smallest_architecture(), space.sample(77)] {
        let (acc, _) = evaluate_subnet(&sn, &arch, &data, 4, &valid, 0);
        assert!(acc > 0.6, "subnet accuracy {acc} for {}", arch.to_json());
    }
    // same seed, same supernet
    let (sn2, _, _) = train_supernet(&space, &data, &cfg, &mut |_| {}).unwrap();
    let a = sn.extract(&space.largest_architecture(), &data, 32, 2, 0);
    let b = sn2.extract(&space.largest_architecture(), &data, 32, 2, 0);
    assert_eq!(a.convs["s0.b0.dw"].weight, b.convs["s0.b0.dw"].weight);
    assert_eq!(a.linears["head.fc"].weight, b.linears["head.fc"].weight);
}

#[test]
fn an_interrupted_supernet_training_resumes_to_the_same_weights() {
    let (space, data, _, plain) = small_training();
    // distillation too: the soft targets come from weights that were saved and read back
    let cfg = SupernetTrainConfig { distill: true, ..plain };
    let tmp = tempfile::tempdir().unwrap();
    let r = Resumable { dir: tmp.path().join("partial"), every: 7 };
    let steps_seen = |resume: Option<&Resumable>, cfg: &SupernetTrainConfig, kill_at: Option<usize>| {
        let mut steps = Vec::new();
        let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            train_supernet_resumable(&space, &data, cfg, resume, &mut |e| {
                if let TrainEvent::Step { step, .. } = e {
                    assert_ne!(Some(step), kill_at, "killed");
                    steps.push(step);
                }
                std::ops::ControlFlow::Continue(())
            })
            .unwrap()
        }));
        (out.ok().map(|(sn, _, _)| sn), steps)
    };
    // killed during step 45: the state after step 42 is kept (8 batches an epoch: mid-epoch),
    // and only that step's files
    let (none, _) = steps_seen(Some(&r), &cfg, Some(44));
    assert!(none.is_none());
    let index: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(r.dir.join("partial.json")).unwrap()).unwrap();
    assert_eq!(index["step"], 42);
    let mut files: Vec<String> =
        std::fs::read_dir(&r.dir).unwrap().map(|f| f.unwrap().file_name().to_string_lossy().into_owned()).collect();
    files.sort();
    assert_eq!(files, ["partial-42.bpk", "partial-42.optim.bpk", "partial.json"]);
    // started again, it goes on from step 42 and ends where an uninterrupted training ends
    let (resumed, steps) = steps_seen(Some(&r), &cfg, None);
    assert_eq!(steps, (42..60).collect::<Vec<_>>());
    let (whole, _, _) = train_supernet(&space, &data, &cfg, &mut |_| {}).unwrap();
    let resumed = resumed.unwrap();
    for arch in [space.largest_architecture(), space.smallest_architecture(), space.sample(5)] {
        assert_eq!(resumed.extract(&arch, &data, 32, 2, 0), whole.extract(&arch, &data, 32, 2, 0));
    }
    // a training with other settings does not take that state: it starts at step 0
    let other = SupernetTrainConfig { seed: 4, ..cfg.clone() };
    let (_, steps) = steps_seen(Some(&r), &other, Some(3));
    assert_eq!(steps, [0, 1, 2]);
    r.clear().unwrap();
    assert!(!r.dir.exists());
    r.clear().unwrap();
}

#[test]
fn fine_tuning_a_subnet_starts_from_its_inherited_weights_and_learns() {
    let (space, data, valid, _) = small_training();
    let dev = device(4);
    let sn = init_supernet_seeded(&space, 4, &dev);
    let arch = space.sample(3);
    // no steps: exactly the inherited, recalibrated weights, and no metrics
    let (net0, none) = sn.fine_tune(&arch, &data, 2, &data, &valid, 0, 7).unwrap();
    assert!(none.is_none());
    let inherited = Net::from_named_weights(&arch, &sn.extract(&arch, &data, 64, 2, 7), &dev);
    assert_eq!(predict(&net0, &valid, &dev), predict(&inherited, &valid, &dev));
    // steps: trained from there, measured on the validation images, the same for the same seed
    let (net, metrics) = sn.fine_tune(&arch, &data, 2, &data, &valid, 40, 7).unwrap();
    let metrics = metrics.expect("metrics after training");
    let top1 = |n: &Net| edgenas_train::trainer::top1(&predict(n, &valid, &dev), &valid.labels, valid.classes);
    assert!((top1(&net) - metrics.valid_accuracy).abs() < 1e-9);
    assert!(
        metrics.valid_accuracy > top1(&net0) + 0.2,
        "{} after 40 steps from {}",
        metrics.valid_accuracy,
        top1(&net0)
    );
    let (again, _) = sn.fine_tune(&arch, &data, 2, &data, &valid, 40, 7).unwrap();
    assert_eq!(predict(&again, &valid, &dev), predict(&net, &valid, &dev));
}

#[test]
fn in_place_distillation_trains_the_subnets_from_the_largest() {
    let (space, data, valid, plain) = small_training();
    let cfg = SupernetTrainConfig { distill: true, ..plain.clone() };
    let (sn, _, _) = train_supernet(&space, &data, &cfg, &mut |_| {}).unwrap();
    for arch in [space.largest_architecture(), space.smallest_architecture(), space.sample(77)] {
        let (acc, _) = evaluate_subnet(&sn, &arch, &data, 4, &valid, 0);
        assert!(acc > 0.6, "subnet accuracy {acc} for {}", arch.to_json());
    }
    // the smaller subnets learned from other targets than with labels alone
    let (sn_plain, _, _) = train_supernet(&space, &data, &plain, &mut |_| {}).unwrap();
    let small = space.smallest_architecture();
    let a = sn.extract(&small, &data, 32, 2, 0);
    let b = sn_plain.extract(&small, &data, 32, 2, 0);
    assert_ne!(a.linears["head.fc"].weight, b.linears["head.fc"].weight);
}

#[test]
fn a_space_that_does_not_fit_the_data_is_refused() {
    let space = tiny();
    let data = quadrants(8, [1, 28, 28], 1);
    let err = train_supernet(&space, &data, &SupernetTrainConfig::default(), &mut |_| {}).err().unwrap();
    assert!(err.to_string().contains("16x16"), "{err}");
}

#[test]
fn the_sandwich_alternates_the_block_kind_of_its_ends() {
    use edgenas_space::BlockKind::{Convnext, Mbconv};
    use edgenas_train::supernet::sandwich_ends;
    let kinds = |a: &edgenas_space::Architecture| {
        let k: std::collections::BTreeSet<_> = a.stages.iter().flat_map(|s| s.blocks.iter().map(|b| b.kind)).collect();
        k.into_iter().collect::<Vec<_>>()
    };
    let two = tiny_two_kinds();
    let [big0, small0] = sandwich_ends(&two, 0);
    let [big1, small1] = sandwich_ends(&two, 1);
    assert_eq!((kinds(&big0), kinds(&small0)), (vec![Mbconv], vec![Convnext]));
    assert_eq!((kinds(&big1), kinds(&small1)), (vec![Convnext], vec![Mbconv]));
    // only the kind changes: the same widths, depths, kernels and expansions
    let shape = |a: &edgenas_space::Architecture| {
        let mut a = a.clone();
        a.stages.iter_mut().flat_map(|s| s.blocks.iter_mut()).for_each(|b| b.kind = Mbconv);
        a
    };
    assert_eq!((shape(&big0), shape(&small0)), (shape(&big1), shape(&small1)));
    assert_eq!(big0, two.largest_architecture());
    assert_eq!(sandwich_ends(&two, 2), sandwich_ends(&two, 0));
    // one kind: every step trains the space's own extremes
    let one = tiny();
    assert_eq!(sandwich_ends(&one, 1), [one.largest_architecture(), one.smallest_architecture()]);
}

// --- pinned numbers -------------------------------------------------------------------------
//
// The subnets' inherited and recalibrated weights and a short training's losses, pinned as
// checksums recorded from the code before the supernet was split into modules and its
// batch-norm statistics keyed by layer name (tests/pinned/supernet.txt). A refactoring that
// changes no behaviour keeps them. Checksums (sum, sum of absolute values, sum of squares per
// layer and part) rather than raw floats, compared to 1e-5 relative of the sum of absolute values
// (1e-4 after training, whose steps compound), so that other CPUs' last bits (another SIMD
// path in the matrix products) do not break the test while a changed computation still does; the layer names and the lengths of every part are checked
// exactly against the architecture's graph. `EDGENAS_PIN_RECORD=<file>` writes the table
// (and per-subnet hashes of every bit, for an exact comparison on one machine) instead.

/// The subnets whose extraction is pinned: both kinds, with and without expansion and SE,
/// and a mix of kinds in one network.
fn pinned_subnets(space: &SearchSpace) -> Vec<(&'static str, edgenas_space::Architecture)> {
    use edgenas_space::BlockKind::{Convnext, Mbconv};
    let big = space.largest_architecture();
    let every = |kind, kernel, expansion, se| {
        let mut a = big.clone();
        for b in a.stages.iter_mut().flat_map(|s| s.blocks.iter_mut()) {
            *b = edgenas_space::Block { kind, kernel, expansion, se };
        }
        a
    };
    let mut mixed = big.clone();
    mixed.stages[1].width = 8;
    mixed.stages[0].blocks[0] = edgenas_space::Block { kind: Convnext, kernel: 3, expansion: 1, se: true };
    mixed.stages[0].blocks[1] = edgenas_space::Block { kind: Mbconv, kernel: 3, expansion: 3, se: false };
    mixed.stages[1].blocks[0] = edgenas_space::Block { kind: Convnext, kernel: 5, expansion: 3, se: true };
    vec![
        ("largest", big.clone()),
        ("smallest", space.smallest_architecture()),
        ("mbconv-e1-se", every(Mbconv, 3, 1, true)),
        ("mbconv-e3-k3-se", every(Mbconv, 3, 3, true)),
        ("convnext-e1-se", every(Convnext, 5, 1, true)),
        ("convnext-e3-se", every(Convnext, 5, 3, true)),
        ("mixed", mixed),
        ("sample-3", space.sample(3)),
    ]
}

/// Checksums of one part of a layer: sum, sum of absolute values, sum of squares (in f64).
fn sums(v: &[f32]) -> [f64; 3] {
    v.iter().fold([0.0; 3], |[s, a, q], &x| [s + x as f64, a + (x as f64).abs(), q + (x as f64) * (x as f64)])
}

/// One line per layer and part: `<subnet> <layer> <part> <len> <sum> <abs> <sq>`, sorted; and
/// a hash of every bit per subnet.
fn checksum_lines(tag: &str, w: &edgenas_space::NamedWeights) -> (Vec<String>, u64) {
    let mut parts: Vec<(String, &str, Vec<f32>)> = Vec::new();
    for (name, c) in &w.convs {
        parts.push((name.clone(), "weight", c.weight.clone()));
        if let Some(b) = &c.bias {
            parts.push((name.clone(), "bias", b.clone()));
        }
        if let Some(bn) = &c.bn {
            parts.push((name.clone(), "gamma", bn.gamma.clone()));
            parts.push((name.clone(), "beta", bn.beta.clone()));
            parts.push((name.clone(), "mean", bn.mean.clone()));
            parts.push((name.clone(), "var", bn.var.clone()));
        }
    }
    for (name, l) in &w.linears {
        parts.push((name.clone(), "weight", l.weight.clone()));
        parts.push((name.clone(), "bias", l.bias.clone()));
    }
    parts.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
    let mut h: u64 = 0xcbf29ce484222325;
    let lines = parts
        .iter()
        .map(|(name, part, v)| {
            for x in v {
                h = (h ^ x.to_bits() as u64).wrapping_mul(0x100000001b3);
            }
            let [s, a, q] = sums(v);
            format!("{tag} {name} {part} {} {s:e} {a:e} {q:e}", v.len())
        })
        .collect();
    (lines, h)
}

/// The layer names and part lengths an architecture's weights must have (from its graph).
fn expected_parts(arch: &edgenas_space::Architecture) -> Vec<(String, &'static str, usize)> {
    use edgenas_space::graph::{Graph, LayerKind};
    let mut want = Vec::new();
    for layer in Graph::of_architecture(arch).layers {
        let n = layer.name.clone();
        match layer.kind {
            LayerKind::ConvBn { cin, cout, kernel, groups, .. } => {
                want.push((n.clone(), "weight", cout * cin / groups * kernel * kernel));
                for part in ["gamma", "beta", "mean", "var"] {
                    want.push((n.clone(), part, cout));
                }
            }
            LayerKind::SqueezeExcite { channels, hidden } => {
                for (conv, cout) in [("reduce", hidden), ("expand", channels)] {
                    want.push((format!("{n}.{conv}"), "weight", channels * hidden));
                    want.push((format!("{n}.{conv}"), "bias", cout));
                }
            }
            LayerKind::Linear { cin, cout } => {
                want.push((n.clone(), "weight", cin * cout));
                want.push((n, "bias", cout));
            }
            LayerKind::Add { .. } | LayerKind::GlobalAvgPool => {}
        }
    }
    want.sort();
    want
}

/// Checks `lines` (from [`checksum_lines`]) against the pinned table: the same layers and
/// lengths, and checksums within `tol` relative to the sum of absolute values.
fn check_pinned(lines: &[String], tol: f64) {
    let table = include_str!("pinned/supernet.txt");
    let pinned: std::collections::HashMap<String, Vec<f64>> = table
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f[..4].join(" "), f[4..].iter().map(|x| x.parse::<f64>().unwrap()).collect())
        })
        .collect();
    for line in lines {
        let f: Vec<&str> = line.split_whitespace().collect();
        let key = f[..4].join(" ");
        let want = pinned.get(&key).unwrap_or_else(|| panic!("no pinned checksum for {key}"));
        let got: Vec<f64> = f[4..].iter().map(|x| x.parse::<f64>().unwrap()).collect();
        // the sum's scale is the sum of absolute values
        let scale = [want[1], want[1], want[2]];
        for i in 0..got.len() {
            let d = (got[i] - want[i]).abs();
            assert!(d <= tol * scale[i].max(1e-12), "{key}: checksum {i} is {} (pinned {})", got[i], want[i]);
        }
    }
}

/// Records the lines and hashes to `EDGENAS_PIN_RECORD`'s file when set (appending).
fn record(lines: &[String], hash_line: &str) -> bool {
    let Ok(path) = std::env::var("EDGENAS_PIN_RECORD") else { return false };
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(path).unwrap();
    for l in lines {
        writeln!(f, "{l}").unwrap();
    }
    writeln!(f, "# {hash_line}").unwrap();
    true
}

#[test]
fn extracted_subnets_keep_their_pinned_weights_and_statistics() {
    let space = tiny_two_kinds();
    let dev = device(5);
    let sn = init_supernet_seeded(&space, 21, &dev);
    let calib = quadrants(24, [1, 16, 16], 9);
    let mut all = Vec::new();
    let mut hashes = Vec::new();
    for (tag, arch) in pinned_subnets(&space) {
        arch.check().unwrap();
        // two batches of 12: the statistics are averaged over batches
        let w = sn.extract(&arch, &calib, 12, 2, 4);
        let (lines, h) = checksum_lines(&format!("extract/{tag}"), &w);
        let got: Vec<(String, &str, usize)> = lines
            .iter()
            .map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                let part = ["weight", "bias", "gamma", "beta", "mean", "var"].into_iter().find(|p| *p == f[2]).unwrap();
                (f[1].to_string(), part, f[3].parse().unwrap())
            })
            .collect();
        let mut got = got;
        got.sort();
        assert_eq!(got, expected_parts(&arch), "layers and lengths of {tag}");
        hashes.push(format!("extract/{tag} {h:016x}"));
        all.extend(lines);
    }
    if !record(&all, &hashes.join(" ")) {
        check_pinned(&all, 1e-5);
    }
}

#[test]
fn a_short_supernet_training_keeps_its_pinned_losses_and_weights() {
    let space = tiny_two_kinds();
    let data = quadrants(64, [1, 16, 16], 12);
    let cfg = SupernetTrainConfig {
        steps: 4,
        batch_size: 16,
        lr: 5e-3,
        random_subnets: 1,
        seed: 11,
        distill: true,
        ..Default::default()
    };
    let mut losses = Vec::new();
    let (sn, _, _) = train_supernet(&space, &data, &cfg, &mut |e| {
        if let TrainEvent::Step { loss, accuracy, .. } = e {
            losses.extend([loss, accuracy])
        }
    })
    .unwrap();
    assert_eq!(losses.len(), 8);
    let mut all: Vec<String> = losses
        .chunks(2)
        .enumerate()
        .flat_map(|(i, la)| {
            let line = |what: &str, x: f32| {
                let [s, a, q] = sums(&[x]);
                format!("train step{i} {what} 1 {s:e} {a:e} {q:e}")
            };
            [line("loss", la[0]), line("accuracy", la[1])]
        })
        .collect();
    let mut hash: u64 = 0xcbf29ce484222325;
    for x in &losses {
        hash = (hash ^ x.to_bits() as u64).wrapping_mul(0x100000001b3);
    }
    let mut hashes = vec![format!("train/losses {hash:016x}")];
    let [big, small] = edgenas_train::supernet::sandwich_ends(&space, 1);
    for (tag, arch) in [("largest-convnext", big), ("smallest-mbconv", small)] {
        let (lines, h) = checksum_lines(&format!("train/{tag}"), &sn.extract(&arch, &data, 16, 2, 0));
        hashes.push(format!("train/{tag} {h:016x}"));
        all.extend(lines);
    }
    if !record(&all, &hashes.join(" ")) {
        // a few optimizer steps compound rounding differences of other CPUs
        check_pinned(&all, 1e-4);
    }
}
