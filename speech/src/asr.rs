//! Speech recognition with whisper.cpp (through whisper-rs): one model context per process, a fresh
//! decoding state per utterance, language fixed per session.

use std::path::{Path, PathBuf};
use std::time::Instant;

use protocol::{Lang, PatientText};
use whisper_rs::{FullParams, SamplingStrategy, WhisperContext, WhisperContextParameters};

/// Sample rate whisper expects.
pub const SAMPLE_RATE_HZ: u32 = 16_000;

/// Mandarin initial prompt: written in Simplified characters (so the model answers in Simplified,
/// not Traditional) and about symptoms (so clinical words are preferred over homophones).
const ZH_PROMPT: &str = "以下是普通话的句子，关于身体不舒服的症状。";
/// English initial prompt: a clinical register.
const EN_PROMPT: &str = "The patient describes their symptoms to the nurse.";

/// Recognition failures.
#[derive(Debug, thiserror::Error)]
pub enum AsrError {
    /// The model file is missing or unreadable.
    #[error(
        "speech model {path} cannot be loaded: {detail}; run `kiosk models install whisper-base` then `kiosk models verify`"
    )]
    Load {
        /// The model path.
        path: PathBuf,
        /// whisper.cpp's complaint.
        detail: String,
    },
    /// Decoding failed.
    #[error("speech recognition failed: {0}")]
    Decode(String),
}

/// Recognition settings.
#[derive(Clone, Debug)]
pub struct AsrConfig {
    /// ggml model path.
    pub model_path: PathBuf,
    /// CPU threads for one decode.
    pub threads: usize,
}

/// A recognised utterance.
#[derive(Clone, Debug)]
pub struct Transcript {
    /// The words (never logged).
    pub text: PatientText,
    /// Language decoded in.
    pub lang: Lang,
    /// Mean token probability, 0-1.
    pub confidence: f32,
    /// whisper's probability that there was no speech at all, 0-1.
    pub no_speech_prob: f32,
    /// Audio length in seconds.
    pub audio_s: f32,
    /// Wall time spent decoding.
    pub compute_ms: u64,
}

/// A loaded whisper model. Cheap to share: decodes create their own state.
pub struct Recognizer {
    ctx: WhisperContext,
    threads: usize,
}

impl std::fmt::Debug for Recognizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recognizer").field("threads", &self.threads).finish_non_exhaustive()
    }
}

impl Recognizer {
    /// Loads the ggml model.
    pub fn load(config: &AsrConfig) -> Result<Self, AsrError> {
        whisper_rs::install_logging_hooks();
        let path = &config.model_path;
        if !path.is_file() {
            return Err(AsrError::Load { path: path.clone(), detail: "file not found".into() });
        }
        let ctx = WhisperContext::new_with_params(path, WhisperContextParameters::default())
            .map_err(|e| AsrError::Load { path: path.clone(), detail: e.to_string() })?;
        if !ctx.is_multilingual() {
            return Err(AsrError::Load {
                path: path.clone(),
                detail: "model is English-only; the kiosk needs a multilingual model".into(),
            });
        }
        Ok(Self { ctx, threads: config.threads.max(1) })
    }

    /// Model path helper: where the installer puts whisper base.
    pub fn default_model_path(models_dir: &Path) -> PathBuf {
        models_dir.join("whisper-base/ggml-base.bin")
    }

    /// Transcribes 16 kHz mono samples in `lang`.
    pub fn transcribe(&self, samples: &[f32], lang: Lang) -> Result<Transcript, AsrError> {
        let started = Instant::now();
        let audio_s = samples.len() as f32 / SAMPLE_RATE_HZ as f32;
        if samples.is_empty() {
            return Ok(Transcript {
                text: PatientText::default(),
                lang,
                confidence: 0.0,
                no_speech_prob: 1.0,
                audio_s,
                compute_ms: 0,
            });
        }
        let mut state = self.ctx.create_state().map_err(|e| AsrError::Decode(e.to_string()))?;
        let mut params = FullParams::new(SamplingStrategy::Greedy { best_of: 1 });
        params.set_n_threads(i32::try_from(self.threads).unwrap_or(1));
        params.set_language(Some(lang.code()));
        params.set_translate(false);
        params.set_no_timestamps(true);
        params.set_no_context(true);
        params.set_suppress_blank(true);
        params.set_print_progress(false);
        params.set_print_realtime(false);
        params.set_print_special(false);
        params.set_print_timestamps(false);
        params.set_initial_prompt(match lang {
            Lang::Zh => ZH_PROMPT,
            Lang::En => EN_PROMPT,
        });
        state.full(params, samples).map_err(|e| AsrError::Decode(e.to_string()))?;

        let mut text = String::new();
        let mut prob_sum = 0.0f32;
        let mut n_tokens = 0usize;
        let mut no_speech_prob = 0.0f32;
        let eot = self.ctx.token_eot();
        for segment in state.as_iter() {
            text.push_str(&segment.to_str_lossy().map_err(|e| AsrError::Decode(e.to_string()))?);
            no_speech_prob = no_speech_prob.max(segment.no_speech_probability());
            for i in 0..segment.n_tokens() {
                if let Some(token) = segment.get_token(i)
                    && token.token_id() < eot
                {
                    prob_sum += token.token_probability();
                    n_tokens += 1;
                }
            }
        }
        Ok(Transcript {
            text: PatientText::new(text.trim()),
            lang,
            confidence: if n_tokens == 0 { 0.0 } else { prob_sum / n_tokens as f32 },
            no_speech_prob,
            audio_s,
            compute_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        })
    }
}
