//! `EvalContext`: what evaluating or finishing a candidate needs, opened once per process: the
//! space, the data splits, the latency profiles and the scorer (a supernet, read-only, or proxy
//! training).

use std::path::Path;

use anyhow::{ensure, Context, Result};
use edgenas_profile::LatencyProfile;
use edgenas_space::SearchSpace;
use edgenas_train::data::{load_splits_shaped, Dataset};
use edgenas_train::Splits;

use crate::config::{EvalMode, FinishFrom, SearchConfig};
use crate::events::Observer;
use crate::run_dir::RunDir;
use crate::supernet::{load_supernet, train_or_load_supernet};

/// Measures the accuracy of candidates.
// One scorer lives per process, so the size gap between variants costs nothing worth a Box.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Scorer {
    /// A supernet's inherited weights, batch-norm recalibrated on `calib`.
    Supernet { net: edgenas_train::supernet::Supernet, calib: Dataset },
    /// Brief training from scratch.
    Proxy { steps: usize },
}

/// The state evaluations and finishing read; nothing in it changes once opened.
pub struct EvalContext {
    pub config: SearchConfig,
    pub run: RunDir,
    pub space: SearchSpace,
    pub splits: Splits,
    /// The validation images candidates are scored on (the first `valid_images`).
    pub valid: Dataset,
    /// One per configured profile, in order (empty when opened for retraining).
    pub profiles: Vec<LatencyProfile>,
    pub(crate) scorer: Scorer,
    /// [`Splits::fingerprint`] of `splits`, computed once when first asked.
    fingerprint: std::sync::OnceLock<String>,
}

/// The space a config names (`None`: the built-in default).
pub fn load_space(path: Option<&Path>) -> Result<SearchSpace> {
    Ok(match path {
        Some(p) => SearchSpace::from_file(p)?,
        None => SearchSpace::default_space(),
    })
}

/// The train / validation / test splits of `data` a search uses, refused when its images are
/// not the shape `space` takes.
pub fn load_search_splits(data: &Path, split_seed: u64, space: &SearchSpace) -> Result<Splits> {
    let shape = [space.input.channels, space.input.height, space.input.width];
    let splits = load_splits_shaped(data, 0.1, split_seed, shape)?;
    ensure!(
        splits.train.shape == shape,
        "{}: images are {:?}, the space takes {}x{}x{}",
        data.display(),
        splits.train.shape,
        space.input.channels,
        space.input.height,
        space.input.width
    );
    Ok(splits)
}

/// The profiles `cfg` names, each checked against `space`; a profile of this machine measured on
/// another CPU is a warning.
pub fn load_profiles(cfg: &SearchConfig, space: &SearchSpace, obs: &mut dyn Observer) -> Result<Vec<LatencyProfile>> {
    cfg.profiles
        .iter()
        .map(|p| {
            let prof = LatencyProfile::from_file(p).with_context(|| {
                format!("cannot read the latency profile {} (run `edgenas profile` to measure one)", p.display())
            })?;
            prof.check_space(space).with_context(|| {
                let space_flag = cfg.space.as_ref().map(|s| format!(" --space {}", s.display())).unwrap_or_default();
                format!(
                    "{}: the profile was measured for another space; `edgenas profile{space_flag} --out FILE` measures one for this space",
                    p.display()
                )
            })?;
            if let Some(w) = other_machine(p, &prof) {
                obs.warning(&w);
            }
            Ok(prof)
        })
        .collect()
}

/// This machine as a profile records it: architecture and CPU model (`x86_64`, `Intel(R) ...`).
pub fn this_machine() -> (String, String) {
    (std::env::consts::ARCH.to_string(), edgenas_device::agent::cpu_model())
}

/// Whether `prof` was measured on this machine's architecture and CPU model. The architecture
/// tells an emulated board apart: qemu-user shows the host's CPU model to the programs it runs.
pub fn measured_on_this_cpu(prof: &LatencyProfile) -> bool {
    let d = &prof.provenance.device_info;
    (d.arch.clone(), d.cpu.clone()) == this_machine()
}

/// The warning to give when `prof`, a profile of this machine (device `local`), was measured
/// on another CPU than this one: its predictions are another machine's latencies.
pub fn other_machine(path: &Path, prof: &LatencyProfile) -> Option<String> {
    (prof.provenance.device == "local" && !measured_on_this_cpu(prof)).then(|| {
        format!(
            "warning: {}: measured on {:?} ({}), this machine is {:?} ({}): its latencies are that machine's; \
             `edgenas profile --out {} --force` measures this one",
            path.display(),
            prof.provenance.device_info.cpu,
            prof.provenance.device_info.arch,
            this_machine().1,
            this_machine().0,
            path.display()
        )
    })
}

