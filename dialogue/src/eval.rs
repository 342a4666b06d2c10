//! The evaluation harness: runs cases through the real engine with a simulated patient and
//! reports triage accuracy, safety and interview quality.
//!
//! A case is one JSON object per line (see `CASES.md` beside the case files). The simulated patient
//! answers each question from the case's facts, in the case's language: a symptom question is
//! answered yes when one of the concept's names matches a `present` phrase (case-, space- and
//! apostrophe-insensitive containment either way), no when it matches an `absent` phrase, and
//! "not sure" otherwise; slot questions get the fact's text or "I don't know"; confirmations get
//! yes.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use protocol::{ConditionCard, Department, Disposition, Lang, PatientText, QuestionKind, Sex, Slot};
use serde::{Deserialize, Serialize};

use crate::interview::{Engine, Input, Phase, Question};

/// The project's intake cases (`dialogue/cases/intake_cases.jsonl`), for calibration and for
/// tests that need real cards.
pub const INTAKE_CASES: &str = include_str!("../cases/intake_cases.jsonl");

/// The cards the engine makes for the first `n` intake cases (simulated patient).
pub fn intake_cards(engine: &Arc<Engine>, n: usize) -> Vec<ConditionCard> {
    let cases = parse_cases(INTAKE_CASES).unwrap_or_default();
    cases.iter().take(n).filter_map(|c| run_case(engine, c).card).collect()
}

/// Safety stop for a runaway interview.
const MAX_TURNS: usize = 60;

/// An evaluation case.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    /// Case id.
    pub id: String,
    /// Interview language.
    pub lang: Lang,
    /// Patient's age in years (fractions for babies).
    pub age_years: f64,
    /// Patient's sex.
    pub sex: Sex,
    /// Pregnant (null: not applicable or unknown).
    pub pregnant: Option<bool>,
    /// The answer to "What brings you here today?".
    pub opening: String,
    /// What the simulated patient knows.
    pub facts: CaseFacts,
    /// The expected outcome.
    pub gold: Gold,
}

/// The simulated patient's knowledge.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct CaseFacts {
    #[serde(default)]
    pub present: Vec<String>,
    #[serde(default)]
    pub absent: Vec<String>,
    pub onset: Option<String>,
    pub duration: Option<String>,
    pub location: Option<String>,
    pub character: Option<String>,
    pub severity: Option<f64>,
    pub aggravating: Option<String>,
    pub relieving: Option<String>,
    pub radiation: Option<String>,
    pub timing: Option<String>,
    pub history: Option<String>,
    pub medications: Option<String>,
    pub allergies: Option<String>,
    pub temperature_c: Option<f64>,
}

/// The expected outcome.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Gold {
    /// Expected disposition.
    pub disposition: Disposition,
    /// Other dispositions also counted correct.
    #[serde(default)]
    pub acceptable: Vec<Disposition>,
    /// Expected department (null: not scored).
    pub department: Option<Department>,
    /// Whether a red flag must fire.
    pub red_flag: bool,
    /// Where the case comes from.
    pub source: String,
}

/// A malformed case file.
#[derive(Debug, thiserror::Error)]
#[error("line {line}: {detail}")]
pub struct CaseError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub detail: String,
}

/// Parses JSON-lines cases (blank lines and lines starting with `//` are skipped).
pub fn parse_cases(text: &str) -> Result<Vec<Case>, CaseError> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty() && !l.trim_start().starts_with("//"))
        .map(|(i, l)| serde_json::from_str(l).map_err(|e| CaseError { line: i + 1, detail: e.to_string() }))
        .collect()
}

fn norm(s: &str) -> String {
    s.chars().filter(|c| !c.is_whitespace() && *c != '\'' && *c != '’').flat_map(char::to_lowercase).collect()
}

fn matches_phrase(names: &[String], phrases: &[String]) -> Option<String> {
    for p in phrases {
        let np = norm(p);
        if np.is_empty() {
            continue;
        }
        for n in names {
            let nn = norm(n);
            if !nn.is_empty() && (np.contains(&nn) || nn.contains(&np)) {
                return Some(p.clone());
            }
        }
    }
    None
}

fn fmt_number(v: f64) -> String {
    if v.fract() == 0.0 { format!("{}", v as i64) } else { format!("{v}") }
}

