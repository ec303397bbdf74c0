//! The search space: choices per stage and block, loadable from TOML.

use std::collections::BTreeSet;
use std::path::Path;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::arch::{Architecture, Block, BlockKind, Head, InputShape, Stage, Stem};
use crate::error::{Result, SpaceError};
use crate::key::BlockKey;
use crate::semantics::out_size;

/// The built-in default space (the text of `spaces/default.toml`).
pub const DEFAULT_SPACE_TOML: &str = include_str!("../../../spaces/default.toml");

/// Bumped whenever [`crate::semantics`] changes meaning, so old profiles are refused.
pub const SEMANTICS_VERSION: u32 = 1;

/// Choices of the stem.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StemSpace {
    /// Output width choices.
    pub widths: Vec<usize>,
    /// Widths of the hand-designed baselines (narrow, mid, wide), each one of `widths`
    /// (default: the smallest, the middle and the largest choice).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline_widths: Option<[usize; 3]>,
    /// Fixed kernel size.
    pub kernel: usize,
    /// The stride of the hand-designed baselines; the stem's only stride unless `strides` is given.
    pub stride: usize,
    /// Stride choices (1 or 2; `stride` must be one of them). With more than one, the stem has a
    /// `stem.stride` gene: stride 1 keeps the input's resolution for the first stage (4x the
    /// activations, and the work, of every layer before the next stride).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strides: Option<Vec<usize>>,
}

impl StemSpace {
    /// The stride choices: `strides`, or the fixed `stride` alone.
    pub fn stride_choices(&self) -> Vec<usize> {
        self.strides.clone().unwrap_or_else(|| vec![self.stride])
    }
}

/// Per-block choices, shared by every block of every stage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlockSpace {
    /// Block kind choices (`["mbconv"]` when absent). With more than one, every block has a
    /// `kind` gene.
    #[serde(default = "default_kinds", skip_serializing_if = "is_default_kinds")]
    pub kinds: Vec<BlockKind>,
    /// Depthwise kernel choices.
    pub kernels: Vec<usize>,
    /// Expansion ratio choices.
    pub expansions: Vec<usize>,
    /// Squeeze-excite choices (`[false, true]` for on/off).
    pub se: Vec<bool>,
}

/// Choices of one stage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageSpace {
    /// Output width choices.
    pub widths: Vec<usize>,
    /// Widths of the hand-designed baselines (narrow, mid, wide), each one of `widths`
    /// (default: the smallest, the middle and the largest choice).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline_widths: Option<[usize; 3]>,
    /// Depth (number of blocks) choices.
    pub depths: Vec<usize>,
    /// Fixed stride of the stage's first block.
    pub stride: usize,
}

/// Choices of the head.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeadSpace {
    /// Width choices of the 1x1 convolution.
    pub widths: Vec<usize>,
    /// Widths of the hand-designed baselines (narrow, mid, wide), each one of `widths`
    /// (default: the smallest, the middle and the largest choice).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline_widths: Option<[usize; 3]>,
}

/// A MobileNetV2/FBNet-style search space over MBConv blocks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchSpace {
    /// Human-readable name.
    pub name: String,
    /// Input sample shape.
    #[serde(default)]
    pub input: InputShape,
    /// Number of classes.
    #[serde(default = "default_classes")]
    pub classes: usize,
    /// The stem.
    pub stem: StemSpace,
    /// Block choices.
    pub block: BlockSpace,
    /// Stages in order.
    pub stages: Vec<StageSpace>,
    /// The head.
    pub head: HeadSpace,
}

fn default_classes() -> usize {
    10
}

fn default_kinds() -> Vec<BlockKind> {
    vec![BlockKind::Mbconv]
}

fn is_default_kinds(k: &[BlockKind]) -> bool {
    k == [BlockKind::Mbconv]
}

/// One gene of a genome: its name (the field it sets) and how many choices it has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gene {
    /// Field path, e.g. `stages[1].blocks[0].kernel`.
    pub name: String,
    /// The allowed values as text, in gene-index order.
    pub values: Vec<String>,
}

impl Gene {
    /// Number of choices (the gene ranges over `0..choices()`).
    pub fn choices(&self) -> usize {
        self.values.len()
    }
}

/// A genome: one choice index per gene, in the order of [`SearchSpace::genes`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Genome(pub Vec<usize>);

