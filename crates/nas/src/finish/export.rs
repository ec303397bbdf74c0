//! Finishing the picked models: weights (trained or read back), ONNX export checked against
//! Burn with tract, measurement on the device in interleaved passes, the front of the finished
//! models, and model cards.

use std::path::PathBuf;

use anyhow::{ensure, Context, Result};
use edgenas_device::profiler::{measure_models, ProfileOptions};
use edgenas_device::DeviceConfig;
use edgenas_onnx::{export_architecture, to_bytes, TractModel};
use edgenas_space::Architecture;
use edgenas_train::trainer::{accuracy, device, hits, predict, top1};
use edgenas_train::Net;
use serde::{Deserialize, Serialize};

use crate::context::EvalContext;
use crate::events::{Observer, Task};
use crate::finish::train::{Trainings, Tuned};
use crate::finish::ToFinish;

/// Largest difference between Burn's and tract's logits accepted for a finished model.
pub const MAX_ABS_DIFF: f32 = 1e-4;

/// A finished model (one row of the final table).
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
    /// With several profiles: predicted and measured latency on each profile's device that was
    /// reached, in the profiles' order (the first repeats `predicted_ms` and `measured_ms`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub on_devices: Vec<OnDevice>,
    /// Whether the Burn model gets each test image right (for paired comparisons).
    #[serde(skip)]
    pub test_hits: Vec<bool>,
}

/// A finished model's latency on one device.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OnDevice {
    /// The device's name.
    pub device: String,
    /// Predicted by its profile, ms.
    pub predicted_ms: f64,
    /// Measured there, ms (median of the fastest pass), and the 10th percentile of that pass.
    pub measured_ms: f64,
    pub measured_p10_ms: f64,
}

/// A model's ONNX bytes, checked against Burn, before measurement.
struct Exported {
    arch: Architecture,
    bytes: Vec<u8>,
    valid_acc: f64,
    hits: Vec<bool>,
    acc_tract: f64,
    max_diff: f32,
}

/// The device to measure on: the configured one, or the first profile's (see
/// [`device_of_profile`]).
pub(crate) fn measuring_device(ctx: &EvalContext) -> Result<DeviceConfig> {
    match &ctx.config.device {
        Some(p) => Ok(DeviceConfig::from_file(p)?),
        None => device_of_profile(ctx, 0),
    }
}

/// The device profile `i` was measured on ([`DeviceConfig::named`]).
fn device_of_profile(ctx: &EvalContext, i: usize) -> Result<DeviceConfig> {
    let name = &ctx.profiles[i].provenance.device;
    DeviceConfig::named(name)?.ok_or_else(|| {
        anyhow::anyhow!(
            "devices/{name}.toml: no such device description (nor in devices/examples/) for the device of profile {} \
             ({name:?}); {}",
            ctx.config.profiles[i].display(),
            if i == 0 { "pass --device" } else { "add the file" }
        )
    })
}

/// Each model timed on `dev` as the profile was: interleaved passes over all models, each
/// keeping its fastest pass (a single pass on a shared machine can read 2x slow).
fn measure_on(dev: &DeviceConfig, bytes: &[Vec<u8>], measure_runs: u32) -> Result<Vec<edgenas_onnx::Timing>> {
    if bytes.is_empty() {
        return Ok(Vec::new());
    }
    let mut opts = ProfileOptions::for_device(dev);
    opts.runs = opts.runs.max(measure_runs);
    let mut client = dev.client();
    measure_models(&mut client, bytes, &opts, &mut |_| {})
        .with_context(|| format!("measuring the finished models on {}", dev.name))
}

/// `net`'s ONNX export, checked against Burn on the test split.
fn export_checked(ctx: &EvalContext, name: &str, arch: Architecture, net: &Net, valid_acc: f64) -> Result<Exported> {
    let test = &ctx.splits.test;
    let burn_logits = predict(net, test, &device(ctx.config.seed));
    let hits = hits(&burn_logits, &test.labels, test.classes);
    let bytes = to_bytes(&export_architecture(&arch, &net.named_weights(&arch))?);
    let tract_logits = TractModel::from_bytes(&bytes)?.run_many(&test.images)?;
    let checked = 256.min(test.len()) * test.classes;
    let max_diff =
        burn_logits[..checked].iter().zip(&tract_logits[..checked]).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
    let acc_tract = top1(&tract_logits, &test.labels, test.classes);
    ensure!(
        max_diff <= MAX_ABS_DIFF,
        "{name}: tract does not reproduce Burn (max abs logit difference {max_diff:.2e} on 256 test images, allowed {MAX_ABS_DIFF:.0e})"
    );
    Ok(Exported { arch, bytes, valid_acc, hits, acc_tract, max_diff })
}

