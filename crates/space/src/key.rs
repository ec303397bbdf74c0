//! Block keys: what determines a block's latency on a device. These are the keys of a
//! device's latency lookup table.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::arch::{Architecture, BlockKind};
use crate::semantics::out_size;

/// One distinct block configuration, with its input feature-map size.
///
/// String forms (stable, used in profile files):
/// `stem-i28x28x1-o16-k3-s1`, `mbconv-i28x28x16-o24-k5-e3-s2-se1` (or `convnext-...` for the
/// ConvNeXt-like kind), `head-i7x7x96-o256-c10`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BlockKey {
    /// The stem convolution.
    Stem {
        /// Input height.
        h: usize,
        /// Input width.
        w: usize,
        /// Input channels.
        cin: usize,
        /// Output channels.
        cout: usize,
        /// Kernel size.
        kernel: usize,
        /// Stride.
        stride: usize,
    },
    /// A block (MBConv or ConvNeXt-like, see `kind`).
    MbConv {
        /// Block kind.
        kind: BlockKind,
        /// Input height.
        h: usize,
        /// Input width.
        w: usize,
        /// Input channels.
        cin: usize,
        /// Output channels.
        cout: usize,
        /// Depthwise kernel size.
        kernel: usize,
        /// Expansion ratio.
        expansion: usize,
        /// Stride.
        stride: usize,
        /// Squeeze-excite.
        se: bool,
    },
    /// The head (1x1 conv, pool, fully connected).
    Head {
        /// Input height.
        h: usize,
        /// Input width.
        w: usize,
        /// Input channels.
        cin: usize,
        /// Width of the 1x1 convolution.
        cout: usize,
        /// Classes.
        classes: usize,
    },
}

impl fmt::Display for BlockKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            BlockKey::Stem { h, w, cin, cout, kernel, stride } => {
                write!(f, "stem-i{h}x{w}x{cin}-o{cout}-k{kernel}-s{stride}")
            }
            BlockKey::MbConv { kind, h, w, cin, cout, kernel, expansion, stride, se } => {
                write!(f, "{kind}-i{h}x{w}x{cin}-o{cout}-k{kernel}-e{expansion}-s{stride}-se{}", se as u8)
            }
            BlockKey::Head { h, w, cin, cout, classes } => write!(f, "head-i{h}x{w}x{cin}-o{cout}-c{classes}"),
        }
    }
}

/// A block key string that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid block key `{0}`; expected e.g. stem-i28x28x1-o16-k3-s1, mbconv-i28x28x16-o24-k5-e3-s2-se1 (or convnext-...) or head-i7x7x96-o256-c10")]
pub struct BadKey(pub String);

fn num(part: &str, prefix: &str, whole: &str) -> Result<usize, BadKey> {
    part.strip_prefix(prefix).and_then(|v| v.parse().ok()).ok_or_else(|| BadKey(whole.to_string()))
}

impl FromStr for BlockKey {
    type Err = BadKey;
    fn from_str(s: &str) -> Result<Self, BadKey> {
        let bad = || BadKey(s.to_string());
        let parts: Vec<&str> = s.split('-').collect();
        let dims = |p: &str| -> Result<(usize, usize, usize), BadKey> {
            let d: Vec<&str> = p.strip_prefix('i').ok_or_else(bad)?.split('x').collect();
            if d.len() != 3 {
                return Err(bad());
            }
            let n = |x: &str| x.parse::<usize>().map_err(|_| bad());
            Ok((n(d[0])?, n(d[1])?, n(d[2])?))
        };
        match parts.as_slice() {
            ["stem", i, o, k, st] => {
                let (h, w, cin) = dims(i)?;
                Ok(BlockKey::Stem {
                    h,
                    w,
                    cin,
                    cout: num(o, "o", s)?,
                    kernel: num(k, "k", s)?,
                    stride: num(st, "s", s)?,
                })
            }
            [kind @ ("mbconv" | "convnext"), i, o, k, e, st, se] => {
                let kind = if *kind == "mbconv" { BlockKind::Mbconv } else { BlockKind::Convnext };
                let (h, w, cin) = dims(i)?;
                let se = match *se {
                    "se0" => false,
                    "se1" => true,
                    _ => return Err(bad()),
                };
                Ok(BlockKey::MbConv {
                    kind,
                    h,
                    w,
                    cin,
                    cout: num(o, "o", s)?,
                    kernel: num(k, "k", s)?,
                    expansion: num(e, "e", s)?,
                    stride: num(st, "s", s)?,
                    se,
                })
            }
            ["head", i, o, c] => {
                let (h, w, cin) = dims(i)?;
                Ok(BlockKey::Head { h, w, cin, cout: num(o, "o", s)?, classes: num(c, "c", s)? })
            }
            _ => Err(bad()),
        }
    }
}

impl Serialize for BlockKey {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for BlockKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl Architecture {
    /// The keys of this architecture in execution order: stem, every block, head
    /// (a key appears as often as the architecture uses it).
    pub fn block_keys(&self) -> Vec<BlockKey> {
        let mut keys = Vec::with_capacity(self.num_blocks() + 2);
        let (mut h, mut w, mut c) = (self.input.height, self.input.width, self.input.channels);
        keys.push(BlockKey::Stem {
            h,
            w,
            cin: c,
            cout: self.stem.width,
            kernel: self.stem.kernel,
            stride: self.stem.stride,
        });
        h = out_size(h, self.stem.stride);
        w = out_size(w, self.stem.stride);
        c = self.stem.width;
        for st in &self.stages {
            for (j, b) in st.blocks.iter().enumerate() {
                let stride = if j == 0 { st.stride } else { 1 };
                keys.push(BlockKey::MbConv {
                    kind: b.kind,
                    h,
                    w,
                    cin: c,
                    cout: st.width,
                    kernel: b.kernel,
                    expansion: b.expansion,
                    stride,
                    se: b.se,
                });
                h = out_size(h, stride);
                w = out_size(w, stride);
                c = st.width;
            }
        }
        keys.push(BlockKey::Head { h, w, cin: c, cout: self.head.width, classes: self.classes });
        keys
    }
}
