//! `edgenas search`: the flags of a search, their conversion into the pipeline's
//! [`SearchConfig`], and the printed tables. The pipeline itself (evaluation, the journal,
//! finishing, verdicts) is `edgenas-nas`. Everything lands in `--out`: `config.json`,
//! `journal.jsonl`, `search.checkpoint.json`, `supernet/`, `pareto.json`, `baselines.json`,
//! `models/*.onnx` + model cards, `pareto.svg` / `pareto.png` (the search's scores),
//! `pareto-finished.svg` / `.png` (the finished models' test error and measured latency),
//! `summary.json`.

use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, ValueEnum};
use edgenas_nas::{Algorithm, ChallengerRank, EvalMode, FinishFrom, Objective, SearchConfig, SearchOutcome};

use crate::executor::ExecutorArgs;
use crate::progress::CliObserver;

/// The defaults of every flag: the pipeline's, in one place.
fn d() -> SearchConfig {
    SearchConfig::default()
}

/// A clap mirror of a pipeline enum (the pipeline's configuration knows nothing of clap), with
/// conversions both ways.
macro_rules! mirror {
    ($arg:ident => $lib:ident { $($v:ident),* }) => {
        impl From<$arg> for $lib {
            fn from(a: $arg) -> $lib {
                match a { $($arg::$v => $lib::$v),* }
            }
        }
        impl From<$lib> for $arg {
            fn from(a: $lib) -> $arg {
                match a { $($lib::$v => $arg::$v),* }
            }
        }
    };
}

/// How a candidate's accuracy is measured.
#[derive(Clone, Copy, Debug, PartialEq, ValueEnum)]
pub enum EvalModeArg {
    /// Weights inherited from a supernet trained once, batch-norm recalibrated.
    Supernet,
    /// Each candidate trained briefly from scratch (cached by genome).
    Proxy,
}

/// Which challenger candidates of a baseline are fine-tuned (`--challenger-rank`).
#[derive(Clone, Copy, Debug, PartialEq, ValueEnum)]
pub enum ChallengerRankArg {
    /// The best by search score (re-scored on the whole validation split).
    Score,
    /// The largest by parameter count (ties: the better score): a zero-cost proxy. Across a
    /// front it ranks fine-tuned accuracy better than the supernet's scores; within one
    /// latency band, on Fashion-MNIST, neither ranked well (BENCHMARKS.md).
    Params,
    /// The most multiply-accumulates (ties: the better score): a zero-cost proxy that counts
    /// work rather than weights, so a network that spends its latency on resolution (a
    /// stride-1 stem) ranks by what it computes, not by its few parameters.
    Macs,
}

/// Where the finished models' weights start (`--finish-from`).
#[derive(Clone, Copy, Debug, PartialEq, ValueEnum)]
pub enum FinishFromArg {
    /// The supernet's inherited weights, fine-tuned (with `--eval proxy`: trained from scratch).
    Supernet,
    /// Random initialization: every finished model (winners, challenger candidates, baselines)
    /// is retrained from scratch, the same way, so none profits from what the supernet learned
    /// best.
    Scratch,
}

/// The search algorithm.
#[derive(Clone, Copy, Debug, PartialEq, ValueEnum)]
pub enum AlgorithmArg {
    /// NSGA-II.
    Nsga2,
    /// Uniform random sampling with the same number of evaluations (a baseline).
    Random,
}

/// An objective besides the validation error (always minimized).
#[derive(Clone, Copy, Debug, PartialEq, ValueEnum)]
pub enum ObjectiveArg {
    /// Top-1 error on the validation split.
    Error,
    /// Predicted latency on every profile.
    Latency,
    /// Flash bytes (f32 weights).
    Flash,
    /// Peak activation bytes (f32).
    Sram,
}

mirror!(EvalModeArg => EvalMode { Supernet, Proxy });
mirror!(ChallengerRankArg => ChallengerRank { Score, Params, Macs });
mirror!(FinishFromArg => FinishFrom { Supernet, Scratch });
mirror!(AlgorithmArg => Algorithm { Nsga2, Random });
mirror!(ObjectiveArg => Objective { Error, Latency, Flash, Sram });

