//! Training: SGD with momentum or AdamW, cosine learning rate with linear warm-up, label
//! smoothing, weight decay, a budget in epochs or steps, deterministic for a seed;
//! evaluation; checkpoints that hold the architecture and the training config.

use std::path::{Path, PathBuf};

use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{AdamWConfig, GradientsParams, SgdConfig};
use burn::prelude::*;
use edgenas_space::Architecture;
use serde::{Deserialize, Serialize};

use crate::data::{shuffled, Dataset, Normalization};
use crate::error::{Result, TrainError};
use crate::model::{Net, NetConfig};

/// Optimizer choice.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Optimizer {
    /// SGD with momentum 0.9 (Nesterov).
    Sgd,
    /// AdamW.
    Adamw,
}

/// Everything that determines a training run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// Epochs over the training split (ignored when `steps` is set).
    pub epochs: usize,
    /// Optimizer steps instead of epochs.
    pub steps: Option<usize>,
    /// Batch size.
    pub batch_size: usize,
    /// Peak learning rate.
    pub lr: f64,
    /// Optimizer.
    pub optimizer: Optimizer,
    /// Weight decay.
    pub weight_decay: f64,
    /// Label smoothing in [0, 1).
    pub label_smoothing: f64,
    /// Share of the steps with a linear warm-up.
    pub warmup_fraction: f64,
    /// Share of the training set carved out for validation.
    pub valid_fraction: f64,
    /// Seed of initialization, shuffling and the validation split.
    pub seed: u64,
    /// Data augmentation: each training image translated by a random offset of up to `shift`
    /// pixels in x and in y (edge pixels repeated); 0 turns it off.
    #[serde(default)]
    pub shift: usize,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            epochs: 5,
            steps: None,
            batch_size: 64,
            lr: 3e-3,
            optimizer: Optimizer::Adamw,
            weight_decay: 1e-4,
            label_smoothing: 0.0,
            warmup_fraction: 0.05,
            valid_fraction: 0.1,
            seed: 0,
            shift: 0,
        }
    }
}

impl TrainConfig {
    /// Check the settings; the message names the field and what is allowed.
    pub fn check(&self) -> Result<()> {
        let bad = |f: &str, m: String| Err(TrainError::Config(format!("{f}: {m}")));
        if self.batch_size == 0 || self.batch_size > 4096 {
            return bad("batch_size", format!("{} is not allowed; allowed: 1..=4096", self.batch_size));
        }
        if !(self.lr > 0.0 && self.lr < 10.0) {
            return bad("lr", format!("{} is not allowed; allowed: (0, 10)", self.lr));
        }
        if !(0.0..1.0).contains(&self.label_smoothing) {
            return bad("label_smoothing", format!("{} is not allowed; allowed: [0, 1)", self.label_smoothing));
        }
        if !(0.0..=0.5).contains(&self.valid_fraction) {
            return bad("valid_fraction", format!("{} is not allowed; allowed: [0, 0.5]", self.valid_fraction));
        }
        if !(0.0..1.0).contains(&self.warmup_fraction) {
            return bad("warmup_fraction", format!("{} is not allowed; allowed: [0, 1)", self.warmup_fraction));
        }
        if self.steps == Some(0) {
            return bad("steps", "0 is not allowed; allowed: 1 or more".into());
        }
        if self.steps.is_none() && self.epochs == 0 {
            return bad("epochs", "0 is not allowed with no step budget; allowed: 1 or more".into());
        }
        if self.shift > 8 {
            return bad("shift", format!("{} is not allowed; allowed: 0..=8 pixels", self.shift));
        }
        if !(0.0..1.0).contains(&self.weight_decay) {
            return bad("weight_decay", format!("{} is not allowed; allowed: [0, 1)", self.weight_decay));
        }
        Ok(())
    }

    /// Total optimizer steps for a training set of `n` images.
    pub fn total_steps(&self, n: usize) -> usize {
        self.steps.unwrap_or_else(|| self.epochs * n.div_ceil(self.batch_size)).max(1)
    }

