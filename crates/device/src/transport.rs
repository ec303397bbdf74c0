//! Transports: how a request reaches a device and its response comes back. One trait,
//! [`Transport`], with an in-process local agent (edgenas-agent's library), byte streams (TCP,
//! serial; the [`Link`] trait is edgenas-protocol's) and a scripted fake device for tests.

use std::collections::VecDeque;
use std::io::{ErrorKind, Read};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use edgenas_agent::{Agent, AgentConfig, Session};
use edgenas_protocol::{encode, DecodeError, Decoder, Message, Request, Response, PROTOCOL_VERSION};
pub use edgenas_protocol::{write_chunked, Link};

use crate::error::{DeviceError, Result};

/// A serial port (or pseudo-terminal end) as a [`Link`] (shared with the agent binary).
pub use edgenas_agent::serial::SerialLink;

/// Opens (and re-opens, after the agent restarts) a link.
pub trait Connector: Send {
    /// Open a fresh link.
    fn connect(&mut self) -> Result<Box<dyn Link>>;
    /// Where it connects, for messages.
    fn describe(&self) -> String;
}

/// Connects over TCP.
pub struct TcpConnector {
    /// `host:port`.
    pub address: String,
    /// Connect timeout.
    pub timeout: Duration,
}

impl Connector for TcpConnector {
    fn connect(&mut self) -> Result<Box<dyn Link>> {
        use std::net::ToSocketAddrs;
        let addrs =
            self.address.to_socket_addrs().map_err(|e| DeviceError::Disconnected(format!("{}: {e}", self.address)))?;
        let mut last = None;
        for a in addrs {
            match TcpStream::connect_timeout(&a, self.timeout) {
                Ok(s) => {
                    s.set_nodelay(true).ok();
                    return Ok(Box::new(s));
                }
                Err(e) => last = Some(e),
            }
        }
        Err(DeviceError::Disconnected(format!(
            "cannot connect to {}: {}",
            self.address,
            last.map(|e| e.to_string()).unwrap_or_else(|| "no address".into())
        )))
    }
    fn describe(&self) -> String {
        format!("tcp {}", self.address)
    }
}

/// Opens a serial port by path.
pub struct SerialConnector {
    /// Device path, e.g. `/dev/ttyUSB0`.
    pub path: String,
    /// Baud rate.
    pub baud: u32,
    /// Whether a connect succeeded before (then a port gone for a moment, a board resetting or
    /// an adapter re-enumerated, is waited for like any lost connection).
    pub connected_once: bool,
}

impl Connector for SerialConnector {
    fn connect(&mut self) -> Result<Box<dyn Link>> {
        // a port that is not there at the first connect (no board, the far end of a
        // pseudo-terminal pair gone with the agent that failed to open it) is an error at once
        if !self.connected_once && !std::path::Path::new(&self.path).exists() {
            return Err(DeviceError::config(
                &self.path,
                "no such serial port: is the board plugged in, or the agent's end of the line (socat, qemu) running? \
                 An agent that cannot open its port says why in its own output",
            ));
        }
        let port = serialport::new(&self.path, self.baud)
            .timeout(Duration::from_millis(100))
            .open()
            .map_err(|e| DeviceError::Disconnected(format!("cannot open {}: {e}", self.path)))?;
        self.connected_once = true;
        Ok(Box::new(SerialLink(port)))
    }
    fn describe(&self) -> String {
        format!("serial {} @ {} baud", self.path, self.baud)
    }
}

/// Hands out clones of an already open port (a pseudo-terminal end in tests).
#[cfg(unix)]
pub struct PortConnector {
    /// The port.
    pub port: serialport::TTYPort,
}

#[cfg(unix)]
impl Connector for PortConnector {
    fn connect(&mut self) -> Result<Box<dyn Link>> {
        let p =
            self.port.try_clone_native().map_err(|e| DeviceError::Disconnected(format!("cannot clone port: {e}")))?;
        Ok(Box::new(SerialLink::new(p)))
    }
    fn describe(&self) -> String {
        format!("serial {}", serialport::SerialPort::name(&self.port).unwrap_or_else(|| "pty".into()))
    }
}

/// Sends one request and returns its response.
pub trait Transport: Send {
    /// Send `req` as request `id` and wait at most `timeout` for the response with that id.
    fn exchange(&mut self, id: u32, req: &Request, timeout: Duration) -> Result<Response>;
    /// Drop the connection; the next exchange reconnects.
    fn reset(&mut self);
    /// Where requests go, for messages.
    fn describe(&self) -> String;
}

/// The agent in this process (the `local` device): no bytes, no failures of transport.
pub struct LocalTransport {
    agent: Agent,
    session: Session,
}

impl LocalTransport {
    /// A fresh in-process agent.
    pub fn new(config: AgentConfig) -> Self {
        LocalTransport { agent: Agent::new(config), session: Session::default() }
    }
}

impl Transport for LocalTransport {
    fn exchange(&mut self, _id: u32, req: &Request, _timeout: Duration) -> Result<Response> {
        Ok(self.agent.handle(&mut self.session, req.clone()))
    }
    fn reset(&mut self) {
        self.session = Session::default();
    }
    fn describe(&self) -> String {
        "local (in-process)".into()
    }
}

/// Frames over a byte stream opened by a [`Connector`] (TCP, serial).
pub struct StreamTransport {
    connector: Box<dyn Connector>,
    link: Option<Box<dyn Link>>,
    decoder: Decoder,
}

