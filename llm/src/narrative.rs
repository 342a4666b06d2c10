//! Drafting the history of present illness (现病史 / HPI) from the confirmed card.
//!
//! The model gets the card's facts as short lines and writes one paragraph from them. The caller
//! checks the draft against the card (no symptom, number or finding the card does not hold) and
//! uses the deterministic text whenever the model is missing, too slow, or its draft fails.

use protocol::Lang;

use crate::{GenConfig, chat_prompt};

/// The fixed instructions (read once, then cached).
pub fn system(lang: Lang) -> &'static str {
    match lang {
        Lang::Zh => {
            "你是分诊护士的助手。把病情要点写成一段通顺的现病史，3到5句话，以“患者”开头。\
只使用列出的内容，不要增加任何症状、数字、诊断、病因或建议；“否认”后面的症状写成否认，不能写成有。只输出这段话。"
        }
        Lang::En => {
            "You help a triage nurse. Turn the facts into one fluent history of present illness of 3 to 5 \
sentences, starting with \"The patient\". Use only the facts: add no symptom, number, diagnosis, cause or \
advice. Symptoms after \"Denies\" are denied and must be written as denied. Output only the paragraph."
        }
    }
}

/// One worked example per language (facts, then the paragraph), read with the instructions.
fn example(lang: Lang) -> (&'static str, &'static str) {
    match lang {
        Lang::Zh => (
            "患者：女，40岁\n主诉：头痛2天\n起病：两天前\n部位：后脑勺\n性质：胀痛\n加重因素：弯腰\n\
程度(0-10)：5分\n伴随症状：恶心\n否认：发热、呕吐\n既往史：高血压\n用药：氨氯地平\n过敏史：无",
            "患者女，40岁，因头痛2天就诊。两天前起病，部位在后脑勺，呈胀痛，弯腰时加重，程度5分。\
伴恶心，否认发热、呕吐。既往有高血压，服用氨氯地平，无过敏史。",
        ),
        Lang::En => (
            "Patient: female, 40 years\nChief complaint: Headache for 2 days\nOnset: two days ago\n\
Location: the back of my head\nCharacter: pressing\nAggravating: bending over\n\
Severity (0-10): 5 out of 10\nAlso reports: nausea\nDenies: fever, vomiting\n\
Past history: high blood pressure\nMedications: amlodipine\nAllergies: none",
            "The patient is a 40-year-old woman with a headache for 2 days. It began two days ago. \
The pain is at the back of the head, pressing, worse on bending over, and rated 5 out of 10. The \
patient also reports nausea and denies fever and vomiting. Past history of high blood pressure; \
takes amlodipine; no allergies.",
        ),
    }
}

/// The words of the worked example that a draft must not repeat unless the card holds them too
/// (a small model copies its example: "at the back of the head" for a urinary complaint).
pub fn example_phrases(lang: Lang) -> &'static [&'static str] {
    match lang {
        Lang::Zh => &["后脑勺", "胀痛", "弯腰", "恶心", "高血压", "氨氯地平", "头痛", "40岁", "2天", "两天"],
        Lang::En => &[
            "back of the head",
            "pressing",
            "bending over",
            "nausea",
            "high blood pressure",
            "amlodipine",
            "headache",
            "40-year-old",
            "2 days",
            "two days",
        ],
    }
}

/// The prompt for a card's facts (one fact per line).
pub fn prompt(lang: Lang, facts: &[String]) -> String {
    let (facts_example, paragraph_example) = example(lang);
    chat_prompt(system(lang), &[facts_example, paragraph_example, &facts.join("\n")])
}

/// The instructions and the example alone, for warming the cache.
pub fn warm_prompt(lang: Lang) -> String {
    let (facts_example, paragraph_example) = example(lang);
    let full = chat_prompt(system(lang), &[facts_example, paragraph_example]);
    full.trim_end_matches("<|im_start|>assistant\n").to_owned() + "<|im_start|>user\n"
}

/// Generation settings: greedy, one paragraph (a line break ends it), at most a few sentences.
pub fn config() -> GenConfig {
    GenConfig { max_tokens: 160, temperature: None, stop: vec!["\n".into()], ..GenConfig::default() }
}

/// The paragraph as it goes on the card: trimmed, and cut after its last whole sentence when the
/// token budget ended it mid-sentence.
pub fn clean(draft: &str) -> String {
    let draft = draft.trim();
    if draft.ends_with(['。', '.', '！', '!', '？', '?']) {
        return draft.to_owned();
    }
    // The end of the last whole sentence (a full stop followed by a space, not a decimal point).
    let end = draft
        .char_indices()
        .rev()
        .find(|&(i, c)| match c {
            '。' | '！' | '？' => true,
            '.' | '!' | '?' => draft[i + 1..].starts_with(' '),
            _ => false,
        })
        .map(|(i, c)| i + c.len_utf8());
    end.map_or_else(|| draft.to_owned(), |e| draft[..e].to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_keeps_whole_sentences() {
        assert_eq!(clean("  患者胸痛两小时。伴出汗。 "), "患者胸痛两小时。伴出汗。");
        assert_eq!(clean("患者胸痛两小时。伴出"), "患者胸痛两小时。");
        assert_eq!(clean("The patient has chest pain. It start"), "The patient has chest pain.");
        assert_eq!(clean("no stop at all"), "no stop at all");
        assert_eq!(clean("Temperature 38.5 C. Then 37"), "Temperature 38.5 C.");
    }

    #[test]
    fn the_warm_prompt_is_the_start_of_every_prompt() {
        for lang in [Lang::Zh, Lang::En] {
            assert!(prompt(lang, &["a".into()]).starts_with(&warm_prompt(lang)));
        }
    }
}
