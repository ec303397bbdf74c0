//! Focused exporter-vs-reference cases, one feature at a time (easier to diagnose than the
//! random property test).

use edgenas_onnx::{export_architecture, to_bytes, TractModel};
use edgenas_reference::Reference;
use edgenas_space::{Architecture, Block, BlockKind, Head, InputShape, RandomWeights, Stage, Stem};

fn arch(block: Block, width: usize, stride: usize) -> Architecture {
    Architecture {
        input: InputShape { channels: 1, height: 9, width: 9 },
        classes: 3,
        stem: Stem { width: 4, kernel: 3, stride: 1 },
        stages: vec![Stage { width, stride, blocks: vec![block, block] }],
        head: Head { width: 8 },
    }
}

fn max_diff(a: &Architecture) -> f32 {
    let w = RandomWeights { seed: 11 };
    let m = TractModel::from_bytes(&to_bytes(&export_architecture(a, &w).unwrap())).unwrap();
    let x: Vec<f32> = (0..81).map(|i| (i as f32 * 0.37).sin()).collect();
    let got = m.run(&x).unwrap();
    let want = Reference::new(&w).forward(a, &x).unwrap();
    got.iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max)
}

#[test]
fn each_block_feature_matches_reference() {
    for (k, e, se, width, stride) in [
        (3, 1, false, 4, 1),
        (5, 1, false, 4, 1),
        (3, 3, false, 4, 1),
        (3, 1, false, 6, 1),
        (3, 1, false, 4, 2),
        (3, 1, true, 4, 1),
        (7, 6, true, 8, 2),
    ] {
        for kind in [BlockKind::Mbconv, BlockKind::Convnext] {
            let a = arch(Block { kind, kernel: k, expansion: e, se }, width, stride);
            let d = max_diff(&a);
            assert!(d <= 1e-4, "{kind} k{k} e{e} se{se} w{width} s{stride}: diff {d}");
        }
    }
}
