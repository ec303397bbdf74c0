//! The one description of what a block computes. The ONNX exporter, the reference
//! interpreter (tests) and the Burn model builder (training) all follow this table; parity
//! tests hold them together. Change it here and in SEMANTICS.md, never in one of them alone.
//!
//! | element | rule |
//! | --- | --- |
//! | layout | NCHW, batch 1 on device, f32 |
//! | conv padding | `k / 2` on every side (same padding for odd `k`), no dilation |
//! | output size | `(n + 2*(k/2) - k) / s + 1` = `ceil(n / s)` for odd `k` |
//! | conv unit | conv (no bias) -> batch-norm (eps [`BN_EPS`]) -> activation; folded to conv+bias on export |
//! | activation | ReLU6 = `clip(x, 0, 6)` (ONNX `Clip` with min/max inputs) |
//! | stem | conv k x k, stride s, 1 -> width channels, BN, ReLU6 |
//! | MBConv, e > 1 | 1x1 expand (BN, ReLU6) -> k x k depthwise, stride s (BN, ReLU6) -> [SE] -> 1x1 project (BN, no activation) |
//! | MBConv, e = 1 | k x k depthwise (BN, ReLU6) -> [SE] -> 1x1 project (BN, no activation) |
//! | ConvNeXt-like (`kind = "convnext"`) | k x k depthwise on the input width, stride s (BN, no activation) -> [1x1 expand (BN, ReLU6), when e > 1] -> [SE] -> 1x1 project (BN, no activation) |
//! | expanded width | `cin * e` |
//! | squeeze-excite | global average pool -> 1x1 conv (bias) to [`se_hidden`] -> ReLU -> 1x1 conv (bias) back -> hard-sigmoid -> multiply |
//! | hard-sigmoid | `clip(x / 6 + 1/2, 0, 1)` (ONNX `HardSigmoid`, alpha [`HSIGMOID_ALPHA`], beta [`HSIGMOID_BETA`]) |
//! | residual | `x + block(x)` when stride = 1 and cin = cout |
//! | head | 1x1 conv (BN, ReLU6) -> global average pool -> flatten -> fully connected (bias) to classes |
//! | logits | no softmax in the model |

/// Batch-norm epsilon (Burn's and PyTorch's default).
pub const BN_EPS: f32 = 1e-5;
/// Upper bound of ReLU6.
pub const RELU6_MAX: f32 = 6.0;
/// Hard-sigmoid slope.
pub const HSIGMOID_ALPHA: f32 = 1.0 / 6.0;
/// Hard-sigmoid offset.
pub const HSIGMOID_BETA: f32 = 0.5;

/// Padding applied on each side for a kernel of size `k`.
pub fn padding(k: usize) -> usize {
    k / 2
}

/// Output spatial size of a same-padded convolution with stride `s` on `n` pixels (odd kernels).
pub fn out_size(n: usize, s: usize) -> usize {
    n.div_ceil(s)
}

/// Hidden width of squeeze-excite on `channels` channels: `max(8, ceil(channels / 4))`.
pub fn se_hidden(channels: usize) -> usize {
    channels.div_ceil(4).max(8)
}

/// Whether a block from `cin` to `cout` channels with stride `stride` has a residual connection.
pub fn has_residual(cin: usize, cout: usize, stride: usize) -> bool {
    stride == 1 && cin == cout
}
