//! What the supernet leaves on disk: the saved supernet ([`Supernet::save`],
//! [`Supernet::load`]: `supernet.json` with [`SupernetInfo`], `supernet.bpk`) and the kept
//! partial state of a training ([`Resumable`]: `partial.json` and the weights and optimizer
//! state of the kept step).

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::optim::ModuleOptimizer;
use burn::prelude::*;
use edgenas_space::SearchSpace;
use serde::{Deserialize, Serialize};

use super::train::adamw;
use super::{init_supernet_seeded, Supernet, SupernetConfig, SupernetTrainConfig};
use crate::error::{Result, TrainError};
use crate::trainer::save_module;

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

impl Supernet {
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

/// Where [`train_supernet_resumable`](super::train_supernet_resumable) keeps its progress,
/// and how often.
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
pub(super) struct PartialIndex {
    space: SearchSpace,
    config: SupernetTrainConfig,
    /// Fingerprint of the training images and labels.
    data: String,
    pub(super) step: usize,
    pub(super) images: usize,
    pub(super) seconds: f64,
}

impl PartialIndex {
    /// The index of a training of `space` with `config` on data `data` (a [`crate::data::Dataset::fingerprint`],
    /// empty when nothing is kept) that has not started.
    pub(super) fn start(space: &SearchSpace, config: &SupernetTrainConfig, data: String) -> Self {
        PartialIndex { space: space.clone(), config: config.clone(), data, step: 0, images: 0, seconds: 0.0 }
    }

    fn same_training(&self, other: &PartialIndex) -> bool {
        (&self.space, &self.config, &self.data) == (&other.space, &other.config, &other.data)
    }
}

impl Resumable {
    const INDEX: &'static str = "partial.json";

    fn files(&self, step: usize) -> (PathBuf, PathBuf) {
        (self.dir.join(format!("partial-{step}.bpk")), self.dir.join(format!("partial-{step}.optim.bpk")))
    }

    /// The state kept for the training `want` describes, when there is one and it reads back.
    pub(super) fn load(
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
    pub(super) fn save(
        &self,
        net: &Supernet,
        optim: &ModuleOptimizer,
        index: &PartialIndex,
        previous: Option<usize>,
    ) -> Result<()> {
        std::fs::create_dir_all(&self.dir).map_err(|source| TrainError::Io { path: self.dir.clone(), source })?;
        let (weights, optim_path) = self.files(index.step);
        save_module(&weights, net)?;
        let io = |source| TrainError::Io { path: optim_path.clone(), source };
        let tmp = edgenas_store::temp_path(&optim_path).map_err(io)?;
        optim.save(&tmp).map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            TrainError::Checkpoint(optim_path.clone(), e.to_string())
        })?;
        edgenas_store::replace(&tmp, &optim_path).map_err(io)?;
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
