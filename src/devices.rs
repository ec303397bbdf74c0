//! `edgenas devices`: list device descriptions and probe each with hello.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use edgenas_device::config::list_device_files;
use edgenas_device::DeviceConfig;
use serde_json::json;

/// Options of `devices`.
#[derive(Args)]
pub struct DevicesCmd {
    /// Folder of device descriptions.
    #[arg(long, default_value = "devices")]
    dir: PathBuf,
    /// Do not contact the devices.
    #[arg(long)]
    no_probe: bool,
    /// Machine-readable JSON output.
    #[arg(long)]
    json: bool,
}

impl DevicesCmd {
    pub fn run(self) -> Result<()> {
        let files = list_device_files(&self.dir)?;
        let mut rows = Vec::new();
        for f in files {
            let row = match DeviceConfig::from_file(&f) {
                Err(e) => json!({"file": f, "error": e.to_string()}),
                Ok(d) => {
                    let mut row =
                        json!({"file": f, "name": d.name, "transport": d.transport, "description": d.description});
                    if !self.no_probe {
                        let mut policy = d.policy();
                        policy.attempts = 2;
                        policy.timeout = policy.timeout.min(std::time::Duration::from_secs(2));
                        let mut client = d.client_with_policy(policy);
                        match client.hello() {
                            Ok(info) => row["status"] = json!({"ok": true, "info": info}),
                            Err(e) => row["status"] = json!({"ok": false, "error": e.to_string()}),
                        }
                    }
                    row
                }
            };
            rows.push(row);
        }
        if self.json {
            println!("{}", serde_json::to_string_pretty(&rows)?);
            return Ok(());
        }
        println!("{:<14} {:<34} status", "name", "transport");
        for r in &rows {
            let name = r["name"].as_str().unwrap_or("?");
            let transport = match &r["transport"] {
                serde_json::Value::Null => r["file"].as_str().unwrap_or("").to_string(),
                t => {
                    let kind = t["kind"].as_str().unwrap_or("");
                    let at = t["address"].as_str().or(t["path"].as_str()).unwrap_or("");
                    format!("{kind} {at}")
                }
            };
            let status = if let Some(e) = r["error"].as_str() {
                format!("invalid: {e}")
            } else if self.no_probe {
                "not probed".into()
            } else if r["status"]["ok"] == true {
                let i = &r["status"]["info"];
                format!(
                    "ok: agent {} {} on {}/{} ({}, {} cores)",
                    i["agent_version"].as_str().unwrap_or(""),
                    i["runtime"].as_str().unwrap_or(""),
                    i["os"].as_str().unwrap_or(""),
                    i["arch"].as_str().unwrap_or(""),
                    i["cpu"].as_str().unwrap_or(""),
                    i["cores"]
                )
            } else {
                format!("unreachable: {}", r["status"]["error"].as_str().unwrap_or(""))
            };
            println!("{name:<14} {transport:<34} {status}");
        }
        Ok(())
    }
}
