//! `edgenas profile`: measure a device's latency table; `profile check`: accuracy report;
//! `profile verify`: drift check.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use edgenas_device::lut::AccuracyReport;
use edgenas_device::profiler::{self, journal_path, ProfileOptions, Progress};
use edgenas_device::{DeviceConfig, LatencyProfile};
use indicatif::ProgressBar;

use crate::progress::bar;
use crate::util::{human_ns, load_space};

/// Options of `profile`.
#[derive(Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct ProfileCmd {
    #[command(subcommand)]
    sub: Option<ProfileSub>,
    #[command(flatten)]
    args: ProfileArgs,
}

#[derive(Subcommand)]
enum ProfileSub {
    /// Measure random architectures end to end and report how well the profile predicts them.
    Check(CheckArgs),
    /// Re-measure a sample of keys and flag the profile as stale when they moved.
    Verify(VerifyArgs),
}

/// Measure every block configuration of a space on a device.
#[derive(Args)]
struct ProfileArgs {
    /// Device description (default: devices/local.toml, or this machine when it is missing).
    #[arg(long)]
    device: Option<PathBuf>,
    /// Search space TOML (default: the built-in default space).
    #[arg(long)]
    space: Option<PathBuf>,
    /// Output profile (default: profiles/<device>.json).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Continue an interrupted profile from its journal.
    #[arg(long)]
    resume: bool,
    /// Measure again into an `--out` that already holds a profile (it is replaced).
    #[arg(long)]
    force: bool,
    /// Override the device's timed runs per measurement.
    #[arg(long)]
    runs: Option<u32>,
    /// Override the device's warm-up runs.
    #[arg(long)]
    warmup: Option<u32>,
    /// Override the device's number of interleaved passes.
    #[arg(long)]
    passes: Option<u32>,
    /// Architectures measured end to end to calibrate the predictor, besides the space's
    /// largest and smallest (always measured: the calibration is anchored at both ends).
    #[arg(long, default_value_t = 12)]
    calibrate: usize,
    /// No progress bar and no summary lines (errors and warnings still print).
    #[arg(long)]
    quiet: bool,
    /// Machine-readable JSON summary.
    #[arg(long)]
    json: bool,
}

/// Output flags shared by `profile check` and `profile verify`.
#[derive(Args)]
struct ReportFlags {
    /// Do not store the report in the profile.
    #[arg(long)]
    no_save: bool,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
    /// Machine-readable JSON output.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct CheckArgs {
    /// The profile to check.
    #[arg(long, default_value = "profiles/local.json")]
    profile: PathBuf,
    /// Device description (default: devices/<profile's device>.toml, or this machine for `local`).
    #[arg(long)]
    device: Option<PathBuf>,
    /// Architectures to measure.
    #[arg(short = 'n', long, default_value_t = 100)]
    archs: usize,
    #[command(flatten)]
    report: ReportFlags,
}

#[derive(Args)]
struct VerifyArgs {
    /// The profile to verify.
    #[arg(long, default_value = "profiles/local.json")]
    profile: PathBuf,
    /// Device description (default: devices/<profile's device>.toml, or this machine for `local`).
    #[arg(long)]
    device: Option<PathBuf>,
    /// Keys to re-measure.
    #[arg(short = 'n', long, default_value_t = 30)]
    keys: usize,
    /// Seed of the key sample.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Extra tolerance around the recorded p10..p90 band, as a share of the median.
    #[arg(long, default_value_t = 0.10)]
    margin: f64,
    /// Stale when more than this share of keys moved (a median new/old ratio beyond 1 +- margin
    /// is stale too).
    #[arg(long, default_value_t = 0.5)]
    stale_share: f64,
    #[command(flatten)]
    report: ReportFlags,
}

/// The device description at `path`, or for a missing default path the built-in local one.
fn load_device(path: Option<&Path>, default_name: &str) -> Result<DeviceConfig> {
    match path {
        Some(p) => Ok(DeviceConfig::from_file(p)?),
        None => DeviceConfig::named(default_name)?.ok_or_else(|| {
            anyhow::anyhow!(
                "devices/{default_name}.toml: no such device description (nor in devices/examples/); pass --device"
            )
        }),
    }
}

