//! Conditions of rules and protocol logic, and their evaluation against what is known.

use std::collections::BTreeSet;

use protocol::Sex;
use serde::Deserialize;

/// One alternative of a rule's `when`: every field that is set must hold.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Condition {
    /// Every atom must be present.
    #[serde(default)]
    pub all: Vec<Atom>,
    /// At least one atom must be present (ignored when empty).
    #[serde(default)]
    pub any: Vec<Atom>,
    /// No atom may be present.
    #[serde(default)]
    pub none: Vec<Atom>,
    /// Age below this many days.
    pub age_lt_days: Option<f64>,
    /// Age at least this many days.
    pub age_ge_days: Option<f64>,
    /// Age below this many years.
    pub age_lt_years: Option<f64>,
    /// Age at least this many years.
    pub age_ge_years: Option<f64>,
    /// Sex.
    pub sex: Option<Sex>,
    /// Pregnancy known to be this.
    pub pregnant: Option<bool>,
    /// Severity at least (0-10).
    pub severity_ge: Option<u8>,
    /// Severity below (0-10).
    pub severity_lt: Option<u8>,
    /// Symptom duration below this many hours.
    pub duration_lt_hours: Option<f64>,
    /// Symptom duration at least this many hours.
    pub duration_ge_hours: Option<f64>,
}

/// `a|b|cc:chest_pain`: any of the alternatives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Atom(pub Vec<String>);

impl<'de> Deserialize<'de> for Atom {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        let parts: Vec<String> =
            text.split('|').map(|p| p.trim().to_owned()).filter(|p| !p.is_empty()).collect();
        if parts.is_empty() {
            return Err(serde::de::Error::custom("empty condition atom"));
        }
        Ok(Self(parts))
    }
}

/// Derived facts usable as atoms.
pub const DERIVED_ATOMS: [&str; 3] = ["temp_fever", "temp_38_plus", "temp_39_plus"];

/// What the rules see: present concepts plus numbers. Unknown numbers make their conditions false
/// (a rule never fires, and a self-care rule never holds, on a guess).
#[derive(Clone, Debug, Default)]
pub struct Facts {
    /// Concepts known present, plus `cc:<protocol>` and derived atoms.
    pub present: BTreeSet<String>,
    /// Age in days.
    pub age_days: Option<f64>,
    /// Sex.
    pub sex: Option<Sex>,
    /// Pregnancy.
    pub pregnant: Option<bool>,
    /// 0-10.
    pub severity: Option<u8>,
    /// Hours since onset.
    pub duration_hours: Option<f64>,
}

impl Atom {
    /// The alternative that is present, if any.
    pub fn satisfied_by<'f>(&self, facts: &'f Facts) -> Option<&'f str> {
        self.0.iter().find_map(|a| facts.present.get(a).map(String::as_str))
    }
}

impl Condition {
    /// Whether the condition holds; on success returns the atoms that made it hold (evidence).
    pub fn eval(&self, facts: &Facts) -> Option<Vec<String>> {
        let mut evidence = Vec::new();
        for atom in &self.all {
            evidence.push(atom.satisfied_by(facts)?.to_owned());
        }
        if !self.any.is_empty() {
            let hits: Vec<&str> = self.any.iter().filter_map(|a| a.satisfied_by(facts)).collect();
            if hits.is_empty() {
                return None;
            }
            evidence.extend(hits.into_iter().map(str::to_owned));
        }
        if self.none.iter().any(|a| a.satisfied_by(facts).is_some()) {
            return None;
        }
        let years = facts.age_days.map(|d| d / 365.25);
        let check = |bound: Option<f64>, value: Option<f64>, lt: bool| match bound {
            None => true,
            Some(b) => value.is_some_and(|v| if lt { v < b } else { v >= b }),
        };
        if !(check(self.age_lt_days, facts.age_days, true)
            && check(self.age_ge_days, facts.age_days, false)
            && check(self.age_lt_years, years, true)
            && check(self.age_ge_years, years, false)
            && check(self.duration_lt_hours, facts.duration_hours, true)
            && check(self.duration_ge_hours, facts.duration_hours, false)
            && check(self.severity_ge.map(f64::from), facts.severity.map(f64::from), false)
            && check(self.severity_lt.map(f64::from), facts.severity.map(f64::from), true))
        {
            return None;
        }
        if let Some(sex) = self.sex
            && facts.sex != Some(sex)
        {
            return None;
        }
        if let Some(pregnant) = self.pregnant
            && facts.pregnant != Some(pregnant)
        {
            return None;
        }
        if let Some(a) = self.age_lt_days {
            evidence.push(format!("age<{a}d"));
        }
        if let Some(s) = self.severity_ge {
            evidence.push(format!("severity>={s}"));
        }
        if self.pregnant == Some(true) {
            evidence.push("pregnant".into());
        }
        Some(evidence)
    }

    /// Every atom name mentioned (for validation).
    pub fn atom_names(&self) -> impl Iterator<Item = &str> {
        self.all.iter().chain(&self.any).chain(&self.none).flat_map(|a| a.0.iter().map(String::as_str))
    }
}

/// Evaluates alternatives: the first that holds, with its evidence.
pub fn eval_any(when: &[Condition], facts: &Facts) -> Option<Vec<String>> {
    when.iter().find_map(|c| c.eval(facts))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(present: &[&str]) -> Facts {
        Facts { present: present.iter().map(|s| s.to_string()).collect(), ..Facts::default() }
    }

    fn cond(text: &str) -> Condition {
        toml::from_str(text).expect("condition parses")
    }

    #[test]
    fn all_any_none() {
        let c = cond(
            "all = [\"chest_pain|chest_tightness\"]\nany = [\"sweating\", \"fainting\"]\nnone = [\"chest_trauma\"]",
        );
        assert!(c.eval(&facts(&["chest_pain"])).is_none());
        assert_eq!(
            c.eval(&facts(&["chest_tightness", "sweating"])),
            Some(vec!["chest_tightness".into(), "sweating".into()])
        );
        assert!(c.eval(&facts(&["chest_pain", "sweating", "chest_trauma"])).is_none());
    }

    #[test]
    fn unknown_numbers_never_satisfy() {
        let c = cond("age_lt_days = 90.0\nany = [\"fever\"]");
        assert!(c.eval(&facts(&["fever"])).is_none(), "age unknown");
        let mut f = facts(&["fever"]);
        f.age_days = Some(40.0);
        assert!(c.eval(&f).is_some());
        f.age_days = Some(400.0);
        assert!(c.eval(&f).is_none());
        let c = cond("severity_lt = 5");
        assert!(c.eval(&facts(&[])).is_none());
    }

    #[test]
    fn sex_and_pregnancy() {
        let c = cond("sex = \"female\"\npregnant = true");
        let mut f = facts(&[]);
        f.sex = Some(Sex::Female);
        assert!(c.eval(&f).is_none());
        f.pregnant = Some(true);
        assert!(c.eval(&f).is_some());
    }
}
