//! Types that cross thread and crate boundaries. This crate is a leaf: it compiles in seconds and
//! depends on nothing heavy, so every other crate can share these definitions.

use std::fmt;

use serde::{Deserialize, Serialize};

pub mod card;
pub mod stats;

pub use card::{
    Age, AnswerSource, Bilingual, CARD_SCHEMA_VERSION, ChiefComplaint, ConditionCard, Correction, Department,
    Disposition, Finding, HistoryEntry, PatientInfo, Provenance, QuestionKind, RedFlagHit, Respondent, Sex,
    Slot, SlotEntry, Timings, Triage, TriageReason,
};

/// A language the kiosk speaks with the patient.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    /// Mandarin Chinese, Simplified characters.
    Zh,
    /// English.
    En,
}

impl Lang {
    /// ISO 639-1 code (`zh`, `en`), also whisper's language code.
    pub fn code(self) -> &'static str {
        match self {
            Self::Zh => "zh",
            Self::En => "en",
        }
    }

    /// Parses an ISO 639-1 code.
    pub fn from_code(code: &str) -> Option<Self> {
        match code.trim().to_ascii_lowercase().as_str() {
            "zh" | "cmn" | "zh-cn" | "zh-hans" => Some(Self::Zh),
            "en" | "en-us" | "en-gb" => Some(Self::En),
            _ => None,
        }
    }
}

impl fmt::Display for Lang {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// Text that came from or is about a patient (a transcript, an answer, a card line).
///
/// Its `Debug` and `Display` print only the length, so patient text cannot reach a log by accident;
/// code that really needs the words calls [`PatientText::expose`].
#[derive(Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PatientText(String);

impl PatientText {
    /// Wraps patient text.
    pub fn new(text: impl Into<String>) -> Self {
        Self(text.into())
    }

    /// The words themselves. Never pass the result to a logging macro.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Unwraps the text.
    pub fn into_inner(self) -> String {
        self.0
    }

    /// Whether the text is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for PatientText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PatientText({} chars)", self.0.chars().count())
    }
}

impl fmt::Display for PatientText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{} chars redacted]", self.0.chars().count())
    }
}

impl From<&str> for PatientText {
    fn from(s: &str) -> Self {
        Self::new(s)
    }
}

impl From<String> for PatientText {
    fn from(s: String) -> Self {
        Self(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patient_text_never_prints_its_words() {
        let text = PatientText::new("胸口疼三天");
        assert_eq!(format!("{text:?}"), "PatientText(5 chars)");
        assert_eq!(format!("{text}"), "[5 chars redacted]");
        assert_eq!(text.expose(), "胸口疼三天");
    }

    #[test]
    fn language_codes_round_trip() {
        for lang in [Lang::Zh, Lang::En] {
            assert_eq!(Lang::from_code(lang.code()), Some(lang));
        }
        assert_eq!(Lang::from_code("fr"), None);
    }
}
