//! `edgenas search`: multi-objective architecture search (NSGA-II from `edgenas-search`) over
//! validation error, latency predicted from device profiles, flash and peak SRAM, with
//! budgets as constraints; accuracy from a weight-sharing supernet or proxy training; the
//! winners finished (weights inherited, optionally fine-tuned), exported to ONNX, validated
//! with tract and measured on the device. Everything lands in `--out`:
//! `config.json`, `journal.jsonl` (one line per evaluated architecture), `search.checkpoint.json`
//! (after each generation; `--resume` continues), `supernet/`, `pareto.json`,
//! `baselines.json`, `models/*.onnx` + model cards, `pareto.svg` / `pareto.png`, `summary.json`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, ensure, Context, Result};
use clap::{Args, ValueEnum};
use edgenas_device::{DeviceConfig, LatencyProfile};
use edgenas_onnx::{export_architecture, to_bytes, TractModel};
use edgenas_report::Reading;
use edgenas_search::{hypervolume, Evaluation, Nsga2, Nsga2Config, Termination, Var};
use edgenas_space::{baseline_choice, Architecture, Block, BlockKind, Genome, Head, SearchSpace, Stage, Stem};
use edgenas_train::data::load_splits_shaped;
use edgenas_train::data::Dataset;
use edgenas_train::supernet::{train_supernet_resumable, Resumable, Supernet, SupernetInfo, SupernetTrainConfig};
use edgenas_train::trainer::{accuracy, device, hits, load_weights, predict, save_weights, top1};
use edgenas_train::{train, Net, Splits, TrainConfig, TrainEvent};
use serde::{Deserialize, Serialize};

use crate::progress::bar;
use crate::util::{append_line, load_arch_or_card, load_space};

/// How a candidate's accuracy is measured.
#[derive(Clone, Copy, Debug, PartialEq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EvalMode {
    /// Weights inherited from a supernet trained once, batch-norm recalibrated.
    Supernet,
    /// Each candidate trained briefly from scratch (cached by genome).
    Proxy,
}

/// Which challenger candidates of a baseline are fine-tuned (`--challenger-rank`).
#[derive(Clone, Copy, Debug, Default, PartialEq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChallengerRank {
    /// The best by search score (re-scored on the whole validation split).
    #[default]
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

impl ChallengerRank {
    /// The size this rank orders by, largest first (`None` for the score).
    fn size(self, r: &Record) -> Option<u64> {
        match self {
            ChallengerRank::Score => None,
            ChallengerRank::Params => Some(r.params),
            ChallengerRank::Macs => Some(r.macs),
        }
    }
}

/// Where the finished models' weights start (`--finish-from`).
#[derive(Clone, Copy, Debug, Default, PartialEq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FinishFrom {
    /// The supernet's inherited weights, fine-tuned (with `--eval proxy`: trained from scratch).
    #[default]
    Supernet,
    /// Random initialization: every finished model (winners, challenger candidates, baselines)
    /// is retrained from scratch, the same way, so none profits from what the supernet learned
    /// best.
    Scratch,
}

/// The search algorithm.
#[derive(Clone, Copy, Debug, PartialEq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Algorithm {
    /// NSGA-II.
    Nsga2,
    /// Uniform random sampling with the same number of evaluations (a baseline).
    Random,
}

/// An objective besides the validation error (always minimized).
#[derive(Clone, Copy, Debug, PartialEq, ValueEnum, Serialize, Deserialize)]
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

/// Every knob of the search.
#[derive(Args, Clone, Debug, Serialize, Deserialize)]
pub struct SearchArgs {
    /// Search space TOML (default: the built-in default space).
    #[arg(long)]
    pub space: Option<PathBuf>,
    /// Dataset folder (MNIST IDX, CIFAR-10 binary batches, or train/ and test/ image folders).
    #[arg(long, default_value = "data/mnist-10k")]
    pub data: PathBuf,
    /// Device latency profile; repeat for several devices (the first one is the plot's x axis).
    #[arg(long = "profile", default_value = "profiles/local.json")]
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
    #[arg(long, value_delimiter = ',', default_value = "error,latency")]
    pub objectives: Vec<Objective>,
    /// Search algorithm.
    #[arg(long, value_enum, default_value = "nsga2")]
    pub algorithm: Algorithm,
    /// Population size.
    #[arg(long, default_value_t = 16)]
    pub population: usize,
    /// Generations (the initial population counts as the first).
    #[arg(long, default_value_t = 8)]
    pub generations: usize,
    /// Warm start: the initial population opens with the hand-designed baselines (uniform
    /// k3/e6 at three widths), so the search also explores their neighbourhood; random samples
    /// fill the rest.
    #[arg(long)]
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub init_baselines: bool,
    /// Warm start: the initial population also holds the space's largest uniform networks, the
    /// baselines' shape (k3/e6, middle depths) at every section's largest width, one for each
    /// block kind and squeeze-excite choice the space offers (after the baselines, before the
    /// `--init-arch` files).
    #[arg(long)]
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub init_uniform: bool,
    /// Warm start from an architecture of this space: an architecture JSON file (as `edgenas
    /// train` takes) or a model card; repeat for several. They join the initial population
    /// after the baselines.
    #[arg(long = "init-arch")]
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub init_archs: Vec<PathBuf>,
    /// How accuracy is measured.
    #[arg(long, value_enum, default_value = "supernet")]
    pub eval: EvalMode,
    /// Supernet training steps (sandwich rule; batch size: --supernet-batch).
    #[arg(long, default_value_t = 200)]
    pub supernet_steps: usize,
    /// Supernet training batch size (every sandwich subnet sees the same batch).
    #[arg(long, default_value_t = 32)]
    pub supernet_batch: usize,
    /// In-place distillation while training the supernet: smaller subnets learn from the
    /// largest one's predictions instead of the labels (`false`: every subnet from the labels).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub supernet_distill: bool,
    /// Reuse a trained supernet folder instead of training one.
    #[arg(long)]
    pub supernet: Option<PathBuf>,
    /// Proxy training steps per candidate (batch 64).
    #[arg(long, default_value_t = 100)]
    pub proxy_steps: usize,
    /// Training batches used to recalibrate a subnet's batch-norm statistics.
    #[arg(long, default_value_t = 4)]
    pub calib_batches: usize,
    /// Validation images used to score candidates (at most the validation split).
    #[arg(long, default_value_t = 2000)]
    pub valid_images: usize,
    /// Pareto winners to finish, export and measure.
    #[arg(long, default_value_t = 3)]
    pub finish: usize,
    /// Also finish the hand-designed baselines the same way (weights, export, tract check,
    /// measurement), so the winners can be compared with them at measured latency; each
    /// baseline's challenger (see `--challenger-candidates`) is finished too.
    #[arg(long)]
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub finish_baselines: bool,
    /// Candidates considered for each baseline's challenger (with `--finish-baselines`). With 1,
    /// the challenger is the front point predicted no slower that scores best on the whole
    /// validation split. With more (and `--finetune-steps` > 0), the pool also holds the
    /// evaluated candidates predicted between `--challenger-band` x and 1 x the baseline's
    /// latency; the best N of it on the whole validation split are fine-tuned as the winners
    /// are, and the one most accurate on validation after fine-tuning is the challenger.
    #[arg(long, default_value_t = 1, requires = "finish_baselines")]
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub challenger_candidates: usize,
    /// Lower edge of the latency band (a fraction of the baseline's predicted latency) from which
    /// the evaluated candidates join the challenger pool.
    #[arg(long, default_value_t = 0.75, requires = "finish_baselines")]
    #[serde(default = "band", skip_serializing_if = "is_band")]
    pub challenger_band: f64,
    /// How the challenger candidates to fine-tune are picked from the pool: by search score,
    /// or by parameter count (larger first).
    #[arg(long, value_enum, default_value = "score", requires = "finish_baselines")]
    #[serde(default, skip_serializing_if = "is_score")]
    pub challenger_rank: ChallengerRank,
    /// Fine-tuning steps for each winner (0: inherited weights as they are); challenger
    /// candidates are compared after this many.
    #[arg(long, default_value_t = 0)]
    pub finetune_steps: usize,
    /// Fine-tuning steps for the finished models (winners, challengers, baselines) when they
    /// should differ from `--finetune-steps`: pick challengers after a short fine-tuning, then
    /// train the models you ship longer (default: `--finetune-steps`).
    #[arg(long)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finish_steps: Option<usize>,
    /// Where the finished models' weights start: the supernet's, fine-tuned (`supernet`), or
    /// random ones, retrained from scratch for `--finish-steps` (`scratch`; challenger
    /// candidates for `--finetune-steps`).
    #[arg(long, value_enum, default_value = "supernet")]
    #[serde(default, skip_serializing_if = "is_supernet_start")]
    pub finish_from: FinishFrom,
    /// Timed runs per pass when the finished models are measured on the device (at least the
    /// device description's `runs`); they are few, so more runs than for profiling keep a
    /// shared machine's noise out of the comparison at measured latency.
    #[arg(long, default_value_t = 100)]
    #[serde(default = "hundred", skip_serializing_if = "is_hundred")]
    pub measure_runs: u32,
    /// Device description to measure the winners on (default: devices/<first profile's device>.toml,
    /// or this machine for `local`).
    #[arg(long)]
    pub device: Option<PathBuf>,
    /// Seed of everything random (split, supernet, search).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Seed of the train/validation split alone (default: --seed). Searches with several seeds
    /// that share one `--supernet` pass the supernet's seed here, so that no validation image
    /// was seen in its training.
    #[arg(long)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub split_seed: Option<u64>,
    /// Output folder.
    #[arg(long, default_value = "runs/search")]
    pub out: PathBuf,
    /// Continue an interrupted search in `--out` (same settings).
    #[arg(long)]
    #[serde(skip)]
    pub resume: bool,
    /// No progress bars.
    #[arg(long)]
    #[serde(skip)]
    pub quiet: bool,
    /// Machine-readable JSON summary on stdout.
    #[arg(long)]
    #[serde(skip)]
    pub json: bool,
}

fn one() -> usize {
    1
}
fn is_one(v: &usize) -> bool {
    *v == 1
}
fn hundred() -> u32 {
    100
}
fn is_hundred(v: &u32) -> bool {
    *v == 100
}
fn is_supernet_start(v: &FinishFrom) -> bool {
    *v == FinishFrom::Supernet
}
fn is_score(v: &ChallengerRank) -> bool {
    *v == ChallengerRank::Score
}
fn band() -> f64 {
    0.75
}
fn is_band(v: &f64) -> bool {
    *v == 0.75
}