fn check_choices<T: std::fmt::Display + PartialEq>(
    field: &str,
    v: &[T],
    ok: impl Fn(&T) -> bool,
    what: &str,
) -> Result<()> {
    if v.is_empty() {
        return Err(SpaceError::invalid(field, "needs at least one choice"));
    }
    for (i, x) in v.iter().enumerate() {
        if !ok(x) {
            return Err(SpaceError::invalid(format!("{field}[{i}]"), format!("{x} is not allowed; allowed: {what}")));
        }
        if v[..i].contains(x) {
            return Err(SpaceError::invalid(format!("{field}[{i}]"), format!("{x} is listed twice")));
        }
    }
    Ok(())
}

/// Every baseline width must be one of the section's width choices.
fn check_baseline_widths(section: &str, widths: &[usize], baseline: Option<[usize; 3]>) -> Result<()> {
    for (i, w) in baseline.iter().flatten().enumerate() {
        if !widths.contains(w) {
            return Err(SpaceError::invalid(
                format!("{section}.baseline_widths[{i}]"),
                format!("{w} is not one of {section}.widths {widths:?}"),
            ));
        }
    }
    Ok(())
}

/// The choice (a width or a depth) of baseline `level` (0 narrow, 1 mid, 2 wide): the declared
/// one, or the smallest, middle or largest of `choices`.
pub fn baseline_choice(choices: &[usize], declared: Option<[usize; 3]>, level: usize) -> usize {
    if let Some(b) = declared {
        return b[level.min(2)];
    }
    let mut s = choices.to_vec();
    s.sort_unstable();
    s[match level {
        0 => 0,
        1 => (s.len() - 1) / 2,
        _ => s.len() - 1,
    }]
}

fn index_of<T: PartialEq + std::fmt::Display>(field: &str, choices: &[T], v: &T) -> Result<usize> {
    choices.iter().position(|c| c == v).ok_or_else(|| SpaceError::choice(field, v, choices))
}

impl SearchSpace {
    /// The built-in default space.
    pub fn default_space() -> Self {
        Self::from_toml_str(DEFAULT_SPACE_TOML, Path::new("<built-in default space>"))
            .expect("the built-in space is valid")
    }

    /// Parse and validate a space from TOML text; `origin` names the source in errors.
    pub fn from_toml_str(text: &str, origin: &Path) -> Result<Self> {
        let space: SearchSpace =
            toml::from_str(text).map_err(|e| SpaceError::parse(origin, crate::error::toml_error_line(text, &e)))?;
        space.check().map_err(|e| SpaceError::parse(origin, e))?;
        Ok(space)
    }