/// The simulated patient's answer to `question`.
pub fn simulated_answer(case: &Case, question: &Question) -> String {
    let zh = case.lang == Lang::Zh;
    let dont_know = if zh { "不知道" } else { "I don't know" }.to_owned();
    let f = &case.facts;
    let text = |v: &Option<String>| v.clone().unwrap_or_else(|| dont_know.clone());
    match question.kind {
        QuestionKind::Opening => case.opening.clone(),
        QuestionKind::Symptom => {
            let names: Vec<String> = question
                .concept
                .as_ref()
                .map(|c| c.names_zh.iter().chain(&c.names_en).cloned().collect())
                .unwrap_or_default();
            if let Some(phrase) = matches_phrase(&names, &f.present) {
                if zh { format!("有，{phrase}") } else { format!("Yes, {phrase}.") }
            } else if matches_phrase(&names, &f.absent).is_some() {
                if zh { "没有".to_owned() } else { "No.".to_owned() }
            } else if zh {
                "不太清楚".to_owned()
            } else {
                "I'm not sure.".to_owned()
            }
        }
        QuestionKind::Onset => text(&f.onset),
        QuestionKind::Duration => text(&f.duration),
        QuestionKind::Location => text(&f.location),
        QuestionKind::Character => text(&f.character),
        QuestionKind::Aggravating => text(&f.aggravating),
        QuestionKind::Relieving => text(&f.relieving),
        QuestionKind::Radiation => text(&f.radiation),
        QuestionKind::Timing => text(&f.timing),
        QuestionKind::History => text(&f.history),
        QuestionKind::Medications => text(&f.medications),
        QuestionKind::Allergies => text(&f.allergies),
        QuestionKind::Severity => match f.severity {
            Some(v) => {
                if zh {
                    format!("{}分", fmt_number(v))
                } else {
                    format!("{} out of 10", fmt_number(v))
                }
            }
            None => dont_know,
        },
        QuestionKind::Temperature => match f.temperature_c {
            Some(t) => {
                if zh {
                    format!("{}度", fmt_number(t))
                } else {
                    format!("{} degrees", fmt_number(t))
                }
            }
            None => dont_know,
        },
        QuestionKind::Age => age_words(case.age_years, zh),
        QuestionKind::Sex => match (case.sex, zh) {
            (Sex::Female, true) => "女".into(),
            (Sex::Male, true) => "男".into(),
            (Sex::Female, false) => "Female.".into(),
            (Sex::Male, false) => "Male.".into(),
        },
        QuestionKind::Pregnancy => match (case.pregnant, zh) {
            (Some(true), true) => "是的，怀孕了".into(),
            (Some(true), false) => "Yes, I'm pregnant.".into(),
            (Some(false), true) => "没有".into(),
            (Some(false), false) => "No.".into(),
            (None, true) => "不确定".into(),
            (None, false) => "I'm not sure.".into(),
        },
        QuestionKind::Confirm => if zh { "对，没错。" } else { "Yes, that's right." }.into(),
        QuestionKind::Other => dont_know,
    }
}

fn age_words(years: f64, zh: bool) -> String {
    let days = years * 365.25;
    if days < 60.0 {
        let d = days.round().max(1.0);
        if zh { format!("出生{}天", fmt_number(d)) } else { format!("{} days old", fmt_number(d)) }
    } else if years < 2.0 {
        let m = (days / 30.44).round().max(1.0);
        if zh { format!("{}个月大", fmt_number(m)) } else { format!("{} months old", fmt_number(m)) }
    } else {
        let y = years.floor();
        if zh { format!("{}岁", fmt_number(y)) } else { format!("{} years old", fmt_number(y)) }
    }
}

/// One question and answer in a case run.
#[derive(Clone, Debug, Serialize)]
pub struct Turn {
    /// Question id.
    pub question_id: String,
    /// Question kind.
    pub kind: QuestionKind,
    /// The question.
    pub question: String,
    /// The simulated answer.
    pub answer: String,
}

/// What the engine decided for one case.
#[derive(Clone, Debug, Serialize)]
pub struct CaseResult {
    /// Disposition.
    pub disposition: Disposition,
    /// Pre-triage level.
    pub level: u8,
    /// Department.
    pub department: Department,
    /// Red-flag rule ids that fired.
    pub red_flags: Vec<String>,
    /// Protocol that ran.
    pub protocol: String,
}

