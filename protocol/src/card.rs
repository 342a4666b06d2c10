//! The condition card (病情卡片): the one versioned, serialised output of an interview.
//!
//! Free text the patient said is stored as [`PatientText`], so a card can be logged by accident
//! only as lengths. Every answer carries its [`Provenance`].

use serde::{Deserialize, Serialize};

use crate::{Lang, PatientText};

/// Version of the card schema; bump on any incompatible change.
pub const CARD_SCHEMA_VERSION: &str = "1.0";

/// A text in both kiosk languages.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bilingual {
    /// Mandarin (Simplified).
    pub zh: String,
    /// English.
    pub en: String,
}

impl Bilingual {
    /// Both texts.
    pub fn new(zh: impl Into<String>, en: impl Into<String>) -> Self {
        Self { zh: zh.into(), en: en.into() }
    }

    /// The text in `lang`.
    pub fn get(&self, lang: Lang) -> &str {
        match lang {
            Lang::Zh => &self.zh,
            Lang::En => &self.en,
        }
    }
}

/// Department codes (a hospital maps them to its own clinics in config).
#[allow(missing_docs)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Department {
    Emergency,
    Cardiology,
    Respiratory,
    Gastroenterology,
    Neurology,
    GeneralInternal,
    GeneralSurgery,
    Orthopedics,
    Gynecology,
    Obstetrics,
    Pediatrics,
    Ent,
    Ophthalmology,
    Dermatology,
    Urology,
    Endocrinology,
    Psychiatry,
    FeverClinic,
    Dental,
    Rheumatology,
    Nephrology,
    Hematology,
    InfectiousDisease,
}

impl Department {
    /// Every code, in a stable order.
    pub const ALL: [Self; 23] = [
        Self::Emergency,
        Self::Cardiology,
        Self::Respiratory,
        Self::Gastroenterology,
        Self::Neurology,
        Self::GeneralInternal,
        Self::GeneralSurgery,
        Self::Orthopedics,
        Self::Gynecology,
        Self::Obstetrics,
        Self::Pediatrics,
        Self::Ent,
        Self::Ophthalmology,
        Self::Dermatology,
        Self::Urology,
        Self::Endocrinology,
        Self::Psychiatry,
        Self::FeverClinic,
        Self::Dental,
        Self::Rheumatology,
        Self::Nephrology,
        Self::Hematology,
        Self::InfectiousDisease,
    ];

    /// The snake_case code (`general_internal`).
    pub fn code(self) -> &'static str {
        match self {
            Self::Emergency => "emergency",
            Self::Cardiology => "cardiology",
            Self::Respiratory => "respiratory",
            Self::Gastroenterology => "gastroenterology",
            Self::Neurology => "neurology",
            Self::GeneralInternal => "general_internal",
            Self::GeneralSurgery => "general_surgery",
            Self::Orthopedics => "orthopedics",
            Self::Gynecology => "gynecology",
            Self::Obstetrics => "obstetrics",
            Self::Pediatrics => "pediatrics",
            Self::Ent => "ent",
            Self::Ophthalmology => "ophthalmology",
            Self::Dermatology => "dermatology",
            Self::Urology => "urology",
            Self::Endocrinology => "endocrinology",
            Self::Psychiatry => "psychiatry",
            Self::FeverClinic => "fever_clinic",
            Self::Dental => "dental",
            Self::Rheumatology => "rheumatology",
            Self::Nephrology => "nephrology",
            Self::Hematology => "hematology",
            Self::InfectiousDisease => "infectious_disease",
        }
    }

    /// Parses a code.
    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.code() == code)
    }
}

/// Where the patient should go, and how fast.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Disposition {
    /// Now, to the emergency department (triage levels 1-2).
    Emergency,
    /// Today, promptly (level 3).
    Urgent,
    /// A regular clinic visit (level 4).
    Routine,
    /// Can be managed at home with advice (level 4, a protocol's self-care rule holds).
    SelfCare,
}