/// One evaluated architecture (a line of `journal.jsonl`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    /// Gene values.
    pub genome: Vec<usize>,
    /// Generation that first asked for it (0 for baselines).
    pub generation: usize,
    /// Validation top-1 accuracy.
    pub accuracy: f64,
    /// Predicted latency per profile, ms.
    pub latency_ms: Vec<f64>,
    /// Flash bytes (f32 weights).
    pub flash_bytes: u64,
    /// Peak activation bytes (f32).
    pub sram_bytes: u64,
    /// Multiply-accumulates.
    pub macs: u64,
    /// Parameters.
    pub params: u64,
    /// Within every budget.
    pub feasible: bool,
    /// Seconds spent measuring its accuracy.
    pub seconds: f64,
}

/// A finished winner (one row of the final table).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Finished {
    /// Model name: `model-<i>-<predicted µs>us` for a winner, `baseline-<name>` for a baseline.
    pub name: String,
    /// Model file.
    pub model: PathBuf,
    /// Validation accuracy during the search.
    pub search_accuracy: f64,
    /// Accuracy of the finished weights (Burn) on the whole validation split: what to choose a
    /// model by (the test set only reports).
    pub valid_accuracy: f64,
    /// On the front of the finished models, searched and baselines alike: no other one is at
    /// least as accurate on validation and at least as fast measured, and better in one.
    pub recommended: bool,
    /// Test accuracy of the Burn model.
    pub test_accuracy_burn: f64,
    /// Test accuracy computed through tract from the ONNX file.
    pub test_accuracy_tract: f64,
    /// Largest |Burn - tract| logit difference on the checked test images.
    pub max_abs_diff: f32,
    /// Predicted latency on the first profile, ms.
    pub predicted_ms: f64,
    /// Measured median latency on the device, ms (the fastest of the interleaved passes).
    pub measured_ms: f64,
    /// The 10th percentile of the runs in that pass, ms: `measured_ms - measured_p10_ms` is the
    /// run-to-run spread that makes two latencies equal within measurement.
    pub measured_p10_ms: f64,
    /// Flash bytes (f32).
    pub flash_bytes: u64,
    /// Peak SRAM bytes (f32).
    pub sram_bytes: u64,
    /// Parameters.
    pub params: u64,
    /// Whether the Burn model gets each test image right (for paired comparisons).
    #[serde(skip)]
    pub test_hits: Vec<bool>,
}

/// How a finished baseline fares against the finished winners.
struct Dominance {
    baseline: String,
    /// Winners at least as fast (measured) and at least as accurate (test, Burn).
    by: Vec<String>,
    /// The baseline's run-to-run spread, ms: its measured median minus its 10th percentile.
    spread_ms: f64,
    /// Winners at least as accurate and at most `spread_ms` slower: as fast within
    /// measurement, so a microsecond in one measurement does not decide (a superset of `by`).
    by_within_spread: Vec<String>,
    /// The winner at least as fast that is most accurate on validation (ties: on test, then
    /// the faster), compared image by image with the baseline on the test set: picked on
    /// validation, so the test set only reports.
    best: Option<(String, edgenas_report::Paired)>,
}

/// What comparing a baseline with the winner as fast picked on validation says.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Verdict {
    /// No finished winner was measured at least as fast.
    NoFasterWinner,
    /// The accuracy gap either way is within the test set's noise.
    WithinNoise,
    /// The winner is significantly more accurate (so the baseline is dominated).
    WinnerBetter,
    /// The baseline is significantly more accurate.
    BaselineBetter,
}

impl Verdict {
    /// The name in `summary.json`.
    fn as_str(self) -> &'static str {
        match self {
            Verdict::NoFasterWinner => "no_faster_winner",
            Verdict::WithinNoise => "within_noise",
            Verdict::WinnerBetter => "winner_significantly_better",
            Verdict::BaselineBetter => "baseline_significantly_better",
        }
    }
}

impl Dominance {
    /// How `baseline` fares against `winners`: dominated when a winner is at least as accurate
    /// on the test set (Burn) and at least as fast measured on the device (or, in
    /// `by_within_spread`, slower by no more than the baseline's run-to-run spread); the winner
    /// at least as fast that is most accurate on validation is compared with it image by image
    /// on the test set, so the verdict says whether the gap beats the noise.
    fn of(baseline: &Finished, winners: &[Finished]) -> Dominance {
        let b = baseline;
        let spread_ms = (b.measured_ms - b.measured_p10_ms).max(0.0);
        let as_accurate = |w: &&Finished| w.test_accuracy_burn >= b.test_accuracy_burn;
        let names = |v: Vec<&Finished>| v.into_iter().map(|w| w.name.clone()).collect::<Vec<_>>();
        let faster: Vec<&Finished> = winners.iter().filter(|w| w.measured_ms <= b.measured_ms).collect();
        let by = names(faster.iter().copied().filter(as_accurate).collect());
        let by_within_spread =
            names(winners.iter().filter(|w| w.measured_ms <= b.measured_ms + spread_ms).filter(as_accurate).collect());
        let best = faster
            .iter()
            .max_by(|x, y| {
                (x.valid_accuracy.total_cmp(&y.valid_accuracy))
                    .then(x.test_accuracy_burn.total_cmp(&y.test_accuracy_burn))
                    .then(y.measured_ms.total_cmp(&x.measured_ms))
            })
            .map(|w| (w.name.clone(), edgenas_report::compare(&w.test_hits, &b.test_hits)));
        Dominance { baseline: b.name.clone(), by, spread_ms, by_within_spread, best }
    }

    fn verdict(&self) -> Verdict {
        match self.best.as_ref().map(|(_, p)| p.reading()) {
            None => Verdict::NoFasterWinner,
            Some(Reading::WithinNoise) => Verdict::WithinNoise,
            Some(Reading::ABetter) => Verdict::WinnerBetter,
            Some(Reading::BBetter) => Verdict::BaselineBetter,
        }
    }

    fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "baseline": self.baseline,
            "dominated": !self.by.is_empty(),
            "by": self.by,
            "spread_ms": self.spread_ms,
            "dominated_within_spread": !self.by_within_spread.is_empty(),
            "by_within_spread": self.by_within_spread,
            "verdict": self.verdict().as_str(),
            "best": self.best.as_ref().map(|(name, p)| serde_json::json!({
                "model": name,
                "accuracy_difference": p.difference,
                "only_model_right": p.only_a,
                "only_baseline_right": p.only_b,
                "images": p.images,
                "p_value": p.p_value,
                "significant": p.significant(),
            })),
        })
    }

    /// One line for the summary.
    fn line(&self) -> String {
        let head = match (self.by.is_empty(), self.by_within_spread.is_empty()) {
            (false, _) => format!("dominated on the test set by {}", self.by.join(", ")),
            (true, true) => "not dominated on the test set".to_string(),
            (true, false) => format!(
                "not dominated on the test set; within its {:.1} us run-to-run spread, by {}",
                self.spread_ms * 1e3,
                self.by_within_spread.join(", ")
            ),
        };
        let Some((name, p)) = &self.best else {
            return format!("{}: {head} (no finished winner is as fast)", self.baseline);
        };
        let reading = match self.verdict() {
            Verdict::WinnerBetter => "the winner is significantly more accurate",
            Verdict::BaselineBetter => "the baseline is significantly more accurate",
            _ => "within the test set's noise",
        };
        format!(
            "{}: {head} (the winner as fast most accurate on validation, {name}: {:+.2} points on {} test images, McNemar {}: {reading})",
            self.baseline,
            100.0 * p.difference,
            p.images,
            edgenas_report::format_p(p.p_value)
        )
    }
}

/// Largest difference between Burn's and tract's logits accepted for a winner.
const MAX_ABS_DIFF: f32 = 1e-4;

fn fnv1a(bytes: &[u8]) -> String {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in bytes {
        h ^= *b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    format!("{h:016x}")
}

/// The choice closest to `want` in `values`.
fn closest(values: &[usize], want: usize) -> usize {
    *values.iter().min_by_key(|&&v| (v as i64 - want as i64).abs()).expect("non-empty choices")
}

/// A uniform network of the space: the same `block` in every stage at middle depth, each
/// section's width picked by `width(choices, declared baseline widths)`.
fn uniform_network(
    space: &SearchSpace,
    block: Block,
    width: impl Fn(&[usize], Option<[usize; 3]>) -> usize,
) -> Architecture {
    let depth = |v: &[usize]| baseline_choice(v, None, 1); // the middle depth
    Architecture {
        input: space.input,
        classes: space.classes,
        stem: Stem {
            width: width(&space.stem.widths, space.stem.baseline_widths),
            kernel: space.stem.kernel,
            stride: space.stem.stride,
        },
        stages: space
            .stages
            .iter()
            .map(|st| Stage {
                width: width(&st.widths, st.baseline_widths),
                stride: st.stride,
                blocks: vec![block; depth(&st.depths)],
            })
            .collect(),
        head: Head { width: width(&space.head.widths, space.head.baseline_widths) },
    }
}

/// The baselines' kernel and expansion: 3 and 6, or the space's closest choices.
fn baseline_kernel_expansion(space: &SearchSpace) -> (usize, usize) {
    (closest(&space.block.kernels, 3), closest(&space.block.expansions, 6))
}

/// Hand-designed baselines of the space: uniform k3 / e6 blocks (or the closest choices),
/// no squeeze-excite, middle depths, at the smallest, middle and largest widths, or at the
/// widths a space declares (`baseline_widths`).
pub fn baselines(space: &SearchSpace) -> Vec<(String, Architecture)> {
    let (k, e) = baseline_kernel_expansion(space);
    let se = !space.block.se.contains(&false);
    // MobileNetV2's inverted residual when the space has it.
    let kind = if space.block.kinds.contains(&BlockKind::Mbconv) { BlockKind::Mbconv } else { space.block.kinds[0] };
    let block = Block { kind, kernel: k, expansion: e, se };
    ["narrow", "mid", "wide"]
        .iter()
        .enumerate()
        .map(|(level, name)| {
            (
                format!("k{k}e{e}-{name}"),
                uniform_network(space, block, |c, declared| baseline_choice(c, declared, level)),
            )
        })
        .collect()
}

/// The space's largest uniform networks (`--init-uniform`): the baselines' shape (k3 / e6,
/// middle depths) at every section's largest width, once for each block kind and
/// squeeze-excite choice the space offers. They are what a designer scales up first when a
/// space offers a cheaper block or wider stages than the baselines use.
pub fn uniform_networks(space: &SearchSpace) -> Vec<(String, Architecture)> {
    let (k, e) = baseline_kernel_expansion(space);
    let largest = |c: &[usize], _: Option<[usize; 3]>| *c.iter().max().expect("non-empty choices");
    let mut out = Vec::new();
    for &kind in &space.block.kinds {
        for &se in &space.block.se {
            let block = Block { kind, kernel: k, expansion: e, se };
            let name = format!("{}-k{k}e{e}{}-largest", kind.name(), if se { "-se" } else { "" });
            out.push((name, uniform_network(space, block, largest)));
        }
    }
    out
}

/// Measures accuracy of candidates.
// One scorer lives per search, so the size gap between variants costs nothing worth a Box.
#[allow(clippy::large_enum_variant)]
enum Scorer {
    Supernet { net: Supernet, calib: Dataset },
    Proxy { steps: usize },
}

/// The state the search needs: space, data, profiles, scorer, settings.
struct Ctx<'a> {
    args: &'a SearchArgs,
    space: SearchSpace,
    splits: Splits,
    valid: Dataset,
    profiles: Vec<LatencyProfile>,
    scorer: Scorer,
}