/// One case's run.
#[derive(Clone, Debug, Serialize)]
pub struct CaseRun {
    /// Case id.
    pub id: String,
    /// Expected outcome.
    pub gold: Gold,
    /// Result.
    pub result: CaseResult,
    /// Disposition correct (counting `acceptable`).
    pub disposition_correct: bool,
    /// Department correct (None when not scored).
    pub department_correct: Option<bool>,
    /// Questions asked after the opening.
    pub questions: u32,
    /// OLDCARTS slots the case knows that ended up on the card, 0-1 (None when it knows none).
    pub oldcarts_completeness: Option<f32>,
    /// The interview ran to the read-back (not stopped by a red flag).
    pub completed: bool,
    /// Every question and answer.
    pub exchange: Vec<Turn>,
    /// Engine time per turn, milliseconds.
    #[serde(skip)]
    pub turn_ms: Vec<f64>,
    /// The final card.
    #[serde(skip)]
    pub card: Option<ConditionCard>,
}

/// Runs one case.
pub fn run_case(engine: &Arc<Engine>, case: &Case) -> CaseRun {
    run_case_with(engine, case, &mut |_| {})
}

/// Runs one case, calling `after_opening` once the opening answer is in (where a language
/// model's reading of the story is merged in the kiosk).
pub fn run_case_with(
    engine: &Arc<Engine>,
    case: &Case,
    after_opening: &mut dyn FnMut(&mut crate::interview::Interview),
) -> CaseRun {
    let (mut interview, mut reply) = engine.start(case.lang, &format!("eval-{}", case.id), 0);
    let mut opened = false;
    let mut exchange = Vec::new();
    let mut turn_ms = Vec::new();
    let mut at_ms = 0u64;
    for _ in 0..MAX_TURNS {
        let Some(question) = reply.question.clone() else { break };
        let answer = simulated_answer(case, &question);
        at_ms += 5_000;
        let started = Instant::now();
        reply = interview.handle(Input::Text(PatientText::new(answer.clone())), at_ms);
        turn_ms.push(started.elapsed().as_secs_f64() * 1000.0);
        if !opened
            && question.kind == QuestionKind::Opening
            && reply.question.as_ref().is_none_or(|q| q.kind != QuestionKind::Opening)
        {
            opened = true;
            after_opening(&mut interview);
        }
        exchange.push(Turn {
            question_id: question.id.clone(),
            kind: question.kind,
            question: question.text.clone(),
            answer,
        });
        if matches!(reply.phase, Phase::Complete | Phase::Emergency) {
            break;
        }
    }
    let card = interview.card();
    let result = CaseResult {
        disposition: card.triage.disposition,
        level: card.triage.level,
        department: card.triage.department,
        red_flags: card.red_flags.iter().map(|r| r.rule_id.clone()).collect(),
        protocol: card.chief_complaint.protocol_id.clone(),
    };
    let disposition_correct =
        result.disposition == case.gold.disposition || case.gold.acceptable.contains(&result.disposition);
    let department_correct = case.gold.department.map(|d| d == result.department);
    let known: Vec<Slot> = Slot::ALL.into_iter().filter(|s| known_slot(&case.facts, *s)).collect();
    let oldcarts_completeness = if known.is_empty() {
        None
    } else {
        Some(known.iter().filter(|s| card.slot(**s).is_some()).count() as f32 / known.len() as f32)
    };
    CaseRun {
        id: case.id.clone(),
        gold: case.gold.clone(),
        result,
        disposition_correct,
        department_correct,
        questions: interview.n_questions(),
        oldcarts_completeness,
        completed: interview.phase() == Phase::Complete,
        exchange,
        turn_ms,
        card: Some(card),
    }
}

fn known_slot(f: &CaseFacts, slot: Slot) -> bool {
    match slot {
        Slot::Onset => f.onset.is_some(),
        Slot::Location => f.location.is_some(),
        Slot::Duration => f.duration.is_some(),
        Slot::Character => f.character.is_some(),
        Slot::Aggravating => f.aggravating.is_some(),
        Slot::Relieving => f.relieving.is_some(),
        Slot::Radiation => f.radiation.is_some(),
        Slot::Timing => f.timing.is_some(),
        Slot::Severity => f.severity.is_some(),
    }
}

