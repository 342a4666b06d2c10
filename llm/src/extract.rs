//! Reading a patient's opening story into the card's OLDCARTS slots (the descriptive ones: onset,
//! duration and severity feed the red-flag and triage rules and stay with the rules' own reading).
//!
//! The model answers with a JSON object (a fixed set of keys, `null` for what was not said); the
//! answer is parsed strictly (one retry with a reminder when it is not JSON) and every value is
//! **grounded**: it must be the patient's own words (most of its characters or words occur in
//! what the patient said), a severity must be a number the patient said. Anything else is
//! dropped, so the model can only copy facts out of the story, never add one. Symptoms are not
//! taken from the model at all: concepts (and with them red flags and triage) stay with the rules
//! and the sentence embeddings.

use protocol::{Lang, Slot};
use serde::Deserialize;

use crate::{GenConfig, chat_prompt};

/// The fixed instructions, with one worked example per language (read once, then cached).
pub const SYSTEM: &str = "You read what a patient told a hospital check-in kiosk and fill in a JSON form. \
Copy the patient's own words. Use null for anything the patient did not say. Never guess, never add \
anything, never give advice.\n\
Keys:\n\
\"location\": where on the body it is\n\
\"character\": what it feels like (pressure, burning, sharp, throbbing, ...)\n\
\"radiation\": where it spreads or moves to\n\
\"aggravating\": what makes it worse\n\
\"relieving\": what makes it better\n\
\"timing\": constant or comes and goes, or the time of day it happens\n\
Answer with the JSON object only.";

const EXAMPLE_EN_USER: &str =
    "It started last night after dinner, a burning pain in my upper belly that gets worse when I lie down.";
const EXAMPLE_EN_JSON: &str = r#"{"location": "upper belly", "character": "burning", "radiation": null, "aggravating": "when I lie down", "relieving": null, "timing": null}"#;
const EXAMPLE_ZH_USER: &str = "头疼三天了，太阳穴一跳一跳的，每天晚上疼，吃了止痛药好一点。";
const EXAMPLE_ZH_JSON: &str = r#"{"location": "太阳穴", "character": "一跳一跳的", "radiation": null, "aggravating": null, "relieving": "吃了止痛药", "timing": "每天晚上"}"#;

/// The prompt for one story (the instructions and examples are the same every time).
pub fn prompt(story: &str) -> String {
    chat_prompt(SYSTEM, &[EXAMPLE_EN_USER, EXAMPLE_EN_JSON, EXAMPLE_ZH_USER, EXAMPLE_ZH_JSON, story])
}

/// The instructions alone, for warming the cache.
pub fn warm_prompt() -> String {
    let full = chat_prompt(SYSTEM, &[EXAMPLE_EN_USER, EXAMPLE_EN_JSON, EXAMPLE_ZH_USER, EXAMPLE_ZH_JSON]);
    // Up to the point where the patient's story begins.
    full.trim_end_matches("<|im_start|>assistant\n").to_owned() + "<|im_start|>user\n"
}

/// Generation settings: greedy, a short budget, stop after the object.
pub fn config() -> GenConfig {
    GenConfig { max_tokens: 120, temperature: None, stop: vec!["}".into()], ..GenConfig::default() }
}

/// The reminder sent once when the answer was not a JSON object.
pub const RETRY: &str = "Answer again with only the JSON object, with exactly the keys listed.";

/// The prompt of the retry: the first answer and the reminder added to the conversation.
pub fn retry_prompt(story: &str, first_answer: &str) -> String {
    chat_prompt(
        SYSTEM,
        &[EXAMPLE_EN_USER, EXAMPLE_EN_JSON, EXAMPLE_ZH_USER, EXAMPLE_ZH_JSON, story, first_answer, RETRY],
    )
}

