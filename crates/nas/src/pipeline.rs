//! The whole search as one call: settings checked, run folder prepared (or resumed), baselines
//! scored, the search run, the front, its plot and files written, challengers picked, the picked
//! models finished and plotted, and the verdicts against the baselines. Returns what happened; prints
//! nothing.

use anyhow::{ensure, Context, Result};
use edgenas_search::hypervolume;
use edgenas_space::Genome;

use crate::baselines::{baselines, initial_genomes};
use crate::config::{EvalMode, SearchConfig};
use crate::context::{load_profiles, load_search_splits, load_space, EvalContext};
use crate::driver::{run_search, Evaluations, Executor};
use crate::evaluate::{objectives, Candidate, Decoded, Record};
use crate::events::Observer;
use crate::finish::{challengers, finish, BaselineRow, Finished, ToFinish, Trainings, Tuned};
use crate::plots;
use crate::run_dir::RunDir;
use crate::select::{network, spread, Dominance, FrontMatch};

/// What a finished search found and finished.
pub struct SearchOutcome {
    /// `summary.json`, as written.
    pub summary: serde_json::Value,
    /// Every evaluated record.
    pub records: Vec<Record>,
    /// How many of them meet every budget.
    pub feasible: usize,
    /// The feasible front.
    pub front: Vec<Record>,
    pub hypervolume: f64,
    pub baselines: Vec<BaselineRow>,
    /// The finished winners, then the finished baselines.
    pub finished: Vec<Finished>,
    pub baselines_finished: Vec<Finished>,
    pub dominance: Vec<Dominance>,
    /// Each baseline within the budget and the front point that matches or beats it.
    pub front_matches: Vec<FrontMatch>,
    /// Finishing trainings trained now and read back from an earlier run.
    pub trained: usize,
    pub reused: usize,
    pub finishing_dir: std::path::PathBuf,
}

/// Prepare the run folder: a new search writes `config.json` (refused where a search already
/// is); `resume` checks that the saved settings are these. Returns whether the folder was made.
fn prepare_run(config: &SearchConfig, run: &RunDir, resume: bool) -> Result<bool> {
    ensure!(
        !resume || run.config().exists(),
        "--resume: {} holds no search (no config.json), so there is nothing to resume; run without --resume",
        run.root().display()
    );
    let created = !run.root().exists();
    std::fs::create_dir_all(run.root()).with_context(|| format!("cannot create {}", run.root().display()))?;
    let path = run.config();
    if resume {
        let old = SearchConfig::from_file(&path).map_err(|e| anyhow::anyhow!("--resume: {e}"))?;
        let diff = old.differences(config);
        ensure!(
            diff.is_empty(),
            "the settings differ from those in {} ({}); continue with the same settings or choose another --out",
            path.display(),
            diff.join("; ")
        );
    } else {
        ensure!(
            !run.journal().exists(),
            "{} already holds a search; pass --resume to continue it or choose another --out",
            run.root().display()
        );
        // keys in alphabetical order, as config.json always had them
        edgenas_store::write_json(&path, &serde_json::to_value(config).expect("a config serializes"))?;
    }
    Ok(created)
}

/// The error for a search where no architecture meets the budgets: how close each came.
fn infeasible(config: &SearchConfig, records: &[Record]) -> anyhow::Error {
    let min = |f: &dyn Fn(&Record) -> f64| records.iter().map(f).fold(f64::INFINITY, f64::min);
    let mut closest = Vec::new();
    for (i, b) in config.latency_budget_ms.iter().enumerate() {
        let l = min(&|r: &Record| r.latency_ms[i]);
        closest.push(format!("--latency-budget-ms {b} on {}: the fastest is {l:.3} ms", config.profiles[i].display()));
    }
    if let Some(b) = config.flash_budget_kib {
        let smallest = min(&|r: &Record| r.flash_bytes as f64) / 1024.0;
        closest.push(format!("--flash-budget-kib {b}: the smallest is {smallest:.1} KiB"));
    }
    if let Some(b) = config.sram_budget_kib {
        let smallest = min(&|r: &Record| r.sram_bytes as f64) / 1024.0;
        closest.push(format!("--sram-budget-kib {b}: the smallest is {smallest:.1} KiB"));
    }
    anyhow::anyhow!(
        "none of the {} evaluated architectures meets the budgets ({}); loosen a budget and run again with another --out",
        records.len(),
        closest.join("; ")
    )
}

/// The feasible front, its hypervolume and the reference point (1.1 x the worst value of
/// every evaluated candidate).
fn front_of(config: &SearchConfig, records: &[Record], feasible: &[&Record]) -> Result<(Vec<Record>, f64, Vec<f64>)> {
    let pts: Vec<Vec<f64>> = feasible.iter().map(|r| objectives(config, r)).collect();
    let front: Vec<Record> = edgenas_search::non_dominated(&pts).iter().map(|&i| feasible[i].clone()).collect();
    let all_pts: Vec<Vec<f64>> = records.iter().map(|r| objectives(config, r)).collect();
    let hv_ref: Vec<f64> = (0..all_pts.first().map(|p| p.len()).unwrap_or(0))
        .map(|i| all_pts.iter().map(|p| p[i]).fold(0.0, f64::max) * 1.1)
        .collect();
    let front_pts: Vec<Vec<f64>> = front.iter().map(|r| objectives(config, r)).collect();
    let hv = if front_pts.is_empty() { 0.0 } else { hypervolume(&front_pts, &hv_ref)? };
    Ok((front, hv, hv_ref))
}