/// Every knob of the search.
#[derive(Args, Clone, Debug)]
pub struct SearchArgs {
    /// Search space TOML (default: the built-in default space).
    #[arg(long)]
    pub space: Option<PathBuf>,
    /// Dataset folder (MNIST IDX, CIFAR-10 binary batches, or train/ and test/ image folders).
    #[arg(long, default_value_os_t = d().data)]
    pub data: PathBuf,
    /// Device latency profile; repeat for several devices (the first one is the plot's x axis).
    #[arg(long = "profile", default_values_os_t = d().profiles)]
    pub profiles: Vec<PathBuf>,
    /// Latency budget in ms, one per profile in the same order (constraint).
    #[arg(long = "latency-budget-ms")]
    pub latency_budget_ms: Vec<f64>,
    /// Flash budget in KiB (f32 weights; constraint).
    #[arg(long)]
    pub flash_budget_kib: Option<f64>,
    /// Peak-SRAM budget in KiB (f32 activations; constraint).
    #[arg(long)]
    pub sram_budget_kib: Option<f64>,
    /// Objectives, comma separated: error, latency (one per profile), flash, sram.
    // written as one comma-separated value, as it is typed; a unit test checks it equals d().objectives
    #[arg(long, value_enum, value_delimiter = ',', default_value = "error,latency")]
    pub objectives: Vec<ObjectiveArg>,
    /// Search algorithm.
    #[arg(long, value_enum, default_value_t = d().algorithm.into())]
    pub algorithm: AlgorithmArg,
    /// Population size.
    #[arg(long, default_value_t = d().population)]
    pub population: usize,
    /// Generations (the initial population counts as the first).
    #[arg(long, default_value_t = d().generations)]
    pub generations: usize,
    /// Warm start: the initial population opens with the hand-designed baselines (uniform
    /// k3/e6 at three widths), so the search also explores their neighbourhood; random samples
    /// fill the rest.
    #[arg(long)]
    pub init_baselines: bool,
    /// Warm start: the initial population also holds the space's largest uniform networks, the
    /// baselines' shape (k3/e6, middle depths) at every section's largest width, one for each
    /// block kind and squeeze-excite choice the space offers (after the baselines, before the
    /// `--init-arch` files).
    #[arg(long)]
    pub init_uniform: bool,
    /// Warm start from an architecture of this space: an architecture JSON file (as `edgenas
    /// train` takes) or a model card; repeat for several. They join the initial population
    /// after the baselines.
    #[arg(long = "init-arch")]
    pub init_archs: Vec<PathBuf>,
    /// How accuracy is measured.
    #[arg(long, value_enum, default_value_t = d().eval.into())]
    pub eval: EvalModeArg,
    /// Supernet training steps (sandwich rule; batch size: --supernet-batch).
    #[arg(long, default_value_t = d().supernet_steps)]
    pub supernet_steps: usize,
    /// Supernet training batch size (every sandwich subnet sees the same batch).
    #[arg(long, default_value_t = d().supernet_batch)]
    pub supernet_batch: usize,
    /// In-place distillation while training the supernet: smaller subnets learn from the
    /// largest one's predictions instead of the labels (`false`: every subnet from the labels).
    #[arg(long, default_value_t = d().supernet_distill, action = clap::ArgAction::Set)]
    pub supernet_distill: bool,
    /// Reuse a trained supernet folder instead of training one.
    #[arg(long)]
    pub supernet: Option<PathBuf>,
    /// Proxy training steps per candidate (batch 64).
    #[arg(long, default_value_t = d().proxy_steps)]
    pub proxy_steps: usize,
    /// Training batches used to recalibrate a subnet's batch-norm statistics.
    #[arg(long, default_value_t = d().calib_batches)]
    pub calib_batches: usize,
    /// Validation images used to score candidates (at most the validation split).
    #[arg(long, default_value_t = d().valid_images)]
    pub valid_images: usize,
    /// Pareto winners to finish, export and measure.
    #[arg(long, default_value_t = d().finish)]
    pub finish: usize,
    /// Also finish the hand-designed baselines the same way (weights, export, tract check,
    /// measurement), so the winners can be compared with them at measured latency; each
    /// baseline's challenger (see `--challenger-candidates`) is finished too.
    #[arg(long)]
    pub finish_baselines: bool,
    /// Candidates considered for each baseline's challenger (with `--finish-baselines`). With 1,
    /// the challenger is the front point predicted no slower that scores best on the whole
    /// validation split. With more (and `--finetune-steps` > 0), the pool also holds the
    /// evaluated candidates predicted between `--challenger-band` x and 1 x the baseline's
    /// latency; the best N of it on the whole validation split are fine-tuned as the winners
    /// are, and the one most accurate on validation after fine-tuning is the challenger.
    #[arg(long, default_value_t = d().challenger_candidates, requires = "finish_baselines")]
    pub challenger_candidates: usize,
    /// Lower edge of the latency band (a fraction of the baseline's predicted latency) from which
    /// the evaluated candidates join the challenger pool.
    #[arg(long, default_value_t = d().challenger_band, requires = "finish_baselines")]
    pub challenger_band: f64,
    /// How the challenger candidates to fine-tune are picked from the pool: by search score,
    /// or by parameter count (larger first).
    #[arg(long, value_enum, default_value_t = d().challenger_rank.into(), requires = "finish_baselines")]
    pub challenger_rank: ChallengerRankArg,
    /// Fine-tuning steps for each winner (0: inherited weights as they are); challenger
    /// candidates are compared after this many.
    #[arg(long, default_value_t = d().finetune_steps)]
    pub finetune_steps: usize,
    /// Fine-tuning steps for the finished models (winners, challengers, baselines) when they
    /// should differ from `--finetune-steps`: pick challengers after a short fine-tuning, then
    /// train the models you ship longer (default: `--finetune-steps`).
    #[arg(long)]
    pub finish_steps: Option<usize>,
    /// Where the finished models' weights start: the supernet's, fine-tuned (`supernet`), or
    /// random ones, retrained from scratch for `--finish-steps` (`scratch`; challenger
    /// candidates for `--finetune-steps`).
    #[arg(long, value_enum, default_value_t = d().finish_from.into())]
    pub finish_from: FinishFromArg,
    /// Timed runs per pass when the finished models are measured on the device (at least the
    /// device description's `runs`); they are few, so more runs than for profiling keep a
    /// shared machine's noise out of the comparison at measured latency.
    #[arg(long, default_value_t = d().measure_runs)]
    pub measure_runs: u32,
    /// Device description to measure the winners on (default: devices/<first profile's device>.toml,
    /// or this machine for `local`).
    #[arg(long)]
    pub device: Option<PathBuf>,
    /// Seed of everything random (split, supernet, search).
    #[arg(long, default_value_t = d().seed)]
    pub seed: u64,
    /// Seed of the train/validation split alone (default: --seed). Searches with several seeds
    /// that share one `--supernet` pass the supernet's seed here, so that no validation image
    /// was seen in its training.
    #[arg(long)]
    pub split_seed: Option<u64>,
    /// Output folder.
    #[arg(long, default_value_os_t = d().out)]
    pub out: PathBuf,
    /// Continue an interrupted search in `--out` (same settings).
    #[arg(long)]
    pub resume: bool,
    /// No progress bars.
    #[arg(long)]
    pub quiet: bool,
    /// Machine-readable JSON summary on stdout.
    #[arg(long)]
    pub json: bool,
}

