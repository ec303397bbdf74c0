//! edgenas-protocol owns what the host and the agent share on the wire: frames and messages
//! (pure encode/decode on bytes, no I/O), [`DeviceInfo`] (what hello reports, also recorded in
//! latency profiles), error codes, and the [`Link`] trait (a byte stream with a read timeout)
//! that both ends serve or read frames on. It depends on serde, crc and thiserror only.
//!
//! # Frame
//! ```text
//! magic 0xED 0x9A | version u8 | kind u8 | request id u32 LE | payload length u32 LE | payload | CRC-32 u32 LE
//! ```
//! The CRC (CRC-32/ISO-HDLC, as zlib) covers version, kind, id, length and payload. A
//! response carries the id of its request. The decoder resynchronizes after garbage: it scans
//! for the magic and, when a candidate frame fails its length or CRC check, drops one byte and
//! scans again.
//!
//! # Messages
//! Requests: hello (token), load (model id, total length, offset, chunk; a model travels in
//! chunks of at most [`MAX_CHUNK`] bytes), bench (model id, warm-up, runs), unload, ping.
//! Responses: hello (device info), ack, loaded (shapes), bench (every run's duration in ns,
//! measured on the device), pong, error (code + message). Integers are little-endian, strings
//! and byte strings are length-prefixed (u32).

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

mod link;
pub use link::{write_chunked, Link};

/// Protocol version spoken by this build.
pub const PROTOCOL_VERSION: u8 = 1;
/// Frame magic.
pub const MAGIC: [u8; 2] = [0xED, 0x9A];
/// Header bytes before the payload (magic, version, kind, id, length).
pub const HEADER_LEN: usize = 12;
/// Largest payload accepted in one frame.
pub const MAX_PAYLOAD: usize = 64 * 1024;
/// Largest model chunk sent in one load request.
pub const MAX_CHUNK: usize = 32 * 1024;

const CRC: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC);

/// What a device reports about itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceInfo {
    /// Protocol version of the agent.
    pub protocol: u8,
    /// Agent version.
    pub agent_version: String,
    /// Runtime and its version, e.g. `tract 0.23.9`.
    pub runtime: String,
    /// Operating system.
    pub os: String,
    /// CPU architecture.
    pub arch: String,
    /// CPU model name.
    pub cpu: String,
    /// Logical cores.
    pub cores: u32,
    /// Threads the runtime uses.
    pub threads: u32,
    /// Largest model accepted, bytes.
    pub max_model_bytes: u32,
}

/// Error codes a device can answer with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ErrorCode {
    /// Malformed or unexpected request.
    BadRequest,
    /// Model larger than the agent's limit.
    TooLarge,
    /// No model with that id (e.g. the agent restarted).
    UnknownModel,
    /// The runtime could not load the model.
    LoadFailed,
    /// The runtime failed while running.
    RunFailed,
    /// Token missing or wrong.
    Unauthorized,
    /// Unknown code from a newer agent.
    Other,
}

impl ErrorCode {
    fn to_u8(self) -> u8 {
        match self {
            ErrorCode::BadRequest => 1,
            ErrorCode::TooLarge => 2,
            ErrorCode::UnknownModel => 3,
            ErrorCode::LoadFailed => 4,
            ErrorCode::RunFailed => 5,
            ErrorCode::Unauthorized => 6,
            ErrorCode::Other => 255,
        }
    }
    fn from_u8(v: u8) -> Self {
        match v {
            1 => ErrorCode::BadRequest,
            2 => ErrorCode::TooLarge,
            3 => ErrorCode::UnknownModel,
            4 => ErrorCode::LoadFailed,
            5 => ErrorCode::RunFailed,
            6 => ErrorCode::Unauthorized,
            _ => ErrorCode::Other,
        }
    }
}

