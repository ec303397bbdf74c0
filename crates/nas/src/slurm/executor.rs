//! [`Slurm`] as an [`Executor`]: each kind of work as the tasks of a batch, and what their
//! outputs become (records, a supernet, kept trainings, retrainings).

use std::collections::BTreeSet;

use anyhow::{bail, Result};
use edgenas_space::{Architecture, Genome};
use edgenas_train::Splits;

use super::{Slurm, SUPERNET_CHUNK};
use crate::config::{EvalMode, SearchConfig};
use crate::context::EvalContext;
use crate::driver::{Executor, RetrainSink, Sink};
use crate::evaluate::{failed, Candidate};
use crate::events::Observer;
use crate::finish::{Retrainer, Trainings};
use crate::run_dir::RunDir;
use crate::tasks::{Output, Work};

/// The tasks of an evaluation batch: each earlier task (of a coordinator that was stopped)
/// holding any of `genomes` again as it was, so its result is found; the rest cut into chunks
/// of `chunk`. Returns each task's work and, for each of its genomes still wanted, the index in
/// `genomes` and the position in the task.
fn evaluation_tasks(earlier: &[Work], genomes: &[Genome], chunk: usize) -> Vec<(Work, Vec<(usize, usize)>)> {
    let mut placed: BTreeSet<usize> = BTreeSet::new();
    let mut out = Vec::new();
    for work in earlier {
        let Work::Evaluate { genomes: held } = work else { continue };
        let wanted: Vec<(usize, usize)> = held
            .iter()
            .enumerate()
            .filter_map(|(pos, g)| {
                genomes.iter().position(|x| x == g).filter(|i| !placed.contains(i)).map(|i| (i, pos))
            })
            .collect();
        if !wanted.is_empty() {
            placed.extend(wanted.iter().map(|(i, _)| *i));
            out.push((work.clone(), wanted));
        }
    }
    let rest: Vec<usize> = (0..genomes.len()).filter(|i| !placed.contains(i)).collect();
    for part in rest.chunks(chunk) {
        let work = Work::Evaluate { genomes: part.iter().map(|&i| genomes[i].clone()).collect() };
        out.push((work, part.iter().enumerate().map(|(pos, &i)| (i, pos)).collect()));
    }
    out
}

/// Ok when no task of a batch of `of` failed; otherwise the error naming each failure and what
/// was `kept`.
fn all_landed(failures: &[String], of: usize, what: &str, kept: &str) -> Result<()> {
    if failures.is_empty() {
        return Ok(());
    }
    bail!("{} of {of} {what} failed ({}); {kept}", failures.len(), failures.join("; "))
}

impl Executor for Slurm {
    fn evaluate(
        &mut self,
        ctx: &EvalContext,
        batch: &str,
        genomes: &[Genome],
        obs: &mut dyn Observer,
        sink: &mut Sink,
    ) -> Result<()> {
        if genomes.is_empty() {
            return Ok(());
        }
        let chunk = match ctx.config.eval {
            EvalMode::Supernet => SUPERNET_CHUNK,
            EvalMode::Proxy => 1,
        };
        let b = self.batch(&ctx.run, batch);
        let earlier: Vec<Work> =
            if b.dir().exists() { b.tasks()?.into_iter().map(|t| t.work).collect() } else { Vec::new() };
        let (works, wanted): (Vec<Work>, Vec<Vec<(usize, usize)>>) =
            evaluation_tasks(&earlier, genomes, chunk).into_iter().unzip();
        let keys = (ctx.config.hash(), ctx.data_fingerprint().to_string());
        self.run_batch(&ctx.run, &b, (&keys.0, &keys.1), works, true, &[], obs, &mut |p, out| {
            match out {
                Ok(Output::Records(rs)) => {
                    for &(i, pos) in &wanted[p] {
                        let r = rs.get(pos).filter(|r| r.genome == genomes[i]).ok_or_else(|| {
                            anyhow::anyhow!(
                                "{}: task {p} handed back no record of genome {:?}",
                                b.dir().display(),
                                genomes[i].0
                            )
                        })?;
                        sink(i, r.clone())?;
                    }
                }
                Ok(other) => bail!("{}: task {p} handed back {other:?}, not records", b.dir().display()),
                // the search goes on without them (they score 0 and are infeasible)
                Err(why) => {
                    for &(i, _) in &wanted[p] {
                        sink(i, failed(ctx, &genomes[i], &why)?)?;
                    }
                }
            }
            Ok(())
        })
    }

