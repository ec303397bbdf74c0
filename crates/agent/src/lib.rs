//! edgenas-agent (library) owns the agent's session logic: it answers protocol requests by
//! loading, running and timing models with tract ([`Agent`], one [`Session`] per connection)
//! and serves them on any [`Link`] ([`serve_link`]). The `edgenas-agent` binary serves it over
//! TCP or a serial port on the board; edgenas-device's `local` transport calls it in-process.
//! It depends on edgenas-protocol and edgenas-onnx, not on edgenas-device.

pub mod serial;

use std::collections::HashMap;
use std::io::ErrorKind;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use edgenas_onnx::TractModel;

use edgenas_protocol::{
    encode, write_chunked, DecodeError, Decoder, DeviceInfo, ErrorCode, Link, Message, Request, Response,
    PROTOCOL_VERSION,
};

/// Default largest model accepted: 16 MiB.
pub const DEFAULT_MAX_MODEL_BYTES: u32 = 16 * 1024 * 1024;

/// Agent settings.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// Largest model accepted, bytes.
    pub max_model_bytes: u32,
    /// Token a host must present in hello (`None`: no token needed).
    pub token: Option<String>,
    /// Most models held at once.
    pub max_models: usize,
}

impl Default for AgentConfig {
    fn default() -> Self {
        AgentConfig { max_model_bytes: DEFAULT_MAX_MODEL_BYTES, token: None, max_models: 8 }
    }
}

struct Upload {
    total: usize,
    data: Vec<u8>,
}

/// Uploads in progress at once (older ones are dropped).
const MAX_UPLOADS: usize = 4;

/// Per-connection state.
#[derive(Debug, Default, Clone)]
pub struct Session {
    /// Whether hello succeeded (with the right token, when one is required).
    pub authorized: bool,
}

/// Holds loaded models and answers requests.
pub struct Agent {
    config: AgentConfig,
    models: HashMap<u32, TractModel>,
    /// Model ids in load order (the oldest is evicted when `max_models` are held).
    order: std::collections::VecDeque<u32>,
    uploads: HashMap<u32, Upload>,
    upload_order: std::collections::VecDeque<u32>,
    info: DeviceInfo,
}

/// CPU model name of this machine (from /proc/cpuinfo where it exists).
pub fn cpu_model() -> String {
    let text = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    for key in ["model name", "Hardware", "Model", "CPU part"] {
        if let Some(line) = text.lines().find(|l| l.starts_with(key)) {
            if let Some((_, v)) = line.split_once(':') {
                return v.trim().to_string();
            }
        }
    }
    "unknown".into()
}

fn error(code: ErrorCode, message: impl Into<String>) -> Response {
    Response::Error { code, message: message.into() }
}

impl Agent {
    /// An agent with no models loaded.
    pub fn new(config: AgentConfig) -> Self {
        let info = DeviceInfo {
            protocol: PROTOCOL_VERSION,
            agent_version: env!("CARGO_PKG_VERSION").into(),
            runtime: format!("tract {}", edgenas_onnx::runtime::tract_version()),
            os: std::env::consts::OS.into(),
            arch: std::env::consts::ARCH.into(),
            cpu: cpu_model(),
            cores: std::thread::available_parallelism().map(|n| n.get() as u32).unwrap_or(1),
            threads: 1,
            max_model_bytes: config.max_model_bytes,
        };
        Agent {
            config,
            models: HashMap::new(),
            order: Default::default(),
            uploads: HashMap::new(),
            upload_order: Default::default(),
            info,
        }
    }

    /// What hello reports.
    pub fn info(&self) -> &DeviceInfo {
        &self.info
    }

    /// Answer one request.
    pub fn handle(&mut self, session: &mut Session, req: Request) -> Response {
        if let Request::Hello { token } = &req {
            return match &self.config.token {
                Some(t) if t != token => {
                    session.authorized = false;
                    error(ErrorCode::Unauthorized, "wrong or missing token")
                }
                _ => {
                    session.authorized = true;
                    Response::Hello(self.info.clone())
                }
            };
        }
        if self.config.token.is_some() && !session.authorized {
            return error(ErrorCode::Unauthorized, "send hello with the token first");
        }
        match req {
            Request::Hello { .. } => unreachable!("handled above"),
            Request::Ping { nonce } => Response::Pong { nonce },
            Request::Load { model, total, offset, data } => self.load(model, total as usize, offset as usize, data),
            Request::Bench { model, warmup, runs } => {
                let Some(m) = self.models.get(&model) else {
                    return error(ErrorCode::UnknownModel, format!("no model {model} loaded"));
                };
                if runs == 0 || runs > 100_000 || warmup > 100_000 {
                    return error(ErrorCode::BadRequest, "runs must be 1..=100000 and warm-up at most 100000");
                }
                let n: usize = m.input_shape().iter().product();
                let input: Vec<f32> = (0..n).map(|i| ((i * 7919) % 1000) as f32 / 1000.0).collect();
                match catch_quietly(|| m.bench_ns(&input, warmup as usize, runs as usize)) {
                    Ok(durations_ns) => Response::Bench { durations_ns },
                    Err(e) => error(ErrorCode::RunFailed, e.to_string()),
                }
            }
            Request::Unload { model } => {
                self.models.remove(&model);
                self.order.retain(|&m| m != model);
                self.uploads.remove(&model);
                self.upload_order.retain(|&m| m != model);
                Response::Ack
            }
        }
    }

