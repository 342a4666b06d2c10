//! Building the condition card from an interview, and the deterministic texts on it: the 主诉
//! (chief complaint), the 现病史 / history of present illness, and the read-back.

use protocol::{
    Age, Bilingual, ChiefComplaint, ConditionCard, Finding, HistoryEntry, Lang, PatientInfo, Respondent, Sex,
    Slot, SlotEntry,
};

use crate::kb::{Concept, Protocol};
use crate::nlu::numbers;

/// Longest 主诉, in characters (Chinese medical record convention).
pub const MAX_CHIEF_COMPLAINT_CHARS: usize = 20;

/// Fills the derived parts of a card (主诉, 现病史, completeness) from its recorded facts.
pub(crate) fn finish(card: &mut ConditionCard, protocol: &Protocol, trigger: Option<&Concept>) {
    let duration_hours = card
        .slot(Slot::Duration)
        .and_then(|s| s.value)
        .or_else(|| card.slot(Slot::Onset).and_then(|s| s.value));
    card.chief_complaint = chief_complaint(protocol, trigger, duration_hours, &card.findings);
    card.completeness = completeness(
        protocol,
        &card.slots,
        &[&card.history, &card.medications, &card.allergies],
        &card.patient,
    );
    card.hpi = hpi(card);
}

/// 主诉: the main symptom as the patient reported it (the concept that selected the protocol, else the
/// protocol's main symptom), the first associated screening finding when it fits, and the duration;
/// at most 20 characters, symptom words only.
fn chief_complaint(
    protocol: &Protocol,
    trigger: Option<&Concept>,
    duration_hours: Option<f64>,
    findings: &[Finding],
) -> ChiefComplaint {
    let (dur_zh, dur_en) = duration_hours.map(numbers::describe_hours).unwrap_or_default();
    let main = trigger.map(Concept::name).unwrap_or_else(|| protocol.main_symptom.bilingual());
    let main = &main;
    let trigger_id = trigger.map(|c| c.id.as_str());
    let associated = findings.iter().find(|f| {
        f.present && Some(f.concept.as_str()) != trigger_id && protocol.screen.contains(&f.concept)
    });
    let mut zh = format!("{}{dur_zh}", main.zh);
    if let Some(f) = associated {
        let longer = format!("{}伴{}{dur_zh}", main.zh, f.name.zh);
        if longer.chars().count() <= MAX_CHIEF_COMPLAINT_CHARS {
            zh = longer;
        }
    }
    if zh.chars().count() > MAX_CHIEF_COMPLAINT_CHARS {
        zh = zh.chars().take(MAX_CHIEF_COMPLAINT_CHARS).collect();
    }
    let mut en = upper_first(&main.en);
    if let Some(f) = associated {
        en.push_str(&format!(" with {}", f.name.en));
    }
    if !dur_en.is_empty() {
        en.push_str(&format!(" for {dur_en}"));
    }
    ChiefComplaint {
        protocol_id: protocol.id.clone(),
        concept: trigger.map(|c| c.id.clone()),
        protocol_version: protocol.version.clone(),
        zh,
        en,
    }
}

/// Share of the protocol's slots, history items, age and sex that are known.
fn completeness(
    protocol: &Protocol,
    slots: &[SlotEntry],
    history: &[&Option<HistoryEntry>],
    patient: &PatientInfo,
) -> f32 {
    let wanted = protocol.slots.len() + history.len() + 2;
    let filled = protocol.slots.iter().filter(|s| slots.iter().any(|e| e.slot == **s)).count()
        + history.iter().filter(|h| h.is_some()).count()
        + usize::from(patient.age.is_some())
        + usize::from(patient.sex.is_some());
    filled as f32 / wanted as f32
}

fn slot_text(card: &ConditionCard, slot: Slot, lang: Lang) -> Option<String> {
    card.slot(slot).map(|s| {
        // A value the kiosk worked out itself is written in the reader's language.
        if s.provenance.source == protocol::AnswerSource::Inferred
            && let Some(hours) = s.value
        {
            let (zh, en) = numbers::describe_hours(hours);
            return match (slot, lang) {
                (Slot::Onset, Lang::Zh) => format!("约{zh}前"),
                (Slot::Onset, Lang::En) => format!("about {en} ago"),
                (_, Lang::Zh) => zh,
                (_, Lang::En) => en,
            };
        }
        let text = s.text.expose().trim().trim_end_matches(['。', '.']).to_owned();
        if slot == Slot::Severity
            && let Some(v) = s.value
        {
            return format!("{}/10", numbers::fmt_num(v));
        }
        text
    })
}

fn history_text(h: &Option<HistoryEntry>, lang: Lang) -> Option<String> {
    h.as_ref().map(|h| {
        if h.denied {
            if lang == Lang::Zh { "否认".to_owned() } else { "none".to_owned() }
        } else {
            h.text.expose().trim().trim_end_matches(['。', '.']).to_owned()
        }
    })
}

