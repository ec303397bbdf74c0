//! Choosing among evaluated candidates: the front's spread, each baseline's challenger pool,
//! and how a finished baseline fares against the finished winners (dominance and a verdict
//! from a paired test on the test set).

use edgenas_report::Reading;
use edgenas_space::Architecture;

use crate::config::ChallengerRank;
use crate::evaluate::{Decoded, Record};
use crate::finish::Finished;

impl ChallengerRank {
    /// The size this rank orders by, largest first (`None` for the score).
    pub(crate) fn size(self, r: &Record) -> Option<u64> {
        match self {
            ChallengerRank::Score => None,
            ChallengerRank::Params => Some(r.params),
            ChallengerRank::Macs => Some(r.macs),
        }
    }
}

/// The network a record's genome builds (genomes that differ only in genes of unused blocks
/// build the same one).
pub(crate) fn network<'d>(decoded: &'d Decoded, r: &Record) -> Option<&'d Architecture> {
    decoded.arch(&r.genome)
}

/// The networks met so far, to keep each one once.
struct Networks<'s> {
    decoded: &'s Decoded,
    seen: Vec<Option<&'s Architecture>>,
}

impl<'s> Networks<'s> {
    fn new(decoded: &'s Decoded) -> Self {
        Networks { decoded, seen: Vec::new() }
    }

    /// Whether `r` builds a network not met before (it is met from now on).
    fn first(&mut self, r: &Record) -> bool {
        let a = network(self.decoded, r);
        let new = !self.seen.contains(&a);
        if new {
            self.seen.push(a);
        }
        new
    }
}

