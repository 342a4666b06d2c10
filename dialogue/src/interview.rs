//! One patient's interview as a pure state machine: [`Interview::handle`] takes an answer (words
//! or a tap) and the time, and returns what to say, the next question, and any staff alert.
//!
//! Order of questions, the way a guide nurse asks: what brings you here; age, sex and pregnancy;
//! the complaint's red-flag screening questions; its OLDCARTS slots; department follow-ups; past
//! history, medicines and allergies; then the read-back, which the patient confirms or corrects.
//! Red-flag rules run after every answer and stop the interview at once.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use protocol::{
    Age, AnswerSource, Bilingual, ConditionCard, Correction, Department, HistoryEntry, Lang, PatientText,
    Provenance, QuestionKind, RedFlagHit, Respondent, Sex, Slot, SlotEntry,
};

use crate::kb::{Facts, KnowledgeBase, Protocol, Text, eval_any};
use crate::nlu::{self, Analyzer, ConceptHit, Utterance, YesNo, numbers};

/// Women of these ages are asked about pregnancy.
const PREGNANCY_AGE_YEARS: std::ops::Range<f64> = 12.0..55.0;
/// Longest answer analysed, in characters: nobody says more in one turn, and a flood of text must
/// not stall the engine.
pub const MAX_ANSWER_CHARS: usize = 1_000;
/// Temperature from which "fever" counts as present.
const FEVER_C: f32 = 37.3;
/// History concepts taken from answers about past history and medicines.
const HISTORY_CONCEPTS: &[&str] = &[
    "hypertension",
    "diabetes",
    "heart_disease",
    "asthma_copd",
    "epilepsy_history",
    "anticoagulant",
    "takes_bp_medication",
    "recent_surgery",
    "pregnant",
];

/// A plug-in for free text the rules miss (sentence embeddings, a later component). It may add
/// evidence; it can never remove a red flag or lower a level, because the rules run on its output
/// like on any other evidence and fired red flags are never cleared.
pub trait SemanticMatcher: Send + Sync {
    /// Concepts meant by `text` with a similarity score (0-1), best first.
    fn concepts(&self, text: &str, lang: Lang) -> Vec<(String, f32)>;
    /// How much `text` means `concept` (0-1), when the matcher can say.
    fn concept_score(&self, text: &str, lang: Lang, concept: &str) -> Option<f32> {
        self.concepts(text, lang).into_iter().find(|(id, _)| id == concept).map(|(_, s)| s)
    }
    /// Score above which a match is accepted.
    fn threshold(&self) -> f32;
}

/// How far above the semantic threshold a concept must score to be recorded from an opening
/// when it did not choose the complaint.
const SEMANTIC_FINDING_MARGIN: f32 = 0.10;

/// How far above the semantic threshold a concept a red-flag rule looks at must score to be
/// recorded from an opening.
const SEMANTIC_RED_FLAG_MARGIN: f32 = 0.20;
/// How close below the matcher's best guess, when that names a complaint only weakly (poor sleep),
/// another guess that names one surely must score to be chosen instead.
const SEMANTIC_WEAK_MARGIN: f32 = 0.05;

/// Tunables of the interview.
#[derive(Clone, Debug)]
pub struct InterviewConfig {
    /// This kiosk's id (written on the card).
    pub kiosk_id: String,
    /// At most this many department follow-up questions.
    pub max_followups: usize,
    /// Times the opening is asked again when no complaint is recognised.
    pub max_opening_retries: usize,
    /// Times a question is asked again when the answer is not understood.
    pub max_reasks: usize,
}

impl Default for InterviewConfig {
    fn default() -> Self {
        Self { kiosk_id: "kiosk".into(), max_followups: 2, max_opening_retries: 1, max_reasks: 1 }
    }
}

/// The shared, read-only part: knowledge base and compiled matcher.
pub struct Engine {
    /// Clinical content.
    pub kb: Arc<KnowledgeBase>,
    analyzer: Analyzer,
    /// Concepts a red-flag rule looks at: a semantic match records one from an opening only when
    /// it is clearly meant, because a wrong one stops the interview and calls staff.
    red_flag_concepts: std::collections::HashSet<String>,
    semantic: Option<Arc<dyn SemanticMatcher>>,
    config: InterviewConfig,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("protocols", &self.kb.protocols.len())
            .field("semantic", &self.semantic.is_some())
            .finish()
    }
}

impl Engine {
    /// Compiles the matcher for `kb`.
    pub fn new(kb: Arc<KnowledgeBase>, config: InterviewConfig) -> Self {
        let analyzer = Analyzer::new(&kb);
        let red_flag_concepts = kb.red_flag_concepts().into_iter().map(str::to_owned).collect();
        Self { kb, analyzer, red_flag_concepts, semantic: None, config }
    }

    /// Adds a semantic matcher behind the rules.
    pub fn with_semantic(mut self, matcher: Arc<dyn SemanticMatcher>) -> Self {
        self.semantic = Some(matcher);
        self
    }

    /// The rule matcher.
    pub fn analyzer(&self) -> &Analyzer {
        &self.analyzer
    }

    /// Starts an interview: returns it and its first question.
    pub fn start(self: &Arc<Self>, lang: Lang, card_id: &str, started_unix_ms: u64) -> (Interview, Reply) {
        let mut interview = Interview::new(Arc::clone(self), lang, card_id, started_unix_ms);
        let question = interview.make_question(Ask::Opening);
        interview.current = Some(question.clone());
        let reply =
            Reply { say: Vec::new(), question: Some(question), alert: None, phase: Phase::Interviewing };
        (interview, reply)
    }
}

/// What kind of answer a question expects (the UI shows matching buttons; the speech front end
/// uses it to choose the end-of-turn delay).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    /// A story.
    FreeText,
    /// Yes or no.
    YesNo,
    /// 0-10.
    Rating,
    /// An age.
    Age,
    /// Male or female.
    Sex,
    /// A temperature.
    Temperature,
    /// A time or duration.
    Duration,
    /// Yes, or what to change.
    Confirm,
}

/// A question to put to the patient.
#[derive(Clone, Debug, PartialEq)]
pub struct Question {
    /// Stable id (`slot:onset`, `concept:sweating`, `age`).
    pub id: String,
    /// What it asks about.
    pub kind: QuestionKind,
    /// For symptom questions: the concept and its names in both languages.
    pub concept: Option<ConceptRef>,
    /// The words, in the session language.
    pub text: String,
    /// Answer format.
    pub expect: Expect,
}

/// A symptom concept as exposed with a question.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConceptRef {
    /// Concept id.
    pub id: String,
    /// Names in Mandarin.
    pub names_zh: Vec<String>,
    /// Names in English.
    pub names_en: Vec<String>,
}

/// A tap on the touch screen.
#[derive(Clone, Debug, PartialEq)]
pub enum Touch {
    /// Yes.
    Yes,
    /// No.
    No,
    /// Don't know.
    DontKnow,
    /// A 0-10 rating (pain faces).
    Rating(u8),
    /// Sex.
    Sex(Sex),
    /// Age in years.
    AgeYears(f64),
    /// Age in months (babies).
    AgeMonths(f64),
    /// A common duration, in hours.
    DurationHours(f64),
    /// A labelled option (body region, answer chip), as text.
    Option(String),
}

