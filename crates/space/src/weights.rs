//! Where a network's parameters come from. The exporter and the reference interpreter ask a
//! [`WeightSource`] for each layer by name, so random weights (profiling) and trained weights
//! (training) go through the same code.

use std::collections::HashMap;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::error::{Result, SpaceError};

/// Batch-norm parameters and running statistics (training-time form, not folded).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchNorm {
    /// Scale (gamma).
    pub gamma: Vec<f32>,
    /// Shift (beta).
    pub beta: Vec<f32>,
    /// Running mean.
    pub mean: Vec<f32>,
    /// Running (biased) variance.
    pub var: Vec<f32>,
}

/// Parameters of one convolution: weight `[cout, cin/groups, k, k]` row-major, and either a
/// following batch-norm (conv layers) or a bias (squeeze-excite convolutions).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConvWeights {
    /// Weight, layout `[cout, cin/groups, k, k]`.
    pub weight: Vec<f32>,
    /// Bias (`cout` values) or `None` for no bias.
    pub bias: Option<Vec<f32>>,
    /// Batch-norm after the convolution, if any.
    pub bn: Option<BatchNorm>,
}

/// Parameters of a fully connected layer: weight `[cout, cin]` row-major, bias `[cout]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinearWeights {
    /// Weight, layout `[cout, cin]`.
    pub weight: Vec<f32>,
    /// Bias.
    pub bias: Vec<f32>,
}

/// The expected form of a convolution's parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvSpec {
    /// Input channels.
    pub cin: usize,
    /// Output channels.
    pub cout: usize,
    /// Kernel size.
    pub kernel: usize,
    /// Groups.
    pub groups: usize,
    /// Followed by batch-norm (else: has a bias).
    pub bn: bool,
}

impl ConvSpec {
    /// Number of weight values.
    pub fn weight_len(&self) -> usize {
        self.cout * (self.cin / self.groups) * self.kernel * self.kernel
    }
}

/// Supplies the parameters of each layer, looked up by layer name
/// (`stem`, `s1.b0.expand`, `s1.b0.dw`, `s1.b0.se.reduce`, `s1.b0.se.expand`, `s1.b0.project`,
/// `head.conv`, `head.fc`).
pub trait WeightSource {
    /// Parameters of convolution `layer`.
    fn conv(&self, layer: &str, spec: ConvSpec) -> Result<ConvWeights>;
    /// Parameters of fully connected layer `layer`.
    fn linear(&self, layer: &str, cin: usize, cout: usize) -> Result<LinearWeights>;
}

/// Deterministic random weights: each layer's values come from a ChaCha8 stream seeded by
/// the seed and the layer name, so they do not depend on the order of requests.
/// Weights are uniform with variance `1/fan_in`; batch-norm statistics are plausible
/// (gamma in [0.5, 1.5], beta and mean in [-0.2, 0.2], variance in [0.5, 1.5]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RandomWeights {
    /// The seed.
    pub seed: u64,
}

impl RandomWeights {
    fn rng(&self, layer: &str) -> ChaCha8Rng {
        let mut h: u64 = 0xcbf29ce484222325 ^ self.seed;
        for b in layer.bytes() {
            h ^= b as u64;
            h = h.wrapping_mul(0x100000001b3);
        }
        ChaCha8Rng::seed_from_u64(h)
    }
}

fn uniform(rng: &mut ChaCha8Rng, n: usize, lo: f32, hi: f32) -> Vec<f32> {
    (0..n).map(|_| rng.random_range(lo..hi)).collect()
}

impl WeightSource for RandomWeights {
    fn conv(&self, layer: &str, spec: ConvSpec) -> Result<ConvWeights> {
        let mut rng = self.rng(layer);
        let fan_in = (spec.cin / spec.groups) * spec.kernel * spec.kernel;
        let a = (3.0 / fan_in as f32).sqrt();
        let weight = uniform(&mut rng, spec.weight_len(), -a, a);
        let c = spec.cout;
        if spec.bn {
            Ok(ConvWeights {
                weight,
                bias: None,
                bn: Some(BatchNorm {
                    gamma: uniform(&mut rng, c, 0.5, 1.5),
                    beta: uniform(&mut rng, c, -0.2, 0.2),
                    mean: uniform(&mut rng, c, -0.2, 0.2),
                    var: uniform(&mut rng, c, 0.5, 1.5),
                }),
            })
        } else {
            Ok(ConvWeights { weight, bias: Some(uniform(&mut rng, c, -0.2, 0.2)), bn: None })
        }
    }

    fn linear(&self, layer: &str, cin: usize, cout: usize) -> Result<LinearWeights> {
        let mut rng = self.rng(layer);
        let a = (3.0 / cin as f32).sqrt();
        Ok(LinearWeights { weight: uniform(&mut rng, cin * cout, -a, a), bias: uniform(&mut rng, cout, -0.2, 0.2) })
    }
}

/// Weights held in memory by layer name (e.g. read out of a trained model).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NamedWeights {
    /// Convolutions by layer name.
    pub convs: HashMap<String, ConvWeights>,
    /// Fully connected layers by layer name.
    pub linears: HashMap<String, LinearWeights>,
}

fn check_len(layer: &str, what: &str, got: usize, want: usize) -> Result<()> {
    if got != want {
        return Err(SpaceError::Weights {
            layer: layer.into(),
            message: format!("{what} has {got} values, expected {want}"),
        });
    }
    Ok(())
}

impl WeightSource for NamedWeights {
    fn conv(&self, layer: &str, spec: ConvSpec) -> Result<ConvWeights> {
        let w = self
            .convs
            .get(layer)
            .ok_or_else(|| SpaceError::Weights { layer: layer.into(), message: "missing".into() })?;
        check_len(layer, "weight", w.weight.len(), spec.weight_len())?;
        if spec.bn != w.bn.is_some() || (!spec.bn && w.bias.is_none()) {
            return Err(SpaceError::Weights {
                layer: layer.into(),
                message: if spec.bn {
                    "needs batch-norm parameters".into()
                } else {
                    "needs a bias and no batch-norm (squeeze-excite convolution)".into()
                },
            });
        }
        if let Some(b) = &w.bias {
            check_len(layer, "bias", b.len(), spec.cout)?;
        }
        if let Some(bn) = &w.bn {
            for (n, v) in [("gamma", &bn.gamma), ("beta", &bn.beta), ("mean", &bn.mean), ("var", &bn.var)] {
                check_len(layer, n, v.len(), spec.cout)?;
            }
        }
        Ok(w.clone())
    }

    fn linear(&self, layer: &str, cin: usize, cout: usize) -> Result<LinearWeights> {
        let w = self
            .linears
            .get(layer)
            .ok_or_else(|| SpaceError::Weights { layer: layer.into(), message: "missing".into() })?;
        check_len(layer, "weight", w.weight.len(), cin * cout)?;
        check_len(layer, "bias", w.bias.len(), cout)?;
        Ok(w.clone())
    }
}
