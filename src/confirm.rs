//! `edgenas confirm`: is a finished search's lead over its hand-designed baselines real, or
//! training noise? Each baseline and the winner its verdict names (the pair that
//! `summary.json`'s `baselines_dominated` compares) are retrained the way the search finished
//! them, under new seeds, and compared again on the test set. The search's own comparison rests
//! on one training of each, and its winner is the best of several trainings, so its lead is
//! flattered by the pick; new trainings are not.
//!
//! Outputs in the search's folder: `confirm.jsonl` (one line per training, so an interrupted
//! confirm resumes) and `confirm.json`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, ensure, Context, Result};
use clap::Args;
use edgenas_space::Architecture;
use serde::{Deserialize, Serialize};

use edgenas_nas::driver::InOrder;
use edgenas_nas::finish::{finished_steps, Retrained, Retrainer};
use edgenas_nas::{RunDir, SearchConfig};
use edgenas_store::{Header, Journal};

use crate::executor::ExecutorArgs;
use crate::progress::{bar, CliObserver};

/// `edgenas confirm`.
#[derive(Args)]
pub struct ConfirmCmd {
    /// A finished search's output folder (its `--out`, run with `--finish-baselines`).
    run: PathBuf,
    /// New trainings of each compared baseline and winner (1-999), with seeds 1,000,000 + 1,000
    /// x the search's seed + 1, 2, ...: apart from the seeds of searches run with seeds below
    /// 1,000,000, and from each other's.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..1000))]
    repeats: u16,
    /// Confirm only the comparison with this baseline (`k3e6-wide` or `baseline-k3e6-wide`);
    /// repeat for several (default: every compared baseline).
    #[arg(long = "baseline")]
    baselines: Vec<String>,
    /// Training (or fine-tuning) steps of each new training, instead of the search's
    /// finishing steps: does the lead hold with longer training? (The search's own gap, shown
    /// beside, stays at its steps.)
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    steps: Option<u32>,
    /// The dataset folder, when it has moved since the search (default: the search's `--data`).
    #[arg(long)]
    data: Option<PathBuf>,
    /// The search space file, when it has moved since the search (default: the search's
    /// `--space`).
    #[arg(long)]
    space: Option<PathBuf>,
    /// The supernet folder the finished models were fine-tuned from, when it has moved (default:
    /// the search's `--supernet`, or `supernet/` in RUN).
    #[arg(long)]
    supernet: Option<PathBuf>,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
    /// Machine-readable JSON (`confirm.json`) on stdout.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    executor: ExecutorArgs,
}

/// The seed of the `k`-th new training (k from 1) for a search run with `seed`.
pub fn confirm_seed(seed: u64, k: u16) -> u64 {
    1_000_000u64.wrapping_add(seed.wrapping_mul(1_000)).wrapping_add(k as u64)
}

/// One training of one model (a line of `confirm.jsonl`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct Training {
    model: String,
    seed: u64,
    steps: usize,
    /// The dataset folder it trained and was tested on.
    data: PathBuf,
    valid_accuracy: f64,
    test_accuracy: f64,
    /// Which test images it gets right, as '1' and '0'.
    test_hits: String,
}

impl Training {
    fn hits(&self) -> Vec<bool> {
        self.test_hits.bytes().map(|b| b == b'1').collect()
    }
}

/// A baseline and the winner it was compared with, read from `summary.json`.
struct Pair {
    baseline: String,
    model: String,
    baseline_ms: f64,
    model_ms: f64,
    /// The search's own gap (model minus baseline, test accuracy; a fraction).
    run_gap: f64,
}

/// Mean and sample standard deviation (0 for one value).
fn mean_sd(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    let sd = if v.len() > 1 { (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt() } else { 0.0 };
    (mean, sd)
}

/// What the new trainings say of one pair.
fn reading(gaps: &[f64]) -> &'static str {
    if gaps.iter().all(|g| *g > 0.0) {
        "model_ahead_every_time"
    } else if gaps.iter().all(|g| *g < 0.0) {
        "baseline_ahead_every_time"
    } else {
        "mixed"
    }
}

fn read_json(path: &Path, what: &str) -> Result<serde_json::Value> {
    let text = std::fs::read_to_string(path).with_context(|| format!("{}: cannot read {what}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{}: not valid JSON", path.display()))
}