/// Slots the red-flag and triage rules read: never filled by a language model.
pub const RULE_SLOTS: [Slot; 3] = [Slot::Onset, Slot::Duration, Slot::Severity];

/// What [`Interview::merge_story`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StoryMerge {
    /// Slots filled from the story.
    pub added: Vec<Slot>,
    /// Slots where the rules and the model read the story differently: cleared, to be asked.
    pub disagreed: Vec<Slot>,
    /// Values refused: a time or a rating given as a description, or words given for two slots.
    pub refused: Vec<Slot>,
}

/// Whether two readings of the same words agree: they share most of their characters (Han) or
/// words, or one contains the other.
pub fn same_meaning(a: &str, b: &str) -> bool {
    let (a, b) = (a.trim().to_lowercase(), b.trim().to_lowercase());
    if a.is_empty() || b.is_empty() {
        return false;
    }
    if a.contains(&b) || b.contains(&a) {
        return true;
    }
    let units = |s: &str| -> Vec<String> {
        if s.chars().any(nlu::is_han) {
            s.chars().filter(|c| nlu::is_han(*c) || c.is_ascii_digit()).map(String::from).collect()
        } else {
            s.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_owned).collect()
        }
    };
    let (ua, ub) = (units(&a), units(&b));
    let shorter = ua.len().min(ub.len());
    if shorter == 0 {
        return false;
    }
    let (small, large) = if ua.len() <= ub.len() { (&ua, &ub) } else { (&ub, &ua) };
    let shared = small.iter().filter(|u| large.contains(u)).count();
    shared * 2 >= shorter
}

/// Input to the interview.
#[derive(Clone, Debug)]
pub enum Input {
    /// Words, spoken (after recognition) or typed.
    Text(PatientText),
    /// A tap.
    Touch(Touch),
    /// "Say that again."
    Repeat,
    /// A correction of one field after the read-back (touch UI: tap a line, give the new value).
    Correct {
        /// Field id (`slot:onset`, `finding:sweating`, `history`, `medications`, `allergies`, `age`, `sex`).
        field: String,
        /// The new value.
        text: PatientText,
    },
}

/// Where the interview stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Asking questions.
    Interviewing,
    /// The card was read back; waiting for confirmation.
    ReadBack,
    /// A red flag stopped the interview.
    Emergency,
    /// Confirmed: the card can be sent.
    Complete,
}

/// A staff alert raised by a red flag.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StaffAlert {
    /// Rule id.
    pub rule_id: String,
    /// Level (1 or 2).
    pub level: u8,
    /// What it means.
    pub title: Bilingual,
}

/// What the kiosk does next.
#[derive(Clone, Debug)]
pub struct Reply {
    /// Sentences to speak and show, in order, before the question.
    pub say: Vec<String>,
    /// The next question, if any.
    pub question: Option<Question>,
    /// A red flag fired: alert staff now.
    pub alert: Option<StaffAlert>,
    /// Phase after this turn.
    pub phase: Phase,
}

/// One question and its answer, for the card's provenance and the evaluation transcript.
#[derive(Clone, Debug)]
pub struct Exchange {
    /// The question.
    pub question: Question,
    /// The answer (None for a repeat request).
    pub answer: Option<PatientText>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Ask {
    Opening,
    OpeningRetry,
    Age,
    Sex,
    Pregnancy,
    Temperature,
    Slot(Slot),
    History,
    Medications,
    Allergies,
    Confirm,
    WhichCorrection,
}

#[derive(Clone, Debug)]
struct Evidence {
    present: bool,
    provenance: Provenance,
}

/// A running interview.
#[derive(Clone)]
pub struct Interview {
    engine: Arc<Engine>,
    lang: Lang,
    card_id: String,
    started_unix_ms: u64,
    phase: Phase,
    current: Option<Question>,
    turn: u32,
    last_at_ms: u64,
    n_questions: u32,
    reasks: usize,
    opening_retries: usize,
    protocol_id: Option<String>,
    /// The concept that selected the protocol: the chief complaint names what the patient said.
    trigger: Option<String>,
    evidence: BTreeMap<String, Evidence>,
    slots: BTreeMap<Slot, SlotEntry>,
    age_days: Option<f64>,
    sex: Option<Sex>,
    pregnant: Option<bool>,
    temperature_c: Option<f32>,
    history: Option<HistoryEntry>,
    medications: Option<HistoryEntry>,
    allergies: Option<HistoryEntry>,
    respondent: Respondent,
    asked: BTreeSet<String>,
    followups_asked: usize,
    red_flags: Vec<RedFlagHit>,
    corrections: Vec<Correction>,
    pending_correction: Option<String>,
    exchanges: Vec<Exchange>,
    /// A checked 现病史 drafted by the language model, and the facts it was drafted from.
    narrative: Option<(Vec<String>, String)>,
}

impl std::fmt::Debug for Interview {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Interview")
            .field("phase", &self.phase)
            .field("turn", &self.turn)
            .field("protocol", &self.protocol_id)
            .field("n_questions", &self.n_questions)
            .finish_non_exhaustive()
    }
}

impl Interview {
    fn new(engine: Arc<Engine>, lang: Lang, card_id: &str, started_unix_ms: u64) -> Self {
        Self {
            engine,
            lang,
            card_id: card_id.to_owned(),
            started_unix_ms,
            phase: Phase::Interviewing,
            current: None,
            turn: 0,
            last_at_ms: 0,
            n_questions: 0,
            reasks: 0,
            opening_retries: 0,
            protocol_id: None,
            trigger: None,
            evidence: BTreeMap::new(),
            slots: BTreeMap::new(),
            age_days: None,
            sex: None,
            pregnant: None,
            temperature_c: None,
            history: None,
            medications: None,
            allergies: None,
            respondent: Respondent::Patient,
            asked: BTreeSet::new(),
            followups_asked: 0,
            red_flags: Vec::new(),
            corrections: Vec::new(),
            pending_correction: None,
            exchanges: Vec::new(),
            narrative: None,
        }
    }

    /// Session language.
    pub fn lang(&self) -> Lang {
        self.lang
    }

    /// Current phase.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// The question waiting for an answer.
    pub fn current_question(&self) -> Option<&Question> {
        self.current.as_ref()
    }

    /// Questions asked after the opening.
    pub fn n_questions(&self) -> u32 {
        self.n_questions
    }

    /// Every question and answer so far.
    pub fn exchanges(&self) -> &[Exchange] {
        &self.exchanges
    }

    /// Red flags fired.
    pub fn red_flags(&self) -> &[RedFlagHit] {
        &self.red_flags
    }

    fn kb(&self) -> &KnowledgeBase {
        &self.engine.kb
    }

    fn t(&self, text: &Text) -> String {
        text.get(self.lang).to_owned()
    }

