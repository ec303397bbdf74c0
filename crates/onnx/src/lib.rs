//! edgenas-onnx owns ONNX and tract: it turns an architecture (or one latency-table key) plus
//! weights into an ONNX `ModelProto` with onnx-protobuf, and loads, runs and times ONNX models
//! with tract.

pub mod error;
pub mod export;
pub mod runtime;
pub mod timing;

pub use error::{OnnxError, Result};
pub use export::{export_architecture, export_graph, export_key, to_bytes, write_model, IR_VERSION, OPSET};
pub use runtime::TractModel;
pub use timing::Timing;