fn progress_sink(pb: &ProgressBar) -> impl FnMut(Progress) + '_ {
    // test hook: die like a killed process, without any clean-up, after this many keys
    let abort_after: Option<usize> = std::env::var("EDGENAS_TEST_ABORT_AFTER_KEYS").ok().and_then(|v| v.parse().ok());
    let mut measured_now = 0usize;
    move |p| match p {
        Progress::Start { total, done } => {
            pb.set_length(total as u64);
            pb.set_position(done as u64);
            pb.reset_eta();
        }
        Progress::Key { key, median_ns } => {
            pb.set_message(format!("{key} {}", human_ns(median_ns)));
            pb.inc(1);
            measured_now += 1;
            if abort_after == Some(measured_now) {
                std::process::abort();
            }
        }
        Progress::Calibrating { total } => {
            pb.set_prefix("end to end");
            pb.set_length(total as u64);
            pb.set_position(0);
            pb.reset_eta();
        }
        Progress::Model => pb.inc(1),
        Progress::Warning(w) => pb.suspend(|| eprintln!("warning: {w}")),
    }
}

impl ProfileCmd {
    pub fn run(self) -> Result<()> {
        match self.sub {
            Some(ProfileSub::Check(c)) => c.run(),
            Some(ProfileSub::Verify(v)) => v.run(),
            None => self.args.run(),
        }
    }
}

/// Profile this machine (`devices/local.toml` or the built-in local device) for `space`
/// into `out` with the default settings; resumes from a journal left by an interrupted run.
pub fn profile_local(space: Option<&Path>, out: &Path, quiet: bool) -> Result<()> {
    let resume = journal_path(out).exists();
    ProfileArgs {
        device: None,
        space: space.map(Path::to_path_buf),
        out: Some(out.to_path_buf()),
        resume,
        // `edgenas run` measures this machine again when the profile there is another's
        force: true,
        runs: None,
        warmup: None,
        passes: None,
        calibrate: 12,
        quiet,
        json: false,
    }
    .run()
}

impl ProfileArgs {
    fn run(self) -> Result<()> {
        let device = load_device(self.device.as_deref(), "local")?;
        let space = load_space(self.space.as_deref())?;
        let out = self.out.clone().unwrap_or_else(|| PathBuf::from(format!("profiles/{}.json", device.name)));
        if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
            anyhow::ensure!(dir.is_dir(), "cannot write {}: folder {} does not exist", out.display(), dir.display());
        }
        let mut opts = ProfileOptions::for_device(&device);
        opts.runs = self.runs.unwrap_or(opts.runs);
        opts.warmup = self.warmup.unwrap_or(opts.warmup);
        opts.passes = self.passes.unwrap_or(opts.passes);
        edgenas_device::config::check_runtime(opts.warmup, opts.runs, opts.passes).map_err(|m| {
            // a value given on the command line is named by its flag
            let flags =
                [("runs", self.runs.is_some()), ("warmup", self.warmup.is_some()), ("passes", self.passes.is_some())];
            let flag = flags.iter().find(|(f, given)| *given && m.starts_with(&format!("runtime.{f} =")));
            match flag {
                Some((f, _)) => anyhow::anyhow!("{}", m.replacen(&format!("runtime.{f} ="), &format!("--{f}"), 1)),
                None => anyhow::anyhow!("{m}"),
            }
        })?;
        let journal = journal_path(&out);
        anyhow::ensure!(!out.is_dir(), "{}: is a folder; --out takes a profile file (JSON)", out.display());
        anyhow::ensure!(
            self.force || self.resume || !out.exists(),
            "{}: {}; pass --force to measure it again (it is replaced) or choose another --out",
            out.display(),
            if LatencyProfile::from_file(&out).is_ok() { "already holds a profile" } else { "exists (not a profile)" }
        );
        anyhow::ensure!(
            !self.resume || journal.exists(),
            "--resume: {} does not exist, so there is nothing to resume{}",
            journal.display(),
            if LatencyProfile::from_file(&out).is_ok() {
                format!(" ({} is a finished profile; --force measures it again)", out.display())
            } else {
                "; run without --resume".to_string()
            }
        );
        opts.calibration_archs = self.calibrate;
        let mut client = device.client();
        let pb = bar(space.block_keys().len() as u64, self.quiet, "profiling");
        let started = std::time::Instant::now();
        let prof =
            profiler::profile(&mut client, &device, &space, &journal, self.resume, &opts, &mut progress_sink(&pb))
                .with_context(|| format!("profiling {} ({})", device.name, client.describe()))?;
        pb.finish_and_clear();
        prof.write(&out)?;
        // the raw measurements stay beside the profile; the journal name is free again
        let raw = out.with_extension("measurements.jsonl");
        std::fs::rename(&journal, &raw)
            .with_context(|| format!("cannot rename {} to {}", journal.display(), raw.display()))?;
        let wall = started.elapsed().as_secs_f64();
        if self.json {
            println!(
                "{}",
                serde_json::to_string_pretty(&serde_json::json!({
                    "profile": out,
                    "keys": prof.keys.len(),
                    "passes": prof.provenance.passes,
                    "resumed_measurements": prof.provenance.resumed_measurements,
                    "measurements": prof.provenance.measurements,
                    "seconds": wall,
                    "calibration": prof.calibration,
                    "client": {"retries": client.stats.retries, "reconnects": client.stats.reconnects, "reloads": client.stats.reloads},
                }))?
            );
        } else if !self.quiet {
            println!(
                "wrote {}: {} keys x {} passes ({} measurements now, {} from the journal) in {:.1} s on {} ({})",
                out.display(),
                prof.keys.len(),
                prof.provenance.passes,
                prof.provenance.measurements,
                prof.provenance.resumed_measurements,
                wall,
                device.name,
                prof.provenance.device_info.cpu
            );
            let c = &prof.calibration;
            println!(
                "calibration: per-model overhead {}, scale {:.3}, offset {} (fitted on {} models)",
                human_ns(c.overhead_ns),
                c.scale,
                human_ns(c.offset_ns),
                c.fitted_on
            );
        }
        Ok(())
    }
}