impl Disposition {
    /// The snake_case code.
    pub fn code(self) -> &'static str {
        match self {
            Self::Emergency => "emergency",
            Self::Urgent => "urgent",
            Self::Routine => "routine",
            Self::SelfCare => "self_care",
        }
    }

    /// Parses a code.
    pub fn from_code(code: &str) -> Option<Self> {
        [Self::Emergency, Self::Urgent, Self::Routine, Self::SelfCare].into_iter().find(|d| d.code() == code)
    }

    /// Urgency rank: 0 = most urgent.
    pub fn rank(self) -> u8 {
        match self {
            Self::Emergency => 0,
            Self::Urgent => 1,
            Self::Routine => 2,
            Self::SelfCare => 3,
        }
    }
}

/// Patient's sex as reported.
#[allow(missing_docs)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Sex {
    Female,
    Male,
}

/// The OLDCARTS history slots.
#[allow(missing_docs)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Slot {
    Onset,
    Location,
    Duration,
    Character,
    Aggravating,
    Relieving,
    Radiation,
    Timing,
    Severity,
}

impl Slot {
    /// All slots in OLDCARTS order.
    pub const ALL: [Self; 9] = [
        Self::Onset,
        Self::Location,
        Self::Duration,
        Self::Character,
        Self::Aggravating,
        Self::Relieving,
        Self::Radiation,
        Self::Timing,
        Self::Severity,
    ];

    /// Lower-case name (`onset`).
    pub fn code(self) -> &'static str {
        match self {
            Self::Onset => "onset",
            Self::Location => "location",
            Self::Duration => "duration",
            Self::Character => "character",
            Self::Aggravating => "aggravating",
            Self::Relieving => "relieving",
            Self::Radiation => "radiation",
            Self::Timing => "timing",
            Self::Severity => "severity",
        }
    }

    /// Parses a name.
    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.code() == code)
    }

    /// Label for people.
    pub fn label(self) -> Bilingual {
        let (zh, en) = match self {
            Self::Onset => ("起病", "Onset"),
            Self::Location => ("部位", "Location"),
            Self::Duration => ("持续时间", "Duration"),
            Self::Character => ("性质", "Character"),
            Self::Aggravating => ("加重因素", "Aggravating"),
            Self::Relieving => ("缓解因素", "Relieving"),
            Self::Radiation => ("放射", "Radiation"),
            Self::Timing => ("时间特点", "Timing"),
            Self::Severity => ("程度(0-10)", "Severity (0-10)"),
        };
        Bilingual::new(zh, en)
    }
}

/// What a question asks about (also what the evaluation's simulated patient answers).
#[allow(missing_docs)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QuestionKind {
    Opening,
    Symptom,
    Onset,
    Duration,
    Location,
    Character,
    Severity,
    Aggravating,
    Relieving,
    Radiation,
    Timing,
    History,
    Medications,
    Allergies,
    Pregnancy,
    Age,
    Sex,
    Temperature,
    Confirm,
    Other,
}

impl QuestionKind {
    /// The slot this kind fills, if it is an OLDCARTS slot.
    pub fn slot(self) -> Option<Slot> {
        Some(match self {
            Self::Onset => Slot::Onset,
            Self::Duration => Slot::Duration,
            Self::Location => Slot::Location,
            Self::Character => Slot::Character,
            Self::Severity => Slot::Severity,
            Self::Aggravating => Slot::Aggravating,
            Self::Relieving => Slot::Relieving,
            Self::Radiation => Slot::Radiation,
            Self::Timing => Slot::Timing,
            _ => return None,
        })
    }

    /// The question kind that fills `slot`.
    pub fn for_slot(slot: Slot) -> Self {
        match slot {
            Slot::Onset => Self::Onset,
            Slot::Duration => Self::Duration,
            Slot::Location => Self::Location,
            Slot::Character => Self::Character,
            Slot::Severity => Self::Severity,
            Slot::Aggravating => Self::Aggravating,
            Slot::Relieving => Self::Relieving,
            Slot::Radiation => Self::Radiation,
            Slot::Timing => Self::Timing,
        }
    }
}

