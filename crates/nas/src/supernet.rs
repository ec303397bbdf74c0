//! The search's supernet: trained once into the run folder (kept every
//! [`SUPERNET_KEEP_STEPS`] steps, so a killed training goes on from there), or a saved one
//! loaded and checked against the space and the split.

use std::path::Path;

use anyhow::{ensure, Result};
use edgenas_space::SearchSpace;
use edgenas_train::supernet::{train_supernet_resumable, Resumable, Supernet, SupernetInfo, SupernetTrainConfig};
use edgenas_train::trainer::device;
use edgenas_train::{Splits, TrainEvent};

use crate::config::SearchConfig;
use crate::events::{Flow, Observer, Step, Stopped, Task};
use crate::run_dir::RunDir;

/// Steps between two kept states of a supernet training (`<supernet>/partial/`).
pub const SUPERNET_KEEP_STEPS: usize = 50;

/// The supernet saved in `dir`, refused when it was trained for another space or on another
/// split than `config`'s.
pub(crate) fn load_supernet(config: &SearchConfig, dir: &Path, space: &SearchSpace) -> Result<Supernet> {
    let (net, info) = Supernet::load(dir, &device(config.seed))?;
    ensure!(
        info.space == *space,
        "{}: the supernet was trained for space {:?}, the search uses {:?}",
        dir.display(),
        info.space.name,
        space.name
    );
    let trained_on = info.split_seed.unwrap_or(info.config.seed);
    let split_seed = config.split_seed();
    ensure!(
        trained_on == split_seed,
        "{}: the supernet was trained on the training split of seed {trained_on}, this search \
         validates on the split of seed {split_seed}; pass --split-seed {trained_on} so no \
         validation image was seen in training",
        dir.display()
    );
    Ok(net)
}

/// The search's supernet: loaded when its folder holds one, otherwise trained (going on from a
/// kept state of the same settings) and saved there.
pub(crate) fn train_or_load_supernet(
    config: &SearchConfig,
    run: &RunDir,
    space: &SearchSpace,
    splits: &Splits,
    obs: &mut dyn Observer,
) -> Result<Supernet> {
    let dir = run.supernet_of(config.supernet.as_deref());
    if dir.join("supernet.json").exists() {
        let net = load_supernet(config, &dir, space)?;
        obs.note(&format!("reusing the supernet in {}", dir.display()));
        return Ok(net);
    }
    ensure!(config.supernet.is_none(), "{}: no supernet there (supernet.json is missing)", dir.display());
    let cfg = SupernetTrainConfig {
        steps: config.supernet_steps,
        batch_size: config.supernet_batch,
        seed: config.seed,
        distill: config.supernet_distill,
        ..Default::default()
    };
    obs.begin(&Task::Supernet, cfg.steps as u64);
    let partial = Resumable { dir: dir.join("partial"), every: SUPERNET_KEEP_STEPS };
    let mut stop_at = None;
    let (net, secs, ips) = train_supernet_resumable(space, &splits.train, &cfg, Some(&partial), &mut |e| {
        if let TrainEvent::Step { step, loss, accuracy } = e {
            let message = format!("last batch: loss {loss:.3}, largest subnet accuracy {:.0} %", 100.0 * accuracy);
            obs.progress(&Task::Supernet, step as u64 + 1, &message);
            // the training cannot be cut short from here: a stop asked for is honoured when it
            // returns, before the supernet is saved (its kept state stays for a later run)
            if obs.kept(Step::SupernetStep(step + 1)) == Flow::Stop && stop_at.is_none() {
                stop_at = Some(step + 1);
            }
        }
    })?;
    obs.end(&Task::Supernet);
    if let Some(step) = stop_at {
        return Err(Stopped(format!("{step} supernet steps")).into());
    }
    let info = SupernetInfo {
        space: space.clone(),
        config: cfg,
        data: config.data.clone(),
        split_seed: Some(config.split_seed()),
        train_seconds: secs,
        images_per_s: ips,
    };
    net.save(&dir, &info)?;
    partial.clear()?;
    obs.note(&format!("supernet trained in {secs:.0} s ({ips:.0} subnet images/s), saved to {}", dir.display()));
    Ok(net)
}