/// Print an accuracy report as a table.
pub fn print_report(r: &AccuracyReport) {
    println!("architectures measured   {}", r.architectures);
    println!("MAPE                     {:.2} %", r.mape);
    println!("within +-5 %             {:.1} %", 100.0 * r.within_5);
    println!("within +-10 %            {:.1} %", 100.0 * r.within_10);
    println!("Kendall's tau            {:.3}", r.kendall_tau);
}

/// A profile, the device it was measured on (or the one given) and the benchmark settings
/// it was measured with.
fn open_profile(path: &Path, device: Option<&Path>) -> Result<(LatencyProfile, DeviceConfig, ProfileOptions)> {
    let prof = LatencyProfile::from_file(path)?;
    let device = load_device(device, &prof.provenance.device)?;
    let mut opts = ProfileOptions::for_device(&device);
    opts.warmup = prof.provenance.warmup;
    opts.runs = prof.provenance.runs;
    opts.passes = prof.provenance.passes;
    Ok((prof, device, opts))
}

impl CheckArgs {
    fn run(self) -> Result<()> {
        anyhow::ensure!(
            self.archs >= 2,
            "-n/--archs: {} is not allowed; allowed: 2 or more (Kendall's tau ranks pairs)",
            self.archs
        );
        let (mut prof, device, opts) = open_profile(&self.profile, self.device.as_deref())?;
        let mut client = device.client();
        let pb = bar(self.archs as u64, self.report.quiet, "checking");
        let report = profiler::check(&mut client, &prof, self.archs, &opts, &mut progress_sink(&pb))?;
        pb.finish_and_clear();
        if self.report.json {
            println!("{}", serde_json::to_string_pretty(&report)?);
        } else {
            print_report(&report);
        }
        if !self.report.no_save {
            prof.accuracy = Some(report);
            prof.write(&self.profile)?;
        }
        Ok(())
    }
}

impl VerifyArgs {
    fn run(self) -> Result<()> {
        anyhow::ensure!(
            self.stale_share > 0.0 && self.stale_share <= 1.0,
            "--stale-share: {} is not allowed; allowed: a share of the keys in (0, 1]",
            self.stale_share
        );
        anyhow::ensure!(self.keys >= 1, "-n/--keys: 0 is not allowed; allowed: 1 or more");
        anyhow::ensure!(
            self.margin.is_finite() && self.margin >= 0.0,
            "--margin: {} is not allowed; allowed: a share of the median, 0 or more",
            self.margin
        );
        let (mut prof, device, opts) = open_profile(&self.profile, self.device.as_deref())?;
        let mut client = device.client();
        let pb = bar(self.keys as u64, self.report.quiet, "verifying");
        let report = profiler::verify(
            &mut client,
            &prof,
            self.keys,
            self.seed,
            self.margin,
            self.stale_share,
            &opts,
            &mut progress_sink(&pb),
        )?;
        pb.finish_and_clear();
        if self.report.json {
            println!("{}", serde_json::to_string_pretty(&report)?);
        } else {
            println!("keys re-measured         {}", report.sampled);
            println!("keys moved               {}", report.moved.len());
            println!("median new/old ratio     {:.3}", report.median_ratio);
            println!(
                "verdict                  {}",
                if report.stale { "STALE: re-profile this device" } else { "fresh" }
            );
        }
        let stale = report.stale;
        if !self.report.no_save {
            prof.verify = Some(report);
            prof.write(&self.profile)?;
        }
        if stale {
            std::process::exit(3);
        }
        Ok(())
    }
}
