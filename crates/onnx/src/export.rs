//! Architecture (or one block) + weights -> ONNX `ModelProto` (IR 8, opset 13).

use std::path::Path;

use edgenas_space::graph::{Act, Graph, LayerKind, Shape};
use edgenas_space::semantics::{padding, BN_EPS, HSIGMOID_ALPHA, HSIGMOID_BETA, RELU6_MAX};
use edgenas_space::{Architecture, BlockKey, ConvSpec, WeightSource};
use onnx_protobuf::attribute_proto::AttributeType;
use onnx_protobuf::tensor_proto::DataType;
use onnx_protobuf::tensor_shape_proto::Dimension;
use onnx_protobuf::type_proto::{Tensor as TypeTensor, Value as TypeValue};
use onnx_protobuf::{
    AttributeProto, GraphProto, Message, ModelProto, NodeProto, OperatorSetIdProto, TensorProto, TensorShapeProto,
    TypeProto, ValueInfoProto,
};

use crate::error::{OnnxError, Result};

/// ONNX IR version written.
pub const IR_VERSION: i64 = 8;
/// Default-domain opset written.
pub const OPSET: i64 = 13;
/// Name of the model input.
pub const INPUT_NAME: &str = "input";
/// Name of the output of a whole network.
pub const LOGITS_NAME: &str = "logits";
/// Name of the output of a block micro-model.
pub const OUTPUT_NAME: &str = "output";

fn attr_ints(name: &str, v: &[i64]) -> AttributeProto {
    AttributeProto { name: name.into(), type_: AttributeType::INTS.into(), ints: v.to_vec(), ..Default::default() }
}

fn attr_int(name: &str, v: i64) -> AttributeProto {
    AttributeProto { name: name.into(), type_: AttributeType::INT.into(), i: v, ..Default::default() }
}

fn attr_float(name: &str, v: f32) -> AttributeProto {
    AttributeProto { name: name.into(), type_: AttributeType::FLOAT.into(), f: v, ..Default::default() }
}

fn tensor(name: &str, dims: &[usize], data: &[f32]) -> TensorProto {
    TensorProto {
        name: name.into(),
        dims: dims.iter().map(|&d| d as i64).collect(),
        data_type: DataType::FLOAT as i32,
        raw_data: data.iter().flat_map(|v| v.to_le_bytes()).collect(),
        ..Default::default()
    }
}

fn value_info(name: &str, dims: &[usize]) -> ValueInfoProto {
    let shape = TensorShapeProto {
        dim: dims
            .iter()
            .map(|&d| {
                let mut dim = Dimension::new();
                dim.set_dim_value(d as i64);
                dim
            })
            .collect(),
        ..Default::default()
    };
    let tt = TypeTensor { elem_type: DataType::FLOAT as i32, shape: Some(shape).into(), ..Default::default() };
    ValueInfoProto {
        name: name.into(),
        type_: Some(TypeProto { value: Some(TypeValue::TensorType(tt)), ..Default::default() }).into(),
        ..Default::default()
    }
}

fn node(op: &str, name: &str, inputs: &[&str], output: &str, attrs: Vec<AttributeProto>) -> NodeProto {
    NodeProto {
        op_type: op.into(),
        name: name.into(),
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: vec![output.to_string()],
        attribute: attrs,
        ..Default::default()
    }
}

/// Fold a batch-norm into the preceding convolution's weight and bias (Burn's stored
/// statistics used as they are): `w' = w * g`, `b' = (b - mean) * g + beta`, `g = gamma / sqrt(var + eps)`.
pub fn fold_batch_norm(w: &edgenas_space::ConvWeights, cout: usize) -> (Vec<f32>, Vec<f32>) {
    let per_out = w.weight.len() / cout;
    let bias0 = w.bias.clone().unwrap_or_else(|| vec![0.0; cout]);
    match &w.bn {
        None => (w.weight.clone(), bias0),
        Some(bn) => {
            let mut weight = w.weight.clone();
            let mut bias = vec![0f32; cout];
            for c in 0..cout {
                let g = bn.gamma[c] as f64 / (bn.var[c] as f64 + BN_EPS as f64).sqrt();
                for v in &mut weight[c * per_out..(c + 1) * per_out] {
                    *v = (*v as f64 * g) as f32;
                }
                bias[c] = ((bias0[c] as f64 - bn.mean[c] as f64) * g + bn.beta[c] as f64) as f32;
            }
            (weight, bias)
        }
    }
}

