//! The semantic matcher: free text to the knowledge base's concepts by sentence similarity.
//!
//! Every concept's phrasings (its recognisers from `concepts.toml` and the everyday sentences of
//! `examples.toml`, in both languages) and an off-topic class are embedded once and cached on disk,
//! keyed by the model's hash and the phrasings themselves. The phrasings' mean direction is removed
//! from every vector before comparing. A patient's text is split into clauses. Embeddings barely see
//! negation, so a clause that denies something ("没有发烧", "好几天没有大便") is compared only with
//! phrasings that deny too (a class of plain denials among them), and the others only with those
//! that do not. Each clause, and the whole text, is compared with the phrasings, and a concept scores the
//! mean of its two most similar phrasings. A clause reports its best concept and close runners-up,
//! or nothing when it is most like small talk. The engine consults the matcher only where its rules
//! found nothing (rules always win where they are sure) and accepts a concept at or above
//! [`MatcherConfig::threshold`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use dialogue::KnowledgeBase;
use protocol::Lang;
use sha2::{Digest, Sha256};

use crate::{Embedder, Result, Role, dot};

/// Tunables.
#[derive(Clone, Debug)]
pub struct MatcherConfig {
    /// Similarity at or above which a concept is accepted (calibrated: see docs/benchmarks.md).
    pub threshold: f32,
    /// Where phrasing vectors are cached (none: recomputed at every start).
    pub cache_dir: Option<PathBuf>,
}

impl Default for MatcherConfig {
    fn default() -> Self {
        Self { threshold: DEFAULT_THRESHOLD, cache_dir: None }
    }
}

/// Calibrated on the intake cases' openings and off-topic sentences (`kiosk eval --paraphrases`).
pub const DEFAULT_THRESHOLD: f32 = 0.45;
/// Concepts reported below the threshold by at most this much (the engine may use them for a
/// question it asked about that concept).
const REPORT_BELOW: f32 = 0.05;
/// Runners-up reported with a clause's best concept: related concepts often score within a few
/// hundredths of each other (vomiting and nausea), and the engine picks the one that names a
/// complaint.
const RUNNER_UP_MARGIN: f32 = 0.08;
/// At most this many concepts per clause.
const PER_CLAUSE: usize = 3;

/// The class of things said that are no complaint (`examples.toml`, `[off_topic]`): a text most like
/// these means no concept.
pub const OFF_TOPIC: &str = "_off_topic";
/// The class of plain denials (`examples.toml`, `[denials]`: "没有发烧", "no pain"): a denying
/// clause most like these means no concept. (Denying phrasings of a concept, such as "好几天没有
///大便" for constipation, still match.)
pub const DENIAL: &str = "_denial";

struct Phrase {
    concept: usize,
    /// The phrasing itself denies something ("好几天没有大便", "I haven't had a period"): it is
    /// compared only with clauses that deny too, and the others only with clauses that do not.
    denies: bool,
}

/// One clause (or the whole text) as a query.
struct Query {
    vector: Vec<f32>,
    denies: bool,
}

/// The matcher.
pub struct Matcher {
    embedder: Arc<dyn Embedder>,
    concepts: Vec<String>,
    phrases: Vec<Phrase>,
    /// Row-major, one unit vector per phrase, centred (see [`centre`]).
    vectors: Vec<f32>,
    /// Mean of the phrasing embeddings, removed from every vector before comparing.
    mean: Vec<f32>,
    dim: usize,
    threshold: f32,
    from_cache: bool,
}

impl std::fmt::Debug for Matcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Matcher")
            .field("model", &self.embedder.key())
            .field("concepts", &self.concepts.len())
            .field("phrases", &self.phrases.len())
            .field("threshold", &self.threshold)
            .finish()
    }
}

/// A recogniser as a plain phrase: `~` gaps closed, `*` endings dropped.
fn plain(recogniser: &str, lang: Lang) -> String {
    let joined = recogniser.replace('*', "");
    let parts: Vec<&str> = joined.split('~').map(str::trim).filter(|p| !p.is_empty()).collect();
    parts.join(if lang == Lang::Zh { "" } else { " " })
}

/// Every phrasing of every concept: (concept id, text).
pub fn phrasings(kb: &KnowledgeBase) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for c in &kb.concepts {
        for r in &c.zh {
            out.push((c.id.clone(), plain(r, Lang::Zh)));
        }
        for r in &c.en {
            out.push((c.id.clone(), plain(r, Lang::En)));
        }
    }
    for ex in &kb.examples {
        for s in ex.zh.iter().chain(&ex.en) {
            out.push((ex.concept.clone(), s.trim().to_owned()));
        }
    }
    if let Some(off) = &kb.off_topic {
        for s in off.zh.iter().chain(&off.en) {
            out.push((OFF_TOPIC.to_owned(), s.trim().to_owned()));
        }
    }
    if let Some(d) = &kb.denials {
        for s in d.zh.iter().chain(&d.en) {
            out.push((DENIAL.to_owned(), s.trim().to_owned()));
        }
    }
    out.retain(|(_, t)| !t.is_empty());
    out.sort();
    out.dedup();
    out
}

