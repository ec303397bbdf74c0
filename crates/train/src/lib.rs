//! edgenas-train owns Burn: datasets (MNIST IDX, CIFAR-10 binary), the Burn model of an
//! architecture (same semantics as the ONNX exporter and the reference interpreter, see
//! SEMANTICS.md), the trainer, checkpoints, and the read-out of trained weights into the
//! weight source the exporter takes. No other crate depends on Burn.

pub mod backend;
pub mod data;
pub mod error;
pub mod kernels;
pub mod model;
pub mod supernet;
pub mod trainer;

pub use data::{load_splits, Dataset, Normalization, Splits};
pub use error::{Result, TrainError};
pub use model::{Net, NetConfig};
pub use supernet::{evaluate_subnet, train_supernet, Supernet, SupernetConfig, SupernetInfo, SupernetTrainConfig};
pub use trainer::{evaluate, train, train_model, CheckpointInfo, Metrics, Optimizer, TrainConfig, TrainEvent};
