//! `SearchConfig`: every setting of a search as plain data, what a run folder's `config.json`
//! holds. The CLI's flags convert into it; `run` and `confirm` start from
//! [`SearchConfig::default`] or a saved one. The defaults live here and nowhere else.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Schema version of `config.json` (files without the field, written before it existed, hold
/// the same settings and read as this version).
pub const CONFIG_SCHEMA: u32 = 1;

/// How a candidate's accuracy is measured.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EvalMode {
    /// Weights inherited from a supernet trained once, batch-norm recalibrated.
    Supernet,
    /// Each candidate trained briefly from scratch.
    Proxy,
}

/// Which challenger candidates of a baseline are fine-tuned.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChallengerRank {
    /// The best by search score (re-scored on the whole validation split).
    #[default]
    Score,
    /// The largest by parameter count (ties: the better score).
    Params,
    /// The most multiply-accumulates (ties: the better score).
    Macs,
}

/// Where the finished models' weights start.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FinishFrom {
    /// The supernet's inherited weights, fine-tuned (with proxy scoring: trained from scratch).
    #[default]
    Supernet,
    /// Random initialization: every finished model is retrained from scratch the same way.
    Scratch,
}

/// The search algorithm.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Algorithm {
    /// NSGA-II.
    Nsga2,
    /// Uniform random sampling with the same number of evaluations (a baseline).
    Random,
}

/// An objective (all minimized).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Objective {
    /// Top-1 error on the validation split.
    Error,
    /// Predicted latency on every profile.
    Latency,
    /// Flash bytes (f32 weights).
    Flash,
    /// Peak activation bytes (f32).
    Sram,
}

/// Every setting of a search. Field meanings are those of `edgenas search`'s flags of the same
/// names (`edgenas search --help`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SearchConfig {
    /// Schema version ([`CONFIG_SCHEMA`]).
    pub schema: u32,
    /// Search space TOML (`None`: the built-in default space).
    pub space: Option<PathBuf>,
    /// Dataset folder.
    pub data: PathBuf,
    /// Device latency profiles (the first one is the plot's x axis and the finishing's device).
    pub profiles: Vec<PathBuf>,
    /// Latency budgets in ms, one per profile in order (constraints).
    pub latency_budget_ms: Vec<f64>,
    /// Flash budget in KiB (f32 weights).
    pub flash_budget_kib: Option<f64>,
    /// Peak-SRAM budget in KiB (f32 activations).
    pub sram_budget_kib: Option<f64>,
    /// Objectives (error must be one).
    pub objectives: Vec<Objective>,
    pub algorithm: Algorithm,
    pub population: usize,
    /// Generations (the initial population counts as the first).
    pub generations: usize,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub init_baselines: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub init_uniform: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub init_archs: Vec<PathBuf>,
    pub eval: EvalMode,
    pub supernet_steps: usize,
    pub supernet_batch: usize,
    pub supernet_distill: bool,
    /// A trained supernet folder to reuse (`None`: `supernet/` in the run folder).
    pub supernet: Option<PathBuf>,
    pub proxy_steps: usize,
    pub calib_batches: usize,
    pub valid_images: usize,
    pub finish: usize,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub finish_baselines: bool,
    #[serde(skip_serializing_if = "is_default_candidates")]
    pub challenger_candidates: usize,
    #[serde(skip_serializing_if = "is_default_band")]
    pub challenger_band: f64,
    #[serde(skip_serializing_if = "is_default_rank")]
    pub challenger_rank: ChallengerRank,
    pub finetune_steps: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finish_steps: Option<usize>,
    #[serde(skip_serializing_if = "is_default_finish_from")]
    pub finish_from: FinishFrom,
    #[serde(skip_serializing_if = "is_default_measure_runs")]
    pub measure_runs: u32,
    /// Device description to measure the finished models on (`None`: from the first profile).
    pub device: Option<PathBuf>,
    pub seed: u64,
    /// Seed of the train/validation split alone (`None`: `seed`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub split_seed: Option<u64>,
    /// The run folder.
    pub out: PathBuf,
}

impl Default for SearchConfig {
    fn default() -> Self {
        SearchConfig {
            schema: CONFIG_SCHEMA,
            space: None,
            data: PathBuf::from("data/mnist-10k"),
            profiles: vec![PathBuf::from("profiles/local.json")],
            latency_budget_ms: Vec::new(),
            flash_budget_kib: None,
            sram_budget_kib: None,
            objectives: vec![Objective::Error, Objective::Latency],
            algorithm: Algorithm::Nsga2,
            population: 16,
            generations: 8,
            init_baselines: false,
            init_uniform: false,
            init_archs: Vec::new(),
            eval: EvalMode::Supernet,
            supernet_steps: 200,
            supernet_batch: 32,
            supernet_distill: true,
            supernet: None,
            proxy_steps: 100,
            calib_batches: 4,
            valid_images: 2000,
            finish: 3,
            finish_baselines: false,
            challenger_candidates: 1,
            challenger_band: 0.75,
            challenger_rank: ChallengerRank::Score,
            finetune_steps: 0,
            finish_steps: None,
            finish_from: FinishFrom::Supernet,
            measure_runs: 100,
            device: None,
            seed: 0,
            split_seed: None,
            out: PathBuf::from("runs/search"),
        }
    }
}

