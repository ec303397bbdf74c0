//! `edgenas run`: the whole pipeline on the bundled default, as the README's main command:
//! profile this machine (or reuse a matching profile), train a supernet on `data/mnist-10k`,
//! search under a latency budget, fine-tune, export and measure the winners. Interrupted runs
//! continue where they stopped when run again with the same settings.

use std::path::PathBuf;

use anyhow::{ensure, Result};
use clap::Args;
use edgenas_device::LatencyProfile;
use edgenas_nas::baselines::baselines;
use edgenas_nas::context::{load_search_splits, load_space, measured_on_this_cpu};
use edgenas_nas::{RunDir, SearchConfig};

use crate::executor::ExecutorArgs;
use crate::search::run_search;
use crate::util::human_ns;

/// Options of `run` (`edgenas search` exposes every knob).
#[derive(Args)]
pub struct RunCmd {
    /// Search space TOML (default: the built-in default space).
    #[arg(long)]
    space: Option<PathBuf>,
    /// Dataset folder.
    #[arg(long, default_value = "data/mnist-10k")]
    data: PathBuf,
    /// This machine's latency profile (measured when missing or not matching this machine).
    #[arg(long, default_value = "profiles/local.json")]
    profile: PathBuf,
    /// Latency budget in ms (default: the predicted latency of the middle hand-designed baseline).
    #[arg(long)]
    latency_budget_ms: Option<f64>,
    /// Population size.
    #[arg(long, default_value_t = 12)]
    population: usize,
    /// Generations.
    #[arg(long, default_value_t = 6)]
    generations: usize,
    /// Supernet training steps (sandwich rule, batch 32). 400 rank candidates at about 90 %
    /// validation accuracy on the bundled MNIST subset, 100 at about 45 % (BENCHMARKS.md).
    #[arg(long, default_value_t = 400)]
    supernet_steps: usize,
    /// Fine-tuning steps for each finished winner (batch 64; 0: the supernet's weights as
    /// they are). 800 ship 97-98 % test accuracy on the bundled MNIST subset, 200 ship
    /// 93-94 % (BENCHMARKS.md).
    #[arg(long, default_value_t = 800)]
    finetune_steps: usize,
    /// Seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Output folder.
    #[arg(long, default_value = "runs/default")]
    out: PathBuf,
    /// No progress bars.
    #[arg(long)]
    quiet: bool,
    /// Machine-readable JSON summary.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    executor: ExecutorArgs,
}

impl RunCmd {
    pub fn run(self) -> Result<()> {
        let started = std::time::Instant::now();
        let space = load_space(self.space.as_deref())?;
        // every setting and the data are checked before profiling, which can take a while
        self.config(self.latency_budget_ms.unwrap_or(1.0)).check().map_err(anyhow::Error::msg)?;
        load_search_splits(&self.data, self.seed, &space)?;
        let say = |m: String| {
            if !self.quiet && !self.json {
                eprintln!("{m}");
            }
        };
        // 1. a latency profile of this machine for this space: reused, or measured when missing
        // or another machine's; never measured over a profile of another space or another file
        let reuse = match LatencyProfile::from_file(&self.profile) {
            Ok(p) => {
                let space_flag = self.space.as_ref().map(|s| format!(" --space {}", s.display())).unwrap_or_default();
                ensure!(
                    p.check_space(&space).is_ok(),
                    "{}: holds a profile of another space, which run does not replace; pass --profile FILE \
                     (measured when missing) or `edgenas profile{space_flag} --out {} --force`",
                    self.profile.display(),
                    self.profile.display()
                );
                measured_on_this_cpu(&p)
            }
            Err(e) => {
                ensure!(
                    !self.profile.exists(),
                    "{}: exists but is not a latency profile ({e:#}); pass another --profile",
                    self.profile.display()
                );
                false
            }
        };
        if reuse {
            say(format!("[1/4] reusing the latency profile {}", self.profile.display()));
        } else {
            say(format!(
                "[1/4] profiling this machine into {} ({})",
                self.profile.display(),
                if self.profile.exists() { "the profile there is another machine's" } else { "no profile yet" }
            ));
            if let Some(dir) = self.profile.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)?;
            }
            crate::profile::profile_local(self.space.as_deref(), &self.profile, self.quiet || self.json)?;
        }
        let prof = LatencyProfile::from_file(&self.profile)?;
        // 2. the budget: given; or the one the run in --out started with, so that a re-measured
        // profile does not change a run's settings; or the middle hand-designed baseline's
        // predicted latency
        let run = RunDir::new(&self.out);
        let earlier = SearchConfig::from_file(&run.config()).ok().and_then(|c| c.latency_budget_ms.first().copied());
        let budget = match (self.latency_budget_ms, earlier) {
            (Some(b), _) | (None, Some(b)) => b,
            (None, None) => {
                let (_, mid) = &baselines(&space)[1];
                prof.predict(mid)?.latency_ns / 1e6
            }
        };
        say(format!(
            "[2/4] latency budget {} on {} ({})",
            human_ns(budget * 1e6),
            prof.provenance.device,
            prof.provenance.device_info.cpu
        ));
        say("[3/4] supernet training and search; [4/4] finishing the winners".into());
        run_search(&self.config(budget), run.config().exists(), &self.executor, self.quiet, self.json)?;
        say(format!("done in {:.0} s", started.elapsed().as_secs_f64()));
        Ok(())
    }

    /// The search `run` stands for, under latency budget `budget` (ms): the search's defaults
    /// but for `run`'s own flags.
    fn config(&self, budget: f64) -> SearchConfig {
        SearchConfig {
            space: self.space.clone(),
            data: self.data.clone(),
            profiles: vec![self.profile.clone()],
            latency_budget_ms: vec![budget],
            population: self.population,
            generations: self.generations,
            supernet_steps: self.supernet_steps,
            finetune_steps: self.finetune_steps,
            // the hand-designed baselines open the search, so the front matches or beats each
            // one within the budget under the search's own scoring
            init_baselines: true,
            seed: self.seed,
            out: self.out.clone(),
            ..SearchConfig::default()
        }
    }
}
