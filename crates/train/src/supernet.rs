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
//! batches before evaluation ([`Supernet::extract`]), and the result is a plain set of
//! weights ([`NamedWeights`]) that [`Net::from_named_weights`] and the ONNX exporter take.

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::loss::CrossEntropyLossConfig;
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig};
use burn::optim::{AdamWConfig, GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use burn::tensor::activation::{hard_sigmoid, log_softmax, relu, softmax};
use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;
use edgenas_space::semantics::{has_residual, padding, se_hidden, BN_EPS, HSIGMOID_ALPHA, HSIGMOID_BETA, RELU6_MAX};
use edgenas_space::{
    Architecture, BatchNorm as BnWeights, BlockKind, ConvWeights, LinearWeights, NamedWeights, SearchSpace,
};
use serde::{Deserialize, Serialize};

use crate::data::{shuffled, Dataset};
use crate::error::{Result, TrainError};
use crate::model::Net;
use crate::trainer::{
    batch, device, evaluate, save_module, seeded_init, train_model, Metrics, TrainConfig, TrainEvent,
};

/// How batch-norm layers behave in one forward pass.
enum BnMode {
    /// Normalize with the batch's statistics (training).
    Batch,
    /// Normalize with the batch's statistics and record them, layer by layer.
    Record(Vec<(Vec<f32>, Vec<f32>)>),
}

/// Convolution (largest shape) + batch-norm, sliced per subnet.
#[derive(Module, Debug)]
pub struct SuperConvBn {
    conv: Conv2d,
    bn: BatchNorm,
    kmax: usize,
    stride: usize,
    depthwise: bool,
    act: bool,
}

impl SuperConvBn {
    fn new(cin: usize, cout: usize, k: usize, stride: usize, depthwise: bool, act: bool, device: &Device) -> Self {
        SuperConvBn {
            conv: Conv2dConfig::new([if depthwise { 1 } else { cin }, cout], [k, k]).with_bias(false).init(device),
            bn: BatchNormConfig::new(cout).with_epsilon(BN_EPS as f64).init(device),
            kmax: k,
            stride,
            depthwise,
            act,
        }
    }

    /// The weight of the subnet layer `cin -> cout` with kernel `k` (centre crop).
    fn weight(&self, cin: usize, cout: usize, k: usize) -> Tensor<4> {
        let o = (self.kmax - k) / 2;
        let cin = if self.depthwise { 1 } else { cin };
        self.conv.weight.val().slice(s![0..cout, 0..cin, o..o + k, o..o + k])
    }

    fn forward(&self, x: Tensor<4>, cout: usize, k: usize, mode: &mut BnMode) -> Tensor<4> {
        self.forward_strided(x, cout, k, self.stride, mode)
    }

    /// [`SuperConvBn::forward`] with the subnet's `stride` (the stem's stride is a choice in
    /// some spaces; the weights do not depend on it).
    fn forward_strided(&self, x: Tensor<4>, cout: usize, k: usize, stride: usize, mode: &mut BnMode) -> Tensor<4> {
        let [_, cin, _, _] = x.dims();
        let p = padding(k);
        let groups = if self.depthwise { cin } else { 1 };
        let y = conv2d(x, self.weight(cin, cout, k), None, ConvOptions::new([stride, stride], [p, p], [1, 1], groups));
        let mean = y.clone().mean_dim(0).mean_dim(2).mean_dim(3);
        let centered = y - mean.clone();
        let var = centered.clone().square().mean_dim(0).mean_dim(2).mean_dim(3);
        if let BnMode::Record(stats) = mode {
            let v = |t: Tensor<4>| t.reshape([cout]).into_data().try_to_vec::<f32>().expect("f32 tensor");
            stats.push((v(mean.clone()), v(var.clone())));
        }
        let gamma = self.bn.gamma.val().slice(s![0..cout]).reshape([1, cout, 1, 1]);
        let beta = self.bn.beta.val().slice(s![0..cout]).reshape([1, cout, 1, 1]);
        let y = centered / (var + BN_EPS as f64).sqrt() * gamma + beta;
        if self.act {
            y.clamp(0.0, RELU6_MAX)
        } else {
            y
        }
    }

    fn weights(&self, cin: usize, cout: usize, k: usize, stats: (Vec<f32>, Vec<f32>)) -> ConvWeights {
        let v1 = |t: Tensor<1>| t.slice(s![0..cout]).into_data().try_to_vec::<f32>().expect("f32 tensor");
        ConvWeights {
            weight: self.weight(cin, cout, k).into_data().try_to_vec::<f32>().expect("f32 tensor"),
            bias: None,
            bn: Some(BnWeights {
                gamma: v1(self.bn.gamma.val()),
                beta: v1(self.bn.beta.val()),
                mean: stats.0,
                var: stats.1,
            }),
        }
    }
}

/// Squeeze-excite of the largest block, sliced per subnet.
#[derive(Module, Debug)]
pub struct SuperSe {
    reduce: Conv2d,
    expand: Conv2d,
}

impl SuperSe {
    fn parts(&self, c: usize) -> (Tensor<4>, Tensor<1>, Tensor<4>, Tensor<1>) {
        let h = se_hidden(c);
        let b = |conv: &Conv2d, n: usize| conv.bias.as_ref().expect("SE convs have a bias").val().slice(s![0..n]);
        (
            self.reduce.weight.val().slice(s![0..h, 0..c, .., ..]),
            b(&self.reduce, h),
            self.expand.weight.val().slice(s![0..c, 0..h, .., ..]),
            b(&self.expand, c),
        )
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let [_, c, _, _] = x.dims();
        let (rw, rb, ew, eb) = self.parts(c);
        let pooled = x.clone().mean_dim(3).mean_dim(2);
        let opts = || ConvOptions::new([1, 1], [0, 0], [1, 1], 1);
        let hidden = relu(conv2d(pooled, rw, Some(rb), opts()));
        let gate = hard_sigmoid(conv2d(hidden, ew, Some(eb), opts()), HSIGMOID_ALPHA as f64, HSIGMOID_BETA as f64);
        x.mul(gate)
    }

    fn weights(&self, c: usize) -> (ConvWeights, ConvWeights) {
        let (rw, rb, ew, eb) = self.parts(c);
        let v4 = |t: Tensor<4>| t.into_data().try_to_vec::<f32>().expect("f32 tensor");
        let v1 = |t: Tensor<1>| t.into_data().try_to_vec::<f32>().expect("f32 tensor");
        (
            ConvWeights { weight: v4(rw), bias: Some(v1(rb)), bn: None },
            ConvWeights { weight: v4(ew), bias: Some(v1(eb)), bn: None },
        )
    }
}

/// One block of the largest shape: the MBConv layers, and the ConvNeXt-like ones when the
/// space offers that kind (the two kinds share no weights).
#[derive(Module, Debug)]
pub struct SuperBlock {
    expand: SuperConvBn,
    dw: SuperConvBn,
    se: SuperSe,
    project: SuperConvBn,
    cn: Option<SuperCn>,
}

/// The ConvNeXt-like layers of one block of the largest shape.
#[derive(Module, Debug)]
pub struct SuperCn {
    dw: SuperConvBn,
    expand: SuperConvBn,
    se: SuperSe,
    project: SuperConvBn,
}

impl SuperBlock {
    /// The layers a block of `kind` uses: expand, depthwise, squeeze-excite, project.
    fn layers(&self, kind: BlockKind) -> (&SuperConvBn, &SuperConvBn, &SuperSe, &SuperConvBn) {
        match kind {
            BlockKind::Mbconv => (&self.expand, &self.dw, &self.se, &self.project),
            BlockKind::Convnext => {
                let cn = self.cn.as_ref().expect("the supernet of a space with convnext blocks has their layers");
                (&cn.expand, &cn.dw, &cn.se, &cn.project)
            }
        }
    }
}

fn super_se(c: usize, device: &Device) -> SuperSe {
    let h = se_hidden(c);
    SuperSe {
        reduce: Conv2dConfig::new([c, h], [1, 1]).init(device),
        expand: Conv2dConfig::new([h, c], [1, 1]).init(device),
    }
}

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
        let stem =
            SuperConvBn::new(big.input.channels, big.stem.width, big.stem.kernel, big.stem.stride, false, true, device);
        let mut cin = big.stem.width;
        let mut stages = Vec::new();
        for st in &big.stages {
            let mut blocks = Vec::new();
            for j in 0..st.blocks.len() {
                let stride = if j == 0 { st.stride } else { 1 };
                let cexp = cin * emax;
                blocks.push(SuperBlock {
                    expand: SuperConvBn::new(cin, cexp, 1, 1, false, true, device),
                    dw: SuperConvBn::new(cexp, cexp, kmax, stride, true, true, device),
                    se: super_se(cexp, device),
                    project: SuperConvBn::new(cexp, st.width, 1, 1, false, false, device),
                    cn: self.space.block.kinds.contains(&BlockKind::Convnext).then(|| SuperCn {
                        dw: SuperConvBn::new(cin, cin, kmax, stride, true, false, device),
                        expand: SuperConvBn::new(cin, cexp, 1, 1, false, true, device),
                        se: super_se(cexp, device),
                        project: SuperConvBn::new(cexp, st.width, 1, 1, false, false, device),
                    }),
                });
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
    fn forward_mode(&self, sub: &Architecture, x: Tensor<4>, mode: &mut BnMode) -> Tensor<2> {
        let mut t = self.stem.forward_strided(x, sub.stem.width, sub.stem.kernel, sub.stem.stride, mode);
        let mut cin = sub.stem.width;
        for (st, blocks) in sub.stages.iter().zip(&self.stages) {
            for (j, (b, sb)) in st.blocks.iter().zip(blocks).enumerate() {
                let stride = if j == 0 { st.stride } else { 1 };
                let cexp = cin * b.expansion;
                let input = t.clone();
                let (expand, dw, se, project) = sb.layers(b.kind);
                let expand = |u: Tensor<4>, mode: &mut BnMode| {
                    if b.expansion > 1 {
                        expand.forward(u, cexp, 1, mode)
                    } else {
                        u
                    }
                };
                let u = match b.kind {
                    BlockKind::Mbconv => {
                        let u = expand(t, mode);
                        dw.forward(u, cexp, b.kernel, mode)
                    }
                    BlockKind::Convnext => {
                        let u = dw.forward(t, cin, b.kernel, mode);
                        expand(u, mode)
                    }
                };
                let u = if b.se { se.forward(u) } else { u };
                let u = project.forward(u, st.width, 1, mode);
                t = if has_residual(cin, st.width, stride) { u + input } else { u };
                cin = st.width;
            }
        }
        t = self.head.forward(t, sub.head.width, 1, mode);
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

    /// Subnet `sub` fine-tuned from its inherited weights, as edgenas finishes a model: the
    /// weights from [`Supernet::extract`] (batch norm recalibrated on `calib_batches` x 64 images
    /// of `calib`), then `steps` steps of batch 64 on `train` (AdamW, lr 1e-3, no warm-up) and
    /// the metrics on `valid`. With `steps` 0 the inherited weights come back untrained, on the
    /// inference device, without metrics.
    #[allow(clippy::too_many_arguments)]
    pub fn fine_tune(
        &self,
        sub: &Architecture,
        calib: &Dataset,
        calib_batches: usize,
        train: &Dataset,
        valid: &Dataset,
        steps: usize,
        seed: u64,
    ) -> Result<(Net, Option<Metrics>)> {
        let w = self.extract(sub, calib, 64, calib_batches, seed);
        if steps == 0 {
            return Ok((Net::from_named_weights(sub, &w, &device(seed)), None));
        }
        let model = Net::from_named_weights(sub, &w, &device(seed).autodiff());
        let cfg = TrainConfig { steps: Some(steps), lr: 1e-3, warmup_fraction: 0.0, seed, ..TrainConfig::default() };
        let (net, metrics) = train_model(model, train, valid, &cfg, &mut |_| {})?;
        Ok((net, Some(metrics)))
    }

    /// The weights of subnet `sub`, with batch-norm statistics recalibrated on `batches`
    /// batches of `batch_size` images of `calib` (averaged over the batches, as OFA does).
    /// Call on an eval-mode (`valid()`) supernet.
    pub fn extract(
        &self,
        sub: &Architecture,
        calib: &Dataset,
        batch_size: usize,
        batches: usize,
        seed: u64,
    ) -> NamedWeights {
        let device = self.fc.weight.val().device();
        let order = shuffled(calib.len(), seed);
        let mut sums: Vec<(Vec<f32>, Vec<f32>)> = Vec::new();
        let mut count = 0usize;
        for chunk in order.chunks(batch_size.max(1)).take(batches.max(1)) {
            let (x, _) = batch(calib, chunk, &device);
            let mut mode = BnMode::Record(Vec::new());
            let _ = self.forward_mode(sub, x, &mut mode);
            let BnMode::Record(stats) = mode else { unreachable!() };
            if sums.is_empty() {
                sums = stats;
            } else {
                for ((sm, sv), (m, v)) in sums.iter_mut().zip(stats) {
                    sm.iter_mut().zip(m).for_each(|(a, b)| *a += b);
                    sv.iter_mut().zip(v).for_each(|(a, b)| *a += b);
                }
            }
            count += 1;
        }
        let scale = 1.0 / count.max(1) as f32;
        let mut stats = sums.into_iter().map(|(m, v)| {
            (m.into_iter().map(|x| x * scale).collect::<Vec<_>>(), v.into_iter().map(|x| x * scale).collect::<Vec<_>>())
        });
        let mut next = || stats.next().expect("one recorded statistic per batch-norm layer");
        let mut w = NamedWeights::default();
        w.convs.insert("stem".into(), self.stem.weights(sub.input.channels, sub.stem.width, sub.stem.kernel, next()));
        let mut cin = sub.stem.width;
        for (i, (st, blocks)) in sub.stages.iter().zip(&self.stages).enumerate() {
            for (j, (b, sb)) in st.blocks.iter().zip(blocks).enumerate() {
                let n = format!("s{i}.b{j}");
                let cexp = cin * b.expansion;
                let (expand, dw, se, project) = sb.layers(b.kind);
                // the statistics come in forward order (`forward_mode`): MBConv expands first
                let dw_first = b.kind == BlockKind::Convnext;
                let dw_width = if dw_first { cin } else { cexp };
                let expand_stats = (!dw_first && b.expansion > 1).then(&mut next);
                w.convs.insert(format!("{n}.dw"), dw.weights(dw_width, dw_width, b.kernel, next()));
                if let Some(stats) = expand_stats.or_else(|| (dw_first && b.expansion > 1).then(&mut next)) {
                    w.convs.insert(format!("{n}.expand"), expand.weights(cin, cexp, 1, stats));
                }
                if b.se {
                    let (r, e) = se.weights(cexp);
                    w.convs.insert(format!("{n}.se.reduce"), r);
                    w.convs.insert(format!("{n}.se.expand"), e);
                }
                w.convs.insert(format!("{n}.project"), project.weights(cexp, st.width, 1, next()));
                cin = st.width;
            }
        }
        w.convs.insert("head.conv".into(), self.head.weights(cin, sub.head.width, 1, next()));
        let hw = sub.head.width;
        let classes = sub.classes;
        let wt = self.fc.weight.val().slice(s![0..hw, ..]).into_data().try_to_vec::<f32>().expect("f32 tensor");
        let mut weight = vec![0f32; hw * classes];
        for i in 0..hw {
            for o in 0..classes {
                weight[o * hw + i] = wt[i * classes + o];
            }
        }
        let bias = match &self.fc.bias {
            Some(b) => b.val().into_data().try_to_vec::<f32>().expect("f32 tensor"),
            None => vec![0.0; classes],
        };
        w.linears.insert("head.fc".into(), LinearWeights { weight, bias });
        w
    }

    /// Save the supernet to `dir`: `supernet.json` (space + training settings) and
    /// `supernet.bpk` (weights).
    pub fn save(&self, dir: &Path, info: &SupernetInfo) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(|source| TrainError::Io { path: dir.to_path_buf(), source })?;
        save_module(&dir.join("supernet.bpk"), self)?;
        let text = serde_json::to_string_pretty(info).expect("supernet info serializes");
        edgenas_space::io::write_atomic(&dir.join("supernet.json"), text.as_bytes())?;
        Ok(())
    }

    /// Load a supernet saved by [`Supernet::save`] onto `device`.
    pub fn load(dir: &Path, device: &Device) -> Result<(Supernet, SupernetInfo)> {
        let p = dir.join("supernet.json");
        let text = std::fs::read_to_string(&p).map_err(|source| TrainError::Io { path: p.clone(), source })?;
        let info: SupernetInfo = serde_json::from_str(&text).map_err(|e| TrainError::data(&p, e.to_string()))?;
        info.space.check().map_err(|e| TrainError::data(&p, e.to_string()))?;
        let net = SupernetConfig::new(info.space.clone())
            .init(device)
            .try_load_file(dir.join("supernet.bpk"))
            .map_err(|e| TrainError::Checkpoint(dir.join("supernet.bpk"), e.to_string()))?;
        Ok((net, info))
    }
}

/// Settings of supernet training.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SupernetTrainConfig {
    /// Optimizer steps (each one trains the largest, the smallest and the random subnets).
    pub steps: usize,
    /// Batch size.
    pub batch_size: usize,
    /// Peak learning rate (AdamW, cosine schedule with linear warm-up).
    pub lr: f64,
    /// Weight decay.
    pub weight_decay: f64,
    /// Share of the steps with a linear warm-up.
    pub warmup_fraction: f64,
    /// Random subnets per step, besides the largest and the smallest.
    pub random_subnets: usize,
    /// Seed of initialization, shuffling and subnet sampling.
    pub seed: u64,
    /// In-place distillation (BigNAS / Once-for-All): the largest subnet learns from the labels,
    /// every other subnet of the step from the largest one's softened predictions.
    #[serde(default)]
    pub distill: bool,
}

impl Default for SupernetTrainConfig {
    fn default() -> Self {
        SupernetTrainConfig {
            steps: 300,
            batch_size: 64,
            lr: 3e-3,
            weight_decay: 1e-4,
            warmup_fraction: 0.05,
            random_subnets: 2,
            seed: 0,
            distill: false,
        }
    }
}

/// What a saved supernet folder holds besides the weights.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SupernetInfo {
    /// The search space it covers.
    pub space: SearchSpace,
    /// How it was trained.
    pub config: SupernetTrainConfig,
    /// Dataset folder it was trained on.
    pub data: std::path::PathBuf,
    /// Seed of the train/validation split whose training part it saw (older files: the
    /// training seed).
    #[serde(default)]
    pub split_seed: Option<u64>,
    /// Wall seconds of training.
    pub train_seconds: f64,
    /// Subnet images per second during training (all sandwich subnets counted).
    pub images_per_s: f64,
}