fn is_default_candidates(v: &usize) -> bool {
    *v == SearchConfig::default().challenger_candidates
}
fn is_default_band(v: &f64) -> bool {
    *v == SearchConfig::default().challenger_band
}
fn is_default_rank(v: &ChallengerRank) -> bool {
    *v == SearchConfig::default().challenger_rank
}
fn is_default_finish_from(v: &FinishFrom) -> bool {
    *v == SearchConfig::default().finish_from
}
fn is_default_measure_runs(v: &u32) -> bool {
    *v == SearchConfig::default().measure_runs
}

/// `name: old there, new now` when the two differ (values shown as JSON, `unset` for none).
fn differs<T: PartialEq + Serialize>(out: &mut Vec<String>, name: &str, old: &T, new: &T) {
    if old != new {
        let show = |v: &T| match serde_json::to_value(v) {
            Ok(serde_json::Value::Null) => "unset".to_string(),
            Ok(v) => v.to_string(),
            Err(_) => "?".to_string(),
        };
        out.push(format!("{name}: {} there, {} now", show(old), show(new)));
    }
}

/// Every field but `schema` compared with [`differs`]; the destructuring makes a field added to
/// [`SearchConfig`] and not listed here a compile error.
macro_rules! field_differences {
    ($a:expr, $b:expr; $($f:ident),* $(,)?) => {{
        let SearchConfig { schema: _, $($f: _),* } = $a;
        let mut d = Vec::new();
        $( differs(&mut d, stringify!($f), &$a.$f, &$b.$f); )*
        d
    }};
}

impl SearchConfig {
    /// The split seed in effect.
    pub fn split_seed(&self) -> u64 {
        self.split_seed.unwrap_or(self.seed)
    }

    /// Steps the finished models train for when they differ from the challengers' fine-tuning.
    pub fn finishing_steps(&self) -> usize {
        self.finish_steps.unwrap_or(self.finetune_steps)
    }

    /// Read a saved `config.json`; the error names the file.
    pub fn from_file(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let de = &mut serde_json::Deserializer::from_str(&text);
        serde_path_to_error::deserialize(de).map_err(|e| format!("{}: {}: {}", path.display(), e.path(), e.inner()))
    }

    /// The hash that journals of this run carry in their header.
    pub fn hash(&self) -> String {
        edgenas_store::content_hash(&serde_json::to_vec(self).expect("a config serializes"))
    }

    /// The settings that differ between `self` (saved) and `new` (given now), field by field:
    /// `key: saved there, given now`. Empty when they are the same search.
    pub fn differences(&self, new: &SearchConfig) -> Vec<String> {
        field_differences!(self, new; space, data, profiles, latency_budget_ms, flash_budget_kib,
            sram_budget_kib, objectives, algorithm, population, generations, init_baselines,
            init_uniform, init_archs, eval, supernet_steps, supernet_batch, supernet_distill, supernet,
            proxy_steps, calib_batches, valid_images, finish, finish_baselines, challenger_candidates,
            challenger_band, challenger_rank, finetune_steps, finish_steps, finish_from, measure_runs,
            device, seed, split_seed, out)
    }