impl SearchArgs {
    /// The pipeline's configuration these flags stand for.
    pub fn config(&self) -> SearchConfig {
        SearchConfig {
            space: self.space.clone(),
            data: self.data.clone(),
            profiles: self.profiles.clone(),
            latency_budget_ms: self.latency_budget_ms.clone(),
            flash_budget_kib: self.flash_budget_kib,
            sram_budget_kib: self.sram_budget_kib,
            objectives: self.objectives.iter().map(|&o| o.into()).collect(),
            algorithm: self.algorithm.into(),
            population: self.population,
            generations: self.generations,
            init_baselines: self.init_baselines,
            init_uniform: self.init_uniform,
            init_archs: self.init_archs.clone(),
            eval: self.eval.into(),
            supernet_steps: self.supernet_steps,
            supernet_batch: self.supernet_batch,
            supernet_distill: self.supernet_distill,
            supernet: self.supernet.clone(),
            proxy_steps: self.proxy_steps,
            calib_batches: self.calib_batches,
            valid_images: self.valid_images,
            finish: self.finish,
            finish_baselines: self.finish_baselines,
            challenger_candidates: self.challenger_candidates,
            challenger_band: self.challenger_band,
            challenger_rank: self.challenger_rank.into(),
            finetune_steps: self.finetune_steps,
            finish_steps: self.finish_steps,
            finish_from: self.finish_from.into(),
            measure_runs: self.measure_runs,
            device: self.device.clone(),
            seed: self.seed,
            split_seed: self.split_seed,
            out: self.out.clone(),
            ..SearchConfig::default()
        }
    }
}

