//! Sentence embeddings on candle and the semantic matcher behind the intake engine's rules.
//!
//! - [`e5::E5`]: multilingual-e5-small (Mandarin and English) from the 4-bit "E5S1" file.
//! - [`minilm::MiniLm`]: all-MiniLM-L6-v2 (English only) through candle's BERT.
//! - [`matcher::Matcher`]: maps free text ("胸口像压了块石头", "I can't catch my breath") to the
//!   knowledge base's concepts by similarity to their phrasings, for what the rules miss.

pub mod calibrate;
pub mod e5;
pub mod error;
pub mod matcher;
pub mod minilm;

pub use error::{Error, Result};
pub use matcher::{Matcher, MatcherConfig};

/// How a text is used, for models trained with role prefixes (e5: "query: " / "passage: ").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// A search text, or either side of a symmetric comparison.
    Query,
    /// A document to be found.
    Passage,
}

impl Role {
    /// The e5 prefix.
    pub fn e5_prefix(self) -> &'static str {
        match self {
            Self::Query => "query: ",
            Self::Passage => "passage: ",
        }
    }
}

/// A sentence-embedding model.
pub trait Embedder: Send + Sync {
    /// The L2-normalised embedding of `text`.
    fn embed(&self, text: &str, role: Role) -> Result<Vec<f32>>;
    /// Embeddings of several texts (faster than one by one where the model batches).
    fn embed_batch(&self, texts: &[&str], role: Role) -> Result<Vec<Vec<f32>>> {
        texts.iter().map(|t| self.embed(t, role)).collect()
    }
    /// Embedding width.
    fn dim(&self) -> usize;
    /// Identifies the model and its weights (name and content hash), for caches.
    fn key(&self) -> &str;
}

/// `v` scaled to unit length (a zero vector stays zero).
pub fn normalized(mut v: Vec<f32>) -> Vec<f32> {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 1e-12 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
    v
}

/// Cosine similarity of two unit vectors.
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}