/// The compared pairs of a search's `summary.json`.
fn pairs(summary: &serde_json::Value, path: &Path) -> Result<(Vec<Pair>, Vec<String>)> {
    let dominated = summary["baselines_dominated"].as_array().filter(|a| !a.is_empty()).with_context(|| {
        format!(
            "{}: baselines_dominated is empty or missing: the search ran without --finish-baselines, \
             so no baseline was compared",
            path.display()
        )
    })?;
    let measured = |name: &str| -> Result<f64> {
        ["finished", "baselines_finished"]
            .iter()
            .filter_map(|k| summary[*k].as_array())
            .flatten()
            .find(|f| f["name"] == name)
            .and_then(|f| f["measured_ms"].as_f64())
            .with_context(|| {
                format!(
                    "{}: finished[] / baselines_finished[]: expected a model named {name:?} with a number in measured_ms",
                    path.display()
                )
            })
    };
    let (mut out, mut unmatched) = (Vec::new(), Vec::new());
    for (i, d) in dominated.iter().enumerate() {
        let field =
            |name: &str, what: &str| format!("{}: baselines_dominated[{i}].{name}: expected {what}", path.display());
        let baseline = d["baseline"].as_str().with_context(|| field("baseline", "a model name"))?;
        if d["best"].is_null() {
            unmatched.push(baseline.to_string());
            continue;
        }
        let model = d["best"]["model"].as_str().with_context(|| field("best.model", "a model name"))?;
        out.push(Pair {
            baseline: baseline.to_string(),
            model: model.to_string(),
            baseline_ms: measured(baseline)?,
            model_ms: measured(model)?,
            run_gap: d["best"]["accuracy_difference"]
                .as_f64()
                .with_context(|| field("best.accuracy_difference", "a number"))?,
        });
    }
    Ok((out, unmatched))
}

/// What identifies a training in the journal: model, seed, steps and dataset folder.
type Key = (String, u64, usize, PathBuf);

impl Training {
    fn key(&self) -> Key {
        (self.model.clone(), self.seed, self.steps, self.data.clone())
    }
}

/// Schema version of `confirm.jsonl`'s lines.
const JOURNAL_SCHEMA: u32 = 1;

/// `confirm.jsonl` of the run whose saved settings are `config`.
fn journal(path: &Path, config: &SearchConfig) -> Journal<Training> {
    Journal::new(path, Header { journal: "confirm".into(), schema: JOURNAL_SCHEMA, config_hash: config.hash() })
}

/// Trainings already in the journal, by key (a torn last line is dropped with a warning).
fn read_journal(journal: &Journal<Training>) -> Result<BTreeMap<Key, Training>> {
    let loaded = journal.load()?;
    if let Some(w) = loaded.torn {
        eprintln!("warning: {w}");
    }
    Ok(loaded.entries.into_iter().map(|t| (t.key(), t)).collect())
}

/// What a confirm works on: the search's saved settings, those it retrains with (moved inputs
/// and `--steps` applied), the pairs to compare and the baselines without a faster winner.
struct Plan {
    saved: SearchConfig,
    args: SearchConfig,
    pairs: Vec<Pair>,
    unmatched: Vec<String>,
    steps: usize,
}