/// How an answer reached the card.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AnswerSource {
    /// Spoken or typed words.
    Words,
    /// A button on the touch screen.
    Touch,
    /// Worked out from another answer (for example duration from onset).
    Inferred,
    /// Changed by the patient at read-back.
    Correction,
    /// Changed by a nurse.
    Staff,
    /// Read by the on-device language model out of the patient's own words (checked to be them).
    Model,
}

/// Where a value on the card came from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Provenance {
    /// Interview turn (0 = the opening answer).
    pub turn: u32,
    /// Id of the question that was answered (`slot:onset`, `concept:sweating`, ...).
    pub question_id: String,
    /// The answer as given.
    pub answer: PatientText,
    /// Milliseconds since the session started.
    pub at_ms: u64,
    /// How it was given.
    pub source: AnswerSource,
}

/// An OLDCARTS slot value.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SlotEntry {
    /// Which slot.
    pub slot: Slot,
    /// The value in the patient's words (or a normalised phrase when inferred).
    pub text: PatientText,
    /// Normalised value when one was parsed: hours for onset/duration, 0-10 for severity.
    pub value: Option<f64>,
    /// Where it came from.
    pub provenance: Provenance,
}

/// A free-text history item (past history, medications, allergies).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    /// What the patient said.
    pub text: PatientText,
    /// The patient said there is nothing to report (否认).
    pub denied: bool,
    /// Where it came from.
    pub provenance: Provenance,
}

/// A symptom or finding asked about or volunteered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// Concept id from the vocabulary.
    pub concept: String,
    /// Display name.
    pub name: Bilingual,
    /// Present (true) or denied (false).
    pub present: bool,
    /// Where it came from.
    pub provenance: Provenance,
}

/// A red flag that fired.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RedFlagHit {
    /// Rule id (`RF-CHEST-ACS`).
    pub rule_id: String,
    /// The published source of the rule.
    pub source: String,
    /// What it means.
    pub title: Bilingual,
    /// Pre-triage level (1 or 2).
    pub level: u8,
    /// The facts that satisfied the rule (concept ids and derived facts).
    pub evidence: Vec<String>,
    /// What the patient was told to do.
    pub instruction: Bilingual,
    /// Milliseconds since the session started.
    pub at_ms: u64,
}

/// One reason that set or raised the triage level.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TriageReason {
    /// Rule id.
    pub rule_id: String,
    /// Level the rule sets.
    pub level: u8,
    /// Why, for people.
    pub text: Bilingual,
}

/// Triage outcome.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Triage {
    /// China pre-triage level, 1 (most urgent) to 4.
    pub level: u8,
    /// Where to go and how fast.
    pub disposition: Disposition,
    /// Recommended department.
    pub department: Department,
    /// Why that department.
    pub department_reason: Bilingual,
    /// Rules that set the level, most urgent first.
    pub reasons: Vec<TriageReason>,
    /// Self-care advice, when the disposition is self-care.
    pub advice: Option<Bilingual>,
}

/// Who answered the questions.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Respondent {
    /// The patient.
    Patient,
    /// Someone answering for the patient.
    Proxy {
        /// The relation as said ("son", "母亲").
        relation: String,
    },
}

/// Age with the unit it was given in.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Age {
    /// Age in days (exact for babies, approximate for adults).
    pub days: f64,
}

impl Age {
    /// Age in whole and fractional years.
    pub fn years(self) -> f64 {
        self.days / 365.25
    }

    /// From years.
    pub fn from_years(years: f64) -> Self {
        Self { days: years * 365.25 }
    }