impl StreamTransport {
    /// A transport that connects lazily with `connector`.
    pub fn new(connector: Box<dyn Connector>) -> Self {
        StreamTransport { connector, link: None, decoder: Decoder::new() }
    }
}

impl Transport for StreamTransport {
    fn exchange(&mut self, id: u32, req: &Request, timeout: Duration) -> Result<Response> {
        if self.link.is_none() {
            self.link = Some(self.connector.connect()?);
            self.decoder.clear();
        }
        let link = self.link.as_mut().expect("connected");
        let bytes = encode(id, &Message::Request(req.clone()));
        if let Err(e) = write_chunked(link, &bytes) {
            self.link = None;
            return Err(DeviceError::Disconnected(e.to_string()));
        }
        let deadline = Instant::now() + timeout;
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            while let Some(frame) = self.decoder.next_frame() {
                match frame {
                    Ok(f) if f.id == id => match f.message {
                        Message::Response(r) => return Ok(r),
                        Message::Request(_) => return Err(DeviceError::Protocol("the device sent a request".into())),
                    },
                    Ok(_) => continue, // a late answer to an earlier, retried request
                    Err(DecodeError::Version { got, .. }) => {
                        return Err(DeviceError::VersionMismatch { agent: got, host: PROTOCOL_VERSION })
                    }
                    Err(e) => return Err(DeviceError::Protocol(e.to_string())),
                }
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(DeviceError::Timeout(timeout));
            }
            let link = self.link.as_mut().expect("connected");
            link.set_read_timeout((deadline - now).min(Duration::from_millis(200)).max(Duration::from_millis(1))).ok();
            match link.read(&mut buf) {
                Ok(0) => {
                    self.link = None;
                    return Err(DeviceError::Disconnected("the device closed the connection".into()));
                }
                Ok(n) => self.decoder.push(&buf[..n]),
                // noise before the answer can hold a stale partial frame: skipped after a
                // quiet spell, so the answer behind it is found before the timeout
                Err(e) if matches!(e.kind(), ErrorKind::TimedOut | ErrorKind::WouldBlock | ErrorKind::Interrupted) => {
                    self.decoder.quiet(Instant::now())
                }
                Err(e) => {
                    self.link = None;
                    return Err(DeviceError::Disconnected(e.to_string()));
                }
            }
        }
    }

    fn reset(&mut self) {
        self.link = None;
        self.decoder.clear();
    }

    fn describe(&self) -> String {
        self.connector.describe()
    }
}

/// What the fake device does with one expected request.
#[derive(Debug, Clone)]
pub enum FakeReply {
    /// Answer with this response.
    Respond(Response),
    /// Say nothing (the host times out).
    Timeout,
    /// Send corrupted bytes (the host sees a protocol error).
    Corrupt,
    /// Drop the connection.
    Disconnect,
}

/// One scripted step: what is expected (described, and checked by a predicate) and the reply.
type Expectation = (String, Box<dyn Fn(&Request) -> bool + Send>, FakeReply);

/// A scripted fake device: each request is checked against the next expectation and answered
/// as scripted. Unexpected requests are protocol errors. For unit tests and dry runs.
#[derive(Default)]
pub struct FakeDevice {
    script: VecDeque<Expectation>,
    /// Every request received, in order.
    pub received: Vec<Request>,
    /// Number of resets (reconnects) the host asked for.
    pub resets: usize,
}

impl FakeDevice {
    /// An empty script.
    pub fn new() -> Self {
        Self::default()
    }

    /// Expect a request matching `check` (described by `what`), and reply with `reply`.
    pub fn expect(mut self, what: &str, check: impl Fn(&Request) -> bool + Send + 'static, reply: FakeReply) -> Self {
        self.script.push_back((what.to_string(), Box::new(check), reply));
        self
    }

    /// Expectations not yet consumed.
    pub fn remaining(&self) -> usize {
        self.script.len()
    }
}

impl Transport for FakeDevice {
    fn exchange(&mut self, _id: u32, req: &Request, timeout: Duration) -> Result<Response> {
        self.received.push(req.clone());
        let Some((what, check, reply)) = self.script.pop_front() else {
            return Err(DeviceError::Protocol(format!("fake device: unexpected request {req:?}")));
        };
        if !check(req) {
            return Err(DeviceError::Protocol(format!("fake device: expected {what}, got {req:?}")));
        }
        match reply {
            FakeReply::Respond(r) => Ok(r),
            FakeReply::Timeout => Err(DeviceError::Timeout(timeout)),
            FakeReply::Corrupt => Err(DeviceError::Protocol(DecodeError::Crc.to_string())),
            FakeReply::Disconnect => Err(DeviceError::Disconnected("fake device disconnected".into())),
        }
    }
    fn reset(&mut self) {
        self.resets += 1;
    }
    fn describe(&self) -> String {
        "fake device".into()
    }
}

/// A connected pseudo-terminal pair for tests and demos without a board:
/// (host end, agent end, path of the agent end that another process can open).
#[cfg(unix)]
pub fn pty_pair() -> std::io::Result<(serialport::TTYPort, serialport::TTYPort, String)> {
    use serialport::SerialPort;
    let (host, agent) = serialport::TTYPort::pair().map_err(std::io::Error::other)?;
    let path = agent.name().ok_or_else(|| std::io::Error::other("pseudo-terminal has no name"))?;
    Ok((host, agent, path))
}