    fn protocol(&self) -> &Protocol {
        let kb = self.kb();
        let chosen = self
            .protocol_id
            .as_deref()
            .and_then(|id| kb.protocol(id))
            .unwrap_or_else(|| kb.general_protocol());
        // Age variants of one complaint (fever: infant, child, adult) follow the patient's age.
        match &chosen.group {
            Some(group) => kb
                .protocols
                .iter()
                .filter(|p| p.group.as_deref() == Some(group))
                .find(|p| p.fits_age(self.age_days))
                .unwrap_or(chosen),
            None => chosen,
        }
    }

    /// Merges slot facts a language model read from the patient's opening story (the caller has
    /// checked they are the patient's own words). An empty slot is filled (source: model); a slot
    /// the opening's rules filled with something else is a disagreement: it is cleared, so the
    /// interview asks the patient. A slot the patient answered directly is never touched, and
    /// concepts, red flags and triage levels are not touched at all: a model can neither raise
    /// nor clear them.
    ///
    /// Onset, duration and severity are never taken from a model: red-flag and triage rules read
    /// them (severity at least 7, a duration under 72 hours), so they come only from the rules'
    /// own reading and the patient's direct answers. A model's value there would skip the
    /// question whose answer a rule needs.
    pub fn merge_story(&mut self, facts: &[(Slot, String, Option<f64>)]) -> StoryMerge {
        let mut merge = StoryMerge::default();
        let Some(opening) = self
            .exchanges
            .iter()
            .find(|e| e.question.kind == QuestionKind::Opening && e.answer.is_some())
            .map(|e| e.question.id.clone())
        else {
            return merge;
        };
        let asked: Vec<String> = self.exchanges.iter().map(|e| e.question.id.clone()).collect();
        for (slot, text, value) in facts {
            if RULE_SLOTS.contains(slot)
                || text.trim().is_empty()
                || asked.iter().any(|id| *id == format!("slot:{}", slot.code()))
            {
                continue;
            }
            // A time ("two hours ago", "三天") or a rating ("6 out of 10", "七分") is not a
            // description: the rules read those into onset, duration and severity.
            let u = Utterance::new(text);
            if nlu::duration(&u).is_some() || nlu::rating(&u, false).is_some() {
                merge.refused.push(*slot);
                continue;
            }
            // The same words given for two slots belong to at most one: keep neither.
            if facts.iter().filter(|(_, t, _)| same_meaning(t, text)).count() > 1 {
                merge.refused.push(*slot);
                continue;
            }
            match self.slots.get(slot) {
                None => {
                    let provenance = Provenance {
                        turn: 1,
                        question_id: opening.clone(),
                        answer: PatientText::new(text.clone()),
                        at_ms: self.last_at_ms,
                        source: AnswerSource::Model,
                    };
                    self.slots.insert(
                        *slot,
                        SlotEntry {
                            slot: *slot,
                            text: PatientText::new(text.clone()),
                            value: *value,
                            provenance,
                        },
                    );
                    merge.added.push(*slot);
                }
                Some(entry) if entry.provenance.question_id == opening => {
                    if !same_meaning(entry.text.expose(), text) {
                        self.slots.remove(slot);
                        merge.disagreed.push(*slot);
                    }
                }
                Some(_) => {}
            }
        }
        merge
    }

    /// Handles one input at `at_ms` (milliseconds since the session started).
    pub fn handle(&mut self, input: Input, at_ms: u64) -> Reply {
        self.last_at_ms = at_ms;
        if matches!(self.phase, Phase::Emergency | Phase::Complete) {
            return Reply { say: Vec::new(), question: None, alert: None, phase: self.phase };
        }
        let Some(question) = self.current.clone() else {
            return Reply { say: Vec::new(), question: None, alert: None, phase: self.phase };
        };
        let (text, source) = match input {
            Input::Repeat => {
                self.exchanges.push(Exchange { question: question.clone(), answer: None });
                let prefix = self.t(&self.kb().questions.repeat_prefix);
                return Reply { say: vec![prefix], question: Some(question), alert: None, phase: self.phase };
            }
            Input::Correct { field, text } => {
                self.exchanges.push(Exchange { question: question.clone(), answer: Some(text.clone()) });
                self.apply_correction(&field, &text, AnswerSource::Touch, at_ms);
                return self.after_answer(Vec::new());
            }
            Input::Text(text) => {
                let text = if text.expose().chars().count() > MAX_ANSWER_CHARS {
                    PatientText::new(text.expose().chars().take(MAX_ANSWER_CHARS).collect::<String>())
                } else {
                    text
                };
                (text, AnswerSource::Words)
            }
            Input::Touch(touch) => (self.touch_text(&touch, &question), AnswerSource::Touch),
        };
        self.exchanges.push(Exchange { question: question.clone(), answer: Some(text.clone()) });
        self.turn += 1;
        let provenance = Provenance {
            turn: self.turn,
            question_id: question.id.clone(),
            answer: text.clone(),
            at_ms,
            source,
        };
        let understood = self.absorb(&question, &text, &provenance);
        // A warning sign is acted on even in an answer that is otherwise not understood ("I took a
        // whole bottle of pills" names no complaint).
        if !understood && let Some(reply) = self.raise_red_flag(&mut Vec::new()) {
            return reply;
        }
        if !understood && question.id == "opening" && self.engine.config.max_opening_retries > 0 {
            // No complaint recognised: ask once more, with examples, before falling back.
            self.opening_retries += 1;
            let q = self.make_question(Ask::OpeningRetry);
            self.n_questions += 1;
            self.current = Some(q.clone());
            return Reply { say: Vec::new(), question: Some(q), alert: None, phase: self.phase };
        }
        if !understood && self.reasks < self.engine.config.max_reasks {
            self.reasks += 1;
            let sorry = self.t(&self.kb().questions.not_understood);
            return Reply { say: vec![sorry], question: Some(question), alert: None, phase: self.phase };
        }
        self.reasks = 0;
        self.after_answer(Vec::new())
    }

    /// The reply to a red flag that has newly fired: the interview stops, the instruction follows
    /// what `say` already holds, and staff are alerted. None (and `say` untouched) otherwise.
    fn raise_red_flag(&mut self, say: &mut Vec<String>) -> Option<Reply> {
        let facts = self.facts();
        let hits = crate::triage::red_flags(self.kb(), &facts, self.last_at_ms);
        let new: Vec<RedFlagHit> =
            hits.into_iter().filter(|h| !self.red_flags.iter().any(|f| f.rule_id == h.rule_id)).collect();
        let first = new.iter().min_by_key(|h| h.level).cloned()?;
        self.red_flags.extend(new);
        self.phase = Phase::Emergency;
        self.current = None;
        say.push(first.instruction.get(self.lang).to_owned());
        let alert =
            StaffAlert { rule_id: first.rule_id.clone(), level: first.level, title: first.title.clone() };
        Some(Reply { say: std::mem::take(say), question: None, alert: Some(alert), phase: self.phase })
    }

