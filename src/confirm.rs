//! `edgenas confirm`: is a finished search's lead over its hand-designed baselines real, or
//! training noise? Each baseline and the most accurate winner measured as fast (the pair that
//! `summary.json`'s `baselines_dominated` compares) are retrained the way the search finished
//! them, under new seeds, and compared again on the test set. The new trainings are honest
//! where the search's own comparison is not quite: the winner was picked as the most accurate
//! on this test set, so its lead there is flattered by the pick.
//!
//! Outputs in the search's folder: `confirm.jsonl` (one line per training, so an interrupted
//! confirm resumes) and `confirm.json`.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, ensure, Context, Result};
use clap::Args;
use edgenas_space::Architecture;
use serde::{Deserialize, Serialize};

use crate::progress::bar;
use crate::search::{EvalMode, FinishFrom, Retrainer, SearchArgs};

/// `edgenas confirm`.
#[derive(Args)]
pub struct ConfirmCmd {
    /// A finished search's output folder (its `--out`, run with `--finish-baselines`).
    run: PathBuf,
    /// New trainings of each compared baseline and winner, with seeds 1,000,000 + 1,000 x the
    /// search's seed + 1, 2, ... (never a search's own seed).
    #[arg(long, default_value_t = 2)]
    repeats: usize,
    /// The dataset folder, when it has moved since the search (default: the search's `--data`).
    #[arg(long)]
    data: Option<PathBuf>,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
    /// Machine-readable JSON (`confirm.json`) on stdout.
    #[arg(long)]
    json: bool,
}

/// The seed of the `k`-th new training (k from 1) for a search run with `seed`.
pub fn confirm_seed(seed: u64, k: usize) -> u64 {
    1_000_000u64.wrapping_add(seed.wrapping_mul(1_000)).wrapping_add(k as u64)
}

/// One training of one model (a line of `confirm.jsonl`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct Training {
    model: String,
    seed: u64,
    steps: usize,
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
            .with_context(|| format!("{}: no finished model {name:?} with measured_ms", path.display()))
    };
    let (mut out, mut unmatched) = (Vec::new(), Vec::new());
    for d in dominated {
        let baseline = d["baseline"]
            .as_str()
            .with_context(|| format!("{}: baselines_dominated[].baseline: expected a name", path.display()))?;
        let Some(model) = d["best"]["model"].as_str() else {
            unmatched.push(baseline.to_string());
            continue;
        };
        out.push(Pair {
            baseline: baseline.to_string(),
            model: model.to_string(),
            baseline_ms: measured(baseline)?,
            model_ms: measured(model)?,
            run_gap: d["best"]["accuracy_difference"].as_f64().unwrap_or(f64::NAN),
        });
    }
    Ok((out, unmatched))
}

/// Trainings already in the journal, by (model, seed, steps); a torn last line (an interrupted
/// write) is dropped, any other bad line is an error.
fn read_journal(path: &Path) -> Result<BTreeMap<(String, u64, usize), Training>> {
    let mut out = BTreeMap::new();
    if !path.exists() {
        return Ok(out);
    }
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let lines: Vec<&str> = text.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        match serde_json::from_str::<Training>(line) {
            Ok(t) => {
                out.insert((t.model.clone(), t.seed, t.steps), t);
            }
            Err(_) if i + 1 == lines.len() && !text.ends_with('\n') => {}
            Err(e) => bail!("{} line {}: not a training record ({e})", path.display(), i + 1),
        }
    }
    Ok(out)
}

fn append(path: &Path, t: &Training) -> Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    writeln!(f, "{}", serde_json::to_string(t).expect("serializable"))
        .and_then(|_| f.sync_data())
        .with_context(|| format!("cannot write {}", path.display()))
}

impl ConfirmCmd {
    pub fn run(self) -> Result<()> {
        let report = self.confirm()?;
        if self.json {
            println!("{}", serde_json::to_string_pretty(&report).expect("serializable"));
        }
        Ok(())
    }

