//! Profiling through real links: a pseudo-terminal pair (the serial code path), TCP on
//! loopback, and a link that corrupts and drops bytes. Plus the agent's access rules.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use edgenas_agent::{serve_link, Agent, AgentConfig};
use edgenas_device::profiler::{profile, ProfileOptions};
use edgenas_device::protocol::ErrorCode;
use edgenas_device::transport::{Connector, Link, StreamTransport, TcpConnector};
use edgenas_device::{Client, DeviceConfig, DeviceError, RetryPolicy};
use edgenas_space::SearchSpace;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn tiny() -> SearchSpace {
    SearchSpace::from_file(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../spaces/tiny.toml")).unwrap()
}

fn opts() -> ProfileOptions {
    ProfileOptions { warmup: 1, runs: 3, passes: 2, max_spread: 10.0, max_remeasure: 0, calibration_archs: 2 }
}

fn policy() -> RetryPolicy {
    RetryPolicy {
        attempts: 12,
        backoff: Duration::from_millis(2),
        max_backoff: Duration::from_millis(50),
        timeout: Duration::from_millis(500),
        bench_timeout: Duration::from_secs(5),
    }
}

/// Keys in a journal: each must appear exactly once.
fn journal_keys(path: &Path) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for line in std::fs::read_to_string(path).unwrap().lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        if v["type"] == "key" {
            *m.entry(format!("{}#{}", v["key"].as_str().unwrap(), v["pass"])).or_insert(0) += 1;
        }
    }
    m
}

fn profile_and_check(client: &mut Client, name: &str) {
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("p.journal.jsonl");
    let space = tiny();
    let mut device = DeviceConfig::local();
    device.name = name.into();
    let prof = profile(client, &device, &space, &journal, false, &opts(), &mut |_| {}).unwrap();
    let keys: Vec<String> = space.block_keys().iter().map(|k| k.to_string()).collect();
    let got: Vec<String> = prof.keys.keys().map(|k| k.to_string()).collect();
    assert_eq!(got, keys, "every key measured");
    let counts = journal_keys(&journal);
    assert_eq!(counts.len(), 2 * keys.len(), "every key measured in both passes");
    assert!(counts.values().all(|&c| c == 1), "no key measured twice in a pass: {counts:?}");
    for s in prof.keys.values() {
        assert!(s.median_ns > 0.0 && s.p10_ns <= s.median_ns && s.median_ns <= s.p90_ns);
        assert_eq!(s.runs, 3);
    }
    // the smallest and the largest architecture, then the 2 random ones
    assert_eq!(prof.calibration.fitted_on, 2 + 2);
    assert!(prof.calibration.overhead_ns > 0.0);
    let arch = space.sample(1);
    assert!(prof.predict(&arch).unwrap().latency_ns > 0.0);
}

fn spawn_tcp_agent(config: AgentConfig) -> (String, Arc<AtomicBool>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let agent = Arc::new(Mutex::new(Agent::new(config)));
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = stop.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut s) = conn else { continue };
            let (agent, stop) = (agent.clone(), stop2.clone());
            std::thread::spawn(move || {
                let _ = serve_link(&agent, &mut s as &mut dyn Link, &stop);
            });
        }
    });
    (addr, stop)
}

fn tcp_client(addr: &str, token: &str) -> Client {
    let t = StreamTransport::new(Box::new(TcpConnector { address: addr.into(), timeout: Duration::from_secs(1) }));
    Client::new(Box::new(t), token, policy())
}

#[cfg(unix)]
#[test]
fn profile_over_a_pseudo_terminal_pair() {
    use edgenas_device::transport::PortConnector;
    use serialport::TTYPort;
    // serialport's own pseudo-terminal pair: the agent on one end, the profiler on the other
    let (host_end, agent_end) = TTYPort::pair().expect("pty pair");
    let (stop, server) = serve_on(edgenas_device::transport::SerialLink::new(agent_end));
    let t = StreamTransport::new(Box::new(PortConnector { port: host_end }));
    let mut client = Client::new(Box::new(t), "", policy());
    assert!(client.describe().starts_with("serial"));
    profile_and_check(&mut client, "pty");
    assert_eq!(client.stats.retries, 0, "a clean link needs no retry");
    stop.store(true, Ordering::Relaxed);
    server.join().unwrap();
}

#[test]
fn profile_over_tcp_loopback() {
    let (addr, _stop) = spawn_tcp_agent(AgentConfig::default());
    let mut client = tcp_client(&addr, "");
    let info = client.hello().unwrap();
    assert_eq!(info.runtime, "tract 0.23.9");
    profile_and_check(&mut client, "tcp");
}