    /// After an answer: check the red flags, then ask the next question or read the card back.
    fn after_answer(&mut self, mut say: Vec<String>) -> Reply {
        if let Some(reply) = self.raise_red_flag(&mut say) {
            return reply;
        }
        if self.phase == Phase::Complete {
            self.current = None;
            return Reply { say, question: None, alert: None, phase: self.phase };
        }
        if let Some(field) = self.pending_correction.clone() {
            // The patient named what to change: ask that field's question again.
            if let Some(q) = self.question_for_field(&field) {
                self.n_questions += 1;
                self.current = Some(q.clone());
                return Reply { say, question: Some(q), alert: None, phase: self.phase };
            }
            self.pending_correction = None;
        }
        match self.next_question() {
            Some(q) => {
                self.asked.insert(q.id.clone());
                self.n_questions += 1;
                self.current = Some(q.clone());
                Reply { say, question: Some(q), alert: None, phase: self.phase }
            }
            None => {
                self.phase = Phase::ReadBack;
                say.push(crate::card::read_back(&self.card(), self.lang));
                let q = self.make_question(Ask::Confirm);
                self.n_questions += 1;
                self.current = Some(q.clone());
                Reply { say, question: Some(q), alert: None, phase: self.phase }
            }
        }
    }

    fn touch_text(&self, touch: &Touch, question: &Question) -> PatientText {
        let zh = self.lang == Lang::Zh;
        let text = match touch {
            Touch::Yes => if zh { "是" } else { "yes" }.to_owned(),
            Touch::No => if zh { "没有" } else { "no" }.to_owned(),
            Touch::DontKnow => if zh { "不知道" } else { "I don't know" }.to_owned(),
            Touch::Rating(n) => {
                if zh {
                    format!("{n}分")
                } else {
                    format!("{n} out of 10")
                }
            }
            Touch::Sex(Sex::Female) => if zh { "女" } else { "female" }.to_owned(),
            Touch::Sex(Sex::Male) => if zh { "男" } else { "male" }.to_owned(),
            Touch::AgeYears(y) => {
                if zh {
                    format!("{}岁", numbers::fmt_num(*y))
                } else {
                    format!("{} years old", numbers::fmt_num(*y))
                }
            }
            Touch::AgeMonths(m) => {
                if zh {
                    format!("{}个月", numbers::fmt_num(*m))
                } else {
                    format!("{} months old", numbers::fmt_num(*m))
                }
            }
            Touch::DurationHours(h) => {
                let (zh_text, en_text) = numbers::describe_hours(*h);
                if question.kind == QuestionKind::Onset {
                    if zh { format!("{zh_text}前") } else { format!("{en_text} ago") }
                } else if zh {
                    zh_text
                } else {
                    en_text
                }
            }
            Touch::Option(label) => label.clone(),
        };
        PatientText::new(text)
    }

    /// Takes in one answer. Returns false when nothing in it could be understood.
    fn absorb(&mut self, question: &Question, text: &PatientText, provenance: &Provenance) -> bool {
        let u = Utterance::new(text.expose());
        let hits = self.engine.analyzer.concepts(&u);
        let kind = question.kind;
        // Concepts mentioned along the way are evidence too, except in answers about past
        // history (only chronic conditions) and allergies (a drug allergy is not a reaction now).
        let taken: Vec<&ConceptHit> = match kind {
            QuestionKind::Allergies => Vec::new(),
            QuestionKind::History | QuestionKind::Medications => {
                hits.iter().filter(|h| HISTORY_CONCEPTS.contains(&h.concept.as_str())).collect()
            }
            _ => hits.iter().collect(),
        };
        for hit in &taken {
            self.record(&hit.concept, !hit.negated, provenance);
        }
        self.absorb_demographics(&u, &hits, kind, provenance);
        let understood = match kind {
            QuestionKind::Opening => self.absorb_opening(&u, &hits, provenance),
            QuestionKind::Symptom => self.absorb_symptom(question, &u, &hits, provenance),
            QuestionKind::Age => self.age_days.is_some() || nlu::yes_no(&u) == Some(YesNo::Unknown),
            QuestionKind::Sex => self.sex.is_some(),
            QuestionKind::Pregnancy => self.pregnant.is_some() || nlu::yes_no(&u) == Some(YesNo::Unknown),
            QuestionKind::Temperature => {
                self.temperature_c.is_some() || nlu::yes_no(&u).is_some() || !u.text().trim().is_empty()
            }
            QuestionKind::History | QuestionKind::Medications | QuestionKind::Allergies => {
                self.absorb_history(kind, &u, text, provenance);
                true
            }
            QuestionKind::Confirm => self.absorb_confirm(&u, text, provenance),
            QuestionKind::Other => self.absorb_which_correction(&u),
            _ => match kind.slot() {
                Some(slot) => self.absorb_slot(slot, &u, text, provenance),
                None => true,
            },
        };
        if let Some(field) = self.pending_correction.clone()
            && kind != QuestionKind::Other
            && kind != QuestionKind::Confirm
            && question.id == field
        {
            self.pending_correction = None;
        }
        understood
    }

    fn record(&mut self, concept: &str, present: bool, provenance: &Provenance) {
        if self.kb().concept(concept).is_none() {
            return;
        }
        self.evidence.insert(concept.to_owned(), Evidence { present, provenance: provenance.clone() });
        if concept == "pregnant" {
            self.pregnant = Some(present);
        }
    }

    fn absorb_demographics(
        &mut self,
        u: &Utterance,
        hits: &[ConceptHit],
        kind: QuestionKind,
        provenance: &Provenance,
    ) {
        if kind == QuestionKind::Opening
            && let Some(relation) = nlu::proxy_relation(u)
        {
            self.respondent = Respondent::Proxy { relation };
        }
        if (self.age_days.is_none() || kind == QuestionKind::Age)
            && let Some(days) = nlu::age_days(u, kind == QuestionKind::Age)
        {
            self.age_days = Some(days);
        }
        if self.sex.is_none() || kind == QuestionKind::Sex {
            let direct = kind == QuestionKind::Sex;
            // Relation words say the patient's sex; "I" does not.
            if (direct || kind == QuestionKind::Opening || kind == QuestionKind::Age)
                && let Some(sex) = nlu::sex(u, direct)
            {
                self.sex = Some(sex);
            }
        }
        if let Some(p) = nlu::pregnancy(u, hits, kind == QuestionKind::Pregnancy) {
            self.pregnant = Some(p);
            self.record("pregnant", p, provenance);
        }
        let expecting_temp = kind == QuestionKind::Temperature;
        if let Some(t) = nlu::temperature(u, expecting_temp) {
            self.temperature_c = Some(t);
            if t >= FEVER_C {
                self.record("fever", true, provenance);
            }
        }
    }

