//! The `edgenas-agent` binary: access rules, serial and TCP serving, and a profile that
//! survives the agent being killed and restarted.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use edgenas_device::profiler::{profile, ProfileOptions, Progress};
use edgenas_device::transport::{StreamTransport, TcpConnector};
use edgenas_device::{Client, DeviceConfig, RetryPolicy};
use edgenas_space::SearchSpace;

const AGENT: &str = env!("CARGO_BIN_EXE_edgenas-agent");

fn tiny() -> SearchSpace {
    SearchSpace::from_file(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../spaces/tiny.toml")).unwrap()
}

fn opts() -> ProfileOptions {
    ProfileOptions { warmup: 1, runs: 3, passes: 2, max_spread: 10.0, max_remeasure: 0, calibration_archs: 2 }
}

fn policy() -> RetryPolicy {
    RetryPolicy {
        attempts: 30,
        backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(200),
        timeout: Duration::from_millis(1000),
        bench_timeout: Duration::from_secs(10),
    }
}

/// Start the agent and return it with the first line it printed.
fn start(args: &[&str]) -> (Child, String) {
    let mut child = Command::new(AGENT).args(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    (child, line)
}

fn stop(mut c: Child) {
    let _ = c.kill();
    let _ = c.wait();
}

#[test]
fn non_loopback_bind_without_token_is_refused() {
    let out = Command::new(AGENT).args(["--tcp", "0.0.0.0:0"]).env_remove("EDGENAS_AGENT_TOKEN").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("requires --token"), "{err}");
    assert_eq!(err.trim().lines().count(), 1);
    let out = Command::new(AGENT).args(["--tcp", "not-an-address"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not an address"));
}

#[test]
fn agent_binary_serves_tcp_and_refuses_oversized_models() {
    let (child, line) = start(&["--tcp", "127.0.0.1:0", "--max-model-bytes", "2000"]);
    let addr = line.trim().rsplit(' ').next().unwrap().to_string();
    assert!(addr.starts_with("127.0.0.1:"), "{line}");
    let t = StreamTransport::new(Box::new(TcpConnector { address: addr, timeout: Duration::from_secs(1) }));
    let mut c = Client::new(Box::new(t), "", policy());
    let info = c.hello().unwrap();
    assert_eq!(info.max_model_bytes, 2000);
    let e = c.load(&vec![0u8; 3000]).unwrap_err().to_string();
    assert!(e.contains("exceeds the agent's limit"), "{e}");
    stop(child);
}

#[cfg(unix)]
#[test]
fn agent_binary_profiles_over_a_pseudo_terminal() {
    use edgenas_device::transport::PortConnector;
    let (host, agent_end, path) = edgenas_device::transport::pty_pair().unwrap();
    let (child, line) = start(&["--serial", &path]);
    assert!(line.contains("serving on serial"), "{line}");
    let t = StreamTransport::new(Box::new(PortConnector { port: host }));
    let mut client = Client::new(Box::new(t), "", policy());
    let dir = tempfile::tempdir().unwrap();
    let space = tiny();
    let mut device = DeviceConfig::local();
    device.name = "pty-agent".into();
    let prof = profile(&mut client, &device, &space, &dir.path().join("j.jsonl"), false, &opts(), &mut |_| {}).unwrap();
    assert_eq!(prof.keys.len(), space.block_keys().len());
    assert_eq!(prof.provenance.device_info.runtime, "tract 0.23.9");
    drop(agent_end);
    stop(child);
}

#[test]
fn profile_survives_agent_kill_and_restart() {
    let (child, line) = start(&["--tcp", "127.0.0.1:0"]);
    let addr = line.trim().rsplit(' ').next().unwrap().to_string();
    let t = StreamTransport::new(Box::new(TcpConnector { address: addr.clone(), timeout: Duration::from_secs(1) }));
    let mut client = Client::new(Box::new(t), "", policy());
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("j.jsonl");
    let space = tiny();
    let mut device = DeviceConfig::local();
    device.name = "restarted".into();
    let mut agent = Some(child);
    let mut keys_seen = 0;
    let mut restarts = 0;
    let prof = profile(&mut client, &device, &space, &journal, false, &opts(), &mut |p| {
        if let Progress::Key { .. } = p {
            keys_seen += 1;
            if keys_seen % 7 == 3 && restarts < 3 {
                stop(agent.take().unwrap());
                let (c, l) = start(&["--tcp", &addr]);
                assert!(l.contains(&addr), "{l}");
                agent = Some(c);
                restarts += 1;
            }
        }
    })
    .unwrap();
    assert_eq!(restarts, 3);
    let want: Vec<String> = space.block_keys().iter().map(|k| k.to_string()).collect();
    let got: Vec<String> = prof.keys.keys().map(|k| k.to_string()).collect();
    assert_eq!(got, want, "no key missing");
    let text = std::fs::read_to_string(&journal).unwrap();
    let lines: Vec<&str> = text.lines().filter(|l| l.contains("\"type\":\"key\"")).collect();
    assert_eq!(lines.len(), 2 * want.len(), "each key once per pass (2 passes): none missing, none twice");
    let distinct: std::collections::BTreeSet<&str> = lines.iter().copied().collect();
    assert_eq!(distinct.len(), lines.len());
    assert!(client.stats.reconnects >= 3, "{:?}", client.stats);
    stop(agent.take().unwrap());
}

#[test]
fn profile_survives_agent_killed_at_any_moment() {
    // Kills from another thread land wherever the profiler is: mid-upload, mid-bench, between
    // requests. Whatever the moment, the profile must complete with every key once per pass.
    let (child, line) = start(&["--tcp", "127.0.0.1:0"]);
    let addr = line.trim().rsplit(' ').next().unwrap().to_string();
    let agent = std::sync::Arc::new(std::sync::Mutex::new(Some(child)));
    let killer = {
        let (agent, addr) = (agent.clone(), addr.clone());
        std::thread::spawn(move || {
            for i in 0..4u64 {
                std::thread::sleep(Duration::from_millis(120 + 37 * i));
                let mut a = agent.lock().unwrap();
                stop(a.take().unwrap());
                *a = Some(start(&["--tcp", &addr]).0);
            }
        })
    };
    let t = StreamTransport::new(Box::new(TcpConnector { address: addr, timeout: Duration::from_secs(1) }));
    let mut client = Client::new(Box::new(t), "", policy());
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("j.jsonl");
    let space = tiny();
    let mut device = DeviceConfig::local();
    device.name = "killed".into();
    let mut o = opts();
    o.runs = 300; // long enough (~1 s) that the kills land inside the profile
    let prof = profile(&mut client, &device, &space, &journal, false, &o, &mut |_| {}).unwrap();
    killer.join().unwrap();
    assert_eq!(prof.keys.len(), space.block_keys().len(), "no key missing");
    let text = std::fs::read_to_string(&journal).unwrap();
    let lines: Vec<&str> = text.lines().filter(|l| l.contains("\"type\":\"key\"")).collect();
    assert_eq!(lines.len(), 2 * space.block_keys().len(), "each key once per pass");
    assert!(prof.keys.values().all(|s| s.runs == 300));
    assert!(client.stats.reconnects >= 1, "the kills hit the profile: {:?}", client.stats);
    stop(agent.lock().unwrap().take().unwrap());
}