    /// Learning rate at `step` of `total`: linear warm-up, then cosine decay to 0.
    pub fn lr_at(&self, step: usize, total: usize) -> f64 {
        let warm = ((total as f64) * self.warmup_fraction).round() as usize;
        if step < warm {
            return self.lr * (step + 1) as f64 / warm as f64;
        }
        let t = (step - warm) as f64 / (total - warm).max(1) as f64;
        0.5 * self.lr * (1.0 + (std::f64::consts::PI * t).cos())
    }
}

/// Progress of training.
#[derive(Debug, Clone)]
pub enum TrainEvent {
    /// Training starts with this many steps.
    Start {
        /// Total steps.
        steps: usize,
    },
    /// One step done.
    Step {
        /// Step index.
        step: usize,
        /// Loss of the batch.
        loss: f32,
        /// Accuracy of the batch.
        accuracy: f32,
    },
    /// An epoch ended with this validation accuracy.
    Epoch {
        /// Epoch index.
        epoch: usize,
        /// Validation top-1 accuracy.
        valid_accuracy: f64,
    },
}

/// Results of a training run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// Validation top-1 accuracy.
    pub valid_accuracy: f64,
    /// Test top-1 accuracy.
    pub test_accuracy: Option<f64>,
    /// Steps taken.
    pub steps: usize,
    /// Images seen.
    pub images: usize,
    /// Wall seconds of training (evaluation excluded).
    pub train_seconds: f64,
    /// Training throughput, images per second.
    pub train_images_per_s: f64,
    /// Final training loss (mean of the last 20 steps).
    pub final_loss: f64,
}

/// The device used for training (Burn flex unless `EDGENAS_BACKEND` picks another), seeded.
pub fn device(seed: u64) -> Device {
    let d = crate::backend::base_device();
    // the RNG is global: never reseed it while another thread initializes a network
    let _guard = INIT_LOCK.lock().unwrap_or_else(|p| p.into_inner());
    d.seed(seed);
    d
}

/// Burn's CPU backend keeps one global RNG: seeding it and drawing every initial parameter
/// happen under this lock, so concurrent trainings in one process cannot interleave draws.
pub(crate) static INIT_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

pub(crate) struct Materialize;

impl burn::module::ModuleVisitor for Materialize {
    fn visit_float<const D: usize>(&mut self, param: &burn::module::Param<Tensor<D>>) {
        // parameters are initialized lazily; touching each one draws its values now
        let _ = param.val();
    }
}

/// A network for `arch` with every parameter drawn from Burn's RNG seeded with `seed`.
pub fn init_seeded(arch: &Architecture, seed: u64, device: &Device) -> Net {
    seeded_init(seed, device, |d| NetConfig::new(arch.clone()).init(d))
}

/// Build a module with `init` while holding the RNG lock, seeding `device` with `seed` first
/// and drawing every (lazily initialized) parameter before the lock is released.
pub(crate) fn seeded_init<M: Module>(seed: u64, device: &Device, init: impl FnOnce(&Device) -> M) -> M {
    let _guard = INIT_LOCK.lock().unwrap_or_else(|p| p.into_inner());
    device.seed(seed);
    let model = init(device);
    model.visit(&mut Materialize);
    model
}

/// A batch of images and labels as tensors on `device`.
pub fn batch(data: &Dataset, idx: &[usize], device: &Device) -> (Tensor<4>, Tensor<1, Int>) {
    let mut xs = Vec::with_capacity(idx.len() * data.image_len());
    for &i in idx {
        xs.extend_from_slice(data.image(i));
    }
    tensors(xs, data, idx, device)
}

/// Pixels `xs` of the images `idx` of `data` and their labels as tensors on `device`.
fn tensors(xs: Vec<f32>, data: &Dataset, idx: &[usize], device: &Device) -> (Tensor<4>, Tensor<1, Int>) {
    let [c, h, w] = data.shape;
    let ys: Vec<i64> = idx.iter().map(|&i| data.labels[i] as i64).collect();
    (
        Tensor::from_data(TensorData::new(xs, [idx.len(), c, h, w]), device),
        Tensor::from_data(TensorData::new(ys, [idx.len()]), device),
    )
}