/// A request from host to agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// Open a session; `token` must match the agent's when it has one.
    Hello {
        /// Access token ("" for none).
        token: String,
    },
    /// One chunk of a model (`offset == 0` starts a new upload of `total` bytes).
    Load {
        /// Host-chosen model id.
        model: u32,
        /// Total model size in bytes.
        total: u32,
        /// Offset of this chunk.
        offset: u32,
        /// The chunk.
        data: Vec<u8>,
    },
    /// Time a loaded model.
    Bench {
        /// Model id.
        model: u32,
        /// Untimed runs first.
        warmup: u32,
        /// Timed runs.
        runs: u32,
    },
    /// Forget a model.
    Unload {
        /// Model id.
        model: u32,
    },
    /// Liveness check.
    Ping {
        /// Echoed back.
        nonce: u64,
    },
}

/// A response from agent to host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    /// Answer to hello.
    Hello(DeviceInfo),
    /// Request done (chunk stored, model unloaded).
    Ack,
    /// The last chunk arrived and the model is loaded.
    Loaded {
        /// Input shape.
        input: Vec<u32>,
        /// Output shape.
        output: Vec<u32>,
    },
    /// Every timed run's duration in nanoseconds.
    Bench {
        /// Durations.
        durations_ns: Vec<u64>,
    },
    /// Answer to ping.
    Pong {
        /// The request's nonce.
        nonce: u64,
    },
    /// The request failed.
    Error {
        /// Kind of failure.
        code: ErrorCode,
        /// Human-readable detail.
        message: String,
    },
}

/// Either direction's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// Host to agent.
    Request(Request),
    /// Agent to host.
    Response(Response),
}

/// A decoded frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// Request id (a response repeats its request's).
    pub id: u32,
    /// The message.
    pub message: Message,
}

/// Why bytes did not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// CRC mismatch (corrupted bytes).
    #[error("CRC mismatch")]
    Crc,
    /// Length field out of range.
    #[error("frame length {0} exceeds the limit")]
    Length(usize),
    /// A well-formed frame of another protocol version.
    #[error("frame of protocol version {got}")]
    Version {
        /// Version in the frame.
        got: u8,
        /// Frame id.
        id: u32,
    },
    /// Valid frame, but the payload does not decode as its kind.
    #[error("bad payload for message kind {kind:#04x}: {why}")]
    Payload {
        /// Kind byte.
        kind: u8,
        /// Frame id.
        id: u32,
        /// What is wrong.
        why: String,
    },
}

// ---- payload encoding ----

struct Writer(Vec<u8>);

impl Writer {
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn bytes(&mut self, v: &[u8]) {
        self.u32(v.len() as u32);
        self.0.extend_from_slice(v);
    }
    fn str(&mut self, v: &str) {
        self.bytes(v.as_bytes());
    }
}

struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if self.buf.len() < n {
            return Err(format!("needs {n} more bytes, {} left", self.buf.len()));
        }
        let (a, b) = self.buf.split_at(n);
        self.buf = b;
        Ok(a)
    }
    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().expect("4 bytes")))
    }
    fn u64(&mut self) -> Result<u64, String> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().expect("8 bytes")))
    }
    fn bytes(&mut self) -> Result<Vec<u8>, String> {
        let n = self.u32()? as usize;
        Ok(self.take(n)?.to_vec())
    }
    fn str(&mut self) -> Result<String, String> {
        String::from_utf8(self.bytes()?).map_err(|_| "invalid UTF-8".to_string())
    }
    fn u32s(&mut self) -> Result<Vec<u32>, String> {
        let n = self.u32()? as usize;
        if n > self.buf.len() / 4 {
            return Err("list longer than the payload".into());
        }
        (0..n).map(|_| self.u32()).collect()
    }
    fn end(&self) -> Result<(), String> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(format!("{} trailing bytes", self.buf.len()))
        }
    }
}

