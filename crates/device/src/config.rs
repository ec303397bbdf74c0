//! Device descriptions: `devices/*.toml`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use edgenas_agent::AgentConfig;

use crate::client::{Client, RetryPolicy};
use crate::error::{DeviceError, Result};
use crate::transport::{LocalTransport, SerialConnector, StreamTransport, TcpConnector, Transport};

/// How to reach the device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum TransportConfig {
    /// This machine, in-process.
    Local,
    /// An `edgenas-agent` listening on TCP.
    Tcp {
        /// `host:port`.
        address: String,
        /// Token the agent requires (needed when it listens on a non-loopback address).
        #[serde(default)]
        token: Option<String>,
    },
    /// An `edgenas-agent` on a serial port.
    Serial {
        /// Port path, e.g. `/dev/ttyUSB0`.
        path: String,
        /// Baud rate.
        #[serde(default = "default_baud")]
        baud: u32,
        /// Token the agent requires, if it was started with one.
        #[serde(default)]
        token: Option<String>,
    },
}

fn default_baud() -> u32 {
    115_200
}

/// Benchmark settings used on the device.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuntimeConfig {
    /// Runtime threads (tract runs single-threaded: 1).
    #[serde(default = "one")]
    pub threads: u32,
    /// Untimed runs before timing.
    #[serde(default = "default_warmup")]
    pub warmup: u32,
    /// Timed runs per measurement.
    #[serde(default = "default_runs")]
    pub runs: u32,
    /// Interleaved passes over all keys; each key keeps its fastest pass.
    #[serde(default = "default_passes")]
    pub passes: u32,
    /// Seconds to wait for an ordinary answer.
    #[serde(default = "default_timeout")]
    pub timeout_s: f64,
}

fn one() -> u32 {
    1
}
fn default_warmup() -> u32 {
    3
}
fn default_runs() -> u32 {
    15
}
fn default_passes() -> u32 {
    5
}
fn default_timeout() -> f64 {
    5.0
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            threads: 1,
            warmup: default_warmup(),
            runs: default_runs(),
            passes: default_passes(),
            timeout_s: default_timeout(),
        }
    }
}

/// A device description.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceConfig {
    /// Short name; the profile is written to `profiles/<name>.json`.
    pub name: String,
    /// Free text shown by `edgenas devices`.
    #[serde(default)]
    pub description: String,
    /// How to reach it.
    pub transport: TransportConfig,
    /// Benchmark settings.
    #[serde(default)]
    pub runtime: RuntimeConfig,
}

impl DeviceConfig {
    /// The built-in description of this machine (what `devices/local.toml` holds).
    pub fn local() -> Self {
        DeviceConfig {
            name: "local".into(),
            description: "this machine, in-process".into(),
            transport: TransportConfig::Local,
            runtime: RuntimeConfig::default(),
        }
    }

    /// Parse and check TOML text; `origin` names the file in errors.
    pub fn from_toml_str(text: &str, origin: &Path) -> Result<Self> {
        let c: DeviceConfig = toml::from_str(text)
            .map_err(|e| DeviceError::config(origin, edgenas_space::error::toml_error_line(text, &e)))?;
        c.check().map_err(|m| DeviceError::config(origin, m))?;
        Ok(c)
    }

