//! edgenas-device owns everything about target devices: device descriptions (TOML), the wire
//! protocol (pure, no I/O), transports (in-process, TCP, serial, a scripted fake), the agent's
//! request handling, the client with retries and reconnection, the profiler with its journal,
//! latency profiles (LUT files) and the calibrated predictor with its accuracy and drift
//! reports. The only crate that uses serialport.

pub mod agent;
pub mod client;
pub mod config;
pub mod error;
pub mod lut;
pub mod profiler;
pub mod protocol;
pub mod transport;

pub use client::{Client, RetryPolicy};
pub use config::{DeviceConfig, RuntimeConfig, TransportConfig};
pub use error::{DeviceError, Result};
pub use lut::{LatencyProfile, Prediction};
