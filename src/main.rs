//! The `edgenas` command-line tool: one module per subcommand.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod compare;
mod confirm;
mod devices;
mod executor;
mod export;
mod predict;
mod profile;
mod progress;
mod run;
mod search;
mod space;
mod train;
mod util;
mod validate;
mod worker;

/// Hardware-aware neural architecture search for edge devices.
#[derive(Parser)]
#[command(name = "edgenas", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Inspect the search space: sample architectures, count their cost, size the space.
    #[command(subcommand)]
    Space(space::SpaceCmd),
    /// Train an architecture on a dataset and write a checkpoint.
    Train(train::TrainCmd),
    /// Export an architecture (random weights) or a trained checkpoint to ONNX.
    Export(export::ExportCmd),
    /// Load an ONNX model with tract, run it and time it.
    Validate(validate::ValidateCmd),
    /// Compare two ONNX models image by image on a test set (McNemar's exact test).
    Compare(compare::CompareCmd),
    /// List device descriptions (devices/*.toml) and probe each with hello.
    Devices(devices::DevicesCmd),
    /// Profile a device: measure every block configuration of a space into a latency table.
    Profile(profile::ProfileCmd),
    /// Predict an architecture's latency on a device from its profile.
    Predict(predict::PredictCmd),
    /// Multi-objective architecture search: accuracy vs device latency, flash and SRAM.
    Search(Box<search::SearchCmd>),
    /// Retrain a finished search's baseline comparisons under new seeds: a real lead, or noise?
    Confirm(confirm::ConfirmCmd),
    /// The whole pipeline on the bundled default: profile, supernet, search, finish, export.
    Run(run::RunCmd),
    /// Run one task of a search handed out as a Slurm job array (what each array task runs).
    Worker(worker::WorkerCmd),
}

impl Command {
    fn run(self) -> anyhow::Result<()> {
        match self {
            Command::Space(c) => c.run(),
            Command::Export(c) => c.run(),
            Command::Train(c) => c.run(),
            Command::Validate(c) => c.run(),
            Command::Compare(c) => c.run(),
            Command::Run(c) => c.run(),
            Command::Search(c) => c.run(),
            Command::Devices(c) => c.run(),
            Command::Profile(c) => c.run(),
            Command::Predict(c) => c.run(),
            Command::Confirm(c) => c.run(),
            Command::Worker(c) => c.run(),
        }
    }
}

fn main() -> ExitCode {
    // A closed pipe (`edgenas space info --keys | head`) ends the program quietly, as it does
    // other Unix tools; Rust ignores SIGPIPE, and `println!` would panic on the broken pipe.
    #[cfg(unix)]
    // SAFETY: restoring a signal's default disposition before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    edgenas_onnx::runtime::install_quiet_panic_hook();
    let cli = Cli::parse();
    // a training backend the build lacks, or a kernel setting it does not know, is refused
    // before any work starts
    let result = match edgenas_train::backend::selected().and_then(|_| edgenas_train::kernels::check_setting()) {
        Err(e) => Err(e.into()),
        Ok(_) => cli.command.run(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // One line: the whole error chain, outermost first.
            let mut msg = err.to_string();
            for cause in err.chain().skip(1) {
                let c = cause.to_string();
                if !msg.contains(&c) {
                    msg.push_str(": ");
                    msg.push_str(&c);
                }
            }
            eprintln!("error: {}", msg.replace('\n', " "));
            ExitCode::from(1)
        }
    }
}
