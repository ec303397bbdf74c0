//! Counts of a deployed network: parameters, MACs, weight bytes and peak activation memory.
//!
//! # What is counted
//! - **Parameters** are those of the deployed model, batch-norm folded: every convolution has
//!   `cout * cin/groups * k * k` weights plus `cout` biases; the fully connected layer
//!   `cin * cout + cout`. They equal the sizes of the exported ONNX initializers.
//! - **MACs**: convolutions `cout * h_out * w_out * cin/groups * k * k`; fully connected
//!   `cin * cout`; squeeze-excite's two 1x1 convolutions on the pooled vector plus one
//!   multiply per element for the scaling. Pooling, additions and activations are not counted.
//! - **Flash, f32**: 4 bytes per parameter.
//! - **Flash, int8** (per-output-channel quantization as in TFLite Micro / CMSIS-NN):
//!   1 byte per weight, 4 bytes per bias (int32), 4 bytes of scale per output channel.
//!
//! # Memory model (peak activation memory, the MCU SRAM figure)
//! Layers run one after another (the list of [`Graph::layers`]), each writing a fresh output
//! buffer (no in-place operation). A tensor is alive from the layer that writes it (the input
//! from the start) to the last layer that reads it. At each layer the live set is every tensor
//! written so far and still to be read by this or a later layer, plus this layer's output; a
//! residual's block input therefore stays alive through the whole block. Squeeze-excite also
//! holds its scratch: the pooled vector, the hidden vector and the gate (`2*C + hidden`
//! values). The peak is the largest live sum over all layers, times the bytes per element
//! (4 for f32, 1 for int8). Weights are not counted (they live in flash).

use serde::{Deserialize, Serialize};

use crate::arch::Architecture;
use crate::graph::{Graph, LayerKind};

/// Counts of one network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Deployed (BN-folded) parameters.
    pub params: u64,
    /// Multiply-accumulates of one inference.
    pub macs: u64,
    /// Weight bytes stored as f32.
    pub flash_f32_bytes: u64,
    /// Weight bytes stored as int8 (per-channel scales, int32 biases).
    pub flash_int8_bytes: u64,
    /// Peak live activation elements.
    pub peak_activation_elements: u64,
    /// Peak live activation bytes at f32.
    pub peak_activation_f32_bytes: u64,
    /// Peak live activation bytes at int8.
    pub peak_activation_int8_bytes: u64,
    /// MBConv blocks.
    pub blocks: usize,
    /// Layers of the graph.
    pub layers: usize,
}

#[derive(Default)]
struct Acc {
    params: u64,
    macs: u64,
    int8: u64,
}

impl Acc {
    fn conv(&mut self, cin: usize, cout: usize, k: usize, groups: usize, out_hw: usize) {
        let w = (cout * (cin / groups) * k * k) as u64;
        self.params += w + cout as u64;
        self.macs += w * out_hw as u64;
        self.int8 += w + 8 * cout as u64;
    }
}

impl Graph {
    /// Parameters, MACs and weight bytes of the graph.
    fn weight_counts(&self) -> Acc {
        let mut acc = Acc::default();
        for l in &self.layers {
            let out = self.tensors[l.output];
            match l.kind {
                LayerKind::ConvBn { cin, cout, kernel, groups, .. } => {
                    acc.conv(cin, cout, kernel, groups, out.h * out.w)
                }
                LayerKind::SqueezeExcite { channels, hidden } => {
                    acc.conv(channels, hidden, 1, 1, 1);
                    acc.conv(hidden, channels, 1, 1, 1);
                    acc.macs += out.numel() as u64;
                }
                LayerKind::Linear { cin, cout } => acc.conv(cin, cout, 1, 1, 1),
                LayerKind::Add { .. } | LayerKind::GlobalAvgPool => {}
            }
        }
        acc
    }

    /// Peak live activation elements under the memory model of this module.
    pub fn peak_activation_elements(&self) -> u64 {
        let n = self.tensors.len();
        // last layer index reading each tensor; the graph output is read "after" the last layer.
        let mut last_use = vec![0usize; n];
        for (i, l) in self.layers.iter().enumerate() {
            for t in l.reads() {
                last_use[t] = i;
            }
        }
        last_use[n - 1] = self.layers.len();
        let mut peak = 0u64;
        for (i, l) in self.layers.iter().enumerate() {
            // tensors written before layer i (id < l.output) still needed at i, plus the output.
            let mut live: u64 =
                (0..l.output).filter(|&t| last_use[t] >= i).map(|t| self.tensors[t].numel() as u64).sum();
            live += self.tensors[l.output].numel() as u64;
            if let LayerKind::SqueezeExcite { channels, hidden } = l.kind {
                live += (2 * channels + hidden) as u64;
            }
            peak = peak.max(live);
        }
        peak
    }

    /// All counts of the graph.
    pub fn stats(&self) -> Stats {
        let acc = self.weight_counts();
        let peak = self.peak_activation_elements();
        Stats {
            params: acc.params,
            macs: acc.macs,
            flash_f32_bytes: 4 * acc.params,
            flash_int8_bytes: acc.int8,
            peak_activation_elements: peak,
            peak_activation_f32_bytes: 4 * peak,
            peak_activation_int8_bytes: peak,
            blocks: self.layers.iter().filter(|l| l.name.ends_with(".project")).count(),
            layers: self.layers.len(),
        }
    }
}

impl Architecture {
    /// All counts of the architecture.
    pub fn stats(&self) -> Stats {
        Graph::of_architecture(self).stats()
    }
}
