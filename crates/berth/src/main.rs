//! berth: a daemonless, Podman-compatible container engine.

mod attach;
mod cli;
mod commands;
mod cp;
mod format;
mod stats;

use clap::Parser;

/// An error that ends the process with a chosen exit code.
#[derive(Debug)]
pub struct ExitCode(pub i32, pub String);

impl std::fmt::Display for ExitCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.1)
    }
}

impl std::error::Error for ExitCode {}

fn main() {
    let mut args = std::env::args_os();
    // The monitor is a re-exec of this binary; take that path before anything else runs.
    if args.nth(1).as_deref() == Some(std::ffi::OsStr::new(berth_oci::monitor::MONITOR_ARG)) {
        let cfg = args.next().unwrap_or_default();
        berth_oci::monitor::main(std::path::Path::new(&cfg));
    }
    let cli = match cli::Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
                let _ = e.print();
                std::process::exit(0);
            }
            let msg = e.to_string();
            let first = msg
                .lines()
                .next()
                .unwrap_or("")
                .trim_start_matches("error: ")
                .to_string();
            eprintln!("Error: {first}");
            if msg.contains("Usage:") {
                eprintln!("See 'berth --help'");
            }
            std::process::exit(125);
        }
    };
    let code = match commands::run(cli) {
        Ok(code) => code,
        Err(e) => {
            let code = if let Some(x) = e.downcast_ref::<ExitCode>() {
                x.0
            } else if let Some(x) = e.downcast_ref::<libberth::Error>() {
                x.exit_code()
            } else {
                125
            };
            // The message and each cause not already spelled out in it.
            let mut msg = e.to_string();
            for cause in e.chain().skip(1) {
                let c = cause.to_string();
                if !msg.contains(&c) {
                    msg.push_str(": ");
                    msg.push_str(&c);
                }
            }
            if !msg.is_empty() {
                eprintln!("Error: {msg}");
            }
            code
        }
    };
    std::process::exit(code);
}
