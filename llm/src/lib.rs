//! The on-device language model: Qwen2.5 (GGUF, 4-bit) on candle, for reading a patient's story
//! into the card's slots ([`extract`]) and drafting the narrative a doctor reads ([`narrative`]).
//!
//! - [`model::Qwen2`] is the forward pass with the attention cache held outside the weights, so a
//!   [`Conversation`] can be snapshotted (cloned) and rewound: a request re-reads only what it
//!   does not share with what was already read (the fixed instructions are read once per
//!   process, earlier turns of a session once per session).
//! - [`Llm::generate`] streams text as it is made, stops at the end-of-turn token, a stop string,
//!   a token budget or a cancel flag, and reports its timings.
//! - [`worker::LlmWorker`] runs it on its own thread behind bounded channels.
//!
//! Nothing here decides anything clinical on its own: the extraction is validated against the
//! card's shape and merged by the intake engine, which asks the patient where sources disagree;
//! the narrative is checked against the confirmed card and replaced by the deterministic text when
//! it says anything the card does not. The red-flag and triage rules never see model output.

pub mod extract;
pub mod model;
pub mod narrative;
pub mod worker;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use candle_core::Device;
use candle_core::quantized::gguf_file;
use candle_transformers::generation::{LogitsProcessor, Sampling};

pub use model::{KvCache, Qwen2, Weights};

/// Qwen's end of a chat turn.
pub const IM_END: u32 = 151_645;
/// Qwen's end of text.
pub const END_OF_TEXT: u32 = 151_643;

/// What went wrong, naming the file and the fix.
#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    /// A model file is missing or unreadable.
    #[error("language model file {path}: {detail}. Run `kiosk models install qwen2.5-0.5b`")]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// The model failed while running.
    #[error("language model failed: {0}")]
    Run(String),
}

impl From<candle_core::Error> for LlmError {
    fn from(e: candle_core::Error) -> Self {
        Self::Run(e.to_string())
    }
}

/// The model and its tokenizer.
#[derive(Debug)]
pub struct Llm {
    model: Qwen2,
    tokenizer: tokenizers::Tokenizer,
}

/// What a conversation has read so far, and its attention cache.
#[derive(Clone, Debug, Default)]
pub struct Conversation {
    tokens: Vec<u32>,
    cache: KvCache,
}

impl Conversation {
    /// Tokens held.
    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    /// Nothing held.
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// Tokens shared with the start of `tokens`.
    pub fn shared_prefix(&self, tokens: &[u32]) -> usize {
        self.tokens.iter().zip(tokens).take_while(|(a, b)| a == b).count()
    }
}

/// How to generate.
#[derive(Clone, Debug, PartialEq)]
pub struct GenConfig {
    /// Most new tokens.
    pub max_tokens: usize,
    /// `None`: greedy (the same answer every time).
    pub temperature: Option<f64>,
    /// Text that ends the answer (not included).
    pub stop: Vec<String>,
    /// Sampling seed.
    pub seed: u64,
}

impl Default for GenConfig {
    fn default() -> Self {
        Self { max_tokens: 256, temperature: None, stop: Vec::new(), seed: 20_241_129 }
    }
}

/// Why generation stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// The model ended its turn.
    EndOfTurn,
    /// A stop string appeared.
    StopString,
    /// The token budget ran out.
    Budget,
    /// Cancelled.
    Cancelled,
}

/// A finished generation and its timings.
#[derive(Clone, Debug)]
pub struct Generation {
    /// The text.
    pub text: String,
    /// Prompt tokens in all.
    pub prompt_tokens: usize,
    /// Of those, read from the cache (not computed again).
    pub reused_tokens: usize,
    /// Time to read the new prompt tokens, ms.
    pub prefill_ms: f64,
    /// Request to first new token, ms.
    pub first_token_ms: f64,
    /// New tokens.
    pub generated_tokens: usize,
    /// Time spent generating after the first token, ms.
    pub generation_ms: f64,
    /// Why it stopped.
    pub stop: Stop,
}

