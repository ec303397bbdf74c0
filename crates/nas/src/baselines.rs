//! The hand-designed networks of a space: the baselines the front is compared with, the
//! largest uniform networks, and the genomes a search's first generation opens with.

use anyhow::{anyhow, ensure, Context, Result};
use edgenas_space::{baseline_choice, Architecture, Block, BlockKind, Genome, Head, SearchSpace, Stage, Stem};

use crate::config::SearchConfig;

/// The choice closest to `want` in `values`.
fn closest(values: &[usize], want: usize) -> usize {
    *values.iter().min_by_key(|&&v| (v as i64 - want as i64).abs()).expect("non-empty choices")
}

/// A uniform network of the space: the same `block` in every stage at middle depth, each
/// section's width picked by `width(choices, declared baseline widths)`.
fn uniform_network(
    space: &SearchSpace,
    block: Block,
    width: impl Fn(&[usize], Option<[usize; 3]>) -> usize,
) -> Architecture {
    let depth = |v: &[usize]| baseline_choice(v, None, 1); // the middle depth
    Architecture {
        input: space.input,
        classes: space.classes,
        stem: Stem {
            width: width(&space.stem.widths, space.stem.baseline_widths),
            kernel: space.stem.kernel,
            stride: space.stem.stride,
        },
        stages: space
            .stages
            .iter()
            .map(|st| Stage {
                width: width(&st.widths, st.baseline_widths),
                stride: st.stride,
                blocks: vec![block; depth(&st.depths)],
            })
            .collect(),
        head: Head { width: width(&space.head.widths, space.head.baseline_widths) },
    }
}

/// The baselines' kernel and expansion: 3 and 6, or the space's closest choices.
fn baseline_kernel_expansion(space: &SearchSpace) -> (usize, usize) {
    (closest(&space.block.kernels, 3), closest(&space.block.expansions, 6))
}

/// Hand-designed baselines of the space: uniform k3 / e6 blocks (or the closest choices),
/// no squeeze-excite, middle depths, at the smallest, middle and largest widths, or at the
/// widths a space declares (`baseline_widths`).
pub fn baselines(space: &SearchSpace) -> Vec<(String, Architecture)> {
    let (k, e) = baseline_kernel_expansion(space);
    let se = !space.block.se.contains(&false);
    // MobileNetV2's inverted residual when the space has it.
    let kind = if space.block.kinds.contains(&BlockKind::Mbconv) { BlockKind::Mbconv } else { space.block.kinds[0] };
    let block = Block { kind, kernel: k, expansion: e, se };
    ["narrow", "mid", "wide"]
        .iter()
        .enumerate()
        .map(|(level, name)| {
            (
                format!("k{k}e{e}-{name}"),
                uniform_network(space, block, |c, declared| baseline_choice(c, declared, level)),
            )
        })
        .collect()
}

/// The space's largest uniform networks (`--init-uniform`): the baselines' shape (k3 / e6,
/// middle depths) at every section's largest width, once for each block kind and
/// squeeze-excite choice the space offers. They are what a designer scales up first when a
/// space offers a cheaper block or wider stages than the baselines use.
pub fn uniform_networks(space: &SearchSpace) -> Vec<(String, Architecture)> {
    let (k, e) = baseline_kernel_expansion(space);
    let largest = |c: &[usize], _: Option<[usize; 3]>| *c.iter().max().expect("non-empty choices");
    let mut out = Vec::new();
    for &kind in &space.block.kinds {
        for &se in &space.block.se {
            let block = Block { kind, kernel: k, expansion: e, se };
            let name = format!("{}-k{k}e{e}{}-largest", kind.name(), if se { "-se" } else { "" });
            out.push((name, uniform_network(space, block, largest)));
        }
    }
    out
}

