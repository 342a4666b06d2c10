//! The knowledge base: symptom vocabulary, protocols, red-flag and triage rules, question texts and
//! departments, all loaded from the reviewable data files under `dialogue/data/` and validated
//! together (every referenced concept, department and slot must exist).

pub mod condition;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use protocol::{Bilingual, Department, Lang, Slot};
use serde::Deserialize;

pub use condition::{Atom, Condition, DERIVED_ATOMS, Facts, eval_any};

include!(concat!(env!("OUT_DIR"), "/protocol_files.rs"));

const CONCEPTS: &str = include_str!("../../data/concepts.toml");
const QUESTIONS: &str = include_str!("../../data/questions.toml");
const DEPARTMENTS: &str = include_str!("../../data/departments.toml");
const RED_FLAGS: &str = include_str!("../../data/red_flags.toml");
const TRIAGE: &str = include_str!("../../data/triage.toml");
const EXAMPLES: &str = include_str!("../../data/examples.toml");

/// A problem in the data files, naming the file and the item.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {detail}")]
pub struct KbError {
    /// File (or file/item).
    pub file: String,
    /// What is wrong.
    pub detail: String,
}

fn kb_err(file: &str, detail: impl Into<String>) -> KbError {
    KbError { file: file.to_owned(), detail: detail.into() }
}

/// Text in both languages, as written in the data files.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Text {
    /// Mandarin.
    pub zh: String,
    /// English.
    pub en: String,
}

impl Text {
    /// The text in `lang`.
    pub fn get(&self, lang: Lang) -> &str {
        match lang {
            Lang::Zh => &self.zh,
            Lang::En => &self.en,
        }
    }

    /// As the card's bilingual type.
    pub fn bilingual(&self) -> Bilingual {
        Bilingual::new(self.zh.clone(), self.en.clone())
    }
}

/// A symptom or finding.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Concept {
    /// Stable id.
    pub id: String,
    /// Mandarin recognisers; the first is the display name.
    pub zh: Vec<String>,
    /// English recognisers (`*` = any ending); the first is the display name.
    pub en: Vec<String>,
    /// Yes/no question, when the concept is asked about directly.
    pub ask: Option<Text>,
    /// Names shown with the question (and used by the simulated patient), when the recognisers
    /// would be misleading: a specific finding's names avoid the words of the general symptom
    /// ("blood" for vomiting blood, not "vomiting").
    pub names: Option<Names>,
}

/// Curated names of a concept.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Names {
    /// Mandarin.
    pub zh: Vec<String>,
    /// English.
    pub en: Vec<String>,
}

impl Concept {
    /// Display name.
    pub fn name(&self) -> Bilingual {
        Bilingual::new(self.zh[0].clone(), self.en[0].trim_end_matches('*').to_owned())
    }

    /// Plain names (recognisers without wildcards) in `lang`, for people and the simulated patient.
    pub fn names(&self, lang: Lang) -> Vec<String> {
        if let Some(names) = &self.names {
            return match lang {
                Lang::Zh => names.zh.clone(),
                Lang::En => names.en.clone(),
            };
        }
        let list = match lang {
            Lang::Zh => &self.zh,
            Lang::En => &self.en,
        };
        list.iter().filter(|n| !n.contains('~')).map(|n| n.trim_end_matches('*').to_owned()).collect()
    }
}

/// A body site: near a feeling word it means `concept` ("my stomach really hurts").
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Site {
    /// Concept meant.
    pub concept: String,
    /// Which feeling words: `pain`, `tight` or `swollen`.
    pub feeling: Feeling,
    /// Mandarin site words.
    pub zh: Vec<String>,
    /// English site words.
    pub en: Vec<String>,
}

/// Kinds of feeling words that combine with a site.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Feeling {
    /// 疼, 痛, hurts, ache, sore...
    Pain,
    /// 闷, 发紧, tight, pressure...
    Tight,
    /// 肿, swollen...
    Swollen,
    /// 麻, 没知觉, numb, tingling...
    Numb,
    /// 硬得像木板, rigid: a belly as hard as a board.
    Rigid,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConceptsFile {
    version: u32,
    concepts: Vec<Concept>,
    #[serde(default)]
    sites: Vec<Site>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExamplesFile {
    version: u32,
    #[serde(default)]
    off_topic: Option<Names>,
    #[serde(default)]
    denials: Option<Names>,
    examples: Vec<Examples>,
}

/// Everyday phrasings of a concept, for the semantic matcher (`examples.toml`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Examples {
    /// Concept id.
    pub concept: String,
    /// Mandarin sentences.
    #[serde(default)]
    pub zh: Vec<String>,
    /// English sentences.
    #[serde(default)]
    pub en: Vec<String>,
}