/// Summary figures.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// Cases run.
    pub n_cases: usize,
    /// Disposition accuracy, counting `acceptable`.
    pub disposition_accuracy: f64,
    /// Accuracy per gold disposition.
    pub accuracy_by_gold: BTreeMap<String, f64>,
    /// Share of cases triaged less urgently than gold (and not acceptable).
    pub under_triage_rate: f64,
    /// Share triaged more urgently than gold (and not acceptable).
    pub over_triage_rate: f64,
    /// Share of gold emergencies given the emergency disposition.
    pub emergency_sensitivity: f64,
    /// Share of red-flag cases where a red flag fired.
    pub red_flag_recall: f64,
    /// Share of non-red-flag cases where one fired anyway.
    pub red_flag_false_alarm_rate: f64,
    /// Department accuracy over cases with a gold department.
    pub department_accuracy: f64,
    /// Mean OLDCARTS completeness over the slots each case knows, over interviews that ran to the
    /// read-back (a red flag deliberately stops the questions).
    pub oldcarts_completeness: f64,
    /// The same over every case, interrupted ones included.
    pub oldcarts_completeness_all: f64,
    /// Median questions asked.
    pub questions_median: f64,
    /// Most questions asked.
    pub questions_max: u32,
    /// Engine time per turn, median.
    pub turn_ms_p50: f64,
    /// Engine time per turn, 95th percentile.
    pub turn_ms_p95: f64,
    /// Per-case results.
    pub cases: Vec<CaseRun>,
}

fn ratio(num: usize, den: usize) -> f64 {
    if den == 0 { 1.0 } else { num as f64 / den as f64 }
}

pub use protocol::stats::percentile;

/// Runs every case and summarises.
pub fn evaluate(engine: &Arc<Engine>, cases: &[Case]) -> Report {
    let runs: Vec<CaseRun> = cases.iter().map(|c| run_case(engine, c)).collect();
    let n = runs.len();
    let correct = runs.iter().filter(|r| r.disposition_correct).count();
    let mut accuracy_by_gold = BTreeMap::new();
    for d in [Disposition::Emergency, Disposition::Urgent, Disposition::Routine, Disposition::SelfCare] {
        let of: Vec<&CaseRun> = runs.iter().filter(|r| r.gold.disposition == d).collect();
        if !of.is_empty() {
            accuracy_by_gold.insert(
                d.code().to_owned(),
                ratio(of.iter().filter(|r| r.disposition_correct).count(), of.len()),
            );
        }
    }
    let under = runs
        .iter()
        .filter(|r| !r.disposition_correct && r.result.disposition.rank() > r.gold.disposition.rank())
        .count();
    let over = runs
        .iter()
        .filter(|r| !r.disposition_correct && r.result.disposition.rank() < r.gold.disposition.rank())
        .count();
    let emergencies: Vec<&CaseRun> =
        runs.iter().filter(|r| r.gold.disposition == Disposition::Emergency).collect();
    let rf: Vec<&CaseRun> = runs.iter().filter(|r| r.gold.red_flag).collect();
    let non_rf: Vec<&CaseRun> = runs.iter().filter(|r| !r.gold.red_flag).collect();
    let dept: Vec<bool> = runs.iter().filter_map(|r| r.department_correct).collect();
    let completeness = |only_completed: bool| {
        let v: Vec<f64> = runs
            .iter()
            .filter(|r| !only_completed || r.completed)
            .filter_map(|r| r.oldcarts_completeness.map(f64::from))
            .collect();
        if v.is_empty() { 1.0 } else { v.iter().sum::<f64>() / v.len() as f64 }
    };
    let questions: Vec<f64> = runs.iter().map(|r| f64::from(r.questions)).collect();
    let turn_ms: Vec<f64> = runs.iter().flat_map(|r| r.turn_ms.iter().copied()).collect();
    Report {
        n_cases: n,
        disposition_accuracy: ratio(correct, n),
        accuracy_by_gold,
        under_triage_rate: ratio(under, n),
        over_triage_rate: ratio(over, n),
        emergency_sensitivity: ratio(
            emergencies.iter().filter(|r| r.result.disposition == Disposition::Emergency).count(),
            emergencies.len(),
        ),
        red_flag_recall: ratio(rf.iter().filter(|r| !r.result.red_flags.is_empty()).count(), rf.len()),
        red_flag_false_alarm_rate: if non_rf.is_empty() {
            0.0
        } else {
            ratio(non_rf.iter().filter(|r| !r.result.red_flags.is_empty()).count(), non_rf.len())
        },
        department_accuracy: ratio(dept.iter().filter(|c| **c).count(), dept.len()),
        oldcarts_completeness: completeness(true),
        oldcarts_completeness_all: completeness(false),
        questions_median: percentile(&questions, 50.0),
        questions_max: runs.iter().map(|r| r.questions).max().unwrap_or(0),
        turn_ms_p50: percentile(&turn_ms, 50.0),
        turn_ms_p95: percentile(&turn_ms, 95.0),
        cases: runs,
    }
}