/// 现病史 / HPI, written from the card's fields only (no symptom the patient did not report).
pub fn hpi(card: &ConditionCard) -> Bilingual {
    let p = &card.patient;
    let sex_zh = match p.sex {
        Some(Sex::Female) => "女",
        Some(Sex::Male) => "男",
        None => "性别未知",
    };
    let sex_en = match p.sex {
        Some(Sex::Female) => "female",
        Some(Sex::Male) => "male",
        None => "patient of unknown sex",
    };
    let age = p.age.map(Age::describe);
    let mut zh = format!("患者{sex_zh}，{}。", age.as_ref().map_or("年龄未知", |a| a.zh.as_str()));
    let mut en = match &age {
        Some(a) => format!(
            "{} {sex_en}.",
            a.en.replace(" years", "-year-old").replace(" months", "-month-old").replace(" days", "-day-old")
        ),
        None => format!("A {sex_en} of unknown age."),
    };
    if let Respondent::Proxy { relation } = &card.respondent {
        zh.push_str(&format!("由{relation}代述。"));
        en.push_str(&format!(" History given by the patient's {relation}."));
    }
    if p.pregnant == Some(true) {
        zh.push_str("妊娠期。");
        en.push_str(" Pregnant.");
    }
    zh.push_str(&format!("主诉：{}。", card.chief_complaint.zh));
    en.push_str(&format!(" Presenting with {}.", lower_first(&card.chief_complaint.en)));
    let mut zh_parts = Vec::new();
    let mut en_parts = Vec::new();
    for slot in [
        Slot::Onset,
        Slot::Location,
        Slot::Character,
        Slot::Radiation,
        Slot::Severity,
        Slot::Timing,
        Slot::Aggravating,
        Slot::Relieving,
        Slot::Duration,
    ] {
        if let (Some(zh_text), Some(en_text)) =
            (slot_text(card, slot, Lang::Zh), slot_text(card, slot, Lang::En))
        {
            let label = slot.label();
            zh_parts.push(format!("{}：{zh_text}", label.zh));
            en_parts.push(format!("{}: {en_text}", label.en.to_lowercase()));
        }
    }
    if !zh_parts.is_empty() {
        zh.push_str(&zh_parts.join("；"));
        zh.push('。');
        en.push(' ');
        en.push_str(&upper_first(&en_parts.join("; ")));
        en.push('.');
    }
    if let Some(t) = p.temperature_c {
        zh.push_str(&format!("体温最高{t:.1}℃。"));
        en.push_str(&format!(" Highest temperature {t:.1} C."));
    }
    let main = card.chief_complaint.concept.as_deref();
    let positives: Vec<&Finding> = card.positives().filter(|f| Some(f.concept.as_str()) != main).collect();
    let negatives: Vec<&Finding> = card.negatives().collect();
    if !positives.is_empty() {
        zh.push_str(&format!(
            "伴{}。",
            positives.iter().map(|f| f.name.zh.as_str()).collect::<Vec<_>>().join("、")
        ));
        en.push_str(&format!(
            " Associated: {}.",
            positives.iter().map(|f| f.name.en.as_str()).collect::<Vec<_>>().join(", ")
        ));
    }
    if !negatives.is_empty() {
        zh.push_str(&format!(
            "否认{}。",
            negatives.iter().map(|f| f.name.zh.as_str()).collect::<Vec<_>>().join("、")
        ));
        en.push_str(&format!(
            " Denies: {}.",
            negatives.iter().map(|f| f.name.en.as_str()).collect::<Vec<_>>().join(", ")
        ));
    }
    for (label_zh, label_en, entry) in [
        ("既往史", "Past history", &card.history),
        ("用药", "Medications", &card.medications),
        ("过敏史", "Allergies", &card.allergies),
    ] {
        if let Some(text) = history_text(entry, Lang::Zh) {
            zh.push_str(&format!("{label_zh}：{text}。"));
        }
        if let Some(text) = history_text(entry, Lang::En) {
            en.push_str(&format!(" {label_en}: {text}."));
        }
    }
    Bilingual::new(zh, en.trim().to_owned())
}

fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    c.next().map(|f| f.to_lowercase().collect::<String>() + c.as_str()).unwrap_or_default()
}

fn upper_first(s: &str) -> String {
    let mut c = s.chars();
    c.next().map(|f| f.to_uppercase().collect::<String>() + c.as_str()).unwrap_or_default()
}

/// The fixed first sentence of the read-back (a prompt the voice can prepare ahead).
pub fn read_back_opening(lang: Lang) -> &'static str {
    match lang {
        Lang::Zh => "我来复述一下您说的情况。",
        Lang::En => "Let me read back what you told me.",
    }
}