    /// Refuse settings no search can run with, before any work; each message names the flag
    /// of `edgenas search` that sets the field.
    pub fn check(&self) -> Result<(), String> {
        let a = self;
        let fail = |m: String| Err(m);
        crate::run_dir::check_out_folder(&a.out)?;
        if a.population < 2 {
            return fail(format!("--population: {} is not allowed; allowed: 2 or more", a.population));
        }
        if a.generations < 1 {
            return fail("--generations: 0 is not allowed; allowed: 1 or more".into());
        }
        if a.profiles.is_empty() {
            return fail("--profile: give at least one device profile".into());
        }
        if let Some(p) = a.profiles.iter().enumerate().find(|(i, p)| a.profiles[..*i].contains(p)).map(|(_, p)| p) {
            return fail(format!("--profile: {} is given twice; allowed: each profile once", p.display()));
        }
        if a.latency_budget_ms.len() > a.profiles.len() {
            return fail(format!(
                "--latency-budget-ms: {} budgets for {} profiles; allowed: at most one per profile",
                a.latency_budget_ms.len(),
                a.profiles.len()
            ));
        }
        let budgets = a.latency_budget_ms.iter().map(|b| ("--latency-budget-ms", b));
        let budgets = budgets.chain(a.flash_budget_kib.iter().map(|b| ("--flash-budget-kib", b)));
        for (flag, b) in budgets.chain(a.sram_budget_kib.iter().map(|b| ("--sram-budget-kib", b))) {
            if !(b.is_finite() && *b > 0.0) {
                return fail(format!("{flag}: {b} is not allowed; allowed: a positive number"));
            }
        }
        if a.supernet_steps < 1 {
            return fail("--supernet-steps: 0 is not allowed; allowed: 1 or more".into());
        }
        if a.supernet_batch < 1 {
            return fail("--supernet-batch: 0 is not allowed; allowed: 1 or more".into());
        }
        if a.objectives.is_empty() {
            return fail("--objectives: give at least one of error, latency, flash, sram".into());
        }
        if !a.objectives.contains(&Objective::Error) {
            return fail(
                "--objectives: error must be one of the objectives (the search trades accuracy against cost)".into(),
            );
        }
        if let Some(o) = a.objectives.iter().enumerate().find(|(i, o)| a.objectives[..*i].contains(o)).map(|(_, o)| o) {
            let name = serde_json::to_value(o).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default();
            return fail(format!("--objectives: {name} is given twice; allowed: each objective once"));
        }
        if a.objectives.len() < 2 {
            return fail("--objectives: give at least two objectives, e.g. error,latency".into());
        }
        if a.valid_images < 1 {
            return fail("--valid-images: 0 is not allowed; allowed: 1 or more".into());
        }
        let max_runs = edgenas_device::config::MAX_RUNS;
        if !(1..=max_runs).contains(&a.measure_runs) {
            return fail(format!("--measure-runs: {} is not allowed; allowed: 1..={max_runs}", a.measure_runs));
        }
        if a.finish_from == FinishFrom::Scratch && a.finishing_steps() == 0 && a.finish != 0 {
            return fail(
                "--finish-from scratch: the finished models need training steps; allowed: --finish-steps or --finetune-steps of 1 or more".into(),
            );
        }
        if a.challenger_candidates < 1 {
            return fail("--challenger-candidates: 0 is not allowed; allowed: 1 or more".into());
        }
        if !(a.challenger_band > 0.0 && a.challenger_band <= 1.0) {
            return fail(format!(
                "--challenger-band: {} is not allowed; allowed: a fraction in (0, 1]",
                a.challenger_band
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_config_without_schema_reads_as_the_current_one_and_unknown_fields_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("config.json");
        let mut v = serde_json::to_value(SearchConfig::default()).unwrap();
        v.as_object_mut().unwrap().remove("schema");
        std::fs::write(&p, v.to_string()).unwrap();
        assert_eq!(SearchConfig::from_file(&p).unwrap(), SearchConfig::default());
        std::fs::write(&p, r#"{"population": 4, "colour": 1}"#).unwrap();
        let e = SearchConfig::from_file(&p).unwrap_err();
        assert!(e.contains("config.json") && e.contains("colour"), "{e}");
        std::fs::write(&p, r#"{"population": "many"}"#).unwrap();
        assert!(SearchConfig::from_file(&p).unwrap_err().contains("population"));
    }

    #[test]
    fn settings_no_search_can_run_with_are_refused_naming_the_flag() {
        let ok = SearchConfig::default();
        assert_eq!(ok.check(), Ok(()));
        let refused = |c: SearchConfig| c.check().unwrap_err();
        assert!(refused(SearchConfig { population: 1, ..ok.clone() }).starts_with("--population: 1"));
        let twice = SearchConfig { objectives: vec![Objective::Error, Objective::Sram, Objective::Sram], ..ok.clone() };
        assert_eq!(refused(twice), "--objectives: sram is given twice; allowed: each objective once");
        let p = PathBuf::from("p.json");
        let twice = SearchConfig { profiles: vec![p.clone(), p], ..ok.clone() };
        assert!(refused(twice).starts_with("--profile: p.json is given twice"));
        assert!(refused(SearchConfig { challenger_band: 1.5, ..ok }).starts_with("--challenger-band: 1.5"));
    }

    #[test]
    fn differences_name_each_field_that_moved() {
        let a = SearchConfig::default();
        assert!(a.differences(&a).is_empty());
        let b = SearchConfig { seed: 5, flash_budget_kib: Some(64.0), ..a.clone() };
        assert_eq!(a.differences(&b), ["flash_budget_kib: unset there, 64.0 now", "seed: 0 there, 5 now"]);
        assert_ne!(a.hash(), b.hash());
    }
}