/// The two files of an installed model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelFiles {
    /// The GGUF.
    pub gguf: PathBuf,
    /// `tokenizer.json` built by the installer.
    pub tokenizer: PathBuf,
}

impl ModelFiles {
    /// Where `kiosk models install` puts Qwen2.5-Coder-0.5B-Instruct in `models_dir`.
    pub fn installed(models_dir: &Path) -> Self {
        let base = models_dir.join("qwen2.5-0.5b");
        Self {
            gguf: base.join("qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"),
            tokenizer: base.join("tokenizer.json"),
        }
    }
}

/// A ChatML prompt: the system text, then alternating user / assistant turns, ending with the
/// assistant's turn opened (the model writes next).
pub fn chat_prompt(system: &str, turns: &[&str]) -> String {
    let mut out = format!("<|im_start|>system\n{system}<|im_end|>\n");
    for (i, turn) in turns.iter().enumerate() {
        let role = if i % 2 == 0 { "user" } else { "assistant" };
        out.push_str(&format!("<|im_start|>{role}\n{turn}<|im_end|>\n"));
    }
    out.push_str("<|im_start|>assistant\n");
    out
}

impl Llm {
    /// Loads the model and tokenizer, its 5-bit matrices re-encoded for speed ([`Weights::Fast`]).
    pub fn load(files: &ModelFiles) -> Result<Self, LlmError> {
        Self::load_with(files, Weights::Fast)
    }

    /// Loads the model and tokenizer, the weights held as `weights` says.
    pub fn load_with(files: &ModelFiles, weights: Weights) -> Result<Self, LlmError> {
        let file_err = |path: &Path, detail: String| LlmError::File { path: path.to_owned(), detail };
        let tokenizer = tokenizers::Tokenizer::from_file(&files.tokenizer)
            .map_err(|e| file_err(&files.tokenizer, e.to_string()))?;
        let mut file = std::fs::File::open(&files.gguf).map_err(|e| file_err(&files.gguf, e.to_string()))?;
        let content = gguf_file::Content::read(&mut file)
            .map_err(|e| file_err(&files.gguf, format!("not a GGUF: {e}")))?;
        let model = Qwen2::from_gguf(&content, &mut file, &Device::Cpu, weights)
            .map_err(|e| file_err(&files.gguf, format!("cannot load: {e}")))?;
        if tokenizer.token_to_id("<|im_end|>") != Some(IM_END) {
            return Err(file_err(
                &files.tokenizer,
                "this tokenizer is not Qwen2's (no <|im_end|> at 151645)".into(),
            ));
        }
        Ok(Self { model, tokenizer })
    }

    /// A new, empty conversation.
    pub fn conversation(&self) -> Conversation {
        Conversation { tokens: Vec::new(), cache: self.model.new_cache() }
    }

    /// Tokens of `text` (special tokens such as `<|im_start|>` included).
    pub fn tokenize(&self, text: &str) -> Result<Vec<u32>, LlmError> {
        Ok(self.tokenizer.encode(text, false).map_err(|e| LlmError::Run(e.to_string()))?.get_ids().to_vec())
    }

    /// Reads `prompt` into `conversation` without generating (a warm-up of fixed instructions).
    pub fn prefill(&self, conversation: &mut Conversation, prompt: &str) -> Result<usize, LlmError> {
        let tokens = self.tokenize(prompt)?;
        self.read(conversation, &tokens, &AtomicBool::new(false))?;
        Ok(tokens.len())
    }