/// Check `config`, load the space, the warm-start genomes and the profiles, prepare the run
/// folder and open the evaluation context; a new search that cannot start (unreadable data, a
/// wrong supernet) leaves nothing behind but what is worth resuming (a supernet's kept state).
fn open_run(
    config: &SearchConfig,
    resume: bool,
    exec: &mut dyn Executor,
    obs: &mut dyn Observer,
) -> Result<(EvalContext, Vec<Genome>)> {
    config.check().map_err(anyhow::Error::msg)?;
    let run = RunDir::new(&config.out);
    let space = load_space(config.space.as_deref())?;
    let init = initial_genomes(config, &space)?;
    let profiles = load_profiles(config, &space, obs)?;
    if let Some(p) = &config.device {
        // the finished models are measured there, at the end: a bad file is refused now
        edgenas_device::DeviceConfig::from_file(p).with_context(|| format!("--device {}", p.display()))?;
    }
    let created = prepare_run(config, &run, resume)?;
    let opened = load_search_splits(&config.data, config.split_seed(), &space).and_then(|splits| {
        if config.eval == EvalMode::Supernet {
            exec.supernet(config, &run, &splits, obs)?;
        }
        EvalContext::with_parts(config, &run, space, splits, profiles, obs)
    });
    match opened {
        Ok(ctx) => Ok((ctx, init)),
        Err(e) => {
            // tasks handed out (queued, perhaps) need the settings: then the folder stays
            if !resume && !run.journal().exists() && !run.tasks().exists() {
                let _ = std::fs::remove_file(run.config());
                if created {
                    let _ = std::fs::remove_dir(run.root());
                }
            }
            Err(e)
        }
    }
}

/// The hand-designed baselines of the space, scored as the candidates are, through `exec`
/// (`baselines.json`).
fn score_baselines(ctx: &EvalContext, exec: &mut dyn Executor, obs: &mut dyn Observer) -> Result<Vec<BaselineRow>> {
    let mut named = Vec::new();
    for (name, arch) in baselines(&ctx.space) {
        named.push((name, Candidate { genome: ctx.space.encode(&arch)?, arch }));
    }
    // two baselines can share a genome: each is scored once
    let mut genomes: Vec<Genome> = Vec::new();
    for (_, c) in &named {
        if !genomes.contains(&c.genome) {
            genomes.push(c.genome.clone());
        }
    }
    let mut scored: Vec<Option<Record>> = vec![None; genomes.len()];
    exec.evaluate(ctx, "baselines", &genomes, obs, &mut |i, r| {
        scored[i] = Some(r);
        Ok(())
    })?;
    let mut rows = Vec::new();
    for (name, candidate) in named {
        let i = genomes.iter().position(|g| *g == candidate.genome).expect("every baseline's genome was asked");
        let record = scored[i].clone().ok_or_else(|| anyhow::anyhow!("baseline {name}: its score never came back"))?;
        if let Some(why) = &record.failed {
            anyhow::bail!("baseline {name}: its evaluation failed: {why}");
        }
        rows.push(BaselineRow { name, candidate, record });
    }
    let json: Vec<serde_json::Value> = rows
        .iter()
        .map(|b| serde_json::json!({"name": b.name, "architecture": b.candidate.arch, "record": b.record}))
        .collect();
    edgenas_store::write_json(&ctx.run.baselines(), &json)?;
    Ok(rows)
}

/// What the finishing produced.
struct Finishing {
    finished: Vec<Finished>,
    baselines_finished: Vec<Finished>,
    challengers: Vec<serde_json::Value>,
    trainings: Trainings,
}