/// A follow-up group: yes/no questions that point to one department.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Followup {
    /// Department the group points to.
    pub department: Department,
    /// Concepts asked, in order.
    pub ask: Vec<String>,
}

/// Extra weight for a department when a condition holds.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route {
    /// Department.
    pub department: Department,
    /// Weight added to its score.
    pub weight: u32,
    /// When.
    pub when: Vec<Condition>,
}

/// Screening questions asked only when a condition holds.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConditionalScreen {
    /// When.
    pub when: Vec<Condition>,
    /// Concepts to ask.
    pub ask: Vec<String>,
}

/// A protocol's own level rule.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProtocolRule {
    /// Rule id.
    pub id: String,
    /// Level (3 for urgent).
    pub level: u8,
    /// Why.
    pub reason: Text,
    /// When.
    pub when: Vec<Condition>,
}

/// A protocol's self-care rule.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SelfCareRule {
    /// Rule id.
    pub id: String,
    /// Why self-care is safe.
    pub reason: Text,
    /// Advice given to the patient.
    pub advice: Text,
    /// When.
    pub when: Vec<Condition>,
}

/// One presenting complaint's interview.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Protocol {
    /// Stable id (the file name).
    pub id: String,
    /// Content version.
    pub version: String,
    /// Clinical review status.
    pub review: String,
    /// Variants of one complaint by age share a group (`fever`).
    pub group: Option<String>,
    /// A generic complaint (fever) that gives way when a more specific one is also recognised.
    #[serde(default)]
    pub yields: bool,
    /// A yielding complaint that still keeps the patient when the other complaint was recognised
    /// only by signs this one screens for (a feverish infant who is sleepy stays a feverish infant).
    #[serde(default)]
    pub keeps_screened: bool,
    /// Age range (variants).
    pub age_ge_days: Option<f64>,
    /// Age range (variants).
    pub age_lt_days: Option<f64>,
    /// Age range (variants).
    pub age_ge_years: Option<f64>,
    /// Age range (variants).
    pub age_lt_years: Option<f64>,
    /// Name.
    pub name: Text,
    /// Main symptom for the 主诉.
    pub main_symptom: Text,
    /// Published sources.
    pub sources: Vec<String>,
    /// Concepts that signal this complaint.
    pub recognise: Vec<String>,
    /// Concepts that signal it only when nothing else is recognised.
    #[serde(default)]
    pub recognise_weak: Vec<String>,
    /// Higher wins when several complaints are recognised.
    pub priority: u32,
    /// Departments it can route to.
    pub departments: Vec<Department>,
    /// Department when nothing points elsewhere.
    pub default_department: Department,
    /// OLDCARTS slots to fill, in order.
    pub slots: Vec<Slot>,
    /// Red-flag discriminators asked first.
    pub screen: Vec<String>,
    /// Whether to ask about pregnancy (women 12-55).
    #[serde(default = "yes")]
    pub ask_pregnancy: bool,
    /// Whether to ask for a measured temperature.
    #[serde(default)]
    pub ask_temperature: bool,
    /// Protocol-specific wording of slot questions.
    #[serde(default)]
    pub slot_questions: BTreeMap<Slot, Text>,
    /// Screens asked when a condition holds.
    #[serde(default)]
    pub conditional_screen: Vec<ConditionalScreen>,
    /// Department follow-ups.
    #[serde(default)]
    pub followups: Vec<Followup>,
    /// Department routing weights.
    #[serde(default)]
    pub route: Vec<Route>,
    /// Level rules of this protocol.
    #[serde(default)]
    pub urgent: Vec<ProtocolRule>,
    /// Self-care rules.
    #[serde(default)]
    pub self_care: Vec<SelfCareRule>,
}

fn yes() -> bool {
    true
}

