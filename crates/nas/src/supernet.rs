//! The search's supernet: trained once into the run folder (kept every
//! [`SUPERNET_KEEP_STEPS`] steps, so a killed training goes on from there), or a saved one
//! loaded and checked against the space and the split.

use std::ops::ControlFlow;
use std::path::Path;

use anyhow::{ensure, Result};
use edgenas_space::SearchSpace;
use edgenas_train::supernet::{train_supernet_resumable, Resumable, Supernet, SupernetInfo, SupernetTrainConfig};
use edgenas_train::trainer::device;
use edgenas_train::{Splits, TrainError, TrainEvent};

use crate::config::SearchConfig;
use crate::events::{Flow, Observer, Step, Stopped, Task};
use crate::run_dir::RunDir;

/// Steps between two kept states of a supernet training (`<supernet>/partial/`).
pub const SUPERNET_KEEP_STEPS: usize = 50;

/// The supernet saved in `dir`, refused when it was trained for another space or on another
/// split than `config`'s.
pub(crate) fn load_supernet(config: &SearchConfig, dir: &Path, space: &SearchSpace) -> Result<Supernet> {
    let (net, info) = Supernet::load(dir, &device(config.seed))?;
    check_supernet(config, dir, space, &info)?;
    Ok(net)
}

/// Refuse a supernet (`info`, saved in `dir`) trained for another space or on another split.
fn check_supernet(config: &SearchConfig, dir: &Path, space: &SearchSpace, info: &SupernetInfo) -> Result<()> {
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
    Ok(())
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
    let cfg = SupernetTrainConfig {
        steps: config.supernet_steps,
        batch_size: config.supernet_batch,
        seed: config.seed,
        distill: config.supernet_distill,
        ..Default::default()
    };
    if dir.join("supernet.json").exists() {
        let (net, info) = Supernet::load(&dir, &device(config.seed))?;
        if config.supernet.is_none() {
            // the run folder's own supernet must be the one these settings train; a given
            // --supernet is reused whatever it was trained with
            ensure!(
                info.config == cfg,
                "{}: the supernet there was trained with other settings (steps {}, batch {}, seed {}, distill {}; \
                 these are steps {}, batch {}, seed {}, distill {}); choose another --out, or pass --supernet {} to reuse it",
                dir.display(),
                info.config.steps,
                info.config.batch_size,
                info.config.seed,
                info.config.distill,
                cfg.steps,
                cfg.batch_size,
                cfg.seed,
                cfg.distill,
                dir.display()
            );
        }
        check_supernet(config, &dir, space, &info)?;
        obs.note(&format!("reusing the supernet in {}", dir.display()));
        return Ok(net);
    }
    ensure!(config.supernet.is_none(), "{}: no supernet there (supernet.json is missing)", dir.display());
    obs.begin(&Task::Supernet, cfg.steps as u64);
    let partial = Resumable { dir: dir.join("partial"), every: SUPERNET_KEEP_STEPS };
    let trained = train_supernet_resumable(space, &splits.train, &cfg, Some(&partial), &mut |e| {
        if let TrainEvent::Step { step, loss, accuracy } = e {
            let message = format!("last batch: loss {loss:.3}, largest subnet accuracy {:.0} %", 100.0 * accuracy);
            obs.progress(&Task::Supernet, step as u64 + 1, &message);
            if obs.kept(Step::SupernetStep(step + 1)) == Flow::Stop {
                return ControlFlow::Break(());
            }
        }
        ControlFlow::Continue(())
    });
    obs.end(&Task::Supernet);
    let (net, secs, ips) = match trained {
        Err(TrainError::Stopped { step }) => return Err(Stopped(format!("{step} supernet steps")).into()),
        other => other?,
    };
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