/// A training batch whose images are each translated by a random offset of up to `shift`
/// pixels in x and y drawn from `rng` (pixels moved in from outside repeat the edge).
pub fn batch_shifted(
    data: &Dataset,
    idx: &[usize],
    shift: usize,
    rng: &mut rand_chacha::ChaCha8Rng,
    device: &Device,
) -> (Tensor<4>, Tensor<1, Int>) {
    use rand::Rng;
    let [c, h, w] = data.shape;
    let s = shift as i64;
    let mut xs = Vec::with_capacity(idx.len() * data.image_len());
    for &i in idx {
        let (dy, dx) = (rng.random_range(-s..=s), rng.random_range(-s..=s));
        xs.extend(shift_image(data.image(i), [c, h, w], dy, dx));
    }
    tensors(xs, data, idx, device)
}

/// `img` (CHW) moved down by `dy` and right by `dx` pixels; pixels from outside repeat the edge.
pub fn shift_image(img: &[f32], [c, h, w]: [usize; 3], dy: i64, dx: i64) -> Vec<f32> {
    let mut out = Vec::with_capacity(img.len());
    for ch in 0..c {
        for y in 0..h as i64 {
            let sy = (y - dy).clamp(0, h as i64 - 1) as usize;
            for x in 0..w as i64 {
                let sx = (x - dx).clamp(0, w as i64 - 1) as usize;
                out.push(img[(ch * h + sy) * w + sx]);
            }
        }
    }
    out
}

/// Logits of a whole dataset, eval mode, in batches of 256; row-major `[n, classes]`.
pub fn predict(model: &Net, data: &Dataset, device: &Device) -> Vec<f32> {
    let mut out = Vec::with_capacity(data.len() * data.classes);
    let idx: Vec<usize> = (0..data.len()).collect();
    for chunk in idx.chunks(256) {
        let (x, _) = batch(data, chunk, device);
        out.extend(model.forward(x).into_data().try_to_vec::<f32>().expect("f32 logits"));
    }
    out
}

/// Whether each image's top-1 class (row-major logits) is its label.
pub fn hits(logits: &[f32], labels: &[u8], classes: usize) -> Vec<bool> {
    logits
        .chunks(classes)
        .zip(labels)
        .map(|(row, &l)| {
            let best = row.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).map(|(i, _)| i).unwrap_or(0);
            best == l as usize
        })
        .collect()
}

/// The share of hits (0 for none).
pub fn accuracy(hits: &[bool]) -> f64 {
    hits.iter().filter(|&&h| h).count() as f64 / hits.len().max(1) as f64
}

/// Top-1 accuracy of row-major logits against labels.
pub fn top1(logits: &[f32], labels: &[u8], classes: usize) -> f64 {
    accuracy(&hits(logits, labels, classes))
}

/// Accuracy of `model` (eval mode) on `data`.
pub fn evaluate(model: &Net, data: &Dataset, device: &Device) -> f64 {
    if data.is_empty() {
        return f64::NAN;
    }
    top1(&predict(model, data, device), &data.labels, data.classes)
}

/// Train `arch` on `train`, evaluating on `valid` after each epoch. Returns the eval-mode
/// model and its metrics (test accuracy not filled in).
pub fn train(
    arch: &Architecture,
    train: &Dataset,
    valid: &Dataset,
    cfg: &TrainConfig,
    progress: &mut dyn FnMut(TrainEvent),
) -> Result<(Net, Metrics)> {
    arch.check()?;
    let [c, h, w] = train.shape;
    if [arch.input.channels, arch.input.height, arch.input.width] != [c, h, w] || arch.classes != train.classes {
        return Err(TrainError::Config(format!(
            "the architecture takes {}x{}x{} images and {} classes; the data has {c}x{h}x{w} and {}",
            arch.input.channels, arch.input.height, arch.input.width, arch.classes, train.classes
        )));
    }
    cfg.check()?;
    let ad = crate::backend::base_device().autodiff();
    let model = init_seeded(arch, cfg.seed, &ad);
    train_model(model, train, valid, cfg, progress)
}