    fn confirm(&self) -> Result<serde_json::Value> {
        ensure!(self.repeats >= 1, "--repeats: must be at least 1");
        let run = &self.run;
        let config_path = run.join("config.json");
        let summary_path = run.join("summary.json");
        let config = read_json(&config_path, "the search's settings (is it the --out folder of edgenas search?)")?;
        let mut args: SearchArgs = serde_json::from_value(config)
            .with_context(|| format!("{}: not the settings of edgenas search", config_path.display()))?;
        let summary = read_json(&summary_path, "the search's summary (has the search finished?)")?;
        let (pairs, unmatched) = pairs(&summary, &summary_path)?;
        // the run may have been moved: its own files are read from where it is now
        if args.supernet.is_none() {
            args.out = run.clone();
        }
        if let Some(d) = &self.data {
            args.data = d.clone();
        }
        // retrained from scratch, the finished models owe nothing to the supernet: none is loaded
        if args.finish_from == FinishFrom::Scratch {
            args.eval = EvalMode::Proxy;
        }
        let steps = args.finish_steps.unwrap_or(args.finetune_steps);
        ensure!(
            steps > 0,
            "{}: finetune_steps is 0: the finished models kept the supernet's weights as they are, \
             so there is no training to repeat",
            config_path.display()
        );
        // each model once, even when it is the winner compared with several baselines
        let mut models: Vec<(String, Architecture)> = Vec::new();
        for name in pairs.iter().flat_map(|p| [&p.baseline, &p.model]) {
            if models.iter().any(|(n, _)| n == name) {
                continue;
            }
            let card_path = run.join("models").join(format!("{name}.json"));
            let card = read_json(&card_path, "the model card")?;
            let arch: Architecture = serde_json::from_value(card["architecture"].clone())
                .with_context(|| format!("{}: architecture: not an architecture", card_path.display()))?;
            models.push((name.clone(), arch));
        }
        let seeds: Vec<u64> = (1..=self.repeats).map(|k| confirm_seed(args.seed, k)).collect();
        let journal_path = run.join("confirm.jsonl");
        let mut done = read_journal(&journal_path)?;
        let todo: Vec<(&String, &Architecture, u64)> = models
            .iter()
            .flat_map(|(n, a)| seeds.iter().map(move |&s| (n, a, s)))
            .filter(|(n, _, s)| !done.contains_key(&((*n).clone(), *s, steps)))
            .collect();
        if !todo.is_empty() {
            let quiet = self.quiet || self.json;
            let retrainer = Retrainer::new(&args)?;
            let pb = bar(todo.len() as u64, quiet, "confirming");
            for (name, arch, seed) in todo {
                pb.set_message(format!("{name}, seed {seed}"));
                let r = retrainer.retrain(arch, seed)?;
                let hits = r.test_hits.iter().filter(|h| **h).count();
                let t = Training {
                    model: name.clone(),
                    seed,
                    steps,
                    valid_accuracy: r.valid_accuracy,
                    test_accuracy: hits as f64 / r.test_hits.len().max(1) as f64,
                    test_hits: r.test_hits.iter().map(|h| if *h { '1' } else { '0' }).collect(),
                };
                append(&journal_path, &t)?;
                done.insert((name.clone(), seed, steps), t);
                pb.inc(1);
            }
            pb.finish_and_clear();
        }
        let get = |name: &str, seed: u64| &done[&(name.to_string(), seed, steps)];

        let mut comparisons = Vec::new();
        let mut lines = Vec::new();
        for p in &pairs {
            let mut gaps = Vec::new();
            let mut per_seed = Vec::new();
            for &seed in &seeds {
                let (m, b) = (get(&p.model, seed), get(&p.baseline, seed));
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
            let verdict = reading(&gaps);
            comparisons.push(serde_json::json!({
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
            }));
            let pts = |v: &[f64]| v.iter().map(|g| format!("{:+.2}", 100.0 * g)).collect::<Vec<_>>().join(", ");
            let said = match verdict {
                "model_ahead_every_time" => "the winner is ahead every time",
                "baseline_ahead_every_time" => "the baseline is ahead every time",
                _ => "mixed: within training noise",
            };
            lines.push(format!(
                "{} ({:.3} ms) vs {} ({:.3} ms): search {:+.2} points; {} new seed{}: {} (mean {:+.2} ± {:.2}; {:.2} % vs {:.2} %): {said}",
                p.baseline,
                p.baseline_ms,
                p.model,
                p.model_ms,
                100.0 * p.run_gap,
                seeds.len(),
                if seeds.len() == 1 { "" } else { "s" },
                pts(&gaps),
                100.0 * mean,
                100.0 * sd,
                100.0 * ma,
                100.0 * ba,
            ));
        }
        for b in &unmatched {
            lines.push(format!("{b}: no finished winner was measured as fast; nothing to confirm"));
        }
        let report = serde_json::json!({
            "run": run,
            "repeats": self.repeats,
            "seeds": seeds,
            "steps": steps,
            "finish_from": args.finish_from,
            "comparisons": comparisons,
            "no_faster_winner": unmatched,
        });
        let path = run.join("confirm.json");
        let bytes = serde_json::to_vec_pretty(&report).expect("serializable");
        edgenas_space::io::write_atomic(&path, &bytes).with_context(|| format!("cannot write {}", path.display()))?;
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
    fn a_torn_last_journal_line_is_dropped_and_other_bad_lines_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("confirm.jsonl");
        let t = Training {
            model: "m".into(),
            seed: 7,
            steps: 3,
            valid_accuracy: 0.5,
            test_accuracy: 0.5,
            test_hits: "10".into(),
        };
        append(&p, &t).unwrap();
        std::fs::write(&p, format!("{}{{\"model\":", std::fs::read_to_string(&p).unwrap())).unwrap();
        let read = read_journal(&p).unwrap();
        assert_eq!(read.len(), 1);
        assert_eq!(read[&("m".to_string(), 7, 3)], t);
        assert_eq!(t.hits(), vec![true, false]);
        std::fs::write(&p, "garbage\n").unwrap();
        let e = read_journal(&p).unwrap_err().to_string();
        assert!(e.contains("confirm.jsonl line 1"), "{e}");
    }
}