/// The supernet of `space` with every parameter drawn from Burn's RNG seeded with `seed`,
/// under the lock that keeps concurrent initializations in one process from interleaving
/// their draws (Burn's CPU backend has one global RNG).
pub fn init_supernet_seeded(space: &SearchSpace, seed: u64, device: &Device) -> Supernet {
    seeded_init(seed, device, |d| SupernetConfig::new(space.clone()).init(d))
}

/// Train the supernet of `space` on `train` with the sandwich rule. Returns the eval-mode
/// supernet and the wall seconds and subnet-images per second of training.
pub fn train_supernet(
    space: &SearchSpace,
    train: &Dataset,
    cfg: &SupernetTrainConfig,
    progress: &mut dyn FnMut(TrainEvent),
) -> Result<(Supernet, f64, f64)> {
    train_supernet_resumable(space, train, cfg, None, progress)
}

/// Where [`train_supernet_resumable`] keeps its progress, and how often.
#[derive(Debug, Clone)]
pub struct Resumable {
    /// Folder of the partial state: `partial.json` (what is trained, how far) and the weights
    /// and optimizer state of that step.
    pub dir: PathBuf,
    /// Steps between two saves.
    pub every: usize,
}

/// The index of a partial supernet training, written after the files it names.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct PartialIndex {
    space: SearchSpace,
    config: SupernetTrainConfig,
    /// Fingerprint of the training images and labels.
    data: String,
    step: usize,
    images: usize,
    seconds: f64,
}