/// The numbers and the text line of one pair's comparison over the new seeds.
fn compare_pair(
    p: &Pair,
    seeds: &[u64],
    done: &BTreeMap<Key, Training>,
    key: &dyn Fn(&str, u64) -> Key,
    journal_path: &Path,
) -> Result<(serde_json::Value, String)> {
    let get = |name: &str, seed: u64| &done[&key(name, seed)];
    let mut gaps = Vec::new();
    let mut per_seed = Vec::new();
    for &seed in seeds {
        let (m, b) = (get(&p.model, seed), get(&p.baseline, seed));
        ensure!(
            m.test_hits.len() == b.test_hits.len(),
            "{}: {} and {} were tested on {} and {} images (seed {seed}); remove their lines to retrain them",
            journal_path.display(),
            m.model,
            b.model,
            m.test_hits.len(),
            b.test_hits.len()
        );
        let paired = edgenas_report::compare(&m.hits(), &b.hits());
        gaps.push(paired.difference);
        per_seed.push(serde_json::json!({
            "seed": seed,
            "model_test_accuracy": m.test_accuracy,
            "baseline_test_accuracy": b.test_accuracy,
            "model_valid_accuracy": m.valid_accuracy,
            "baseline_valid_accuracy": b.valid_accuracy,
            "gap": paired.difference,
            "p_value": paired.p_value,
            "significant": paired.significant(),
        }));
    }
    let (mean, sd) = mean_sd(&gaps);
    let accs = |name: &str| mean_sd(&seeds.iter().map(|&s| get(name, s).test_accuracy).collect::<Vec<_>>());
    let ((ma, msd), (ba, bsd)) = (accs(&p.model), accs(&p.baseline));
    let ahead = gaps.iter().filter(|g| **g > 0.0).count();
    let significant = per_seed.iter().filter(|t| t["significant"] == true).count();
    let verdict = reading(&gaps);
    let json = serde_json::json!({
        "baseline": p.baseline,
        "model": p.model,
        "baseline_measured_ms": p.baseline_ms,
        "model_measured_ms": p.model_ms,
        "run_gap": p.run_gap,
        "gaps": gaps,
        "mean_gap": mean,
        "sd_gap": sd,
        "model_ahead": ahead,
        "model_test_accuracy": {"mean": ma, "sd": msd},
        "baseline_test_accuracy": {"mean": ba, "sd": bsd},
        "verdict": verdict,
        "trainings": per_seed,
    });
    let pts = |v: &[f64]| v.iter().map(|g| format!("{:+.2}", 100.0 * g)).collect::<Vec<_>>().join(", ");
    let said = match verdict {
        "model_ahead_every_time" => "the winner is ahead every time",
        "baseline_ahead_every_time" => "the baseline is ahead every time",
        _ => "mixed: within training noise",
    };
    let line = format!(
        "{} ({:.3} ms) vs {} ({:.3} ms), gaps in points, winner minus baseline: search {:+.2}; {} new seed{}: {} (mean {:+.2} ± {:.2}; {:.2} % vs {:.2} %; {significant} significant, McNemar): {said}",
        p.model,
        p.model_ms,
        p.baseline,
        p.baseline_ms,
        100.0 * p.run_gap,
        seeds.len(),
        if seeds.len() == 1 { "" } else { "s" },
        pts(&gaps),
        100.0 * mean,
        100.0 * sd,
        100.0 * ma,
        100.0 * ba,
    );
    Ok((json, line))
}

impl ConfirmCmd {
    pub fn run(self) -> Result<()> {
        self.executor.check()?;
        let report = self.confirm()?;
        if self.json {
            println!("{}", serde_json::to_string_pretty(&report).expect("serializable"));
        }
        Ok(())
    }

    /// The pairs of `summary_path` that `--baseline` picks (all without it).
    fn pick(&self, pairs: &mut Vec<Pair>, unmatched: &mut Vec<String>, summary_path: &Path) -> Result<()> {
        if self.baselines.is_empty() {
            return Ok(());
        }
        let known: Vec<String> = pairs.iter().map(|p| p.baseline.clone()).chain(unmatched.iter().cloned()).collect();
        let full = |b: &str| if b.starts_with("baseline-") { b.to_string() } else { format!("baseline-{b}") };
        let wanted: Vec<String> = self.baselines.iter().map(|b| full(b)).collect();
        for (w, given) in wanted.iter().zip(&self.baselines) {
            ensure!(
                known.contains(w),
                "--baseline {given}: {} compares no such baseline; allowed: {}",
                summary_path.display(),
                known.join(", ")
            );
        }
        pairs.retain(|p| wanted.contains(&p.baseline));
        unmatched.retain(|b| wanted.contains(b));
        Ok(())
    }

