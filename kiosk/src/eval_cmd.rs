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

/// The intake cases in `path` (JSON lines).
fn read_cases(path: &Path) -> anyhow::Result<Vec<dialogue::eval::Case>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read case file {}", path.display()))?;
    dialogue::eval::parse_cases(&text).with_context(|| format!("case file {} is malformed", path.display()))
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
    let cases = read_cases(cases)?;
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

/// The model's reading of one story: grounded slots, or why there are none.
#[derive(Debug)]
pub struct ModelReading {
    /// Grounded slot values.
    pub slots: Vec<(protocol::Slot, String, Option<f64>)>,
    /// Values dropped as not the patient's words.
    pub dropped: usize,
    /// Whether the first answer was not the form (a retry was made).
    pub retried: bool,
    /// Whether even the retry was not the form.
    pub failed: bool,
    /// Time to the first token of the (first) answer, ms.
    pub first_token_ms: f64,
    /// Whole extraction, ms.
    pub total_ms: f64,
    /// Prompt tokens re-used from the cache.
    pub reused_tokens: usize,
}

/// Reads `story` with the language model, starting from the warmed-up instructions `warm`
/// (strict parsing, one retry with a reminder).
pub fn model_reading(
    llm: &llm::Llm,
    warm: &llm::Conversation,
    story: &str,
    lang: protocol::Lang,
) -> anyhow::Result<ModelReading> {
    let started = std::time::Instant::now();
    let never = std::sync::atomic::AtomicBool::new(false);
    let mut conversation = warm.clone();
    let first = llm.generate(
        &mut conversation,
        &llm::extract::prompt(story),
        &llm::extract::config(),
        &never,
        &mut |_| {},
    )?;
    let mut reading = ModelReading {
        slots: Vec::new(),
        dropped: 0,
        retried: false,
        failed: false,
        first_token_ms: first.first_token_ms,
        total_ms: 0.0,
        reused_tokens: first.reused_tokens,
    };
    let parsed = match llm::extract::parse(&first.text, story, lang) {
        Ok(p) => Some(p),
        Err(_) => {
            reading.retried = true;
            let prompt = llm::extract::retry_prompt(story, &first.text);
            let second =
                llm.generate(&mut conversation, &prompt, &llm::extract::config(), &never, &mut |_| {})?;
            llm::extract::parse(&second.text, story, lang).ok()
        }
    };
    match parsed {
        Some(p) => {
            reading.dropped = p.dropped.len();
            reading.slots = p.slots;
        }
        None => reading.failed = true,
    }
    reading.total_ms = started.elapsed().as_secs_f64() * 1000.0;
    Ok(reading)
}

/// `kiosk eval --stories FILE`: slot precision, recall and F1 of the opening story read by the
/// rules and embeddings alone, by the language model alone (its grounded slots), and merged.
pub fn stories(config: &Config, file: &Path, json: bool, out: &mut dyn Write) -> anyhow::Result<()> {
    use dialogue::story_eval::{SlotScore, parse_story_cases, read_story, score};
    let text =
        std::fs::read_to_string(file).with_context(|| format!("cannot read case file {}", file.display()))?;
    let cases = parse_story_cases(&text)
        .map_err(anyhow::Error::msg)
        .with_context(|| format!("story file {} is malformed", file.display()))?;
    let engine = crate::window::engine(config)?;
    let files = llm::ModelFiles::installed(&config.models_dir);
    let loaded = std::time::Instant::now();
    let model = llm::Llm::load(&files)?;
    let load_ms = loaded.elapsed().as_secs_f64() * 1000.0;
    let mut warm = model.conversation();
    let warm_tokens = model.prefill(&mut warm, &llm::extract::warm_prompt())?;
    let (mut rules, mut alone, mut merged) =
        (SlotScore::default(), SlotScore::default(), SlotScore::default());
    let (mut disagreed, mut retried, mut failed, mut dropped) = (0, 0, 0, 0);
    let mut first_token = Vec::new();
    let mut total = Vec::new();
    let mut per_case = Vec::new();
    for case in &cases {
        let (by_rules, _) = read_story(&engine, case, None);
        let reading = model_reading(&model, &warm, &case.story, case.lang)?;
        let by_model: Vec<(protocol::Slot, String)> =
            reading.slots.iter().map(|(s, t, _)| (*s, t.clone())).collect();
        let (by_both, merge) = read_story(&engine, case, Some(&reading.slots));
        let (r, a, m) = (score(case, &by_rules), score(case, &by_model), score(case, &by_both));
        rules.add(r);
        alone.add(a);
        merged.add(m);
        disagreed += merge.disagreed.len();
        retried += usize::from(reading.retried);
        failed += usize::from(reading.failed);
        dropped += reading.dropped;
        first_token.push(reading.first_token_ms);
        total.push(reading.total_ms);
        per_case.push(serde_json::json!({
            "id": case.id, "rules_f1": r.f1(), "model_f1": a.f1(), "merged_f1": m.f1(),
            "model_slots": by_model.iter().map(|(s, t)| format!("{}={t}", s.code())).collect::<Vec<_>>(),
            "disagreed": merge.disagreed.iter().map(|s| s.code()).collect::<Vec<_>>(),
            "first_token_ms": reading.first_token_ms, "total_ms": reading.total_ms,
        }));
    }
    let pct = |v: &mut Vec<f64>, p: f64| {
        v.sort_by(f64::total_cmp);
        v.get(((v.len() as f64 - 1.0) * p).round() as usize).copied().unwrap_or(0.0)
    };
    let summary = serde_json::json!({
        "cases": cases.len(),
        "rules": { "precision": rules.precision(), "recall": rules.recall(), "f1": rules.f1() },
        "model_alone": { "precision": alone.precision(), "recall": alone.recall(), "f1": alone.f1() },
        "merged": { "precision": merged.precision(), "recall": merged.recall(), "f1": merged.f1() },
        "disagreements_asked": disagreed,
        "retries": retried,
        "unparsed": failed,
        "values_dropped_as_not_the_patients_words": dropped,
        "load_ms": load_ms,
        "instruction_tokens_cached": warm_tokens,
        "first_token_p50_ms": pct(&mut first_token, 0.5),
        "extraction_p50_ms": pct(&mut total.clone(), 0.5),
        "extraction_p95_ms": pct(&mut total, 0.95),
    });
    print_report(out, json, summary, "cases", per_case)
}

