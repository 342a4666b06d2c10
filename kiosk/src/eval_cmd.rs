//! `kiosk eval CASES.jsonl [--json] [--rules-only]` and `kiosk eval --paraphrases FILE`.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use dialogue::{Engine, InterviewConfig, KnowledgeBase};

use crate::config::Config;

/// Off-topic sentences, for calibrating the semantic threshold.
const OFF_TOPIC: &str = include_str!("../../dialogue/cases/off_topic.txt");

fn engine(config: &Config, kb: &Arc<KnowledgeBase>) -> Engine {
    Engine::new(
        Arc::clone(kb),
        InterviewConfig { kiosk_id: config.kiosk_id.clone(), ..InterviewConfig::default() },
    )
}

/// Runs the cases and prints the report, with the configured understanding (rules plus the
/// semantic matcher) unless `rules_only`. Exit status is success whenever the run completed.
pub fn run(
    config: &Config,
    cases: &Path,
    json: bool,
    rules_only: bool,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(cases)
        .with_context(|| format!("cannot read case file {}", cases.display()))?;
    let cases = dialogue::eval::parse_cases(&text)
        .with_context(|| format!("case file {} is malformed", cases.display()))?;
    let kb = Arc::new(KnowledgeBase::embedded()?);
    let mut engine = engine(config, &kb);
    if !rules_only && let Some(m) = crate::semantic::load_or_warn(config, &kb) {
        engine = engine.with_semantic(m);
    }
    let report = dialogue::eval::evaluate(&Arc::new(engine), &cases);
    if json {
        serde_json::to_writer(&mut *out, &report)?;
        writeln!(out)?;
    } else {
        write!(out, "{}", report.summary())?;
    }
    Ok(())
}

/// Paraphrase cases with rules alone and with rules + embeddings, and the threshold calibration.
pub fn paraphrases(config: &Config, file: &Path, json: bool, out: &mut dyn Write) -> anyhow::Result<()> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("cannot read case file {}", file.display()))?;
    let cases = dialogue::eval::parse_paraphrases(&text)
        .with_context(|| format!("paraphrase file {} is malformed", file.display()))?;
    let kb = Arc::new(KnowledgeBase::embedded()?);
    let rules = Arc::new(engine(config, &kb));
    let embedder = crate::semantic::load_embedder(config)?
        .context("semantic matching is off in the configuration (understanding.semantic)")?;
    let matcher = crate::semantic::matcher(config, embedder, &kb)?;
    let intake =
        dialogue::eval::parse_cases(dialogue::eval::INTAKE_CASES).context("embedded intake cases")?;
    let off_topic = embed::calibrate::parse_off_topic(OFF_TOPIC);
    let calibration = embed::calibrate::calibrate(&rules, &matcher, &intake, &off_topic)?;
    let rules_report = dialogue::eval::evaluate_paraphrases(&rules, &cases);
    let with = Arc::new(engine(config, &kb).with_semantic(Arc::new(matcher)));
    let semantic_report = dialogue::eval::evaluate_paraphrases(&with, &cases);
    if json {
        let v = serde_json::json!({
            "threshold": config.semantic_threshold,
            "rules_only": rules_report,
            "rules_and_embeddings": semantic_report,
            "calibration": calibration,
        });
        writeln!(out, "{v}")?;
        return Ok(());
    }
    writeln!(out, "{} paraphrase cases, threshold {:.2}", cases.len(), config.semantic_threshold)?;
    write!(out, "{}", rules_report.summary("rules only        "))?;
    write!(out, "{}", semantic_report.summary("rules + embeddings"))?;
    if !semantic_report.missed.is_empty() {
        writeln!(out, "missed with embeddings: {}", semantic_report.missed.join(", "))?;
    }
    writeln!(
        out,
        "calibration ({} intake openings, {} off-topic sentences): threshold, recall, false matches",
        calibration.openings, calibration.off_topic
    )?;
    for r in &calibration.rows {
        writeln!(
            out,
            "  {:.2}  {:5.1}%  {:5.1}%",
            r.threshold,
            r.recall * 100.0,
            r.false_match_rate * 100.0
        )?;
    }
    writeln!(out, "chosen (largest recall minus false matches): {:.2}", calibration.chosen)?;
    Ok(())
}