impl PartialIndex {
    fn same_training(&self, other: &PartialIndex) -> bool {
        (&self.space, &self.config, &self.data) == (&other.space, &other.config, &other.data)
    }
}

/// A fingerprint of a dataset's images and labels (FNV-1a over the pixels' bits and the labels).
fn fingerprint(data: &Dataset) -> String {
    let mut h: u64 = 0xcbf29ce484222325;
    let words = data.images.iter().map(|v| v.to_bits() as u64).chain(data.labels.iter().map(|&l| l as u64));
    for w in words {
        h ^= w;
        h = h.wrapping_mul(0x100000001b3);
    }
    format!("{h:016x}-{}", data.len())
}

impl Resumable {
    const INDEX: &'static str = "partial.json";

    fn files(&self, step: usize) -> (PathBuf, PathBuf) {
        (self.dir.join(format!("partial-{step}.bpk")), self.dir.join(format!("partial-{step}.optim.bpk")))
    }

    /// The state kept for the training `want` describes, when there is one and it reads back.
    fn load(
        &self,
        want: &PartialIndex,
        space: &SearchSpace,
        ad: &Device,
    ) -> Option<(Supernet, ModuleOptimizer, PartialIndex)> {
        let text = std::fs::read_to_string(self.dir.join(Self::INDEX)).ok()?;
        let kept: PartialIndex = serde_json::from_str(&text).ok()?;
        if !kept.same_training(want) || kept.step >= want.config.steps {
            return None;
        }
        let (weights, optim) = self.files(kept.step);
        // loading restores the parameters' ids, by which the optimizer keys its state
        let net = init_supernet_seeded(space, want.config.seed, ad).try_load_file(&weights).ok()?;
        let optimizer = adamw(&want.config).load(&optim).ok()?;
        Some((net, optimizer, kept))
    }