    fn absorb_opening(&mut self, u: &Utterance, hits: &[ConceptHit], provenance: &Provenance) -> bool {
        let present: Vec<&str> = hits.iter().filter(|h| !h.negated).map(|h| h.concept.as_str()).collect();
        // Sure words first; then the matcher; then words that name a complaint only when nothing
        // else does ("睡不着" in "牙疼得晚上睡不着"), before the matcher's weaker guesses.
        let mut chosen = self.pick_protocol(&present, false);
        let weak_words = if chosen.is_none() { self.pick_protocol(&present, true) } else { None };
        if chosen.is_none()
            && let Some(matcher) = &self.engine.semantic
        {
            let threshold = matcher.threshold();
            let found: Vec<(String, f32)> = matcher
                .concepts(&u.raw, self.lang)
                .into_iter()
                .filter(|(_, score)| *score >= threshold)
                .collect();
            // The most similar concept that names a complaint chooses the protocol and is recorded;
            // other concepts only when they are clearly meant (the protocol asks about the rest).
            // Over a word that names a complaint only weakly, the matcher's guess must be clear.
            let bar = if weak_words.is_some() { threshold + SEMANTIC_FINDING_MARGIN } else { threshold };
            // A concept that names a complaint only weakly (poor sleep) gives way to one that names
            // it surely only when that one is nearly as similar.
            let best_complaint = found.iter().find_map(|(id, score)| {
                let sure = self.pick_protocol(&[id.as_str()], false).is_some();
                (sure || self.pick_protocol(&[id.as_str()], true).is_some()).then_some((sure, *score))
            });
            let floor = match best_complaint {
                Some((false, score)) => score - SEMANTIC_WEAK_MARGIN,
                _ => 0.0,
            };
            chosen = found
                .iter()
                .filter(|(_, score)| *score >= bar && *score >= floor)
                .find_map(|(id, _)| self.pick_protocol(&[id.as_str()], false))
                .or_else(|| weak_words.clone())
                .or_else(|| found.iter().find_map(|(id, _)| self.pick_protocol(&[id.as_str()], true)));
            // A concept a red-flag rule looks at is recorded only when clearly meant: otherwise the
            // protocol it chose asks the red-flag questions directly.
            for (id, score) in &found {
                let chose = chosen.as_ref().is_some_and(|(_, trigger)| trigger == id);
                let bar = if self.engine.red_flag_concepts.contains(id) {
                    threshold + SEMANTIC_RED_FLAG_MARGIN
                } else if chose {
                    threshold
                } else {
                    threshold + SEMANTIC_FINDING_MARGIN
                };
                if *score >= bar {
                    self.record(id, true, provenance);
                }
            }
        }
        let chosen = chosen.or(weak_words);
        // Details volunteered in the opening fill their slots straight away.
        if let Some(d) = nlu::duration(u) {
            self.fill_slot(
                Slot::Duration,
                describe_duration(d.hours, self.lang),
                Some(d.hours),
                provenance,
                AnswerSource::Inferred,
            );
            let onset = describe_ago(d.hours, self.lang);
            self.fill_slot(Slot::Onset, onset, Some(d.hours), provenance, AnswerSource::Inferred);
        }
        if let Some(w) = nlu::character_words(u, self.lang) {
            self.fill_slot(Slot::Character, w, None, provenance, AnswerSource::Words);
        }
        if let Some(w) = nlu::location_words(u) {
            self.fill_slot(Slot::Location, w, None, provenance, AnswerSource::Words);
        }
        if let Some(w) = nlu::timing_words(u) {
            self.fill_slot(Slot::Timing, w, None, provenance, AnswerSource::Words);
        }
        if let Some(r) = nlu::rating(u, false) {
            self.fill_slot(
                Slot::Severity,
                r.to_string(),
                Some(f64::from(r)),
                provenance,
                AnswerSource::Words,
            );
        }
        match chosen {
            Some((id, trigger)) => {
                self.protocol_id = Some(id);
                self.trigger = Some(trigger);
                true
            }
            None if self.opening_retries < self.engine.config.max_opening_retries => false,
            None => {
                self.protocol_id = Some("general".into());
                true
            }
        }
    }

    /// The highest-priority protocol recognised by `present` concepts, with the concept that chose
    /// it; a generic complaint (fever) gives way to a specific one recognised alongside it (fever
    /// with burning urine is a urinary complaint with fever).
    fn pick_protocol(&self, present: &[&str], weak: bool) -> Option<(String, String)> {
        let candidates: Vec<&Protocol> = self
            .kb()
            .protocols
            .iter()
            .filter(|p| {
                let list = if weak { &p.recognise_weak } else { &p.recognise };
                list.iter().any(|c| present.contains(&c.as_str()))
            })
            .filter(|p| p.group.is_none() || p.fits_age(self.age_days) || self.age_days.is_none())
            .collect();
        let best = |list: &[&Protocol]| {
            let p = list.iter().max_by_key(|p| (p.priority, p.fits_age(self.age_days)))?;
            let recognisers = if weak { &p.recognise_weak } else { &p.recognise };
            let trigger = present.iter().find(|c| recognisers.iter().any(|r| r == **c))?;
            Some((p.id.clone(), (*trigger).to_owned()))
        };
        // A generic complaint marked `keeps_screened` keeps the patient from a lower-priority
        // protocol that only its own danger signs chose: a five-week-old with a fever who is very
        // sleepy is a feverish infant, not a tired one.
        let yielding: Vec<&Protocol> = candidates
            .iter()
            .copied()
            .filter(|p| p.yields && p.keeps_screened && p.fits_age(self.age_days))
            .collect();
        let own_sign = |p: &Protocol| {
            yielding.iter().any(|y| {
                y.priority > p.priority
                    && present
                        .iter()
                        .filter(|c| p.recognise.iter().chain(&p.recognise_weak).any(|r| r == *c))
                        .all(|c| y.screen.iter().any(|s| s == c))
            })
        };
        let specific: Vec<&Protocol> =
            candidates.iter().copied().filter(|p| !p.yields && !own_sign(p)).collect();
        if specific.is_empty() { best(&candidates) } else { best(&specific) }
    }

    fn absorb_symptom(
        &mut self,
        question: &Question,
        u: &Utterance,
        hits: &[ConceptHit],
        provenance: &Provenance,
    ) -> bool {
        let Some(concept) = question.concept.as_ref().map(|c| c.id.clone()) else { return true };
        if hits.iter().any(|h| h.concept == concept) {
            return true; // recorded with its negation above
        }
        match nlu::yes_no(u) {
            Some(YesNo::Yes) => {
                self.record(&concept, true, provenance);
                true
            }
            Some(YesNo::No) => {
                self.record(&concept, false, provenance);
                true
            }
            Some(YesNo::Unknown) => true,
            None if !hits.is_empty() => true,
            None => {
                // No yes, no or known word ("衣服都湿透了" asked about sweating): the answer
                // describes the asked concept when the semantic matcher says so. It can only add
                // a finding, never deny one.
                let Some(matcher) = &self.engine.semantic else { return false };
                let threshold = matcher.threshold();
                let meant =
                    matcher.concept_score(&u.raw, self.lang, &concept).is_some_and(|s| s >= threshold);
                if meant {
                    self.record(&concept, true, provenance);
                }
                meant
            }
        }
    }