    fn supernet(&mut self, config: &SearchConfig, run: &RunDir, splits: &Splits, obs: &mut dyn Observer) -> Result<()> {
        if config.supernet.is_some() || run.supernet().join("supernet.json").exists() {
            return Ok(());
        }
        let b = self.batch(run, "supernet");
        let extra = self.opts.supernet_sbatch_args.clone();
        let keys = (config.hash(), splits.fingerprint());
        let mut failure = None;
        // an earlier result with no supernet in the folder is stale: trained again
        self.run_batch(run, &b, (&keys.0, &keys.1), vec![Work::Supernet], false, &extra, obs, &mut |_, out| {
            match out {
                Ok(Output::Supernet) => {}
                Ok(other) => failure = Some(format!("the task handed back {other:?}")),
                Err(why) => failure = Some(why),
            }
            Ok(())
        })?;
        match failure {
            Some(why) => bail!("the supernet's training failed: {why}"),
            None => Ok(()),
        }
    }

    fn trainings(
        &mut self,
        ctx: &EvalContext,
        batch: &str,
        todo: &[(Candidate, usize)],
        trainings: &mut Trainings,
        obs: &mut dyn Observer,
    ) -> Result<()> {
        let missing: Vec<(Candidate, usize, String)> =
            trainings.missing(ctx, todo).into_iter().map(|(c, s, stem)| (c.clone(), s, stem)).collect();
        if missing.is_empty() {
            return Ok(());
        }
        let works =
            missing.iter().map(|(c, steps, _)| Work::Train { genome: c.genome.clone(), steps: *steps }).collect();
        let b = self.batch(&ctx.run, batch);
        let keys = (ctx.config.hash(), ctx.data_fingerprint().to_string());
        let mut failures = Vec::new();
        // an earlier result whose training is not kept in finishing/ is stale: trained again
        self.run_batch(&ctx.run, &b, (&keys.0, &keys.1), works, false, &[], obs, &mut |p, out| {
            match out {
                Ok(Output::Trained { .. }) => trainings.landed(missing[p].2.clone()),
                Ok(other) => failures.push(format!("task {p} handed back {other:?}")),
                Err(why) => failures.push(why),
            }
            Ok(())
        })?;
        let kept = format!("the others are kept in {}, and --resume trains only the missing", trainings.dir.display());
        all_landed(&failures, missing.len(), "finishing trainings", &kept)
    }

    fn retrain(
        &mut self,
        retrainer: &Retrainer,
        batch: &str,
        jobs: &[(Architecture, u64)],
        obs: &mut dyn Observer,
        sink: &mut RetrainSink,
    ) -> Result<()> {
        if jobs.is_empty() {
            return Ok(());
        }
        let ctx = retrainer.context();
        let saved = SearchConfig::from_file(&ctx.run.config()).map_err(anyhow::Error::msg)?;
        let works = jobs
            .iter()
            .map(|(arch, seed)| Work::Retrain {
                config: Box::new(ctx.config.clone()),
                arch: Box::new(arch.clone()),
                seed: *seed,
            })
            .collect();
        let b = self.batch(&ctx.run, batch);
        let keys = (saved.hash(), ctx.data_fingerprint().to_string());
        let mut failures = Vec::new();
        self.run_batch(&ctx.run, &b, (&keys.0, &keys.1), works, true, &[], obs, &mut |p, out| {
            match out {
                Ok(Output::Retrained(r)) => sink(p, r)?,
                Ok(other) => failures.push(format!("task {p} handed back {other:?}")),
                Err(why) => failures.push(why),
            }
            Ok(())
        })?;
        let kept = format!(
            "the results that landed are kept in {}, and running confirm again retrains only the missing",
            b.dir().display()
        );
        all_landed(&failures, jobs.len(), "retrainings", &kept)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_resumed_evaluation_finds_the_chunks_it_had_handed_out() {
        let g = |v: usize| Genome(vec![v]);
        let genomes: Vec<Genome> = (0..5).map(g).collect();
        let first = evaluation_tasks(&[], &genomes, 2);
        let works: Vec<Work> = first.iter().map(|(w, _)| w.clone()).collect();
        assert_eq!(works.len(), 3);
        assert_eq!(first[2].1, vec![(4, 0)]);
        // stopped after genomes 0-2 were journaled: 3 and 4 are wanted again; genome 3 sits in
        // the second chunk beside the journaled 2, which is found again as it was
        let again = evaluation_tasks(&works, &genomes[3..], 2);
        assert_eq!(again.iter().map(|(w, _)| w.clone()).collect::<Vec<_>>(), works[1..].to_vec());
        assert_eq!(again[0].1, vec![(0, 1)]);
        assert_eq!(again[1].1, vec![(1, 0)]);
        // a genome no earlier task holds goes into a new chunk
        let more = evaluation_tasks(&works, &[g(4), g(9)], 2);
        assert_eq!(more.len(), 2);
        assert_eq!(more[1].0, Work::Evaluate { genomes: vec![g(9)] });
    }
}
