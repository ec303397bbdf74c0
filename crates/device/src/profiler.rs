//! Profiling a device: every block configuration of a space exported as its own micro-model
//! and timed on the device, journaled as it lands; calibration of the predictor from a few
//! end-to-end measurements; the accuracy report and the drift check.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Instant;

use edgenas_onnx::{export_architecture, export_key, to_bytes, Timing};
use edgenas_space::{BlockKey, RandomWeights, SearchSpace};
use edgenas_store::{Header, Journal};
use rand::seq::index::sample;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use edgenas_profile::{
    host_load, now_utc, AccuracyReport, Calibration, CheckRow, KeyStat, LatencyProfile, Provenance, VerifyReport,
    PROFILE_FORMAT,
};
use edgenas_protocol::DeviceInfo;

use crate::client::Client;
use crate::config::DeviceConfig;
use crate::error::{DeviceError, Result};

/// The pure figures of a check (edgenas-profile's), under their former paths.
pub use edgenas_profile::fit::{accuracy, fit_line, kendall_tau};

/// Seed of the random weights of profiled micro-models and calibration models.
pub const WEIGHT_SEED: u64 = 0;
/// Sampling seeds of calibration architectures start here (check uses other seeds).
pub const CALIBRATION_SEED_BASE: u64 = 1_000_000;
/// Sampling seeds of `profile check` architectures start here.
pub const CHECK_SEED_BASE: u64 = 2_000_000;

/// Profiling settings.
#[derive(Debug, Clone)]
pub struct ProfileOptions {
    /// Untimed runs per measurement.
    pub warmup: u32,
    /// Timed runs per measurement.
    pub runs: u32,
    /// Interleaved passes over all keys (or models); a key keeps the pass with the lowest
    /// median, which rejects slow-downs caused by other load on a shared machine.
    pub passes: u32,
    /// Re-measure a key when `(p90 - p10) / median` exceeds this.
    pub max_spread: f64,
    /// Extra measurements allowed per key and pass.
    pub max_remeasure: u32,
    /// Architectures measured end to end to fit the calibration.
    pub calibration_archs: usize,
}

impl ProfileOptions {
    /// Settings from a device description.
    pub fn for_device(device: &DeviceConfig) -> Self {
        ProfileOptions {
            warmup: device.runtime.warmup,
            runs: device.runtime.runs,
            passes: device.runtime.passes,
            max_spread: 0.15,
            max_remeasure: 1,
            calibration_archs: 12,
        }
    }
}

/// Progress events for a progress bar.
#[derive(Debug, Clone)]
pub enum Progress<'a> {
    /// Key measurement starts: `total` measurements (keys x passes), `done` already journaled.
    Start {
        /// Measurements in all.
        total: usize,
        /// Measurements already done.
        done: usize,
    },
    /// A key was measured.
    Key {
        /// The key.
        key: &'a BlockKey,
        /// Its median in this pass.
        median_ns: f64,
    },
    /// End-to-end measurements start.
    Calibrating {
        /// Measurements to make (models x passes).
        total: usize,
    },
    /// One end-to-end measurement made.
    Model,
    /// Something the user should know; the work goes on.
    Warning(String),
}

/// One line of the journal.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
enum JournalLine {
    Header { device: String, device_info: DeviceInfo, space_hash: String, warmup: u32, runs: u32, passes: u32 },
    Key { key: BlockKey, pass: u32, stat: KeyStat },
}

/// The journal path beside a profile path (`x.json` -> `x.journal.jsonl`).
pub fn journal_path(out: &Path) -> PathBuf {
    out.with_extension("journal.jsonl")
}

/// Whether two hello answers describe the same device and software.
pub fn same_device(a: &DeviceInfo, b: &DeviceInfo) -> bool {
    a.cpu == b.cpu && a.os == b.os && a.arch == b.arch && a.runtime == b.runtime && a.agent_version == b.agent_version
}

/// Schema version of the profiler journal's lines.
const JOURNAL_SCHEMA: u32 = 1;

/// The profiler's journal at `path` for a run whose settings line is `settings`: behind the
/// common header, that line first, then one line per key and pass. The settings are compared
/// line against line (to name what differs), not by the header's hash.
fn journal(path: &Path, settings: &JournalLine) -> Journal<JournalLine> {
    let hash = edgenas_store::content_hash(&serde_json::to_vec(settings).expect("journal line serializes"));
    let header = Header { journal: "profile".into(), schema: JOURNAL_SCHEMA, config_hash: hash };
    Journal::new(path, header).settings_checked_by_caller()
}

