//! Tests of the search space: size, keys, genome round trip, validation, memory model.

use std::collections::{BTreeSet, HashSet};
use std::path::Path;

use edgenas_space::{
    Architecture, Block, BlockKey, BlockKind, Genome, Head, InputShape, SearchSpace, SpaceError, Stage, Stem,
};

fn tiny() -> SearchSpace {
    SearchSpace::from_file(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../spaces/tiny.toml")).unwrap()
}

/// Every genome of a space, by brute force.
fn all_genomes(space: &SearchSpace) -> Vec<Genome> {
    let genes = space.genes();
    let mut out = vec![vec![]];
    for g in &genes {
        out = out
            .into_iter()
            .flat_map(|p: Vec<usize>| {
                (0..g.choices()).map(move |c| {
                    let mut q = p.clone();
                    q.push(c);
                    q
                })
            })
            .collect();
    }
    out.into_iter().map(Genome).collect()
}

#[test]
fn default_space_is_large_with_few_block_configs() {
    let space = SearchSpace::default_space();
    let n = space.num_architectures().unwrap();
    let keys = space.block_keys();
    println!("default space: {n} architectures (10^{:.1}), {} block configurations", (n as f64).log10(), keys.len());
    assert!(n >= 1_000_000_000, "{n}");
    assert!(keys.len() < 3000, "{}", keys.len());
    assert!(keys.len() > 100);
}

#[test]
fn tiny_space_counts_match_brute_force() {
    let space = tiny();
    let mut archs = HashSet::new();
    let mut keys = BTreeSet::new();
    for g in all_genomes(&space) {
        let a = space.decode(&g).unwrap();
        keys.extend(a.block_keys());
        archs.insert(a);
    }
    assert_eq!(space.num_architectures().unwrap(), archs.len() as u128);
    assert_eq!(space.num_architectures().unwrap(), 1152);
    assert_eq!(space.block_keys(), keys, "enumerated keys equal the keys architectures use");
}

#[test]
fn sampled_keys_are_in_the_space_key_set() {
    let space = SearchSpace::default_space();
    let all = space.block_keys();
    for seed in 0..300 {
        for k in space.sample(seed).block_keys() {
            assert!(all.contains(&k), "{k} missing");
        }
    }
}

#[test]
fn genome_architecture_round_trip_and_seeding() {
    let space = SearchSpace::default_space();
    let mut distinct = HashSet::new();
    for seed in 0..500 {
        let a = space.sample(seed);
        assert_eq!(a, space.sample(seed), "same seed, same architecture");
        let g = space.encode(&a).unwrap();
        assert_eq!(space.decode(&g).unwrap(), a);
        assert_eq!(space.encode(&space.decode(&g).unwrap()).unwrap(), g, "canonical genome is stable");
        // JSON round trip
        let back: Architecture = serde_json::from_str(&a.to_json()).unwrap();
        assert_eq!(back, a);
        distinct.insert(a);
    }
    assert!(distinct.len() > 490, "seeds give different architectures");
}

#[test]
fn illegal_gene_names_the_gene_and_allowed_values() {
    let space = SearchSpace::default_space();
    let mut g = space.encode(&space.sample(1)).unwrap();
    let idx = space.genes().iter().position(|x| x.name == "stages[1].blocks[0].kernel").unwrap();
    g.0[idx] = 7;
    let e = space.decode(&g).unwrap_err().to_string();
    assert!(e.contains("stages[1].blocks[0].kernel"), "{e}");
    assert!(e.contains("3, 5"), "{e}");
    let e = space.decode(&Genome(vec![0; 3])).unwrap_err();
    assert!(matches!(e, SpaceError::GenomeLength { got: 3, .. }), "{e}");
}

#[test]
fn illegal_architecture_choice_names_field() {
    let space = SearchSpace::default_space();
    let mut a = space.sample(3);
    a.stages[2].blocks[0].kernel = 9;
    let e = space.encode(&a).unwrap_err().to_string();
    assert!(e.contains("stages[2].blocks[0].kernel = 9"), "{e}");
    assert!(e.contains("allowed: 3, 5"), "{e}");
    let mut a = space.sample(3);
    a.head.width = 100;
    let e = space.encode(&a).unwrap_err().to_string();
    assert!(e.contains("head.width") && e.contains("128, 256, 512"), "{e}");
}

#[test]
fn space_toml_rejects_unknown_and_missing_fields() {
    let text = edgenas_space::space::DEFAULT_SPACE_TOML.replace("[head]", "[head]\ncolour = 3");
    let e = SearchSpace::from_toml_str(&text, Path::new("x.toml")).unwrap_err().to_string();
    assert!(e.starts_with("x.toml") && e.contains("colour"), "{e}");
    let text = edgenas_space::space::DEFAULT_SPACE_TOML.replace("kernels = [3, 5]", "");
    let e = SearchSpace::from_toml_str(&text, Path::new("x.toml")).unwrap_err().to_string();
    assert!(e.contains("kernels"), "{e}");
    let text = edgenas_space::space::DEFAULT_SPACE_TOML.replace("kernels = [3, 5]", "kernels = [3, 4]");
    let e = SearchSpace::from_toml_str(&text, Path::new("x.toml")).unwrap_err().to_string();
    assert!(e.contains("block.kernels[1]") && e.contains("odd"), "{e}");
}

#[test]
fn space_toml_round_trips_and_hash_is_stable() {
    let space = SearchSpace::default_space();
    let again = SearchSpace::from_toml_str(&space.to_toml(), Path::new("x")).unwrap();
    assert_eq!(space, again);
    assert_eq!(space.hash(), again.hash());
    assert_ne!(space.hash(), tiny().hash());
}

#[test]
fn block_key_strings_round_trip() {
    let space = SearchSpace::default_space();
    for k in space.block_keys() {
        let s = k.to_string();
        assert_eq!(s.parse::<BlockKey>().unwrap(), k);
    }
    assert!("mbconv-i28x28x16-o24-k5-e3-s2".parse::<BlockKey>().is_err());
    assert!("nonsense".parse::<BlockKey>().is_err());
    assert_eq!(
        "mbconv-i28x28x16-o24-k5-e3-s2-se1".parse::<BlockKey>().unwrap(),
        BlockKey::MbConv {
            kind: BlockKind::Mbconv,
            h: 28,
            w: 28,
            cin: 16,
            cout: 24,
            kernel: 5,
            expansion: 3,
            stride: 2,
            se: true
        }
    );
    let cn = "convnext-i7x7x32-o48-k3-e6-s2-se0".parse::<BlockKey>().unwrap();
    assert!(matches!(cn, BlockKey::MbConv { kind: BlockKind::Convnext, cin: 32, cout: 48, expansion: 6, .. }));
    assert_eq!(cn.to_string(), "convnext-i7x7x32-o48-k3-e6-s2-se0");
    assert!("fused-i7x7x32-o48-k3-e6-s2-se0".parse::<BlockKey>().is_err());
}

fn small_arch(block: Block, stage_width: usize, stride: usize) -> Architecture {
    Architecture {
        input: InputShape { channels: 1, height: 8, width: 8 },
        classes: 2,
        stem: Stem { width: 4, kernel: 3, stride: 1 },
        stages: vec![Stage { width: stage_width, stride, blocks: vec![block] }],
        head: Head { width: 8 },
    }
}

#[test]
fn counts_match_hand_computed_residual_case() {
    // input 1x8x8 -> stem 4x8x8 -> dw k3 4x8x8 -> project 4x8x8 -> add -> head 8x8x8 -> pool 8 -> fc 2
    let a = small_arch(Block::mbconv(3, 1, false), 4, 1);
    let s = a.stats();
    // stem 4*1*9+4, dw 4*1*9+4, project 4*4+4, head 8*4+8, fc 8*2+2
    assert_eq!(s.params, 40 + 40 + 20 + 40 + 18);
    assert_eq!(s.macs, 4 * 64 * 9 + 4 * 64 * 9 + 4 * 64 * 4 + 8 * 64 * 4 + 16);
    assert_eq!(s.flash_f32_bytes, 4 * 158);
    // int8: weights 1 B, bias + scale 8 B per output channel
    assert_eq!(s.flash_int8_bytes, (36 + 36 + 16 + 32 + 16) + 8 * (4 + 4 + 4 + 8 + 2));
    // live sets: stem 64+256; dw 256(held)+256; project 256(held)+256+256; add 256+256+256;
    // head 256+512; pool 512+8; fc 8+2  -> peak 768 elements
    assert_eq!(s.peak_activation_elements, 768);
    assert_eq!(s.peak_activation_f32_bytes, 3072);
    assert_eq!(s.peak_activation_int8_bytes, 768);
}

#[test]
fn counts_match_hand_computed_strided_expanding_se_case() {
    // stem 4x8x8 -> expand 1x1 to 12x8x8 -> dw k3 s2 12x4x4 -> SE(12, hidden 8) -> project 6x4x4 (no residual)
    let a = small_arch(Block::mbconv(3, 3, true), 6, 2);
    let s = a.stats();
    let params =
        (4 * 9 + 4) + (12 * 4 + 12) + (12 * 9 + 12) + (8 * 12 + 8) + (12 * 8 + 12) + (6 * 12 + 6) + (8 * 6 + 8) + 18;
    assert_eq!(s.params, params as u64);
    // live: stem 64+256=320; expand 256+768=1024; dw 768+192=960; se 192+192+(24+8)=416;
    // project 192+96=288; head 96+128=224 -> peak 1024
    assert_eq!(s.peak_activation_elements, 1024);
    assert_eq!(s.blocks, 1);
    let macs = 4 * 64 * 9 + 12 * 64 * 4 + 12 * 16 * 9 + (12 * 8 + 8 * 12 + 192) + 6 * 16 * 12 + 8 * 16 * 6 + 16;
    assert_eq!(s.macs, macs as u64);
}

#[test]
fn counts_match_hand_computed_convnext_case() {
    // stem 4x8x8 -> dw k3 s2 on the input width 4x4x4 -> expand 1x1 to 12x4x4 -> SE(12, hidden 8)
    // -> project 6x4x4 (no residual)
    let a = small_arch(Block { kind: BlockKind::Convnext, kernel: 3, expansion: 3, se: true }, 6, 2);
    let s = a.stats();
    let params =
        (4 * 9 + 4) + (4 * 9 + 4) + (12 * 4 + 12) + (8 * 12 + 8) + (12 * 8 + 12) + (6 * 12 + 6) + (8 * 6 + 8) + 18;
    assert_eq!(s.params, params as u64);
    let macs = 4 * 64 * 9 + 4 * 16 * 9 + 12 * 16 * 4 + (12 * 8 + 8 * 12 + 192) + 6 * 16 * 12 + 8 * 16 * 6 + 16;
    assert_eq!(s.macs, macs as u64);
    // live: stem 64+256=320; dw 256+64=320; expand 64+192=256; se 192+192+(24+8)=416;
    // project 192+96=288; head 96+128=224 -> peak 416
    assert_eq!(s.peak_activation_elements, 416);
}

#[test]
fn a_space_with_two_block_kinds_has_kind_genes_and_round_trips() {
    let text = SearchSpace::default_space().to_toml();
    assert!(!text.contains("kinds"), "the default space has no kinds entry, so its hash is unchanged");
    let with = text.replacen("[block]\n", "[block]\nkinds = [\"mbconv\", \"convnext\"]\n", 1);
    let space = SearchSpace::from_toml_str(&with, std::path::Path::new("kinds.toml")).unwrap();
    let plain = SearchSpace::default_space();
    let kind_genes = space.genes().iter().filter(|g| g.name.ends_with(".kind")).count();
    assert_eq!(kind_genes, space.genes().len() - plain.genes().len());
    assert_eq!(kind_genes, 2 + 3 + 4 + 3);
    assert_ne!(space.hash(), plain.hash());
    let mut seen = std::collections::BTreeSet::new();
    for seed in 0..40 {
        let a = space.sample(seed);
        assert_eq!(space.decode(&space.encode(&a).unwrap()).unwrap(), a);
        seen.extend(a.stages.iter().flat_map(|s| s.blocks.iter().map(|b| b.kind)));
        for k in a.block_keys() {
            assert!(space.block_keys().contains(&k), "{k} is missing from the space's keys");
        }
    }
    assert_eq!(seen.len(), 2, "both kinds are sampled");
    // Twice the block keys of the plain space: every block configuration in both kinds.
    let blocks = |s: &SearchSpace| s.block_keys().iter().filter(|k| matches!(k, BlockKey::MbConv { .. })).count();
    assert_eq!(blocks(&space), 2 * blocks(&plain));
    // A convnext architecture is not a member of the plain space; the error names the gene.
    let cn = space.sample(3);
    let cn = if cn.stages.iter().any(|s| s.blocks.iter().any(|b| b.kind == BlockKind::Convnext)) {
        cn
    } else {
        let mut c = cn;
        c.stages[0].blocks[0].kind = BlockKind::Convnext;
        c
    };
    let err = plain.encode(&cn).unwrap_err().to_string();
    assert!(err.contains(".kind") && err.contains("mbconv"), "{err}");
    // The architecture JSON names the kind only for convnext blocks; without it a block is mbconv.
    assert!(cn.to_json().contains("\"kind\": \"convnext\""));
    assert!(!plain.sample(0).to_json().contains("kind"));
    let bad = with.replace("\"convnext\"]", "\"fused\"]");
    let err = SearchSpace::from_toml_str(&bad, std::path::Path::new("kinds.toml")).unwrap_err().to_string();
    assert!(err.contains("kinds.toml") && err.contains("fused"), "{err}");
}

#[test]
fn architecture_json_rejects_unknown_fields_and_bad_values() {
    let dir = std::env::temp_dir().join(format!("edgenas-space-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let a = SearchSpace::default_space().sample(0);
    let p = dir.join("a.json");
    std::fs::write(&p, a.to_json().replacen("\"classes\"", "\"colour\": 1, \"classes\"", 1)).unwrap();
    let e = Architecture::from_json_file(&p).unwrap_err().to_string();
    assert!(e.contains("a.json") && e.contains("colour"), "{e}");
    let mut b = a.clone();
    b.stages[0].blocks[0].kernel = 4;
    std::fs::write(&p, b.to_json()).unwrap();
    let e = Architecture::from_json_file(&p).unwrap_err().to_string();
    assert!(e.contains("stages[0].blocks[0].kernel"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn declared_baseline_widths_are_checked_and_used() {
    use edgenas_space::baseline_choice;
    let plain = SearchSpace::default_space();
    assert!(!plain.to_toml().contains("baseline_widths"), "the default space declares none, so its hash is unchanged");
    // Without a declaration: the smallest, middle and largest choice.
    assert_eq!((0..3).map(|l| baseline_choice(&[32, 16, 24], None, l)).collect::<Vec<_>>(), [16, 24, 32]);
    assert_eq!((0..3).map(|l| baseline_choice(&[8, 16], None, l)).collect::<Vec<_>>(), [8, 8, 16]);
    // The wide space keeps the default space's baseline widths.
    let wide =
        SearchSpace::from_file(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../spaces/convnext-wide.toml")).unwrap();
    for (level, _) in ["narrow", "mid", "wide"].iter().enumerate() {
        assert_eq!(
            baseline_choice(&wide.stem.widths, wide.stem.baseline_widths, level),
            baseline_choice(&plain.stem.widths, None, level)
        );
        for (w, p) in wide.stages.iter().zip(&plain.stages) {
            assert_eq!(baseline_choice(&w.widths, w.baseline_widths, level), baseline_choice(&p.widths, None, level));
        }
    }
    assert!(*wide.stages[3].widths.iter().max().unwrap() > 128, "the wide space offers more than the baseline");
    // A baseline width that is not a choice: the error names the file, the field and the choices.
    let bad = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../spaces/convnext-wide.toml"))
        .unwrap()
        .replacen("baseline_widths = [64, 96, 128]", "baseline_widths = [64, 100, 128]", 1);
    let err = SearchSpace::from_toml_str(&bad, Path::new("wide.toml")).unwrap_err().to_string();
    assert!(err.contains("wide.toml") && err.contains("stages[3].baseline_widths[1]") && err.contains("100"), "{err}");
    let short = bad.replacen("baseline_widths = [64, 100, 128]", "baseline_widths = [64, 128]", 1);
    let err = SearchSpace::from_toml_str(&short, Path::new("wide.toml")).unwrap_err().to_string();
    assert!(err.contains("wide.toml") && err.contains("baseline_widths"), "{err}");
}

#[test]
fn a_space_with_stem_stride_choices_has_a_stride_gene_and_keys_at_both_resolutions() {
    let plain = tiny();
    let text = plain.to_toml();
    assert!(!text.contains("strides"), "a space without stride choices has no strides entry, so its hash is unchanged");
    // tiny's stem has stride 1; offer 2 as well
    let with = text.replacen("stride = 1\n", "stride = 1\nstrides = [1, 2]\n", 1);
    let space = SearchSpace::from_toml_str(&with, Path::new("strides.toml")).unwrap();
    assert_ne!(space.hash(), plain.hash());
    let genes = space.genes();
    assert_eq!(genes[1].name, "stem.stride");
    assert_eq!(genes[1].values, ["1", "2"]);
    assert_eq!(genes.len(), plain.genes().len() + 1);
    // twice the architectures; brute force agrees on the count and on the key set
    assert_eq!(space.num_architectures().unwrap(), 2 * plain.num_architectures().unwrap());
    let mut archs = HashSet::new();
    let mut keys = BTreeSet::new();
    for g in all_genomes(&space) {
        let a = space.decode(&g).unwrap();
        assert_eq!(space.decode(&space.encode(&a).unwrap()).unwrap(), a);
        keys.extend(a.block_keys());
        archs.insert(a);
    }
    assert_eq!(archs.len() as u128, space.num_architectures().unwrap());
    assert_eq!(space.block_keys(), keys);
    assert!(plain.block_keys().is_subset(&space.block_keys()));
    // stride 2 halves the first stage's input: 16x16 with stride 1, 8x8 with stride 2
    let stem_keys = |s: usize| {
        space.block_keys().iter().filter(|k| matches!(k, BlockKey::Stem { stride, .. } if *stride == s)).count()
    };
    assert_eq!((stem_keys(1), stem_keys(2)), (1, 1));
    let at = |h: usize| space.block_keys().iter().any(|k| matches!(k, BlockKey::MbConv { h: kh, .. } if *kh == h));
    assert!(at(16) && at(8) && at(4), "blocks at every resolution either stride reaches");
    // largest = stride 1, smallest = stride 2; sampling reaches both
    assert_eq!(space.largest_architecture().stem.stride, 1);
    assert_eq!(space.smallest_architecture().stem.stride, 2);
    let strides: BTreeSet<usize> = (0..20).map(|s| space.sample(s).stem.stride).collect();
    assert_eq!(strides.into_iter().collect::<Vec<_>>(), [1, 2]);
    // the plain space refuses stride 2, naming the field and the allowed value
    let mut a = plain.sample(0);
    a.stem.stride = 2;
    let err = plain.encode(&a).unwrap_err().to_string();
    assert!(err.contains("stem.stride") && err.contains('1'), "{err}");
    // bad stride choices are refused, naming the file and the field
    for (bad, field) in [("strides = [1, 3]", "stem.strides[1]"), ("strides = [2]", "stem.stride")] {
        let t = text.replacen("stride = 1\n", &format!("stride = 1\n{bad}\n"), 1);
        let err = SearchSpace::from_toml_str(&t, Path::new("strides.toml")).unwrap_err().to_string();
        assert!(err.contains("strides.toml") && err.contains(field), "{bad}: {err}");
    }
}
