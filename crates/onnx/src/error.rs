//! Errors of the ONNX / runtime crate.

/// What can go wrong exporting, loading or running a model.
#[derive(Debug, thiserror::Error)]
pub enum OnnxError {
    /// The architecture, weights or a file operation failed.
    #[error(transparent)]
    Space(#[from] edgenas_space::SpaceError),
    /// The bytes are not a valid ONNX model.
    #[error("not a valid ONNX model: {0}")]
    Invalid(String),
    /// tract could not load, optimize or plan the model.
    #[error("tract could not load the model: {0}")]
    Load(String),
    /// tract failed while running the model.
    #[error("tract failed to run the model: {0}")]
    Run(String),
    /// The input given does not match the model's input shape.
    #[error("input has {got} values; the model's input {shape:?} needs {expected}")]
    InputSize {
        /// The model's input shape.
        shape: Vec<usize>,
        /// Values needed.
        expected: usize,
        /// Values given.
        got: usize,
    },
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, OnnxError>;
