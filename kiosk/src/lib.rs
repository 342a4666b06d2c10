//! The pre-consultation kiosk: configuration, start-up checks, session orchestration, user
//! interface and command line. `main.rs` only sets up logging and calls [`cli::main`].

pub mod accounts_cmd;
pub mod cli;
pub mod config;
pub mod console;
pub mod eval_cmd;
pub mod models_cmd;
pub mod semantic;
pub mod speech_cmd;
pub mod startup;

use std::process::ExitCode;

/// Starts the kiosk: configuration and model checks, then the session.
pub fn run(config: &config::Config) -> anyhow::Result<ExitCode> {
    let catalog = models::Catalog::embedded()?;
    let health = startup::check_models(config, &catalog)?;
    tracing::info!(kiosk = %config.kiosk_id, degraded = health.degraded.len(), "models checked");
    let stdin = std::io::stdin();
    console::run(config, &health, &mut stdin.lock(), &mut std::io::stdout().lock())?;
    Ok(ExitCode::SUCCESS)
}
