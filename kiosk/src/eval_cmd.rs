//! `kiosk eval CASES.jsonl [--json]`.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use dialogue::{Engine, InterviewConfig, KnowledgeBase};

use crate::config::Config;

/// Runs the cases and prints the report. Exit status is success whenever the run completed.
pub fn run(config: &Config, cases: &Path, json: bool, out: &mut dyn Write) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(cases)
        .with_context(|| format!("cannot read case file {}", cases.display()))?;
    let cases = dialogue::eval::parse_cases(&text)
        .with_context(|| format!("case file {} is malformed", cases.display()))?;
    let kb = Arc::new(KnowledgeBase::embedded()?);
    let engine = Arc::new(Engine::new(
        kb,
        InterviewConfig { kiosk_id: config.kiosk_id.clone(), ..InterviewConfig::default() },
    ));
    let report = dialogue::eval::evaluate(&engine, &cases);
    if json {
        serde_json::to_writer(&mut *out, &report)?;
        writeln!(out)?;
    } else {
        write!(out, "{}", report.summary())?;
    }
    Ok(())
}