/// Train (or fine-tune) `model`, a network on the autodiff device, as [`train`] does.
pub fn train_model(
    mut model: Net,
    train: &Dataset,
    valid: &Dataset,
    cfg: &TrainConfig,
    progress: &mut dyn FnMut(TrainEvent),
) -> Result<(Net, Metrics)> {
    cfg.check()?;
    if train.is_empty() {
        return Err(TrainError::Config("the training split is empty".into()));
    }
    let base = crate::backend::base_device();
    let ad = base.clone().autodiff();
    let mut optim = match cfg.optimizer {
        Optimizer::Sgd => SgdConfig::new()
            .with_momentum(Some(MomentumConfig::new().with_momentum(0.9).with_dampening(0.0).with_nesterov(true)))
            .with_weight_decay((cfg.weight_decay > 0.0).then(|| WeightDecayConfig::new(cfg.weight_decay as f32)))
            .init(),
        Optimizer::Adamw => AdamWConfig::new().with_weight_decay(cfg.weight_decay as f32).with_epsilon(1e-8).init(),
    };
    let smoothing = (cfg.label_smoothing > 0.0).then_some(cfg.label_smoothing as f32);
    let loss_fn = CrossEntropyLossConfig::new().with_smoothing(smoothing).init(&ad);
    let total = cfg.total_steps(train.len());
    progress(TrainEvent::Start { steps: total });
    let started = std::time::Instant::now();
    let mut eval_time = 0.0;
    let mut step = 0;
    let mut epoch = 0;
    let mut recent = std::collections::VecDeque::new();
    let mut valid_accuracy = f64::NAN;
    let mut aug_rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(cfg.seed ^ 0x5eed_a06d);
    while step < total {
        let order = shuffled(train.len(), cfg.seed.wrapping_add(1 + epoch as u64));
        for chunk in order.chunks(cfg.batch_size) {
            if step >= total {
                break;
            }
            let (x, y) = match cfg.shift {
                0 => batch(train, chunk, &ad),
                s => batch_shifted(train, chunk, s, &mut aug_rng, &ad),
            };
            let logits = model.forward(x);
            let acc = {
                let pred = logits.clone().argmax(1).reshape([chunk.len()]);
                let correct: i64 = pred.equal(y.clone()).int().sum().into_scalar::<i64>();
                correct as f32 / chunk.len() as f32
            };
            let loss = loss_fn.forward(logits, y);
            let loss_v: f32 = loss.clone().into_scalar::<f32>();
            if !loss_v.is_finite() {
                return Err(TrainError::Diverged { step, loss: loss_v });
            }
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optim.step(cfg.lr_at(step, total), model, grads);
            recent.push_back(loss_v as f64);
            if recent.len() > 20 {
                recent.pop_front();
            }
            progress(TrainEvent::Step { step, loss: loss_v, accuracy: acc });
            step += 1;
        }
        epoch += 1;
        let t = std::time::Instant::now();
        valid_accuracy = evaluate(&model.valid(), valid, &base);
        eval_time += t.elapsed().as_secs_f64();
        progress(TrainEvent::Epoch { epoch, valid_accuracy });
    }
    let train_seconds = started.elapsed().as_secs_f64() - eval_time;
    let images = step * cfg.batch_size.min(train.len());
    let model = model.valid();
    let metrics = Metrics {
        valid_accuracy,
        test_accuracy: None,
        steps: step,
        images,
        train_seconds,
        train_images_per_s: images as f64 / train_seconds.max(1e-9),
        final_loss: recent.iter().sum::<f64>() / recent.len().max(1) as f64,
    };
    Ok((model, metrics))
}

/// What a checkpoint folder holds besides the weights.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckpointInfo {
    /// The architecture.
    pub architecture: Architecture,
    /// The training config.
    pub config: TrainConfig,
    /// Normalization to apply to inputs.
    pub normalization: Normalization,
    /// Dataset folder it was trained on.
    pub data: PathBuf,
    /// Results.
    pub metrics: Metrics,
}

const INFO: &str = "checkpoint.json";
const WEIGHTS: &str = "model.bpk";

/// Write `model`'s weights (Burn's burnpack format, full precision) to `path` atomically: a
/// temporary file beside it, renamed into place.
pub fn save_weights(path: &Path, model: &Net) -> Result<()> {
    save_module(path, model)
}

