//! A concrete architecture: the readable JSON form of one point of a search space.

use serde::{Deserialize, Serialize};
use std::path::Path;

use crate::error::{Result, SpaceError};
use crate::semantics::out_size;

/// Shape of one input sample (channels, height, width); the batch dimension is always 1 on device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputShape {
    /// Channels (1 for grayscale, 3 for RGB).
    pub channels: usize,
    /// Height in pixels.
    pub height: usize,
    /// Width in pixels.
    pub width: usize,
}

impl Default for InputShape {
    fn default() -> Self {
        InputShape { channels: 1, height: 28, width: 28 }
    }
}

/// The stem: a full convolution + batch-norm + ReLU6.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stem {
    /// Output channels.
    pub width: usize,
    /// Square kernel size (odd).
    pub kernel: usize,
    /// Stride (1 or 2).
    pub stride: usize,
}

/// How a block arranges its depthwise and pointwise convolutions (MobileNetV4's universal
/// inverted bottleneck names both).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BlockKind {
    /// Inverted residual (MobileNetV2): 1x1 expand -> depthwise on the expanded width -> 1x1 project.
    #[default]
    Mbconv,
    /// ConvNeXt-like: depthwise on the input width first -> 1x1 expand -> 1x1 project. The
    /// depthwise convolution runs on `e` times fewer channels, which matters on CPUs where
    /// depthwise convolutions are slow per multiply-accumulate.
    Convnext,
}

impl BlockKind {
    /// The name used in space files, architectures and latency-table keys.
    pub fn name(self) -> &'static str {
        match self {
            BlockKind::Mbconv => "mbconv",
            BlockKind::Convnext => "convnext",
        }
    }
}

impl std::fmt::Display for BlockKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

fn is_mbconv(k: &BlockKind) -> bool {
    *k == BlockKind::Mbconv
}

/// One block: an inverted residual (MBConv) or its ConvNeXt-like variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Block {
    /// Block kind; `mbconv` when absent (architectures written before kinds existed).
    #[serde(default, skip_serializing_if = "is_mbconv")]
    pub kind: BlockKind,
    /// Depthwise kernel size (odd).
    pub kernel: usize,
    /// Expansion ratio; 1 means no expansion convolution.
    pub expansion: usize,
    /// Squeeze-excite on the expanded width (after the depthwise convolution for `mbconv`,
    /// after the expansion for `convnext`).
    pub se: bool,
}

impl Block {
    /// An MBConv block.
    pub fn mbconv(kernel: usize, expansion: usize, se: bool) -> Self {
        Block { kind: BlockKind::Mbconv, kernel, expansion, se }
    }
}

/// A stage: blocks sharing an output width; the first block applies the stage's stride.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stage {
    /// Output channels of every block of the stage.
    pub width: usize,
    /// Stride of the stage's first block (1 or 2).
    pub stride: usize,
    /// The blocks, at least one.
    pub blocks: Vec<Block>,
}

/// The head: 1x1 conv + BN + ReLU6, global average pool, fully connected to the classes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Head {
    /// Output channels of the 1x1 convolution.
    pub width: usize,
}

/// A complete network, independent of any search space.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Architecture {
    /// Input sample shape.
    pub input: InputShape,
    /// Number of output classes.
    pub classes: usize,
    /// The stem.
    pub stem: Stem,
    /// The stages in order.
    pub stages: Vec<Stage>,
    /// The head.
    pub head: Head,
}

/// Largest channel count of any tensor (input, stem, stage, head, expanded).
pub const MAX_CHANNELS: usize = 16_384;
/// Largest input height or width.
pub const MAX_INPUT_SIZE: usize = 2048;
/// Largest number of classes.
pub const MAX_CLASSES: usize = 100_000;

fn check_positive(field: &str, v: usize) -> Result<()> {
    check_range(field, v, 1, MAX_CHANNELS)
}

fn check_range(field: &str, v: usize, lo: usize, hi: usize) -> Result<()> {
    if v < lo || v > hi {
        return Err(SpaceError::invalid(field, format!("{v} is not allowed; allowed: {lo}..={hi}")));
    }
    Ok(())
}