    /// Keep the state after `index.step` steps, then drop the previous step's files.
    fn save(
        &self,
        net: &Supernet,
        optim: &ModuleOptimizer,
        index: &PartialIndex,
        previous: Option<usize>,
    ) -> Result<()> {
        std::fs::create_dir_all(&self.dir).map_err(|source| TrainError::Io { path: self.dir.clone(), source })?;
        let (weights, optim_path) = self.files(index.step);
        save_module(&weights, net)?;
        let tmp = self.dir.join(".partial.optim.bpk.tmp");
        optim.save(&tmp).map_err(|e| TrainError::Checkpoint(optim_path.clone(), e.to_string()))?;
        std::fs::rename(&tmp, &optim_path).map_err(|source| TrainError::Io { path: optim_path.clone(), source })?;
        let text = serde_json::to_string_pretty(index).expect("partial index serializes");
        edgenas_space::io::write_atomic(&self.dir.join(Self::INDEX), text.as_bytes())?;
        if let Some(prev) = previous.filter(|&p| p != index.step) {
            let (a, b) = self.files(prev);
            let _ = (std::fs::remove_file(a), std::fs::remove_file(b));
        }
        Ok(())
    }

    /// Remove the partial state (once the finished supernet is saved).
    pub fn clear(&self) -> Result<()> {
        match std::fs::remove_dir_all(&self.dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(TrainError::Io { path: self.dir.clone(), source: e })
            }
            _ => Ok(()),
        }
    }
}