/// Accuracy on `valid` of subnet `arch` with the supernet's weights: batch-norm recalibrated
/// in Burn, then the images run through the ONNX export in tract, spread over the cores (1.5x
/// faster than the Burn forward here, same accuracy).
fn supernet_accuracy(
    args: &SearchArgs,
    net: &Supernet,
    calib: &Dataset,
    arch: &Architecture,
    valid: &Dataset,
) -> Result<f64> {
    let w = net.extract(arch, calib, 64, args.calib_batches, args.seed);
    let tract = TractModel::from_bytes(&to_bytes(&export_architecture(arch, &w)?))?;
    Ok(top1(&tract.run_many(&valid.images)?, &valid.labels, valid.classes))
}

/// The train / validation / test splits of `data` a search uses, refused when its images are
/// not the shape `space` takes.
pub(crate) fn load_search_splits(data: &Path, split_seed: u64, space: &SearchSpace) -> Result<Splits> {
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

impl<'a> Ctx<'a> {
    /// Data splits and scorer for `args` (a saved or trained supernet, or proxy training).
    fn new(args: &'a SearchArgs, space: &SearchSpace, profiles: Vec<LatencyProfile>) -> Result<Self> {
        let split_seed = args.split_seed.unwrap_or(args.seed);
        let splits = load_search_splits(&args.data, split_seed, space)?;
        let valid = splits.valid.take(args.valid_images);
        let scorer = match args.eval {
            EvalMode::Supernet => {
                let net = train_or_load_supernet(args, space, &splits, split_seed)?;
                Scorer::Supernet { net, calib: splits.train.clone() }
            }
            EvalMode::Proxy => Scorer::Proxy { steps: args.proxy_steps },
        };
        Ok(Ctx { args, space: space.clone(), splits, valid, profiles, scorer })
    }
}

impl Ctx<'_> {
    /// Accuracy of `r` on the whole validation split (supernet scoring; proxy training keeps
    /// the accuracy it has, retraining would cost a training per record).
    fn full_accuracy(&self, r: &Record) -> Result<f64> {
        match &self.scorer {
            Scorer::Supernet { net, calib } if self.valid.len() < self.splits.valid.len() => supernet_accuracy(
                self.args,
                net,
                calib,
                &self.space.decode(&Genome(r.genome.clone()))?,
                &self.splits.valid,
            ),
            _ => Ok(r.accuracy),
        }
    }

    fn record(&self, genome: &Genome, generation: usize) -> Result<Record> {
        let arch = self.space.decode(genome)?;
        let started = std::time::Instant::now();
        let accuracy = match &self.scorer {
            Scorer::Supernet { net, calib } => supernet_accuracy(self.args, net, calib, &arch, &self.valid)?,
            Scorer::Proxy { steps } => {
                let cfg = TrainConfig { steps: Some(*steps), seed: self.args.seed, ..TrainConfig::default() };
                train(&arch, &self.splits.train, &self.valid, &cfg, &mut |_| {})?.1.valid_accuracy
            }
        };
        let seconds = started.elapsed().as_secs_f64();
        let latency_ms =
            self.profiles.iter().map(|p| Ok(p.predict(&arch)?.latency_ns / 1e6)).collect::<Result<Vec<f64>>>()?;
        let s = arch.stats();
        let mut r = Record {
            genome: genome.0.clone(),
            generation,
            accuracy,
            latency_ms,
            flash_bytes: s.flash_f32_bytes,
            sram_bytes: s.peak_activation_f32_bytes,
            macs: s.macs,
            params: s.params,
            feasible: true,
            seconds,
        };
        r.feasible = self.violations(&r).iter().all(|&v| v <= 0.0);
        Ok(r)
    }

    fn violations(&self, r: &Record) -> Vec<f64> {
        let mut v: Vec<f64> = self.args.latency_budget_ms.iter().zip(&r.latency_ms).map(|(b, l)| (l - b) / b).collect();
        if let Some(b) = self.args.flash_budget_kib {
            v.push((r.flash_bytes as f64 / 1024.0 - b) / b);
        }
        if let Some(b) = self.args.sram_budget_kib {
            v.push((r.sram_bytes as f64 / 1024.0 - b) / b);
        }
        v
    }

    fn objectives(&self, r: &Record) -> Vec<f64> {
        let mut o = Vec::new();
        for obj in &self.args.objectives {
            match obj {
                Objective::Error => o.push(1.0 - r.accuracy),
                Objective::Latency => o.extend(&r.latency_ms),
                Objective::Flash => o.push(r.flash_bytes as f64 / 1024.0),
                Objective::Sram => o.push(r.sram_bytes as f64 / 1024.0),
            }
        }
        o
    }
}

/// Refuse settings no search can run with, before any work.
pub(crate) fn check_args(a: &SearchArgs) -> Result<()> {
    crate::util::check_out_folder(&a.out)?;
    ensure!(a.population >= 2, "--population: {} is not allowed; allowed: 2 or more", a.population);
    ensure!(a.generations >= 1, "--generations: 0 is not allowed; allowed: 1 or more");
    ensure!(!a.profiles.is_empty(), "--profile: give at least one device profile");
    ensure!(
        a.latency_budget_ms.len() <= a.profiles.len(),
        "--latency-budget-ms: {} budgets for {} profiles; allowed: at most one per profile",
        a.latency_budget_ms.len(),
        a.profiles.len()
    );
    let budgets = a.latency_budget_ms.iter().map(|b| ("--latency-budget-ms", b));
    let budgets = budgets.chain(a.flash_budget_kib.iter().map(|b| ("--flash-budget-kib", b)));
    for (flag, b) in budgets.chain(a.sram_budget_kib.iter().map(|b| ("--sram-budget-kib", b))) {
        ensure!(b.is_finite() && *b > 0.0, "{flag}: {b} is not allowed; allowed: a positive number");
    }
    ensure!(a.supernet_steps >= 1, "--supernet-steps: 0 is not allowed; allowed: 1 or more");
    ensure!(a.supernet_batch >= 1, "--supernet-batch: 0 is not allowed; allowed: 1 or more");
    ensure!(!a.objectives.is_empty(), "--objectives: give at least one of error, latency, flash, sram");
    ensure!(
        a.objectives.contains(&Objective::Error),
        "--objectives: error must be one of the objectives (the search trades accuracy against cost)"
    );
    ensure!(a.objectives.len() >= 2, "--objectives: give at least two objectives, e.g. error,latency");
    ensure!(a.valid_images >= 1, "--valid-images: 0 is not allowed; allowed: 1 or more");
    ensure!(
        (1..=edgenas_device::config::MAX_RUNS).contains(&a.measure_runs),
        "--measure-runs: {} is not allowed; allowed: 1..={}",
        a.measure_runs,
        edgenas_device::config::MAX_RUNS
    );
    ensure!(
        a.finish_from == FinishFrom::Supernet || a.finish_steps.unwrap_or(a.finetune_steps) > 0 || a.finish == 0,
        "--finish-from scratch: the finished models need training steps; allowed: --finish-steps or --finetune-steps of 1 or more"
    );
    ensure!(a.challenger_candidates >= 1, "--challenger-candidates: 0 is not allowed; allowed: 1 or more");
    ensure!(
        a.challenger_band > 0.0 && a.challenger_band <= 1.0,
        "--challenger-band: {} is not allowed; allowed: a fraction in (0, 1]",
        a.challenger_band
    );
    Ok(())
}

fn load_profiles(args: &SearchArgs, space: &SearchSpace) -> Result<Vec<LatencyProfile>> {
    args.profiles
        .iter()
        .map(|p| {
            let prof = LatencyProfile::from_file(p).with_context(|| {
                format!("cannot read the latency profile {} (run `edgenas profile` to measure one)", p.display())
            })?;
            prof.check_space(space).with_context(|| {
                let space_flag = args.space.as_ref().map(|s| format!(" --space {}", s.display())).unwrap_or_default();
                format!(
                    "{}: the profile was measured for another space; `edgenas profile{space_flag} --out FILE` measures one for this space",
                    p.display()
                )
            })?;
            if let Some(w) = crate::util::other_machine(p, &prof) {
                eprintln!("{w}");
            }
            Ok(prof)
        })
        .collect()
}

/// Journal lines already written (a half-written last line from a crash is ignored).
fn read_journal(path: &Path) -> Result<BTreeMap<Vec<usize>, Record>> {
    let mut out = BTreeMap::new();
    if let Ok(text) = std::fs::read_to_string(path) {
        for line in text.lines() {
            if let Ok(r) = serde_json::from_str::<Record>(line) {
                out.insert(r.genome.clone(), r);
            }
        }
    }
    Ok(out)
}

/// Records of `genomes`, from the cache or measured now (and journaled).
fn eval_genomes(
    ctx: &Ctx,
    cache: &mut BTreeMap<Vec<usize>, Record>,
    journal: &Path,
    genomes: &[Vec<usize>],
    generation: usize,
) -> Result<Vec<Record>> {
    let mut out = Vec::new();
    for g in genomes {
        let r = match cache.get(g) {
            Some(r) => r.clone(),
            None => {
                let r = ctx.record(&Genome(g.clone()), generation)?;
                append_line(journal, &serde_json::to_string(&r).expect("serializable"))?;
                cache.insert(g.clone(), r.clone());
                r
            }
        };
        out.push(r);
    }
    Ok(out)
}

fn write_json<T: Serialize>(path: &Path, v: &T) -> Result<()> {
    let text = serde_json::to_string_pretty(v).expect("serializable");
    edgenas_space::io::write_atomic(path, text.as_bytes()).with_context(|| format!("cannot write {}", path.display()))
}

/// Steps between two kept states of a supernet training (`<supernet>/partial/`).
const SUPERNET_KEEP_STEPS: usize = 50;

