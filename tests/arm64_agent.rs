//! A board that is not this machine: the agent cross-built for arm64 (scripts/agent-cross.sh,
//! cached in target/cross; .ci/run builds it first) run under qemu-user. Over TCP it is listed
//! as linux/aarch64, profiled, its predictions checked, and a model timed on it; over a
//! pseudo-terminal it serves the serial protocol through the classic termios calls, qemu-user
//! having no termios2.

mod support;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use serde_json::Value;
use support::search::{quick_profile, search_args, with, with_profile};
use support::{edgenas, ok, root};

/// The arm64 agent, built (or found up to date) once by scripts/agent-cross.sh.
fn agent() -> &'static Path {
    static AGENT: OnceLock<PathBuf> = OnceLock::new();
    AGENT.get_or_init(|| {
        let out = Command::new("bash")
            .arg(root().join("scripts/agent-cross.sh"))
            .arg("aarch64")
            .current_dir(root())
            .output()
            .expect("run scripts/agent-cross.sh");
        assert!(out.status.success(), "cannot build the arm64 agent: {}", String::from_utf8_lossy(&out.stderr));
        root().join(String::from_utf8_lossy(&out.stdout).trim())
    })
}

/// The emulator, killed when dropped (a failed assertion leaves no qemu behind).
struct Emulated(Option<Child>);

impl Emulated {
    /// Stops it; returns what the agent wrote on stderr.
    fn stop(mut self) -> String {
        let mut c = self.0.take().unwrap();
        let _ = c.kill();
        let out = c.wait_with_output().unwrap();
        String::from_utf8_lossy(&out.stderr).to_string()
    }
}

