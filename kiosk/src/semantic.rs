//! Loading the semantic matcher the configuration asks for, and `kiosk bench embed`.

use std::io::Write;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;
use dialogue::KnowledgeBase;
use embed::{Embedder, Matcher, MatcherConfig, Role};

use crate::config::{Config, SemanticModel};

/// Loads the configured embedding model (`None` when semantic matching is off).
pub fn load_embedder(config: &Config) -> embed::Result<Option<Arc<dyn Embedder>>> {
    Ok(match config.semantic {
        SemanticModel::Off => None,
        SemanticModel::E5 => Some(Arc::new(embed::e5::E5::load_from_models_dir(&config.models_dir)?)),
        SemanticModel::MiniLm => {
            Some(Arc::new(embed::minilm::MiniLm::load_from_models_dir(&config.models_dir)?))
        }
    })
}

/// The matcher for `kb`, its phrasing vectors cached in the data directory.
pub fn matcher(config: &Config, embedder: Arc<dyn Embedder>, kb: &KnowledgeBase) -> embed::Result<Matcher> {
    let matcher_config = MatcherConfig {
        threshold: config.semantic_threshold,
        cache_dir: Some(config.data_dir.join("embed-cache")),
    };
    Matcher::build(embedder, kb, &matcher_config)
}

/// The matcher, or `None` with a warning when it cannot be had: the kiosk then runs on rules.
pub fn load_or_warn(config: &Config, kb: &KnowledgeBase) -> Option<Arc<Matcher>> {
    let embedder = match load_embedder(config) {
        Ok(Some(e)) => e,
        Ok(None) => return None,
        Err(e) => {
            tracing::warn!(error = %e, "semantic matching is off: rule-based understanding only");
            return None;
        }
    };
    match matcher(config, embedder, kb) {
        Ok(m) => Some(Arc::new(m)),
        Err(e) => {
            tracing::warn!(error = %e, "semantic matching is off: rule-based understanding only");
            None
        }
    }
}

/// `kiosk models prepare`: builds (or checks) the phrasing cache so the first start is quick.
pub fn prepare(config: &Config, out: &mut dyn Write) -> anyhow::Result<()> {
    let Some(embedder) = load_embedder(config)? else {
        writeln!(out, "semantic matching is off (understanding.semantic): nothing to prepare")?;
        return Ok(());
    };
    let kb = KnowledgeBase::embedded()?;
    let started = Instant::now();
    let m = matcher(config, embedder, &kb)?;
    writeln!(
        out,
        "semantic matcher: {} phrasings {} in {:.1} s (cache: {})",
        m.n_phrases(),
        if m.from_cache() { "read from the cache" } else { "embedded and cached" },
        started.elapsed().as_secs_f64(),
        config.data_dir.join("embed-cache").display()
    )?;
    Ok(())
}

/// Sentences for the bench: short patient answers in both languages, like the kiosk sees.
const BENCH_SENTENCES: &[&str] = &[
    "我胸口疼了三天",
    "胸口像压了块石头，喘不上气",
    "头晕想吐",
    "孩子发烧三十九度",
    "肚子疼，拉了好几次",
    "咳嗽有黄痰",
    "没有",
    "昨天晚上开始的",
    "腰疼，疼到腿上",
    "我对青霉素过敏",
    "my chest feels tight",
    "I can't catch my breath",
    "I have had a headache for three days",
    "yes",
    "since yesterday morning",
    "it burns when I pee",
    "I fell and hurt my wrist",
    "my heart is racing and I'm sweating",
    "no fever, just very tired",
    "I need more of my blood pressure pills",
];

/// `kiosk bench embed`: load time, per-sentence latency and throughput, peak memory.
pub fn bench(config: &Config, rounds: usize, out: &mut dyn Write) -> anyhow::Result<()> {
    let started = Instant::now();
    let embedder: Arc<dyn Embedder> = match config.semantic {
        SemanticModel::MiniLm => Arc::new(embed::minilm::MiniLm::load_from_models_dir(&config.models_dir)?),
        _ => Arc::new(embed::e5::E5::load_from_models_dir(&config.models_dir)?),
    };
    let load_ms = started.elapsed().as_secs_f64() * 1000.0;
    // Warm-up (first-call allocations), not measured.
    embedder.embed(BENCH_SENTENCES[0], Role::Query)?;
    let mut per_sentence = Vec::new();
    let all = Instant::now();
    for _ in 0..rounds.max(1) {
        for s in BENCH_SENTENCES {
            let t = Instant::now();
            embedder.embed(s, Role::Query)?;
            per_sentence.push(t.elapsed().as_secs_f64() * 1000.0);
        }
    }
    let total_s = all.elapsed().as_secs_f64();
    let kb = KnowledgeBase::embedded()?;
    let build = Instant::now();
    let m = Matcher::build(Arc::clone(&embedder), &kb, &MatcherConfig::default())
        .context("building the phrasing index")?;
    let index_ms = build.elapsed().as_secs_f64() * 1000.0;
    let mut match_ms = Vec::new();
    for s in BENCH_SENTENCES {
        let t = Instant::now();
        m.match_text(s, protocol::Lang::Zh)?;
        match_ms.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    let json = serde_json::json!({
        "model": embedder.key().split(':').next().unwrap_or_default(),
        "sentences": per_sentence.len(),
        "sentences_per_s": per_sentence.len() as f64 / total_s,
        "p50_ms": protocol::stats::percentile(&per_sentence, 50.0),
        "p95_ms": protocol::stats::percentile(&per_sentence, 95.0),
        "load_ms": load_ms,
        "index_phrases": m.n_phrases(),
        "index_build_ms": index_ms,
        "match_p95_ms": protocol::stats::percentile(&match_ms, 95.0),
        "peak_rss_mb": speech::bench::peak_rss_mb(),
    });
    writeln!(out, "{json}")?;
    Ok(())
}