fn train_or_load_supernet(
    args: &SearchArgs,
    space: &SearchSpace,
    splits: &Splits,
    split_seed: u64,
) -> Result<Supernet> {
    let dir = args.supernet.clone().unwrap_or_else(|| args.out.join("supernet"));
    let dev = device(args.seed);
    if dir.join("supernet.json").exists() {
        let (net, info) = Supernet::load(&dir, &dev)?;
        ensure!(
            info.space == *space,
            "{}: the supernet was trained for space {:?}, the search uses {:?}",
            dir.display(),
            info.space.name,
            space.name
        );
        let trained_on = info.split_seed.unwrap_or(info.config.seed);
        ensure!(
            trained_on == split_seed,
            "{}: the supernet was trained on the training split of seed {trained_on}, this search \
             validates on the split of seed {split_seed}; pass --split-seed {trained_on} so no \
             validation image was seen in training",
            dir.display()
        );
        if !args.quiet && !args.json {
            eprintln!("reusing the supernet in {}", dir.display());
        }
        return Ok(net);
    }
    ensure!(args.supernet.is_none(), "{}: no supernet there (supernet.json is missing)", dir.display());
    let cfg = SupernetTrainConfig {
        steps: args.supernet_steps,
        batch_size: args.supernet_batch,
        seed: args.seed,
        distill: args.supernet_distill,
        ..Default::default()
    };
    let pb = bar(cfg.steps as u64, args.quiet, "supernet");
    // kept every SUPERNET_KEEP_STEPS steps: a search killed while training its supernet goes on
    // from there when started again with the same settings
    let partial = Resumable { dir: dir.join("partial"), every: SUPERNET_KEEP_STEPS };
    let abort_at: Option<usize> =
        std::env::var("EDGENAS_TEST_ABORT_AFTER_SUPERNET_STEPS").ok().and_then(|n| n.parse().ok());
    let (net, secs, ips) = train_supernet_resumable(space, &splits.train, &cfg, Some(&partial), &mut |e| {
        if let TrainEvent::Step { step, loss, accuracy } = e {
            pb.set_message(format!("last batch: loss {loss:.3}, largest subnet accuracy {:.0} %", 100.0 * accuracy));
            pb.set_position(step as u64 + 1);
            // test hook: stop as if killed after this many steps
            if abort_at == Some(step + 1) {
                eprintln!("aborted after {} supernet steps (EDGENAS_TEST_ABORT_AFTER_SUPERNET_STEPS)", step + 1);
                std::process::exit(3);
            }
        }
    })?;
    pb.finish_and_clear();
    let info = SupernetInfo {
        space: space.clone(),
        config: cfg,
        data: args.data.clone(),
        split_seed: Some(split_seed),
        train_seconds: secs,
        images_per_s: ips,
    };
    net.save(&dir, &info)?;
    partial.clear()?;
    if !args.quiet && !args.json {
        eprintln!("supernet trained in {secs:.0} s ({ips:.0} subnet images/s), saved to {}", dir.display());
    }
    Ok(net)
}

/// The network a record's genome builds (genomes that differ only in genes of unused blocks
/// build the same one).
fn network(space: &SearchSpace, r: &Record) -> Option<Architecture> {
    space.decode(&Genome(r.genome.clone())).ok()
}

/// The networks met so far, to keep each one once.
struct Networks<'s> {
    space: &'s SearchSpace,
    seen: Vec<Option<Architecture>>,
}

impl<'s> Networks<'s> {
    fn new(space: &'s SearchSpace) -> Self {
        Networks { space, seen: Vec::new() }
    }

    /// Whether `r` builds a network not met before (it is met from now on).
    fn first(&mut self, r: &Record) -> bool {
        let a = network(self.space, r);
        let new = !self.seen.contains(&a);
        if new {
            self.seen.push(a);
        }
        new
    }
}

/// Pick up to `n` records spread along the front (sorted by the first latency), each network
/// once.
fn spread(space: &SearchSpace, front: &[Record], n: usize) -> Vec<Record> {
    let mut f = front.to_vec();
    f.sort_by(|a, b| a.latency_ms[0].total_cmp(&b.latency_ms[0]));
    let mut networks = Networks::new(space);
    f.retain(|r| networks.first(r));
    if f.len() <= n {
        return f;
    }
    let mut picked = Vec::new();
    for i in 0..n {
        let idx = if n == 1 { f.len() - 1 } else { i * (f.len() - 1) / (n - 1) };
        if !picked.contains(&idx) {
            picked.push(idx);
        }
    }
    picked.into_iter().map(|i| f[i].clone()).collect()
}

/// The challenger pool of `baseline`: the front records predicted no slower than it, and with
/// `k` > 1 also the `2k` best-scored evaluated records predicted between `band` x and 1 x its
/// latency (first profile). Genomes that build the same network count once (genes of unused
/// blocks differ), and the baseline's own network is left out.
fn challenger_pool<'a>(
    space: &SearchSpace,
    front: &'a [Record],
    evaluated: &[&'a Record],
    baseline: &Record,
    k: usize,
    band: f64,
    rank: ChallengerRank,
) -> Vec<&'a Record> {
    let lat = baseline.latency_ms[0];
    let mut networks = Networks::new(space);
    networks.first(baseline);
    let mut fresh = |r: &Record| networks.first(r);
    let mut pool: Vec<&Record> = front.iter().filter(|r| r.latency_ms[0] <= lat && fresh(r)).collect();
    if k > 1 {
        let mut near: Vec<&Record> =
            evaluated.iter().copied().filter(|r| r.latency_ms[0] <= lat && r.latency_ms[0] >= band * lat).collect();
        match rank {
            ChallengerRank::Score => {
                near.sort_by(|a, b| b.accuracy.total_cmp(&a.accuracy).then(a.latency_ms[0].total_cmp(&b.latency_ms[0])))
            }
            _ => near.sort_by(|a, b| rank.size(b).cmp(&rank.size(a)).then(b.accuracy.total_cmp(&a.accuracy))),
        }
        pool.extend(near.into_iter().filter(|r| fresh(r)).take(2 * k));
    }
    pool
}

/// Sort `(record, score)` pairs best first (ties: the faster one first).
fn best_first(v: &mut [(Record, f64)]) {
    v.sort_by(|(a, sa), (b, sb)| sb.total_cmp(sa).then(a.latency_ms[0].total_cmp(&b.latency_ms[0])));
}

/// The settings that differ between a saved `config.json` and this run's, for the error that
/// refuses to resume: `key: saved there, now given` per key.
fn settings_diff(old: &serde_json::Value, new: &serde_json::Value) -> String {
    let (empty_a, empty_b) = (serde_json::Map::new(), serde_json::Map::new());
    let a = old.as_object().unwrap_or(&empty_a);
    let b = new.as_object().unwrap_or(&empty_b);
    let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    let show = |v: Option<&serde_json::Value>| v.map_or("unset".to_string(), |v| v.to_string());
    keys.into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .map(|k| format!("{k}: {} there, {} now", show(a.get(k)), show(b.get(k))))
        .collect::<Vec<_>>()
        .join("; ")
}

/// The genomes the initial population opens with: the baselines (`--init-baselines`), the
/// largest uniform networks (`--init-uniform`), then the `--init-arch` files, each checked
/// against the space; a genome given twice counts once.
fn initial_genomes(args: &SearchArgs, space: &SearchSpace) -> Result<Vec<Genome>> {
    let mut out: Vec<Genome> = Vec::new();
    if args.init_baselines {
        for (name, arch) in baselines(space) {
            out.push(space.encode(&arch).with_context(|| format!("baseline {name} is not in the space"))?);
        }
    }
    if args.init_uniform {
        for (name, arch) in uniform_networks(space) {
            out.push(space.encode(&arch).with_context(|| format!("uniform network {name} is not in the space"))?);
        }
    }
    for path in &args.init_archs {
        let arch = load_arch_or_card(path, "--init-arch")?;
        let genome =
            space.encode(&arch).map_err(|e| anyhow!("--init-arch {}: not in the search space: {e}", path.display()))?;
        out.push(genome);
    }
    let mut seen = std::collections::BTreeSet::new();
    out.retain(|g| seen.insert(g.0.clone()));
    ensure!(
        out.len() <= args.population,
        "--init-baselines / --init-uniform / --init-arch: {} initial architectures for a population of {}; allowed: at most --population",
        out.len(),
        args.population
    );
    Ok(out)
}

