//! edgenas-space owns the search space as plain data: the space's choices (TOML), concrete
//! architectures (JSON), genomes (what evolution mutates), shape inference, counts (parameters,
//! MACs, flash, peak activation memory), block keys (latency-table keys), the shared block
//! semantics and the weight-source trait. No neural-network framework, no runtime.

pub mod arch;
pub mod error;
pub mod graph;
pub mod io;
pub mod key;
pub mod semantics;
pub mod space;
pub mod stats;
pub mod weights;

pub use arch::{Architecture, Block, BlockKind, Head, InputShape, Stage, Stem};
pub use error::{Result, SpaceError};
pub use graph::{Act, Graph, Layer, LayerKind, Shape};
pub use key::BlockKey;
pub use space::{baseline_choice, Gene, Genome, SearchSpace};
pub use stats::Stats;
pub use weights::{BatchNorm, ConvSpec, ConvWeights, LinearWeights, NamedWeights, RandomWeights, WeightSource};