impl Matcher {
    /// Embeds (or loads from the cache) every phrasing of `kb`.
    pub fn build(embedder: Arc<dyn Embedder>, kb: &KnowledgeBase, config: &MatcherConfig) -> Result<Self> {
        let started = Instant::now();
        let all = phrasings(kb);
        let mut concepts: Vec<String> = all.iter().map(|(c, _)| c.clone()).collect();
        concepts.dedup();
        let index: BTreeMap<&str, usize> =
            concepts.iter().enumerate().map(|(i, c)| (c.as_str(), i)).collect();
        let phrases: Vec<Phrase> = all
            .iter()
            .map(|(c, t)| Phrase { concept: index[c.as_str()], denies: denies(t, lang_of(t)) })
            .collect();
        let dim = embedder.dim();

        let mut hasher = Sha256::new();
        hasher.update(embedder.key().as_bytes());
        for (c, t) in &all {
            hasher.update(c.as_bytes());
            hasher.update([0]);
            hasher.update(t.as_bytes());
            hasher.update([0]);
        }
        let digest = format!("{:x}", hasher.finalize());
        let cache_file =
            config.cache_dir.as_ref().map(|d| d.join(format!("phrasings-{}.f32", &digest[..24])));

        let expected = all.len() * dim;
        let cached = cache_file.as_deref().and_then(|p| read_cache(p, expected));
        let from_cache = cached.is_some();
        let vectors = match cached {
            Some(v) => v,
            None => {
                let mut v = Vec::with_capacity(expected);
                let texts: Vec<&str> = all.iter().map(|(_, t)| t.as_str()).collect();
                for chunk in texts.chunks(256) {
                    for e in embedder.embed_batch(chunk, Role::Query)? {
                        v.extend(e);
                    }
                }
                if let Some(path) = &cache_file
                    && let Err(e) = write_cache(path, &v)
                {
                    tracing::warn!(path = %path.display(), error = %e, "phrasing cache not written");
                }
                v
            }
        };
        let mean = mean_vector(&vectors, dim);
        let vectors: Vec<f32> = vectors.chunks_exact(dim).flat_map(|v| centre(v, &mean)).collect();
        tracing::info!(
            phrases = all.len(),
            concepts = concepts.len(),
            from_cache,
            ms = started.elapsed().as_millis() as u64,
            "semantic matcher ready"
        );
        Ok(Self { embedder, concepts, phrases, vectors, mean, dim, threshold: config.threshold, from_cache })
    }

    /// Whether the phrasing vectors came from the disk cache.
    pub fn from_cache(&self) -> bool {
        self.from_cache
    }

    /// Number of phrasings.
    pub fn n_phrases(&self) -> usize {
        self.phrases.len()
    }

    /// Each concept's best similarity to `text` as a whole (no clause splitting), best first.
    pub fn scores(&self, text: &str) -> Result<Vec<(String, f32)>> {
        let lang = lang_of(text);
        let vector = centre(&self.embedder.embed(text, Role::Query)?, &self.mean);
        Ok(self.rank(&[Query { vector, denies: denies(text, lang) }]))
    }

    /// Each concept's best similarity over several query vectors, best first.
    fn rank(&self, queries: &[Query]) -> Vec<(String, f32)> {
        let mut best = vec![f32::NEG_INFINITY; self.concepts.len()];
        for q in queries {
            for (c, s) in self.concept_scores(q).into_iter().enumerate() {
                best[c] = best[c].max(s);
            }
        }
        let mut out: Vec<(String, f32)> =
            self.concepts.iter().cloned().zip(best).filter(|(_, s)| s.is_finite()).collect();
        out.sort_by(|a, b| b.1.total_cmp(&a.1));
        out
    }

