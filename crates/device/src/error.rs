//! Errors of device communication, profiling and prediction.

use std::path::PathBuf;

/// What can go wrong talking to a device or using a profile. Callers match on the kind:
/// [`DeviceError::Timeout`] and [`DeviceError::Protocol`] are worth a retry,
/// [`DeviceError::Device`] is reported, [`DeviceError::VersionMismatch`] stops.
#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    /// No (complete) answer within the time allowed.
    #[error("timed out after {0:?} waiting for the device")]
    Timeout(std::time::Duration),
    /// Bytes arrived but did not form a valid frame or message (CRC, framing, decoding).
    #[error("protocol error: {0}")]
    Protocol(String),
    /// The connection is gone (peer closed, broken pipe, refused).
    #[error("connection lost: {0}")]
    Disconnected(String),
    /// The device answered with an error.
    #[error("device error ({code:?}): {message}")]
    Device {
        /// What kind of failure.
        code: edgenas_protocol::ErrorCode,
        /// The device's message.
        message: String,
    },
    /// The agent speaks another protocol version.
    #[error("protocol version mismatch: agent speaks {agent}, this host speaks {host}; rebuild the agent from this edgenas version")]
    VersionMismatch {
        /// Agent's version.
        agent: u8,
        /// Host's version.
        host: u8,
    },
    /// A file or setting is wrong.
    #[error("{path}: {message}")]
    Config {
        /// The file concerned.
        path: PathBuf,
        /// What is wrong (field and what is allowed).
        message: String,
    },
    /// I/O on a file.
    #[error("{path}: {source}")]
    Io {
        /// The file concerned.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// Reading, writing or using a latency profile.
    #[error(transparent)]
    Profile(#[from] edgenas_profile::ProfileError),
    /// Export or runtime error.
    #[error(transparent)]
    Onnx(#[from] edgenas_onnx::OnnxError),
    /// Space or architecture error.
    #[error(transparent)]
    Space(#[from] edgenas_space::SpaceError),
}

impl DeviceError {
    /// Whether retrying the same request may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, DeviceError::Timeout(_) | DeviceError::Protocol(_) | DeviceError::Disconnected(_))
    }

    pub(crate) fn config(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        DeviceError::Config { path: path.into(), message: message.into() }
    }
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, DeviceError>;
