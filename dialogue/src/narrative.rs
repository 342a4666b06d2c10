//! The card's facts for a language model to write the 现病史 / HPI from, and the check its draft
//! must pass before anyone sees it: no symptom, finding or number the card does not hold. A draft
//! that fails (or a model that is missing or slow) leaves the deterministic text
//! ([`crate::card::hpi`]) in place.

use std::collections::BTreeSet;

use protocol::{ConditionCard, Lang};

use crate::interview::Engine;
use crate::nlu::Utterance;

/// The card's facts, one per line, in `lang`.
pub fn facts(card: &ConditionCard, lang: Lang) -> Vec<String> {
    let zh = lang == Lang::Zh;
    let mut out = Vec::new();
    let complaint = if zh { &card.chief_complaint.zh } else { &card.chief_complaint.en };
    out.push(format!("{}: {complaint}", if zh { "主诉" } else { "Chief complaint" }));
    if let Some(age) = card.patient.age {
        out.push(format!("{}: {}", if zh { "年龄" } else { "Age" }, age.describe().get(lang)));
    }
    if let Some(sex) = card.patient.sex {
        let s = match (sex, zh) {
            (protocol::Sex::Female, true) => "女",
            (protocol::Sex::Male, true) => "男",
            (protocol::Sex::Female, false) => "female",
            (protocol::Sex::Male, false) => "male",
        };
        out.push(format!("{}: {s}", if zh { "性别" } else { "Sex" }));
    }
    for e in &card.slots {
        out.push(format!("{}: {}", e.slot.label().get(lang), e.text.expose().trim()));
    }
    for f in &card.findings {
        let yes_no = match (f.present, zh) {
            (true, true) => "有",
            (false, true) => "无",
            (true, false) => "yes",
            (false, false) => "no",
        };
        out.push(format!("{}: {yes_no}", f.name.get(lang)));
    }
    for (label, entry) in [
        (if zh { "既往史" } else { "Past history" }, &card.history),
        (if zh { "用药" } else { "Medications" }, &card.medications),
        (if zh { "过敏史" } else { "Allergies" }, &card.allergies),
    ] {
        if let Some(h) = entry {
            let text = if h.denied { if zh { "无" } else { "none" } } else { h.text.expose().trim() };
            out.push(format!("{label}: {text}"));
        }
    }
    out
}

/// Why a draft was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DraftProblem {
    /// Empty, too long, or in the wrong language.
    #[error("the draft is not a paragraph in the card's language")]
    Form,
    /// It names a symptom the card does not hold (concept id).
    #[error("the draft names a symptom the card does not hold: {0}")]
    Symptom(String),
    /// It states a number the card does not hold.
    #[error("the draft states a number the card does not hold: {0}")]
    Number(String),
}

/// Checks a drafted narrative against the card. Concepts found in the draft must be on the card
/// (as findings, or in the complaint and the patient's words for the slots), and denied in the
/// draft only when they are on the card at all; every number in it must be one the card holds.
pub fn check(draft: &str, card: &ConditionCard, engine: &Engine, lang: Lang) -> Result<(), DraftProblem> {
    let draft = draft.trim();
    let chars = draft.chars().count();
    let han = draft.chars().any(crate::nlu::is_han);
    if !(8..=800).contains(&chars) || (lang == Lang::Zh) != han {
        return Err(DraftProblem::Form);
    }
    let analyzer = engine.analyzer();
    let fact_lines = [facts(card, Lang::Zh), facts(card, Lang::En)].concat();
    let fact_text = fact_lines.join("\n");
    let mut on_card: BTreeSet<String> = card.findings.iter().map(|f| f.concept.clone()).collect();
    let mut present: BTreeSet<String> = card.positives().map(|f| f.concept.clone()).collect();
    if let Some(c) = &card.chief_complaint.concept {
        on_card.insert(c.clone());
        present.insert(c.clone());
    }
    // Concepts in the card's own words (complaint, slots) count as reported.
    for line in &fact_lines {
        for hit in analyzer.concepts(&Utterance::new(line)) {
            on_card.insert(hit.concept.clone());
            if !hit.negated {
                present.insert(hit.concept);
            }
        }
    }
    for hit in analyzer.concepts(&Utterance::new(draft)) {
        let known = if hit.negated { on_card.contains(&hit.concept) } else { present.contains(&hit.concept) };
        if !known {
            return Err(DraftProblem::Symptom(hit.concept));
        }
    }
    let card_numbers = numbers_in(&fact_text);
    for n in numbers_in(draft) {
        if !card_numbers.contains(&n) {
            return Err(DraftProblem::Number(n));
        }
    }
    Ok(())
}

