//! Helpers shared by the dialogue integration tests.
#![allow(dead_code)]

use std::sync::Arc;

use dialogue::eval::{Case, parse_cases};
use dialogue::{Engine, InterviewConfig, KnowledgeBase};

/// The engine on the embedded knowledge base.
pub fn engine() -> Arc<Engine> {
    let kb = Arc::new(KnowledgeBase::embedded().expect("embedded knowledge base is valid"));
    Arc::new(Engine::new(kb, InterviewConfig::default()))
}

/// The project's case files.
pub fn cases(file: &str) -> Vec<Case> {
    let path = format!("{}/cases/{file}", env!("CARGO_MANIFEST_DIR"));
    parse_cases(&std::fs::read_to_string(&path).expect("case file")).expect("cases parse")
}