/// The front's spread and (with `finish_baselines`) each baseline's challenger, finished with
/// the baselines in one finishing, so all are measured in the same interleaved passes.
fn finish_picks(
    ctx: &EvalContext,
    decoded: &Decoded,
    front: &[Record],
    feasible: &[&Record],
    base_rows: &[BaselineRow],
    exec: &mut dyn Executor,
    obs: &mut dyn Observer,
) -> Result<Finishing> {
    let config = &ctx.config;
    let mut picks = spread(decoded, front, config.finish);
    let mut tuned = Tuned::new();
    let mut trainings = Trainings::new(ctx.run.finishing());
    let mut challenger_summary = Vec::new();
    if config.finish_baselines {
        let (picked, summary) =
            challengers(ctx, decoded, front, feasible, base_rows, &mut tuned, &mut trainings, exec, obs)?;
        for c in picked {
            if !picks.iter().any(|p| network(decoded, p) == network(decoded, &c)) {
                picks.push(c);
            }
        }
        challenger_summary = summary;
        picks.sort_by(|a, b| a.latency_ms[0].total_cmp(&b.latency_ms[0]));
    }
    let mut items = Vec::new();
    for (i, r) in picks.into_iter().enumerate() {
        let name = format!("model-{i}-{:.0}us", r.latency_ms[0] * 1e3);
        items.push(ToFinish { name, candidate: decoded.candidate(&r)?, record: r });
    }
    let winners = items.len();
    if config.finish_baselines {
        items.extend(base_rows.iter().map(|b| ToFinish {
            name: format!("baseline-{}", b.name),
            candidate: b.candidate.clone(),
            record: b.record.clone(),
        }));
    }
    // the trainings the finishing will read, kept first (by tasks elsewhere, when the executor
    // hands work out)
    let steps = config.finishing_steps();
    let todo: Vec<(Candidate, usize)> = items
        .iter()
        .filter(|it| !(steps == config.finetune_steps && steps > 0 && tuned.contains_key(&it.candidate.genome)))
        .map(|it| (it.candidate.clone(), steps))
        .collect();
    exec.trainings(ctx, "finishing", &todo, &mut trainings, obs)?;
    let mut finished = finish(ctx, &items, &tuned, &mut trainings, obs)?;
    let baselines_finished = finished.split_off(winners);
    Ok(Finishing { finished, baselines_finished, challengers: challenger_summary, trainings })
}

/// Run the search `config` describes in its `out` folder (with `resume`, continue it), through
/// `exec`, reporting to `obs`.
pub fn search(
    config: &SearchConfig,
    resume: bool,
    exec: &mut dyn Executor,
    obs: &mut dyn Observer,
) -> Result<SearchOutcome> {
    let started = std::time::Instant::now();
    let (ctx, init) = open_run(config, resume, exec, obs)?;
    let run = &ctx.run;
    let base_rows = score_baselines(&ctx, exec, obs)?;
    // the search, journaled; a resumed run reads back what was already evaluated
    let mut evals = Evaluations::open(config, resume, obs)?;
    let records = run_search(&ctx, &mut evals, &init, resume, exec, obs)?;
    let feasible: Vec<&Record> = records.iter().filter(|r| r.feasible).collect();
    if feasible.is_empty() {
        return Err(infeasible(config, &records));
    }
    let (front, hv, hv_ref) = front_of(config, &records, &feasible)?;
    // every network decoded once, for the files and the finishing
    let decoded = Decoded::of(&ctx.space, records.iter().chain(base_rows.iter().map(|b| &b.record)))?;
    let pareto: Vec<serde_json::Value> =
        front.iter().map(|r| serde_json::json!({"record": r, "architecture": decoded.arch(&r.genome)})).collect();
    edgenas_store::write_json(&run.pareto(), &pareto)?;
    let spec = plots::search_spec(config, &records, &front, &base_rows, ctx.valid.len());
    plots::write(&spec, run.plots())?;
    let f = finish_picks(&ctx, &decoded, &front, &feasible, &base_rows, exec, obs)?;
    if !f.finished.is_empty() || !f.baselines_finished.is_empty() {
        let device = crate::finish::measuring_device(&ctx)?.name;
        let spec = plots::finished_spec(config, &device, &f.finished, &f.baselines_finished);
        plots::write(&spec, run.finished_plots())?;
    }
    let front_matches = FrontMatch::of(&front, base_rows.iter().map(|b| (b.name.as_str(), &b.record)));
    let dominance: Vec<Dominance> = f.baselines_finished.iter().map(|b| Dominance::of(b, &f.finished)).collect();
    let recommended: Vec<&str> =
        f.finished.iter().chain(&f.baselines_finished).filter(|f| f.recommended).map(|f| f.name.as_str()).collect();
    let base_summary: Vec<serde_json::Value> = base_rows
        .iter()
        .map(|b| serde_json::json!({"name": b.name, "accuracy": b.record.accuracy, "latency_ms": b.record.latency_ms, "feasible": b.record.feasible}))
        .collect();
    let summary = serde_json::json!({
        "out": config.out,
        "evaluations": records.len(),
        "evaluations_budget": config.population * config.generations,
        "feasible": feasible.len(),
        "front": front.len(),
        "hypervolume": hv,
        "hypervolume_reference": hv_ref,
        "baselines": base_summary,
        "baselines_on_front": front_matches.iter().map(|m| m.to_json(&front)).collect::<Vec<_>>(),
        "finished": f.finished,
        "baselines_finished": f.baselines_finished,
        "challengers": f.challengers,
        "baselines_dominated": dominance.iter().map(Dominance::to_json).collect::<Vec<_>>(),
        "recommended": recommended,
        "finishing_trainings": {"trained": f.trainings.trained, "reused": f.trainings.reused},
        "seconds": started.elapsed().as_secs_f64(),
    });
    edgenas_store::write_json(&run.summary(), &summary)?;
    let feasible = feasible.len();
    Ok(SearchOutcome {
        summary,
        records,
        feasible,
        front,
        hypervolume: hv,
        baselines: base_rows,
        finished: f.finished,
        baselines_finished: f.baselines_finished,
        dominance,
        front_matches,
        trained: f.trainings.trained,
        reused: f.trainings.reused,
        finishing_dir: f.trainings.dir,
    })
}