/// Numbers written with digits, and single Mandarin numerals before a unit, as digit strings.
fn numbers_in(text: &str) -> BTreeSet<String> {
    const ZH: [char; 11] = ['零', '一', '二', '三', '四', '五', '六', '七', '八', '九', '十'];
    const UNITS: &str = "天周月年岁个小分次级度";
    let mut out = BTreeSet::new();
    let mut digits = String::new();
    let chars: Vec<char> = text.chars().collect();
    for (i, c) in chars.iter().enumerate() {
        if c.is_ascii_digit() || (*c == '.' && !digits.is_empty()) {
            digits.push(*c);
        } else {
            if !digits.is_empty() {
                out.insert(digits.trim_end_matches('.').to_owned());
                digits.clear();
            }
            if let Some(n) = ZH.iter().position(|z| z == c)
                && chars.get(i + 1).is_some_and(|u| UNITS.contains(*u))
                && !chars.get(i.wrapping_sub(1)).is_some_and(|p| ZH.contains(p))
            {
                out.insert(n.to_string());
            }
        }
    }
    if !digits.is_empty() {
        out.insert(digits.trim_end_matches('.').to_owned());
    }
    // "两" is two.
    if text.contains('两') {
        out.insert("2".into());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn card_and_engine() -> (ConditionCard, Arc<Engine>) {
        let kb = Arc::new(crate::KnowledgeBase::embedded().expect("kb"));
        let engine = Arc::new(Engine::new(kb, crate::InterviewConfig::default()));
        // The first intake case is chest pain with sweating, in English.
        let card = crate::eval::intake_cards(&engine, 1).remove(0);
        (card, engine)
    }

    #[test]
    fn a_faithful_draft_passes_and_inventions_do_not() {
        let (card, engine) = card_and_engine();
        let deterministic = crate::card::hpi(&card);
        assert_eq!(check(&deterministic.en, &card, &engine, Lang::En), Ok(()), "{}", deterministic.en);
        assert_eq!(check(&deterministic.zh, &card, &engine, Lang::Zh), Ok(()), "{}", deterministic.zh);
        let invented = format!("{} He also has a fever and a cough.", deterministic.en);
        assert!(matches!(check(&invented, &card, &engine, Lang::En), Err(DraftProblem::Symptom(_))));
        let number = format!("{} The pain is 10 out of 10 and started 45 minutes ago.", deterministic.en);
        assert!(matches!(
            check(&number, &card, &engine, Lang::En),
            Err(DraftProblem::Number(_)) | Err(DraftProblem::Symptom(_))
        ));
        assert_eq!(check("ok", &card, &engine, Lang::En), Err(DraftProblem::Form));
        assert_eq!(check(&deterministic.en, &card, &engine, Lang::Zh), Err(DraftProblem::Form));
    }

    #[test]
    fn numbers_are_read_from_digits_and_mandarin_numerals() {
        let n = numbers_in("胸痛3天，疼痛八分，两周前开始，37.5度");
        assert!(n.contains("3") && n.contains("8") && n.contains("2") && n.contains("37.5"), "{n:?}");
    }
}