impl Protocol {
    /// Whether a patient of this age fits the protocol's age range (unknown age fits adult
    /// variants only, so an unknown-age fever starts as the adult protocol and switches once the
    /// age is known).
    pub fn fits_age(&self, age_days: Option<f64>) -> bool {
        let Some(days) = age_days else {
            return self.age_lt_days.is_none() && self.age_lt_years.is_none();
        };
        let years = days / 365.25;
        self.age_ge_days.is_none_or(|b| days >= b)
            && self.age_lt_days.is_none_or(|b| days < b)
            && self.age_ge_years.is_none_or(|b| years >= b)
            && self.age_lt_years.is_none_or(|b| years < b)
    }
}

/// A red-flag or triage rule.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Rule id.
    pub id: String,
    /// Published source.
    pub source: String,
    /// Pre-triage level it sets.
    pub level: u8,
    /// Department it sends to (red flags; optional for triage rules).
    pub department: Option<Department>,
    /// Red flags: what it means.
    pub title: Option<Text>,
    /// Triage rules: why.
    pub reason: Option<Text>,
    /// Red flags: what the patient is told to do.
    pub instruction: Option<Text>,
    /// When.
    pub when: Vec<Condition>,
}

impl Rule {
    /// Title or reason, whichever the rule has.
    pub fn label(&self) -> Bilingual {
        self.title.as_ref().or(self.reason.as_ref()).map(Text::bilingual).unwrap_or_default()
    }
}