    /// Read a device file.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text =
            std::fs::read_to_string(path).map_err(|source| DeviceError::Io { path: path.to_path_buf(), source })?;
        Self::from_toml_str(&text, path)
    }

    fn check(&self) -> std::result::Result<(), String> {
        if self.name.is_empty() || !self.name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) {
            return Err(format!("name = {:?} is not allowed; allowed: letters, digits, '-', '_', '.'", self.name));
        }
        if self.runtime.threads != 1 {
            return Err(format!(
                "runtime.threads = {} is not allowed; allowed: 1 (tract runs single-threaded)",
                self.runtime.threads
            ));
        }
        check_runtime(self.runtime.warmup, self.runtime.runs, self.runtime.passes)?;
        if !(self.runtime.timeout_s > 0.0 && self.runtime.timeout_s <= 3600.0) {
            return Err(format!("runtime.timeout_s = {} is not allowed; allowed: (0, 3600]", self.runtime.timeout_s));
        }
        if let TransportConfig::Serial { baud, .. } = self.transport {
            if baud == 0 {
                return Err("transport.baud = 0 is not allowed; allowed: a positive baud rate".into());
            }
        }
        if let TransportConfig::Tcp { address, .. } = &self.transport {
            let port = address.rsplit_once(':').filter(|(host, _)| !host.is_empty()).map(|(_, p)| p.parse::<u16>());
            if !matches!(port, Some(Ok(p)) if p > 0) {
                return Err(format!(
                    "transport.address = {address:?} is not allowed; allowed: host:port (e.g. \"192.168.1.20:7878\")"
                ));
            }
        }
        Ok(())
    }

    /// The device a profile names (`name`, its provenance's device): `devices/<name>.toml`, else
    /// `devices/examples/<name>.toml` (relative to the current folder), else this machine for
    /// `local`; `Ok(None)` when there is no such file.
    pub fn named(name: &str) -> crate::error::Result<Option<DeviceConfig>> {
        for dir in ["devices", "devices/examples"] {
            let p = std::path::PathBuf::from(format!("{dir}/{name}.toml"));
            if p.exists() {
                return DeviceConfig::from_file(&p).map(Some);
            }
        }
        Ok((name == "local").then(DeviceConfig::local))
    }

    /// The retry policy for this device.
    pub fn policy(&self) -> RetryPolicy {
        RetryPolicy { timeout: Duration::from_secs_f64(self.runtime.timeout_s), ..RetryPolicy::default() }
    }

    /// Open a client (nothing is sent until the first request).
    pub fn client(&self) -> Client {
        self.client_with_policy(self.policy())
    }

    /// Open a client with an explicit retry policy.
    pub fn client_with_policy(&self, policy: RetryPolicy) -> Client {
        let (transport, token): (Box<dyn Transport>, String) = match &self.transport {
            TransportConfig::Local => (Box::new(LocalTransport::new(AgentConfig::default())), String::new()),
            TransportConfig::Tcp { address, token } => (
                Box::new(StreamTransport::new(Box::new(TcpConnector {
                    address: address.clone(),
                    timeout: Duration::from_secs(3),
                }))),
                token.clone().unwrap_or_default(),
            ),
            TransportConfig::Serial { path, baud, token } => (
                Box::new(StreamTransport::new(Box::new(SerialConnector {
                    path: path.clone(),
                    baud: *baud,
                    connected_once: false,
                }))),
                token.clone().unwrap_or_default(),
            ),
        };
        Client::new(transport, token, policy)
    }
}

/// Most timed runs per measurement (every duration must fit one protocol frame).
pub const MAX_RUNS: u32 = 8000;

/// Check benchmark settings; the message names the field and what is allowed.
pub fn check_runtime(warmup: u32, runs: u32, passes: u32) -> std::result::Result<(), String> {
    if !(1..=MAX_RUNS).contains(&runs) {
        return Err(format!("runtime.runs = {runs} is not allowed; allowed: 1..={MAX_RUNS}"));
    }
    if warmup > 100_000 {
        return Err(format!("runtime.warmup = {warmup} is not allowed; allowed: 0..=100000"));
    }
    if !(1..=20).contains(&passes) {
        return Err(format!("runtime.passes = {passes} is not allowed; allowed: 1..=20"));
    }
    Ok(())
}

/// Every `*.toml` in a folder, sorted by path.
pub fn list_device_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let rd = std::fs::read_dir(dir).map_err(|source| DeviceError::Io { path: dir.to_path_buf(), source })?;
    let mut v: Vec<PathBuf> =
        rd.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.extension().is_some_and(|x| x == "toml")).collect();
    v.sort();
    Ok(v)
}
