//! The installed models, used through their real components: the converted whisper ggml file in
//! whisper-rs, and the Qwen GGUF in candle with the tokenizer built by the installer.

use std::path::Path;

use candle_core::quantized::gguf_file;
use candle_core::{Device, Tensor};
use candle_transformers::generation::LogitsProcessor;
use candle_transformers::models::quantized_qwen2::ModelWeights;
use kiosk_tests::{clips, models_dir};
use protocol::Lang;
use speech::asr::{AsrConfig, Recognizer};

#[test]
fn every_installed_model_verifies() {
    let catalog = models::Catalog::embedded().expect("catalog");
    let statuses = models::verify(&catalog, &models_dir(), &[]).expect("verify");
    for status in &statuses {
        assert!(status.is_ok(), "{}: {:?}", status.name, status.problem());
    }
}

#[test]
fn converted_whisper_model_transcribes_jfk() {
    let recognizer = Recognizer::load(&AsrConfig {
        model_path: Recognizer::default_model_path(&models_dir()),
        threads: 2,
    })
    .expect("whisper loads the converted ggml file");
    let clip = clips().into_iter().find(|c| c.path.ends_with("en01_jfk_inaugural.wav")).expect("jfk clip");
    let audio = speech::wav::read_wav(&clip.path).expect("wav");
    assert_eq!(audio.sample_rate_hz, 16_000);
    let transcript = recognizer.transcribe(&audio.samples, Lang::En).expect("transcribes");
    let wer = speech::score::wer(&clip.transcript, transcript.text.expose());
    assert!(wer <= 0.10, "WER {wer:.3}: {:?}", transcript.text.expose());
    assert!(transcript.confidence > 0.5, "confidence {}", transcript.confidence);
}

fn qwen_paths(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let base = dir.join("qwen2.5-0.5b");
    (base.join("qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"), base.join("tokenizer.json"))
}

#[test]
fn built_qwen_tokenizer_round_trips_chinese_and_english() {
    let (_, tokenizer_path) = qwen_paths(&models_dir());
    let tokenizer = tokenizers::Tokenizer::from_file(&tokenizer_path).expect("tokenizer.json loads");
    let ids = tokenizer.encode("你好", false).expect("encode").get_ids().to_vec();
    assert_eq!(ids, vec![108386], "Qwen's id for 你好");
    assert_eq!(tokenizer.token_to_id("<|im_end|>"), Some(151645));
    for text in [
        "我胸口疼了三天，晚上更厉害。",
        "My chest has hurt for 3 days, worse at night.",
        "  mixed 中英文 text\nwith newlines, émoji 🙂 and numbers 120/80 ",
    ] {
        let encoding = tokenizer.encode(text, false).expect("encode");
        let decoded = tokenizer.decode(encoding.get_ids(), false).expect("decode");
        assert_eq!(decoded, text, "round trip");
    }
}

#[test]
fn qwen_gguf_loads_in_candle_and_generates() {
    let (gguf_path, tokenizer_path) = qwen_paths(&models_dir());
    let tokenizer = tokenizers::Tokenizer::from_file(&tokenizer_path).expect("tokenizer");
    let mut file = std::fs::File::open(&gguf_path).expect("gguf");
    let content = gguf_file::Content::read(&mut file).expect("gguf header");
    let device = Device::Cpu;
    let mut model = ModelWeights::from_gguf(content, &mut file, &device).expect("model loads");

    let prompt = "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n\
                  What is the capital of France? Answer in one word.<|im_end|>\n<|im_start|>assistant\n";
    let prompt_ids = tokenizer.encode(prompt, false).expect("encode").get_ids().to_vec();
    let mut logits_processor = LogitsProcessor::new(299_792_458, None, None); // greedy
    let input = Tensor::new(prompt_ids.as_slice(), &device).and_then(|t| t.unsqueeze(0)).expect("input");
    let logits = model.forward(&input, 0).and_then(|l| l.squeeze(0)).expect("prefill");
    let mut next = logits_processor.sample(&logits).expect("sample");
    let mut generated = vec![next];
    for i in 0..6 {
        if next == 151645 {
            break;
        }
        let input = Tensor::new(&[next], &device).and_then(|t| t.unsqueeze(0)).expect("input");
        let logits = model.forward(&input, prompt_ids.len() + i).and_then(|l| l.squeeze(0)).expect("step");
        next = logits_processor.sample(&logits).expect("sample");
        generated.push(next);
    }
    let answer = tokenizer.decode(&generated, true).expect("decode");
    assert!(answer.contains("Paris"), "answer: {answer:?}");
}