impl Report {
    /// A plain-text summary with one line per failed case.
    pub fn summary(&self) -> String {
        let mut out = String::new();
        let pct = |v: f64| format!("{:.1}%", v * 100.0);
        out.push_str(&format!("cases                      {}\n", self.n_cases));
        out.push_str(&format!("disposition accuracy       {}\n", pct(self.disposition_accuracy)));
        for (d, a) in &self.accuracy_by_gold {
            out.push_str(&format!("  gold {d:<20} {}\n", pct(*a)));
        }
        out.push_str(&format!("under-triage rate          {}\n", pct(self.under_triage_rate)));
        out.push_str(&format!("over-triage rate           {}\n", pct(self.over_triage_rate)));
        out.push_str(&format!("emergency sensitivity      {}\n", pct(self.emergency_sensitivity)));
        out.push_str(&format!("red-flag recall            {}\n", pct(self.red_flag_recall)));
        out.push_str(&format!("red-flag false alarms      {}\n", pct(self.red_flag_false_alarm_rate)));
        out.push_str(&format!("department accuracy        {}\n", pct(self.department_accuracy)));
        out.push_str(&format!(
            "OLDCARTS completeness      {} (all cases {})\n",
            pct(self.oldcarts_completeness),
            pct(self.oldcarts_completeness_all)
        ));
        out.push_str(&format!(
            "questions median / max     {} / {}\n",
            self.questions_median, self.questions_max
        ));
        out.push_str(&format!(
            "engine ms/turn p50 / p95   {:.2} / {:.2}\n",
            self.turn_ms_p50, self.turn_ms_p95
        ));
        for r in &self.cases {
            let dept_bad = r.department_correct == Some(false);
            let rf_bad = r.gold.red_flag == r.result.red_flags.is_empty();
            if !r.disposition_correct || dept_bad || rf_bad {
                out.push_str(&format!(
                    "  {:<12} gold {}/{}{} got {}/{} L{} {} [{}] q={}\n",
                    r.id,
                    r.gold.disposition.code(),
                    r.gold.department.map_or("-", |d| d.code()),
                    if r.gold.red_flag { " RF" } else { "" },
                    r.result.disposition.code(),
                    r.result.department.code(),
                    r.result.level,
                    r.result.protocol,
                    r.result.red_flags.join(","),
                    r.questions
                ));
            }
        }
        out
    }
}

/// A paraphrase case: words that avoid the protocol's keywords, for the semantic matcher.
///
/// An opening case (`answer_to` absent) gives the patient's opening `text`, the protocol it
/// should choose and the concepts it states. An answer case gives an `opening` that leads to a
/// yes/no question about `answer_to`, and `text`, a paraphrase meaning yes, given as the answer.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ParaphraseCase {
    /// Case id.
    pub id: String,
    /// Language.
    pub lang: Lang,
    /// The paraphrase.
    pub text: String,
    /// Opening cases: the protocol expected.
    #[serde(default)]
    pub protocol: Option<String>,
    /// Other protocols also counted correct.
    #[serde(default)]
    pub acceptable: Vec<String>,
    /// Opening cases: concepts the text states.
    #[serde(default)]
    pub concepts: Vec<String>,
    /// Answer cases: the opening that starts the interview.
    #[serde(default)]
    pub opening: Option<String>,
    /// Answer cases: the concept asked about.
    #[serde(default)]
    pub answer_to: Option<String>,
}

/// Parses JSON-lines paraphrase cases.
pub fn parse_paraphrases(text: &str) -> Result<Vec<ParaphraseCase>, CaseError> {
    let cases: Vec<ParaphraseCase> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty() && !l.trim_start().starts_with("//"))
        .map(|(i, l)| serde_json::from_str(l).map_err(|e| CaseError { line: i + 1, detail: e.to_string() }))
        .collect::<Result<_, _>>()?;
    for (i, c) in cases.iter().enumerate() {
        let ok = match &c.answer_to {
            Some(_) => c.opening.is_some(),
            None => c.protocol.is_some(),
        };
        if !ok {
            return Err(CaseError {
                line: i + 1,
                detail: format!("case {}: an opening case needs `protocol`, an answer case `opening`", c.id),
            });
        }
    }
    Ok(cases)
}