#[derive(Debug, Deserialize)]
struct Form {
    onset: Option<serde_json::Value>,
    duration: Option<serde_json::Value>,
    location: Option<serde_json::Value>,
    character: Option<serde_json::Value>,
    severity: Option<serde_json::Value>,
    radiation: Option<serde_json::Value>,
    aggravating: Option<serde_json::Value>,
    relieving: Option<serde_json::Value>,
    timing: Option<serde_json::Value>,
}

/// What the story says, slot by slot, in the patient's words.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Story {
    /// Grounded slot values (severity with its number).
    pub slots: Vec<(Slot, String, Option<f64>)>,
    /// Values the model gave that were not the patient's words (dropped; for evaluation).
    pub dropped: Vec<(Slot, String)>,
}

/// Why an answer could not be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// No JSON object in the answer.
    #[error("the answer holds no JSON object")]
    NotJson,
    /// A JSON object of the wrong shape.
    #[error("the answer is not the form: {0}")]
    Shape(String),
}

/// Parses the model's answer (the stop string `}` is not included in it) and keeps only the
/// values grounded in `story`.
pub fn parse(answer: &str, story: &str, lang: Lang) -> Result<Story, ParseError> {
    let start = answer.find('{').ok_or(ParseError::NotJson)?;
    let mut body = answer[start..].trim().to_owned();
    if !body.ends_with('}') {
        body.push('}');
    }
    let form: Form = serde_json::from_str(&body)
        .map_err(|e| if body.len() < 3 { ParseError::NotJson } else { ParseError::Shape(e.to_string()) })?;
    let mut out = Story::default();
    let fields = [
        (Slot::Onset, form.onset),
        (Slot::Duration, form.duration),
        (Slot::Location, form.location),
        (Slot::Character, form.character),
        (Slot::Radiation, form.radiation),
        (Slot::Aggravating, form.aggravating),
        (Slot::Relieving, form.relieving),
        (Slot::Timing, form.timing),
    ];
    for (slot, value) in fields {
        let Some(text) = value.as_ref().and_then(text_of) else { continue };
        if grounded(&text, story, lang) {
            out.slots.push((slot, text, None));
        } else {
            out.dropped.push((slot, text));
        }
    }
    if let Some(v) = form.severity.as_ref() {
        let n = v.as_f64().or_else(|| v.as_str().and_then(|s| s.trim().parse::<f64>().ok()));
        match n {
            Some(n) if (0.0..=10.0).contains(&n) && n.fract() == 0.0 && said_number(n as u32, story) => {
                out.slots.push((Slot::Severity, format!("{n}"), Some(n)));
            }
            Some(n) => out.dropped.push((Slot::Severity, format!("{n}"))),
            None => {}
        }
    }
    Ok(out)
}

fn text_of(v: &serde_json::Value) -> Option<String> {
    let s = match v {
        serde_json::Value::String(s) => s.trim().to_owned(),
        serde_json::Value::Array(items) => {
            items.iter().filter_map(|i| i.as_str()).map(str::trim).collect::<Vec<_>>().join(", ")
        }
        _ => return None,
    };
    let lower = s.to_lowercase();
    let empty = s.is_empty()
        || ["null", "none", "n/a", "unknown", "not mentioned", "无", "未提及", "不详"]
            .contains(&lower.as_str());
    (!empty && s.chars().count() <= 120).then_some(s)
}

/// Whether `value` is the patient's own words: for Mandarin, at least 70% of its Han characters
/// occur in the story; otherwise at least 70% of its words (of two letters or more) do.
pub fn grounded(value: &str, story: &str, lang: Lang) -> bool {
    let story_lower = story.to_lowercase();
    let han: Vec<char> = value.chars().filter(|c| is_han(*c)).collect();
    if lang == Lang::Zh || !han.is_empty() {
        if han.is_empty() {
            return false;
        }
        let found = han.iter().filter(|c| story.contains(**c)).count();
        return found * 10 >= han.len() * 7;
    }
    let story_words: Vec<String> = words(&story_lower);
    let value_words: Vec<String> = words(&value.to_lowercase());
    if value_words.is_empty() {
        return false;
    }
    let found = value_words.iter().filter(|w| story_words.contains(w)).count();
    found * 10 >= value_words.len() * 7
}

