//! Threshold calibration on the project's own cases: the intake cases' openings (the protocol the
//! rules choose is the label; the matcher alone must find a concept of that protocol) against
//! off-topic sentences (the matcher must find nothing). For each threshold: recall on the openings
//! and the false-match rate on the off-topic sentences.

use std::sync::Arc;

use dialogue::eval::Case;
use dialogue::{Engine, Input};
use protocol::{Lang, PatientText};
use serde::Serialize;

use crate::{Matcher, Result};

/// One row of the sweep.
#[derive(Clone, Debug, Serialize)]
pub struct CalibrationRow {
    /// Threshold.
    pub threshold: f32,
    /// Share of openings whose best concept belongs to the rules' protocol and scores at least
    /// the threshold.
    pub recall: f32,
    /// Share of off-topic sentences whose best concept scores at least the threshold.
    pub false_match_rate: f32,
}

/// The sweep, plus the threshold chosen: the largest recall minus false-match rate.
#[derive(Clone, Debug, Serialize)]
pub struct Calibration {
    /// Openings used.
    pub openings: usize,
    /// Off-topic sentences used.
    pub off_topic: usize,
    /// Rows, by threshold.
    pub rows: Vec<CalibrationRow>,
    /// The chosen threshold.
    pub chosen: f32,
}

/// Thresholds tried.
pub const SWEEP: [f32; 13] =
    [0.40, 0.45, 0.50, 0.55, 0.60, 0.625, 0.65, 0.675, 0.70, 0.725, 0.75, 0.80, 0.85];

/// Runs the sweep. `off_topic` is (language, sentence).
pub fn calibrate(
    rules: &Arc<Engine>,
    matcher: &Matcher,
    cases: &[Case],
    off_topic: &[(Lang, String)],
) -> Result<Calibration> {
    let kb = &rules.kb;
    let mut labelled: Vec<(String, Option<(String, f32)>)> = Vec::new();
    for case in cases {
        let (mut interview, _) = rules.start(case.lang, "calibrate", 0);
        interview.handle(Input::Text(PatientText::new(case.opening.clone())), 1_000);
        let Some(protocol) = interview
            .facts()
            .present
            .iter()
            .find_map(|p| p.strip_prefix("cc:").map(str::to_owned))
            .filter(|p| p != "general")
        else {
            continue;
        };
        labelled.push((protocol, matcher.best(&case.opening, case.lang)?));
    }
    let mut negatives = Vec::new();
    for (lang, text) in off_topic {
        negatives.push(matcher.best(text, *lang)?.map_or(f32::NEG_INFINITY, |(_, s)| s));
    }
    let belongs = |protocol: &str, concept: &str| {
        kb.protocol(protocol)
            .is_some_and(|p| p.recognise.iter().chain(&p.recognise_weak).any(|c| c == concept))
    };
    let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f32 / b as f32 };
    let rows: Vec<CalibrationRow> = SWEEP
        .iter()
        .map(|&t| {
            let hits = labelled
                .iter()
                .filter(|(p, best)| best.as_ref().is_some_and(|(c, s)| *s >= t && belongs(p, c)))
                .count();
            let false_matches = negatives.iter().filter(|&&s| s >= t).count();
            CalibrationRow {
                threshold: t,
                recall: ratio(hits, labelled.len()),
                false_match_rate: ratio(false_matches, negatives.len()),
            }
        })
        .collect();
    // Recall minus false matches (Youden's J); ties go to the higher threshold.
    let chosen = rows
        .iter()
        .max_by(|a, b| {
            (a.recall - a.false_match_rate)
                .total_cmp(&(b.recall - b.false_match_rate))
                .then(a.threshold.total_cmp(&b.threshold))
        })
        .map_or(SWEEP[SWEEP.len() - 1], |r| r.threshold);
    Ok(Calibration { openings: labelled.len(), off_topic: negatives.len(), rows, chosen })
}

/// Parses the off-topic file: one sentence per line, `#` comments; the language is Mandarin when
/// the line has Han characters.
pub fn parse_off_topic(text: &str) -> Vec<(Lang, String)> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| (crate::matcher::lang_of(l), l.to_owned()))
        .collect()
}