    /// Each concept's similarity to one query vector, by concept index: the mean of its two most
    /// similar phrasings (its best alone when it has one), so that one stray phrasing cannot carry
    /// a concept. Measured against the best alone on the paraphrase set: 80.0% vs 77.3%
    /// complaints, with fewer off-topic false matches (docs/benchmarks.md).
    fn concept_scores(&self, q: &Query) -> Vec<f32> {
        let mut best = vec![f32::NEG_INFINITY; self.concepts.len()];
        let mut second = vec![f32::NEG_INFINITY; self.concepts.len()];
        for (i, p) in self.phrases.iter().enumerate() {
            if p.denies != q.denies {
                continue;
            }
            let s = dot(&q.vector, &self.vectors[i * self.dim..(i + 1) * self.dim]);
            let c = p.concept;
            if s > best[c] {
                second[c] = best[c];
                best[c] = s;
            } else if s > second[c] {
                second[c] = s;
            }
        }
        best.iter().zip(&second).map(|(b, s)| if s.is_finite() { (b + s) / 2.0 } else { *b }).collect()
    }

    /// Query vectors of the clauses of `text`, plus the whole text when it has several clauses;
    /// each marked with whether it denies something.
    fn queries(&self, text: &str, lang: Lang) -> Result<Vec<Query>> {
        let mut texts = clauses(text);
        if texts.len() > 1 {
            texts.push(text.trim());
        }
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let vectors = self.embedder.embed_batch(&texts, Role::Query)?;
        Ok(texts
            .iter()
            .zip(vectors)
            .map(|(t, v)| Query { vector: centre(&v, &self.mean), denies: denies(t, lang) })
            .collect())
    }

    /// Concepts meant by `text`: for each clause that denies nothing (and the whole text), the
    /// concepts it is most like (the best and those within [`RUNNER_UP_MARGIN`] of it, at most
    /// [`PER_CLAUSE`]), if they score within a little of the threshold; best first. A clause most
    /// like small talk means nothing.
    pub fn match_text(&self, text: &str, lang: Lang) -> Result<Vec<(String, f32)>> {
        let floor = self.threshold - REPORT_BELOW;
        let mut found: Vec<(String, f32)> = Vec::new();
        for q in self.queries(text, lang)? {
            let scores = self.concept_scores(&q);
            let mut order: Vec<usize> = (0..scores.len()).filter(|&c| scores[c].is_finite()).collect();
            order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
            let Some(&top) = order.first() else { continue };
            if self.concepts[top] == OFF_TOPIC || self.concepts[top] == DENIAL {
                continue;
            }
            for &c in order.iter().take(PER_CLAUSE) {
                let s = scores[c];
                if s < floor
                    || s < scores[top] - RUNNER_UP_MARGIN
                    || self.concepts[c] == OFF_TOPIC
                    || self.concepts[c] == DENIAL
                {
                    break;
                }
                match found.iter_mut().find(|(id, _)| *id == self.concepts[c]) {
                    Some(entry) => entry.1 = entry.1.max(s),
                    None => found.push((self.concepts[c].clone(), s)),
                }
            }
        }
        found.sort_by(|a, b| b.1.total_cmp(&a.1));
        Ok(found)
    }

    /// How much `text` (its best clause, unless that clause is more like small talk or a plain
    /// denial) is like `concept`.
    pub fn concept_similarity(&self, text: &str, lang: Lang, concept: &str) -> Result<Option<f32>> {
        let Some(c) = self.concepts.iter().position(|id| id == concept) else { return Ok(None) };
        let classes: Vec<usize> = self
            .concepts
            .iter()
            .enumerate()
            .filter(|(_, id)| *id == OFF_TOPIC || *id == DENIAL)
            .map(|(i, _)| i)
            .collect();
        let queries = self.queries(text, lang)?;
        // A clause more like small talk or a plain denial than like the concept does not count.
        Ok(queries
            .iter()
            .map(|q| self.concept_scores(q))
            .filter(|s| classes.iter().all(|&o| !s[o].is_finite() || s[c] > s[o]))
            .map(|s| s[c])
            .filter(|s| s.is_finite())
            .max_by(f32::total_cmp))
    }
}

impl Matcher {
    /// The best concept for `text` with its score, whatever the score (clauses as in matching).
    pub fn best(&self, text: &str, lang: Lang) -> Result<Option<(String, f32)>> {
        Ok(self
            .rank(&self.queries(text, lang)?)
            .into_iter()
            .next()
            .filter(|(c, _)| c != OFF_TOPIC && c != DENIAL))
    }
}

impl dialogue::SemanticMatcher for Matcher {
    fn concepts(&self, text: &str, lang: Lang) -> Vec<(String, f32)> {
        match self.match_text(text, lang) {
            Ok(found) => found,
            Err(e) => {
                // The text itself is never logged.
                tracing::warn!(error = %e, "semantic matcher failed; rules only for this answer");
                Vec::new()
            }
        }
    }

    fn concept_score(&self, text: &str, lang: Lang, concept: &str) -> Option<f32> {
        match self.concept_similarity(text, lang, concept) {
            Ok(score) => score,
            Err(e) => {
                tracing::warn!(error = %e, "semantic matcher failed; rules only for this answer");
                None
            }
        }
    }

