//! The host side of the protocol: requests with timeouts, retries with backoff, reconnection
//! (a fresh hello after the agent restarts), chunked model upload.

use std::time::Duration;

use edgenas_protocol::{DeviceInfo, ErrorCode, Request, Response, MAX_CHUNK, PROTOCOL_VERSION};

use crate::error::{DeviceError, Result};
use crate::transport::Transport;

/// How hard to try.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts per request (first try included).
    pub attempts: u32,
    /// Backoff before the second attempt; doubles each time.
    pub backoff: Duration,
    /// Longest backoff.
    pub max_backoff: Duration,
    /// Timeout of a request other than bench.
    pub timeout: Duration,
    /// Timeout of a bench request.
    pub bench_timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 8,
            backoff: Duration::from_millis(20),
            max_backoff: Duration::from_secs(2),
            timeout: Duration::from_secs(5),
            bench_timeout: Duration::from_secs(60),
        }
    }
}

/// Counters of what went wrong and was recovered.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientStats {
    /// Requests retried.
    pub retries: u64,
    /// Reconnections.
    pub reconnects: u64,
    /// Model uploads restarted because the agent lost the model.
    pub reloads: u64,
}

/// Talks to one device through a transport.
pub struct Client {
    transport: Box<dyn Transport>,
    policy: RetryPolicy,
    token: String,
    next_id: u32,
    next_model: u32,
    session_open: bool,
    info: Option<DeviceInfo>,
    /// Recovered failures so far.
    pub stats: ClientStats,
}

impl Client {
    /// A client over `transport`, presenting `token` in hello ("" for none).
    pub fn new(transport: Box<dyn Transport>, token: impl Into<String>, policy: RetryPolicy) -> Self {
        Client {
            transport,
            policy,
            token: token.into(),
            next_id: 1,
            next_model: 1,
            session_open: false,
            info: None,
            stats: ClientStats::default(),
        }
    }

    /// Where requests go.
    pub fn describe(&self) -> String {
        self.transport.describe()
    }

    fn exchange_retrying(&mut self, req: &Request, timeout: Duration) -> Result<Response> {
        let mut backoff = self.policy.backoff;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let id = self.next_id;
            self.next_id = self.next_id.wrapping_add(1).max(1);
            let result = if !self.session_open && !matches!(req, Request::Hello { .. }) {
                self.open_session_once().and_then(|_| self.transport.exchange(id, req, timeout))
            } else {
                self.transport.exchange(id, req, timeout)
            };
            match result {
                Err(e) if e.is_retryable() && attempt < self.policy.attempts => {
                    self.stats.retries += 1;
                    if matches!(e, DeviceError::Disconnected(_) | DeviceError::Timeout(_)) {
                        self.transport.reset();
                        self.session_open = false;
                        self.stats.reconnects += 1;
                    }
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(self.policy.max_backoff);
                }
                other => return other,
            }
        }
    }

    fn open_session_once(&mut self) -> Result<()> {
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1).max(1);
        let resp = self.transport.exchange(id, &Request::Hello { token: self.token.clone() }, self.policy.timeout)?;
        self.accept_hello(resp).map(|_| ())
    }

    fn accept_hello(&mut self, resp: Response) -> Result<DeviceInfo> {
        match resp {
            Response::Hello(info) => {
                if info.protocol != PROTOCOL_VERSION {
                    return Err(DeviceError::VersionMismatch { agent: info.protocol, host: PROTOCOL_VERSION });
                }
                self.session_open = true;
                self.info = Some(info.clone());
                Ok(info)
            }
            Response::Error { code, message } => Err(DeviceError::Device { code, message }),
            other => unexpected(other),
        }
    }

    fn request(&mut self, req: Request, timeout: Duration) -> Result<Response> {
        match self.exchange_retrying(&req, timeout)? {
            Response::Error { code, message } => Err(DeviceError::Device { code, message }),
            r => Ok(r),
        }
    }

    /// Open a session and return what the device reports about itself.
    pub fn hello(&mut self) -> Result<DeviceInfo> {
        let req = Request::Hello { token: self.token.clone() };
        let resp = self.request(req, self.policy.timeout)?;
        self.accept_hello(resp)
    }

    /// The device info from the last hello.
    pub fn info(&self) -> Option<&DeviceInfo> {
        self.info.as_ref()
    }

    /// Liveness check.
    pub fn ping(&mut self) -> Result<()> {
        match self.request(Request::Ping { nonce: 42 }, self.policy.timeout)? {
            Response::Pong { nonce: 42 } => Ok(()),
            other => unexpected(other),
        }
    }

    /// Upload a model in chunks; returns its id once the device has loaded it.
    pub fn load(&mut self, bytes: &[u8]) -> Result<u32> {
        let model = self.next_model;
        self.next_model += 1;
        let total = bytes.len() as u32;
        'upload: for _ in 0..4 {
            let mut offset = 0usize;
            loop {
                let end = (offset + MAX_CHUNK).min(bytes.len());
                let req = Request::Load { model, total, offset: offset as u32, data: bytes[offset..end].to_vec() };
                match self.request(req, self.policy.timeout) {
                    Ok(Response::Ack) if end < bytes.len() => offset = end,
                    Ok(Response::Loaded { .. }) if end == bytes.len() => return Ok(model),
                    Ok(other) => return unexpected(other),
                    // the agent restarted mid-upload: start over
                    // the agent restarted or lost chunks mid-upload: start over
                    Err(DeviceError::Device { code: ErrorCode::UnknownModel | ErrorCode::BadRequest, .. }) => {
                        self.stats.reloads += 1;
                        continue 'upload;
                    }
                    Err(e) => return Err(e),
                }
            }
        }
        Err(DeviceError::Protocol("model upload kept being lost".into()))
    }

    /// Time a loaded model; every run's duration in nanoseconds, measured on the device.
    pub fn bench(&mut self, model: u32, warmup: u32, runs: u32) -> Result<Vec<u64>> {
        let timeout = self.policy.bench_timeout;
        match self.request(Request::Bench { model, warmup, runs }, timeout)? {
            Response::Bench { durations_ns } if durations_ns.len() == runs as usize => Ok(durations_ns),
            other => unexpected(other),
        }
    }

    /// Forget a model on the device.
    pub fn unload(&mut self, model: u32) -> Result<()> {
        match self.request(Request::Unload { model }, self.policy.timeout)? {
            Response::Ack => Ok(()),
            other => unexpected(other),
        }
    }

    /// Load, bench and unload a model; when the device lost the model (it restarted between
    /// the requests) the whole sequence is repeated.
    pub fn measure(&mut self, bytes: &[u8], warmup: u32, runs: u32) -> Result<Vec<u64>> {
        let mut last = None;
        for _ in 0..4 {
            let id = self.load(bytes)?;
            match self.bench(id, warmup, runs) {
                Ok(d) => {
                    // an unload lost to a restart is harmless
                    let _ = self.unload(id);
                    return Ok(d);
                }
                Err(DeviceError::Device { code: ErrorCode::UnknownModel, message }) => {
                    self.stats.reloads += 1;
                    last = Some(message);
                }
                Err(e) => return Err(e),
            }
        }
        Err(DeviceError::Protocol(format!("the device kept losing the model: {}", last.unwrap_or_default())))
    }
}

fn unexpected<T>(r: Response) -> Result<T> {
    Err(DeviceError::Protocol(format!("unexpected response {r:?}")))
}
