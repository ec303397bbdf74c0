//! `edgenas train`: train an architecture on a dataset and write a checkpoint.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use edgenas_train::data::load_splits_shaped;
use edgenas_train::trainer::{self, device, save_checkpoint};
use edgenas_train::{CheckpointInfo, Optimizer, TrainConfig, TrainEvent};

use crate::progress::bar;
use crate::util::load_arch;

/// Options of `train`.
#[derive(Args)]
pub struct TrainCmd {
    /// Architecture JSON.
    arch: PathBuf,
    /// Dataset folder (MNIST IDX, CIFAR-10 binary batches, or train/ and test/ image folders).
    #[arg(long, default_value = "data/mnist-10k")]
    data: PathBuf,
    /// Epochs.
    #[arg(long, default_value_t = 5)]
    epochs: usize,
    /// Optimizer steps instead of epochs.
    #[arg(long)]
    steps: Option<usize>,
    /// Batch size.
    #[arg(long, default_value_t = 64)]
    batch_size: usize,
    /// Peak learning rate.
    #[arg(long, default_value_t = 3e-3)]
    lr: f64,
    /// Optimizer: adamw or sgd (momentum 0.9, Nesterov).
    #[arg(long, default_value = "adamw", value_parser = ["adamw", "sgd"])]
    optimizer: String,
    /// Weight decay.
    #[arg(long, default_value_t = 1e-4)]
    weight_decay: f64,
    /// Label smoothing.
    #[arg(long, default_value_t = 0.0)]
    label_smoothing: f64,
    /// Augmentation: translate each training image by up to N pixels (0: off).
    #[arg(long, default_value_t = 0)]
    shift: usize,
    /// Share of the training set used for validation.
    #[arg(long, default_value_t = 0.1)]
    valid_fraction: f64,
    /// Use only the first N training images (after the validation split).
    #[arg(long)]
    subset: Option<usize>,
    /// Seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Output checkpoint folder (created).
    #[arg(long)]
    out: PathBuf,
    /// No progress bar and no summary line (errors and warnings still print).
    #[arg(long)]
    quiet: bool,
    /// Replace a checkpoint already in `--out`.
    #[arg(long)]
    force: bool,
    /// Machine-readable JSON summary.
    #[arg(long)]
    json: bool,
}

impl TrainCmd {
    pub fn run(self) -> Result<()> {
        let arch = load_arch(&self.arch)?;
        let cfg = TrainConfig {
            epochs: self.epochs,
            steps: self.steps,
            batch_size: self.batch_size,
            lr: self.lr,
            optimizer: if self.optimizer == "sgd" { Optimizer::Sgd } else { Optimizer::Adamw },
            weight_decay: self.weight_decay,
            label_smoothing: self.label_smoothing,
            warmup_fraction: 0.05,
            valid_fraction: self.valid_fraction,
            seed: self.seed,
            shift: self.shift,
        };
        cfg.check()?;
        crate::util::check_out_folder(&self.out)?;
        anyhow::ensure!(self.subset != Some(0), "--subset: 0 is not allowed; allowed: 1 or more training images");
        anyhow::ensure!(
            self.force || !self.out.join("checkpoint.json").exists(),
            "{}: already holds a checkpoint; pass --force to replace it or choose another --out",
            self.out.display()
        );
        let splits = load_splits_shaped(
            &self.data,
            cfg.valid_fraction,
            cfg.seed,
            [arch.input.channels, arch.input.height, arch.input.width],
        )?;
        let train = match self.subset {
            Some(n) => splits.train.take(n),
            None => splits.train.clone(),
        };
        let pb = bar(cfg.total_steps(train.len()) as u64, self.quiet, "training");
        let mut sink = |e: TrainEvent| match e {
            TrainEvent::Start { steps } => pb.set_length(steps as u64),
            TrainEvent::Step { loss, accuracy, .. } => {
                pb.set_message(format!("last batch: loss {loss:.3}, accuracy {:.1} %", 100.0 * accuracy));
                pb.inc(1);
            }
            TrainEvent::Epoch { epoch, valid_accuracy } => {
                pb.println(format!("epoch {epoch}: validation accuracy {:.2} %", 100.0 * valid_accuracy))
            }
        };
        let (model, mut metrics) = trainer::train(&arch, &train, &splits.valid, &cfg, &mut sink)
            .with_context(|| format!("training {}", self.arch.display()))?;
        pb.finish_and_clear();
        metrics.test_accuracy = Some(trainer::evaluate(&model, &splits.test, &device(cfg.seed)));
        let info = CheckpointInfo {
            architecture: arch,
            config: cfg,
            normalization: splits.norm.clone(),
            data: self.data.clone(),
            metrics: metrics.clone(),
        };
        save_checkpoint(&self.out, &model, &info)?;
        if self.json {
            println!("{}", serde_json::to_string_pretty(&metrics)?);
        } else if !self.quiet {
            println!(
                "validation accuracy {}, test accuracy {:.2} % ({} steps, {:.0} img/s, {:.1} s); checkpoint in {}",
                match metrics.valid_accuracy {
                    v if v.is_nan() => "none (--valid-fraction 0)".to_string(),
                    v => format!("{:.2} %", 100.0 * v),
                },
                100.0 * metrics.test_accuracy.unwrap_or(f64::NAN),
                metrics.steps,
                metrics.train_images_per_s,
                metrics.train_seconds,
                self.out.display()
            );
        }
        Ok(())
    }
}
