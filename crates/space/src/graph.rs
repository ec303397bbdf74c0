//! Shape inference: an architecture (or a single block) as a sequence of layers over
//! numbered tensors. Exporters walk this list; the memory model runs liveness over it.

use crate::arch::{Architecture, Block, BlockKind};
use crate::key::BlockKey;
use crate::semantics::{has_residual, out_size, se_hidden};

/// Shape of one activation tensor of a single sample (channels, height, width).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Shape {
    /// Channels.
    pub c: usize,
    /// Height.
    pub h: usize,
    /// Width.
    pub w: usize,
}

impl Shape {
    /// Number of elements.
    pub fn numel(&self) -> usize {
        self.c * self.h * self.w
    }
}

/// Activation following a convolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Act {
    /// No activation (linear projection).
    None,
    /// `clip(x, 0, 6)`.
    Relu6,
}

/// What a layer computes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LayerKind {
    /// Convolution + batch-norm + activation (`groups == cin` for depthwise).
    ConvBn {
        /// Input channels.
        cin: usize,
        /// Output channels.
        cout: usize,
        /// Square kernel size.
        kernel: usize,
        /// Stride.
        stride: usize,
        /// Groups (1 or cin).
        groups: usize,
        /// Activation after BN.
        act: Act,
    },
    /// Squeeze-excite on `channels` channels with a hidden width of `hidden`
    /// (two 1x1 convolutions with bias, named `<layer>.reduce` and `<layer>.expand`).
    SqueezeExcite {
        /// Channels.
        channels: usize,
        /// Hidden width.
        hidden: usize,
    },
    /// Element-wise addition of `input` and the tensor `skip`.
    Add {
        /// The residual tensor.
        skip: usize,
    },
    /// Global average pooling to `channels` values.
    GlobalAvgPool,
    /// Fully connected layer (bias) from `cin` to `cout`.
    Linear {
        /// Input features.
        cin: usize,
        /// Output features.
        cout: usize,
    },
}

/// One layer: reads `input` (and possibly a skip tensor), writes `output`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layer {
    /// Stable name saying where the layer sits, e.g. `s1.b0.dw`; weights are looked up by it.
    pub name: String,
    /// What it computes.
    pub kind: LayerKind,
    /// Input tensor id.
    pub input: usize,
    /// Output tensor id.
    pub output: usize,
}

impl Layer {
    /// Tensors this layer reads.
    pub fn reads(&self) -> Vec<usize> {
        match self.kind {
            LayerKind::Add { skip } => vec![self.input, skip],
            _ => vec![self.input],
        }
    }
}

/// A straight-line graph: tensor 0 is the input, the last layer's output is the output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Graph {
    /// Shapes of all tensors by id (pooled tensors have h = w = 1).
    pub tensors: Vec<Shape>,
    /// Layers in execution order.
    pub layers: Vec<Layer>,
}

impl Graph {
    fn new(input: Shape) -> Self {
        Graph { tensors: vec![input], layers: Vec::new() }
    }

    /// Id of the most recently produced tensor.
    pub fn last(&self) -> usize {
        self.tensors.len() - 1
    }

    /// Shape of the graph's input.
    pub fn input_shape(&self) -> Shape {
        self.tensors[0]
    }

    /// Shape of the graph's output.
    pub fn output_shape(&self) -> Shape {
        self.tensors[self.last()]
    }

    fn push(&mut self, name: String, kind: LayerKind, input: usize, out: Shape) -> usize {
        self.tensors.push(out);
        let output = self.last();
        self.layers.push(Layer { name, kind, input, output });
        output
    }

    #[allow(clippy::too_many_arguments)]
    fn conv(
        &mut self,
        name: String,
        x: usize,
        cout: usize,
        kernel: usize,
        stride: usize,
        depthwise: bool,
        act: Act,
    ) -> usize {
        let s = self.tensors[x];
        let out = Shape { c: cout, h: out_size(s.h, stride), w: out_size(s.w, stride) };
        let groups = if depthwise { s.c } else { 1 };
        self.push(name, LayerKind::ConvBn { cin: s.c, cout, kernel, stride, groups, act }, x, out)
    }