/// The full search; returns the summary printed at the end.
pub fn search(args: &SearchArgs) -> Result<serde_json::Value> {
    check_args(args)?;
    let total_started = std::time::Instant::now();
    let space = load_space(args.space.as_deref())?;
    let init = initial_genomes(args, &space)?;
    let profiles = load_profiles(args, &space)?;
    ensure!(
        !args.resume || args.out.join("config.json").exists(),
        "--resume: {} holds no search (no config.json), so there is nothing to resume; run without --resume",
        args.out.display()
    );
    let created = !args.out.exists();
    std::fs::create_dir_all(&args.out).with_context(|| format!("cannot create {}", args.out.display()))?;
    let config_path = args.out.join("config.json");
    let journal_path = args.out.join("journal.jsonl");
    let ckpt_path = args.out.join("search.checkpoint.json");
    let config_json = serde_json::to_value(args).expect("serializable");
    if args.resume {
        let text = std::fs::read_to_string(&config_path)
            .with_context(|| format!("--resume: cannot read {} (nothing to resume)", config_path.display()))?;
        let old: serde_json::Value =
            serde_json::from_str(&text).with_context(|| format!("{}: not valid JSON", config_path.display()))?;
        ensure!(
            old == config_json,
            "the settings differ from those in {} ({}); continue with the same settings or choose another --out",
            config_path.display(),
            settings_diff(&old, &config_json)
        );
    } else {
        ensure!(
            !journal_path.exists(),
            "{} already holds a search; pass --resume to continue it or choose another --out",
            args.out.display()
        );
        write_json(&config_path, &config_json)?;
    }
    let ctx = match Ctx::new(args, &space, profiles) {
        Ok(ctx) => ctx,
        Err(e) => {
            // a new search that could not start (unreadable data, a wrong supernet) leaves
            // nothing behind but what is worth resuming (a supernet's kept state)
            if !args.resume && !journal_path.exists() {
                let _ = std::fs::remove_file(&config_path);
                if created {
                    let _ = std::fs::remove_dir(&args.out);
                }
            }
            return Err(e);
        }
    };
    let quiet = args.quiet || args.json;

    // baselines: hand-designed networks of the same space, scored the same way
    let mut base_rows = Vec::new();
    for (name, arch) in baselines(&space) {
        let genome = space.encode(&arch)?;
        let r = ctx.record(&genome, 0)?;
        base_rows.push((name, arch, r));
    }
    write_json(
        &args.out.join("baselines.json"),
        &base_rows
            .iter()
            .map(|(n, a, r)| serde_json::json!({"name": n, "architecture": a, "record": r}))
            .collect::<Vec<_>>(),
    )?;

    // the search, journaled; a resumed run reads back what was already evaluated
    let genes = space.genes();
    let vars: Vec<Var> = genes.iter().map(|g| Var::choice(g.choices())).collect();
    let mut cache = if args.resume { read_journal(&journal_path)? } else { BTreeMap::new() };
    let evals_total = args.population * args.generations;
    let pb = bar(args.generations as u64, quiet, "generations");
    let mut hv_ref: Option<Vec<f64>> = None;
    let progress = |all: &[Record], hv_ref: &mut Option<Vec<f64>>, pb: &indicatif::ProgressBar| {
        let pts: Vec<Vec<f64>> = all.iter().filter(|r| r.feasible).map(|r| ctx.objectives(r)).collect();
        if hv_ref.is_none() && !pts.is_empty() {
            let n = pts[0].len();
            *hv_ref = Some((0..n).map(|i| pts.iter().map(|p| p[i]).fold(0.0, f64::max) * 1.1).collect());
        }
        let hv = hv_ref.as_ref().and_then(|r| hypervolume(&pts, r).ok()).unwrap_or(0.0);
        let best = all.iter().filter(|r| r.feasible).map(|r| r.accuracy).fold(0.0, f64::max);
        pb.set_message(format!(
            "{} evaluated, best feasible validation accuracy {:.2} %, hv {hv:.4}",
            all.len(),
            100.0 * best
        ));
        pb.inc(1);
    };
    match args.algorithm {
        Algorithm::Nsga2 => {
            let config = Nsga2Config {
                pop_size: args.population,
                termination: Termination::generations(args.generations),
                ..Nsga2Config::default()
            };
            let mut algo = if args.resume && ckpt_path.exists() {
                Nsga2::load_checkpoint(&ckpt_path, &vars)?
            } else {
                let mut algo = Nsga2::new(config, &vars, args.seed)?;
                let xs: Vec<Vec<f64>> = init.iter().map(|g| g.0.iter().map(|&v| v as f64).collect()).collect();
                algo.seed_population(&xs)?;
                algo
            };
            pb.set_position(algo.generation() as u64);
            while !algo.is_done() {
                let xs = algo.ask();
                if xs.is_empty() {
                    break;
                }
                let gs: Vec<Vec<usize>> = xs.iter().map(|x| x.iter().map(|&v| v as usize).collect()).collect();
                let recs = eval_genomes(&ctx, &mut cache, &journal_path, &gs, algo.generation() + 1)?;
                let evals =
                    recs.iter().map(|r| Evaluation::constrained(ctx.objectives(r), ctx.violations(r))).collect();
                algo.tell(evals)?;
                algo.save_checkpoint(&ckpt_path)?;
                // test hook: stop as if killed right after a checkpoint
                if let Ok(n) = std::env::var("EDGENAS_TEST_ABORT_AFTER_GENERATIONS") {
                    if n.parse::<usize>().ok() == Some(algo.generation()) {
                        bail!("aborted after generation {n} (EDGENAS_TEST_ABORT_AFTER_GENERATIONS)");
                    }
                }
                let seen: Vec<Record> = cache.values().cloned().collect();
                progress(&seen, &mut hv_ref, &pb);
            }
        }
        Algorithm::Random => {
            use rand::{Rng, SeedableRng};
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(args.seed);
            for gen in 0..args.generations {
                // the first generation opens with the warm-start genomes, as NSGA-II's does
                let warm: &[Genome] = if gen == 0 { &init } else { &[] };
                let gs: Vec<Vec<usize>> = warm
                    .iter()
                    .map(|g| g.0.clone())
                    .chain(
                        (warm.len()..args.population)
                            .map(|_| genes.iter().map(|g| rng.random_range(0..g.choices())).collect()),
                    )
                    .collect();
                eval_genomes(&ctx, &mut cache, &journal_path, &gs, gen + 1)?;
                let seen: Vec<Record> = cache.values().cloned().collect();
                progress(&seen, &mut hv_ref, &pb);
            }
        }
    }
    pb.finish_and_clear();
    let records: Vec<Record> = cache.values().cloned().collect();
    let feasible: Vec<&Record> = records.iter().filter(|r| r.feasible).collect();
    if feasible.is_empty() {
        // nothing to finish or ship: say how far the budgets are from what the space offers
        let min = |f: &dyn Fn(&Record) -> f64| records.iter().map(f).fold(f64::INFINITY, f64::min);
        let mut closest = Vec::new();
        for (i, b) in args.latency_budget_ms.iter().enumerate() {
            let l = min(&|r: &Record| r.latency_ms[i]);
            closest
                .push(format!("--latency-budget-ms {b} on {}: the fastest is {l:.3} ms", args.profiles[i].display()));
        }
        if let Some(b) = args.flash_budget_kib {
            closest.push(format!(
                "--flash-budget-kib {b}: the smallest is {:.1} KiB",
                min(&|r: &Record| r.flash_bytes as f64) / 1024.0
            ));
        }
        if let Some(b) = args.sram_budget_kib {
            closest.push(format!(
                "--sram-budget-kib {b}: the smallest is {:.1} KiB",
                min(&|r: &Record| r.sram_bytes as f64) / 1024.0
            ));
        }
        bail!(
            "none of the {} evaluated architectures meets the budgets ({}); loosen a budget and run again with another --out",
            records.len(),
            closest.join("; ")
        );
    }
    let pts: Vec<Vec<f64>> = feasible.iter().map(|r| ctx.objectives(r)).collect();
    let front_idx = edgenas_search::non_dominated(&pts);
    let front: Vec<Record> = front_idx.iter().map(|&i| feasible[i].clone()).collect();
    // hypervolume with the reference point 1.1 x the worst value of every evaluated candidate
    let all_pts: Vec<Vec<f64>> = records.iter().map(|r| ctx.objectives(r)).collect();
    let hv_ref: Vec<f64> = (0..all_pts.first().map(|p| p.len()).unwrap_or(0))
        .map(|i| all_pts.iter().map(|p| p[i]).fold(0.0, f64::max) * 1.1)
        .collect();
    let front_pts: Vec<Vec<f64>> = front.iter().map(|r| ctx.objectives(r)).collect();
    let hv = if front_pts.is_empty() { 0.0 } else { hypervolume(&front_pts, &hv_ref)? };
    write_json(
        &args.out.join("pareto.json"),
        &front
            .iter()
            .map(|r| serde_json::json!({"record": r, "architecture": space.decode(&Genome(r.genome.clone())).ok()}))
            .collect::<Vec<_>>(),
    )?;

    // the plot: every candidate, the front and the baselines
    write_plot(args, &records, &front, &base_rows)?;

    // finishing
    let mut picks = spread(&ctx.space, &front, args.finish);
    let mut challengers = Vec::new();
    // fine-tuned weights of challenger candidates and their accuracy on the whole validation
    // split, reused when they are finished
    let mut tuned: BTreeMap<Vec<usize>, (Net, f64)> = BTreeMap::new();
    let mut trainings = Trainings::new(&args.out);
    if args.finish_baselines {
        // beside the spread, each baseline meets its challenger, chosen among candidates
        // predicted no slower than it, so the comparison is made at (about) equal latency.
        // Candidates and baselines are re-scored on the whole validation split first: the
        // best of many scores on --valid-images is often a lucky one.
        let k = args.challenger_candidates;
        let mut full: BTreeMap<Vec<usize>, f64> = BTreeMap::new();
        let mut full_accuracy = |r: &Record| -> Result<f64> {
            if let Some(a) = full.get(&r.genome) {
                return Ok(*a);
            }
            let a = ctx.full_accuracy(r)?;
            full.insert(r.genome.clone(), a);
            Ok(a)
        };
        for (name, _, b) in &base_rows {
            // without fine-tuning the candidates cannot be told apart beyond their scores: the
            // front alone is the pool
            let k_pool = if args.finetune_steps > 0 { k } else { 1 };
            let pool =
                challenger_pool(&ctx.space, &front, &feasible, b, k_pool, args.challenger_band, args.challenger_rank);
            let mut scored: Vec<(Record, f64)> =
                pool.into_iter().map(|r| Ok((r.clone(), full_accuracy(r)?))).collect::<Result<_>>()?;
            best_first(&mut scored);
            if args.challenger_rank != ChallengerRank::Score {
                // stable: equal sizes keep the score order
                scored.sort_by_key(|(r, _)| std::cmp::Reverse(args.challenger_rank.size(r)));
            }
            scored.truncate(k);
            // several candidates: each fine-tuned as a winner is, the best on validation wins
            let mut candidates = Vec::new();
            if scored.len() > 1 && args.finetune_steps > 0 {
                let pb = bar(scored.len() as u64, quiet, &format!("challengers of {name}"));
                let mut fts = Vec::new();
                for (r, acc) in &scored {
                    let ft = fine_tune(&ctx, r, &mut tuned, &mut trainings)?;
                    candidates.push(serde_json::json!({"genome": r.genome, "latency_ms": r.latency_ms, "valid_accuracy": acc, "finetuned_valid_accuracy": ft}));
                    fts.push(ft);
                    pb.inc(1);
                }
                pb.finish_and_clear();
                // the best after fine-tuning goes first (ties: the faster, then the earlier)
                let lat = |i: usize| scored[i].0.latency_ms[0];
                let best = (0..fts.len())
                    .min_by(|&a, &b| fts[b].total_cmp(&fts[a]).then(lat(a).total_cmp(&lat(b))))
                    .expect("several candidates");
                scored.swap(0, best);
            }
            // the baseline fine-tuned the same way, for the comparison on validation
            let baseline_ft = match candidates.is_empty() {
                true => None,
                false => Some(fine_tune(&ctx, b, &mut tuned, &mut trainings)?),
            };
            let c = scored.first();
            challengers.push(serde_json::json!({
                "baseline": name,
                "baseline_valid_accuracy": full_accuracy(b)?,
                "baseline_finetuned_valid_accuracy": baseline_ft,
                "challenger": c.map(|(r, acc)| serde_json::json!({
                    "genome": r.genome,
                    "latency_ms": r.latency_ms,
                    "valid_accuracy": acc,
                    "finetuned_valid_accuracy": tuned.get(&r.genome).map(|(_, a)| *a),
                })),
                "candidates": candidates,
            }));
            if let Some((c, _)) = c {
                if !picks.iter().any(|p| network(&ctx.space, p) == network(&ctx.space, c)) {
                    picks.push(c.clone());
                }
            }
        }
        picks.sort_by(|a, b| a.latency_ms[0].total_cmp(&b.latency_ms[0]));
    }
    let winners: Vec<(String, Record)> =
        picks.into_iter().enumerate().map(|(i, r)| (format!("model-{i}-{:.0}us", r.latency_ms[0] * 1e3), r)).collect();
    // winners and (when asked) baselines go through one finishing, so they are measured in the
    // same interleaved passes
    let mut items = winners.clone();
    if args.finish_baselines {
        items.extend(base_rows.iter().map(|(n, _, r)| (format!("baseline-{n}"), r.clone())));
    }
    let mut finished = finish(&ctx, &items, &tuned, &mut trainings, quiet)?;
    let baselines_finished = finished.split_off(winners.len());
    let dominance: Vec<Dominance> = baselines_finished.iter().map(|b| Dominance::of(b, &finished)).collect();

    let recommended: Vec<&str> =
        finished.iter().chain(&baselines_finished).filter(|f| f.recommended).map(|f| f.name.as_str()).collect();

    // summary
    let headers = [
        "model",
        "front",
        "acc search",
        "acc valid",
        "acc Burn",
        "acc tract",
        "pred ms",
        "meas ms",
        "flash",
        "SRAM",
        "params",
    ];
    let rows: Vec<Vec<String>> = finished
        .iter()
        .chain(&baselines_finished)
        .map(|f| {
            vec![
                f.name.clone(),
                if f.recommended { "*" } else { "" }.to_string(),
                format!("{:.2} %", 100.0 * f.search_accuracy),
                format!("{:.2} %", 100.0 * f.valid_accuracy),
                format!("{:.2} %", 100.0 * f.test_accuracy_burn),
                format!("{:.2} %", 100.0 * f.test_accuracy_tract),
                format!("{:.3}", f.predicted_ms),
                format!("{:.3}", f.measured_ms),
                crate::util::human_bytes(f.flash_bytes),
                crate::util::human_bytes(f.sram_bytes),
                f.params.to_string(),
            ]
        })
        .collect();
    let base_summary: Vec<serde_json::Value> = base_rows
        .iter()
        .map(|(n, _, r)| serde_json::json!({"name": n, "accuracy": r.accuracy, "latency_ms": r.latency_ms, "feasible": r.feasible}))
        .collect();
    let summary = serde_json::json!({
        "out": args.out,
        "evaluations": records.len(),
        "evaluations_budget": evals_total,
        "feasible": feasible.len(),
        "front": front.len(),
        "hypervolume": hv,
        "hypervolume_reference": hv_ref,
        "baselines": base_summary,
        "finished": finished,
        "baselines_finished": baselines_finished,
        "challengers": challengers,
        "baselines_dominated": dominance.iter().map(Dominance::to_json).collect::<Vec<_>>(),
        "recommended": recommended,
        "finishing_trainings": {"trained": trainings.trained, "reused": trainings.reused},
        "seconds": total_started.elapsed().as_secs_f64(),
    });
    write_json(&args.out.join("summary.json"), &summary)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary).expect("serializable"));
    } else {
        println!(
            "searched {} architectures ({} feasible), Pareto front of {}, hypervolume {hv:.4}",
            records.len(),
            feasible.len(),
            front.len()
        );
        for (n, _, r) in &base_rows {
            println!(
                "baseline {n}: accuracy {:.2} %, predicted {:.3} ms{}",
                100.0 * r.accuracy,
                r.latency_ms[0],
                if r.feasible { "" } else { " (over budget)" }
            );
        }
        if rows.is_empty() {
            println!("no model finished (--finish 0): the front is in {}", args.out.join("pareto.json").display());
        } else {
            println!("{}", edgenas_report::table(&headers, &rows));
        }
        for d in &dominance {
            println!("{}", d.line());
        }
        if !recommended.is_empty() {
            println!(
                "front of the finished models (*: none is more accurate on validation and as fast, measured): {}",
                recommended.join(", ")
            );
        }
        if trainings.reused > 0 {
            println!(
                "finishing: {} trainings read back from {} (an earlier run's), {} trained now",
                trainings.reused,
                trainings.dir.display(),
                trainings.trained
            );
        }
        println!("outputs in {} (pareto.json, pareto.svg/png, models/, journal.jsonl)", args.out.display());
    }
    Ok(summary)
}

