//! A weight-sharing supernet (Once-for-All style) over a whole search space.
//!
//! The supernet holds the largest choice of every layer: the widest stem, stage and head,
//! the deepest stages, the largest kernel and expansion, and squeeze-excite in every block.
//! A subnet (any architecture of the space) inherits its weights:
//! - **kernel**: the centre `k x k` crop of the largest kernel;
//! - **channels**: the leading input and output channels (widths and expansions);
//! - **depth**: the first `d` blocks of a stage;
//! - **squeeze-excite**: used when the block asks for it, with the leading hidden channels.
//!
//! Training uses the sandwich rule: every step sums the losses of the largest subnet, the
//! smallest and `random_subnets` random ones. In a space with several block kinds, the kind of
//! the largest and the smallest subnet alternates from step to step (largest all-MBConv with
//! smallest all-ConvNeXt-like, then the other way round), so that every kind's layers are
//! trained at their largest and smallest shapes alike. Batch-norm always normalizes with the batch's
//! statistics during training; a subnet's statistics are **recalibrated** on a few training
//! batches before evaluation ([`Supernet::extract`]), recorded by layer name (the names of
//! SEMANTICS.md), and the result is a plain set of weights ([`NamedWeights`]) that
//! [`Net::from_named_weights`] and the ONNX exporter take.
//!
//! This module owns the [`Supernet`] type, its construction and its forward pass over a
//! subnet. The rest is split by concern:
//! - `layers`: the super layers, and what each block kind does in the forward pass;
//! - `extract`: subnet weights, batch-norm recalibration, fine-tuning, evaluation;
//! - `train`: training settings and sandwich training;
//! - `kept`: what is written to disk (the saved supernet, the kept partial state of a training).
//!
//! [`NamedWeights`]: edgenas_space::NamedWeights
//! [`Net::from_named_weights`]: crate::model::Net::from_named_weights

mod extract;
mod kept;
mod layers;
mod train;

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;
use edgenas_space::{Architecture, Block, BlockKind, SearchSpace};

pub use extract::evaluate_subnet;
pub use kept::{Resumable, SupernetInfo};
pub use layers::{SuperBlock, SuperCn, SuperConvBn, SuperSe};
pub use train::{sandwich_ends, train_supernet, train_supernet_resumable, SupernetTrainConfig};

use crate::trainer::seeded_init;
use layers::{BlockAt, BnMode};

/// The supernet of a search space.
#[derive(Module, Debug)]
pub struct Supernet {
    stem: SuperConvBn,
    /// Blocks per stage (each stage holds its largest depth).
    stages: Vec<Vec<SuperBlock>>,
    head: SuperConvBn,
    fc: Linear,
}

/// Builds a [`Supernet`] for a search space (the `XConfig::new(..).init(&device)` pattern).
#[derive(Debug, Clone)]
pub struct SupernetConfig {
    /// The space.
    pub space: SearchSpace,
}

impl SupernetConfig {
    /// A config for `space`.
    pub fn new(space: SearchSpace) -> Self {
        SupernetConfig { space }
    }

    /// Initialize the supernet's parameters on `device` (seed the device for determinism).
    pub fn init(&self, device: &Device) -> Supernet {
        let big = self.space.largest_architecture();
        let kmax = big.stages.iter().flat_map(|s| s.blocks.iter().map(|b| b.kernel)).max().unwrap_or(3);
        let emax = big.stages.iter().flat_map(|s| s.blocks.iter().map(|b| b.expansion)).max().unwrap_or(1);
        let convnext = self.space.block.kinds.contains(&BlockKind::Convnext);
        let stem =
            SuperConvBn::new(big.input.channels, big.stem.width, big.stem.kernel, big.stem.stride, false, true, device);
        let mut cin = big.stem.width;
        let mut stages = Vec::new();
        for st in &big.stages {
            let mut blocks = Vec::new();
            for j in 0..st.blocks.len() {
                let stride = if j == 0 { st.stride } else { 1 };
                blocks.push(SuperBlock::new([cin, cin * emax, st.width], kmax, stride, convnext, device));
                cin = st.width;
            }
            stages.push(blocks);
        }
        let head = SuperConvBn::new(cin, big.head.width, 1, 1, false, true, device);
        let fc = LinearConfig::new(big.head.width, big.classes).init(device);
        Supernet { stem, stages, head, fc }
    }
}

impl Supernet {
    /// The blocks of subnet `sub` with where they sit and the super block that serves them
    /// (the first blocks of each stage).
    fn blocks<'a>(&'a self, sub: &'a Architecture) -> impl Iterator<Item = (BlockAt, &'a Block, &'a SuperBlock)> {
        let mut cin = sub.stem.width;
        sub.stages
            .iter()
            .zip(&self.stages)
            .enumerate()
            .flat_map(|(i, (st, blocks))| {
                st.blocks.iter().zip(blocks).enumerate().map(move |(j, (b, sb))| (i, j, st, b, sb))
            })
            .map(move |(i, j, st, b, sb)| {
                let at = BlockAt {
                    name: format!("s{i}.b{j}"),
                    cin,
                    cout: st.width,
                    stride: if j == 0 { st.stride } else { 1 },
                };
                cin = st.width;
                (at, b, sb)
            })
    }

    fn forward_mode(&self, sub: &Architecture, x: Tensor<4>, mode: &mut BnMode) -> Tensor<2> {
        let mut t = self.stem.forward_strided(x, sub.stem.width, sub.stem.kernel, sub.stem.stride, "stem", mode);
        for (at, b, sb) in self.blocks(sub) {
            t = sb.forward(t, b, &at, mode);
        }
        t = self.head.forward(t, sub.head.width, 1, "head.conv", mode);
        let [n, c, _, _] = t.dims();
        let pooled = t.mean_dim(3).mean_dim(2).reshape([n, c]);
        let w = self.fc.weight.val().slice(s![0..c, ..]);
        let y = pooled.matmul(w);
        match &self.fc.bias {
            Some(b) => y + b.val().unsqueeze_dim(0),
            None => y,
        }
    }

    /// Logits of subnet `sub` (training-mode batch-norm: batch statistics).
    pub fn forward(&self, sub: &Architecture, x: Tensor<4>) -> Tensor<2> {
        self.forward_mode(sub, x, &mut BnMode::Batch)
    }

    /// The device the supernet's parameters live on.
    fn device(&self) -> Device {
        self.fc.weight.val().device()
    }
}

/// The supernet of `space` with every parameter drawn from Burn's RNG seeded with `seed`,
/// under the lock that keeps concurrent initializations in one process from interleaving
/// their draws (Burn's CPU backend has one global RNG).
pub fn init_supernet_seeded(space: &SearchSpace, seed: u64, device: &Device) -> Supernet {
    seeded_init(seed, device, |d| SupernetConfig::new(space.clone()).init(d))
}
