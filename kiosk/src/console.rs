//! The text console front end: the real intake engine over standard input and output. It serves
//! staff testing a site's configuration and machines without a touch screen; the touch and voice
//! front end runs the same engine and store.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use dialogue::{Input, Phase};
use protocol::{Lang, PatientText};

use store::{Actor, CardStore, SqliteStore};

use crate::config::Config;
use crate::startup::ModelHealth;

/// The card store file in the data directory.
pub fn store_path(data_dir: &Path) -> PathBuf {
    data_dir.join("cards.sqlite")
}

fn card_id(kiosk_id: &str) -> String {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    format!("{kiosk_id}-{nanos:x}")
}

/// Runs interviews one after another until the input ends.
pub fn run(
    config: &Config,
    health: &ModelHealth,
    input: &mut dyn BufRead,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let engine = crate::window::engine(config)?;
    let kb = Arc::clone(&engine.kb);
    let mut store = SqliteStore::open(&store_path(&config.data_dir))?;
    let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0);
    store.purge(now_ms.saturating_sub(u64::from(config.retention_days) * 86_400_000), now_ms)?;
    let kiosk = Actor::Kiosk(config.kiosk_id.clone());
    writeln!(out, "{} — 预问诊 / pre-consultation (text console)", config.hospital_name)?;
    for d in &health.degraded {
        writeln!(out, "[staff] degraded: {} — {}", d.model, d.fallback)?;
    }
    loop {
        writeln!(out, "\n请选择语言 / Choose a language: 1 中文, 2 English (empty line to quit)")?;
        let Some(choice) = read_line(input)? else { return Ok(()) };
        let lang = match choice.trim() {
            "" => return Ok(()),
            "2" | "en" | "English" | "english" => Lang::En,
            _ => config.default_language,
        };
        let started = Instant::now();
        let unix_ms = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0);
        let (mut interview, mut reply) = engine.start(lang, &card_id(&config.kiosk_id), unix_ms);
        loop {
            for line in &reply.say {
                writeln!(out, "{line}")?;
            }
            if let Some(alert) = &reply.alert {
                writeln!(out, "[staff alert] {} level {}: {}", alert.rule_id, alert.level, alert.title.en)?;
                tracing::warn!(rule = %alert.rule_id, level = alert.level, "red flag: staff alerted");
            }
            let Some(question) = reply.question.clone() else { break };
            writeln!(out, "> {}", question.text)?;
            let Some(answer) = read_line(input)? else { return Ok(()) };
            let input =
                if answer.trim() == "?" { Input::Repeat } else { Input::Text(PatientText::new(answer)) };
            reply = interview.handle(input, started.elapsed().as_millis() as u64);
        }
        let card = interview.card();
        if matches!(interview.phase(), Phase::Complete | Phase::Emergency) {
            // Committed to disk before the patient is told it was sent; the card id is the
            // idempotency key, so a retry can never make a second card.
            let at_ms =
                SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0);
            store.submit(&card, &card.card_id, &kiosk, at_ms)?;
            let dept = kb.department_name(card.triage.department);
            match lang {
                Lang::Zh => writeln!(
                    out,
                    "病情卡片已保存并发送。请前往：{}（分诊{}级）。",
                    dept.zh, card.triage.level
                )?,
                Lang::En => writeln!(
                    out,
                    "Your condition card has been saved and sent. Please go to: {} (triage level {}).",
                    dept.en, card.triage.level
                )?,
            }
            if let Some(advice) = &card.triage.advice {
                writeln!(out, "{}", advice.get(lang))?;
            }
            writeln!(out, "[staff] card {} in {}", card.card_id, store.path().display())?;
        }
    }
}

fn read_line(input: &mut dyn BufRead) -> anyhow::Result<Option<String>> {
    let mut line = String::new();
    if input.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    Ok(Some(line.trim_end_matches(['\n', '\r']).to_owned()))
}
