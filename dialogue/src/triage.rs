//! The triage layer: deterministic rules from the data files decide the level, disposition and
//! department. Models may add evidence upstream, but nothing here consults a model, and a red flag,
//! once fired, is never cleared.

use std::collections::BTreeMap;

use protocol::{Bilingual, Department, Disposition, RedFlagHit, Triage, TriageReason};

use crate::kb::{Facts, KnowledgeBase, Protocol, eval_any};

/// Level that maps to the emergency disposition (1 and 2).
const EMERGENCY_MAX_LEVEL: u8 = 2;
/// Level that maps to urgent.
const URGENT_LEVEL: u8 = 3;
/// Weight of the protocol's default department.
const DEFAULT_DEPARTMENT_WEIGHT: u32 = 1;
/// Weight of a triage rule that names a department.
const RULE_DEPARTMENT_WEIGHT: u32 = 4;

/// Red-flag rules that hold on `facts`, as hits (newly fired ones get `at_ms`).
pub fn red_flags(kb: &KnowledgeBase, facts: &Facts, at_ms: u64) -> Vec<RedFlagHit> {
    kb.red_flags
        .iter()
        .filter_map(|rule| {
            let evidence = eval_any(&rule.when, facts)?;
            Some(RedFlagHit {
                rule_id: rule.id.clone(),
                source: rule.source.clone(),
                title: rule.label(),
                level: rule.level,
                evidence,
                instruction: rule.instruction.as_ref().map(|t| t.bilingual()).unwrap_or_default(),
                at_ms,
            })
        })
        .collect()
}

/// Computes the triage outcome. `followup_departments` are the departments of follow-up questions
/// answered yes; `fired` are the red flags fired so far (they always stand).
pub fn assess(
    kb: &KnowledgeBase,
    protocol: &Protocol,
    facts: &Facts,
    followup_departments: &[Department],
    fired: &[RedFlagHit],
) -> Triage {
    let mut reasons: Vec<TriageReason> = fired
        .iter()
        .map(|hit| TriageReason { rule_id: hit.rule_id.clone(), level: hit.level, text: hit.title.clone() })
        .collect();
    let mut rule_departments: Vec<(u8, Department)> = Vec::new();
    for rule in &kb.triage_rules {
        if eval_any(&rule.when, facts).is_some() {
            reasons.push(TriageReason { rule_id: rule.id.clone(), level: rule.level, text: rule.label() });
            if let Some(d) = rule.department {
                rule_departments.push((rule.level, d));
            }
        }
    }
    for rule in &protocol.urgent {
        if eval_any(&rule.when, facts).is_some() {
            reasons.push(TriageReason {
                rule_id: rule.id.clone(),
                level: rule.level,
                text: rule.reason.bilingual(),
            });
        }
    }
    reasons.sort_by_key(|r| r.level);
    let level = reasons.first().map_or(4, |r| r.level).clamp(1, 4);

    let self_care = if level == 4 {
        protocol.self_care.iter().find(|r| eval_any(&r.when, facts).is_some())
    } else {
        None
    };
    if let Some(rule) = self_care {
        reasons.push(TriageReason { rule_id: rule.id.clone(), level: 4, text: rule.reason.bilingual() });
    }
    let disposition = match level {
        l if l <= EMERGENCY_MAX_LEVEL => Disposition::Emergency,
        URGENT_LEVEL => Disposition::Urgent,
        _ if self_care.is_some() => Disposition::SelfCare,
        _ => Disposition::Routine,
    };

    // Among the most urgent red flags, the one listed first in red_flags.toml names the department
    // (the file lists the ones with a specific department first).
    let rule_order = |id: &str| kb.red_flags.iter().position(|r| r.id == id).unwrap_or(usize::MAX);
    let (department, department_reason) = if let Some(hit) =
        fired.iter().min_by_key(|h| (h.level, rule_order(&h.rule_id)))
    {
        let rule_department = kb.red_flags.iter().find(|r| r.id == hit.rule_id).and_then(|r| r.department);
        let d = remap(kb, rule_department.unwrap_or(Department::Emergency), facts);
        let name = kb.department_name(d);
        (
            d,
            Bilingual::new(
                format!("{} → {}", hit.title.zh, name.zh),
                format!("{} → {}", hit.title.en, name.en),
            ),
        )
    } else {
        route(kb, protocol, facts, followup_departments, &rule_departments, disposition)
    };
    Triage {
        level,
        disposition,
        department,
        department_reason,
        reasons,
        advice: self_care.map(|r| r.advice.bilingual()),
    }
}