/// A link that drops and corrupts what passes through it (seeded).
struct Faulty {
    inner: Box<dyn Link>,
    rng: Arc<Mutex<ChaCha8Rng>>,
    p: f64,
}

impl Read for Faulty {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let mut rng = self.rng.lock().unwrap();
        if n > 0 && rng.random_bool(self.p) {
            let i = rng.random_range(0..n);
            buf[i] ^= 0x5A;
        }
        Ok(n)
    }
}

impl Write for Faulty {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut rng = self.rng.lock().unwrap();
        if rng.random_bool(self.p) {
            return Ok(buf.len()); // dropped on the way
        }
        if rng.random_bool(self.p) && !buf.is_empty() {
            let mut b = buf.to_vec();
            let i = rng.random_range(0..b.len());
            b[i] ^= 0xA5;
            drop(rng);
            return self.inner.write(&b);
        }
        drop(rng);
        self.inner.write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

impl Link for Faulty {
    fn set_read_timeout(&mut self, t: Duration) -> std::io::Result<()> {
        self.inner.set_read_timeout(t)
    }
}

struct FaultyConnector {
    inner: Box<dyn Connector>,
    rng: Arc<Mutex<ChaCha8Rng>>,
    p: f64,
}

impl Connector for FaultyConnector {
    fn connect(&mut self) -> edgenas_device::Result<Box<dyn Link>> {
        Ok(Box::new(Faulty { inner: self.inner.connect()?, rng: self.rng.clone(), p: self.p }))
    }
    fn describe(&self) -> String {
        format!("faulty {}", self.inner.describe())
    }
}

#[test]
fn profile_completes_through_corrupted_and_dropped_bytes() {
    let (addr, _stop) = spawn_tcp_agent(AgentConfig::default());
    let t = StreamTransport::new(Box::new(FaultyConnector {
        inner: Box::new(TcpConnector { address: addr, timeout: Duration::from_secs(1) }),
        rng: Arc::new(Mutex::new(ChaCha8Rng::seed_from_u64(7))),
        p: 0.03,
    }));
    let mut client = Client::new(Box::new(t), "", policy());
    profile_and_check(&mut client, "faulty");
    assert!(client.stats.retries > 0, "faults were injected and recovered: {:?}", client.stats);
}

#[test]
fn token_is_required_when_configured() {
    let (addr, _stop) = spawn_tcp_agent(AgentConfig { token: Some("s3cret".into()), ..AgentConfig::default() });
    let e = tcp_client(&addr, "").hello().unwrap_err();
    assert!(matches!(e, DeviceError::Device { code: ErrorCode::Unauthorized, .. }), "{e}");
    let e = tcp_client(&addr, "wrong").ping().unwrap_err();
    assert!(matches!(e, DeviceError::Device { code: ErrorCode::Unauthorized, .. }), "{e}");
    let mut ok = tcp_client(&addr, "s3cret");
    ok.hello().unwrap();
    ok.ping().unwrap();
}

#[test]
fn oversized_models_are_refused() {
    let (addr, _stop) = spawn_tcp_agent(AgentConfig { max_model_bytes: 1000, ..AgentConfig::default() });
    let mut c = tcp_client(&addr, "");
    assert_eq!(c.hello().unwrap().max_model_bytes, 1000);
    let e = c.load(&vec![0u8; 5000]).unwrap_err();
    assert!(matches!(e, DeviceError::Device { code: ErrorCode::TooLarge, .. }), "{e}");
    // a model under the limit still loads afterwards
    let small = edgenas_onnx::to_bytes(&edgenas_onnx::export::trivial_model());
    assert!(small.len() < 1000);
    let id = c.load(&small).unwrap();
    assert_eq!(c.bench(id, 0, 2).unwrap().len(), 2);
}

#[test]
fn garbage_model_is_a_load_error_not_a_crash() {
    let (addr, _stop) = spawn_tcp_agent(AgentConfig::default());
    let mut c = tcp_client(&addr, "");
    let e = c.load(b"definitely not onnx").unwrap_err();
    assert!(matches!(e, DeviceError::Device { code: ErrorCode::LoadFailed, .. }), "{e}");
    c.ping().unwrap();
}

/// An agent serving `link` on a thread of its own, with the flag that stops it.
fn serve_on(mut link: impl Link + 'static) -> (Arc<AtomicBool>, std::thread::JoinHandle<()>) {
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = stop.clone();
    let agent = Arc::new(Mutex::new(Agent::new(AgentConfig::default())));
    let server = std::thread::spawn(move || {
        let _ = serve_link(&agent, &mut link as &mut dyn Link, &stop2);
    });
    (stop, server)
}

#[cfg(unix)]
fn pty_agent() -> (serialport::TTYPort, Arc<AtomicBool>, std::thread::JoinHandle<()>) {
    let (host_end, agent_end, _) = edgenas_device::transport::pty_pair().unwrap();
    let (stop, server) = serve_on(edgenas_device::transport::SerialLink::new(agent_end));
    (host_end, stop, server)
}

#[cfg(unix)]
#[test]
fn profile_over_a_serial_line_that_corrupts_and_drops_bytes() {
    use edgenas_device::transport::PortConnector;
    let (host_end, stop, server) = pty_agent();
    let t = StreamTransport::new(Box::new(FaultyConnector {
        inner: Box::new(PortConnector { port: host_end }),
        rng: Arc::new(Mutex::new(ChaCha8Rng::seed_from_u64(11))),
        p: 0.03,
    }));
    let mut client = Client::new(Box::new(t), "", policy());
    profile_and_check(&mut client, "faulty-serial");
    assert!(client.stats.retries > 0, "faults were injected and recovered: {:?}", client.stats);
    stop.store(true, Ordering::Relaxed);
    server.join().unwrap();
}

#[cfg(unix)]
#[test]
fn serial_agent_recovers_from_a_corrupted_length_field() {
    use edgenas_device::protocol::{encode, Message, Request};
    use edgenas_device::transport::PortConnector;
    let (mut host_end, stop, server) = pty_agent();
    // a frame header whose length promises 500 bytes that never come: without resync the
    // agent would swallow every later request (a serial line has no reconnect)
    let mut bogus = encode(1, &Message::Request(Request::Ping { nonce: 1 }));
    bogus[8..12].copy_from_slice(&500u32.to_le_bytes());
    bogus.truncate(14);
    host_end.write_all(&bogus).unwrap();
    let t = StreamTransport::new(Box::new(PortConnector { port: host_end }));
    let mut client = Client::new(Box::new(t), "", policy());
    client.ping().unwrap();
    stop.store(true, Ordering::Relaxed);
    server.join().unwrap();
}

/// Noise on the line before an answer can begin with the frame magic and claim a payload
/// that never comes (the case proptest found: `ED 9A 00 00` before a frame). The host skips
/// it after a quiet spell and still reads the answer well before the request's timeout.
#[test]
fn host_finds_the_answer_behind_magic_prefixed_noise() {
    use edgenas_device::protocol::{encode, Decoder, Message, Request, Response, MAGIC};
    use edgenas_device::transport::Transport;
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let device = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut d = Decoder::new();
        let mut buf = [0u8; 256];
        let frame = loop {
            let n = s.read(&mut buf).unwrap();
            d.push(&buf[..n]);
            if let Some(f) = d.next_frame() {
                break f.unwrap();
            }
        };
        let Message::Request(Request::Ping { nonce }) = frame.message else { panic!("expected a ping") };
        // the noise's "length field" is the real frame's id (77): 77 bytes that never come
        let mut out = vec![MAGIC[0], MAGIC[1], 0, 0];
        out.extend(encode(frame.id, &Message::Response(Response::Pong { nonce })));
        s.write_all(&out).unwrap();
        // hold the connection open so the host cannot mistake a close for the end
        std::thread::sleep(Duration::from_secs(3));
    });
    let mut t = StreamTransport::new(Box::new(TcpConnector { address: addr, timeout: Duration::from_secs(1) }));
    // without the skip the host waits for the 77 bytes until this timeout
    let resp = t.exchange(77, &Request::Ping { nonce: 5 }, Duration::from_secs(2)).unwrap();
    assert_eq!(resp, Response::Pong { nonce: 5 });
    device.join().unwrap();
}

#[cfg(unix)]
#[test]
fn profile_over_a_pty_whose_agent_end_uses_the_classic_termios_calls() {
    use edgenas_agent::serial::RawTty;
    use edgenas_device::transport::PortConnector;
    // the agent's fallback where termios2 is not implemented (qemu-user): its end of the pair
    // opened again by path and set up with TCGETS / TCSETS
    let (host_end, agent_end, path) = edgenas_device::transport::pty_pair().unwrap();
    let tty = RawTty::open(&path, 115_200).unwrap();
    drop(agent_end);
    assert!(RawTty::open(&path, 123_456).unwrap_err().to_string().contains("not a standard rate"));
    let (stop, server) = serve_on(tty);
    let t = StreamTransport::new(Box::new(PortConnector { port: host_end }));
    let mut client = Client::new(Box::new(t), "", policy());
    profile_and_check(&mut client, "pty-classic-termios");
    assert_eq!(client.stats.retries, 0, "a clean link needs no retry");
    stop.store(true, Ordering::Relaxed);
    server.join().unwrap();
}