/// A department rule: patients matching `when` are sent from any of `from` to `to`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DepartmentRule {
    /// Rule id.
    pub id: String,
    /// Why.
    pub source: String,
    /// When.
    pub when: Vec<Condition>,
    /// Departments replaced.
    pub from: Vec<Department>,
    /// Replacement.
    pub to: Department,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RedFlagsFile {
    version: u32,
    red_flags: Vec<Rule>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TriageFile {
    version: u32,
    rules: Vec<Rule>,
    department_rules: Vec<DepartmentRule>,
}

/// Fixed question texts.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Questions {
    /// Format version.
    pub version: u32,
    /// Opening question.
    pub opening: Text,
    /// Age.
    pub age: Text,
    /// Sex.
    pub sex: Text,
    /// Pregnancy.
    pub pregnancy: Text,
    /// Temperature.
    pub temperature: Text,
    /// Past history.
    pub history: Text,
    /// Medications.
    pub medications: Text,
    /// Allergies.
    pub allergies: Text,
    /// Read-back confirmation.
    pub confirm: Text,
    /// Prefix when repeating.
    pub repeat_prefix: Text,
    /// When an answer was not understood.
    pub not_understood: Text,
    /// Generic slot questions.
    pub slots: BTreeMap<Slot, Text>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DepartmentsFile {
    version: u32,
    departments: BTreeMap<Department, Text>,
}

/// Everything the engine knows, validated.
#[derive(Debug)]
pub struct KnowledgeBase {
    /// Symptom vocabulary.
    pub concepts: Vec<Concept>,
    /// Body sites that combine with feeling words.
    pub sites: Vec<Site>,
    concept_index: HashMap<String, usize>,
    /// Protocols, sorted by id.
    pub protocols: Vec<Protocol>,
    /// Red-flag rules.
    pub red_flags: Vec<Rule>,
    /// Triage rules.
    pub triage_rules: Vec<Rule>,
    /// Department rules.
    pub department_rules: Vec<DepartmentRule>,
    /// Fixed question texts.
    pub questions: Questions,
    /// Department names.
    pub departments: BTreeMap<Department, Text>,
    /// Everyday phrasings of concepts, for the semantic matcher.
    pub examples: Vec<Examples>,
    /// Things said at a kiosk that are no complaint, so the semantic matcher can tell them apart.
    pub off_topic: Option<Names>,
    /// Plain denials ("没有发烧", "no pain"), so the semantic matcher does not read a symptom into
    /// them.
    pub denials: Option<Names>,
}

impl KnowledgeBase {
    /// The knowledge base compiled into this build.
    pub fn embedded() -> Result<Self, KbError> {
        let protocols = PROTOCOL_FILES.iter().map(|(n, t)| ((*n).to_owned(), (*t).to_owned())).collect();
        Self::from_sources(CONCEPTS, QUESTIONS, DEPARTMENTS, RED_FLAGS, TRIAGE, EXAMPLES, protocols)
    }

    /// Loads a knowledge base from a directory with the same layout as `dialogue/data/` (for a
    /// hospital that maintains its own reviewed copy). `examples.toml` is optional there.
    pub fn load_dir(dir: &Path) -> Result<Self, KbError> {
        let read = |name: &str| {
            std::fs::read_to_string(dir.join(name))
                .map_err(|e| kb_err(&dir.join(name).display().to_string(), e.to_string()))
        };
        let proto_dir = dir.join("protocols");
        let mut protocols = Vec::new();
        let entries = std::fs::read_dir(&proto_dir)
            .map_err(|e| kb_err(&proto_dir.display().to_string(), e.to_string()))?;
        for entry in entries {
            let path = entry.map_err(|e| kb_err(&proto_dir.display().to_string(), e.to_string()))?.path();
            if path.extension().is_some_and(|x| x == "toml") {
                let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                let text = std::fs::read_to_string(&path).map_err(|e| kb_err(&name, e.to_string()))?;
                protocols.push((name, text));
            }
        }
        Self::from_sources(
            &read("concepts.toml")?,
            &read("questions.toml")?,
            &read("departments.toml")?,
            &read("red_flags.toml")?,
            &read("triage.toml")?,
            &if dir.join("examples.toml").exists() {
                read("examples.toml")?
            } else {
                "version = 1\nexamples = []\n".to_owned()
            },
            protocols,
        )
    }

    fn from_sources(
        concepts: &str,
        questions: &str,
        departments: &str,
        red_flags: &str,
        triage: &str,
        examples: &str,
        protocol_files: Vec<(String, String)>,
    ) -> Result<Self, KbError> {
        fn parse_err(file: &str) -> impl Fn(toml::de::Error) -> KbError + '_ {
            move |e| kb_err(file, e.to_string())
        }
        let concepts: ConceptsFile = toml::from_str(concepts).map_err(parse_err("concepts.toml"))?;
        let questions: Questions = toml::from_str(questions).map_err(parse_err("questions.toml"))?;
        let departments: DepartmentsFile =
            toml::from_str(departments).map_err(parse_err("departments.toml"))?;
        let red_flags: RedFlagsFile = toml::from_str(red_flags).map_err(parse_err("red_flags.toml"))?;
        let triage: TriageFile = toml::from_str(triage).map_err(parse_err("triage.toml"))?;
        let examples: ExamplesFile = toml::from_str(examples).map_err(parse_err("examples.toml"))?;
        for (file, version) in [
            ("concepts.toml", concepts.version),
            ("questions.toml", questions.version),
            ("departments.toml", departments.version),
            ("red_flags.toml", red_flags.version),
            ("triage.toml", triage.version),
            ("examples.toml", examples.version),
        ] {
            if version != 1 {
                return Err(kb_err(file, format!("format version {version}, this build reads version 1")));
            }
        }
        let mut protocols = Vec::new();
        for (name, text) in &protocol_files {
            let protocol: Protocol = toml::from_str(text).map_err(parse_err(name))?;
            if format!("{}.toml", protocol.id) != *name {
                return Err(kb_err(name, format!("id {} does not match the file name", protocol.id)));
            }
            protocols.push(protocol);
        }
        protocols.sort_by(|a, b| a.id.cmp(&b.id));
        let concept_index =
            concepts.concepts.iter().enumerate().map(|(i, c)| (c.id.clone(), i)).collect::<HashMap<_, _>>();
        let kb = Self {
            concepts: concepts.concepts,
            sites: concepts.sites,
            concept_index,
            protocols,
            red_flags: red_flags.red_flags,
            triage_rules: triage.rules,
            department_rules: triage.department_rules,
            questions,
            departments: departments.departments,
            examples: examples.examples,
            off_topic: examples.off_topic,
            denials: examples.denials,
        };
        kb.validate()?;
        Ok(kb)
    }

    /// The concepts some red-flag rule looks at.
    pub fn red_flag_concepts(&self) -> std::collections::HashSet<&str> {
        self.red_flags
            .iter()
            .flat_map(|r| &r.when)
            .flat_map(|c| c.all.iter().chain(&c.any))
            .flat_map(|a| a.0.iter().map(String::as_str))
            .collect()
    }

    /// The concept with `id`.
    pub fn concept(&self, id: &str) -> Option<&Concept> {
        self.concept_index.get(id).map(|&i| &self.concepts[i])
    }

    /// The protocol with `id`.
    pub fn protocol(&self, id: &str) -> Option<&Protocol> {
        self.protocols.iter().find(|p| p.id == id)
    }

    /// The fallback protocol for complaints nothing recognises.
    pub fn general_protocol(&self) -> &Protocol {
        self.protocol("general").unwrap_or(&self.protocols[0])
    }

    /// Every fixed sentence the kiosk can say in `lang` (questions, symptom questions, slot
    /// questions), for filling the voice's prompt cache ahead of time.
    pub fn spoken_prompts(&self, lang: Lang) -> Vec<String> {
        let q = &self.questions;
        let mut texts: Vec<&Text> = vec![
            &q.opening,
            &q.age,
            &q.sex,
            &q.pregnancy,
            &q.temperature,
            &q.history,
            &q.medications,
            &q.allergies,
            &q.confirm,
            &q.repeat_prefix,
            &q.not_understood,
        ];
        texts.extend(q.slots.values());
        texts.extend(self.protocols.iter().flat_map(|p| p.slot_questions.values()));
        texts.extend(self.concepts.iter().filter_map(|c| c.ask.as_ref()));
        let mut out: Vec<String> = texts.into_iter().map(|t| t.get(lang).to_owned()).collect();
        out.sort();
        out.dedup();
        out
    }

    /// Department display name.
    pub fn department_name(&self, department: Department) -> Bilingual {
        self.departments
            .get(&department)
            .map(Text::bilingual)
            .unwrap_or_else(|| Bilingual::new(department.code(), department.code()))
    }

    fn validate(&self) -> Result<(), KbError> {
        let mut seen = std::collections::HashSet::new();
        for c in &self.concepts {
            if !seen.insert(c.id.as_str()) {
                return Err(kb_err("concepts.toml", format!("concept {} is defined twice", c.id)));
            }
            if c.zh.is_empty() || c.en.is_empty() {
                return Err(kb_err(
                    "concepts.toml",
                    format!("concept {} needs recognisers in zh and en", c.id),
                ));
            }
        }
        for ex in &self.examples {
            if self.concept(&ex.concept).is_none() {
                return Err(kb_err("examples.toml", format!("examples name unknown concept {}", ex.concept)));
            }
        }
        for site in &self.sites {
            if self.concept(&site.concept).is_none() {
                return Err(kb_err("concepts.toml", format!("site names unknown concept {}", site.concept)));
            }
        }
        for d in Department::ALL {
            if !self.departments.contains_key(&d) {
                return Err(kb_err("departments.toml", format!("department {} has no name", d.code())));
            }
        }
        for slot in Slot::ALL {
            if !self.questions.slots.contains_key(&slot) {
                return Err(kb_err("questions.toml", format!("no question for slot {}", slot.code())));
            }
        }
        let protocol_ids: Vec<&str> = self.protocols.iter().map(|p| p.id.as_str()).collect();
        let check_atoms = |file: &str, when: &[Condition]| -> Result<(), KbError> {
            for name in when.iter().flat_map(Condition::atom_names) {
                let known = if let Some(p) = name.strip_prefix("cc:") {
                    protocol_ids.contains(&p)
                } else {
                    self.concept(name).is_some() || DERIVED_ATOMS.contains(&name)
                };
                if !known {
                    return Err(kb_err(
                        file,
                        format!("condition names unknown concept or complaint `{name}`"),
                    ));
                }
            }
            Ok(())
        };
        let mut rule_ids = std::collections::HashSet::new();
        for rule in self.red_flags.iter().chain(&self.triage_rules) {
            let file = format!("rule {}", rule.id);
            if !rule_ids.insert(rule.id.clone()) {
                return Err(kb_err(&file, "rule id is used twice"));
            }
            if !(1..=4).contains(&rule.level) || rule.when.is_empty() || rule.source.trim().is_empty() {
                return Err(kb_err(&file, "needs a level 1-4, a source and at least one `when`"));
            }
            check_atoms(&file, &rule.when)?;
        }
        for rule in &self.red_flags {
            if rule.title.is_none() || rule.instruction.is_none() || rule.level > 2 {
                return Err(kb_err(
                    &format!("red_flags.toml {}", rule.id),
                    "a red flag needs a title, an instruction and level 1 or 2",
                ));
            }
        }
        for rule in &self.department_rules {
            check_atoms(&format!("department rule {}", rule.id), &rule.when)?;
        }
        for p in &self.protocols {
            let file = format!("protocols/{}.toml", p.id);
            let all_concepts = p
                .recognise
                .iter()
                .chain(&p.recognise_weak)
                .chain(&p.screen)
                .chain(p.followups.iter().flat_map(|f| &f.ask))
                .chain(p.conditional_screen.iter().flat_map(|c| &c.ask));
            for id in all_concepts {
                if self.concept(id).is_none() {
                    return Err(kb_err(&file, format!("unknown concept `{id}`")));
                }
            }
            let asked = p
                .screen
                .iter()
                .chain(p.followups.iter().flat_map(|f| &f.ask))
                .chain(p.conditional_screen.iter().flat_map(|c| &c.ask));
            for id in asked {
                if self.concept(id).is_some_and(|c| c.ask.is_none()) {
                    return Err(kb_err(
                        &file,
                        format!("concept `{id}` is asked but has no `ask` text in concepts.toml"),
                    ));
                }
            }
            for f in &p.followups {
                if !p.departments.contains(&f.department) {
                    return Err(kb_err(
                        &file,
                        format!("follow-up department {} is not in `departments`", f.department.code()),
                    ));
                }
            }
            if !p.departments.contains(&p.default_department) {
                return Err(kb_err(&file, "default_department is not in `departments`"));
            }
            for r in &p.route {
                check_atoms(&file, &r.when)?;
            }
            for c in &p.conditional_screen {
                check_atoms(&file, &c.when)?;
            }
            for r in &p.urgent {
                check_atoms(&file, &r.when)?;
                if !rule_ids.insert(r.id.clone()) {
                    return Err(kb_err(&file, format!("rule id {} is used twice", r.id)));
                }
            }
            for r in &p.self_care {
                check_atoms(&file, &r.when)?;
                if !rule_ids.insert(r.id.clone()) {
                    return Err(kb_err(&file, format!("rule id {} is used twice", r.id)));
                }
            }
        }
        if self.protocol("general").is_none() {
            return Err(kb_err("protocols", "the fallback protocol general.toml is missing"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_knowledge_base_is_valid() {
        let kb = KnowledgeBase::embedded().expect("valid");
        assert!(kb.protocols.len() >= 30, "{} protocols", kb.protocols.len());
        assert!(kb.concepts.len() >= 100);
        for p in &kb.protocols {
            assert!(!p.sources.is_empty(), "{} cites sources", p.id);
        }
    }

    #[test]
    fn the_required_red_flags_exist() {
        let kb = KnowledgeBase::embedded().expect("valid");
        for id in [
            "RF-STROKE-BEFAST",
            "RF-CHEST-ACS",
            "RF-AIRWAY-BREATHING",
            "RF-HEAVY-BLEEDING",
            "RF-ANAPHYLAXIS",
            "RF-ALTERED-CONSCIOUSNESS",
            "RF-SEIZURE",
            "RF-SUICIDE-RISK",
            "RF-INFANT-FEVER",
            "RF-PREGNANCY-BLEEDING-PAIN",
            "RF-THUNDERCLAP-HEADACHE",
            "RF-FEVER-MENINGISM",
        ] {
            assert!(kb.red_flags.iter().any(|r| r.id == id), "{id}");
        }
    }

    #[test]
    fn bad_reference_is_reported_with_file() {
        let bad = CONCEPTS.replace("id = \"sweating\"", "id = \"perspiration\"");
        let protocols = PROTOCOL_FILES.iter().map(|(n, t)| ((*n).to_owned(), (*t).to_owned())).collect();
        let err =
            KnowledgeBase::from_sources(&bad, QUESTIONS, DEPARTMENTS, RED_FLAGS, TRIAGE, EXAMPLES, protocols)
                .expect_err("invalid");
        assert!(err.to_string().contains("sweating"), "{err}");
    }
}
