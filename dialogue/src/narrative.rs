//! The card's facts for a language model to write the 现病史 / HPI from, and the check its draft
//! must pass before anyone sees it: no symptom, finding or number the card does not hold. A draft
//! that fails (or a model that is missing or slow) leaves the deterministic text
//! ([`crate::card::hpi`]) in place.

use std::collections::BTreeSet;

use protocol::{ConditionCard, Lang};

use crate::interview::Engine;
use crate::nlu::Utterance;

/// The card's facts, one per line, in `lang`: who the patient is, the 主诉, the patient's words
/// for each slot, the symptoms reported with it, the symptoms denied, and the history. Reported
/// and denied symptoms are listed apart so that a small model cannot mix them up.
pub fn facts(card: &ConditionCard, lang: Lang) -> Vec<String> {
    let zh = lang == Lang::Zh;
    let mut out = Vec::new();
    let sex = match (card.patient.sex, zh) {
        (Some(protocol::Sex::Female), true) => "女",
        (Some(protocol::Sex::Male), true) => "男",
        (None, true) => "性别未知",
        (Some(protocol::Sex::Female), false) => "female",
        (Some(protocol::Sex::Male), false) => "male",
        (None, false) => "sex unknown",
    };
    let age = card.patient.age.map_or_else(
        || if zh { "年龄未知".to_owned() } else { "age unknown".to_owned() },
        |a| a.describe().get(lang).to_owned(),
    );
    out.push(if zh { format!("患者：{sex}，{age}") } else { format!("Patient: {sex}, {age}") });
    if let protocol::Respondent::Proxy { relation } = &card.respondent {
        out.push(if zh { format!("代述：{relation}") } else { format!("History given by: {relation}") });
    }
    if card.patient.pregnant == Some(true) {
        out.push(if zh { "妊娠期：是".into() } else { "Pregnant: yes".into() });
    }
    if let Some(t) = card.patient.temperature_c {
        out.push(if zh { format!("体温：{t:.1}℃") } else { format!("Temperature: {t:.1} C") });
    }
    let complaint = if zh { &card.chief_complaint.zh } else { &card.chief_complaint.en };
    out.push(format!("{}{complaint}", if zh { "主诉：" } else { "Chief complaint: " }));
    for e in &card.slots {
        let sep = if zh { "：" } else { ": " };
        out.push(format!("{}{sep}{}", e.slot.label().get(lang), e.text.expose().trim()));
    }
    let main = card.chief_complaint.concept.as_deref();
    let names = |present: bool| {
        card.findings
            .iter()
            .filter(|f| f.present == present && Some(f.concept.as_str()) != main)
            .map(|f| f.name.get(lang).to_owned())
            .collect::<Vec<_>>()
    };
    let (reported, denied) = (names(true), names(false));
    if !reported.is_empty() {
        out.push(if zh {
            format!("伴随症状：{}", reported.join("、"))
        } else {
            format!("Also reports: {}", reported.join(", "))
        });
    }
    if !denied.is_empty() {
        out.push(if zh {
            format!("否认：{}", denied.join("、"))
        } else {
            format!("Denies: {}", denied.join(", "))
        });
    }
    for (label, entry) in [
        (if zh { "既往史" } else { "Past history" }, &card.history),
        (if zh { "用药" } else { "Medications" }, &card.medications),
        (if zh { "过敏史" } else { "Allergies" }, &card.allergies),
    ] {
        if let Some(h) = entry {
            let text = if h.denied { if zh { "无" } else { "none" } } else { h.text.expose().trim() };
            out.push(if zh { format!("{label}：{text}") } else { format!("{label}: {text}") });
        }
    }
    out
}

/// The card's own words (complaint, the patient's words for the slots, history): symptoms found
/// in them count as reported even when they are not findings.
fn own_words(card: &ConditionCard) -> Vec<String> {
    let mut out = vec![card.chief_complaint.zh.clone(), card.chief_complaint.en.clone()];
    out.extend(card.slots.iter().map(|e| e.text.expose().to_owned()));
    for h in [&card.history, &card.medications, &card.allergies].into_iter().flatten() {
        if !h.denied {
            out.push(h.text.expose().to_owned());
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
    /// It calls the patient "he" or "she" against the card's sex.
    #[error("the draft gets the patient's sex wrong")]
    Sex,
    /// It repeats words of the worked example that the card does not hold.
    #[error("the draft copies the worked example: {0}")]
    Copied(String),
    /// The card changed (a correction) while the draft was written.
    #[error("the card changed while the draft was written")]
    Stale,
}

impl DraftProblem {
    /// A short name for counting refusals: `form`, `symptom` or `number`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Form => "form",
            Self::Symptom(_) => "symptom",
            Self::Number(_) => "number",
            Self::Sex => "sex",
            Self::Copied(_) => "copied",
            Self::Stale => "stale",
        }
    }
}

