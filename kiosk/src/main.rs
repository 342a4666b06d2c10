//! `kiosk`: logging, panic hook, command line; everything else lives in the library.

use std::process::ExitCode;

use clap::Parser as _;

fn main() -> ExitCode {
    let filter = tracing_subscriber::EnvFilter::try_from_env("KIOSK_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
    std::panic::set_hook(Box::new(|info| {
        // Our panic messages never carry patient text (it travels as `PatientText`, which redacts).
        tracing::error!(location = ?info.location(), "internal error: {info}");
    }));
    let cli = kiosk::cli::Cli::parse();
    match kiosk::cli::main(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("kiosk: {e:#}");
            ExitCode::FAILURE
        }
    }
}