/// Weights, export and the tract check of each named record, in order.
fn export_all(
    ctx: &EvalContext,
    models: &[ToFinish],
    tuned: &Tuned,
    trainings: &mut Trainings,
    obs: &mut dyn Observer,
) -> Result<Vec<Exported>> {
    let config = &ctx.config;
    let steps = config.finishing_steps();
    obs.begin(&Task::Finishing, models.len() as u64);
    let mut exported = Vec::new();
    for (i, ToFinish { name, candidate: c, record: r }) in models.iter().enumerate() {
        // weights fine-tuned for a challenger come with their accuracy on the whole validation
        // split (fine_tune runs only with steps > 0); other weights are measured here
        let (net, valid_acc) = match tuned.get(&r.genome) {
            Some((net, acc)) if steps == config.finetune_steps && steps > 0 => (net.clone(), *acc),
            _ => {
                let net = trainings.net(ctx, c, steps, obs)?.0;
                let valid = &ctx.splits.valid;
                let acc = top1(&predict(&net, valid, &device(config.seed)), &valid.labels, valid.classes);
                (net, acc)
            }
        };
        exported.push(export_checked(ctx, name, c.arch.clone(), &net, valid_acc)?);
        obs.progress(&Task::Finishing, i as u64 + 1, "");
    }
    obs.end(&Task::Finishing);
    Ok(exported)
}

/// Weights, export, tract check and device measurement of each model; weights already
/// fine-tuned for a genome (`tuned`) are used as they are unless `finish_steps` asks for
/// another number of steps.
pub fn finish(
    ctx: &EvalContext,
    models: &[ToFinish],
    tuned: &Tuned,
    trainings: &mut Trainings,
    obs: &mut dyn Observer,
) -> Result<Vec<Finished>> {
    let config = &ctx.config;
    let models_dir = ctx.run.models();
    std::fs::create_dir_all(&models_dir).with_context(|| format!("cannot create {}", models_dir.display()))?;
    let dev_cfg = measuring_device(ctx)?;
    // with several profiles the models are measured on each one's device too; one that is not
    // described or not reachable is a warning (the first device's measurements stand)
    let others: Vec<(usize, DeviceConfig)> = (1..ctx.profiles.len())
        .filter_map(|i| match device_of_profile(ctx, i) {
            Ok(d) => Some((i, d)),
            Err(e) => {
                obs.warning(&format!("warning: {e:#}; the finished models are not measured there"));
                None
            }
        })
        .collect();
    let profile_bytes =
        std::fs::read(&config.profiles[0]).with_context(|| format!("cannot read {}", config.profiles[0].display()))?;
    let profile_hash = edgenas_store::content_hash(&profile_bytes);
    // 1. weights, export and the tract check of every model
    let exported = export_all(ctx, models, tuned, trainings, obs)?;
    // 2. measured on the device as the profile was, then on the other profiles' devices
    let bytes: Vec<Vec<u8>> = exported.iter().map(|e| e.bytes.clone()).collect();
    let timings = measure_on(&dev_cfg, &bytes, config.measure_runs)?;
    let mut opts = ProfileOptions::for_device(&dev_cfg);
    opts.runs = opts.runs.max(config.measure_runs);
    let mut elsewhere: Vec<(usize, String, Vec<edgenas_onnx::Timing>)> = Vec::new();
    for (i, d) in &others {
        match measure_on(d, &bytes, config.measure_runs) {
            Ok(ts) => elsewhere.push((*i, d.name.clone(), ts)),
            Err(e) => obs.warning(&format!("warning: {e:#}; the finished models are not measured there")),
        }
    }
    // 3. the front of the finished models: validation accuracy (max) against measured latency (min)
    let points: Vec<[f64; 2]> = exported.iter().zip(&timings).map(|(e, t)| [-e.valid_acc, t.median_ns]).collect();
    let front = edgenas_search::non_dominated(&points);
    // 4. files and model cards
    let mut out = Vec::new();
    for (i, ((ToFinish { name, record: r, .. }, e), t)) in models.iter().zip(exported).zip(timings).enumerate() {
        let (path, card_path) = ctx.run.model(name);
        edgenas_store::write_atomic(&path, &e.bytes).with_context(|| format!("cannot write {}", path.display()))?;
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
            on_devices: Vec::new(),
            test_hits: e.hits,
        };
        let mut f = f;
        if ctx.profiles.len() > 1 {
            let first = OnDevice {
                device: dev_cfg.name.clone(),
                predicted_ms: f.predicted_ms,
                measured_ms: f.measured_ms,
                measured_p10_ms: f.measured_p10_ms,
            };
            f.on_devices = std::iter::once(first)
                .chain(elsewhere.iter().map(|(k, device, ts)| OnDevice {
                    device: device.clone(),
                    predicted_ms: r.latency_ms[*k],
                    measured_ms: ts[i].median_ns / 1e6,
                    measured_p10_ms: ts[i].p10_ns / 1e6,
                }))
                .collect();
        }
        let card = serde_json::json!({
            "model": path.file_name().map(|n| n.to_string_lossy().into_owned()),
            "genome": r.genome,
            "architecture": e.arch,
            "metrics": f,
            "measurement": {"warmup": opts.warmup, "runs": opts.runs, "passes": opts.passes, "timing": t},
            "record": r,
            "device": dev_cfg.name,
            "profile": config.profiles[0],
            "profile_hash": profile_hash,
            "seed": config.seed,
            "split_seed": config.split_seed(),
            "eval": config.eval,
            "finetune_steps": config.finishing_steps(),
            "finish_from": config.finish_from,
            "data": config.data,
        });
        edgenas_store::write_json(&card_path, &card)?;
        out.push(f);
    }
    Ok(out)
}