/// Measurements already in a journal, by key (one entry per pass), checked against this run's
/// settings line `expected`. A last line cut short by a kill is dropped (and cut off the file)
/// with a warning through `progress`.
fn read_journal(
    journal: &Journal<JournalLine>,
    expected: &JournalLine,
    progress: &mut dyn FnMut(Progress),
) -> Result<BTreeMap<BlockKey, Vec<KeyStat>>> {
    let JournalLine::Header { device, device_info, space_hash, warmup, runs, passes } = expected else {
        unreachable!("expected is a header")
    };
    let path = journal.path();
    let loaded = journal.load().map_err(|e| DeviceError::config(path, e.detail()))?;
    if let Some(w) = loaded.torn {
        progress(Progress::Warning(w));
    }
    let mut keys: BTreeMap<BlockKey, Vec<KeyStat>> = BTreeMap::new();
    let mut header_seen = false;
    for parsed in loaded.entries {
        match parsed {
            JournalLine::Header { device: d, device_info: di, space_hash: h, warmup: w, runs: r, passes: p } => {
                if &d != device
                    || &h != space_hash
                    || w != *warmup
                    || r != *runs
                    || p != *passes
                    || !same_device(&di, device_info)
                {
                    return Err(DeviceError::config(
                        path,
                        format!(
                            "journal is of device {d:?} ({}, {}), space hash {h}, warm-up {w}, runs {r}, passes {p}; this run is device {device:?} ({}, {}), space hash {space_hash}, warm-up {warmup}, runs {runs}, passes {passes}; remove the journal to start over",
                            di.cpu, di.runtime, device_info.cpu, device_info.runtime
                        ),
                    ));
                }
                header_seen = true;
            }
            JournalLine::Key { key, pass, stat } => {
                let v = keys.entry(key).or_default();
                if pass as usize == v.len() {
                    v.push(stat);
                }
            }
        }
    }
    if !header_seen && !keys.is_empty() {
        return Err(DeviceError::config(path, "journal has no header line; remove it to start over"));
    }
    Ok(keys)
}

/// Timing of one model measured on the device, re-measured while its spread is high;
/// the measurement with the lowest median is kept (noise only ever adds time).
fn measure_model(client: &mut Client, bytes: &[u8], opts: &ProfileOptions) -> Result<(Timing, u32)> {
    let mut best: Option<Timing> = None;
    let mut attempts = 0;
    for _ in 0..=opts.max_remeasure {
        attempts += 1;
        let t = Timing::from_ns(&client.measure(bytes, opts.warmup, opts.runs)?);
        let spread = t.spread();
        if best.as_ref().is_none_or(|b| t.median_ns < b.median_ns) {
            best = Some(t);
        }
        if spread <= opts.max_spread {
            break;
        }
    }
    Ok((best.expect("measured at least once"), attempts))
}

/// Measure several models end to end in `opts.passes` interleaved passes; per model the
/// pass with the lowest median is kept.
pub fn measure_models(
    client: &mut Client,
    models: &[Vec<u8>],
    opts: &ProfileOptions,
    progress: &mut dyn FnMut(Progress),
) -> Result<Vec<Timing>> {
    progress(Progress::Calibrating { total: models.len() * opts.passes as usize });
    let mut best: Vec<Option<Timing>> = vec![None; models.len()];
    for _ in 0..opts.passes.max(1) {
        for (i, m) in models.iter().enumerate() {
            let (t, _) = measure_model(client, m, opts)?;
            if best[i].as_ref().is_none_or(|b| t.median_ns < b.median_ns) {
                best[i] = Some(t);
            }
            progress(Progress::Model);
        }
    }
    Ok(best.into_iter().map(|t| t.expect("measured")).collect())
}

fn stat(t: &Timing, attempts: u32) -> KeyStat {
    KeyStat { median_ns: t.median_ns, p10_ns: t.p10_ns, p90_ns: t.p90_ns, min_ns: t.min_ns, runs: t.runs, attempts }
}

/// The pass of a key with the lowest median; `attempts` counts every measurement.
fn best_pass(v: &[KeyStat]) -> KeyStat {
    let mut best = v.iter().min_by(|a, b| a.median_ns.total_cmp(&b.median_ns)).expect("at least one pass").clone();
    best.attempts = v.iter().map(|s| s.attempts).sum();
    best
}