    /// "35岁" / "35 years", "3个月" / "3 months", "20天" / "20 days".
    pub fn describe(self) -> Bilingual {
        let days = self.days;
        if days < 31.0 {
            let d = days.round() as i64;
            Bilingual::new(format!("{d}天"), format!("{d} days"))
        } else if days < 730.0 {
            let m = (days / 30.44).floor().max(1.0) as i64;
            Bilingual::new(format!("{m}个月"), format!("{m} months"))
        } else {
            let y = self.years().floor() as i64;
            Bilingual::new(format!("{y}岁"), format!("{y} years"))
        }
    }
}

/// Patient facts.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PatientInfo {
    /// Age, if given.
    pub age: Option<Age>,
    /// Sex, if given.
    pub sex: Option<Sex>,
    /// Pregnant, if asked (None: not asked or unknown).
    pub pregnant: Option<bool>,
    /// Highest measured temperature in Celsius, if given.
    pub temperature_c: Option<f32>,
}

/// The chief complaint in 主诉 style: main symptom and duration, no diagnosis words.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChiefComplaint {
    /// Protocol that ran.
    pub protocol_id: String,
    /// The symptom concept the patient named, when one selected the protocol.
    pub concept: Option<String>,
    /// Protocol version.
    pub protocol_version: String,
    /// 主诉, at most 20 characters.
    pub zh: String,
    /// English equivalent.
    pub en: String,
}

/// A change made after the read-back.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Correction {
    /// Field changed (`slot:onset`, `finding:sweating`, `history`, ...).
    pub field: String,
    /// Value before.
    pub before: PatientText,
    /// Value after.
    pub after: PatientText,
    /// Who changed it.
    pub by: AnswerSource,
    /// Milliseconds since the session started.
    pub at_ms: u64,
}

/// Interview timings.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timings {
    /// Session start, Unix milliseconds.
    pub started_unix_ms: u64,
    /// Milliseconds from start to the card being complete (or the red flag).
    pub elapsed_ms: u64,
    /// Questions asked after the opening.
    pub n_questions: u32,
}

/// The condition card.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConditionCard {
    /// [`CARD_SCHEMA_VERSION`].
    pub schema_version: String,
    /// Unique id.
    pub card_id: String,
    /// Kiosk that made it.
    pub kiosk_id: String,
    /// Interview language.
    pub language: Lang,
    /// Who answered.
    pub respondent: Respondent,
    /// Age, sex, pregnancy, temperature.
    pub patient: PatientInfo,
    /// 主诉.
    pub chief_complaint: ChiefComplaint,
    /// History of present illness (现病史), written deterministically from the slots.
    pub hpi: Bilingual,
    /// OLDCARTS slots that were filled.
    pub slots: Vec<SlotEntry>,
    /// Symptoms present and pertinent negatives.
    pub findings: Vec<Finding>,
    /// Past history.
    pub history: Option<HistoryEntry>,
    /// Current medications.
    pub medications: Option<HistoryEntry>,
    /// Allergies.
    pub allergies: Option<HistoryEntry>,
    /// Red flags that fired.
    pub red_flags: Vec<RedFlagHit>,
    /// Level, disposition, department.
    pub triage: Triage,
    /// Share of the protocol's slots and history items that were answered, 0-1.
    pub completeness: f32,
    /// Timings.
    pub timings: Timings,
    /// Changes after read-back.
    pub corrections: Vec<Correction>,
    /// The patient confirmed the read-back.
    pub confirmed: bool,
    /// The number on the patient's hand-off slip (`A012`), given when the card is committed, so
    /// the nurse can call the patient by it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_number: Option<String>,
    /// The 现病史 / HPI in this language was drafted by the language model from the card's facts
    /// and passed the check against them; `None`: both texts are the deterministic ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hpi_drafted: Option<Lang>,
}

impl ConditionCard {
    /// The slot entry for `slot`.
    pub fn slot(&self, slot: Slot) -> Option<&SlotEntry> {
        self.slots.iter().find(|s| s.slot == slot)
    }

    /// Findings present.
    pub fn positives(&self) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(|f| f.present)
    }

    /// Pertinent negatives.
    pub fn negatives(&self) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(|f| !f.present)
    }
}
