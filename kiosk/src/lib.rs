//! The pre-consultation kiosk: configuration, start-up checks, session orchestration, user
//! interface and command line. `main.rs` only sets up logging and calls [`cli::main`].

pub mod accounts_cmd;
pub mod app;
pub mod assist;
pub mod bench_llm;
pub mod bench_session;
pub mod bench_store;
pub mod cli;
pub mod config;
pub mod console;
pub mod eval_cmd;
pub mod models_cmd;
pub mod nurse;
pub mod orchestrator;
pub mod semantic;
pub mod session;
pub mod simulate;
pub mod speech_cmd;
pub mod startup;
pub mod station;
pub mod tour;
pub mod window;

use std::process::ExitCode;

/// Starts the kiosk: configuration and model checks, then the touch screen and voice.
pub fn run(config: &config::Config, windowed: bool) -> anyhow::Result<ExitCode> {
    let catalog = models::Catalog::embedded()?;
    let health = startup::check_models(config, &catalog)?;
    tracing::info!(kiosk = %config.kiosk_id, degraded = health.degraded.len(), "models checked");
    window::run(config, windowed)?;
    Ok(ExitCode::SUCCESS)
}

/// The text console (same engine and store).
pub fn run_console(config: &config::Config) -> anyhow::Result<ExitCode> {
    let catalog = models::Catalog::embedded()?;
    let health = startup::check_models(config, &catalog)?;
    let stdin = std::io::stdin();
    console::run(config, &health, &mut stdin.lock(), &mut std::io::stdout().lock())?;
    Ok(ExitCode::SUCCESS)
}