    fn absorb_slot(
        &mut self,
        slot: Slot,
        u: &Utterance,
        text: &PatientText,
        provenance: &Provenance,
    ) -> bool {
        let answer = nlu::yes_no(u);
        if answer == Some(YesNo::Unknown) {
            return true;
        }
        let raw = text.expose().trim().to_owned();
        if raw.is_empty() {
            return false;
        }
        let zh = self.lang == Lang::Zh;
        match slot {
            Slot::Onset | Slot::Duration => {
                let hours = nlu::duration(u).map(|d| d.hours);
                self.fill_slot(slot, raw, hours, provenance, provenance.source);
                if let Some(h) = hours {
                    let other = if slot == Slot::Onset { Slot::Duration } else { Slot::Onset };
                    let derived = if other == Slot::Duration {
                        describe_duration(h, self.lang)
                    } else {
                        describe_ago(h, self.lang)
                    };
                    if !self.slots.contains_key(&other)
                        || self.slots[&other].provenance.source == AnswerSource::Inferred
                    {
                        self.fill_slot(other, derived, Some(h), provenance, AnswerSource::Inferred);
                    }
                }
            }
            Slot::Severity => {
                let rating = nlu::rating(u, true);
                self.fill_slot(slot, raw, rating.map(f64::from), provenance, provenance.source);
            }
            Slot::Radiation | Slot::Aggravating | Slot::Relieving
                if answer == Some(YesNo::No) && u.chars.len() <= 8 =>
            {
                let none = match (slot, zh) {
                    (Slot::Radiation, true) => "不放射",
                    (Slot::Radiation, false) => "does not spread",
                    (_, true) => "无明显相关因素",
                    (_, false) => "nothing in particular",
                };
                self.fill_slot(slot, none.to_owned(), None, provenance, provenance.source);
            }
            _ => self.fill_slot(slot, raw, None, provenance, provenance.source),
        }
        true
    }

    fn fill_slot(
        &mut self,
        slot: Slot,
        text: String,
        value: Option<f64>,
        provenance: &Provenance,
        source: AnswerSource,
    ) {
        let provenance = Provenance { source, ..provenance.clone() };
        self.slots.insert(slot, SlotEntry { slot, text: PatientText::new(text), value, provenance });
    }

    fn absorb_history(
        &mut self,
        kind: QuestionKind,
        u: &Utterance,
        text: &PatientText,
        provenance: &Provenance,
    ) {
        let denied = nlu::denies_all(u) && !matches!(nlu::yes_no(u), Some(YesNo::Unknown));
        let entry = Some(HistoryEntry { text: text.clone(), denied, provenance: provenance.clone() });
        match kind {
            QuestionKind::History => self.history = entry,
            QuestionKind::Medications => self.medications = entry,
            _ => self.allergies = entry,
        }
    }

    fn absorb_confirm(&mut self, u: &Utterance, text: &PatientText, provenance: &Provenance) -> bool {
        let answer = match nlu::yes_no(u) {
            None if nlu::affirms(u) => Some(YesNo::Yes),
            a => a,
        };
        let change = self.detect_change(u);
        if answer == Some(YesNo::Yes) && change.is_none() {
            self.phase = Phase::Complete;
            return true;
        }
        if let Some(field) = change {
            self.apply_correction(&field, text, provenance.source, provenance.at_ms);
            return true;
        }
        if answer == Some(YesNo::No) || answer.is_none() {
            // Ask which part is wrong.
            self.pending_correction = Some("?".into());
            return true;
        }
        false
    }

    /// Which field a correction talks about, from its content.
    fn detect_change(&self, u: &Utterance) -> Option<String> {
        let text = u.text();
        let tokens = u.token_refs();
        let has = |words: &[&str]| words.iter().any(|w| text.contains(w) || tokens.contains(w));
        if nlu::duration(u).is_some() {
            return Some("slot:duration".into());
        }
        if nlu::rating(u, false).is_some() {
            return Some("slot:severity".into());
        }
        if has(&["过敏", "allergic", "allergy", "allergies"]) {
            return Some("allergies".into());
        }
        if has(&["药", "medicine", "medication", "medications", "tablets", "pills"]) {
            return Some("medications".into());
        }
        let hits = self.engine.analyzer.concepts(u);
        hits.first().map(|h| format!("finding:{}", h.concept))
    }

    fn absorb_which_correction(&mut self, u: &Utterance) -> bool {
        let text = u.text();
        let tokens = u.token_refs();
        let has = |words: &[&str]| words.iter().any(|w| text.contains(w) || tokens.contains(w));
        let field = if has(&["时间", "多久", "几天", "when", "long", "time", "started", "start"]) {
            Some("slot:onset")
        } else if has(&["程度", "几分", "分数", "score", "severity", "bad", "rating"]) {
            Some("slot:severity")
        } else if has(&["部位", "位置", "哪里", "where", "location", "place"]) {
            Some("slot:location")
        } else if has(&["年龄", "岁", "age", "old"]) {
            Some("age")
        } else if has(&["性别", "sex", "gender"]) {
            Some("sex")
        } else if has(&["过敏", "allerg"]) {
            Some("allergies")
        } else if has(&["药", "medic", "pill", "tablet"]) {
            Some("medications")
        } else if has(&["病史", "以前", "history", "illness", "conditions"]) {
            Some("history")
        } else if has(&["性质", "感觉", "feel", "character"]) {
            Some("slot:character")
        } else {
            None
        };
        match field {
            Some(f) => {
                self.pending_correction = Some(f.to_owned());
                true
            }
            None if nlu::yes_no(u) == Some(YesNo::No) || nlu::yes_no(u) == Some(YesNo::Yes) => {
                // "Nothing" after all: read back again.
                self.pending_correction = None;
                true
            }
            None => false,
        }
    }

    /// Applies a correction to one field and records it; triage is recomputed from the state.
    fn apply_correction(&mut self, field: &str, text: &PatientText, by: AnswerSource, at_ms: u64) {
        let before = self.field_value(field);
        let provenance = Provenance {
            turn: self.turn,
            question_id: format!("correct:{field}"),
            answer: text.clone(),
            at_ms,
            source: AnswerSource::Correction,
        };
        let u = Utterance::new(text.expose());
        match field {
            "age" => {
                if let Some(d) = nlu::age_days(&u, true) {
                    self.age_days = Some(d);
                }
            }
            "sex" => {
                if let Some(s) = nlu::sex(&u, true) {
                    self.sex = Some(s);
                }
            }
            "history" | "medications" | "allergies" => {
                let kind = match field {
                    "history" => QuestionKind::History,
                    "medications" => QuestionKind::Medications,
                    _ => QuestionKind::Allergies,
                };
                self.absorb_history(kind, &u, text, &provenance);
            }
            f if f.starts_with("finding:") => {
                let concept = &f["finding:".len()..];
                let hits = self.engine.analyzer.concepts(&u);
                let present = match hits.iter().find(|h| h.concept == concept) {
                    Some(h) => !h.negated,
                    None => nlu::yes_no(&u) != Some(YesNo::No),
                };
                self.record(concept, present, &provenance);
            }
            f => {
                if let Some(slot) = f.strip_prefix("slot:").and_then(Slot::from_code) {
                    self.absorb_slot(slot, &u, text, &provenance);
                    if let Some(entry) = self.slots.get_mut(&slot) {
                        entry.provenance.source = AnswerSource::Correction;
                    }
                }
            }
        }
        let after = self.field_value(field);
        self.corrections.push(Correction { field: field.to_owned(), before, after, by, at_ms });
        self.pending_correction = None;
        self.phase = Phase::Interviewing;
    }