fn check_kernel(field: &str, k: usize) -> Result<()> {
    if k == 0 || k % 2 == 0 || k > 15 {
        return Err(SpaceError::invalid(field, format!("kernel {k} is not allowed; allowed: odd sizes 1..=15")));
    }
    Ok(())
}

fn check_stride(field: &str, s: usize) -> Result<()> {
    if s != 1 && s != 2 {
        return Err(SpaceError::choice(field, s, &[1, 2]));
    }
    Ok(())
}

impl Architecture {
    /// Read an architecture from a JSON file; unknown or missing fields are errors naming the file.
    pub fn from_json_file(path: &Path) -> Result<Self> {
        let text =
            std::fs::read_to_string(path).map_err(|source| SpaceError::Io { path: path.to_path_buf(), source })?;
        Self::from_json_str(&text, path)
    }

    /// Parse and check an architecture from JSON text; `path` names its origin in errors.
    pub fn from_json_str(text: &str, path: &Path) -> Result<Self> {
        // the path of the value at fault (`stages[1].blocks[0].kernel`): serde_json's own message
        // names only line and column when a value has the wrong type or range
        let arch: Architecture = serde_path_to_error::deserialize(&mut serde_json::Deserializer::from_str(text))
            .map_err(|e| {
                let at = e.path().to_string();
                match at.as_str() {
                    "." | "" => SpaceError::parse(path, e.into_inner()),
                    _ => SpaceError::parse(path, format!("{at}: {}", e.into_inner())),
                }
            })?;
        arch.check().map_err(|e| SpaceError::parse(path, e))?;
        Ok(arch)
    }

    /// Pretty JSON form.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("architecture serializes")
    }

    /// Structural validity, independent of any space: positive sizes, odd kernels,
    /// strides 1 or 2, at least one stage and block, no spatial dimension shrinking to zero.
    pub fn check(&self) -> Result<()> {
        check_range("input.channels", self.input.channels, 1, 64)?;
        check_range("input.height", self.input.height, 1, MAX_INPUT_SIZE)?;
        check_range("input.width", self.input.width, 1, MAX_INPUT_SIZE)?;
        check_range("classes", self.classes, 2, MAX_CLASSES)?;
        check_positive("stem.width", self.stem.width)?;
        check_kernel("stem.kernel", self.stem.kernel)?;
        check_stride("stem.stride", self.stem.stride)?;
        if self.stages.is_empty() {
            return Err(SpaceError::invalid("stages", "at least one stage is required"));
        }
        let mut cin = self.stem.width;
        let (mut h, mut w) =
            (out_size(self.input.height, self.stem.stride), out_size(self.input.width, self.stem.stride));
        for (i, st) in self.stages.iter().enumerate() {
            check_positive(&format!("stages[{i}].width"), st.width)?;
            check_stride(&format!("stages[{i}].stride"), st.stride)?;
            if st.blocks.is_empty() {
                return Err(SpaceError::invalid(format!("stages[{i}].blocks"), "at least one block is required"));
            }
            for (j, b) in st.blocks.iter().enumerate() {
                check_kernel(&format!("stages[{i}].blocks[{j}].kernel"), b.kernel)?;
                check_range(&format!("stages[{i}].blocks[{j}].expansion"), b.expansion, 1, 16)?;
                let block_in = if j == 0 { cin } else { st.width };
                if block_in * b.expansion > MAX_CHANNELS {
                    return Err(SpaceError::invalid(
                        format!("stages[{i}].blocks[{j}].expansion"),
                        format!("{block_in} x {} expanded channels exceed {MAX_CHANNELS}", b.expansion),
                    ));
                }
            }
            cin = st.width;
            h = out_size(h, st.stride);
            w = out_size(w, st.stride);
        }
        check_positive("head.width", self.head.width)?;
        if h == 0 || w == 0 {
            return Err(SpaceError::invalid("stages", "the strides shrink the feature map to nothing"));
        }
        Ok(())
    }

    /// Total number of MBConv blocks.
    pub fn num_blocks(&self) -> usize {
        self.stages.iter().map(|s| s.blocks.len()).sum()
    }
}