    fn load(&mut self, model: u32, total: usize, offset: usize, data: Vec<u8>) -> Response {
        if total > self.config.max_model_bytes as usize {
            self.uploads.remove(&model);
            return error(
                ErrorCode::TooLarge,
                format!("model of {total} bytes exceeds the agent's limit of {} bytes", self.config.max_model_bytes),
            );
        }
        if offset == 0 && self.uploads.get(&model).is_none_or(|u| u.total != total || u.data.len() <= data.len()) {
            // a new upload (a repeated first chunk of the same upload changes nothing)
            self.models.remove(&model);
            self.order.retain(|&m| m != model);
            self.upload_order.retain(|&m| m != model);
            if self.upload_order.len() >= MAX_UPLOADS {
                if let Some(old) = self.upload_order.pop_front() {
                    self.uploads.remove(&old);
                }
            }
            self.uploads.insert(model, Upload { total, data: Vec::new() });
            self.upload_order.push_back(model);
        }
        let Some(up) = self.uploads.get_mut(&model) else {
            return error(
                ErrorCode::UnknownModel,
                format!("no upload of model {model} in progress (restart at offset 0)"),
            );
        };
        if up.total != total || offset + data.len() > total {
            return error(ErrorCode::BadRequest, "chunk does not fit the upload; restart at offset 0");
        }
        if offset + data.len() <= up.data.len() {
            // a repeated chunk (the host retried): already stored
            return if up.data.len() < total { Response::Ack } else { self.finish(model) };
        }
        if offset != up.data.len() {
            return error(
                ErrorCode::BadRequest,
                format!("chunk at offset {offset}, expected {}; restart at offset 0", up.data.len()),
            );
        }
        up.data.extend_from_slice(&data);
        if up.data.len() < total {
            return Response::Ack;
        }
        self.finish(model)
    }

    /// The last chunk arrived: load the model, evicting the oldest when the agent is full.
    fn finish(&mut self, model: u32) -> Response {
        let up = self.uploads.remove(&model).expect("present");
        self.upload_order.retain(|&m| m != model);
        while self.models.len() >= self.config.max_models {
            match self.order.pop_front() {
                Some(old) => {
                    self.models.remove(&old);
                }
                None => break,
            }
        }
        match catch_quietly(|| TractModel::from_bytes(&up.data)) {
            Ok(m) => {
                let shape = |s: &[usize]| s.iter().map(|&d| d as u32).collect();
                let resp = Response::Loaded { input: shape(m.input_shape()), output: shape(m.output_shape()) };
                self.models.insert(model, m);
                self.order.push_back(model);
                resp
            }
            Err(e) => error(ErrorCode::LoadFailed, e.to_string()),
        }
    }
}

/// Keep panics the agent catches (tract on malformed models) off stderr.
pub fn install_quiet_panic_hook() {
    edgenas_onnx::runtime::install_quiet_panic_hook();
}

fn catch_quietly<T>(f: impl FnOnce() -> edgenas_onnx::Result<T>) -> edgenas_onnx::Result<T> {
    edgenas_onnx::runtime::catch_panics(f)
}

/// Serve requests arriving on `link` until the peer goes away or `stop` is set.
/// Garbage and corrupted frames are skipped (the host retries); a frame of another protocol
/// version is answered with an error in this agent's version.
pub fn serve_link(agent: &Mutex<Agent>, link: &mut dyn Link, stop: &AtomicBool) -> std::io::Result<()> {
    let mut session = Session::default();
    let mut decoder = Decoder::new();
    let mut buf = vec![0u8; 16 * 1024];
    link.set_read_timeout(Duration::from_millis(100))?;
    while !stop.load(Ordering::Relaxed) {
        match link.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => decoder.push(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::TimedOut | ErrorKind::WouldBlock | ErrorKind::Interrupted) => {
                // a stale partial frame is skipped, or the link would stay deaf (serial has
                // no reconnect)
                decoder.quiet(Instant::now());
            }
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::BrokenPipe | ErrorKind::ConnectionReset | ErrorKind::UnexpectedEof
                ) =>
            {
                return Ok(())
            }
            Err(e) => return Err(e),
        }
        while let Some(frame) = decoder.next_frame() {
            let (id, resp) = match frame {
                Ok(f) => match f.message {
                    Message::Request(req) => {
                        let resp = agent.lock().unwrap_or_else(|p| p.into_inner()).handle(&mut session, req);
                        (f.id, resp)
                    }
                    Message::Response(_) => continue,
                },
                Err(DecodeError::Version { got, id }) => (
                    id,
                    error(
                        ErrorCode::BadRequest,
                        format!("protocol version {got} not supported; this agent speaks {PROTOCOL_VERSION}"),
                    ),
                ),
                Err(DecodeError::Payload { id, why, .. }) => (id, error(ErrorCode::BadRequest, why)),
                Err(_) => continue, // corrupted bytes: the host times out and retries
            };
            write_chunked(link, &encode(id, &Message::Response(resp)))?;
        }
    }
    Ok(())
}
