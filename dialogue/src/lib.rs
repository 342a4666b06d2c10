//! The intake engine: clinical protocols as data, rule-based language understanding, the red-flag
//! and triage layer, the condition card and its renderers, and the evaluation harness.
//!
//! Pure logic: no audio, no UI, no threads. [`Interview::handle`] takes an answer and returns what
//! to say next; time is passed in, so every test is deterministic.

pub mod card;
pub mod eval;
pub mod interview;
pub mod kb;
pub mod narrative;
pub mod nlu;
pub mod render;
pub mod story_eval;
pub mod triage;

pub use interview::{
    Engine, Expect, Input, Interview, InterviewConfig, Phase, Question, Reply, SemanticMatcher, StaffAlert,
    StoryMerge, Touch, same_meaning,
};
pub use kb::KnowledgeBase;