    /// Append a block (either kind) reading tensor `x`; returns the output tensor.
    pub(crate) fn mbconv(&mut self, prefix: &str, x: usize, block: &Block, cout: usize, stride: usize) -> usize {
        let cin = self.tensors[x].c;
        let cexp = cin * block.expansion;
        let mut t = x;
        match block.kind {
            BlockKind::Mbconv => {
                if block.expansion > 1 {
                    t = self.conv(format!("{prefix}.expand"), t, cexp, 1, 1, false, Act::Relu6);
                }
                t = self.conv(format!("{prefix}.dw"), t, cexp, block.kernel, stride, true, Act::Relu6);
            }
            BlockKind::Convnext => {
                t = self.conv(format!("{prefix}.dw"), t, cin, block.kernel, stride, true, Act::None);
                if block.expansion > 1 {
                    t = self.conv(format!("{prefix}.expand"), t, cexp, 1, 1, false, Act::Relu6);
                }
            }
        }
        if block.se {
            let s = self.tensors[t];
            t = self.push(
                format!("{prefix}.se"),
                LayerKind::SqueezeExcite { channels: cexp, hidden: se_hidden(cexp) },
                t,
                s,
            );
        }
        t = self.conv(format!("{prefix}.project"), t, cout, 1, 1, false, Act::None);
        if has_residual(cin, cout, stride) {
            let s = self.tensors[t];
            t = self.push(format!("{prefix}.add"), LayerKind::Add { skip: x }, t, s);
        }
        t
    }

    fn stem(&mut self, x: usize, width: usize, kernel: usize, stride: usize) -> usize {
        self.conv("stem".into(), x, width, kernel, stride, false, Act::Relu6)
    }

    fn head(&mut self, x: usize, width: usize, classes: usize) -> usize {
        let t = self.conv("head.conv".into(), x, width, 1, 1, false, Act::Relu6);
        let pooled = self.push("head.pool".into(), LayerKind::GlobalAvgPool, t, Shape { c: width, h: 1, w: 1 });
        self.push(
            "head.fc".into(),
            LayerKind::Linear { cin: width, cout: classes },
            pooled,
            Shape { c: classes, h: 1, w: 1 },
        )
    }

    /// The whole network of an architecture.
    pub fn of_architecture(arch: &Architecture) -> Graph {
        let mut g = Graph::new(Shape { c: arch.input.channels, h: arch.input.height, w: arch.input.width });
        let mut t = g.stem(0, arch.stem.width, arch.stem.kernel, arch.stem.stride);
        for (i, st) in arch.stages.iter().enumerate() {
            for (j, b) in st.blocks.iter().enumerate() {
                let stride = if j == 0 { st.stride } else { 1 };
                t = g.mbconv(&format!("s{i}.b{j}"), t, b, st.width, stride);
            }
        }
        g.head(t, arch.head.width, arch.classes);
        g
    }

    /// The micro-network of one latency-table key (what the profiler times).
    pub fn of_key(key: &BlockKey) -> Graph {
        match *key {
            BlockKey::Stem { h, w, cin, cout, kernel, stride } => {
                let mut g = Graph::new(Shape { c: cin, h, w });
                g.stem(0, cout, kernel, stride);
                g
            }
            BlockKey::MbConv { kind, h, w, cin, cout, kernel, expansion, stride, se } => {
                let mut g = Graph::new(Shape { c: cin, h, w });
                g.mbconv("block", 0, &Block { kind, kernel, expansion, se }, cout, stride);
                g
            }
            BlockKey::Head { h, w, cin, cout, classes } => {
                let mut g = Graph::new(Shape { c: cin, h, w });
                g.head(0, cout, classes);
                g
            }
        }
    }
}