    fn threshold(&self) -> f32 {
        self.threshold
    }
}

/// Splits at sentence and clause punctuation and at "but"/"但是"-like turns.
pub fn clauses(text: &str) -> Vec<&str> {
    const SEPARATORS: &[char] =
        &['，', '。', '；', '！', '？', '、', ',', '.', ';', '!', '?', '\n', '：', ':'];
    let mut out = Vec::new();
    for part in text.split(SEPARATORS) {
        let mut rest = part;
        loop {
            let cut = [" but ", "但是", "可是", "不过"]
                .iter()
                .filter_map(|w| rest.find(w).map(|i| (i, w.len())))
                .min_by_key(|(i, _)| *i);
            match cut {
                Some((i, len)) => {
                    out.push(&rest[..i]);
                    rest = &rest[i + len..];
                }
                None => {
                    out.push(rest);
                    break;
                }
            }
        }
    }
    out.into_iter().map(str::trim).filter(|c| c.chars().any(char::is_alphanumeric)).collect()
}

/// Whether a clause denies something: embeddings would read "没有发烧" as "发烧".
pub fn denies(clause: &str, lang: Lang) -> bool {
    let lower = clause.to_lowercase();
    let zh = [
        "没有",
        "没发",
        "没咳",
        "没吐",
        "没拉",
        "没疼",
        "没痛",
        "并没",
        "也没",
        "不是",
        "从来没",
        "没解",
        "没排",
        "没来",
    ];
    let en = [
        "no ",
        "not ",
        "don't have",
        "didn't have",
        "haven't",
        "hasn't",
        "doesn't have",
        "never",
        "without",
        "none",
        "denies",
        "no.",
    ];
    let padded = format!("{lower} ");
    let hit_zh = zh.iter().any(|w| lower.contains(w)) && !lower.contains("没有力气");
    let hit_en = en.iter().any(|w| padded.starts_with(w) || padded.contains(&format!(" {w}")));
    match lang {
        Lang::Zh => hit_zh || hit_en,
        Lang::En => hit_en || hit_zh,
    }
}

/// Mandarin when the text has Han characters.
pub fn lang_of(text: &str) -> Lang {
    if text.chars().any(dialogue::nlu::is_han) { Lang::Zh } else { Lang::En }
}

/// Mean of row-major vectors.
fn mean_vector(vectors: &[f32], dim: usize) -> Vec<f32> {
    let mut mean = vec![0f32; dim];
    let n = (vectors.len() / dim.max(1)).max(1);
    for v in vectors.chunks_exact(dim) {
        mean.iter_mut().zip(v).for_each(|(m, x)| *m += x / n as f32);
    }
    mean
}

/// `v` minus the phrasings' mean, renormalised. Sentence embeddings share a large common
/// direction (any two sentences score about 0.8 with e5); removing it spreads the similarities and
/// keeps a few "hub" phrasings from being near everything.
fn centre(v: &[f32], mean: &[f32]) -> Vec<f32> {
    crate::normalized(v.iter().zip(mean).map(|(x, m)| x - m).collect())
}

fn read_cache(path: &Path, expected: usize) -> Option<Vec<f32>> {
    let bytes = std::fs::read(path).ok()?;
    if bytes.len() != expected * 4 {
        return None;
    }
    let v: Vec<f32> = bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
    v.iter().all(|x| x.is_finite()).then_some(v)
}

fn write_cache(path: &Path, v: &[f32]) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("tmp");
    let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clauses_split_at_punctuation_and_turns() {
        assert_eq!(clauses("头疼，想吐。但是没有发烧"), vec!["头疼", "想吐", "没有发烧"]);
        assert_eq!(clauses("my head hurts, but no fever"), vec!["my head hurts", "no fever"]);
        assert!(clauses("，。!!").is_empty());
    }

    #[test]
    fn denials_are_recognised_without_catching_symptom_words() {
        assert!(denies("没有发烧", Lang::Zh));
        assert!(denies("no fever", Lang::En));
        assert!(denies("I don't have a cough", Lang::En));
        assert!(!denies("喘不上气", Lang::Zh));
        assert!(!denies("浑身没有力气", Lang::Zh));
        assert!(!denies("I can't catch my breath", Lang::En));
        assert!(!denies("nothing stays down", Lang::En));
    }

    #[test]
    fn recognisers_become_plain_phrases() {
        assert_eq!(plain("心跳~快", Lang::Zh), "心跳快");
        assert_eq!(plain("heavy ~ chest", Lang::En), "heavy chest");
        assert_eq!(plain("spread* to my arm", Lang::En), "spread to my arm");
    }
}