    /// Read the search's settings and summary, apply the moved inputs and `--steps`, and refuse
    /// what cannot be confirmed.
    fn plan(&self) -> Result<Plan> {
        let run = &self.run;
        let config_path = run.join("config.json");
        let summary_path = run.join("summary.json");
        let config = read_json(&config_path, "the search's settings (is it the --out folder of edgenas search?)")?;
        let saved: SearchConfig = serde_json::from_value(config)
            .with_context(|| format!("{}: not the settings of edgenas search", config_path.display()))?;
        let mut args = saved.clone();
        let summary = read_json(&summary_path, "the search's summary (has the search finished?)")?;
        let (mut pairs, mut unmatched) = pairs(&summary, &summary_path)?;
        self.pick(&mut pairs, &mut unmatched, &summary_path)?;
        // the run may have been moved: its own files (supernet/) are read from where it is now
        args.out = run.clone();
        if let Some(d) = &self.data {
            args.data = d.clone();
        }
        if let Some(p) = &self.space {
            args.space = Some(p.clone());
        }
        if let Some(p) = &self.supernet {
            args.supernet = Some(p.clone());
        }
        if let Some(n) = self.steps {
            (args.finish_steps, args.proxy_steps) = (Some(n as usize), 0);
        }
        ensure!(
            args.data.exists(),
            "{}: data: {} is not there; pass --data DIR where the dataset is now",
            config_path.display(),
            args.data.display()
        );
        if let Some(p) = args.space.as_ref().filter(|p| !p.exists()) {
            bail!("{}: space: {} is not there; pass --space FILE where it is now", config_path.display(), p.display());
        }
        let steps = finished_steps(&args);
        ensure!(
            steps > 0,
            "{}: {} is 0: the finished models kept the supernet's weights as they are, so there is no \
             training to repeat",
            config_path.display(),
            if args.finish_steps.is_some() { "finish_steps" } else { "finetune_steps" }
        );
        Ok(Plan { saved, args, pairs, unmatched, steps })
    }

    /// The trainings of `models` under `seeds`: read back from the journal, the missing ones
    /// retrained now (each journaled as it ends).
    fn trainings(
        &self,
        plan: &Plan,
        models: &[(String, Architecture)],
        seeds: &[u64],
        journal_path: &Path,
    ) -> Result<BTreeMap<Key, Training>> {
        let (run, args, steps) = (&self.run, &plan.args, plan.steps);
        let mut journal = journal(journal_path, &plan.saved);
        let mut done = read_journal(&journal)?;
        let key = |name: &str, seed: u64| -> Key { (name.to_string(), seed, steps, args.data.clone()) };
        let todo: Vec<(&String, &Architecture, u64)> = models
            .iter()
            .flat_map(|(n, a)| seeds.iter().map(move |&s| (n, a, s)))
            .filter(|(n, _, s)| !done.contains_key(&key(n, *s)))
            .collect();
        if !todo.is_empty() {
            // the supernet is loaded only when the finishing fine-tuned from it
            let retrainer = Retrainer::new(args, &RunDir::new(run))?;
            let mut exec = self.executor.executor()?;
            let pb = bar(todo.len() as u64, self.quiet || self.json, "confirming");
            let jobs: Vec<(Architecture, u64)> = todo.iter().map(|(_, a, s)| ((*a).clone(), *s)).collect();
            // journaled in the order asked, whatever order they land in
            let mut order = InOrder::default();
            let mut obs = CliObserver::new(self.quiet || self.json, self.json);
            exec.retrain(&retrainer, "confirm", &jobs, &mut obs, &mut |i, r| {
                order.land(i, r, &mut |i, r: Retrained| {
                    let (name, _, seed) = todo[i];
                    pb.set_message(format!("{name}, seed {seed}"));
                    let t = Training {
                        model: name.clone(),
                        seed,
                        steps,
                        data: args.data.clone(),
                        valid_accuracy: r.valid_accuracy,
                        test_accuracy: edgenas_train::trainer::accuracy(&r.test_hits),
                        test_hits: r.test_hits.iter().map(|h| if *h { '1' } else { '0' }).collect(),
                    };
                    journal.append(&t)?;
                    done.insert(t.key(), t);
                    pb.inc(1);
                    Ok(())
                })
            })?;
            pb.finish_and_clear();
        }
        Ok(done)
    }