    /// Load a space from a TOML file.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text =
            std::fs::read_to_string(path).map_err(|source| SpaceError::Io { path: path.to_path_buf(), source })?;
        Self::from_toml_str(&text, path)
    }

    /// Validate the space's own settings.
    pub fn check(&self) -> Result<()> {
        let odd = |k: &usize| *k % 2 == 1 && *k <= 15;
        let pos = |w: &usize| *w >= 1;
        check_choices("stem.widths", &self.stem.widths, pos, "positive integers")?;
        check_choices("block.kinds", &self.block.kinds, |_| true, "mbconv, convnext")?;
        check_choices("block.kernels", &self.block.kernels, odd, "odd sizes 1..=15")?;
        check_choices("block.expansions", &self.block.expansions, |e| (1..=16).contains(e), "1..=16")?;
        check_choices("block.se", &self.block.se, |_| true, "true, false")?;
        check_choices("head.widths", &self.head.widths, pos, "positive integers")?;
        check_baseline_widths("stem", &self.stem.widths, self.stem.baseline_widths)?;
        if let Some(strides) = &self.stem.strides {
            check_choices("stem.strides", strides, |s| *s == 1 || *s == 2, "1, 2")?;
            if !strides.contains(&self.stem.stride) {
                return Err(SpaceError::invalid(
                    "stem.stride",
                    format!("{} is not one of stem.strides {strides:?}", self.stem.stride),
                ));
            }
        }
        check_baseline_widths("head", &self.head.widths, self.head.baseline_widths)?;
        if self.stages.is_empty() {
            return Err(SpaceError::invalid("stages", "at least one [[stages]] table is required"));
        }
        for (i, st) in self.stages.iter().enumerate() {
            check_choices(&format!("stages[{i}].widths"), &st.widths, pos, "positive integers")?;
            check_choices(&format!("stages[{i}].depths"), &st.depths, |d| (1..=32).contains(d), "1..=32")?;
            check_baseline_widths(&format!("stages[{i}]"), &st.widths, st.baseline_widths)?;
        }
        // Structural checks (kernel, strides, shapes, classes) are those of any architecture.
        self.largest_architecture().check()?;
        self.smallest_architecture().check()
    }

    /// A stable 64-bit hash (hex) of the space and the semantics version; profiles record it.
    pub fn hash(&self) -> String {
        let text = format!("v{}:{}", SEMANTICS_VERSION, serde_json::to_string(self).expect("space serializes"));
        edgenas_store::content_hash(text.as_bytes())
    }

    /// The space as TOML text.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("space serializes")
    }

    fn max_depth(&self, stage: usize) -> usize {
        *self.stages[stage].depths.iter().max().expect("checked non-empty")
    }

    fn block_options(&self) -> usize {
        self.block.kinds.len() * self.block.kernels.len() * self.block.expansions.len() * self.block.se.len()
    }

    /// Whether the stem carries a `stride` gene (more than one stride to choose from).
    fn has_stem_stride_gene(&self) -> bool {
        self.stem.stride_choices().len() > 1
    }

    /// Whether blocks carry a `kind` gene (more than one kind to choose from).
    fn has_kind_gene(&self) -> bool {
        self.block.kinds.len() > 1
    }

    /// The genes in genome order: `stem.width`, `stem.stride` (only when the space offers more
    /// than one); per stage `width`, `depth`, then
    /// `kind` (only when the space offers more than one), `kernel`, `expansion`, `se` for each
    /// of its maximum number of blocks; `head.width`.
    pub fn genes(&self) -> Vec<Gene> {
        let txt = |v: &[usize]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let mut genes = vec![Gene { name: "stem.width".into(), values: txt(&self.stem.widths) }];
        if self.has_stem_stride_gene() {
            genes.push(Gene { name: "stem.stride".into(), values: txt(&self.stem.stride_choices()) });
        }
        for (i, st) in self.stages.iter().enumerate() {
            genes.push(Gene { name: format!("stages[{i}].width"), values: txt(&st.widths) });
            genes.push(Gene { name: format!("stages[{i}].depth"), values: txt(&st.depths) });
            for j in 0..self.max_depth(i) {
                if self.has_kind_gene() {
                    genes.push(Gene {
                        name: format!("stages[{i}].blocks[{j}].kind"),
                        values: self.block.kinds.iter().map(|k| k.to_string()).collect(),
                    });
                }
                genes.push(Gene { name: format!("stages[{i}].blocks[{j}].kernel"), values: txt(&self.block.kernels) });
                genes.push(Gene {
                    name: format!("stages[{i}].blocks[{j}].expansion"),
                    values: txt(&self.block.expansions),
                });
                genes.push(Gene {
                    name: format!("stages[{i}].blocks[{j}].se"),
                    values: self.block.se.iter().map(|x| x.to_string()).collect(),
                });
            }
        }
        genes.push(Gene { name: "head.width".into(), values: txt(&self.head.widths) });
        genes
    }

    /// Check that every gene is in range; the error names the gene and its allowed values.
    pub fn check_genome(&self, genome: &Genome) -> Result<()> {
        let genes = self.genes();
        if genome.0.len() != genes.len() {
            return Err(SpaceError::GenomeLength { expected: genes.len(), got: genome.0.len() });
        }
        for (g, &v) in genes.iter().zip(&genome.0) {
            if v >= g.choices() {
                return Err(SpaceError::InvalidChoice {
                    field: g.name.clone(),
                    value: format!("index {v}"),
                    allowed: format!("indices 0..={} (values {})", g.choices() - 1, g.values.join(", ")),
                });
            }
        }
        Ok(())
    }

    /// Genome -> architecture. Genes of blocks beyond a stage's depth are ignored.
    pub fn decode(&self, genome: &Genome) -> Result<Architecture> {
        self.check_genome(genome)?;
        let mut it = genome.0.iter().copied();
        let mut next = || it.next().expect("length checked");
        let stem_width = self.stem.widths[next()];
        let stem_stride =
            if self.has_stem_stride_gene() { self.stem.stride_choices()[next()] } else { self.stem.stride };
        let mut stages = Vec::with_capacity(self.stages.len());
        for (i, st) in self.stages.iter().enumerate() {
            let width = st.widths[next()];
            let depth = st.depths[next()];
            let mut blocks = Vec::with_capacity(depth);
            for j in 0..self.max_depth(i) {
                let kind = if self.has_kind_gene() { self.block.kinds[next()] } else { self.block.kinds[0] };
                let b = Block {
                    kind,
                    kernel: self.block.kernels[next()],
                    expansion: self.block.expansions[next()],
                    se: self.block.se[next()],
                };
                if j < depth {
                    blocks.push(b);
                }
            }
            stages.push(Stage { width, stride: st.stride, blocks });
        }
        Ok(Architecture {
            input: self.input,
            classes: self.classes,
            stem: Stem { width: stem_width, kernel: self.stem.kernel, stride: stem_stride },
            stages,
            head: Head { width: self.head.widths[next()] },
        })
    }

    /// Architecture -> canonical genome (genes of unused blocks set to 0). Fails, naming the
    /// field and the allowed values, when the architecture is not a member of this space.
    pub fn encode(&self, arch: &Architecture) -> Result<Genome> {
        if arch.input != self.input {
            return Err(SpaceError::invalid(
                "input",
                format!(
                    "{}x{}x{} differs from the space's {}x{}x{}",
                    arch.input.channels,
                    arch.input.height,
                    arch.input.width,
                    self.input.channels,
                    self.input.height,
                    self.input.width
                ),
            ));
        }
        if arch.classes != self.classes {
            return Err(SpaceError::choice("classes", arch.classes, &[self.classes]));
        }
        if arch.stem.kernel != self.stem.kernel {
            return Err(SpaceError::choice("stem.kernel", arch.stem.kernel, &[self.stem.kernel]));
        }
        let stem_strides = self.stem.stride_choices();
        let stem_stride = index_of("stem.stride", &stem_strides, &arch.stem.stride)?;
        if arch.stages.len() != self.stages.len() {
            return Err(SpaceError::invalid(
                "stages",
                format!("{} stages given; this space has {}", arch.stages.len(), self.stages.len()),
            ));
        }
        let mut g = vec![index_of("stem.width", &self.stem.widths, &arch.stem.width)?];
        if self.has_stem_stride_gene() {
            g.push(stem_stride);
        }
        for (i, (st, sp)) in arch.stages.iter().zip(&self.stages).enumerate() {
            if st.stride != sp.stride {
                return Err(SpaceError::choice(format!("stages[{i}].stride"), st.stride, &[sp.stride]));
            }
            g.push(index_of(&format!("stages[{i}].width"), &sp.widths, &st.width)?);
            g.push(index_of(&format!("stages[{i}].depth"), &sp.depths, &st.blocks.len())?);
            for j in 0..self.max_depth(i) {
                match st.blocks.get(j) {
                    Some(b) => {
                        let f = |n: &str| format!("stages[{i}].blocks[{j}].{n}");
                        if self.has_kind_gene() {
                            g.push(index_of(&f("kind"), &self.block.kinds, &b.kind)?);
                        } else if b.kind != self.block.kinds[0] {
                            return Err(SpaceError::choice(f("kind"), b.kind, &self.block.kinds));
                        }
                        g.push(index_of(&f("kernel"), &self.block.kernels, &b.kernel)?);
                        g.push(index_of(&f("expansion"), &self.block.expansions, &b.expansion)?);
                        g.push(index_of(&f("se"), &self.block.se, &b.se)?);
                    }
                    None => g.extend(std::iter::repeat_n(0, 3 + self.has_kind_gene() as usize)),
                }
            }
        }
        g.push(index_of("head.width", &self.head.widths, &arch.head.width)?);
        Ok(Genome(g))
    }

    /// Whether `arch` is a member of this space.
    pub fn contains(&self, arch: &Architecture) -> bool {
        self.encode(arch).is_ok()
    }

    /// A uniformly random genome (each gene uniform over its choices) from `rng`.
    pub fn sample_genome<R: Rng>(&self, rng: &mut R) -> Genome {
        Genome(self.genes().iter().map(|g| rng.random_range(0..g.choices())).collect())
    }

    /// The architecture sampled with `seed` (ChaCha8; the same seed gives the same architecture).
    pub fn sample(&self, seed: u64) -> Architecture {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        self.decode(&self.sample_genome(&mut rng)).expect("sampled genomes are valid")
    }

    /// The architecture with the largest choice everywhere.
    pub fn largest_architecture(&self) -> Architecture {
        self.extreme_architecture(true)
    }

    /// The architecture with the smallest choice everywhere (squeeze-excite off when allowed).
    pub fn smallest_architecture(&self) -> Architecture {
        self.extreme_architecture(false)
    }

    /// The largest (`largest`) or smallest choice of every gene; the stem's smallest stride is
    /// the largest network.
    fn extreme_architecture(&self, largest: bool) -> Architecture {
        let pick = |v: &[usize]| {
            let it = v.iter().copied();
            if largest { it.max() } else { it.min() }.unwrap_or(1)
        };
        let se = if largest { self.block.se.contains(&true) } else { !self.block.se.contains(&false) };
        let strides = self.stem.stride_choices();
        let min = |v: &[usize]| v.iter().copied().min().unwrap_or(1);
        let max = |v: &[usize]| v.iter().copied().max().unwrap_or(1);
        // MBConv is the costlier kind: its depthwise convolution runs on the expanded width.
        let has = |k| self.block.kinds.contains(&k);
        let kind = match (largest, has(BlockKind::Mbconv), has(BlockKind::Convnext)) {
            (true, true, _) | (false, true, false) => BlockKind::Mbconv,
            _ => BlockKind::Convnext,
        };
        Architecture {
            input: self.input,
            classes: self.classes,
            stem: Stem {
                width: pick(&self.stem.widths),
                kernel: self.stem.kernel,
                stride: if largest { min(&strides) } else { max(&strides) },
            },
            stages: self
                .stages
                .iter()
                .map(|st| Stage {
                    width: pick(&st.widths),
                    stride: st.stride,
                    blocks: vec![
                        Block {
                            kind,
                            kernel: pick(&self.block.kernels),
                            expansion: pick(&self.block.expansions),
                            se
                        };
                        pick(&st.depths)
                    ],
                })
                .collect(),
            head: Head { width: pick(&self.head.widths) },
        }
    }

    /// Number of distinct architectures (`None` if it exceeds `u128`).
    pub fn num_architectures(&self) -> Option<u128> {
        let opts = self.block_options() as u128;
        let mut total = (self.stem.widths.len() * self.stem.stride_choices().len()) as u128;
        for st in &self.stages {
            let mut per_width: u128 = 0;
            for &d in &st.depths {
                per_width = per_width.checked_add(opts.checked_pow(d as u32)?)?;
            }
            total = total.checked_mul(per_width.checked_mul(st.widths.len() as u128)?)?;
        }
        total.checked_mul(self.head.widths.len() as u128)
    }

    /// Every block configuration (latency-table key) any architecture of the space can use.
    pub fn block_keys(&self) -> BTreeSet<BlockKey> {
        let mut keys = BTreeSet::new();
        for stem_stride in self.stem.stride_choices() {
            self.block_keys_at(stem_stride, &mut keys);
        }
        keys
    }

    /// The block keys of the architectures whose stem has stride `stem_stride`.
    fn block_keys_at(&self, stem_stride: usize, keys: &mut BTreeSet<BlockKey>) {
        let (mut h, mut w) = (self.input.height, self.input.width);
        for &cout in &self.stem.widths {
            keys.insert(BlockKey::Stem {
                h,
                w,
                cin: self.input.channels,
                cout,
                kernel: self.stem.kernel,
                stride: stem_stride,
            });
        }
        h = out_size(h, stem_stride);
        w = out_size(w, stem_stride);
        let mut prev: Vec<usize> = self.stem.widths.clone();
        for (i, st) in self.stages.iter().enumerate() {
            let (h2, w2) = (out_size(h, st.stride), out_size(w, st.stride));
            for (&kind, &kernel) in self.block.kinds.iter().flat_map(|k| self.block.kernels.iter().map(move |x| (k, x)))
            {
                for &expansion in &self.block.expansions {
                    for &se in &self.block.se {
                        for &cout in &st.widths {
                            for &cin in &prev {
                                keys.insert(BlockKey::MbConv {
                                    kind,
                                    h,
                                    w,
                                    cin,
                                    cout,
                                    kernel,
                                    expansion,
                                    stride: st.stride,
                                    se,
                                });
                            }
                            if self.max_depth(i) > 1 {
                                keys.insert(BlockKey::MbConv {
                                    kind,
                                    h: h2,
                                    w: w2,
                                    cin: cout,
                                    cout,
                                    kernel,
                                    expansion,
                                    stride: 1,
                                    se,
                                });
                            }
                        }
                    }
                }
            }
            h = h2;
            w = w2;
            prev = st.widths.clone();
        }
        for &cin in &prev {
            for &cout in &self.head.widths {
                keys.insert(BlockKey::Head { h, w, cin, cout, classes: self.classes });
            }
        }
    }
}