fn words(s: &str) -> Vec<String> {
    s.split(|c: char| !c.is_alphanumeric() && c != '\'')
        .filter(|w| w.chars().count() >= 2 || w.chars().all(|c| c.is_ascii_digit()))
        .map(str::to_owned)
        .collect()
}

fn is_han(c: char) -> bool {
    ('\u{4E00}'..='\u{9FFF}').contains(&c) || ('\u{3400}'..='\u{4DBF}').contains(&c)
}

/// Whether the story states the number `n` (digits, Mandarin numerals, or English words).
fn said_number(n: u32, story: &str) -> bool {
    const ZH: [&str; 11] = ["零", "一", "二", "三", "四", "五", "六", "七", "八", "九", "十"];
    const EN: [&str; 11] =
        ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"];
    let lower = story.to_lowercase();
    let digits_match =
        lower.split(|c: char| !c.is_ascii_digit()).any(|d| !d.is_empty() && d.parse::<u32>().ok() == Some(n));
    let Some(i) = usize::try_from(n).ok().filter(|i| *i <= 10) else { return digits_match };
    digits_match
        || story.contains(ZH[i])
        || (n == 2 && story.contains('两'))
        || words(&lower).iter().any(|w| w == EN[i])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_patients_own_words_survive() {
        let story =
            "My chest has felt tight since this morning, it spreads to my left arm, about 7 out of 10.";
        let answer = r#"{"onset": "since this morning", "duration": null, "location": "chest", "character": "crushing pressure",
            "severity": 7, "radiation": "left arm", "aggravating": "exercise", "relieving": null, "timing": null"#;
        let story_facts = parse(answer, story, Lang::En).expect("parses");
        let slots: Vec<Slot> = story_facts.slots.iter().map(|(s, _, _)| *s).collect();
        assert_eq!(slots, [Slot::Onset, Slot::Location, Slot::Radiation, Slot::Severity]);
        let dropped: Vec<Slot> = story_facts.dropped.iter().map(|(s, _)| *s).collect();
        assert_eq!(dropped, [Slot::Character, Slot::Aggravating], "invented words are dropped");
    }

    #[test]
    fn a_severity_the_patient_never_said_is_dropped() {
        let zh = "肚子疼得厉害，大概八分。";
        let ok = parse(r#"{"severity": 8}"#, zh, Lang::Zh).expect("parses");
        assert_eq!(ok.slots, vec![(Slot::Severity, "8".into(), Some(8.0))]);
        let invented = parse(r#"{"severity": 9, "location": "肚子"}"#, zh, Lang::Zh).expect("parses");
        assert_eq!(invented.slots, vec![(Slot::Location, "肚子".into(), None)]);
        assert!(parse(r#"{"severity": 42}"#, "42", Lang::En).expect("parses").slots.is_empty());
    }

    #[test]
    fn answers_that_are_not_the_form_are_errors_not_guesses() {
        assert_eq!(parse("I think it is angina.", "x", Lang::En), Err(ParseError::NotJson));
        // Keys outside the form are ignored, never taken.
        let extra =
            parse(r#"{"onset": "today", "diagnosis": "flu"}"#, "it began today", Lang::En).expect("parses");
        assert_eq!(extra.slots, vec![(Slot::Onset, "today".into(), None)]);
        assert!(parse(r#"{"onset": [1, 2]"#, "x", Lang::En).expect("parses").slots.is_empty());
        let nulls = parse(r#"{"onset": "null", "location": "不详"}"#, "不详", Lang::Zh).expect("parses");
        assert!(nulls.slots.is_empty());
    }
}