/// Run the search `config` describes (continuing it with `resume`) with progress bars unless
/// `quiet`, and print its summary (JSON with `json`).
pub fn run_search(
    config: &SearchConfig,
    resume: bool,
    exec: &ExecutorArgs,
    quiet: bool,
    json: bool,
) -> Result<SearchOutcome> {
    let mut obs = CliObserver::new(quiet || json, json);
    let mut exec = exec.executor()?;
    let outcome = edgenas_nas::search(config, resume, exec.as_mut(), &mut obs).map_err(|e| {
        // a test hook's stop reads as the hook's own line
        match obs.stopped.take() {
            Some(line) if e.is::<edgenas_nas::Stopped>() => anyhow::anyhow!(line),
            _ => e,
        }
    })?;
    if json {
        println!("{}", serde_json::to_string_pretty(&outcome.summary).expect("serializable"));
    } else {
        print_outcome(&outcome, config);
    }
    Ok(outcome)
}

/// The text summary: counts, baselines, the finished models' table, the verdicts.
fn print_outcome(o: &SearchOutcome, config: &SearchConfig) {
    println!(
        "searched {} architectures ({} feasible), Pareto front of {}, hypervolume {:.4}",
        o.records.len(),
        o.feasible,
        o.front.len(),
        o.hypervolume
    );
    for b in &o.baselines {
        let r = &b.record;
        let on_front = match o.front_matches.iter().find(|m| m.baseline == b.name).map(|m| m.front_index) {
            None => " (over budget)".to_string(),
            Some(None) => "; no point of the front is as accurate and as fast".to_string(),
            Some(Some(i)) => {
                let p = &o.front[i];
                let how = if p.accuracy == r.accuracy && p.latency_ms == r.latency_ms { "matched" } else { "beaten" };
                format!("; {how} by front point {i}: {:.2} %, {:.3} ms", 100.0 * p.accuracy, p.latency_ms[0])
            }
        };
        println!(
            "baseline {}: accuracy {:.2} %, predicted {:.3} ms{on_front}",
            b.name,
            100.0 * r.accuracy,
            r.latency_ms[0]
        );
    }
    let mut headers: Vec<String> =
        ["model", "front", "acc search", "acc valid", "acc Burn", "acc tract", "pred ms", "meas ms"]
            .map(String::from)
            .to_vec();
    // with several profiles: predicted and measured latency on each further device
    let others: Vec<String> = o
        .finished
        .iter()
        .chain(&o.baselines_finished)
        .find(|f| !f.on_devices.is_empty())
        .map(|f| f.on_devices[1..].iter().map(|d| d.device.clone()).collect())
        .unwrap_or_default();
    for d in &others {
        headers.extend([format!("pred ms {d}"), format!("meas ms {d}")]);
    }
    headers.extend(["flash", "SRAM", "params"].map(String::from));
    let rows: Vec<Vec<String>> = o
        .finished
        .iter()
        .chain(&o.baselines_finished)
        .map(|f| {
            let mut row = vec![
                f.name.clone(),
                if f.recommended { "*" } else { "" }.to_string(),
                format!("{:.2} %", 100.0 * f.search_accuracy),
                format!("{:.2} %", 100.0 * f.valid_accuracy),
                format!("{:.2} %", 100.0 * f.test_accuracy_burn),
                format!("{:.2} %", 100.0 * f.test_accuracy_tract),
                format!("{:.3}", f.predicted_ms),
                format!("{:.3}", f.measured_ms),
            ];
            for d in f.on_devices.iter().skip(1) {
                row.extend([format!("{:.3}", d.predicted_ms), format!("{:.3}", d.measured_ms)]);
            }
            row.extend([
                crate::util::human_bytes(f.flash_bytes),
                crate::util::human_bytes(f.sram_bytes),
                f.params.to_string(),
            ]);
            row
        })
        .collect();
    let run = edgenas_nas::RunDir::new(&config.out);
    if rows.is_empty() {
        println!("no model finished (--finish 0): the front is in {}", run.pareto().display());
    } else {
        let headers: Vec<&str> = headers.iter().map(String::as_str).collect();
        println!("{}", edgenas_report::table(&headers, &rows));
    }
    for d in &o.dominance {
        println!("{}", d.line());
    }
    let recommended: Vec<&str> =
        o.finished.iter().chain(&o.baselines_finished).filter(|f| f.recommended).map(|f| f.name.as_str()).collect();
    if !recommended.is_empty() {
        println!(
            "front of the finished models (*: none is more accurate on validation and as fast, measured): {}",
            recommended.join(", ")
        );
    }
    if o.reused > 0 {
        println!(
            "finishing: {} trainings read back from {} (an earlier run's), {} trained now",
            o.reused,
            o.finishing_dir.display(),
            o.trained
        );
    }
    let plots = if rows.is_empty() {
        "pareto.svg/png: search scores"
    } else {
        "pareto.svg/png: search scores, pareto-finished.svg/png: the finished models"
    };
    println!("outputs in {} (pareto.json, {plots}, models/, journal.jsonl)", config.out.display());
}

