//! edgenas-device owns talking to target devices and measuring them: device descriptions
//! (TOML), transports (the in-process agent, TCP, serial, a scripted fake), the client with
//! retries and reconnection, and the profiler with its journal, calibration, accuracy check
//! and drift check. The only host-side user of serialport.
//!
//! The wire protocol (edgenas-protocol), latency profiles and the predictor (edgenas-profile)
//! and the agent's session logic (edgenas-agent) are crates of their own; they are re-exported
//! here under their former module paths (`protocol`, `lut`, `agent`) for callers that also
//! measure. A crate that only loads profiles and predicts depends on edgenas-profile alone.

pub mod client;
pub mod config;
pub mod error;
pub mod profiler;
pub mod transport;

pub use edgenas_agent as agent;
pub use edgenas_profile as lut;
pub use edgenas_protocol as protocol;

pub use client::{Client, RetryPolicy};
pub use config::{DeviceConfig, RuntimeConfig, TransportConfig};
pub use edgenas_profile::{LatencyProfile, Prediction};
pub use error::{DeviceError, Result};
