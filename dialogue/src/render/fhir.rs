//! The card as an HL7 FHIR R4 Bundle (type `collection`): Patient, Encounter (triage level as
//! priority, department as service type), QuestionnaireResponse (every question and answer),
//! Observations (findings, slots, severity, temperature, age, pregnancy, triage level) and a Flag for
//! each red flag. Local code systems live under `urn:kiosk:`; LOINC, SNOMED CT and HL7 codes are
//! used where a standard code exists.

use protocol::{ConditionCard, Disposition, Sex, Slot};
use serde_json::{Value, json};

use super::rfc3339;
use crate::interview::Exchange;
use crate::kb::KnowledgeBase;

const SYSTEM_CONCEPT: &str = "urn:kiosk:concept";
const SYSTEM_SLOT: &str = "urn:kiosk:slot";
const SYSTEM_RED_FLAG: &str = "urn:kiosk:red-flag-rule";
const SYSTEM_DEPARTMENT: &str = "urn:kiosk:department";
const SYSTEM_CN_TRIAGE: &str = "urn:kiosk:cn-pretriage-level";
const LOINC: &str = "http://loinc.org";
const SNOMED: &str = "http://snomed.info/sct";
const UCUM: &str = "http://unitsofmeasure.org";
const ACT_PRIORITY: &str = "http://terminology.hl7.org/CodeSystem/v3-ActPriority";
const ACT_CODE: &str = "http://terminology.hl7.org/CodeSystem/v3-ActCode";
const OBSERVATION_CATEGORY: &str = "http://terminology.hl7.org/CodeSystem/observation-category";
const FLAG_CATEGORY: &str = "http://terminology.hl7.org/CodeSystem/flag-category";

/// A deterministic UUID for the `n`th resource of a card (stable across renders of one card).
fn uuid(card_id: &str, n: usize) -> String {
    let mut h: u128 = 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d;
    for b in card_id.bytes().chain(n.to_le_bytes()) {
        h ^= u128::from(b);
        h = h.wrapping_mul(0x0000_0000_0100_0000_0000_0000_0000_013b);
    }
    let hex = format!("{h:032x}");
    // Version 4 / variant bits so the value is a well-formed UUID.
    format!("{}-{}-4{}-a{}-{}", &hex[0..8], &hex[8..12], &hex[13..16], &hex[17..20], &hex[20..32])
}

struct Builder<'a> {
    card: &'a ConditionCard,
    entries: Vec<Value>,
    patient_ref: String,
    encounter_ref: String,
    when: String,
}

impl Builder<'_> {
    fn add(&mut self, mut resource: Value) -> String {
        let n = self.entries.len();
        let id = uuid(&self.card.card_id, n);
        resource["id"] = json!(id);
        let full_url = format!("urn:uuid:{id}");
        self.entries.push(json!({ "fullUrl": full_url, "resource": resource }));
        full_url
    }

    fn observation(&mut self, code: Value, value: (&str, Value), category: &str) {
        let mut obs = json!({
            "resourceType": "Observation",
            "status": "final",
            "category": [{ "coding": [{ "system": OBSERVATION_CATEGORY, "code": category }] }],
            "code": code,
            "subject": { "reference": self.patient_ref },
            "encounter": { "reference": self.encounter_ref },
            "effectiveDateTime": self.when,
        });
        obs[value.0] = value.1;
        self.add(obs);
    }
}

fn priority_code(d: Disposition) -> (&'static str, &'static str) {
    match d {
        Disposition::Emergency => ("EM", "emergency"),
        Disposition::Urgent => ("UR", "urgent"),
        Disposition::Routine | Disposition::SelfCare => ("R", "routine"),
    }
}