/// The genomes the initial population opens with: the baselines (`--init-baselines`), the
/// largest uniform networks (`--init-uniform`), then the `--init-arch` files, each checked
/// against the space; a genome given twice counts once.
pub fn initial_genomes(config: &SearchConfig, space: &SearchSpace) -> Result<Vec<Genome>> {
    let mut out: Vec<Genome> = Vec::new();
    if config.init_baselines {
        for (name, arch) in baselines(space) {
            out.push(space.encode(&arch).with_context(|| format!("baseline {name} is not in the space"))?);
        }
    }
    if config.init_uniform {
        for (name, arch) in uniform_networks(space) {
            out.push(space.encode(&arch).with_context(|| format!("uniform network {name} is not in the space"))?);
        }
    }
    for path in &config.init_archs {
        let arch = crate::arch_file::load_arch_or_card(path, "--init-arch")?;
        let genome =
            space.encode(&arch).map_err(|e| anyhow!("--init-arch {}: not in the search space: {e}", path.display()))?;
        out.push(genome);
    }
    let mut seen = std::collections::BTreeSet::new();
    out.retain(|g| seen.insert(g.0.clone()));
    ensure!(
        out.len() <= config.population,
        "--init-baselines / --init-uniform / --init-arch: {} initial architectures for a population of {}; allowed: at most --population",
        out.len(),
        config.population
    );
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use edgenas_space::{Architecture, Block, BlockKind, SearchSpace};

    use super::*;

    fn root() -> &'static Path {
        Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
    }

    #[test]
    fn baselines_are_uniform_k3e6_at_the_declared_or_extreme_widths() {
        let plain = SearchSpace::default_space();
        let b = baselines(&plain);
        let widths =
            |a: &Architecture| (a.stem.width, a.stages.iter().map(|s| s.width).collect::<Vec<_>>(), a.head.width);
        assert_eq!(widths(&b[0].1), (8, vec![8, 16, 32, 64], 128));
        assert_eq!(widths(&b[1].1), (8, vec![8, 24, 48, 96], 256));
        assert_eq!(widths(&b[2].1), (16, vec![16, 32, 64, 128], 512));
        for (_, a) in &b {
            assert_eq!(a.stages.iter().map(|s| s.blocks.len()).collect::<Vec<_>>(), [1, 2, 2, 2]);
            assert!(a.stages.iter().flat_map(|s| &s.blocks).all(|k| *k == Block::mbconv(3, 6, false)));
        }
        // The wide ConvNeXt-like space declares the default space's widths: the same three networks.
        let root = root();
        let wide = SearchSpace::from_file(&root.join("spaces/convnext-wide.toml")).unwrap();
        let bw = baselines(&wide);
        assert_eq!(bw, b);
        // ... and they are members of it.
        for (_, a) in &bw {
            wide.encode(a).unwrap();
        }
    }

    #[test]
    fn uniform_networks_are_the_baseline_shape_at_the_largest_widths_in_every_block_variant() {
        let root = root();
        let wide = SearchSpace::from_file(&root.join("spaces/convnext-wide.toml")).unwrap();
        let u = uniform_networks(&wide);
        let names: Vec<&str> = u.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            ["mbconv-k3e6-largest", "mbconv-k3e6-se-largest", "convnext-k3e6-largest", "convnext-k3e6-se-largest"]
        );
        let variants: Vec<Block> = u.iter().map(|(_, a)| a.stages[0].blocks[0]).collect();
        for (kind, se) in [
            (BlockKind::Mbconv, false),
            (BlockKind::Mbconv, true),
            (BlockKind::Convnext, false),
            (BlockKind::Convnext, true),
        ] {
            assert!(variants.contains(&Block { kind, kernel: 3, expansion: 6, se }), "{kind:?} se {se} missing");
        }
        for (name, a) in &u {
            // the largest width of every section, beyond the declared baseline widths
            assert_eq!((a.stem.width, a.head.width), (24, 512), "{name}");
            assert_eq!(a.stages.iter().map(|s| s.width).collect::<Vec<_>>(), [24, 48, 96, 192], "{name}");
            // the baselines' depths, every block the same
            assert_eq!(a.stages.iter().map(|s| s.blocks.len()).collect::<Vec<_>>(), [1, 2, 2, 2], "{name}");
            let first = a.stages[0].blocks[0];
            assert!(a.stages.iter().flat_map(|s| &s.blocks).all(|b| *b == first), "{name}");
            wide.encode(a).unwrap();
        }
        // the default space has one kind: two networks, and its largest widths are the wide baseline's
        let plain = SearchSpace::default_space();
        let u = uniform_networks(&plain);
        assert_eq!(u.len(), 2);
        let no_se = u.iter().find(|(_, a)| !a.stages[0].blocks[0].se).unwrap();
        assert_eq!(no_se.1, baselines(&plain)[2].1);
    }
}
