//! edgenas-profile owns what a search needs of a device, without talking to one: the latency
//! profile file (`profiles/<device>.json`: a lookup table of measured block latencies with
//! provenance, the calibration of the predictor and its accuracy and drift reports), the
//! calibrated predictor, and the pure figures behind calibration and checks (the line fit,
//! Kendall's tau, the accuracy report). It depends on edgenas-space and, for [`DeviceInfo`],
//! edgenas-protocol: no serialport, no tract, no agent, so a crate can load a profile and
//! predict without compiling any of them. Measuring a profile is edgenas-device's `profiler`.

use std::collections::BTreeMap;
use std::path::Path;

use edgenas_space::{Architecture, BlockKey, SearchSpace};
use serde::{Deserialize, Serialize};

pub use edgenas_protocol::DeviceInfo;

mod error;
pub mod fit;

pub use error::{ProfileError, Result};
pub use fit::{accuracy, fit_line, kendall_tau};

/// Version of the profile file format.
pub const PROFILE_FORMAT: u32 = 1;

/// One measured key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyStat {
    /// Median latency, ns.
    pub median_ns: f64,
    /// 10th percentile, ns.
    pub p10_ns: f64,
    /// 90th percentile, ns.
    pub p90_ns: f64,
    /// Fastest run, ns.
    pub min_ns: f64,
    /// Timed runs behind these figures.
    pub runs: usize,
    /// Measurements taken (more than 1 when the spread was high and the key was re-measured).
    pub attempts: u32,
}

/// Where and how the table was measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Provenance {
    /// Device name (from its TOML).
    pub device: String,
    /// The device's description (from its TOML): what the timings are of (an emulated board
    /// says so).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// What the agent reported in hello (agent and runtime versions, OS, CPU, threads).
    pub device_info: DeviceInfo,
    /// edgenas version that measured.
    pub edgenas_version: String,
    /// Untimed runs before each measurement.
    pub warmup: u32,
    /// Timed runs per measurement.
    pub runs: u32,
    /// Interleaved passes over the keys (each key keeps its fastest pass).
    pub passes: u32,
    /// Runtime threads.
    pub threads: u32,
    /// Search space name.
    pub space_name: String,
    /// Search space hash (profiles are refused for other spaces).
    pub space_hash: String,
    /// When profiling finished (UTC, ISO 8601).
    pub date: String,
    /// Wall seconds spent measuring keys in the session that finished the profile.
    pub seconds: f64,
    /// Key measurements taken from the journal of an interrupted run.
    pub resumed_measurements: usize,
    /// Key measurements made by the session that finished the profile.
    pub measurements: usize,
    /// 1-minute load average of the host when it finished (Linux), a hint of noise.
    pub host_load: Option<f64>,
}

/// Correction from a plain sum of block latencies to a whole-model prediction:
/// `predicted = scale * (sum - (blocks - 1) * overhead) + offset`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Calibration {
    /// Fixed per-model overhead contained in every micro-model measurement, ns.
    pub overhead_ns: f64,
    /// Fitted scale.
    pub scale: f64,
    /// Fitted offset, ns.
    pub offset_ns: f64,
    /// Architectures measured end to end for the fit.
    pub fitted_on: usize,
}

impl Default for Calibration {
    fn default() -> Self {
        Calibration { overhead_ns: 0.0, scale: 1.0, offset_ns: 0.0, fitted_on: 0 }
    }
}

/// One architecture predicted and measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckRow {
    /// Sampling seed of the architecture.
    pub seed: u64,
    /// Predicted latency, ns.
    pub predicted_ns: f64,
    /// Measured median latency, ns.
    pub measured_ns: f64,
}

/// How well the profile predicts whole models (`edgenas profile check`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccuracyReport {
    /// Architectures measured.
    pub architectures: usize,
    /// Mean absolute percentage error, %.
    pub mape: f64,
    /// Share within +-5 %, in [0, 1].
    pub within_5: f64,
    /// Share within +-10 %, in [0, 1].
    pub within_10: f64,
    /// Kendall's tau-b between predicted and measured.
    pub kendall_tau: f64,
    /// When (UTC).
    pub date: String,
    /// Every architecture.
    pub rows: Vec<CheckRow>,
}

/// Result of re-measuring a sample of keys (`edgenas profile verify`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifyReport {
    /// When (UTC).
    pub date: String,
    /// Keys re-measured.
    pub sampled: usize,
    /// Keys whose new median left the recorded band.
    pub moved: Vec<String>,
    /// Median of new/old median ratios.
    pub median_ratio: f64,
    /// Whether the profile is judged stale.
    pub stale: bool,
    /// What the agent reported this time.
    pub device_info: DeviceInfo,
}

