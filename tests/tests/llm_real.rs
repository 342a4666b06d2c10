//! The language model through its real component: the installed Qwen2.5 GGUF in the project's own
//! candle wrapper (attention cache outside the weights), against candle's reference model, with
//! the cache kept, rewound and snapshotted; and the story extraction on real stories.

use std::sync::atomic::AtomicBool;

use candle_core::quantized::gguf_file;
use candle_core::{Device, Tensor};
use candle_transformers::models::quantized_qwen2::ModelWeights;
use kiosk_tests::models_dir;
use llm::{GenConfig, Llm, ModelFiles, Stop, chat_prompt};
use protocol::{Lang, Slot};

fn load() -> Llm {
    Llm::load(&ModelFiles::installed(&models_dir())).expect("the installed model loads")
}

/// The logits candle's own quantized_qwen2 (the reference forward pass) gives after `ids`.
fn reference_logits(ids: &[u32]) -> Vec<f32> {
    let files = ModelFiles::installed(&models_dir());
    let mut file = std::fs::File::open(&files.gguf).expect("gguf");
    let content = gguf_file::Content::read(&mut file).expect("gguf header");
    let mut model = ModelWeights::from_gguf(content, &mut file, &Device::Cpu).expect("model loads");
    let input = Tensor::new(ids, &Device::Cpu).and_then(|t| t.unsqueeze(0)).expect("input");
    model.forward(&input, 0).and_then(|l| l.squeeze(0)).and_then(|l| l.to_vec1()).expect("prefill")
}

/// Ours, reading `ids` in pieces of `piece` tokens (each later piece reads the earlier ones from
/// the cache).
fn our_logits(ids: &[u32], piece: usize, weights: llm::Weights) -> Vec<f32> {
    let files = ModelFiles::installed(&models_dir());
    let mut file = std::fs::File::open(&files.gguf).expect("gguf");
    let content = gguf_file::Content::read(&mut file).expect("gguf header");
    let model = llm::Qwen2::from_gguf(&content, &mut file, &Device::Cpu, weights).expect("model loads");
    let mut cache = model.new_cache();
    let mut logits = Vec::new();
    for chunk in ids.chunks(piece) {
        logits = model.forward(chunk, &mut cache).and_then(|l| l.to_vec1()).expect("forward");
    }
    assert_eq!(cache.len(), ids.len());
    logits
}

fn top(v: &[f32], n: usize) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..v.len()).collect();
    idx.sort_by(|a, b| v[*b].total_cmp(&v[*a]));
    idx.truncate(n);
    idx
}

fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| f64::from(*x) * f64::from(*y)).sum();
    let norm = |v: &[f32]| v.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    dot / (norm(a) * norm(b))
}

#[test]
fn the_forward_pass_matches_candles_reference_model() {
    let llm = load();
    let prompt = chat_prompt(
        "You are a helpful assistant.",
        &["我胸口疼了三天，晚上更厉害。What should I tell the nurse?"],
    );
    let ids = llm.tokenize(&prompt).expect("tokens");
    let reference = reference_logits(&ids);
    // Read in one piece: the same computation as candle's model, the same logits.
    let whole = our_logits(&ids, ids.len(), llm::Weights::AsStored);
    let max_diff = whole.iter().zip(&reference).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    assert!(max_diff < 1e-3, "max |difference| {max_diff}");
    assert_eq!(top(&whole, 1), top(&reference, 1), "same next token");
    // Read in pieces through the cache: the same up to the rounding of another summation order.
    let pieces = our_logits(&ids, 7, llm::Weights::AsStored);
    assert!(cosine(&pieces, &reference) > 0.999, "cosine {}", cosine(&pieces, &reference));
    let reference_top = top(&reference, 5);
    assert!(top(&pieces, 5).iter().filter(|t| reference_top.contains(t)).count() >= 4);
    // The kiosk's weights (5-bit matrices re-encoded as 8-bit for the vectorised kernels, the token
    // table in f16): one more, much finer rounding, and nearly the same distribution. (Here the
    // two likeliest tokens are 0.12 apart, so any other rounding, even reading in pieces, may swap
    // them.)
    let fast = our_logits(&ids, 7, llm::Weights::Fast);
    assert!(cosine(&fast, &reference) > 0.999, "cosine {}", cosine(&fast, &reference));
    assert!(top(&fast, 2).contains(&reference_top[0]), "the reference's next token is among ours");
    assert!(top(&fast, 5).iter().filter(|t| reference_top.contains(t)).count() >= 4);
}