    /// Makes `conversation` hold exactly `tokens`, re-using the prefix it already holds. Returns
    /// the logits after the last token and how many tokens were re-used.
    fn read(
        &self,
        conversation: &mut Conversation,
        tokens: &[u32],
        cancel: &AtomicBool,
    ) -> Result<(candle_core::Tensor, usize), LlmError> {
        // At least the last token is read again, for its logits.
        let keep = conversation.shared_prefix(tokens).min(tokens.len().saturating_sub(1));
        conversation.cache.truncate(keep)?;
        conversation.tokens.truncate(keep);
        let mut logits = None;
        // Chunks bound the attention matrix of a long prompt.
        for chunk in tokens[keep..].chunks(128) {
            if cancel.load(Ordering::Relaxed) {
                return Err(LlmError::Run("cancelled".into()));
            }
            logits = Some(self.model.forward(chunk, &mut conversation.cache)?);
            conversation.tokens.extend_from_slice(chunk);
        }
        let logits = logits.ok_or_else(|| LlmError::Run("empty prompt".into()))?;
        Ok((logits, keep))
    }

    /// Generates the continuation of `prompt` (the whole conversation so far as text) in
    /// `conversation`, calling `on_text` with each new piece of text.
    pub fn generate(
        &self,
        conversation: &mut Conversation,
        prompt: &str,
        config: &GenConfig,
        cancel: &AtomicBool,
        on_text: &mut dyn FnMut(&str),
    ) -> Result<Generation, LlmError> {
        let started = Instant::now();
        let prompt_tokens = self.tokenize(prompt)?;
        if prompt_tokens.is_empty() {
            return Err(LlmError::Run("empty prompt".into()));
        }
        let (mut logits, reused) = self.read(conversation, &prompt_tokens, cancel)?;
        let prefill_ms = ms(started);
        let sampling = match config.temperature {
            None => Sampling::ArgMax,
            Some(t) => Sampling::All { temperature: t },
        };
        let mut sampler = LogitsProcessor::from_sampling(config.seed, sampling);
        let mut generated: Vec<u32> = Vec::new();
        let mut text = String::new();
        let mut first_token_ms = 0.0;
        let mut gen_started = Instant::now();
        let stop = loop {
            if cancel.load(Ordering::Relaxed) {
                break Stop::Cancelled;
            }
            let next = sampler.sample(&logits)?;
            if generated.is_empty() {
                first_token_ms = ms(started);
                gen_started = Instant::now();
            }
            if next == IM_END || next == END_OF_TEXT {
                // Keep the end of turn in the conversation: the next turn follows it.
                self.model.forward(&[next], &mut conversation.cache)?;
                conversation.tokens.push(next);
                break Stop::EndOfTurn;
            }
            generated.push(next);
            let decoded =
                self.tokenizer.decode(&generated, true).map_err(|e| LlmError::Run(e.to_string()))?;
            // A stop string ends the text before it; nothing after it is streamed.
            if let Some(at) = config.stop.iter().filter_map(|s| decoded.find(s.as_str())).min() {
                if at > text.len() && decoded.is_char_boundary(at) && decoded.starts_with(&text) {
                    on_text(&decoded[text.len()..at]);
                    text = decoded[..at].to_owned();
                }
                self.model.forward(&[next], &mut conversation.cache)?;
                conversation.tokens.push(next);
                break Stop::StopString;
            }
            // A multi-byte character split across tokens shows as U+FFFD until it is complete.
            if decoded.len() > text.len() && !decoded.ends_with('\u{FFFD}') && decoded.starts_with(&text) {
                on_text(&decoded[text.len()..]);
                text = decoded;
            }
            if generated.len() >= config.max_tokens {
                break Stop::Budget;
            }
            logits = self.model.forward(&[next], &mut conversation.cache)?;
            conversation.tokens.push(next);
        };
        Ok(Generation {
            text,
            prompt_tokens: prompt_tokens.len(),
            reused_tokens: reused,
            prefill_ms,
            first_token_ms,
            generated_tokens: generated.len(),
            generation_ms: ms(gen_started),
            stop,
        })
    }
}

fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1000.0
}