fn write_plot(
    args: &SearchArgs,
    records: &[Record],
    front: &[Record],
    baselines: &[(String, Architecture, Record)],
) -> Result<()> {
    use edgenas_report::{PlotPoint, PlotSpec, Series, SeriesStyle};
    let pt = |r: &Record, label: Option<String>| PlotPoint { x: r.latency_ms[0], y: 100.0 * (1.0 - r.accuracy), label };
    let spec = PlotSpec {
        title: format!("edgenas: validation error vs latency ({})", args.profiles[0].display()),
        x_label: "predicted latency (ms)".into(),
        y_label: "validation error (%)".into(),
        x_log: false,
        series: vec![
            Series {
                name: "evaluated".into(),
                points: records.iter().map(|r| pt(r, None)).collect(),
                style: SeriesStyle::Cloud,
            },
            Series {
                name: "Pareto front".into(),
                points: front.iter().map(|r| pt(r, None)).collect(),
                style: SeriesStyle::Front,
            },
            Series {
                name: "hand-designed baselines".into(),
                points: baselines.iter().map(|(n, _, r)| pt(r, Some(n.clone()))).collect(),
                style: SeriesStyle::Baseline,
            },
        ],
    };
    edgenas_report::write_plot(&spec, &args.out.join("pareto.svg"), &args.out.join("pareto.png"))?;
    Ok(())
}

/// Weights of a winner: inherited from the supernet (fine-tuned for `steps` when above 0) or
/// trained (proxy evaluation, for at least the proxy's steps, or `--finish-from scratch`), with
/// `seed`; with the accuracy on `valid` after training (`None` for inherited weights used as
/// they are).
fn winner_net(ctx: &Ctx, arch: &Architecture, valid: &Dataset, steps: usize, seed: u64) -> Result<(Net, Option<f64>)> {
    let args = ctx.args;
    let from_scratch = |steps: usize| -> Result<(Net, Option<f64>)> {
        let cfg = TrainConfig { steps: Some(steps), seed, ..TrainConfig::default() };
        let (net, metrics) = train(arch, &ctx.splits.train, valid, &cfg, &mut |_| {})?;
        Ok((net, Some(metrics.valid_accuracy)))
    };
    match &ctx.scorer {
        _ if args.finish_from == FinishFrom::Scratch => from_scratch(steps),
        Scorer::Supernet { net, calib } => {
            let (net, metrics) =
                net.fine_tune(arch, calib, args.calib_batches, &ctx.splits.train, valid, steps, seed)?;
            Ok((net, metrics.map(|m| m.valid_accuracy)))
        }
        Scorer::Proxy { steps: proxy } => from_scratch(steps.max(*proxy)),
    }
}

/// Steps a search's finished models train for, as `winner_net` counts them: `--finish-steps`
/// (default `--finetune-steps`), at least `--proxy-steps` when proxy scoring trains them from
/// scratch; 0 means they kept the supernet's weights as they are.
pub(crate) fn finished_steps(args: &SearchArgs) -> usize {
    let steps = args.finish_steps.unwrap_or(args.finetune_steps);
    match (args.finish_from, args.eval) {
        (FinishFrom::Supernet, EvalMode::Proxy) => steps.max(args.proxy_steps),
        _ => steps,
    }
}

/// Retrains the finished models of a search under new seeds, as its finishing did (for
/// `edgenas confirm`).
pub(crate) struct Retrainer<'a> {
    ctx: Ctx<'a>,
}

/// One retraining's results.
pub(crate) struct Retrained {
    /// Accuracy on the whole validation split (Burn).
    pub valid_accuracy: f64,
    /// Whether it gets each test image right.
    pub test_hits: Vec<bool>,
}

impl<'a> Retrainer<'a> {
    /// The data, split and (when finishing fine-tuned from it) the supernet of the search that
    /// `args` (its `config.json`) describes; a missing supernet is an error, not trained anew.
    pub(crate) fn new(args: &'a SearchArgs) -> Result<Self> {
        let space = load_space(args.space.as_deref())?;
        if args.eval == EvalMode::Supernet && args.finish_from == FinishFrom::Supernet {
            let dir = args.supernet.clone().unwrap_or_else(|| args.out.join("supernet"));
            ensure!(
                dir.join("supernet.json").exists(),
                "{}: the search's supernet is missing (supernet.json), and its models were fine-tuned from it; \
                 pass --supernet DIR where it is now",
                dir.display()
            );
        }
        Ok(Retrainer { ctx: Ctx::new(args, &space, Vec::new())? })
    }

    /// Steps each finished model was trained or fine-tuned for.
    pub(crate) fn steps(&self) -> usize {
        finished_steps(self.ctx.args)
    }

    /// `arch` trained (or fine-tuned) as the search finished its models, with `seed`.
    pub(crate) fn retrain(&self, arch: &Architecture, seed: u64) -> Result<Retrained> {
        let ctx = &self.ctx;
        let net = winner_net(ctx, arch, &ctx.valid, self.steps(), seed)?.0;
        let base = device(seed);
        let (valid, test) = (&ctx.splits.valid, &ctx.splits.test);
        let valid_accuracy = top1(&predict(&net, valid, &base), &valid.labels, valid.classes);
        let test_hits = hits(&predict(&net, test, &base), &test.labels, test.classes);
        Ok(Retrained { valid_accuracy, test_hits })
    }
}

/// One finishing training as kept in `<out>/finishing/`: what it was (the key) and the
/// validation accuracy its training reported.
#[derive(Clone, Serialize, Deserialize, PartialEq)]
struct KeptTraining {
    genome: Vec<usize>,
    steps: usize,
    seed: u64,
    finish_from: FinishFrom,
    valid_accuracy: Option<f64>,
}

/// The finishing's trainings (winners, baselines, challenger candidates), each kept in
/// `<out>/finishing/` as it ends (weights and a JSON sidecar, both written atomically), so a
/// resumed search trains none of them twice.
struct Trainings {
    dir: PathBuf,
    /// Trained in this run.
    trained: usize,
    /// Read back from an earlier, interrupted run.
    reused: usize,
    /// Trained or read back in this run (a network finished twice, as a winner and as a
    /// baseline, counts once).
    this_run: std::collections::HashSet<String>,
}

impl Trainings {
    fn new(out: &Path) -> Self {
        Trainings { dir: out.join("finishing"), trained: 0, reused: 0, this_run: Default::default() }
    }

    /// `genome` (`arch`) trained or fine-tuned for `steps` with the search's seed, as
    /// `winner_net` does, and the validation accuracy (whole split) its training reported.
    fn net(&mut self, ctx: &Ctx, genome: &[usize], arch: &Architecture, steps: usize) -> Result<(Net, Option<f64>)> {
        let seed = ctx.args.seed;
        let trains = steps > 0 || ctx.args.finish_from == FinishFrom::Scratch || ctx.args.eval == EvalMode::Proxy;
        if !trains {
            // the supernet's weights as they are, batch-norm recalibrated: nothing worth keeping
            return winner_net(ctx, arch, &ctx.splits.valid, steps, seed);
        }
        let mut kept = KeptTraining {
            genome: genome.to_vec(),
            steps,
            seed,
            finish_from: ctx.args.finish_from,
            valid_accuracy: None,
        };
        let stem = fnv1a(&serde_json::to_vec(&kept).expect("serializable"));
        let (json, weights) = (self.dir.join(format!("{stem}.json")), self.dir.join(format!("{stem}.bpk")));
        let earlier = std::fs::read_to_string(&json).ok().and_then(|t| serde_json::from_str::<KeptTraining>(&t).ok());
        if let Some(k) = earlier.filter(|k| KeptTraining { valid_accuracy: None, ..k.clone() } == kept) {
            match load_weights(arch, &weights, &device(seed)) {
                Ok(net) => {
                    if self.this_run.insert(stem) {
                        self.reused += 1;
                    }
                    return Ok((net, k.valid_accuracy));
                }
                Err(e) => eprintln!("warning: {}: {e}; training it again", weights.display()),
            }
        }
        let (net, valid) = winner_net(ctx, arch, &ctx.splits.valid, steps, seed)?;
        std::fs::create_dir_all(&self.dir).with_context(|| format!("cannot create {}", self.dir.display()))?;
        save_weights(&weights, &net)?;
        kept.valid_accuracy = valid;
        write_json(&json, &kept)?;
        self.trained += 1;
        self.this_run.insert(stem);
        // test hook: stop as if killed after this many finishing trainings
        if let Ok(n) = std::env::var("EDGENAS_TEST_ABORT_AFTER_TRAININGS") {
            if n.parse::<usize>().ok() == Some(self.trained) {
                bail!("aborted after {n} finishing trainings (EDGENAS_TEST_ABORT_AFTER_TRAININGS)");
            }
        }
        Ok((net, valid))
    }
}

