//! Loading, running and timing ONNX models with tract.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use tract_onnx::prelude::*;

use crate::error::{OnnxError, Result};
use crate::timing::Timing;

/// A model loaded, optimized and planned by tract, ready to run.
pub struct TractModel {
    plan: Arc<TypedRunnableModel>,
    input_shape: Vec<usize>,
    output_shape: Vec<usize>,
}

fn load_err(e: impl std::fmt::Display) -> OnnxError {
    OnnxError::Load(format!("{e:#}").replace('\n', " "))
}

thread_local! {
    static CATCHING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Run `f`, turning a panic inside it (tract panics on some malformed models) into an error.
pub fn catch_panics<T>(f: impl FnOnce() -> Result<T>) -> Result<T> {
    let was = CATCHING.with(|c| c.replace(true));
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    CATCHING.with(|c| c.set(was));
    r.unwrap_or_else(|p| {
        let msg = p
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| p.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown cause".into());
        Err(OnnxError::Load(format!("the runtime failed on this model ({})", msg.replace('\n', " "))))
    })
}

/// Install a panic hook that stays silent for panics caught by [`catch_panics`] and reports
/// every other panic as before. Binaries call this once at start.
pub fn install_quiet_panic_hook() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !CATCHING.with(|c| c.get()) {
            previous(info);
        }
    }));
}

impl TractModel {
    /// Load ONNX bytes: parse, check the input has a static shape, optimize, plan.
    /// A panic inside tract is reported as a load error.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        catch_panics(|| Self::load(bytes))
    }

    fn load(bytes: &[u8]) -> Result<Self> {
        let model = tract_onnx::onnx().model_for_read(&mut &bytes[..]).map_err(load_err)?;
        if model.inputs.len() != 1 || model.outputs.len() != 1 {
            return Err(OnnxError::Load(format!(
                "expected 1 input and 1 output, found {} and {}",
                model.inputs.len(),
                model.outputs.len()
            )));
        }
        let typed = model.into_optimized().map_err(load_err)?;
        let input_shape = typed
            .input_fact(0)
            .map_err(load_err)?
            .shape
            .as_concrete()
            .ok_or_else(|| OnnxError::Load("the input shape is not static".into()))?
            .to_vec();
        let output_shape = typed
            .output_fact(0)
            .map_err(load_err)?
            .shape
            .as_concrete()
            .ok_or_else(|| OnnxError::Load("the output shape is not static".into()))?
            .to_vec();
        let plan = typed.into_runnable().map_err(load_err)?;
        Ok(TractModel { plan, input_shape, output_shape })
    }

    /// Load an ONNX file.
    pub fn from_path(path: &Path) -> Result<Self> {
        let bytes =
            std::fs::read(path).map_err(|source| edgenas_space::SpaceError::Io { path: path.to_path_buf(), source })?;
        Self::from_bytes(&bytes)
    }

    /// The input shape (batch included).
    pub fn input_shape(&self) -> &[usize] {
        &self.input_shape
    }

    /// The output shape (batch included).
    pub fn output_shape(&self) -> &[usize] {
        &self.output_shape
    }

    fn input_tensor(&self, input: &[f32]) -> Result<Tensor> {
        let expected: usize = self.input_shape.iter().product();
        if input.len() != expected {
            return Err(OnnxError::InputSize { shape: self.input_shape.clone(), expected, got: input.len() });
        }
        Tensor::from_shape(&self.input_shape, input).map_err(|e| OnnxError::Run(format!("{e:#}")))
    }

    /// Run once on `input` (row-major, the input shape's size); returns the output values.
    pub fn run(&self, input: &[f32]) -> Result<Vec<f32>> {
        catch_panics(|| self.run_inner(input))
    }

    fn run_inner(&self, input: &[f32]) -> Result<Vec<f32>> {
        let t = self.input_tensor(input)?;
        let out = self.plan.run(tvec![t.into_tvalue()]).map_err(|e| OnnxError::Run(format!("{e:#}")))?;
        let view = out[0].to_plain_array_view::<f32>().map_err(|e| OnnxError::Run(format!("{e:#}")))?;
        Ok(view.iter().copied().collect())
    }

    /// Run on many samples: `inputs` holds them back to back, each the size of the input
    /// shape without its first (batch) dimension. Samples go through in batches of the model's
    /// batch size (the last batch padded with zeros), the batches spread over the cores with
    /// rayon. Returns the outputs of the samples back to back, in order.
    pub fn run_many(&self, inputs: &[f32]) -> Result<Vec<f32>> {
        use rayon::prelude::*;
        let batch = self.input_shape.first().copied().unwrap_or(1).max(1);
        let n: usize = self.input_shape.iter().skip(1).product();
        let m: usize = self.output_shape.iter().skip(1).product();
        if n == 0 || inputs.len() % n != 0 {
            return Err(OnnxError::InputSize { shape: self.input_shape.clone(), expected: n, got: inputs.len() });
        }
        let samples = inputs.len() / n;
        let run_err = |e: TractError| OnnxError::Run(format!("{e:#}"));
        // a few chunks per thread, each run with one spawned state
        let batches = samples.div_ceil(batch);
        let per = batches.div_ceil(4 * rayon::current_num_threads()).max(1);
        let outs = inputs
            .par_chunks(per * batch * n)
            .map(|chunk| {
                catch_panics(|| {
                    let mut state = self.plan.spawn().map_err(run_err)?;
                    let mut out = Vec::with_capacity(chunk.len() / n * m);
                    let mut padded = Vec::new();
                    for x in chunk.chunks(batch * n) {
                        let k = x.len() / n;
                        let x = if x.len() == batch * n {
                            x
                        } else {
                            padded.clear();
                            padded.extend_from_slice(x);
                            padded.resize(batch * n, 0.0);
                            &padded[..]
                        };
                        let v = state.run(tvec![self.input_tensor(x)?.into_tvalue()]).map_err(run_err)?;
                        let view = v[0].to_plain_array_view::<f32>().map_err(run_err)?;
                        out.extend(view.iter().copied().take(k * m));
                    }
                    Ok(out)
                })
            })
            .collect::<Result<Vec<Vec<f32>>>>()?;
        Ok(outs.concat())
    }

    /// Time the model on `input`: `warmup` untimed runs, then `runs` runs each timed with a
    /// monotonic clock. Returns every run's duration in nanoseconds.
    pub fn bench_ns(&self, input: &[f32], warmup: usize, runs: usize) -> Result<Vec<u64>> {
        let t = self.input_tensor(input)?;
        let mut state = self.plan.spawn().map_err(|e| OnnxError::Run(format!("{e:#}")))?;
        let run_err = |e: TractError| OnnxError::Run(format!("{e:#}"));
        for _ in 0..warmup {
            state.run(tvec![t.clone().into_tvalue()]).map_err(run_err)?;
        }
        let mut samples = Vec::with_capacity(runs);
        for _ in 0..runs {
            let v = tvec![t.clone().into_tvalue()];
            let start = Instant::now();
            let out = state.run(v).map_err(run_err)?;
            samples.push(start.elapsed().as_nanos() as u64);
            drop(out);
        }
        Ok(samples)
    }

    /// Time the model (see [`TractModel::bench_ns`]) and summarize.
    pub fn bench(&self, input: &[f32], warmup: usize, runs: usize) -> Result<Timing> {
        Ok(Timing::from_ns(&self.bench_ns(input, warmup, runs.max(1))?))
    }
}

/// tract's version (of the tract-onnx crate linked in).
pub fn tract_version() -> &'static str {
    "0.23.9"
}