/// Understanding of paraphrases by one engine configuration.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ParaphraseReport {
    /// Opening cases.
    pub openings: usize,
    /// Share of openings that chose the expected protocol.
    pub complaint_accuracy: f32,
    /// Share of the stated concepts found present after the opening.
    pub concept_recall: f32,
    /// Share of concepts found present after the opening that the text states (or that the
    /// chosen protocol's recognisers include).
    pub concept_precision: f32,
    /// Answer cases whose question was reached.
    pub answers: usize,
    /// Share of reached answer cases recorded as present.
    pub answer_accuracy: f32,
    /// Ids of the cases missed.
    pub missed: Vec<String>,
}

impl ParaphraseReport {
    /// One line per figure.
    pub fn summary(&self, label: &str) -> String {
        format!(
            "{label}: chief complaint {:.1}% of {} openings, concept recall {:.1}%, precision {:.1}%, \
             answers understood {:.1}% of {}\n",
            self.complaint_accuracy * 100.0,
            self.openings,
            self.concept_recall * 100.0,
            self.concept_precision * 100.0,
            self.answer_accuracy * 100.0,
            self.answers,
        )
    }
}

/// Runs paraphrase cases through `engine`.
pub fn evaluate_paraphrases(engine: &Arc<Engine>, cases: &[ParaphraseCase]) -> ParaphraseReport {
    let mut report = ParaphraseReport::default();
    let (mut correct, mut stated, mut found_stated, mut found, mut found_right) = (0, 0, 0, 0, 0);
    let (mut answered, mut answered_right) = (0, 0);
    for case in cases {
        let (mut interview, first) = engine.start(case.lang, &format!("eval-{}", case.id), 0);
        match &case.answer_to {
            None => {
                if first.question.is_none() {
                    continue;
                }
                interview.handle(Input::Text(PatientText::new(case.text.clone())), 5_000);
                let facts = interview.facts();
                report.openings += 1;
                let gold = case.protocol.as_deref().unwrap_or_default();
                let right = std::iter::once(gold)
                    .chain(case.acceptable.iter().map(String::as_str))
                    .any(|p| facts.present.contains(&format!("cc:{p}")));
                if right {
                    correct += 1;
                } else {
                    let got: Vec<&str> = facts.present.iter().filter_map(|c| c.strip_prefix("cc:")).collect();
                    let got = if got.is_empty() { "no complaint".to_owned() } else { got.join("+") };
                    let seen: Vec<&str> =
                        facts.present.iter().filter(|c| !c.starts_with("cc:")).map(String::as_str).collect();
                    report.missed.push(format!("{} (read as {got}; found {})", case.id, seen.join(", ")));
                }
                stated += case.concepts.len();
                found_stated += case.concepts.iter().filter(|c| facts.present.contains(*c)).count();
                let protocol_words: Vec<&str> = engine
                    .kb
                    .protocol(gold)
                    .map(|p| p.recognise.iter().map(String::as_str).collect())
                    .unwrap_or_default();
                for c in facts.present.iter().filter(|c| engine.kb.concept(c).is_some()) {
                    found += 1;
                    if case.concepts.contains(c) || protocol_words.contains(&c.as_str()) {
                        found_right += 1;
                    }
                }
            }
            Some(target) => {
                let opening = case.opening.clone().unwrap_or_default();
                let dont_know = if case.lang == Lang::Zh { "不知道" } else { "I don't know" };
                let mut reply = interview.handle(Input::Text(PatientText::new(opening)), 5_000);
                let mut at_ms = 5_000;
                for _ in 0..MAX_TURNS {
                    let Some(q) = reply.question.clone() else { break };
                    at_ms += 5_000;
                    if q.concept.as_ref().is_some_and(|c| &c.id == target) {
                        answered += 1;
                        interview.handle(Input::Text(PatientText::new(case.text.clone())), at_ms);
                        if interview.facts().present.contains(target) {
                            answered_right += 1;
                        } else {
                            report.missed.push(format!("{} (not understood)", case.id));
                        }
                        break;
                    }
                    reply = interview.handle(Input::Text(PatientText::new(dont_know.to_owned())), at_ms);
                    if matches!(reply.phase, Phase::Complete | Phase::Emergency | Phase::ReadBack) {
                        report.missed.push(format!("{} (question not reached)", case.id));
                        break;
                    }
                }
            }
        }
    }
    let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f32 / b as f32 };
    report.complaint_accuracy = ratio(correct, report.openings);
    report.concept_recall = ratio(found_stated, stated);
    report.concept_precision = ratio(found_right, found);
    report.answers = answered;
    report.answer_accuracy = ratio(answered_right, answered);
    report
}
