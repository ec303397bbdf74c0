//! The exporter checked end to end: random architectures exported to ONNX, loaded and run in
//! tract, compared with the independent reference interpreter.

use edgenas_onnx::{export_architecture, export_key, to_bytes, TractModel};
use edgenas_reference::Reference;
use edgenas_space::{Architecture, RandomWeights, SearchSpace};
use proptest::prelude::*;

/// Proptest settings: `cases` cases from a fixed seed, so a run is reproducible and CI cannot
/// fail by chance; set `PROPTEST_RNG_SEED` to explore other inputs.
fn seeded(cases: u32) -> ProptestConfig {
    let mut config = ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() };
    if matches!(config.rng_seed, proptest::test_runner::RngSeed::Random) {
        config.rng_seed = proptest::test_runner::RngSeed::Fixed(20261128);
    }
    config
}

fn input_for(arch: &Architecture, seed: u64) -> Vec<f32> {
    let n = arch.input.channels * arch.input.height * arch.input.width;
    let mut s = seed | 1;
    (0..n)
        .map(|_| {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (s >> 40) as f32 / (1u64 << 24) as f32
        })
        .collect()
}

fn check_architecture(arch: &Architecture, seed: u64) -> Result<(), TestCaseError> {
    let weights = RandomWeights { seed };
    let model = export_architecture(arch, &weights).unwrap();
    // parameter count == sum of initializer sizes
    let init_total: u64 = model.graph.initializer.iter().map(|t| t.dims.iter().product::<i64>() as u64).sum();
    prop_assert_eq!(init_total, arch.stats().params);
    prop_assert_eq!(model.ir_version, 8);
    prop_assert_eq!(model.opset_import[0].version, 13);
    let tract = TractModel::from_bytes(&to_bytes(&model)).unwrap();
    prop_assert_eq!(tract.input_shape(), &[1, arch.input.channels, arch.input.height, arch.input.width][..]);
    prop_assert_eq!(tract.output_shape(), &[1, arch.classes][..]);
    let x = input_for(arch, seed);
    let got = tract.run(&x).unwrap();
    let want = Reference::new(&weights).forward(arch, &x).unwrap();
    let max_diff = got.iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
    prop_assert!(max_diff <= 1e-4, "max abs diff {} (tract {:?}, reference {:?})", max_diff, got, want);
    Ok(())
}

proptest! {
    #![proptest_config(seeded(200))]

    /// 200 random architectures of the default space: tract matches the reference within 1e-4,
    /// and the parameter count equals the initializer sizes.
    #[test]
    fn random_architectures_match_reference(seed in any::<u64>()) {
        let space = SearchSpace::default_space();
        let arch = space.sample(seed);
        check_architecture(&arch, seed)?;
    }
}

#[test]
fn largest_architecture_matches_reference() {
    let space = SearchSpace::default_space();
    check_architecture(&space.largest_architecture(), 7).unwrap();
}

#[test]
fn every_key_of_the_tiny_space_exports_as_a_micro_model() {
    let space = SearchSpace::from_file(std::path::Path::new("spaces/tiny.toml")).unwrap();
    for key in space.block_keys() {
        let model = export_key(&key, &RandomWeights { seed: 1 }).unwrap();
        let g = edgenas_space::Graph::of_key(&key);
        let tract = TractModel::from_bytes(&to_bytes(&model)).unwrap();
        let out = g.output_shape();
        let want: Vec<usize> = match key {
            edgenas_space::BlockKey::Head { classes, .. } => vec![1, classes],
            _ => vec![1, out.c, out.h, out.w],
        };
        assert_eq!(tract.output_shape(), &want[..], "{key}");
        let n: usize = tract.input_shape().iter().product();
        let y = tract.run(&vec![0.5; n]).unwrap();
        assert!(y.iter().all(|v| v.is_finite()), "{key}");
        let t = tract.bench(&vec![0.5; n], 1, 5).unwrap();
        assert!(t.p10_ns <= t.median_ns && t.median_ns <= t.p90_ns && t.min_ns > 0.0, "{key}: {t:?}");
    }
}

#[test]
fn node_names_say_where_they_belong() {
    let arch = SearchSpace::default_space().sample(5);
    let model = export_architecture(&arch, &RandomWeights { seed: 0 }).unwrap();
    let names: Vec<&str> = model.graph.node.iter().map(|n| n.name.as_str()).collect();
    assert!(names.contains(&"stem.conv"));
    assert!(names.contains(&"s0.b0.dw.conv"));
    assert!(names.contains(&"s0.b0.project.conv"));
    assert!(names.contains(&"head.fc.gemm"));
    let ops: std::collections::BTreeSet<&str> = model.graph.node.iter().map(|n| n.op_type.as_str()).collect();
    for op in ["Conv", "Clip", "GlobalAveragePool", "Flatten", "Gemm"] {
        assert!(ops.contains(op), "{op} missing from {ops:?}");
    }
    assert!(!ops.contains("BatchNormalization"), "batch-norm is folded");
}

/// `run_many` gives, in order, what `run` gives one input at a time — for the exported batch-1
/// model and for the same model with a batch of 3 (7 inputs: the last batch padded) — and
/// refuses inputs that are not a whole number of samples.
#[test]
fn run_many_matches_run_one_at_a_time() {
    use onnx_protobuf::type_proto::Value;
    let space = SearchSpace::default_space();
    let arch = space.sample(11);
    let model = export_architecture(&arch, &RandomWeights { seed: 11 }).unwrap();
    let inputs: Vec<Vec<f32>> = (0..7).map(|i| input_for(&arch, 100 + i)).collect();
    let one = TractModel::from_bytes(&to_bytes(&model)).unwrap();
    let want: Vec<f32> = inputs.iter().flat_map(|x| one.run(x).unwrap()).collect();
    assert_eq!(want.len(), 7 * arch.classes);
    assert_eq!(one.run_many(&inputs.concat()).unwrap(), want);

    let mut batched = model.clone();
    let g = batched.graph.as_mut().unwrap();
    for vi in g.input.iter_mut().chain(g.output.iter_mut()) {
        let Some(Value::TensorType(tt)) = vi.type_.as_mut().unwrap().value.as_mut() else { panic!("tensor type") };
        tt.shape.as_mut().unwrap().dim[0].set_dim_value(3);
    }
    let three = TractModel::from_bytes(&to_bytes(&batched)).unwrap();
    assert_eq!(three.input_shape()[0], 3);
    let got = three.run_many(&inputs.concat()).unwrap();
    assert_eq!(got.len(), want.len());
    let max_diff = got.iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
    assert!(max_diff <= 1e-5, "batched outputs differ by {max_diff}");

    let e = one.run_many(&inputs.concat()[1..]).unwrap_err().to_string();
    assert!(e.contains("input"), "{e}");
}