#[test]
fn the_cache_is_kept_rewound_and_copied_without_changing_answers() {
    let llm = load();
    let never = AtomicBool::new(false);
    let prompt = chat_prompt("You are a helpful assistant.", &["Name three colours of the rainbow."]);
    let ids = llm.tokenize(&prompt).expect("tokens");
    let greedy = GenConfig { max_tokens: 12, ..GenConfig::default() };

    let mut fresh = llm.conversation();
    let first = llm.generate(&mut fresh, &prompt, &greedy, &never, &mut |_| {}).expect("generates");
    assert_eq!(first.reused_tokens, 0);
    assert!(first.text.to_lowercase().contains("red"), "{:?}", first.text);

    // The same prompt again in the same conversation: everything but the last token is re-used
    // and the answer is the same.
    let again = llm.generate(&mut fresh, &prompt, &greedy, &never, &mut |_| {}).expect("generates");
    assert_eq!(again.reused_tokens, ids.len() - 1);
    assert_eq!(again.text, first.text);

    // A snapshot taken after the instructions serves two different questions, each as if fresh.
    let mut base = llm.conversation();
    let system_only = "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n";
    llm.prefill(&mut base, system_only).expect("prefill");
    let other = chat_prompt("You are a helpful assistant.", &["What is the capital of France? One word."]);
    let mut a = base.clone();
    let from_snapshot = llm.generate(&mut a, &other, &greedy, &never, &mut |_| {}).expect("generates");
    assert!(from_snapshot.reused_tokens >= llm.tokenize(system_only).expect("tokens").len() - 1);
    assert!(from_snapshot.text.contains("Paris"), "{:?}", from_snapshot.text);
    let mut b = base.clone();
    let colours = llm.generate(&mut b, &prompt, &greedy, &never, &mut |_| {}).expect("generates");
    // Read in other pieces: the same answer up to near-ties in rounding ("colours" / "colors").
    assert!(colours.text.to_lowercase().contains("red"), "{:?}", colours.text);
    assert!(matches!(colours.stop, Stop::Budget | Stop::EndOfTurn));

    // Streaming: the pieces make the text.
    let mut pieces = String::new();
    let streamed = llm
        .generate(&mut llm.conversation(), &other, &greedy, &never, &mut |t| pieces.push_str(t))
        .expect("generates");
    assert_eq!(pieces, streamed.text);

    // Cancelled: nothing comes out.
    let cancelled = llm
        .generate(&mut llm.conversation(), &prompt, &greedy, &AtomicBool::new(true), &mut |_| {})
        .map(|g| (g.stop, g.text));
    assert!(
        matches!(&cancelled, Ok((Stop::Cancelled, t)) if t.is_empty()) || cancelled.is_err(),
        "{cancelled:?}"
    );
}

#[test]
fn stories_in_both_languages_are_read_into_grounded_slots() {
    let llm = load();
    let never = AtomicBool::new(false);
    let mut warm = llm.conversation();
    llm.prefill(&mut warm, &llm::extract::warm_prompt()).expect("warm");
    let stories = [
        (
            Lang::En,
            "It started about two hours ago after dinner, a heavy pressure in the middle of my chest that goes into my left arm.",
            vec![Slot::Location, Slot::Character, Slot::Radiation],
        ),
        (
            Lang::Zh,
            "两个小时前吃完饭开始胸口正中间像压了块石头，往左胳膊那边窜。",
            vec![Slot::Onset, Slot::Location, Slot::Character],
        ),
    ];
    for (lang, story, expected) in stories {
        let mut conversation = warm.clone();
        let answer = llm
            .generate(
                &mut conversation,
                &llm::extract::prompt(story),
                &llm::extract::config(),
                &never,
                &mut |_| {},
            )
            .expect("generates");
        assert!(answer.reused_tokens > 100, "the instructions come from the cache: {}", answer.reused_tokens);
        let facts = llm::extract::parse(&answer.text, story, lang).expect("a JSON form");
        let found: Vec<Slot> = facts.slots.iter().map(|(s, _, _)| *s).collect();
        let hits = expected.iter().filter(|s| found.contains(s)).count();
        assert!(hits * 3 >= expected.len() * 2, "{story}: expected {expected:?}, got {:?}", facts.slots);
        for (_, value, _) in &facts.slots {
            assert!(llm::extract::grounded(value, story, lang), "{value:?} is not in the story");
        }
    }
}