/// A device's latency profile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LatencyProfile {
    /// File format version.
    pub format: u32,
    /// Provenance.
    pub provenance: Provenance,
    /// The search space the keys come from.
    pub space: SearchSpace,
    /// Measured keys.
    pub keys: BTreeMap<BlockKey, KeyStat>,
    /// Predictor calibration.
    pub calibration: Calibration,
    /// Latest accuracy report.
    #[serde(default)]
    pub accuracy: Option<AccuracyReport>,
    /// Latest drift check.
    #[serde(default)]
    pub verify: Option<VerifyReport>,
}

/// A latency prediction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Prediction {
    /// Calibrated prediction, ns.
    pub latency_ns: f64,
    /// Plain sum of the blocks' medians, ns.
    pub sum_ns: f64,
    /// Keys in execution order with their medians, ns.
    pub blocks: Vec<(BlockKey, f64)>,
}

impl LatencyProfile {
    /// Read a profile file; errors name the file and the field.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text =
            std::fs::read_to_string(path).map_err(|source| ProfileError::Io { path: path.to_path_buf(), source })?;
        let p: LatencyProfile = serde_json::from_str(&text).map_err(|e| ProfileError::config(path, e.to_string()))?;
        if p.format != PROFILE_FORMAT {
            return Err(ProfileError::config(
                path,
                format!("format = {} is not supported; allowed: {PROFILE_FORMAT}", p.format),
            ));
        }
        p.space.check().map_err(|e| ProfileError::config(path, format!("space: {e}")))?;
        let valid = p.space.block_keys();
        if let Some(k) = p.keys.keys().find(|k| !valid.contains(k)) {
            return Err(ProfileError::config(path, format!("keys: {k} is not a block of the embedded space")));
        }
        if let Some((k, _)) = p.keys.iter().find(|(_, s)| !(s.median_ns.is_finite() && s.median_ns > 0.0)) {
            return Err(ProfileError::config(path, format!("keys.{k}.median_ns must be a positive number")));
        }
        if p.space.hash() != p.provenance.space_hash {
            return Err(ProfileError::config(
                path,
                "the embedded space does not match provenance.space_hash (edited file, or measured with other block semantics); re-profile",
            ));
        }
        Ok(p)
    }

    /// Write atomically.
    pub fn write(&self, path: &Path) -> Result<()> {
        let text = serde_json::to_string_pretty(self).expect("profile serializes");
        edgenas_space::io::write_atomic(path, text.as_bytes())?;
        Ok(())
    }

    /// Refuse a space other than the one profiled.
    pub fn check_space(&self, space: &SearchSpace) -> Result<()> {
        if space.hash() != self.provenance.space_hash {
            return Err(ProfileError::config(
                "space",
                format!(
                    "this profile was measured for space {:?} (hash {}), not {:?} (hash {}); profile the device for this space",
                    self.provenance.space_name,
                    self.provenance.space_hash,
                    space.name,
                    space.hash()
                ),
            ));
        }
        Ok(())
    }

    /// Sum of block medians without calibration; errors when a key is missing.
    pub fn raw(&self, arch: &Architecture) -> Result<Prediction> {
        let mut blocks = Vec::new();
        for k in arch.block_keys() {
            let s = self.keys.get(&k).ok_or_else(|| {
                ProfileError::config(
                    "profile",
                    format!("no measurement for block {k}; is the architecture from the profiled space?"),
                )
            })?;
            blocks.push((k, s.median_ns));
        }
        let sum_ns = blocks.iter().map(|b| b.1).sum();
        Ok(Prediction { latency_ns: sum_ns, sum_ns, blocks })
    }

    /// Predicted latency of `arch` (which must belong to the profiled space).
    pub fn predict(&self, arch: &Architecture) -> Result<Prediction> {
        self.space.encode(arch).map_err(|e| {
            ProfileError::config(
                "architecture",
                format!(
                    "not an architecture of the profiled space {:?} (hash {}): {e}",
                    self.provenance.space_name, self.provenance.space_hash
                ),
            )
        })?;
        let mut p = self.raw(arch)?;
        p.latency_ns = self.calibration.apply(p.sum_ns, p.blocks.len());
        Ok(p)
    }
}

impl Calibration {
    /// Calibrated latency from a plain sum over `n` micro-models.
    pub fn apply(&self, sum_ns: f64, n: usize) -> f64 {
        let corrected = sum_ns - (n.saturating_sub(1)) as f64 * self.overhead_ns;
        self.scale * corrected + self.offset_ns
    }
}

/// Current UTC time as ISO 8601 (`2026-11-28T02:10:38Z`).
pub fn now_utc() -> String {
    let secs =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // civil-from-days (H. Hinnant)
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// The host's 1-minute load average (Linux), if readable.
pub fn host_load() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg").ok()?.split_whitespace().next()?.parse().ok()
}