/// The card as the kiosk reads it back: short enough to listen to, everything the nurse will see.
pub fn read_back(card: &ConditionCard, lang: Lang) -> String {
    let zh = lang == Lang::Zh;
    let mut parts = Vec::new();
    parts.push(read_back_opening(lang).to_owned());
    let age = card.patient.age.map(|a| a.describe().get(lang).to_owned());
    let sex = card.patient.sex.map(|s| match (s, zh) {
        (Sex::Female, true) => "女性",
        (Sex::Male, true) => "男性",
        (Sex::Female, false) => "female",
        (Sex::Male, false) => "male",
    });
    match (age, sex, zh) {
        (Some(a), Some(s), true) => parts.push(format!("患者{s}，{a}。")),
        (Some(a), Some(s), false) => parts.push(format!("The patient is {s}, {a} old.")),
        _ => {}
    }
    let cc = if zh { card.chief_complaint.zh.clone() } else { card.chief_complaint.en.clone() };
    parts.push(if zh {
        format!("主要是{cc}。")
    } else {
        format!("The main problem is {}.", lower_first(&cc))
    });
    for (slot, zh_label, en_label) in [
        (Slot::Onset, "开始", "It started"),
        (Slot::Location, "部位", "Location"),
        (Slot::Character, "感觉", "It feels"),
        (Slot::Severity, "程度", "Severity"),
    ] {
        if let Some(text) = slot_text(card, slot, lang) {
            parts.push(if zh { format!("{zh_label}：{text}。") } else { format!("{en_label}: {text}.") });
        }
    }
    let main = card.chief_complaint.concept.as_deref();
    let positives: Vec<&str> =
        card.positives().filter(|f| Some(f.concept.as_str()) != main).map(|f| f.name.get(lang)).collect();
    if !positives.is_empty() {
        parts.push(if zh {
            format!("还有{}。", positives.join("、"))
        } else {
            format!("Also: {}.", positives.join(", "))
        });
    }
    let negatives: Vec<&str> = card.negatives().map(|f| f.name.get(lang)).collect();
    if !negatives.is_empty() {
        parts.push(if zh {
            format!("没有{}。", negatives.join("、"))
        } else {
            format!("No {}.", negatives.join(", no "))
        });
    }
    for (label_zh, label_en, entry) in [
        ("既往病史", "Past illnesses", &card.history),
        ("在用药物", "Medicines", &card.medications),
        ("过敏", "Allergies", &card.allergies),
    ] {
        if let Some(text) = history_text(entry, lang) {
            parts.push(if zh { format!("{label_zh}：{text}。") } else { format!("{label_en}: {text}.") });
        }
    }
    parts.join(if zh { "" } else { " " })
}

/// One line of the card on the read-back screen. Touching it corrects `field` (the ids
/// [`crate::Input::Correct`] takes); the chief complaint (`field` empty) is changed by telling the
/// story again, so it has no single field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReviewLine {
    /// The field a correction goes to, or empty.
    pub field: String,
    /// What the line is.
    pub label: String,
    /// What the card says.
    pub value: String,
}

/// The card as lines for the read-back screen, in the patient's language: the same content as
/// [`read_back`], each line correctable on its own.
pub fn review_lines(card: &ConditionCard, lang: Lang) -> Vec<ReviewLine> {
    let zh = lang == Lang::Zh;
    let line = |field: &str, zh_label: &str, en_label: &str, value: String| ReviewLine {
        field: field.to_owned(),
        label: if zh { zh_label } else { en_label }.to_owned(),
        value,
    };
    let mut lines = Vec::new();
    let cc = if zh { card.chief_complaint.zh.clone() } else { card.chief_complaint.en.clone() };
    lines.push(line("", "主要问题", "Main problem", cc));
    if let Some(age) = card.patient.age {
        lines.push(line("age", "年龄", "Age", age.describe().get(lang).to_owned()));
    }
    if let Some(sex) = card.patient.sex {
        let value = match (sex, zh) {
            (Sex::Female, true) => "女",
            (Sex::Male, true) => "男",
            (Sex::Female, false) => "Female",
            (Sex::Male, false) => "Male",
        };
        lines.push(line("sex", "性别", "Sex", value.to_owned()));
    }
    for (slot, zh_label, en_label) in [
        (Slot::Onset, "开始时间", "Started"),
        (Slot::Duration, "持续", "How long"),
        (Slot::Location, "部位", "Where"),
        (Slot::Character, "感觉", "What it feels like"),
        (Slot::Severity, "程度", "How bad (0-10)"),
    ] {
        if let Some(text) = slot_text(card, slot, lang) {
            lines.push(line(&format!("slot:{}", slot.code()), zh_label, en_label, text));
        }
    }
    let main = card.chief_complaint.concept.as_deref();
    for f in card.findings.iter().filter(|f| Some(f.concept.as_str()) != main) {
        let value = match (f.present, zh) {
            (true, true) => "有",
            (false, true) => "没有",
            (true, false) => "Yes",
            (false, false) => "No",
        };
        lines.push(line(
            &format!("finding:{}", f.concept),
            f.name.get(lang),
            f.name.get(lang),
            value.to_owned(),
        ));
    }
    for (field, zh_label, en_label, entry) in [
        ("history", "既往病史", "Past illnesses", &card.history),
        ("medications", "在用药物", "Medicines", &card.medications),
        ("allergies", "过敏", "Allergies", &card.allergies),
    ] {
        if let Some(text) = history_text(entry, lang) {
            lines.push(line(field, zh_label, en_label, text));
        }
    }
    lines
}