impl EvalContext {
    /// Everything a search evaluates with: space, profiles, splits, and the supernet (trained
    /// into the run folder first when it has none and `config.supernet` names none).
    pub fn open(config: &SearchConfig, run: &RunDir, obs: &mut dyn Observer) -> Result<Self> {
        let space = load_space(config.space.as_deref())?;
        let profiles = load_profiles(config, &space, obs)?;
        let splits = load_search_splits(&config.data, config.split_seed(), &space)?;
        Self::with_parts(config, run, space, splits, profiles, obs)
    }

    /// [`EvalContext::open`] with the space, splits and profiles already loaded.
    pub fn with_parts(
        config: &SearchConfig,
        run: &RunDir,
        space: SearchSpace,
        splits: Splits,
        profiles: Vec<LatencyProfile>,
        obs: &mut dyn Observer,
    ) -> Result<Self> {
        let scorer = match config.eval {
            EvalMode::Supernet => {
                let net = train_or_load_supernet(config, run, &space, &splits, obs)?;
                Scorer::Supernet { net, calib: splits.train.clone() }
            }
            EvalMode::Proxy => Scorer::Proxy { steps: config.proxy_steps },
        };
        Ok(Self::assemble(config, run, space, splits, profiles, scorer))
    }

    /// What a task of the run evaluates or trains with: as [`EvalContext::with_parts`], but the
    /// supernet must be there already (a task never trains it as a side effect).
    pub fn for_task(
        config: &SearchConfig,
        run: &RunDir,
        space: SearchSpace,
        splits: Splits,
        obs: &mut dyn Observer,
    ) -> Result<Self> {
        let profiles = load_profiles(config, &space, obs)?;
        let scorer = match config.eval {
            EvalMode::Supernet => {
                let dir = run.supernet_of(config.supernet.as_deref());
                ensure!(
                    dir.join("supernet.json").exists(),
                    "{}: no supernet there (supernet.json is missing); the task folder and the run folder must be \
                     on a file system every node shares",
                    dir.display()
                );
                Scorer::Supernet { net: load_supernet(config, &dir, &space)?, calib: splits.train.clone() }
            }
            EvalMode::Proxy => Scorer::Proxy { steps: config.proxy_steps },
        };
        Ok(Self::assemble(config, run, space, splits, profiles, scorer))
    }

    /// What retraining a finished run's models needs (no profiles): the supernet only when the
    /// finishing fine-tuned from it, and then it must exist (it is never trained anew).
    pub fn for_retraining(config: &SearchConfig, run: &RunDir) -> Result<Self> {
        let space = load_space(config.space.as_deref())?;
        let from_supernet = config.eval == EvalMode::Supernet && config.finish_from == FinishFrom::Supernet;
        let dir = run.supernet_of(config.supernet.as_deref());
        ensure!(
            !from_supernet || dir.join("supernet.json").exists(),
            "{}: the search's supernet is missing (supernet.json), and its models were fine-tuned from it; \
             pass --supernet DIR where it is now",
            dir.display()
        );
        let splits = load_search_splits(&config.data, config.split_seed(), &space)?;
        let scorer = if from_supernet {
            Scorer::Supernet { net: load_supernet(config, &dir, &space)?, calib: splits.train.clone() }
        } else {
            // retrained from scratch (or proxy-scored), the finished models owe nothing to a supernet
            Scorer::Proxy { steps: config.proxy_steps }
        };
        Ok(Self::assemble(config, run, space, splits, Vec::new(), scorer))
    }

    fn assemble(
        config: &SearchConfig,
        run: &RunDir,
        space: SearchSpace,
        splits: Splits,
        profiles: Vec<LatencyProfile>,
        scorer: Scorer,
    ) -> Self {
        let valid = splits.valid.take(config.valid_images);
        let fingerprint = Default::default();
        EvalContext { config: config.clone(), run: run.clone(), space, splits, valid, profiles, scorer, fingerprint }
    }

    /// The fingerprint of the data splits ([`Splits::fingerprint`]), hashed once per context
    /// (tasks carry it; a batch per generation would hash every image again).
    pub fn data_fingerprint(&self) -> &str {
        self.fingerprint.get_or_init(|| self.splits.fingerprint())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_profile_of_another_architecture_is_not_this_machine_even_with_its_cpu_name() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../profiles/local.json");
        let mut prof = LatencyProfile::from_file(&path).unwrap();
        let (arch, cpu) = this_machine();
        prof.provenance.device_info.arch = arch;
        prof.provenance.device_info.cpu = cpu.clone();
        assert!(measured_on_this_cpu(&prof));
        assert!(other_machine(&path, &prof).is_none());
        // an emulated arm64 board shows this host's CPU name
        prof.provenance.device_info.arch = "aarch64".into();
        assert!(!measured_on_this_cpu(&prof));
        let w = other_machine(&path, &prof).unwrap();
        assert!(w.contains("(aarch64)") && w.contains(&cpu), "{w}");
    }
}