/// Renders the card (and, when given, the interview transcript) as a FHIR R4 Bundle.
pub fn bundle(card: &ConditionCard, kb: &KnowledgeBase, exchanges: &[Exchange]) -> Value {
    let started = card.timings.started_unix_ms;
    let when = rfc3339(started + card.timings.elapsed_ms);
    let mut b = Builder {
        card,
        entries: Vec::new(),
        patient_ref: String::new(),
        encounter_ref: String::new(),
        when: when.clone(),
    };

    let gender = match card.patient.sex {
        Some(Sex::Female) => "female",
        Some(Sex::Male) => "male",
        None => "unknown",
    };
    b.patient_ref = b.add(json!({ "resourceType": "Patient", "gender": gender }));

    let (p_code, p_display) = priority_code(card.triage.disposition);
    let dept = kb.department_name(card.triage.department);
    let class = if card.triage.disposition == Disposition::Emergency {
        ("EMER", "emergency")
    } else {
        ("AMB", "ambulatory")
    };
    let encounter = json!({
        "resourceType": "Encounter",
        "status": "triaged",
        "class": { "system": ACT_CODE, "code": class.0, "display": class.1 },
        "priority": {
            "coding": [
                { "system": ACT_PRIORITY, "code": p_code, "display": p_display },
                { "system": SYSTEM_CN_TRIAGE, "code": card.triage.level.to_string(), "display": format!("China pre-triage level {}", card.triage.level) },
            ],
            "text": card.triage.disposition.code(),
        },
        "serviceType": {
            "coding": [{ "system": SYSTEM_DEPARTMENT, "code": card.triage.department.code(), "display": dept.en }],
            "text": dept.zh,
        },
        "reasonCode": [{
            "coding": [{ "system": "urn:kiosk:protocol", "code": card.chief_complaint.protocol_id }],
            "text": card.chief_complaint.zh,
        }],
        "subject": { "reference": b.patient_ref },
        "period": { "start": rfc3339(started) },
    });
    b.encounter_ref = b.add(encounter);

    let items: Vec<Value> = exchanges
        .iter()
        .filter_map(|x| {
            let answer = x.answer.as_ref()?;
            Some(json!({
                "linkId": x.question.id,
                "text": x.question.text,
                "answer": [{ "valueString": answer.expose() }],
            }))
        })
        .collect();
    let mut qr = json!({
        "resourceType": "QuestionnaireResponse",
        "status": if card.confirmed { "completed" } else { "in-progress" },
        "subject": { "reference": b.patient_ref },
        "encounter": { "reference": b.encounter_ref },
        "authored": when,
    });
    if !items.is_empty() {
        qr["item"] = json!(items);
    }
    b.add(qr);

    // Triage level and disposition.
    b.observation(
        json!({ "coding": [{ "system": SYSTEM_CN_TRIAGE, "code": "level", "display": "China pre-triage level" }], "text": "Pre-triage level" }),
        ("valueInteger", json!(card.triage.level)),
        "survey",
    );
    if let Some(age) = card.patient.age {
        b.observation(
            json!({ "coding": [{ "system": LOINC, "code": "30525-0", "display": "Age" }] }),
            ("valueQuantity", json!({ "value": (age.years() * 100.0).round() / 100.0, "unit": "a", "system": UCUM, "code": "a" })),
            "survey",
        );
    }
    if let Some(pregnant) = card.patient.pregnant {
        let (code, display) = if pregnant { ("77386006", "Pregnant") } else { ("60001007", "Not pregnant") };
        b.observation(
            json!({ "coding": [{ "system": LOINC, "code": "82810-3", "display": "Pregnancy status" }] }),
            (
                "valueCodeableConcept",
                json!({ "coding": [{ "system": SNOMED, "code": code, "display": display }] }),
            ),
            "survey",
        );
    }
    if let Some(t) = card.patient.temperature_c {
        b.observation(
            json!({ "coding": [{ "system": LOINC, "code": "8310-5", "display": "Body temperature" }] }),
            ("valueQuantity", json!({ "value": (f64::from(t) * 10.0).round() / 10.0, "unit": "Cel", "system": UCUM, "code": "Cel" })),
            "vital-signs",
        );
    }
    for slot in &card.slots {
        if slot.slot == Slot::Severity
            && let Some(v) = slot.value
        {
            b.observation(
                json!({ "coding": [{ "system": LOINC, "code": "72514-3", "display": "Pain severity - 0-10 verbal numeric rating [Score] - Reported" }] }),
                ("valueInteger", json!(v.round() as i64)),
                "survey",
            );
            continue;
        }
        let label = slot.slot.label();
        b.observation(
            json!({ "coding": [{ "system": SYSTEM_SLOT, "code": slot.slot.code(), "display": label.en }], "text": label.zh }),
            ("valueString", json!(slot.text.expose())),
            "survey",
        );
    }
    for f in &card.findings {
        b.observation(
            json!({ "coding": [{ "system": SYSTEM_CONCEPT, "code": f.concept, "display": f.name.en }], "text": f.name.zh }),
            ("valueBoolean", json!(f.present)),
            "survey",
        );
    }
    for rf in &card.red_flags {
        b.add(json!({
            "resourceType": "Flag",
            "status": "active",
            "category": [{ "coding": [{ "system": FLAG_CATEGORY, "code": "clinical", "display": "Clinical" }] }],
            "code": {
                "coding": [{ "system": SYSTEM_RED_FLAG, "code": rf.rule_id, "display": rf.title.en }],
                "text": rf.title.zh,
            },
            "subject": { "reference": b.patient_ref },
            "encounter": { "reference": b.encounter_ref },
            "period": { "start": rfc3339(started + rf.at_ms) },
        }));
    }
    json!({
        "resourceType": "Bundle",
        "id": uuid(&card.card_id, usize::MAX),
        "type": "collection",
        "timestamp": when,
        "entry": b.entries,
    })
}
