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
            "你是分诊护士的助手。根据下面列出的病情要点，用简体中文写一段现病史，2到4句话，以“患者”开头。\
只使用列出的内容，不要增加任何症状、数字、诊断或建议；列为“无”的症状写成“否认”。只输出这段话。"
        }
        Lang::En => {
            "You help a triage nurse. From the facts listed, write the history of present illness as \
one paragraph of 2 to 4 sentences, starting with \"The patient\". Use only the facts listed: add no \
symptom, number, diagnosis or advice; facts marked \"no\" are denied symptoms. Output only the paragraph."
        }
    }
}

/// The prompt for a card's facts (one fact per line).
pub fn prompt(lang: Lang, facts: &[String]) -> String {
    chat_prompt(system(lang), &[&facts.join("\n")])
}

/// The instructions alone, for warming the cache.
pub fn warm_prompt(lang: Lang) -> String {
    format!("<|im_start|>system\n{}<|im_end|>\n<|im_start|>user\n", system(lang))
}

/// Generation settings: greedy, at most a paragraph.
pub fn config() -> GenConfig {
    GenConfig { max_tokens: 180, temperature: None, stop: vec!["\n\n".into()], ..GenConfig::default() }
}