/// Pick up to `n` records spread along the front (sorted by the first latency), each network
/// once.
pub fn spread(decoded: &Decoded, front: &[Record], n: usize) -> Vec<Record> {
    let mut f = front.to_vec();
    f.sort_by(|a, b| a.latency_ms[0].total_cmp(&b.latency_ms[0]));
    let mut networks = Networks::new(decoded);
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
pub fn challenger_pool<'a>(
    decoded: &Decoded,
    front: &'a [Record],
    evaluated: &[&'a Record],
    baseline: &Record,
    k: usize,
    band: f64,
    rank: ChallengerRank,
) -> Vec<&'a Record> {
    let lat = baseline.latency_ms[0];
    let mut networks = Networks::new(decoded);
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
pub fn best_first(v: &mut [(Record, f64)]) {
    v.sort_by(|(a, sa), (b, sb)| sb.total_cmp(sa).then(a.latency_ms[0].total_cmp(&b.latency_ms[0])));
}

/// How a finished baseline fares against the finished winners.
pub struct Dominance {
    pub baseline: String,
    /// Winners at least as fast (measured) and at least as accurate (test, Burn).
    pub by: Vec<String>,
    /// The baseline's run-to-run spread, ms: its measured median minus its 10th percentile.
    pub spread_ms: f64,
    /// Winners at least as accurate and at most `spread_ms` slower: as fast within
    /// measurement, so a microsecond in one measurement does not decide (a superset of `by`).
    pub by_within_spread: Vec<String>,
    /// The winner at least as fast that is most accurate on validation (ties: on test, then
    /// the faster), compared image by image with the baseline on the test set: picked on
    /// validation, so the test set only reports.
    pub best: Option<(String, edgenas_report::Paired)>,
}

/// What comparing a baseline with the winner as fast picked on validation says.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Verdict {
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
    pub fn as_str(self) -> &'static str {
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
    pub fn of(baseline: &Finished, winners: &[Finished]) -> Dominance {
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

    pub fn verdict(&self) -> Verdict {
        match self.best.as_ref().map(|(_, p)| p.reading()) {
            None => Verdict::NoFasterWinner,
            Some(Reading::WithinNoise) => Verdict::WithinNoise,
            Some(Reading::ABetter) => Verdict::WinnerBetter,
            Some(Reading::BBetter) => Verdict::BaselineBetter,
        }
    }

    pub fn to_json(&self) -> serde_json::Value {
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
    pub fn line(&self) -> String {
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

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use edgenas_space::{Genome, SearchSpace};
    use edgenas_train::trainer::accuracy;

    use super::*;

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
            genome: space.encode(&archs[i]).unwrap(),
            generation: 1,
            accuracy,
            latency_ms: vec![lat],
            flash_bytes: 0,
            sram_bytes: 0,
            macs: 0,
            params,
            feasible: true,
            seconds: 0.0,
            failed: None,
        };
        let baseline = rec(0, 0.80, 1.0, 100);
        let front = vec![rec(1, 0.90, 0.5, 10), rec(8, 0.95, 1.5, 10)];
        // the band 0.75-1.0 ms: better scores go with fewer parameters
        let mut evaluated: Vec<Record> = (2..7).map(|i| rec(i, 0.90 - 0.01 * i as f64, 0.8, 100 * i as u64)).collect();
        evaluated.push(rec(7, 0.99, 0.7, 10_000)); // faster than the band
        evaluated.push(rec(0, 0.99, 1.0, 100)); // the baseline's own network
        let ev: Vec<&Record> = evaluated.iter().collect();
        let decoded = Decoded::of(&space, evaluated.iter().chain(&front).chain([&baseline])).unwrap();
        let ids = |pool: Vec<&Record>| -> Vec<usize> {
            pool.iter().map(|r| archs.iter().position(|a| space.encode(a).unwrap() == r.genome).unwrap()).collect()
        };
        let pool = |k, rank| ids(challenger_pool(&decoded, &front, &ev, &baseline, k, 0.75, rank));
        // the front point no slower comes first; then the 2k best of the band
        assert_eq!(pool(2, ChallengerRank::Score), vec![1, 2, 3, 4, 5]);
        assert_eq!(pool(2, ChallengerRank::Params), vec![1, 6, 5, 4, 3]);
        // by work: the band's multiply-accumulates in an order of their own
        for (r, macs) in evaluated.iter_mut().zip([50, 400, 100, 300, 200]) {
            r.macs = macs;
        }
        let ev: Vec<&Record> = evaluated.iter().collect();
        let decoded = Decoded::of(&space, evaluated.iter().chain(&front).chain([&baseline])).unwrap();
        let pool = |k, rank| ids(challenger_pool(&decoded, &front, &ev, &baseline, k, 0.75, rank));
        assert_eq!(pool(2, ChallengerRank::Macs), vec![1, 3, 5, 6, 4]);
        // one candidate: the front alone
        assert_eq!(pool(1, ChallengerRank::Params), vec![1]);
    }

    #[test]
    fn the_finished_spread_holds_each_network_once() {
        let space = SearchSpace::default_space();
        let rec = |genome: Genome, lat: f64| Record {
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
            failed: None,
        };
        // a network with a stage below its largest depth, and a genome that differs from its
        // encoding only in a gene of an unused block
        let arch = (0..).map(|s| space.sample(s)).find(|a| a.stages.iter().any(|s| s.blocks.len() == 1)).unwrap();
        let g = space.encode(&arch).unwrap();
        let twin = (0..g.0.len())
            .flat_map(|i| (0..4).map(move |v| (i, v)))
            .map(|(i, v)| {
                let mut t = g.clone();
                t.0[i] = v;
                t
            })
            .find(|t| *t != g && space.decode(t).ok().as_ref() == Some(&arch))
            .expect("a gene of an unused block");
        let other = (0..).map(|s| space.sample(s)).find(|a| *a != arch).unwrap();
        let front = vec![rec(g.clone(), 0.3), rec(twin, 0.3), rec(space.encode(&other).unwrap(), 0.5)];
        let decoded = Decoded::of(&space, &front).unwrap();
        let picked = spread(&decoded, &front, 3);
        assert_eq!(picked.len(), 2, "the twin genome is the same network");
        assert_eq!(picked[0].genome, g);
        assert_eq!(space.decode(&picked[1].genome).unwrap(), other);
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
            on_devices: Vec::new(),
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

/// A baseline within the budget and the point of the front that matches or beats it under the
/// search's own scoring: at least as accurate, and no slower on any latency objective.
#[derive(Debug, Clone, PartialEq)]
pub struct FrontMatch {
    /// The baseline's name.
    pub baseline: String,
    /// The matching front point (its index in `pareto.json`): the most accurate one, the
    /// fastest among equals; `None` when no point of the front matches the baseline.
    pub front_index: Option<usize>,
}

impl FrontMatch {
    /// Each feasible baseline (`(name, record)`) and its match in `front`.
    pub fn of<'a>(front: &[Record], baselines: impl IntoIterator<Item = (&'a str, &'a Record)>) -> Vec<FrontMatch> {
        baselines
            .into_iter()
            .filter(|(_, b)| b.feasible)
            .map(|(name, b)| {
                let matches = |r: &Record| {
                    r.accuracy >= b.accuracy && r.latency_ms.iter().zip(&b.latency_ms).all(|(r, b)| r <= b)
                };
                let front_index = front
                    .iter()
                    .enumerate()
                    .filter(|(_, r)| matches(r))
                    .max_by(|(_, x), (_, y)| {
                        x.accuracy.total_cmp(&y.accuracy).then(y.latency_ms[0].total_cmp(&x.latency_ms[0]))
                    })
                    .map(|(i, _)| i);
                FrontMatch { baseline: name.to_string(), front_index }
            })
            .collect()
    }

    /// The summary's entry: the baseline and the front point's index, accuracy and latency.
    pub fn to_json(&self, front: &[Record]) -> serde_json::Value {
        let point = self.front_index.map(|i| &front[i]);
        serde_json::json!({
            "baseline": self.baseline,
            "front_index": self.front_index,
            "accuracy": point.map(|r| r.accuracy),
            "latency_ms": point.map(|r| r.latency_ms.clone()),
        })
    }
}

#[cfg(test)]
mod front_match_tests {
    use super::*;

    fn record(accuracy: f64, latency_ms: f64, feasible: bool) -> Record {
        Record::scored(accuracy, latency_ms, feasible)
    }

    #[test]
    fn the_most_accurate_point_no_slower_matches_and_infeasible_baselines_are_left_out() {
        let front = [record(0.80, 0.1, true), record(0.90, 0.2, true), record(0.95, 0.4, true)];
        let (narrow, mid, wide, slow) =
            (record(0.85, 0.2, true), record(0.90, 0.2, true), record(0.99, 0.5, false), record(0.97, 0.3, true));
        let m = FrontMatch::of(&front, [("narrow", &narrow), ("mid", &mid), ("wide", &wide), ("slow", &slow)]);
        let got: Vec<(&str, Option<usize>)> = m.iter().map(|m| (m.baseline.as_str(), m.front_index)).collect();
        // narrow: beaten by 1 (more accurate, as fast); mid: matched by 1 (equal); wide: over
        // budget; slow: nothing on the front is as accurate and no slower
        assert_eq!(got, [("narrow", Some(1)), ("mid", Some(1)), ("slow", None)]);
        assert_eq!(m[0].to_json(&front)["accuracy"], 0.90);
        assert!(m[2].to_json(&front)["front_index"].is_null());
    }
}