/// Checks a drafted narrative against the card. Symptoms stated as present must be reported on
/// the card (findings, the complaint, the patient's words) and not denied; symptoms stated as
/// absent must be denied or at least spoken of on the card; every number must be one the card
/// holds; "he"/"she" and 患者男/女 must match the card's sex; and no phrase of the worked example
/// the model was shown (`example`) may appear unless the card holds it too.
pub fn check(
    draft: &str,
    card: &ConditionCard,
    engine: &Engine,
    lang: Lang,
    example: &[&str],
) -> Result<(), DraftProblem> {
    let draft = draft.trim();
    let chars = draft.chars().count();
    let han = draft.chars().any(crate::nlu::is_han);
    let longest = if lang == Lang::Zh { 320 } else { 900 };
    if !(8..=longest).contains(&chars) || (lang == Lang::Zh) != han {
        return Err(DraftProblem::Form);
    }
    if repeats(draft) {
        return Err(DraftProblem::Form);
    }
    let fact_lines = [facts(card, Lang::Zh), facts(card, Lang::En)].concat();
    let fact_text = fact_lines.join("\n");
    let fact_lower = fact_text.to_lowercase();
    let draft_lower = draft.to_lowercase();
    if let Some(copied) = example
        .iter()
        .find(|p| draft_lower.contains(&p.to_lowercase()) && !fact_lower.contains(&p.to_lowercase()))
    {
        return Err(DraftProblem::Copied((*copied).to_owned()));
    }
    if wrong_sex(&draft_lower, card.patient.sex) {
        return Err(DraftProblem::Sex);
    }
    let analyzer = engine.analyzer();
    let mut on_card: BTreeSet<String> = card.findings.iter().map(|f| f.concept.clone()).collect();
    let mut present: BTreeSet<String> = card.positives().map(|f| f.concept.clone()).collect();
    if let Some(c) = &card.chief_complaint.concept {
        on_card.insert(c.clone());
        present.insert(c.clone());
    }
    for line in own_words(card) {
        for hit in analyzer.concepts(&Utterance::new(&line)) {
            on_card.insert(hit.concept.clone());
            if !hit.negated {
                present.insert(hit.concept);
            }
        }
    }
    // Whatever the facts speak of ("过敏史：无", "Allergies: none") may be stated as absent.
    for line in &fact_lines {
        for hit in analyzer.concepts(&Utterance::new(line)) {
            on_card.insert(hit.concept);
        }
    }
    // A symptom stated as present must be reported; one stated as absent must be denied or at
    // least spoken of (never a symptom the card is silent on, nor one the patient has).
    let denied: BTreeSet<&str> = card.negatives().map(|f| f.concept.as_str()).collect();
    // "过敏史" names the history of allergies (a field of its own), not an allergic reaction now.
    let without_history = draft.replace("过敏史", "");
    for sentence in sentences(&without_history) {
        for hit in analyzer.concepts(&Utterance::new(sentence)) {
            let known = if hit.negated {
                on_card.contains(&hit.concept) && !present.contains(&hit.concept)
                    || denied.contains(hit.concept.as_str())
            } else {
                present.contains(&hit.concept) && !denied.contains(hit.concept.as_str())
            };
            if !known {
                return Err(DraftProblem::Symptom(hit.concept));
            }
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

/// "He"/"his" for a woman, "she"/"her" for a man, 患者男 for a woman or 患者女 for a man.
fn wrong_sex(draft_lower: &str, sex: Option<protocol::Sex>) -> bool {
    let words: BTreeSet<&str> =
        draft_lower.split(|c: char| !c.is_ascii_alphabetic()).filter(|w| !w.is_empty()).collect();
    let has = |list: &[&str]| list.iter().any(|w| words.contains(w));
    let (he, she) = (has(&["he", "him", "his", "man", "boy"]), has(&["she", "her", "hers", "woman", "girl"]));
    match sex {
        Some(protocol::Sex::Male) => she || draft_lower.contains("患者女"),
        Some(protocol::Sex::Female) => he || draft_lower.contains("患者男"),
        None => false,
    }
}

/// The draft's sentences and Mandarin clauses (negation is read within one, and a symptom both
/// reported and denied is caught: 伴腹胀，否认腹胀).
fn sentences(text: &str) -> impl Iterator<Item = &str> {
    text.split_inclusive(['。', '！', '？', '!', '?', '；', ';', '，'])
        .flat_map(|s| s.split_inclusive(". "))
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// A sentence said twice: the model ran on.
fn repeats(text: &str) -> bool {
    let mut seen = BTreeSet::new();
    sentences(text).any(|s| {
        let key: String = s.chars().filter(|c| c.is_alphanumeric()).collect::<String>().to_lowercase();
        key.chars().count() > 6 && !seen.insert(key)
    })
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
        assert_eq!(check(&deterministic.en, &card, &engine, Lang::En, &[]), Ok(()), "{}", deterministic.en);
        assert_eq!(check(&deterministic.zh, &card, &engine, Lang::Zh, &[]), Ok(()), "{}", deterministic.zh);
        let invented = format!("{} He also has a fever and a cough.", deterministic.en);
        assert!(matches!(check(&invented, &card, &engine, Lang::En, &[]), Err(DraftProblem::Symptom(_))));
        let number = format!("{} The pain is 10 out of 10 and started 45 minutes ago.", deterministic.en);
        assert!(matches!(
            check(&number, &card, &engine, Lang::En, &[]),
            Err(DraftProblem::Number(_)) | Err(DraftProblem::Symptom(_))
        ));
        assert_eq!(check("ok", &card, &engine, Lang::En, &[]), Err(DraftProblem::Form));
        assert_eq!(check(&deterministic.en, &card, &engine, Lang::Zh, &[]), Err(DraftProblem::Form));
    }

    /// An English card with pertinent negatives.
    fn card_with_negatives() -> (ConditionCard, Arc<Engine>) {
        let (_, engine) = card_and_engine();
        let card = crate::eval::intake_cards(&engine, 200)
            .into_iter()
            .find(|c| c.language == Lang::En && c.negatives().count() > 0)
            .expect("an intake card with pertinent negatives");
        (card, engine)
    }

    #[test]
    fn denied_symptoms_stay_denied_and_run_on_drafts_are_refused() {
        let (card, engine) = card_with_negatives();
        let denied = card.negatives().next().expect("the case has a pertinent negative");
        let name = denied.name.en.clone();
        let base = crate::card::hpi(&card).en;
        // A denied symptom written as present is refused ...
        let flipped = format!("{base} The patient has {name}.");
        assert_eq!(
            check(&flipped, &card, &engine, Lang::En, &[]),
            Err(DraftProblem::Symptom(denied.concept.clone())),
            "{flipped}"
        );
        // ... written as denied it passes.
        let kept = format!("{base} The patient denies {name}.");
        assert_eq!(check(&kept, &card, &engine, Lang::En, &[]), Ok(()), "{kept}");
        let looped = format!("{base} The pain is bad. The pain is bad. The pain is bad.");
        assert_eq!(check(&looped, &card, &engine, Lang::En, &[]), Err(DraftProblem::Form));
    }

    #[test]
    fn a_symptom_both_reported_and_denied_is_refused() {
        let (_, engine) = card_and_engine();
        let card = crate::eval::intake_cards(&engine, 200)
            .into_iter()
            .find(|c| c.language == Lang::Zh && c.positives().count() > 1)
            .expect("a Mandarin card with an associated symptom");
        let main = card.chief_complaint.concept.clone();
        let other = card.positives().find(|f| Some(&f.concept) != main.as_ref()).expect("associated");
        let name = &other.name.zh;
        let draft = format!("患者因{}就诊。伴{name}，否认{name}。", card.chief_complaint.zh);
        assert_eq!(
            check(&draft, &card, &engine, Lang::Zh, &[]),
            Err(DraftProblem::Symptom(other.concept.clone())),
            "{draft}"
        );
    }

    #[test]
    fn facts_list_reported_and_denied_symptoms_apart() {
        let (card, _) = card_with_negatives();
        let facts = facts(&card, Lang::En);
        assert!(facts[0].starts_with("Patient: "), "{facts:?}");
        assert!(facts.iter().any(|f| f.starts_with("Denies: ")), "{facts:?}");
        let zh = facts_zh(&card);
        assert!(zh.iter().any(|f| f.starts_with("否认：")), "{zh:?}");
    }

    fn facts_zh(card: &ConditionCard) -> Vec<String> {
        facts(card, Lang::Zh)
    }

    #[test]
    fn numbers_are_read_from_digits_and_mandarin_numerals() {
        let n = numbers_in("胸痛3天，疼痛八分，两周前开始，37.5度");
        assert!(n.contains("3") && n.contains("8") && n.contains("2") && n.contains("37.5"), "{n:?}");
    }
}