/// `kiosk eval CASES --narratives N`: the 现病史 / HPI drafted by the language model for up to
/// `n` cards per language made from the cases (those without red flags: such cards go to the
/// station before any read-back), each checked against its card. Prints how many drafts were accepted, why the others
/// were refused, and the time to the first token and to the whole draft.
pub fn narratives(
    config: &Config,
    cases: &Path,
    n: usize,
    json: bool,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let cases = read_cases(cases)?;
    let engine = crate::window::engine(config)?;
    let files = llm::ModelFiles::installed(&config.models_dir);
    let model = llm::Llm::load(&files)?;
    let cards: Vec<protocol::ConditionCard> =
        cases.iter().filter_map(|c| dialogue::eval::run_case(&engine, c).card).collect();
    let mut per_card = Vec::new();
    let (mut accepted, mut first_token, mut total) = (0usize, Vec::new(), Vec::new());
    let mut problems: std::collections::BTreeMap<String, usize> = Default::default();
    for lang in [protocol::Lang::Zh, protocol::Lang::En] {
        let mut warm = model.conversation();
        model.prefill(&mut warm, &llm::narrative::warm_prompt(lang))?;
        for card in cards.iter().filter(|c| c.language == lang && c.red_flags.is_empty()).take(n) {
            let Drafted { facts, draft, check, generation: g, ms } =
                draft_narrative(&model, &warm, card, &engine, lang)?;
            match &check {
                Ok(()) => accepted += 1,
                Err(p) => *problems.entry(p.kind().to_owned()).or_default() += 1,
            }
            first_token.push(g.first_token_ms);
            total.push(ms);
            per_card.push(serde_json::json!({
                "lang": lang.code(),
                "complaint": card.chief_complaint.concept,
                "facts": facts,
                "draft": draft,
                "accepted": check.is_ok(),
                "problem": check.err().map(|e| e.to_string()),
                "tokens": g.generated_tokens,
                "first_token_ms": g.first_token_ms,
                "total_ms": ms,
            }));
        }
    }
    let pct = protocol::stats::percentile;
    let summary = serde_json::json!({
        "drafts": per_card.len(),
        "accepted": accepted,
        "accepted_rate": accepted as f64 / per_card.len().max(1) as f64,
        "refused_by_problem": problems,
        "first_token_p50_ms": pct(&first_token, 50.0),
        "draft_p50_ms": pct(&total, 50.0),
        "draft_p95_ms": pct(&total, 95.0),
    });
    print_report(out, json, summary, "cards", per_card)
}

/// Prints the summary (pretty), or with `json` one object holding the summary and the items
/// under `key`.
fn print_report(
    out: &mut dyn Write,
    json: bool,
    summary: serde_json::Value,
    key: &str,
    items: Vec<serde_json::Value>,
) -> anyhow::Result<()> {
    if json {
        let mut report = serde_json::json!({ "summary": summary });
        report[key] = serde_json::Value::Array(items);
        serde_json::to_writer(&mut *out, &report)?;
        writeln!(out)?;
    } else {
        writeln!(out, "{}", serde_json::to_string_pretty(&summary)?)?;
    }
    Ok(())
}

/// A 现病史 drafted by the model from a card's facts, cleaned, and checked against the card.
#[derive(Debug)]
pub struct Drafted {
    /// The facts it was drafted from.
    pub facts: Vec<String>,
    /// The cleaned draft.
    pub draft: String,
    /// The check's verdict.
    pub check: Result<(), dialogue::narrative::DraftProblem>,
    /// The raw generation and its timings.
    pub generation: llm::Generation,
    /// The whole draft, ms.
    pub ms: f64,
}

/// Drafts `card`'s 现病史 in `lang`, starting from `warm` (the narrative instructions read).
pub fn draft_narrative(
    model: &llm::Llm,
    warm: &llm::Conversation,
    card: &protocol::ConditionCard,
    engine: &Engine,
    lang: protocol::Lang,
) -> anyhow::Result<Drafted> {
    let never = std::sync::atomic::AtomicBool::new(false);
    let facts = dialogue::narrative::facts(card, lang);
    let mut conversation = warm.clone();
    let started = std::time::Instant::now();
    let generation = model.generate(
        &mut conversation,
        &llm::narrative::prompt(lang, &facts),
        &llm::narrative::config(),
        &never,
        &mut |_| {},
    )?;
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    let draft = llm::narrative::clean(&generation.text);
    let check = dialogue::narrative::check(&draft, card, engine, lang, llm::narrative::example_phrases(lang));
    Ok(Drafted { facts, draft, check, generation, ms })
}