fn adamw(cfg: &SupernetTrainConfig) -> ModuleOptimizer {
    AdamWConfig::new().with_weight_decay(cfg.weight_decay as f32).with_epsilon(1e-8).init()
}

/// [`train_supernet`], keeping its state in `resume.dir` every `resume.every` steps: a run
/// interrupted and started again with the same space, settings and data continues from the
/// last kept step and ends with the same weights as an uninterrupted one. Progress events
/// start at that step.
pub fn train_supernet_resumable(
    space: &SearchSpace,
    train: &Dataset,
    cfg: &SupernetTrainConfig,
    resume: Option<&Resumable>,
    progress: &mut dyn FnMut(TrainEvent),
) -> Result<(Supernet, f64, f64)> {
    let [c, h, w] = train.shape;
    if [space.input.channels, space.input.height, space.input.width] != [c, h, w] || space.classes != train.classes {
        return Err(TrainError::Config(format!(
            "the space takes {}x{}x{} images and {} classes; the data has {c}x{h}x{w} and {}",
            space.input.channels, space.input.height, space.input.width, space.classes, train.classes
        )));
    }
    if train.is_empty() {
        return Err(TrainError::Config("the training split is empty".into()));
    }
    if cfg.steps == 0 || cfg.batch_size == 0 {
        return Err(TrainError::Config("steps and batch_size: 0 is not allowed; allowed: 1 or more".into()));
    }
    if resume.is_some_and(|r| r.every == 0) {
        return Err(TrainError::Config("checkpoint every 0 steps is not allowed; allowed: 1 or more".into()));
    }
    let ad = crate::backend::base_device().autodiff();
    let mut index = PartialIndex {
        space: space.clone(),
        config: cfg.clone(),
        data: match resume {
            Some(_) => fingerprint(train),
            None => String::new(),
        },
        step: 0,
        images: 0,
        seconds: 0.0,
    };
    let (mut net, mut optim) = match resume.and_then(|r| r.load(&index, space, &ad)) {
        Some((net, optim, kept)) => {
            index = kept;
            (net, optim)
        }
        None => (init_supernet_seeded(space, cfg.seed, &ad), adamw(cfg)),
    };
    let loss_fn = CrossEntropyLossConfig::new().init(&ad);
    let ends = [sandwich_ends(space, 0), sandwich_ends(space, 1)];
    let sched = crate::trainer::TrainConfig { lr: cfg.lr, warmup_fraction: cfg.warmup_fraction, ..Default::default() };
    progress(TrainEvent::Start { steps: cfg.steps });
    let started = std::time::Instant::now();
    let seconds_before = index.seconds;
    let batches_per_epoch = train.len().div_ceil(cfg.batch_size);
    let mut step = index.step;
    let mut kept_step = (step > 0).then_some(step);
    while step < cfg.steps {
        // each epoch's order comes from the seed and the epoch alone, so a resumed run picks
        // up the batch it stopped at
        let epoch = (step / batches_per_epoch) as u64;
        let order = shuffled(train.len(), cfg.seed.wrapping_add(1 + epoch));
        for chunk in order.chunks(cfg.batch_size).skip(step % batches_per_epoch) {
            if step >= cfg.steps {
                break;
            }
            let (x, y) = batch(train, chunk, &ad);
            let mut subs = ends[step % 2].to_vec();
            for r in 0..cfg.random_subnets {
                subs.push(space.sample(cfg.seed.wrapping_mul(1_000_003).wrapping_add((step * 64 + r) as u64)));
            }
            let mut total: Option<Tensor<1>> = None;
            let mut acc = 0.0;
            // the largest subnet's predictions, detached: the soft targets of the others
            let mut teacher: Option<Tensor<2>> = None;
            for sub in &subs {
                let logits = net.forward(sub, x.clone());
                let loss = match &teacher {
                    Some(t) => soft_cross_entropy(logits, t.clone()),
                    None => {
                        let pred = logits.clone().argmax(1).reshape([chunk.len()]);
                        let correct: i64 = pred.equal(y.clone()).int().sum().into_scalar::<i64>();
                        acc = correct as f32 / chunk.len() as f32;
                        if cfg.distill {
                            teacher = Some(softmax(logits.clone().detach(), 1));
                        }
                        loss_fn.forward(logits, y.clone())
                    }
                };
                total = Some(match total {
                    None => loss,
                    Some(t) => t + loss,
                });
                index.images += chunk.len();
            }
            let loss = total.expect("at least two subnets") / subs.len() as f64;
            let loss_v: f32 = loss.clone().into_scalar::<f32>();
            if !loss_v.is_finite() {
                return Err(TrainError::Diverged { step, loss: loss_v });
            }
            let grads = GradientsParams::from_grads(loss.backward(), &net);
            net = optim.step(sched.lr_at(step, cfg.steps), net, grads);
            step += 1;
            if let Some(r) = resume.filter(|r| step % r.every == 0 && step < cfg.steps) {
                index.step = step;
                index.seconds = seconds_before + started.elapsed().as_secs_f64();
                r.save(&net, &optim, &index, kept_step)?;
                kept_step = Some(step);
            }
            progress(TrainEvent::Step { step: step - 1, loss: loss_v, accuracy: acc });
        }
    }
    let secs = seconds_before + started.elapsed().as_secs_f64();
    Ok((net.valid(), secs, index.images as f64 / secs.max(1e-9)))
}