struct Builder<'w, W: WeightSource> {
    weights: &'w W,
    nodes: Vec<NodeProto>,
    inits: Vec<TensorProto>,
    uses_clip: bool,
}

impl<W: WeightSource> Builder<'_, W> {
    #[allow(clippy::too_many_arguments)]
    fn conv(&mut self, layer: &str, x: &str, out: &str, spec: ConvSpec, stride: usize) -> Result<()> {
        let w = self.weights.conv(layer, spec)?;
        let (weight, bias) = fold_batch_norm(&w, spec.cout);
        let (wn, bn) = (format!("{layer}.weight"), format!("{layer}.bias"));
        let k = spec.kernel;
        self.inits.push(tensor(&wn, &[spec.cout, spec.cin / spec.groups, k, k], &weight));
        self.inits.push(tensor(&bn, &[spec.cout], &bias));
        let p = padding(k) as i64;
        self.nodes.push(node(
            "Conv",
            &format!("{layer}.conv"),
            &[x, &wn, &bn],
            out,
            vec![
                attr_ints("kernel_shape", &[k as i64, k as i64]),
                attr_ints("strides", &[stride as i64, stride as i64]),
                attr_ints("pads", &[p, p, p, p]),
                attr_ints("dilations", &[1, 1]),
                attr_int("group", spec.groups as i64),
            ],
        ));
        Ok(())
    }

    fn layer(&mut self, graph: &Graph, idx: usize, names: &[String]) -> Result<()> {
        let l = &graph.layers[idx];
        let x = names[l.input].as_str();
        let out = names[l.output].as_str();
        let name = l.name.as_str();
        match l.kind {
            LayerKind::ConvBn { cin, cout, kernel, stride, groups, act } => {
                let spec = ConvSpec { cin, cout, kernel, groups, bn: true };
                match act {
                    Act::None => self.conv(name, x, out, spec, stride)?,
                    Act::Relu6 => {
                        let pre = format!("{name}.conv.out");
                        self.conv(name, x, &pre, spec, stride)?;
                        self.uses_clip = true;
                        self.nodes.push(node(
                            "Clip",
                            &format!("{name}.relu6"),
                            &[&pre, "relu6.min", "relu6.max"],
                            out,
                            vec![],
                        ));
                    }
                }
            }
            LayerKind::SqueezeExcite { channels, hidden } => {
                let n = |s: &str| format!("{name}.{s}");
                self.nodes.push(node("GlobalAveragePool", &n("pool"), &[x], &n("pool.out"), vec![]));
                let spec = |cin, cout| ConvSpec { cin, cout, kernel: 1, groups: 1, bn: false };
                self.conv(&n("reduce"), &n("pool.out"), &n("reduce.out"), spec(channels, hidden), 1)?;
                self.nodes.push(node("Relu", &n("relu"), &[&n("reduce.out")], &n("relu.out"), vec![]));
                self.conv(&n("expand"), &n("relu.out"), &n("expand.out"), spec(hidden, channels), 1)?;
                self.nodes.push(node(
                    "HardSigmoid",
                    &n("gate"),
                    &[&n("expand.out")],
                    &n("gate.out"),
                    vec![attr_float("alpha", HSIGMOID_ALPHA), attr_float("beta", HSIGMOID_BETA)],
                ));
                self.nodes.push(node("Mul", &n("scale"), &[x, &n("gate.out")], out, vec![]));
            }
            LayerKind::Add { skip } => {
                self.nodes.push(node("Add", name, &[x, &names[skip]], out, vec![]));
            }
            LayerKind::GlobalAvgPool => {
                self.nodes.push(node("GlobalAveragePool", name, &[x], out, vec![]));
            }
            LayerKind::Linear { cin, cout } => {
                let w = self.weights.linear(name, cin, cout)?;
                let flat = format!("{name}.flatten.out");
                self.nodes.push(node("Flatten", &format!("{name}.flatten"), &[x], &flat, vec![attr_int("axis", 1)]));
                let (wn, bn) = (format!("{name}.weight"), format!("{name}.bias"));
                self.inits.push(tensor(&wn, &[cout, cin], &w.weight));
                self.inits.push(tensor(&bn, &[cout], &w.bias));
                self.nodes.push(node(
                    "Gemm",
                    &format!("{name}.gemm"),
                    &[&flat, &wn, &bn],
                    out,
                    vec![attr_int("transB", 1)],
                ));
            }
        }
        Ok(())
    }
}