/// Scores the protocol's departments and applies the population rules.
fn route(
    kb: &KnowledgeBase,
    protocol: &Protocol,
    facts: &Facts,
    followup_departments: &[Department],
    rule_departments: &[(u8, Department)],
    disposition: Disposition,
) -> (Department, Bilingual) {
    let mut scores: BTreeMap<Department, u32> = BTreeMap::new();
    *scores.entry(protocol.default_department).or_default() += DEFAULT_DEPARTMENT_WEIGHT;
    let mut because: BTreeMap<Department, Vec<String>> = BTreeMap::new();
    for d in followup_departments {
        *scores.entry(*d).or_default() += 1;
    }
    for r in &protocol.route {
        if let Some(evidence) = eval_any(&r.when, facts) {
            *scores.entry(r.department).or_default() += r.weight;
            because.entry(r.department).or_default().extend(evidence);
        }
    }
    for (_, d) in rule_departments {
        *scores.entry(*d).or_default() += RULE_DEPARTMENT_WEIGHT;
    }
    // Highest score; ties go to the protocol's default, then to the order in the protocol file.
    let order = |d: &Department| protocol.departments.iter().position(|x| x == d).unwrap_or(usize::MAX);
    let best = scores
        .iter()
        .max_by(|a, b| {
            a.1.cmp(b.1)
                .then_with(|| {
                    (*b.0 != protocol.default_department).cmp(&(*a.0 != protocol.default_department))
                })
                .then_with(|| order(b.0).cmp(&order(a.0)))
        })
        .map_or(protocol.default_department, |(d, _)| *d);
    // An emergency disposition without a red flag (for example chest pain over 40) goes to the
    // emergency department, unless a rule named a specific one.
    let chosen = if disposition == Disposition::Emergency {
        rule_departments
            .iter()
            .filter(|(l, _)| *l <= EMERGENCY_MAX_LEVEL)
            .map(|(_, d)| *d)
            .next()
            .unwrap_or(Department::Emergency)
    } else {
        best
    };
    let department = remap(kb, chosen, facts);
    let name = kb.department_name(department);
    let evidence: Vec<String> = because.get(&chosen).cloned().unwrap_or_default();
    let associated: Vec<Bilingual> =
        evidence.iter().filter_map(|id| kb.concept(id)).map(|c| c.name()).collect();
    let mut zh = protocol.name.zh.clone();
    let mut en = protocol.name.en.clone();
    if !associated.is_empty() {
        zh.push_str(&format!(
            "，伴{}",
            associated.iter().map(|b| b.zh.as_str()).collect::<Vec<_>>().join("、")
        ));
        en.push_str(&format!(
            " with {}",
            associated.iter().map(|b| b.en.as_str()).collect::<Vec<_>>().join(", ")
        ));
    }
    if department != chosen {
        let rule = kb.department_rules.iter().find(|r| r.to == department);
        if let Some(rule) = rule {
            zh.push_str(&format!("（{}）", rule.id));
            en.push_str(&format!(" ({})", rule.id));
        }
    }
    (department, Bilingual::new(format!("{zh} → {}", name.zh), format!("{en} → {}", name.en)))
}

/// Population rules (children to paediatrics, adults with fever to the fever clinic, pregnancy to
/// obstetrics).
fn remap(kb: &KnowledgeBase, department: Department, facts: &Facts) -> Department {
    kb.department_rules
        .iter()
        .find(|r| r.from.contains(&department) && eval_any(&r.when, facts).is_some())
        .map_or(department, |r| r.to)
}