/// The largest and the smallest subnet that sandwich step `step` trains. In a space with two
/// block kinds they alternate: even steps the largest is all-MBConv and the smallest
/// all-ConvNeXt-like (the space's own extremes), odd steps every block takes the other kind.
pub fn sandwich_ends(space: &SearchSpace, step: usize) -> [Architecture; 2] {
    let mut ends = [space.largest_architecture(), space.smallest_architecture()];
    if step % 2 == 1 {
        for b in ends.iter_mut().flat_map(|a| a.stages.iter_mut()).flat_map(|s| s.blocks.iter_mut()) {
            b.kind = *space.block.kinds.iter().find(|k| **k != b.kind).unwrap_or(&b.kind);
        }
    }
    ends
}

/// Cross-entropy of `logits` against the probability rows `target` (mean over the batch).
fn soft_cross_entropy(logits: Tensor<2>, target: Tensor<2>) -> Tensor<1> {
    let n = logits.dims()[0] as f64;
    (log_softmax(logits, 1) * target).sum().neg() / n
}

/// Accuracy of subnet `sub` on `valid`, after recalibrating its batch-norm statistics on
/// `calib_batches` batches of 64 images of `calib`. Returns the accuracy and the weights.
pub fn evaluate_subnet(
    supernet: &Supernet,
    sub: &Architecture,
    calib: &Dataset,
    calib_batches: usize,
    valid: &Dataset,
    seed: u64,
) -> (f64, NamedWeights) {
    let device = supernet.fc.weight.val().device();
    let w = supernet.extract(sub, calib, 64, calib_batches, seed);
    let net = Net::from_named_weights(sub, &w, &device);
    (evaluate(&net, valid, &device), w)
}