/// `r` fine-tuned as a winner is (once per genome): its weights and their accuracy on the whole
/// validation split go to `tuned` for finishing; returns the accuracy.
fn fine_tune(
    ctx: &Ctx,
    r: &Record,
    tuned: &mut BTreeMap<Vec<usize>, (Net, f64)>,
    trainings: &mut Trainings,
) -> Result<f64> {
    if let Some((_, a)) = tuned.get(&r.genome) {
        return Ok(*a);
    }
    let arch = ctx.space.decode(&Genome(r.genome.clone()))?;
    let (net, valid) = trainings.net(ctx, &r.genome, &arch, ctx.args.finetune_steps)?;
    let a = valid.unwrap_or(r.accuracy);
    tuned.insert(r.genome.clone(), (net, a));
    Ok(a)
}

/// Weights, export, tract check and device measurement of each named record; weights already
/// fine-tuned for a genome (`tuned`) are used as they are unless `--finish-steps` asks for
/// another number of steps.
fn finish(
    ctx: &Ctx,
    winners: &[(String, Record)],
    tuned: &BTreeMap<Vec<usize>, (Net, f64)>,
    trainings: &mut Trainings,
    quiet: bool,
) -> Result<Vec<Finished>> {
    let args = ctx.args;
    let models_dir = args.out.join("models");
    std::fs::create_dir_all(&models_dir).with_context(|| format!("cannot create {}", models_dir.display()))?;
    let dev_cfg = match &args.device {
        Some(p) => DeviceConfig::from_file(p)?,
        None => {
            let name = &ctx.profiles[0].provenance.device;
            let p = PathBuf::from(format!("devices/{name}.toml"));
            if p.exists() {
                DeviceConfig::from_file(&p)?
            } else if name == "local" {
                DeviceConfig::local()
            } else {
                bail!("{}: no such device description for profile device {name:?}; pass --device", p.display())
            }
        }
    };
    let mut client = dev_cfg.client();
    let profile_bytes =
        std::fs::read(&args.profiles[0]).with_context(|| format!("cannot read {}", args.profiles[0].display()))?;
    let profile_hash = fnv1a(&profile_bytes);
    let test = &ctx.splits.test;
    let base = device(args.seed);
    let steps = args.finish_steps.unwrap_or(args.finetune_steps);
    // 1. weights, export and the tract check of every model
    struct Exported {
        arch: Architecture,
        bytes: Vec<u8>,
        valid_acc: f64,
        hits: Vec<bool>,
        acc_tract: f64,
        max_diff: f32,
    }
    let pb = bar(winners.len() as u64, quiet, "finishing");
    let mut exported = Vec::new();
    for (name, r) in winners {
        let arch = ctx.space.decode(&Genome(r.genome.clone()))?;
        // weights fine-tuned for a challenger come with their accuracy on the whole validation
        // split (fine_tune runs only with steps > 0); other weights are measured here
        let (net, valid_acc) = match tuned.get(&r.genome) {
            Some((net, acc)) if steps == args.finetune_steps && steps > 0 => (net.clone(), *acc),
            _ => {
                let net = trainings.net(ctx, &r.genome, &arch, steps)?.0;
                let valid = &ctx.splits.valid;
                let acc = top1(&predict(&net, valid, &base), &valid.labels, valid.classes);
                (net, acc)
            }
        };
        let burn_logits = predict(&net, test, &base);
        let hits = hits(&burn_logits, &test.labels, test.classes);
        let weights = net.named_weights(&arch);
        let bytes = to_bytes(&export_architecture(&arch, &weights)?);
        let tract = TractModel::from_bytes(&bytes)?;
        let tract_logits = tract.run_many(&test.images)?;
        let checked = 256.min(test.len()) * test.classes;
        let max_diff = burn_logits[..checked]
            .iter()
            .zip(&tract_logits[..checked])
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        let acc_tract = top1(&tract_logits, &test.labels, test.classes);
        ensure!(
            max_diff <= MAX_ABS_DIFF,
            "{name}: tract does not reproduce Burn (max abs logit difference {max_diff:.2e} on 256 test images, allowed {MAX_ABS_DIFF:.0e})"
        );
        exported.push(Exported { arch, bytes, valid_acc, hits, acc_tract, max_diff });
        pb.inc(1);
    }
    pb.finish_and_clear();
    // 2. measured on the device as the profile was: interleaved passes over all models, each
    // keeping its fastest pass (a single pass on a shared machine can read 2x slow)
    let mut opts = edgenas_device::profiler::ProfileOptions::for_device(&dev_cfg);
    opts.runs = opts.runs.max(args.measure_runs);
    let models: Vec<Vec<u8>> = exported.iter().map(|e| e.bytes.clone()).collect();
    let timings = if models.is_empty() {
        Vec::new()
    } else {
        edgenas_device::profiler::measure_models(&mut client, &models, &opts, &mut |_| {})
            .with_context(|| format!("measuring the finished models on {}", dev_cfg.name))?
    };
    // 3. the front of the finished models: validation accuracy (max) against measured latency (min)
    let points: Vec<[f64; 2]> = exported.iter().zip(&timings).map(|(e, t)| [-e.valid_acc, t.median_ns]).collect();
    let front = edgenas_search::non_dominated(&points);
    // 4. files and model cards
    let mut out = Vec::new();
    for (i, (((name, r), e), t)) in winners.iter().zip(exported).zip(timings).enumerate() {
        let path = models_dir.join(format!("{name}.onnx"));
        edgenas_space::io::write_atomic(&path, &e.bytes).with_context(|| format!("cannot write {}", path.display()))?;
        let f = Finished {
            name: name.clone(),
            model: path.clone(),
            search_accuracy: r.accuracy,
            valid_accuracy: e.valid_acc,
            recommended: front.contains(&i),
            test_accuracy_burn: accuracy(&e.hits),
            test_accuracy_tract: e.acc_tract,
            max_abs_diff: e.max_diff,
            predicted_ms: r.latency_ms[0],
            measured_ms: t.median_ns / 1e6,
            measured_p10_ms: t.p10_ns / 1e6,
            flash_bytes: r.flash_bytes,
            sram_bytes: r.sram_bytes,
            params: r.params,
            test_hits: e.hits,
        };
        let card = serde_json::json!({
            "model": path.file_name().map(|n| n.to_string_lossy().into_owned()),
            "genome": r.genome,
            "architecture": e.arch,
            "metrics": f,
            "measurement": {"warmup": opts.warmup, "runs": opts.runs, "passes": opts.passes, "timing": t},
            "record": r,
            "device": dev_cfg.name,
            "profile": args.profiles[0],
            "profile_hash": profile_hash,
            "seed": args.seed,
            "split_seed": args.split_seed.unwrap_or(args.seed),
            "eval": args.eval,
            "finetune_steps": steps,
            "finish_from": args.finish_from,
            "data": args.data,
        });
        write_json(&models_dir.join(format!("{name}.json")), &card)?;
        out.push(f);
    }
    Ok(out)
}

/// `edgenas search`.
#[derive(Args)]
pub struct SearchCmd {
    #[command(flatten)]
    args: SearchArgs,
}