    fn field_value(&self, field: &str) -> PatientText {
        let text = match field {
            "age" => self.age_days.map(|d| Age { days: d }.describe().get(self.lang).to_owned()),
            "sex" => self.sex.map(|s| format!("{s:?}")),
            "history" => self.history.as_ref().map(|h| h.text.expose().to_owned()),
            "medications" => self.medications.as_ref().map(|h| h.text.expose().to_owned()),
            "allergies" => self.allergies.as_ref().map(|h| h.text.expose().to_owned()),
            f if f.starts_with("finding:") => self
                .evidence
                .get(&f["finding:".len()..])
                .map(|e| if e.present { "present" } else { "absent" }.to_owned()),
            f => f
                .strip_prefix("slot:")
                .and_then(Slot::from_code)
                .and_then(|s| self.slots.get(&s))
                .map(|e| e.text.expose().to_owned()),
        };
        PatientText::new(text.unwrap_or_default())
    }

    fn question_for_field(&mut self, field: &str) -> Option<Question> {
        let ask = match field {
            "?" => Ask::WhichCorrection,
            "age" => Ask::Age,
            "sex" => Ask::Sex,
            "history" => Ask::History,
            "medications" => Ask::Medications,
            "allergies" => Ask::Allergies,
            f => match f.strip_prefix("slot:").and_then(Slot::from_code) {
                Some(slot) => Ask::Slot(slot),
                None => return None,
            },
        };
        let mut q = self.make_question(ask);
        if field != "?" {
            q.id = field.to_owned();
        }
        Some(q)
    }

    /// The next question, or None when it is time to read the card back.
    fn next_question(&mut self) -> Option<Question> {
        let years = self.age_days.map(|d| d / 365.25);
        if self.age_days.is_none() && !self.asked.contains("age") {
            return Some(self.make_question(Ask::Age));
        }
        if self.sex.is_none() && !self.asked.contains("sex") {
            return Some(self.make_question(Ask::Sex));
        }
        let protocol = self.protocol().clone();
        if self.sex == Some(Sex::Female)
            && years.is_some_and(|y| PREGNANCY_AGE_YEARS.contains(&y))
            && protocol.ask_pregnancy
            && self.pregnant.is_none()
            && !self.asked.contains("pregnancy")
        {
            return Some(self.make_question(Ask::Pregnancy));
        }
        let facts = self.facts();
        let mut screens: Vec<String> = protocol.screen.clone();
        for cs in &protocol.conditional_screen {
            if eval_any(&cs.when, &facts).is_some() {
                screens.extend(cs.ask.iter().cloned());
            }
        }
        for concept in screens {
            if let Some(q) = self.symptom_question(&concept) {
                return Some(q);
            }
        }
        for slot in &protocol.slots {
            let id = format!("slot:{}", slot.code());
            if !self.slots.contains_key(slot) && !self.asked.contains(&id) {
                return Some(self.make_question(Ask::Slot(*slot)));
            }
        }
        let feverish = self.evidence.get("fever").is_some_and(|e| e.present)
            || self.evidence.get("high_fever").is_some_and(|e| e.present);
        if protocol.ask_temperature
            && self.temperature_c.is_none()
            && !self.asked.contains("temperature")
            && (feverish || protocol.group.as_deref() == Some("fever"))
        {
            return Some(self.make_question(Ask::Temperature));
        }
        if let Some(q) = self.next_followup(&protocol) {
            self.followups_asked += 1;
            return Some(q);
        }
        for (ask, id, done) in [
            (Ask::History, "history", self.history.is_some()),
            (Ask::Medications, "medications", self.medications.is_some()),
            (Ask::Allergies, "allergies", self.allergies.is_some()),
        ] {
            if !done && !self.asked.contains(id) {
                return Some(self.make_question(ask));
            }
        }
        None
    }

    /// Follow-ups: first the lead question of each department group, then the rest of the groups
    /// that got a yes, within the budget.
    fn next_followup(&mut self, protocol: &Protocol) -> Option<Question> {
        if self.followups_asked >= self.engine.config.max_followups {
            return None;
        }
        for group in &protocol.followups {
            let answered = group.ask.iter().any(|c| self.evidence.contains_key(c));
            if !answered
                && let Some(first) = group.ask.first()
                && let Some(q) = self.symptom_question(first)
            {
                return Some(q);
            }
        }
        for group in &protocol.followups {
            let positive = group.ask.iter().any(|c| self.evidence.get(c).is_some_and(|e| e.present));
            if positive {
                for concept in &group.ask {
                    if let Some(q) = self.symptom_question(concept) {
                        return Some(q);
                    }
                }
            }
        }
        None
    }

    fn symptom_question(&self, concept: &str) -> Option<Question> {
        let id = format!("concept:{concept}");
        if self.evidence.contains_key(concept) || self.asked.contains(&id) {
            return None;
        }
        let c = self.kb().concept(concept)?;
        let text = c.ask.as_ref()?.get(self.lang).to_owned();
        Some(Question {
            id,
            kind: QuestionKind::Symptom,
            concept: Some(ConceptRef {
                id: c.id.clone(),
                names_zh: c.names(Lang::Zh),
                names_en: c.names(Lang::En),
            }),
            text,
            expect: Expect::YesNo,
        })
    }