fn encode_message(m: &Message) -> (u8, Vec<u8>) {
    let mut w = Writer(Vec::new());
    let kind = match m {
        Message::Request(r) => match r {
            Request::Hello { token } => {
                w.str(token);
                0x01
            }
            Request::Load { model, total, offset, data } => {
                w.u32(*model);
                w.u32(*total);
                w.u32(*offset);
                w.bytes(data);
                0x02
            }
            Request::Bench { model, warmup, runs } => {
                w.u32(*model);
                w.u32(*warmup);
                w.u32(*runs);
                0x03
            }
            Request::Unload { model } => {
                w.u32(*model);
                0x04
            }
            Request::Ping { nonce } => {
                w.u64(*nonce);
                0x05
            }
        },
        Message::Response(r) => match r {
            Response::Hello(i) => {
                w.u8(i.protocol);
                w.str(&i.agent_version);
                w.str(&i.runtime);
                w.str(&i.os);
                w.str(&i.arch);
                w.str(&i.cpu);
                w.u32(i.cores);
                w.u32(i.threads);
                w.u32(i.max_model_bytes);
                0x81
            }
            Response::Ack => 0x82,
            Response::Loaded { input, output } => {
                for s in [input, output] {
                    w.u32(s.len() as u32);
                    s.iter().for_each(|&d| w.u32(d));
                }
                0x83
            }
            Response::Bench { durations_ns } => {
                w.u32(durations_ns.len() as u32);
                durations_ns.iter().for_each(|&d| w.u64(d));
                0x84
            }
            Response::Pong { nonce } => {
                w.u64(*nonce);
                0x85
            }
            Response::Error { code, message } => {
                w.u8(code.to_u8());
                w.str(message);
                0xE0
            }
        },
    };
    (kind, w.0)
}

fn decode_message(kind: u8, payload: &[u8]) -> Result<Message, String> {
    let mut r = Reader { buf: payload };
    let m = match kind {
        0x01 => Message::Request(Request::Hello { token: r.str()? }),
        0x02 => {
            Message::Request(Request::Load { model: r.u32()?, total: r.u32()?, offset: r.u32()?, data: r.bytes()? })
        }
        0x03 => Message::Request(Request::Bench { model: r.u32()?, warmup: r.u32()?, runs: r.u32()? }),
        0x04 => Message::Request(Request::Unload { model: r.u32()? }),
        0x05 => Message::Request(Request::Ping { nonce: r.u64()? }),
        0x81 => Message::Response(Response::Hello(DeviceInfo {
            protocol: r.u8()?,
            agent_version: r.str()?,
            runtime: r.str()?,
            os: r.str()?,
            arch: r.str()?,
            cpu: r.str()?,
            cores: r.u32()?,
            threads: r.u32()?,
            max_model_bytes: r.u32()?,
        })),
        0x82 => Message::Response(Response::Ack),
        0x83 => Message::Response(Response::Loaded { input: r.u32s()?, output: r.u32s()? }),
        0x84 => {
            let n = r.u32()? as usize;
            if n > payload.len() / 8 {
                return Err("list longer than the payload".into());
            }
            let durations_ns = (0..n).map(|_| r.u64()).collect::<Result<_, _>>()?;
            Message::Response(Response::Bench { durations_ns })
        }
        0x85 => Message::Response(Response::Pong { nonce: r.u64()? }),
        0xE0 => Message::Response(Response::Error { code: ErrorCode::from_u8(r.u8()?), message: r.str()? }),
        k => return Err(format!("unknown message kind {k:#04x}")),
    };
    r.end()?;
    Ok(m)
}

/// Encode one frame with this build's protocol version.
pub fn encode(id: u32, message: &Message) -> Vec<u8> {
    encode_with_version(PROTOCOL_VERSION, id, message)
}

/// Encode one frame with an explicit protocol version (tests of version mismatch).
pub fn encode_with_version(version: u8, id: u32, message: &Message) -> Vec<u8> {
    let (kind, payload) = encode_message(message);
    encode_raw(version, kind, id, &payload)
}

/// Frame arbitrary bytes as a payload of kind `kind` with a valid CRC (for tests and fuzzing
/// the message decoder).
pub fn encode_raw(version: u8, kind: u8, id: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + payload.len() + 4);
    out.extend_from_slice(&MAGIC);
    out.push(version);
    out.push(kind);
    out.extend_from_slice(&id.to_le_bytes());
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(payload);
    let crc = CRC.checksum(&out[2..]);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// Incremental frame decoder: push bytes as they arrive, pull frames out.
#[derive(Debug, Default)]
pub struct Decoder {
    buf: Vec<u8>,
    /// Since when nothing has arrived while a partial frame is buffered (see [`Decoder::quiet`]).
    quiet_since: Option<Instant>,
}