/// Any module's weights (a network's, the supernet's) written to `path` atomically.
pub(crate) fn save_module<M: Module>(path: &Path, module: &M) -> Result<()> {
    let io = |source| TrainError::Io { path: path.to_path_buf(), source };
    let tmp = edgenas_store::temp_path(path).map_err(io)?;
    module.clone().save_file(&tmp).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        TrainError::Checkpoint(path.to_path_buf(), e.to_string())
    })?;
    edgenas_store::replace(&tmp, path).map_err(io)
}

/// Weights written by [`save_weights`] for `arch`, loaded onto `device`.
pub fn load_weights(arch: &Architecture, path: &Path, device: &Device) -> Result<Net> {
    NetConfig::new(arch.clone())
        .init(device)
        .try_load_file(path)
        .map_err(|e| TrainError::Checkpoint(path.to_path_buf(), e.to_string()))
}

/// Save a trained model: `checkpoint.json` (architecture, config, normalization, metrics)
/// and `model.bpk` (Burn weights) in `dir` (created if missing).
pub fn save_checkpoint(dir: &Path, model: &Net, info: &CheckpointInfo) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|source| TrainError::Io { path: dir.to_path_buf(), source })?;
    save_weights(&dir.join(WEIGHTS), model)?;
    let text = serde_json::to_string_pretty(info).expect("checkpoint info serializes");
    edgenas_space::io::write_atomic(&dir.join(INFO), text.as_bytes())?;
    Ok(())
}

/// Load a checkpoint folder written by [`save_checkpoint`] onto `device` (eval mode).
pub fn load_checkpoint(dir: &Path, device: &Device) -> Result<(Net, CheckpointInfo)> {
    let p = dir.join(INFO);
    let text = std::fs::read_to_string(&p).map_err(|source| TrainError::Io { path: p.clone(), source })?;
    let info: CheckpointInfo = serde_json::from_str(&text).map_err(|e| TrainError::data(&p, e.to_string()))?;
    info.architecture.check().map_err(|e| TrainError::data(&p, e.to_string()))?;
    let net = load_weights(&info.architecture, &dir.join(WEIGHTS), device)?;
    Ok((net, info))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shifting_moves_pixels_and_repeats_the_edge() {
        // 1 channel, 3x3: 0..9 row-major
        let img: Vec<f32> = (0..9).map(|v| v as f32).collect();
        assert_eq!(shift_image(&img, [1, 3, 3], 0, 0), img);
        // one pixel right: the first column repeats
        assert_eq!(shift_image(&img, [1, 3, 3], 0, 1), vec![0., 0., 1., 3., 3., 4., 6., 6., 7.]);
        // one pixel up: the last row repeats
        assert_eq!(shift_image(&img, [1, 3, 3], -1, 0), vec![3., 4., 5., 6., 7., 8., 6., 7., 8.]);
    }

    #[test]
    fn shifted_batches_are_seeded_and_bounded() {
        use rand::SeedableRng;
        let data = Dataset {
            images: (0..2 * 16).map(|v| v as f32).collect(),
            labels: vec![0, 1],
            shape: [1, 4, 4],
            classes: 2,
        };
        let dev = device(0);
        let draw = |seed| {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
            let (x, _) = batch_shifted(&data, &[0, 1], 1, &mut rng, &dev);
            x.into_data().try_to_vec::<f32>().unwrap()
        };
        assert_eq!(draw(7), draw(7));
        // every output pixel comes from the same image, at most one pixel away
        let out = draw(7);
        for (k, v) in out.iter().enumerate() {
            let (img, y, x) = (k / 16, (k % 16) / 4, k % 4);
            let src = *v as usize - img * 16;
            let (sy, sx) = (src / 4, src % 4);
            assert!(sy.abs_diff(y) <= 1 && sx.abs_diff(x) <= 1, "pixel {k} came from {src}");
        }
        let cfg = TrainConfig { shift: 9, ..TrainConfig::default() };
        assert!(cfg.check().unwrap_err().to_string().contains("shift"));
    }
}
