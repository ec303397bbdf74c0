//! Finishing: which models are finished beside the front's spread (each baseline's
//! challenger), their trainings (kept under `finishing/`), export with the tract check,
//! measurement on the device and model cards.

mod export;
mod train;

use std::collections::BTreeMap;

use anyhow::Result;
use edgenas_space::Genome;

pub(crate) use export::measuring_device;
pub use export::{finish, Finished, OnDevice, MAX_ABS_DIFF};

pub use train::{finished_steps, Retrained, Retrainer, Trainings, Tuned};

use crate::config::ChallengerRank;
use crate::context::EvalContext;
use crate::driver::Executor;
use crate::evaluate::{Candidate, Decoded, Record};
use crate::events::{Observer, Task};
use crate::select::{best_first, challenger_pool};

/// A model to finish: its name (`model-<i>-<predicted µs>us`, `baseline-<name>`), what it is,
/// and its record from the search.
#[derive(Debug, Clone)]
pub struct ToFinish {
    pub name: String,
    pub candidate: Candidate,
    pub record: Record,
}

/// A hand-designed baseline of the space, scored as the candidates are.
#[derive(Debug, Clone)]
pub struct BaselineRow {
    pub name: String,
    pub candidate: Candidate,
    pub record: Record,
}

/// Each baseline's challenger, chosen among candidates predicted no slower than it, so the
/// comparison is made at (about) equal latency. Candidates and baselines are re-scored on the
/// whole validation split first: the best of many scores on the scoring images is often a lucky
/// one. With several candidates (and fine-tuning) each is fine-tuned as a winner is and the best
/// on validation wins. Returns the challengers to finish and the `challengers` entries of the
/// summary.
#[allow(clippy::too_many_arguments)] // the run's state at this point, each part read or filled
pub fn challengers(
    ctx: &EvalContext,
    decoded: &Decoded,
    front: &[Record],
    feasible: &[&Record],
    baselines: &[BaselineRow],
    tuned: &mut Tuned,
    trainings: &mut Trainings,
    exec: &mut dyn Executor,
    obs: &mut dyn Observer,
) -> Result<(Vec<Record>, Vec<serde_json::Value>)> {
    let config = &ctx.config;
    let k = config.challenger_candidates;
    let mut full: BTreeMap<Genome, f64> = BTreeMap::new();
    let mut full_accuracy = |r: &Record| -> Result<f64> {
        if let Some(a) = full.get(&r.genome) {
            return Ok(*a);
        }
        let a = ctx.full_accuracy(&decoded.candidate(r)?, r.accuracy)?;
        full.insert(r.genome.clone(), a);
        Ok(a)
    };
    // each baseline's candidates, ranked: no training yet
    let mut ranked = Vec::new();
    for BaselineRow { name, record: b, candidate: bc } in baselines {
        // without fine-tuning the candidates cannot be told apart beyond their scores: the
        // front alone is the pool
        let k_pool = if config.finetune_steps > 0 { k } else { 1 };
        let pool = challenger_pool(decoded, front, feasible, b, k_pool, config.challenger_band, config.challenger_rank);
        let mut scored: Vec<(Record, f64)> =
            pool.into_iter().map(|r| Ok((r.clone(), full_accuracy(r)?))).collect::<Result<_>>()?;
        best_first(&mut scored);
        if config.challenger_rank != ChallengerRank::Score {
            // stable: equal sizes keep the score order
            scored.sort_by_key(|(r, _)| std::cmp::Reverse(config.challenger_rank.size(r)));
        }
        scored.truncate(k);
        ranked.push((name, b, bc, scored));
    }
    // the fine-tunings below, kept first (by tasks elsewhere, when the executor hands work out)
    let tunes = |scored: &[(Record, f64)]| scored.len() > 1 && config.finetune_steps > 0;
    let mut todo: Vec<(Candidate, usize)> = Vec::new();
    for (_, _, bc, scored) in ranked.iter().filter(|(_, _, _, scored)| tunes(scored)) {
        for (r, _) in scored {
            todo.push((decoded.candidate(r)?, config.finetune_steps));
        }
        todo.push(((*bc).clone(), config.finetune_steps));
    }
    exec.trainings(ctx, "challengers", &todo, trainings, obs)?;
    let (mut picked, mut summary) = (Vec::new(), Vec::new());
    for (name, b, bc, mut scored) in ranked {
        // several candidates: each fine-tuned as a winner is, the best on validation wins
        let mut candidates = Vec::new();
        if tunes(&scored) {
            let task = Task::Challengers { baseline: name.clone() };
            obs.begin(&task, scored.len() as u64);
            let mut fts = Vec::new();
            for (i, (r, acc)) in scored.iter().enumerate() {
                let ft = train::fine_tune(ctx, &decoded.candidate(r)?, r, tuned, trainings, obs)?;
                candidates.push(serde_json::json!({"genome": r.genome, "latency_ms": r.latency_ms, "valid_accuracy": acc, "finetuned_valid_accuracy": ft}));
                fts.push(ft);
                obs.progress(&task, i as u64 + 1, "");
            }
            obs.end(&task);
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
            false => Some(train::fine_tune(ctx, bc, b, tuned, trainings, obs)?),
        };
        let c = scored.first();
        summary.push(serde_json::json!({
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
            picked.push(c.clone());
        }
    }
    Ok((picked, summary))
}