/// Profile `space` on the device reached by `client`, journaling to `journal` and resuming
/// from it when `resume` is set. Returns the finished profile (not yet written).
pub fn profile(
    client: &mut Client,
    device: &DeviceConfig,
    space: &SearchSpace,
    journal: &Path,
    resume: bool,
    opts: &ProfileOptions,
    progress: &mut dyn FnMut(Progress),
) -> Result<LatencyProfile> {
    let info = client.hello()?;
    let hash = space.hash();
    let all: BTreeSet<BlockKey> = space.block_keys();
    let passes = opts.passes.max(1);
    let header = JournalLine::Header {
        device: device.name.clone(),
        device_info: info.clone(),
        space_hash: hash.clone(),
        warmup: opts.warmup,
        runs: opts.runs,
        passes,
    };
    let jpath = journal;
    let mut journal = self::journal(jpath, &header);
    let mut done = if jpath.exists() {
        if !resume {
            return Err(DeviceError::config(
                jpath,
                "a journal of an earlier, unfinished profile exists; pass --resume to continue it or remove it to start over",
            ));
        }
        read_journal(&journal, &header, progress)?
    } else {
        BTreeMap::new()
    };
    done.retain(|k, _| all.contains(k));
    let resumed: usize = done.values().map(|v| v.len().min(passes as usize)).sum();
    let fresh = !jpath.exists() || std::fs::metadata(jpath).map(|m| m.len() == 0).unwrap_or(true);
    let append = |journal: &mut Journal<JournalLine>, line: &JournalLine| {
        journal.append(line).map_err(|e| DeviceError::config(jpath, e.detail()))
    };
    if fresh {
        append(&mut journal, &header)?;
    }
    progress(Progress::Start { total: all.len() * passes as usize, done: resumed });
    let started = Instant::now();
    let weights = RandomWeights { seed: WEIGHT_SEED };
    let mut measured_now = 0usize;
    for pass in 0..passes {
        let todo: Vec<BlockKey> =
            all.iter().filter(|k| done.get(*k).map_or(0, |v| v.len()) <= pass as usize).copied().collect();
        for key in &todo {
            let bytes = to_bytes(&export_key(key, &weights)?);
            let (t, attempts) = measure_model(client, &bytes, opts)?;
            let s = stat(&t, attempts);
            append(&mut journal, &JournalLine::Key { key: *key, pass, stat: s.clone() })?;
            done.entry(*key).or_default().push(s);
            progress(Progress::Key { key, median_ns: t.median_ns });
            measured_now += 1;
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let mut prof = LatencyProfile {
        format: PROFILE_FORMAT,
        provenance: Provenance {
            device: device.name.clone(),
            description: device.description.clone(),
            device_info: info.clone(),
            edgenas_version: env!("CARGO_PKG_VERSION").into(),
            warmup: opts.warmup,
            runs: opts.runs,
            passes,
            threads: info.threads,
            space_name: space.name.clone(),
            space_hash: hash,
            date: now_utc(),
            seconds,
            resumed_measurements: resumed,
            measurements: measured_now,
            host_load: host_load(),
        },
        space: space.clone(),
        keys: done.iter().map(|(k, v)| (*k, best_pass(v))).collect(),
        calibration: Calibration::default(),
        accuracy: None,
        verify: None,
    };
    prof.calibration = calibrate(client, &prof, opts, progress)?;
    Ok(prof)
}

/// Measure the per-model overhead (a trivial model) and fit scale and offset from the
/// smallest and largest architectures and `opts.calibration_archs` random ones, measured end
/// to end.
pub fn calibrate(
    client: &mut Client,
    prof: &LatencyProfile,
    opts: &ProfileOptions,
    progress: &mut dyn FnMut(Progress),
) -> Result<Calibration> {
    let trivial = to_bytes(&edgenas_onnx::export::trivial_model());
    let (t, _) = measure_model(client, &trivial, opts)?;
    let overhead_ns = t.median_ns;
    let base = Calibration { overhead_ns, ..Calibration::default() };
    let mut xs = Vec::new();
    let mut models = Vec::new();
    // random samples sit in the middle of the space; the smallest and the largest
    // architecture anchor the fitted line at both ends, where the search's fronts end
    let archs = [prof.space.smallest_architecture(), prof.space.largest_architecture()]
        .into_iter()
        .chain((0..opts.calibration_archs).map(|i| prof.space.sample(CALIBRATION_SEED_BASE + i as u64)));
    for arch in archs {
        let raw = prof.raw(&arch)?;
        xs.push(base.apply(raw.sum_ns, raw.blocks.len()));
        models.push(to_bytes(&export_architecture(&arch, &RandomWeights { seed: WEIGHT_SEED })?));
    }
    let ys: Vec<f64> = measure_models(client, &models, opts, progress)?.iter().map(|t| t.median_ns).collect();
    let (scale, offset_ns) = fit_line(&xs, &ys);
    // a nonsensical fit (too few or too noisy points) falls back to the overhead correction only
    let (scale, offset_ns) =
        if scale.is_finite() && scale > 0.2 && scale < 5.0 { (scale, offset_ns) } else { (1.0, 0.0) };
    Ok(Calibration { overhead_ns, scale, offset_ns, fitted_on: xs.len() })
}

/// Refuse to check a profile against another device than the one it was measured on.
fn check_same_device(prof: &LatencyProfile, info: &DeviceInfo) -> Result<()> {
    let rec = &prof.provenance.device_info;
    if rec.cpu != info.cpu || rec.os != info.os || rec.arch != info.arch {
        return Err(DeviceError::config(
            "--device",
            format!(
                "the profile was measured on {} ({}/{}), but this device reports {} ({}/{}); pass the device it was measured on",
                rec.cpu, rec.os, rec.arch, info.cpu, info.os, info.arch
            ),
        ));
    }
    Ok(())
}

/// Measure `n` random architectures end to end and compare with the prediction.
pub fn check(
    client: &mut Client,
    prof: &LatencyProfile,
    n: usize,
    opts: &ProfileOptions,
    progress: &mut dyn FnMut(Progress),
) -> Result<AccuracyReport> {
    if n == 0 {
        return Err(DeviceError::config("-n", "at least 1 architecture is needed"));
    }
    let info = client.hello()?;
    check_same_device(prof, &info)?;
    let mut seeds = Vec::with_capacity(n);
    let mut predicted = Vec::with_capacity(n);
    let mut models = Vec::with_capacity(n);
    for i in 0..n {
        let seed = CHECK_SEED_BASE + i as u64;
        let arch = prof.space.sample(seed);
        predicted.push(prof.predict(&arch)?.latency_ns);
        models.push(to_bytes(&export_architecture(&arch, &RandomWeights { seed: WEIGHT_SEED })?));
        seeds.push(seed);
    }
    let measured = measure_models(client, &models, opts, progress)?;
    let rows: Vec<CheckRow> = seeds
        .into_iter()
        .zip(predicted)
        .zip(measured)
        .map(|((seed, predicted_ns), t)| CheckRow { seed, predicted_ns, measured_ns: t.median_ns })
        .collect();
    Ok(accuracy(rows))
}

/// Re-measure `n` keys sampled with `seed`; a key moved when its new median left
/// `[p10 - margin * median, p90 + margin * median]`. The profile is stale when the runtime or
/// agent version changed, when the median of the new/old ratios left `1 +- margin` (a
/// systematic shift: other clock, firmware, runtime), or when more than `stale_share` of the
/// sampled keys moved (noise moves single keys both ways and leaves the median ratio near 1).
#[allow(clippy::too_many_arguments)]
pub fn verify(
    client: &mut Client,
    prof: &LatencyProfile,
    n: usize,
    seed: u64,
    margin: f64,
    stale_share: f64,
    opts: &ProfileOptions,
    progress: &mut dyn FnMut(Progress),
) -> Result<VerifyReport> {
    let info = client.hello()?;
    let keys: Vec<&BlockKey> = prof.keys.keys().collect();
    let n = n.min(keys.len());
    if n == 0 {
        return Err(DeviceError::config("-n", "at least 1 key is needed"));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let picked = sample(&mut rng, keys.len(), n);
    let weights = RandomWeights { seed: WEIGHT_SEED };
    progress(Progress::Start { total: n, done: 0 });
    let mut moved = Vec::new();
    let mut ratios = Vec::new();
    for i in picked.iter() {
        let key = keys[i];
        let old = &prof.keys[key];
        let bytes = to_bytes(&export_key(key, &weights)?);
        let t = measure_models(client, &[bytes], opts, &mut |_| {})?.remove(0);
        let lo = old.p10_ns - margin * old.median_ns;
        let hi = old.p90_ns + margin * old.median_ns;
        if t.median_ns < lo || t.median_ns > hi {
            moved.push(key.to_string());
        }
        ratios.push(t.median_ns / old.median_ns);
        progress(Progress::Key { key, median_ns: t.median_ns });
    }
    ratios.sort_by(|a, b| a.total_cmp(b));
    let median_ratio = edgenas_onnx::timing::percentile(&ratios, 0.5);
    let changed_runtime = info.runtime != prof.provenance.device_info.runtime
        || info.agent_version != prof.provenance.device_info.agent_version;
    Ok(VerifyReport {
        date: now_utc(),
        sampled: n,
        stale: changed_runtime
            || (median_ratio - 1.0).abs() > margin.max(0.0)
            || (moved.len() as f64) > stale_share * n as f64,
        moved,
        median_ratio,
        device_info: info,
    })
}
