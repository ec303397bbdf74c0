//! `edgenas-agent`: serves the edgenas protocol on a TCP listener or a serial port, running
//! and timing ONNX models with tract on the device it runs on. It reads no file and writes
//! none: models arrive over the connection and stay in memory.

use std::io::Write;
use std::net::{IpAddr, SocketAddr, TcpListener};
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

use anyhow::{anyhow, bail, Context, Result};
use clap::Parser;
use edgenas_agent::serial::{RawTty, SerialLink};
use edgenas_agent::{serve_link, Agent, AgentConfig, DEFAULT_MAX_MODEL_BYTES};
use edgenas_protocol::Link;

/// Run and time ONNX models for an edgenas host, over TCP or a serial port.
#[derive(Parser)]
#[command(name = "edgenas-agent", version, about)]
struct Args {
    /// Listen on TCP. Without a value: 127.0.0.1:7878. A non-loopback address needs --token.
    #[arg(long, num_args = 0..=1, default_missing_value = "127.0.0.1:7878", value_name = "ADDR")]
    tcp: Option<String>,
    /// Serve on a serial port (e.g. /dev/ttyS0, /dev/ttyGS0 for USB gadget serial).
    #[arg(long, value_name = "PATH", conflicts_with = "tcp")]
    serial: Option<String>,
    /// Serial baud rate.
    #[arg(long, default_value_t = 115_200)]
    baud: u32,
    /// Token hosts must present (or set EDGENAS_AGENT_TOKEN).
    #[arg(long, env = "EDGENAS_AGENT_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Largest model accepted, in bytes.
    #[arg(long, default_value_t = DEFAULT_MAX_MODEL_BYTES)]
    max_model_bytes: u32,
}

fn serve_tcp(addr: &str, agent: Arc<Mutex<Agent>>, has_token: bool) -> Result<()> {
    let sock: SocketAddr =
        addr.parse().with_context(|| format!("--tcp {addr}: not an address; expected IP:PORT, e.g. 127.0.0.1:7878"))?;
    if !is_loopback(sock.ip()) && !has_token {
        bail!("--tcp {addr}: listening on a non-loopback address requires --token (or EDGENAS_AGENT_TOKEN)");
    }
    let listener = TcpListener::bind(sock).with_context(|| format!("cannot listen on {addr}"))?;
    let local = listener.local_addr()?;
    println!("edgenas-agent {} listening on tcp {local}", env!("CARGO_PKG_VERSION"));
    std::io::stdout().flush().ok();
    let stop = Arc::new(AtomicBool::new(false));
    for conn in listener.incoming() {
        let Ok(mut stream) = conn else { continue };
        stream.set_nodelay(true).ok();
        let agent = agent.clone();
        let stop = stop.clone();
        std::thread::spawn(move || {
            let _ = serve_link(&agent, &mut stream as &mut dyn Link, &stop);
        });
    }
    Ok(())
}

fn is_loopback(ip: IpAddr) -> bool {
    ip.is_loopback()
}

fn serve_serial(path: &str, baud: u32, agent: Arc<Mutex<Agent>>) -> Result<()> {
    let stop = AtomicBool::new(false);
    println!("edgenas-agent {} serving on serial {path} @ {baud}", env!("CARGO_PKG_VERSION"));
    std::io::stdout().flush().ok();
    loop {
        let mut link = open_serial(path, baud)?;
        serve_link(&agent, link.as_mut(), &stop).with_context(|| format!("serial port {path}"))?;
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

/// The serial port at `path`: through the serial library, or, where its termios2 call is not
/// implemented (qemu-user), through the classic termios calls.
fn open_serial(path: &str, baud: u32) -> Result<Box<dyn Link>> {
    match RawTty::where_termios2_is_missing(path, baud) {
        Ok(Some(tty)) => {
            eprintln!("note: {path}: termios2 is not implemented here (qemu-user?); using the classic termios calls");
            Ok(Box::new(tty))
        }
        Ok(None) => {
            let port = serialport::new(path, baud)
                .timeout(std::time::Duration::from_millis(100))
                .open()
                .map_err(|e| anyhow!("cannot open {path}: {e}"))?;
            Ok(Box::new(SerialLink(port)))
        }
        Err(e) => Err(anyhow!("cannot open {path}: {e}")),
    }
}

fn run(args: Args) -> Result<()> {
    let config = AgentConfig {
        max_model_bytes: args.max_model_bytes,
        token: args.token.clone().filter(|t| !t.is_empty()),
        ..AgentConfig::default()
    };
    let has_token = config.token.is_some();
    let agent = Arc::new(Mutex::new(Agent::new(config)));
    match (&args.tcp, &args.serial) {
        (_, Some(path)) => serve_serial(path, args.baud, agent),
        (Some(addr), None) => serve_tcp(addr, agent, has_token),
        (None, None) => serve_tcp("127.0.0.1:7878", agent, has_token),
    }
}

fn main() -> ExitCode {
    edgenas_agent::install_quiet_panic_hook();
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", format!("{e:#}").replace('\n', " "));
            ExitCode::from(2)
        }
    }
}