impl Drop for Emulated {
    fn drop(&mut self) {
        if let Some(c) = &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// The emulated agent with `args`, and the first line it printed.
fn start(args: &[&str]) -> (Emulated, String) {
    let mut child = Command::new("qemu-aarch64")
        .args(["-cpu", "cortex-a72"])
        .arg(agent())
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("qemu-aarch64 (Debian package qemu-user)");
    let stdout = child.stdout.take().unwrap();
    let emulated = Emulated(Some(child));
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    (emulated, line)
}

#[test]
fn the_emulated_arm64_agent_is_profiled_over_tcp_and_its_predictions_hold() {
    let (child, line) = start(&["--tcp", "127.0.0.1:0"]);
    let addr = line.trim().rsplit(' ').next().unwrap().to_string();
    assert!(addr.starts_with("127.0.0.1:"), "{line}");
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::create_dir(dir.join("devices")).unwrap();
    let toml = format!(
        "name = \"qemu-arm64\"\n[transport]\nkind = \"tcp\"\naddress = \"{addr}\"\n[runtime]\nwarmup = 2\nruns = 7\npasses = 1\ntimeout_s = 30.0\n"
    );
    std::fs::write(dir.join("devices/qemu-arm64.toml"), toml).unwrap();
    // listed with its architecture
    let list: Value =
        serde_json::from_str(&ok(&edgenas(&["devices", "--dir", "devices", "--json"], dir, &[]))).unwrap();
    assert_eq!(list[0]["status"]["info"]["arch"], "aarch64", "{list}");
    let text = ok(&edgenas(&["devices", "--dir", "devices"], dir, &[]));
    assert!(text.contains("linux/aarch64"), "{text}");
    // the tiny space profiled on it, and the predictor checked against whole networks
    let tiny = root().join("spaces/tiny.toml");
    let tiny = tiny.to_str().unwrap();
    let args = ["profile", "--device", "devices/qemu-arm64.toml", "--space", tiny, "--out", "q.json", "--quiet"];
    ok(&edgenas(
        &[&args[..], &["--passes", "1", "--runs", "7", "--warmup", "2", "--calibrate", "4"]].concat(),
        dir,
        &[],
    ));
    let prof: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("q.json")).unwrap()).unwrap();
    assert_eq!(prof["provenance"]["device_info"]["arch"], "aarch64");
    let check = ["profile", "check", "--profile", "q.json", "-n", "10", "--quiet", "--json"];
    let r: Value = serde_json::from_str(&ok(&edgenas(&check, dir, &[]))).unwrap();
    assert_eq!(r["architectures"], 10);
    assert!(r["within_10"].as_f64().unwrap() >= 0.8, "the predictor misses on the emulated board: {r}");
    // any ONNX file timed there, slower than here (emulated)
    ok(&edgenas(&["space", "sample", "--space", tiny, "--seed", "2", "--out", "a.json"], dir, &[]));
    ok(&edgenas(&["export", "a.json", "--out", "m.onnx"], dir, &[]));
    let here: Value =
        serde_json::from_str(&ok(&edgenas(&["validate", "m.onnx", "--runs", "20", "--json"], dir, &[]))).unwrap();
    let there: Value = serde_json::from_str(&ok(&edgenas(
        &["validate", "m.onnx", "--runs", "7", "--device", "devices/qemu-arm64.toml", "--json"],
        dir,
        &[],
    )))
    .unwrap();
    assert_eq!(there["device"]["info"]["arch"], "aarch64");
    let (h, t) = (here["timing"]["median_ns"].as_f64().unwrap(), there["timing"]["median_ns"].as_f64().unwrap());
    assert!(t > 2.0 * h, "emulated {t} ns against {h} ns here");
    // a profile of this machine and one of the emulated board are told apart by architecture
    quick_profile(dir, tiny, "local.json");
    let local: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("local.json")).unwrap()).unwrap();
    assert_eq!(
        local["provenance"]["device_info"]["cpu"], prof["provenance"]["device_info"]["cpu"],
        "qemu-user shows the host's CPU"
    );
    assert_ne!(local["provenance"]["device_info"]["arch"], prof["provenance"]["device_info"]["arch"]);
    // a search for both devices: its winner measured on each (the emulated one through the agent)
    support::write_quadrant_data(dir);
    let extra = ["--profile", "q.json", "--eval", "proxy", "--proxy-steps", "5", "--measure-runs", "3"];
    let search = with_profile(search_args(tiny, "both", &extra), "local.json");
    let search = with(search, &[("--population", "4"), ("--generations", "1"), ("--finish", "1")]);
    let text = ok(&edgenas(&search, dir, &[]));
    assert!(text.contains("meas ms qemu-arm64"), "{text}");
    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("both/summary.json")).unwrap()).unwrap();
    let on = &summary["finished"][0]["on_devices"];
    assert_eq!((on[0]["device"].as_str(), on[1]["device"].as_str()), (Some("local"), Some("qemu-arm64")), "{on}");
    let (local_ms, qemu_ms) = (on[0]["measured_ms"].as_f64().unwrap(), on[1]["measured_ms"].as_f64().unwrap());
    assert!(qemu_ms > 2.0 * local_ms, "{on}");
    child.stop();
}

#[cfg(unix)]
#[test]
fn the_emulated_agent_serves_a_serial_line_through_the_classic_termios_calls() {
    use edgenas_device::transport::{PortConnector, StreamTransport};
    use edgenas_device::{Client, RetryPolicy};
    let (host, agent_end, path) = edgenas_device::transport::pty_pair().unwrap();
    let (child, line) = start(&["--serial", &path]);
    assert!(line.contains("serving on serial"), "{line}");
    let t = StreamTransport::new(Box::new(PortConnector { port: host }));
    let policy = RetryPolicy { attempts: 3, timeout: Duration::from_secs(30), ..RetryPolicy::default() };
    let mut client = Client::new(Box::new(t), "", policy);
    let info = client.hello().unwrap();
    assert_eq!((info.os.as_str(), info.arch.as_str()), ("linux", "aarch64"));
    client.ping().unwrap();
    drop(agent_end);
    let stderr = child.stop();
    assert!(stderr.contains("termios2 is not implemented here"), "{stderr}");
}