    fn confirm(&self) -> Result<serde_json::Value> {
        let run = &self.run;
        let plan = self.plan()?;
        let (pairs, unmatched, steps) = (&plan.pairs, &plan.unmatched, plan.steps);
        // each model once, even when it is the winner compared with several baselines
        let mut models: Vec<(String, Architecture)> = Vec::new();
        for name in pairs.iter().flat_map(|p| [&p.baseline, &p.model]) {
            if models.iter().any(|(n, _)| n == name) {
                continue;
            }
            let card = run.join("models").join(format!("{name}.json"));
            models.push((name.clone(), edgenas_nas::arch_file::load_arch_or_card(&card, "model card")?));
        }
        let seeds: Vec<u64> = (1..=self.repeats).map(|k| confirm_seed(plan.args.seed, k)).collect();
        let (journal_path, path) = RunDir::new(run).confirm();
        let done = self.trainings(&plan, &models, &seeds, &journal_path)?;
        // every (model, seed) was read back or trained just above
        let key = |name: &str, seed: u64| -> Key { (name.to_string(), seed, steps, plan.args.data.clone()) };
        let mut comparisons = Vec::new();
        let mut lines = Vec::new();
        for p in pairs {
            let (json, line) = compare_pair(p, &seeds, &done, &key, &journal_path)?;
            comparisons.push(json);
            lines.push(line);
        }
        for b in unmatched {
            lines.push(format!("{b}: no finished winner was measured as fast; nothing to confirm"));
        }
        let report = serde_json::json!({
            "run": run,
            "repeats": self.repeats,
            "seeds": seeds,
            "steps": steps,
            "finish_from": plan.args.finish_from,
            "comparisons": comparisons,
            "no_faster_winner": unmatched,
        });
        edgenas_store::write_json(&path, &report)?;
        if !self.json {
            for l in &lines {
                println!("{l}");
            }
            println!("trainings in {}, comparisons in {}", journal_path.display(), path.display());
        }
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confirm_seeds_never_meet_a_searchs_own_seeds() {
        let own: Vec<u64> = (0..1000).collect();
        for run in 0..50 {
            for k in 1..=5 {
                assert!(!own.contains(&confirm_seed(run, k)));
            }
        }
        assert_ne!(confirm_seed(0, 2), confirm_seed(1, 2));
    }

    #[test]
    fn readings_and_spread_of_the_gaps() {
        assert_eq!(reading(&[0.01, 0.002]), "model_ahead_every_time");
        assert_eq!(reading(&[-0.01, -0.002]), "baseline_ahead_every_time");
        assert_eq!(reading(&[0.01, 0.0]), "mixed");
        assert_eq!(reading(&[0.01, -0.01]), "mixed");
        let (m, sd) = mean_sd(&[1.0, 3.0]);
        assert_eq!(m, 2.0);
        assert!((sd - 2f64.sqrt()).abs() < 1e-12);
        assert_eq!(mean_sd(&[0.5]), (0.5, 0.0));
    }

    #[test]
    fn the_journal_keys_trainings_and_drops_a_torn_last_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("confirm.jsonl");
        let mut j = journal(&p, &SearchConfig::default());
        let t = Training {
            model: "m".into(),
            seed: 7,
            steps: 3,
            data: "d".into(),
            valid_accuracy: 0.5,
            test_accuracy: 0.5,
            test_hits: "10".into(),
        };
        j.append(&t).unwrap();
        std::fs::write(&p, format!("{}{{\"model\":", std::fs::read_to_string(&p).unwrap())).unwrap();
        let read = read_journal(&j).unwrap();
        assert_eq!(read.len(), 1);
        assert_eq!(read[&t.key()], t);
        assert_eq!(t.hits(), vec![true, false]);
        // the torn tail is gone from the file: the next line starts clean and reads back
        let u = Training { seed: 8, ..t.clone() };
        j.append(&u).unwrap();
        assert_eq!(read_journal(&j).unwrap()[&u.key()], u);
        // a journal of before headers still reads; a bad line is an error naming it
        let old = dir.path().join("old.jsonl");
        std::fs::write(&old, format!("{}\n", serde_json::to_string(&t).unwrap())).unwrap();
        assert_eq!(read_journal(&journal(&old, &SearchConfig::default())).unwrap().len(), 1);
        std::fs::write(&p, "garbage\n{}\n").unwrap();
        let e = read_journal(&j).unwrap_err().to_string();
        assert!(e.contains("confirm.jsonl line 1"), "{e}");
    }
}
