//! `kiosk bench llm`: the language model's speed on this machine. Loads the installed model,
//! reads the extraction instructions once (as the kiosk does at start), then for each story:
//! extraction with the instructions cached (`ttft_ms`: what a patient waits for within a
//! session) and with the cache cleared (`ttft_cold_ms`); prefill and generation rates; and a
//! narrative drafted from a real card in each language, checked against the card.

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use protocol::Lang;

use crate::config::Config;

const STORIES: [(&str, Lang); 4] = [
    (
        "It started about two hours ago after dinner, a heavy pressure in the middle of my chest that goes into my left arm.",
        Lang::En,
    ),
    ("两个小时前吃完饭开始胸口正中间像压了块石头，往左胳膊那边窜。", Lang::Zh),
    (
        "I've had cramping pain in my lower right belly for two days, it gets worse when I walk and it's about a 7.",
        Lang::En,
    ),
    ("今天早上起来后脑勺胀痛，一弯腰就更厉害，躺下能好一点。", Lang::Zh),
];

fn percentile(mut v: Vec<f64>, p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(((v.len() as f64 - 1.0) * p).round() as usize).copied().unwrap_or(0.0)
}

/// Runs the bench and prints one JSON object.
pub fn run(config: &Config, rounds: usize, weights: llm::Weights, out: &mut dyn Write) -> anyhow::Result<()> {
    let files = llm::ModelFiles::installed(&config.models_dir);
    let started = Instant::now();
    let model = llm::Llm::load_with(&files, weights)?;
    let load_ms = started.elapsed().as_secs_f64() * 1000.0;
    let never = AtomicBool::new(false);
    let started = Instant::now();
    let mut warm = model.conversation();
    let instruction_tokens = model.prefill(&mut warm, &llm::extract::warm_prompt())?;
    let instructions_ms = started.elapsed().as_secs_f64() * 1000.0;

    let (mut ttft, mut ttft_cold, mut prefill_rate, mut gen_rate) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rounds.max(1) {
        for (story, _) in STORIES {
            let prompt = llm::extract::prompt(story);
            let mut kept = warm.clone();
            let g = model.generate(&mut kept, &prompt, &llm::extract::config(), &never, &mut |_| {})?;
            ttft.push(g.first_token_ms);
            if g.generated_tokens > 1 {
                gen_rate.push((g.generated_tokens - 1) as f64 / (g.generation_ms / 1000.0));
            }
            let mut cold = model.conversation();
            let c = model.generate(&mut cold, &prompt, &llm::extract::config(), &never, &mut |_| {})?;
            ttft_cold.push(c.first_token_ms);
            prefill_rate.push(c.prompt_tokens as f64 / (c.prefill_ms / 1000.0));
        }
    }

    // Narratives from real cards (the intake cases), checked against them.
    let kb = Arc::new(dialogue::KnowledgeBase::embedded()?);
    let engine = Arc::new(dialogue::Engine::new(kb, dialogue::InterviewConfig::default()));
    let cards = dialogue::eval::intake_cards(&engine, 140);
    let mut narratives = Vec::new();
    for lang in [Lang::Zh, Lang::En] {
        let Some(card) = cards.iter().find(|c| c.language == lang && c.red_flags.is_empty()) else {
            continue;
        };
        let mut warm = model.conversation();
        model.prefill(&mut warm, &llm::narrative::warm_prompt(lang))?;
        let d = crate::eval_cmd::draft_narrative(&model, &warm, card, &engine, lang)?;
        let (g, check) = (&d.generation, &d.check);
        narratives.push(serde_json::json!({
            "lang": lang.code(),
            "first_token_ms": g.first_token_ms,
            "total_ms": d.ms,
            "tokens": g.generated_tokens,
            "accepted": check.is_ok(),
            "problem": check.as_ref().err().map(ToString::to_string),
            "draft_chars": g.text.chars().count(),
        }));
    }
    let report = serde_json::json!({
        "model": "qwen2.5-coder-0.5b-instruct q4_k_m (candle, project wrapper)",
        "weights": format!("{weights:?}"),
        "load_ms": load_ms,
        "instruction_tokens": instruction_tokens,
        "instructions_read_ms": instructions_ms,
        "prefill_tokens_per_s": percentile(prefill_rate, 0.5),
        "gen_tokens_per_s": percentile(gen_rate, 0.5),
        "ttft_ms": percentile(ttft.clone(), 0.5),
        "ttft_p95_ms": percentile(ttft, 0.95),
        "ttft_cold_ms": percentile(ttft_cold, 0.5),
        "narratives": narratives,
        "peak_rss_mb": speech::bench::peak_rss_mb(),
    });
    writeln!(out, "{report}")?;
    Ok(())
}