    fn make_question(&self, ask: Ask) -> Question {
        let q = &self.kb().questions;
        let (id, kind, text, expect) = match ask {
            Ask::Opening => {
                ("opening".to_owned(), QuestionKind::Opening, self.t(&q.opening), Expect::FreeText)
            }
            Ask::OpeningRetry => {
                let text = match self.lang {
                    Lang::Zh => "请再具体说说是哪里不舒服，比如哪里疼、发烧、咳嗽，还是别的情况？".to_owned(),
                    Lang::En => "Could you tell me a little more: where does it hurt, or is it fever, cough, or something else?".to_owned(),
                };
                ("opening_retry".to_owned(), QuestionKind::Opening, text, Expect::FreeText)
            }
            Ask::Age => ("age".to_owned(), QuestionKind::Age, self.t(&q.age), Expect::Age),
            Ask::Sex => ("sex".to_owned(), QuestionKind::Sex, self.t(&q.sex), Expect::Sex),
            Ask::Pregnancy => {
                ("pregnancy".to_owned(), QuestionKind::Pregnancy, self.t(&q.pregnancy), Expect::YesNo)
            }
            Ask::Temperature => (
                "temperature".to_owned(),
                QuestionKind::Temperature,
                self.t(&q.temperature),
                Expect::Temperature,
            ),
            Ask::History => {
                ("history".to_owned(), QuestionKind::History, self.t(&q.history), Expect::FreeText)
            }
            Ask::Medications => (
                "medications".to_owned(),
                QuestionKind::Medications,
                self.t(&q.medications),
                Expect::FreeText,
            ),
            Ask::Allergies => {
                ("allergies".to_owned(), QuestionKind::Allergies, self.t(&q.allergies), Expect::FreeText)
            }
            Ask::Confirm => {
                ("confirm".to_owned(), QuestionKind::Confirm, self.t(&q.confirm), Expect::Confirm)
            }
            Ask::WhichCorrection => {
                let text = match self.lang {
                    Lang::Zh => "请问哪一项需要修改？比如时间、部位、程度、年龄，或者用药。".to_owned(),
                    Lang::En => "Which part should I change? For example when it started, where, how bad, age, or medicines.".to_owned(),
                };
                ("correction".to_owned(), QuestionKind::Other, text, Expect::FreeText)
            }
            Ask::Slot(slot) => {
                let protocol = self.protocol();
                let text = protocol
                    .slot_questions
                    .get(&slot)
                    .or_else(|| q.slots.get(&slot))
                    .map(|t| self.t(t))
                    .unwrap_or_default();
                let expect = match slot {
                    Slot::Severity => Expect::Rating,
                    Slot::Onset | Slot::Duration => Expect::Duration,
                    _ => Expect::FreeText,
                };
                (format!("slot:{}", slot.code()), QuestionKind::for_slot(slot), text, expect)
            }
        };
        Question { id, kind, concept: None, text, expect }
    }

    /// What the rules see now.
    pub fn facts(&self) -> Facts {
        let mut present: BTreeSet<String> =
            self.evidence.iter().filter(|(_, e)| e.present).map(|(id, _)| id.clone()).collect();
        if self.protocol_id.is_some() {
            present.insert(format!("cc:{}", self.protocol().id));
        }
        if let Some(t) = self.temperature_c {
            if t >= FEVER_C {
                present.insert("temp_fever".into());
            }
            if t >= 38.0 {
                present.insert("temp_38_plus".into());
            }
            if t >= 39.0 {
                present.insert("temp_39_plus".into());
            }
        }
        if self.pregnant == Some(true) {
            present.insert("pregnant".into());
        }
        Facts {
            present,
            age_days: self.age_days,
            sex: self.sex,
            pregnant: self.pregnant,
            severity: self
                .slots
                .get(&Slot::Severity)
                .and_then(|s| s.value)
                .map(|v| v.round().clamp(0.0, 10.0) as u8),
            duration_hours: self
                .slots
                .get(&Slot::Duration)
                .and_then(|s| s.value)
                .or_else(|| self.slots.get(&Slot::Onset).and_then(|s| s.value)),
        }
    }

    /// The card as it stands (complete once the phase is Complete or Emergency).
    pub fn card(&self) -> ConditionCard {
        let protocol = self.protocol();
        let facts = self.facts();
        let followup_departments: Vec<Department> = protocol
            .followups
            .iter()
            .flat_map(|g| {
                g.ask
                    .iter()
                    .filter(|c| self.evidence.get(*c).is_some_and(|e| e.present))
                    .map(move |_| g.department)
            })
            .collect();
        let triage =
            crate::triage::assess(self.kb(), protocol, &facts, &followup_departments, &self.red_flags);
        let findings = self
            .evidence
            .iter()
            .filter_map(|(id, e)| {
                let c = self.kb().concept(id)?;
                Some(protocol::Finding {
                    concept: id.clone(),
                    name: c.name(),
                    present: e.present,
                    provenance: e.provenance.clone(),
                })
            })
            .collect();
        let mut card = ConditionCard {
            schema_version: protocol::CARD_SCHEMA_VERSION.to_owned(),
            card_id: self.card_id.clone(),
            kiosk_id: self.engine.config.kiosk_id.clone(),
            language: self.lang,
            respondent: self.respondent.clone(),
            patient: protocol::PatientInfo {
                age: self.age_days.map(|days| Age { days }),
                sex: self.sex,
                pregnant: self.pregnant,
                temperature_c: self.temperature_c,
            },
            chief_complaint: protocol::ChiefComplaint {
                protocol_id: String::new(),
                concept: None,
                protocol_version: String::new(),
                zh: String::new(),
                en: String::new(),
            },
            hpi: Bilingual::default(),
            slots: self.slots.values().cloned().collect(),
            findings,
            history: self.history.clone(),
            medications: self.medications.clone(),
            allergies: self.allergies.clone(),
            red_flags: self.red_flags.clone(),
            triage,
            completeness: 0.0,
            timings: protocol::Timings {
                started_unix_ms: self.started_unix_ms,
                elapsed_ms: self.last_at_ms,
                n_questions: self.n_questions,
            },
            corrections: self.corrections.clone(),
            queue_number: None,
            hpi_drafted: None,
            confirmed: self.phase == Phase::Complete,
        };
        let trigger = self.trigger.as_deref().and_then(|id| self.kb().concept(id));
        crate::card::finish(&mut card, protocol, trigger);
        if let Some((facts, text)) = &self.narrative
            && *facts == crate::narrative::facts(&card, self.lang)
        {
            match self.lang {
                Lang::Zh => card.hpi.zh = text.clone(),
                Lang::En => card.hpi.en = text.clone(),
            }
            card.hpi_drafted = Some(self.lang);
        }
        card
    }

    /// Puts a 现病史 drafted by the language model from `facts` on the card, after checking it
    /// against the card. It stays only while the card's facts are the ones it was drafted from:
    /// after a correction the deterministic text is back until a new draft passes.
    /// `example`: the phrases of the worked example the model was shown (see
    /// [`crate::narrative::check`]).
    pub fn set_narrative(
        &mut self,
        facts: Vec<String>,
        draft: &str,
        example: &[&str],
    ) -> Result<(), crate::narrative::DraftProblem> {
        let mut card = self.card();
        // Check against the deterministic card, never against an earlier draft.
        card.hpi = crate::card::hpi(&card);
        if facts != crate::narrative::facts(&card, self.lang) {
            return Err(crate::narrative::DraftProblem::Stale);
        }
        crate::narrative::check(draft, &card, &self.engine, self.lang, example)?;
        self.narrative = Some((facts, draft.trim().to_owned()));
        Ok(())
    }
}

/// "3天" / "3 days".
fn describe_duration(hours: f64, lang: Lang) -> String {
    let (zh, en) = numbers::describe_hours(hours);
    if lang == Lang::Zh { zh } else { en }
}

/// "约3天前" / "about 3 days ago".
fn describe_ago(hours: f64, lang: Lang) -> String {
    let (zh, en) = numbers::describe_hours(hours);
    if lang == Lang::Zh { format!("约{zh}前") } else { format!("about {en} ago") }
}