#[test]
fn the_worker_streams_keeps_the_instructions_cached_and_cancels() {
    use llm::worker::{LlmEvent, LlmWorker, Request};
    use std::sync::Arc;
    let worker = LlmWorker::spawn(load(), 1).expect("worker");
    assert!(worker.warm(llm::extract::warm_prompt()));
    let ask = |session: u64, story: &str, cancel: Arc<AtomicBool>| {
        let (tx, rx) = crossbeam_channel::bounded(512);
        let request = Request {
            session,
            prompt: llm::extract::prompt(story),
            config: llm::extract::config(),
            events: tx,
            cancel,
        };
        assert!(worker.generate(request));
        rx
    };
    let rx = ask(7, "My knee hurts when I climb stairs.", Arc::new(AtomicBool::new(false)));
    let mut streamed = String::new();
    let done = loop {
        match rx.recv_timeout(std::time::Duration::from_secs(300)).expect("an event") {
            LlmEvent::Text(t) => streamed.push_str(&t),
            LlmEvent::Done(g) => break g,
            LlmEvent::Failed(e) => panic!("failed: {e}"),
        }
    };
    assert_eq!(streamed, done.text, "the pieces make the answer");
    assert!(done.reused_tokens > 100, "the warmed instructions were re-used: {}", done.reused_tokens);
    let facts =
        llm::extract::parse(&done.text, "My knee hurts when I climb stairs.", Lang::En).expect("form");
    assert!(facts.slots.iter().any(|(s, _, _)| *s == Slot::Location || *s == Slot::Aggravating), "{facts:?}");

    // Cancelled at once: the worker answers, with no long generation.
    let cancel = Arc::new(AtomicBool::new(true));
    let rx = ask(8, "我头疼，太阳穴一跳一跳的。", cancel);
    let last = loop {
        match rx.recv_timeout(std::time::Duration::from_secs(300)).expect("an event") {
            LlmEvent::Text(_) => {}
            other => break other,
        }
    };
    match last {
        LlmEvent::Done(g) => assert_eq!(g.stop, Stop::Cancelled),
        LlmEvent::Failed(e) => assert!(e.contains("cancel"), "{e}"),
        LlmEvent::Text(_) => unreachable!(),
    }
    worker.end_session(7);
}

#[test]
fn narratives_stream_through_the_kiosks_assist_and_are_checked_against_their_cards() {
    use kiosk::assist::{Assist, Assisted};
    use std::sync::Arc;
    let kb = Arc::new(dialogue::KnowledgeBase::embedded().expect("kb"));
    let engine = Arc::new(dialogue::Engine::new(kb, dialogue::InterviewConfig::default()));
    let cards = dialogue::eval::intake_cards(&engine, 200);
    let mut assist = Assist::start(load(), 1, &[Lang::Zh, Lang::En]).expect("worker");
    let (mut accepted, mut refused) = (0, Vec::new());
    for lang in [Lang::Zh, Lang::En] {
        for card in cards.iter().filter(|c| c.language == lang && c.red_flags.is_empty()).take(2) {
            let facts = dialogue::narrative::facts(card, lang);
            assert!(assist.draft_narrative(1, &facts, lang), "the worker takes the request");
            let events = assist.events();
            let mut streamed = String::new();
            let draft = loop {
                let event = events.recv_timeout(std::time::Duration::from_secs(300)).expect("an event");
                match assist.finish(event) {
                    Some(Assisted::NarrativeText(1, text)) => streamed.push_str(&text),
                    Some(Assisted::Narrative(1, draft)) => break draft.expect("a draft"),
                    other => panic!("unexpected {other:?}"),
                }
            };
            assert!(!draft.is_empty() && streamed.trim().starts_with(&draft), "{streamed:?} / {draft:?}");
            assert_eq!(
                draft.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)),
                lang == Lang::Zh,
                "{draft}"
            );
            let example = llm::narrative::example_phrases(lang);
            match dialogue::narrative::check(&draft, card, &engine, lang, example) {
                Ok(()) => accepted += 1,
                Err(problem) => refused.push(format!("{problem}: {draft}")),
            }
        }
    }
    // A refused draft leaves the deterministic text; the model must still earn its place.
    assert!(accepted >= 1, "no draft passed the check: {refused:#?}");
}