impl Decoder {
    /// An empty decoder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Append received bytes.
    pub fn push(&mut self, bytes: &[u8]) {
        self.quiet_since = None;
        self.buf.extend_from_slice(bytes);
    }

    /// A read came back empty at `now`. A partial frame that has waited [`STALE_AFTER`] with
    /// nothing arriving claims bytes that never come (noise that starts with the magic, or a
    /// corrupted length field): skip it with [`Decoder::skip_stale`], or the link would stay
    /// deaf to the frames behind it.
    pub fn quiet(&mut self, now: Instant) {
        if self.buf.len() <= 1 {
            return;
        }
        let since = *self.quiet_since.get_or_insert(now);
        if now.duration_since(since) >= STALE_AFTER {
            self.skip_stale();
        }
    }

    /// Bytes buffered and not yet decoded.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Forget buffered bytes (after a reconnect).
    pub fn clear(&mut self) {
        self.quiet_since = None;
        self.buf.clear();
    }

    /// Give up on the incomplete frame at the front of the buffer (its length field was
    /// probably corrupted, so it waits for bytes that never come): drop one byte so the next
    /// [`Decoder::next_frame`] scans for the following magic. Call after a quiet period.
    pub fn skip_stale(&mut self) {
        if !self.buf.is_empty() {
            self.buf.drain(..1);
        }
    }

    /// The next frame, an error for a bad candidate frame (the decoder has already skipped
    /// past it and can be called again), or `None` when more bytes are needed.
    pub fn next_frame(&mut self) -> Option<Result<Frame, DecodeError>> {
        // find the magic
        let start = self.buf.windows(2).position(|w| w == MAGIC);
        match start {
            None => {
                // keep a trailing first magic byte, drop the rest
                let keep = usize::from(self.buf.last() == Some(&MAGIC[0]));
                let n = self.buf.len();
                self.buf.drain(..n - keep);
                return None;
            }
            Some(s) => {
                self.buf.drain(..s);
            }
        }
        if self.buf.len() < HEADER_LEN {
            return None;
        }
        let len = u32::from_le_bytes(self.buf[8..12].try_into().expect("4 bytes")) as usize;
        if len > MAX_PAYLOAD {
            self.buf.drain(..1);
            return Some(Err(DecodeError::Length(len)));
        }
        let total = HEADER_LEN + len + 4;
        if self.buf.len() < total {
            return None;
        }
        let crc_got = u32::from_le_bytes(self.buf[total - 4..total].try_into().expect("4 bytes"));
        if CRC.checksum(&self.buf[2..total - 4]) != crc_got {
            self.buf.drain(..1);
            return Some(Err(DecodeError::Crc));
        }
        let frame: Vec<u8> = self.buf.drain(..total).collect();
        let version = frame[2];
        let kind = frame[3];
        let id = u32::from_le_bytes(frame[4..8].try_into().expect("4 bytes"));
        if version != PROTOCOL_VERSION {
            return Some(Err(DecodeError::Version { got: version, id }));
        }
        Some(
            decode_message(kind, &frame[HEADER_LEN..total - 4])
                .map(|message| Frame { id, message })
                .map_err(|why| DecodeError::Payload { kind, id, why }),
        )
    }
}

/// How long a partial frame may wait for its remaining bytes before both ends give up on it
/// ([`Decoder::skip_stale`]): noise that happens to start with the magic, or a frame whose
/// length field was corrupted, claims bytes that never come.
pub const STALE_AFTER: Duration = Duration::from_millis(300);

/// Decode every frame in `bytes`, a complete capture: its end counts as a quiet period, so a
/// candidate frame still waiting for bytes there is skipped (as [`STALE_AFTER`] does on a
/// live link) and the scan goes on after its magic.
pub fn decode_all(bytes: &[u8]) -> Vec<Result<Frame, DecodeError>> {
    let mut d = Decoder::new();
    d.push(bytes);
    let mut out = Vec::new();
    loop {
        match d.next_frame() {
            Some(frame) => out.push(frame),
            // a trailing lone first magic byte is all a finished scan may leave
            None if d.buffered() > 1 => d.skip_stale(),
            None => return out,
        }
    }
}