/// `edgenas search`.
#[derive(Args)]
pub struct SearchCmd {
    #[command(flatten)]
    args: SearchArgs,
    #[command(flatten)]
    executor: ExecutorArgs,
}

impl SearchCmd {
    pub fn run(self) -> Result<()> {
        let a = &self.args;
        run_search(&a.config(), a.resume, &self.executor, a.quiet, a.json).map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `edgenas search` arguments as the command line gives them.
    fn search_args(flags: &[&str]) -> SearchArgs {
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            args: SearchArgs,
        }
        <Cli as clap::Parser>::parse_from([&["search"], flags].concat()).args
    }

    #[test]
    fn no_flags_give_the_default_config_and_each_flag_its_field() {
        assert_eq!(search_args(&[]).config(), SearchConfig::default());
        let c = search_args(&[
            "--objectives",
            "error,latency,sram",
            "--eval",
            "proxy",
            "--finish-baselines",
            "--challenger-rank",
            "macs",
        ])
        .config();
        assert_eq!(c.objectives, [Objective::Error, Objective::Latency, Objective::Sram]);
        assert_eq!((c.eval, c.challenger_rank, c.finish_baselines), (EvalMode::Proxy, ChallengerRank::Macs, true));
    }

    #[test]
    fn finished_steps_count_as_the_finishing_trains() {
        let steps = |flags: &[&str]| edgenas_nas::finish::finished_steps(&search_args(flags).config());
        assert_eq!(steps(&[]), 0, "supernet weights as they are");
        assert_eq!(steps(&["--finetune-steps", "30"]), 30);
        assert_eq!(steps(&["--finetune-steps", "30", "--finish-steps", "90"]), 90);
        assert_eq!(steps(&["--eval", "proxy"]), 100, "proxy scoring trains them for its steps");
        assert_eq!(steps(&["--eval", "proxy", "--finetune-steps", "300"]), 300);
        assert_eq!(steps(&["--eval", "proxy", "--finish-from", "scratch", "--finetune-steps", "40"]), 40);
    }
}
