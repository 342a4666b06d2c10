//! The card as plain text, in Mandarin or English.

use std::fmt::Write as _;

use protocol::{ConditionCard, Disposition, Lang, Sex};

use crate::kb::KnowledgeBase;

fn disposition_label(d: Disposition, lang: Lang) -> &'static str {
    match (d, lang) {
        (Disposition::Emergency, Lang::Zh) => "急诊（立即）",
        (Disposition::Urgent, Lang::Zh) => "尽快就诊（30分钟内）",
        (Disposition::Routine, Lang::Zh) => "普通门诊",
        (Disposition::SelfCare, Lang::Zh) => "可居家自我护理",
        (Disposition::Emergency, Lang::En) => "Emergency (now)",
        (Disposition::Urgent, Lang::En) => "Urgent (within 30 minutes)",
        (Disposition::Routine, Lang::En) => "Routine clinic",
        (Disposition::SelfCare, Lang::En) => "Self-care at home",
    }
}

/// The whole card for the nurse station or the printed slip.
pub fn render(card: &ConditionCard, kb: &KnowledgeBase, lang: Lang) -> String {
    let zh = lang == Lang::Zh;
    let mut out = String::new();
    let dept = kb.department_name(card.triage.department);
    let _ = writeln!(out, "{} #{}", if zh { "病情卡片" } else { "Condition card" }, card.card_id);
    let _ = writeln!(
        out,
        "{}: {} {} — {}",
        if zh { "分诊" } else { "Triage" },
        if zh { format!("{}级", card.triage.level) } else { format!("level {}", card.triage.level) },
        disposition_label(card.triage.disposition, lang),
        dept.get(lang)
    );
    let sex = match (card.patient.sex, zh) {
        (Some(Sex::Female), true) => "女",
        (Some(Sex::Male), true) => "男",
        (Some(Sex::Female), false) => "female",
        (Some(Sex::Male), false) => "male",
        (None, true) => "性别未知",
        (None, false) => "sex unknown",
    };
    let age = card
        .patient
        .age
        .map(|a| a.describe().get(lang).to_owned())
        .unwrap_or_else(|| if zh { "年龄未知".into() } else { "age unknown".into() });
    let _ = writeln!(
        out,
        "{}: {sex}, {age}{}",
        if zh { "患者" } else { "Patient" },
        match card.patient.pregnant {
            Some(true) =>
                if zh {
                    ", 妊娠"
                } else {
                    ", pregnant"
                },
            _ => "",
        }
    );
    let _ = writeln!(
        out,
        "{}: {}",
        if zh { "主诉" } else { "Chief complaint" },
        if zh { &card.chief_complaint.zh } else { &card.chief_complaint.en }
    );
    let drafted = match (card.hpi_drafted == Some(lang), zh) {
        (false, _) => "",
        (true, true) => "（本机语言模型据卡片撰写，已核对）",
        (true, false) => " (drafted by the kiosk's language model from the card, checked against it)",
    };
    let _ = writeln!(out, "{}: {}{drafted}", if zh { "现病史" } else { "HPI" }, card.hpi.get(lang));
    for rf in &card.red_flags {
        let _ = writeln!(
            out,
            "{} {}: {} [{}]",
            if zh { "危险信号" } else { "RED FLAG" },
            rf.rule_id,
            rf.title.get(lang),
            rf.evidence.join(", ")
        );
    }
    let _ = writeln!(
        out,
        "{}: {}",
        if zh { "分诊依据" } else { "Reasons" },
        card.triage.reasons.iter().map(|r| r.text.get(lang)).collect::<Vec<_>>().join("; ")
    );
    let _ = writeln!(
        out,
        "{}: {}",
        if zh { "科室理由" } else { "Department" },
        card.triage.department_reason.get(lang)
    );
    if let Some(advice) = &card.triage.advice {
        let _ = writeln!(out, "{}: {}", if zh { "建议" } else { "Advice" }, advice.get(lang));
    }
    let _ =
        writeln!(out, "{}: {:.0}%", if zh { "完整度" } else { "Completeness" }, card.completeness * 100.0);
    if !card.corrections.is_empty() {
        let _ = writeln!(
            out,
            "{}: {}",
            if zh { "患者更正" } else { "Corrected by patient" },
            card.corrections.iter().map(|c| c.field.as_str()).collect::<Vec<_>>().join(", ")
        );
    }
    out
}