impl SearchCmd {
    pub fn run(self) -> Result<()> {
        search(&self.args).map(|_| ())
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
    fn finished_steps_count_as_the_finishing_trains() {
        let steps = |flags: &[&str]| finished_steps(&search_args(flags));
        assert_eq!(steps(&[]), 0, "supernet weights as they are");
        assert_eq!(steps(&["--finetune-steps", "30"]), 30);
        assert_eq!(steps(&["--finetune-steps", "30", "--finish-steps", "90"]), 90);
        assert_eq!(steps(&["--eval", "proxy"]), 100, "proxy scoring trains them for its steps");
        assert_eq!(steps(&["--eval", "proxy", "--finetune-steps", "300"]), 300);
        assert_eq!(steps(&["--eval", "proxy", "--finish-from", "scratch", "--finetune-steps", "40"]), 40);
    }

    #[test]
    fn baselines_are_uniform_k3e6_at_the_declared_or_extreme_widths() {
        let plain = SearchSpace::default_space();
        let b = baselines(&plain);
        let widths =
            |a: &Architecture| (a.stem.width, a.stages.iter().map(|s| s.width).collect::<Vec<_>>(), a.head.width);
        assert_eq!(widths(&b[0].1), (8, vec![8, 16, 32, 64], 128));
        assert_eq!(widths(&b[1].1), (8, vec![8, 24, 48, 96], 256));
        assert_eq!(widths(&b[2].1), (16, vec![16, 32, 64, 128], 512));
        for (_, a) in &b {
            assert_eq!(a.stages.iter().map(|s| s.blocks.len()).collect::<Vec<_>>(), [1, 2, 2, 2]);
            assert!(a.stages.iter().flat_map(|s| &s.blocks).all(|k| *k == Block::mbconv(3, 6, false)));
        }
        // The wide ConvNeXt-like space declares the default space's widths: the same three networks.
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let wide = SearchSpace::from_file(&root.join("spaces/convnext-wide.toml")).unwrap();
        let bw = baselines(&wide);
        assert_eq!(bw, b);
        // ... and they are members of it.
        for (_, a) in &bw {
            wide.encode(a).unwrap();
        }
    }

    #[test]
    fn uniform_networks_are_the_baseline_shape_at_the_largest_widths_in_every_block_variant() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let wide = SearchSpace::from_file(&root.join("spaces/convnext-wide.toml")).unwrap();
        let u = uniform_networks(&wide);
        let names: Vec<&str> = u.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            ["mbconv-k3e6-largest", "mbconv-k3e6-se-largest", "convnext-k3e6-largest", "convnext-k3e6-se-largest"]
        );
        let variants: Vec<Block> = u.iter().map(|(_, a)| a.stages[0].blocks[0]).collect();
        for (kind, se) in [
            (BlockKind::Mbconv, false),
            (BlockKind::Mbconv, true),
            (BlockKind::Convnext, false),
            (BlockKind::Convnext, true),
        ] {
            assert!(variants.contains(&Block { kind, kernel: 3, expansion: 6, se }), "{kind:?} se {se} missing");
        }
        for (name, a) in &u {
            // the largest width of every section, beyond the declared baseline widths
            assert_eq!((a.stem.width, a.head.width), (24, 512), "{name}");
            assert_eq!(a.stages.iter().map(|s| s.width).collect::<Vec<_>>(), [24, 48, 96, 192], "{name}");
            // the baselines' depths, every block the same
            assert_eq!(a.stages.iter().map(|s| s.blocks.len()).collect::<Vec<_>>(), [1, 2, 2, 2], "{name}");
            let first = a.stages[0].blocks[0];
            assert!(a.stages.iter().flat_map(|s| &s.blocks).all(|b| *b == first), "{name}");
            wide.encode(a).unwrap();
        }
        // the default space has one kind: two networks, and its largest widths are the wide baseline's
        let plain = SearchSpace::default_space();
        let u = uniform_networks(&plain);
        assert_eq!(u.len(), 2);
        let no_se = u.iter().find(|(_, a)| !a.stages[0].blocks[0].se).unwrap();
        assert_eq!(no_se.1, baselines(&plain)[2].1);
    }

    #[test]
    fn challenger_pool_ranks_the_band_by_score_parameters_or_work() {
        let space = SearchSpace::default_space();
        let mut archs: Vec<Architecture> = Vec::new();
        let mut seed = 0;
        while archs.len() < 9 {
            let a = space.sample(seed);
            seed += 1;
            if !archs.contains(&a) {
                archs.push(a);
            }
        }
        let rec = |i: usize, accuracy: f64, lat: f64, params: u64| Record {
            genome: space.encode(&archs[i]).unwrap().0,
            generation: 1,
            accuracy,
            latency_ms: vec![lat],
            flash_bytes: 0,
            sram_bytes: 0,
            macs: 0,
            params,
            feasible: true,
            seconds: 0.0,
        };
        let baseline = rec(0, 0.80, 1.0, 100);
        let front = vec![rec(1, 0.90, 0.5, 10), rec(8, 0.95, 1.5, 10)];
        // the band 0.75-1.0 ms: better scores go with fewer parameters
        let mut evaluated: Vec<Record> = (2..7).map(|i| rec(i, 0.90 - 0.01 * i as f64, 0.8, 100 * i as u64)).collect();
        evaluated.push(rec(7, 0.99, 0.7, 10_000)); // faster than the band
        evaluated.push(rec(0, 0.99, 1.0, 100)); // the baseline's own network
        let ev: Vec<&Record> = evaluated.iter().collect();
        let ids = |pool: Vec<&Record>| -> Vec<usize> {
            pool.iter().map(|r| archs.iter().position(|a| space.encode(a).unwrap().0 == r.genome).unwrap()).collect()
        };
        let pool = |k, rank| ids(challenger_pool(&space, &front, &ev, &baseline, k, 0.75, rank));
        // the front point no slower comes first; then the 2k best of the band
        assert_eq!(pool(2, ChallengerRank::Score), vec![1, 2, 3, 4, 5]);
        assert_eq!(pool(2, ChallengerRank::Params), vec![1, 6, 5, 4, 3]);
        // by work: the band's multiply-accumulates in an order of their own
        for (r, macs) in evaluated.iter_mut().zip([50, 400, 100, 300, 200]) {
            r.macs = macs;
        }
        let ev: Vec<&Record> = evaluated.iter().collect();
        let pool = |k, rank| ids(challenger_pool(&space, &front, &ev, &baseline, k, 0.75, rank));
        assert_eq!(pool(2, ChallengerRank::Macs), vec![1, 3, 5, 6, 4]);
        // one candidate: the front alone
        assert_eq!(pool(1, ChallengerRank::Params), vec![1]);
    }

    #[test]
    fn the_finished_spread_holds_each_network_once() {
        let space = SearchSpace::default_space();
        let rec = |genome: Vec<usize>, lat: f64| Record {
            genome,
            generation: 1,
            accuracy: 0.9,
            latency_ms: vec![lat],
            flash_bytes: 0,
            sram_bytes: 0,
            macs: 0,
            params: 0,
            feasible: true,
            seconds: 0.0,
        };
        // a network with a stage below its largest depth, and a genome that differs from its
        // encoding only in a gene of an unused block
        let arch = (0..).map(|s| space.sample(s)).find(|a| a.stages.iter().any(|s| s.blocks.len() == 1)).unwrap();
        let g = space.encode(&arch).unwrap().0;
        let twin = (0..g.len())
            .flat_map(|i| (0..4).map(move |v| (i, v)))
            .map(|(i, v)| {
                let mut t = g.clone();
                t[i] = v;
                t
            })
            .find(|t| *t != g && space.decode(&Genome(t.clone())).ok().as_ref() == Some(&arch))
            .expect("a gene of an unused block");
        let other = (0..).map(|s| space.sample(s)).find(|a| *a != arch).unwrap();
        let front = vec![rec(g.clone(), 0.3), rec(twin, 0.3), rec(space.encode(&other).unwrap().0, 0.5)];
        let picked = spread(&space, &front, 3);
        assert_eq!(picked.len(), 2, "the twin genome is the same network");
        assert_eq!(picked[0].genome, g);
        assert_eq!(space.decode(&Genome(picked[1].genome.clone())).unwrap(), other);
    }

    fn dominance(by: &[&str], only_winner: usize, only_baseline: usize) -> Dominance {
        let mut a = vec![true; 1000];
        let mut b = vec![true; 1000];
        a[..only_baseline].iter_mut().for_each(|h| *h = false);
        b[only_baseline..only_baseline + only_winner].iter_mut().for_each(|h| *h = false);
        let by: Vec<String> = by.iter().map(|s| s.to_string()).collect();
        Dominance {
            baseline: "k3e6-narrow".into(),
            by: by.clone(),
            spread_ms: 0.002,
            by_within_spread: by,
            best: Some(("model-1".into(), edgenas_report::compare(&a, &b))),
        }
    }

    #[test]
    fn verdicts_tell_noise_from_a_real_gap_either_way() {
        let d = dominance(&["model-1"], 30, 5);
        assert_eq!(d.verdict(), Verdict::WinnerBetter);
        assert!(
            d.line().contains("dominated on the test set by model-1") && d.line().contains("+2.50 points"),
            "{}",
            d.line()
        );
        let d = dominance(&["model-1"], 12, 10);
        assert_eq!(d.verdict(), Verdict::WithinNoise);
        assert!(d.line().contains("within the test set's noise"), "{}", d.line());
        let d = dominance(&[], 5, 30);
        assert_eq!(d.verdict(), Verdict::BaselineBetter);
        assert!(
            d.line().starts_with("k3e6-narrow: not dominated on the test set")
                && d.line().contains("the baseline is significantly")
        );
        let j = d.to_json();
        assert_eq!((j["dominated"].as_bool(), j["best"]["significant"].as_bool()), (Some(false), Some(true)));
        assert_eq!(j["best"]["only_baseline_right"], 30);
        assert_eq!(j["verdict"], "baseline_significantly_better");
        let none = Dominance {
            baseline: "k3e6-wide".into(),
            by: vec![],
            spread_ms: 0.0,
            by_within_spread: vec![],
            best: None,
        };
        assert_eq!(none.verdict(), Verdict::NoFasterWinner);
        assert!(none.to_json()["best"].is_null() && none.line().contains("no finished winner is as fast"));
    }

    /// A finished model for the dominance tests: right on the first `right` of 1,000 images.
    fn finished(name: &str, right: usize, ms: f64, p10_ms: f64) -> Finished {
        let hits: Vec<bool> = (0..1000).map(|i| i < right).collect();
        Finished {
            name: name.into(),
            model: PathBuf::from(format!("{name}.onnx")),
            search_accuracy: 0.0,
            valid_accuracy: accuracy(&hits),
            recommended: false,
            test_accuracy_burn: accuracy(&hits),
            test_accuracy_tract: accuracy(&hits),
            max_abs_diff: 0.0,
            predicted_ms: ms,
            measured_ms: ms,
            measured_p10_ms: p10_ms,
            flash_bytes: 0,
            sram_bytes: 0,
            params: 0,
            test_hits: hits,
        }
    }

    #[test]
    fn equal_latency_allows_the_baselines_run_to_run_spread_but_strict_dominance_does_not() {
        // the baseline: 0.400 ms median, 0.396 ms p10 -> 4 us spread
        let base = finished("baseline-k3e6-wide", 880, 0.400, 0.396);
        let winners = [
            finished("model-0-200us", 870, 0.200, 0.199), // faster, less accurate
            finished("model-1-399us", 880, 0.399, 0.398), // faster, as accurate
            finished("model-2-402us", 890, 0.402, 0.401), // 2 us slower, more accurate
            finished("model-3-410us", 900, 0.410, 0.409), // 10 us slower: beyond the spread
        ];
        let d = Dominance::of(&base, &winners);
        assert_eq!(d.by, ["model-1-399us"]);
        assert_eq!(d.by_within_spread, ["model-1-399us", "model-2-402us"]);
        assert!((d.spread_ms - 0.004).abs() < 1e-12);
        // the verdict compares the most accurate strictly faster model
        assert_eq!(d.best.as_ref().map(|(n, _)| n.as_str()), Some("model-1-399us"));
        assert_eq!(d.verdict(), Verdict::WithinNoise);
        // only the within-spread model is as accurate: not dominated, and the line says why
        let d = Dominance::of(&base, &winners[2..3]);
        assert!(d.by.is_empty() && d.best.is_none());
        let j = d.to_json();
        assert_eq!((j["dominated"].as_bool(), j["dominated_within_spread"].as_bool()), (Some(false), Some(true)));
        assert!(d.line().contains("within its 4.0 us run-to-run spread, by model-2-402us"), "{}", d.line());
    }

    #[test]
    fn the_verdict_compares_the_winner_picked_on_validation_not_on_test() {
        let base = finished("baseline-k3e6-mid", 870, 0.250, 0.249);
        // the luckier one on test is the worse one on validation
        let lucky = finished("model-0-200us", 900, 0.200, 0.199);
        let picked = Finished { valid_accuracy: 0.95, ..finished("model-1-240us", 880, 0.240, 0.239) };
        let d = Dominance::of(&base, &[lucky, picked.clone()]);
        assert_eq!(d.by, ["model-0-200us", "model-1-240us"]);
        let (name, p) = d.best.as_ref().unwrap();
        assert_eq!(name, "model-1-240us");
        assert!((p.difference - 0.010).abs() < 1e-12, "the gap is measured on test: {}", p.difference);
        // equal on validation: the more accurate on test, then the faster
        let twin = Finished { valid_accuracy: 0.95, ..finished("model-2-230us", 880, 0.230, 0.229) };
        let d = Dominance::of(&base, &[picked, twin]);
        assert_eq!(d.best.as_ref().map(|(n, _)| n.as_str()), Some("model-2-230us"));
    }
}