#[test]
fn a_draft_still_written_at_confirmation_follows_the_card_into_the_store() {
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use dialogue::{Expect, Touch};
    use kiosk::orchestrator::{Orchestrator, Parts, StoreSink};
    use kiosk::session::{Screen, Session, SessionConfig, UiAction};
    use store::CardStore as _;

    let data = tempfile::tempdir().expect("tempdir");
    let env = kiosk::config::Env { home: Some("/nonexistent".into()), ..kiosk::config::Env::default() };
    let config = kiosk::config::Config::from_toml(None, "-", &env).expect("defaults");
    let kb = Arc::new(dialogue::KnowledgeBase::embedded().expect("kb"));
    let engine = Arc::new(dialogue::Engine::new(kb, dialogue::InterviewConfig::default()));
    let session_config = SessionConfig {
        narrative_languages: vec![Lang::Zh],
        narrative_budget: Some(Duration::from_secs(120)),
        ..SessionConfig::from_config(&config)
    };
    let assist = kiosk::assist::Assist::start(load(), 2, &[Lang::Zh]).expect("worker");
    assert!(assist.wait_ready(Duration::from_secs(300)), "the instructions are read");
    let store_path = data.path().join("cards.sqlite");
    let (alerts, _alerts) = crossbeam_channel::bounded(64);
    let parts = Parts {
        session: Session::new(engine, session_config, Instant::now()),
        voice: Box::new(kiosk::tour::SilentVoice::default()),
        speech: None,
        sink: Box::new(StoreSink::open(&store_path, "lobby-1").expect("store")),
        alerts,
        assist: Some(assist),
    };
    let kiosk = Orchestrator::spawn(parts, || {}).expect("session thread");
    let send = |a: UiAction| kiosk.actions.send(a).expect("session thread");
    send(UiAction::ChooseLanguage(Lang::Zh));
    send(UiAction::Consent(true));
    send(UiAction::Consent(true));
    // Answer by touch as questions come; confirm the read-back at once, while the model drafts.
    let start = Instant::now();
    let mut answered = None;
    let (mut card_id, mut followed) = (None, false);
    while start.elapsed() < Duration::from_secs(600) {
        let Ok(view) = kiosk.views.recv_timeout(Duration::from_millis(200)) else { continue };
        if let Screen::Handoff(h) = &view.screen {
            card_id = Some(h.card_id.clone());
            followed |= view.late_draft;
        }
        if card_id.is_some() {
            if view.late_draft {
                continue;
            }
            break;
        }
        let Some(q) = &view.question else { continue };
        if answered.as_ref() == Some(&(q.id.clone(), view.said.clone())) {
            continue;
        }
        answered = Some((q.id.clone(), view.said.clone()));
        send(match q.expect {
            Expect::FreeText if q.id.starts_with("opening") => {
                UiAction::Text("我头疼，两天了，太阳穴那里胀痛".into())
            }
            Expect::YesNo | Expect::FreeText => UiAction::Answer(Touch::No),
            Expect::Confirm => UiAction::Answer(Touch::Yes),
            Expect::Rating => UiAction::Answer(Touch::Rating(4)),
            Expect::Age => UiAction::Answer(Touch::AgeYears(38.0)),
            Expect::Sex => UiAction::Answer(Touch::Sex(protocol::Sex::Female)),
            Expect::Duration => UiAction::Answer(Touch::DurationHours(48.0)),
            Expect::Temperature => UiAction::Answer(Touch::DontKnow),
        });
    }
    let card_id = card_id.expect("the card was sent");
    assert!(followed, "the patient confirmed before the draft was done: it followed the card");
    kiosk.join();
    let mut store = store::SqliteStore::open(&store_path).expect("store");
    let stored = store.card(&card_id, &store::Actor::System, 0).expect("reads").expect("stored");
    let audit = store.audit(&card_id).expect("audit");
    eprintln!("late draft: version {} {:?}", stored.version, stored.card.hpi.zh);
    // The draft passed its check against the card as sent, and landed as the kiosk's version.
    assert_eq!(stored.version, 2, "{audit:?}");
    assert_eq!(stored.card.hpi_drafted, Some(Lang::Zh));
    assert_ne!(
        stored.card.hpi.zh,
        dialogue::card::hpi(&stored.card).zh,
        "the drafted text, not the deterministic"
    );
    assert!(audit.iter().any(|a| a.action == "draft_hpi" && a.actor == "kiosk:lobby-1"), "{audit:?}");
}
