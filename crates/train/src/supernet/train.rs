//! Supernet training: the settings ([`SupernetTrainConfig`]), the sandwich rule (the largest,
//! the smallest and random subnets each step, [`sandwich_ends`]) with optional in-place
//! distillation, and the training loop ([`train_supernet`], [`train_supernet_resumable`]),
//! which keeps its state through [`Resumable`].

use burn::nn::loss::{CrossEntropyLoss, CrossEntropyLossConfig};
use burn::optim::{AdamWConfig, GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use burn::tensor::activation::{log_softmax, softmax};
use edgenas_space::{Architecture, SearchSpace};
use serde::{Deserialize, Serialize};

use super::kept::{PartialIndex, Resumable};
use super::{init_supernet_seeded, Supernet};
use crate::data::{shuffled, Dataset};
use crate::error::{Result, TrainError};
use std::ops::ControlFlow;

use crate::trainer::{batch, TrainConfig, TrainEvent};

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

/// Train the supernet of `space` on `train` with the sandwich rule. Returns the eval-mode
/// supernet and the wall seconds and subnet-images per second of training.
pub fn train_supernet(
    space: &SearchSpace,
    train: &Dataset,
    cfg: &SupernetTrainConfig,
    progress: &mut dyn FnMut(TrainEvent),
) -> Result<(Supernet, f64, f64)> {
    train_supernet_resumable(space, train, cfg, None, &mut |e| {
        progress(e);
        ControlFlow::Continue(())
    })
}

/// The optimizer of supernet training (its state is kept with the weights).
pub(super) fn adamw(cfg: &SupernetTrainConfig) -> ModuleOptimizer {
    AdamWConfig::new().with_weight_decay(cfg.weight_decay as f32).with_epsilon(1e-8).init()
}

/// Refuses data that does not fit the space and settings that train nothing.
fn check(space: &SearchSpace, train: &Dataset, cfg: &SupernetTrainConfig, resume: Option<&Resumable>) -> Result<()> {
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
    Ok(())
}

/// [`train_supernet`], keeping its state in `resume.dir` every `resume.every` steps: a run
/// interrupted and started again with the same space, settings and data continues from the
/// last kept step and ends with the same weights as an uninterrupted one. Progress events
/// start at that step; `Break` from one stops the training there, as a kill would (what was
/// kept stays), with [`TrainError::Stopped`].
pub fn train_supernet_resumable(
    space: &SearchSpace,
    train: &Dataset,
    cfg: &SupernetTrainConfig,
    resume: Option<&Resumable>,
    progress: &mut dyn FnMut(TrainEvent) -> ControlFlow<()>,
) -> Result<(Supernet, f64, f64)> {
    check(space, train, cfg, resume)?;
    let ad = crate::backend::base_device().autodiff();
    let data = resume.map(|_| train.fingerprint()).unwrap_or_default();
    let mut index = PartialIndex::start(space, cfg, data);
    let (mut net, mut optim) = match resume.and_then(|r| r.load(&index, space, &ad)) {
        Some((net, optim, kept)) => {
            index = kept;
            (net, optim)
        }
        None => (init_supernet_seeded(space, cfg.seed, &ad), adamw(cfg)),
    };
    let sandwich = Sandwich {
        space,
        cfg,
        loss_fn: CrossEntropyLossConfig::new().init(&ad),
        ends: [sandwich_ends(space, 0), sandwich_ends(space, 1)],
    };
    let sched = TrainConfig { lr: cfg.lr, warmup_fraction: cfg.warmup_fraction, ..Default::default() };
    let _ = progress(TrainEvent::Start { steps: cfg.steps });
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
            let (loss, acc, images) = sandwich.loss(&net, step, x, y);
            index.images += images;
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
            if progress(TrainEvent::Step { step: step - 1, loss: loss_v, accuracy: acc }).is_break() {
                return Err(TrainError::Stopped { step });
            }
        }
    }
    let secs = seconds_before + started.elapsed().as_secs_f64();
    Ok((net.valid(), secs, index.images as f64 / secs.max(1e-9)))
}

/// What one sandwich step trains, and how it scores the subnets.
struct Sandwich<'a> {
    space: &'a SearchSpace,
    cfg: &'a SupernetTrainConfig,
    loss_fn: CrossEntropyLoss,
    /// The ends of even and odd steps ([`sandwich_ends`]).
    ends: [[Architecture; 2]; 2],
}

impl Sandwich<'_> {
    /// The subnets of step `step`: its two ends, then the random ones (from the seed and the
    /// step alone).
    fn subnets(&self, step: usize) -> Vec<Architecture> {
        let mut subs = self.ends[step % 2].to_vec();
        for r in 0..self.cfg.random_subnets {
            subs.push(self.space.sample(self.cfg.seed.wrapping_mul(1_000_003).wrapping_add((step * 64 + r) as u64)));
        }
        subs
    }

    /// The mean loss of step `step`'s subnets on batch `x`, `y`, the largest subnet's accuracy
    /// and the subnet-images it saw.
    fn loss(&self, net: &Supernet, step: usize, x: Tensor<4>, y: Tensor<1, Int>) -> (Tensor<1>, f32, usize) {
        let n = y.dims()[0];
        let subs = self.subnets(step);
        let mut total: Option<Tensor<1>> = None;
        let mut acc = 0.0;
        // the largest subnet's predictions, detached: the soft targets of the others
        let mut teacher: Option<Tensor<2>> = None;
        for sub in &subs {
            let logits = net.forward(sub, x.clone());
            let loss = match &teacher {
                Some(t) => soft_cross_entropy(logits, t.clone()),
                None => {
                    let pred = logits.clone().argmax(1).reshape([n]);
                    let correct: i64 = pred.equal(y.clone()).int().sum().into_scalar::<i64>();
                    acc = correct as f32 / n as f32;
                    if self.cfg.distill {
                        teacher = Some(softmax(logits.clone().detach(), 1));
                    }
                    self.loss_fn.forward(logits, y.clone())
                }
            };
            total = Some(match total {
                None => loss,
                Some(t) => t + loss,
            });
        }
        (total.expect("at least two subnets") / subs.len() as f64, acc, n * subs.len())
    }
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