fn scalar_constant(name: &str, v: f32) -> NodeProto {
    let mut n = node("Constant", name, &[], name, vec![]);
    n.attribute.push(AttributeProto {
        name: "value".into(),
        type_: AttributeType::TENSOR.into(),
        t: Some(tensor(name, &[], &[v])).into(),
        ..Default::default()
    });
    n
}

fn dims(s: Shape, flat: bool) -> Vec<usize> {
    if flat {
        vec![1, s.c]
    } else {
        vec![1, s.c, s.h, s.w]
    }
}

/// Export a layer graph as a model named `model_name` with output `output_name`.
/// Weights are taken from `weights` and batch-norm is folded into the convolutions.
pub fn export_graph(
    graph: &Graph,
    model_name: &str,
    output_name: &str,
    weights: &impl WeightSource,
) -> Result<ModelProto> {
    let n = graph.tensors.len();
    let last = graph.last();
    let names: Vec<String> = (0..n)
        .map(|t| {
            if t == 0 {
                INPUT_NAME.to_string()
            } else if t == last {
                output_name.to_string()
            } else {
                let producer = graph.layers.iter().find(|l| l.output == t).expect("every tensor has a producer");
                format!("{}.out", producer.name)
            }
        })
        .collect();
    let mut b = Builder { weights, nodes: Vec::new(), inits: Vec::new(), uses_clip: false };
    for i in 0..graph.layers.len() {
        b.layer(graph, i, &names)?;
    }
    let mut nodes = Vec::new();
    if b.uses_clip {
        nodes.push(scalar_constant("relu6.min", 0.0));
        nodes.push(scalar_constant("relu6.max", RELU6_MAX));
    }
    nodes.extend(b.nodes);
    let output_flat = matches!(graph.layers.last().map(|l| &l.kind), Some(LayerKind::Linear { .. }));
    let g = GraphProto {
        name: model_name.into(),
        node: nodes,
        initializer: b.inits,
        input: vec![value_info(INPUT_NAME, &dims(graph.input_shape(), false))],
        output: vec![value_info(output_name, &dims(graph.output_shape(), output_flat))],
        ..Default::default()
    };
    Ok(model_proto(g))
}

/// Export a whole architecture (input `input` `[1,C,H,W]`, output `logits` `[1,classes]`).
pub fn export_architecture(arch: &Architecture, weights: &impl WeightSource) -> Result<ModelProto> {
    arch.check()?;
    export_graph(&Graph::of_architecture(arch), "edgenas", LOGITS_NAME, weights)
}

/// Export one latency-table key (stem, block or head) as its own micro-model.
pub fn export_key(key: &BlockKey, weights: &impl WeightSource) -> Result<ModelProto> {
    export_graph(&Graph::of_key(key), &key.to_string(), OUTPUT_NAME, weights)
}

/// Serialize a model to bytes.
pub fn to_bytes(model: &ModelProto) -> Vec<u8> {
    model.write_to_bytes().expect("in-memory protobuf serialization does not fail")
}

/// Write a model to `path` atomically (no partial file on failure).
pub fn write_model(path: &Path, model: &ModelProto) -> Result<()> {
    edgenas_space::io::write_atomic(path, &to_bytes(model)).map_err(OnnxError::from)
}

/// Parse ONNX bytes (only the protobuf structure; see [`crate::runtime`] for loading in tract).
pub fn parse(bytes: &[u8]) -> Result<ModelProto> {
    ModelProto::parse_from_bytes(bytes).map_err(|e| OnnxError::Invalid(e.to_string()))
}

/// The smallest runnable model (`[1,1,1,1]` -> Relu): timing it measures the fixed per-model
/// overhead of a runtime (input copy, plan dispatch) that every micro-model measurement holds.
pub fn trivial_model() -> ModelProto {
    model_proto(GraphProto {
        name: "trivial".into(),
        node: vec![node("Relu", "relu", &[INPUT_NAME], OUTPUT_NAME, vec![])],
        input: vec![value_info(INPUT_NAME, &[1, 1, 1, 1])],
        output: vec![value_info(OUTPUT_NAME, &[1, 1, 1, 1])],
        ..Default::default()
    })
}

/// A model of IR [`IR_VERSION`] importing opset [`OPSET`] around `g`.
fn model_proto(g: GraphProto) -> ModelProto {
    ModelProto {
        ir_version: IR_VERSION,
        opset_import: vec![OperatorSetIdProto { domain: String::new(), version: OPSET, ..Default::default() }],
        producer_name: "edgenas".into(),
        producer_version: env!("CARGO_PKG_VERSION").into(),
        graph: Some(g).into(),
        ..Default::default()
    }
}
