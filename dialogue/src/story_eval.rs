//! Evaluation of reading the opening story into slots: the engine's rules and embeddings alone,
//! and merged with a language model's reading ([`Interview::merge_story`]). A story case names
//! the slots the story states, in the patient's words (`dialogue/cases/story_cases.jsonl`).
//!
//! A predicted slot counts as correct when it is a gold slot and its text means the same
//! ([`crate::interview::same_meaning`]: most characters or words shared); a slot predicted with
//! other words counts as a false positive and a miss. Slots cleared because the two readings
//! disagreed (the patient will be asked) are reported apart.

use std::collections::BTreeMap;
use std::sync::Arc;

use protocol::{Lang, PatientText, Slot};
use serde::{Deserialize, Serialize};

use crate::interview::{Engine, Input, StoryMerge, same_meaning};

/// The project's story cases.
pub const STORY_CASES: &str = include_str!("../cases/story_cases.jsonl");

/// A story and the slots it states.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StoryCase {
    /// Case id.
    pub id: String,
    /// Language.
    pub lang: Lang,
    /// What the patient says at the opening question.
    pub story: String,
    /// Slot code -> the patient's words for it.
    pub slots: BTreeMap<String, String>,
}

/// Parses story cases (JSON lines); the error names the line.
pub fn parse_story_cases(text: &str) -> Result<Vec<StoryCase>, String> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| serde_json::from_str(l).map_err(|e| format!("line {}: {e}", i + 1)))
        .collect()
}

/// Counts for precision, recall and F1.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct SlotScore {
    /// Right slot, same meaning.
    pub correct: usize,
    /// Predicted, but not a gold slot or other words.
    pub wrong: usize,
    /// Gold slots not predicted correctly.
    pub missed: usize,
}

impl SlotScore {
    /// Adds another case's counts.
    pub fn add(&mut self, other: Self) {
        self.correct += other.correct;
        self.wrong += other.wrong;
        self.missed += other.missed;
    }

    /// Precision.
    pub fn precision(&self) -> f64 {
        let p = self.correct + self.wrong;
        if p == 0 { 0.0 } else { self.correct as f64 / p as f64 }
    }

    /// Recall.
    pub fn recall(&self) -> f64 {
        let g = self.correct + self.missed;
        if g == 0 { 0.0 } else { self.correct as f64 / g as f64 }
    }

    /// F1.
    pub fn f1(&self) -> f64 {
        let (p, r) = (self.precision(), self.recall());
        if p + r == 0.0 { 0.0 } else { 2.0 * p * r / (p + r) }
    }
}

/// Scores `predicted` slots against a case's gold slots.
pub fn score(case: &StoryCase, predicted: &[(Slot, String)]) -> SlotScore {
    let mut s = SlotScore::default();
    for (slot, text) in predicted {
        match case.slots.get(slot.code()) {
            Some(gold) if same_meaning(gold, text) => s.correct += 1,
            _ => s.wrong += 1,
        }
    }
    s.missed = case.slots.len() - s.correct;
    s
}

/// The slots the engine reads from the story as the opening answer, then (when given) merged with
/// a model's reading; and what the merge did.
pub fn read_story(
    engine: &Arc<Engine>,
    case: &StoryCase,
    model: Option<&[(Slot, String, Option<f64>)]>,
) -> (Vec<(Slot, String)>, StoryMerge) {
    let (mut interview, _) = engine.start(case.lang, &format!("story-{}", case.id), 0);
    interview.handle(Input::Text(PatientText::new(case.story.clone())), 5_000);
    let merge = model.map(|m| interview.merge_story(m)).unwrap_or_default();
    let slots = interview.card().slots.into_iter().map(|e| (e.slot, e.text.expose().to_owned())).collect();
    (slots, merge)
}
