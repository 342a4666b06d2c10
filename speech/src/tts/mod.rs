//! Speech output: a synthesiser that returns PCM, sentence by sentence, with the neural Kokoro
//! voice by default and espeak-ng as the instant fallback.

pub mod en;
pub mod espeak;
pub mod kokoro;
pub mod worker;
pub mod zh;

use std::collections::HashMap;
use std::sync::Mutex;

use protocol::Lang;

/// Synthesis failures.
#[derive(Debug, thiserror::Error)]
pub enum TtsError {
    /// The voice could not be loaded.
    #[error("speech synthesis unavailable: {0}")]
    Load(String),
    /// Text to phonemes failed.
    #[error("speech synthesis front end failed: {0}")]
    Frontend(String),
    /// Synthesis failed.
    #[error("speech synthesis failed: {0}")]
    Synthesis(String),
}

/// Mono audio at a sample rate.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Pcm {
    /// Samples in [-1, 1].
    pub samples: Vec<f32>,
    /// Sample rate.
    pub rate_hz: u32,
}

impl Pcm {
    /// Length in seconds.
    pub fn seconds(&self) -> f32 {
        self.samples.len() as f32 / self.rate_hz.max(1) as f32
    }
}

/// Voice settings (config keys under `[speech.voice]`).
#[derive(Clone, Debug, PartialEq)]
pub struct VoiceConfig {
    /// Kokoro voice for Mandarin.
    pub zh_voice: String,
    /// Kokoro voice for English.
    pub en_voice: String,
    /// Speaking rate, 1.0 normal.
    pub speed: f32,
    /// Speaking rate in elderly mode.
    pub elderly_speed: f32,
    /// Output volume, 0-1.
    pub volume: f32,
}

impl Default for VoiceConfig {
    fn default() -> Self {
        Self {
            zh_voice: "zf_xiaobei".into(),
            en_voice: "af_heart".into(),
            speed: 1.0,
            elderly_speed: 0.8,
            volume: 0.9,
        }
    }
}

/// Splits an utterance into the chunks it is synthesised in: the first clause alone (so the first
/// audio is ready quickly), then whole sentences.
pub fn speaking_chunks(text: &str) -> Vec<String> {
    let mut sentences = split_sentences(text);
    if sentences.is_empty() {
        return sentences;
    }
    let first = sentences.remove(0);
    let split_at = first.char_indices().find(|(i, c)| {
        matches!(c, '，' | ',' | '、' | '：' | ':') && *i > 0 && *i + c.len_utf8() < first.len()
    });
    let mut chunks = match split_at {
        Some((i, c)) => {
            vec![first[..i + c.len_utf8()].trim().to_owned(), first[i + c.len_utf8()..].trim().to_owned()]
        }
        None => vec![first],
    };
    chunks.retain(|c| c.chars().any(char::is_alphanumeric));
    chunks.extend(sentences);
    chunks
}

/// Splits text into sentences (the unit of synthesis, so the first one plays while the rest is
/// made). Very long sentences are split again at commas.
pub fn split_sentences(text: &str) -> Vec<String> {
    const MAX_CHARS: usize = 120;
    let mut out = Vec::new();
    let mut current = String::new();
    for c in text.chars() {
        current.push(c);
        let end = matches!(c, '。' | '！' | '？' | '.' | '!' | '?' | '；' | ';' | '\n');
        let long_break = matches!(c, '，' | ',') && current.chars().count() > MAX_CHARS / 2;
        if end || long_break {
            let s = current.trim().to_owned();
            if s.chars().any(char::is_alphanumeric) {
                out.push(s);
            }
            current.clear();
        }
    }
    let s = current.trim().to_owned();
    if s.chars().any(char::is_alphanumeric) {
        out.push(s);
    }
    out
}

/// Text to audio, one sentence at a time: the seam between the synthesis worker and a voice.
/// [`Synthesizer`] is the kiosk's (Kokoro with espeak-ng fallback and a cache); tests of the
/// worker's logic may use their own.
pub trait Synthesize: Send + Sync {
    /// Synthesises one sentence; `elderly` selects the slower rate.
    fn sentence(&self, text: &str, lang: Lang, elderly: bool) -> Result<Pcm, TtsError>;

    /// The same for a sentence holding patient information (the read-back of the card): never
    /// cached, in memory or on disk.
    fn private_sentence(&self, text: &str, lang: Lang, elderly: bool) -> Result<Pcm, TtsError> {
        self.sentence(text, lang, elderly)
    }
}

impl Synthesize for Synthesizer {
    fn sentence(&self, text: &str, lang: Lang, elderly: bool) -> Result<Pcm, TtsError> {
        Synthesizer::sentence(self, text, lang, elderly)
    }

    fn private_sentence(&self, text: &str, lang: Lang, elderly: bool) -> Result<Pcm, TtsError> {
        let speed = if elderly { self.config.elderly_speed } else { self.config.speed };
        // A fixed sentence inside a private text ("Let me read back what you told me.") may come
        // from the cache of prompts; nothing private is ever put into it.
        let key = (text.to_owned(), lang, speed.to_bits());
        if let Some(pcm) = self.cache.lock().ok().and_then(|c| c.get(&key).cloned()) {
            return Ok(pcm);
        }
        self.synthesize(text, lang, speed)
    }
}

/// Which voice is speaking.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// Kokoro, neural.
    Kokoro,
    /// espeak-ng, formant.
    Espeak,
}

/// The synthesiser: Kokoro when it loaded, espeak-ng otherwise or when Kokoro fails; a cache of
/// everything said, in memory and (when given a folder) on disk, because the kiosk's prompts repeat
/// for every patient.
pub struct Synthesizer {
    kokoro: Option<kokoro::Kokoro>,
    zh: zh::ZhFrontend,
    config: VoiceConfig,
    cache: Mutex<HashMap<(String, Lang, u32), Pcm>>,
    disk: Option<std::path::PathBuf>,
}

impl std::fmt::Debug for Synthesizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Synthesizer")
            .field("kokoro", &self.kokoro.is_some())
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// Entries kept in the sentence cache.
const CACHE_CAPACITY: usize = 2_000;
/// Version of the disk cache file format and of everything that shapes the audio.
const CACHE_FORMAT: &str = "pcm16-v1";

/// Disk cache file: u32 sample rate, then 16-bit samples, little-endian.
fn write_pcm(path: &std::path::Path, pcm: &Pcm) {
    let mut bytes = Vec::with_capacity(4 + pcm.samples.len() * 2);
    bytes.extend_from_slice(&pcm.rate_hz.to_le_bytes());
    for s in &pcm.samples {
        bytes.extend_from_slice(&((s.clamp(-1.0, 1.0) * f32::from(i16::MAX)) as i16).to_le_bytes());
    }
    // Written under a temporary name and renamed, so a half-written file is never read.
    let tmp = path.with_extension("partial");
    if std::fs::write(&tmp, bytes).is_ok() {
        let _ = std::fs::rename(&tmp, path);
    }
}

fn read_pcm(path: &std::path::Path) -> Option<Pcm> {
    let bytes = std::fs::read(path).ok()?;
    let rate_hz = u32::from_le_bytes(bytes.get(..4)?.try_into().ok()?);
    let samples = bytes[4..]
        .chunks_exact(2)
        .map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / f32::from(i16::MAX))
        .collect();
    (rate_hz > 0).then_some(Pcm { samples, rate_hz })
}

impl Synthesizer {
    /// A synthesiser with the neural voice when given, espeak-ng otherwise.
    pub fn new(kokoro: Option<kokoro::Kokoro>, config: VoiceConfig) -> Self {
        Self { kokoro, zh: zh::ZhFrontend::default(), config, cache: Mutex::new(HashMap::new()), disk: None }
    }

    /// Keeps synthesised sentences in `dir` too (created if needed), so they survive restarts.
    pub fn with_disk_cache(mut self, dir: std::path::PathBuf) -> Self {
        if std::fs::create_dir_all(&dir).is_ok() {
            self.disk = Some(dir);
        }
        self
    }

    /// The disk cache file for a sentence: named by a hash of everything that shapes the audio.
    fn disk_path(&self, text: &str, lang: Lang, speed: f32) -> Option<std::path::PathBuf> {
        use std::hash::{Hash, Hasher};
        let dir = self.disk.as_ref()?;
        let voice = match lang {
            Lang::Zh => &self.config.zh_voice,
            Lang::En => &self.config.en_voice,
        };
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (
            CACHE_FORMAT,
            text,
            lang.code(),
            voice,
            speed.to_bits(),
            self.config.volume.to_bits(),
            format!("{:?}", self.backend()),
        )
            .hash(&mut h);
        Some(dir.join(format!("{:016x}.pcm", h.finish())))
    }

    /// The backend in use.
    pub fn backend(&self) -> Backend {
        if self.kokoro.is_some() { Backend::Kokoro } else { Backend::Espeak }
    }

    /// The Mandarin front end (for tests and tools).
    pub fn zh_frontend(&self) -> &zh::ZhFrontend {
        &self.zh
    }

    /// Synthesises one sentence (cached). `elderly` selects the slower rate.
    pub fn sentence(&self, text: &str, lang: Lang, elderly: bool) -> Result<Pcm, TtsError> {
        let speed = if elderly { self.config.elderly_speed } else { self.config.speed };
        let key = (text.to_owned(), lang, speed.to_bits());
        if let Some(pcm) = self.cache.lock().ok().and_then(|c| c.get(&key).cloned()) {
            return Ok(pcm);
        }
        let disk = self.disk_path(text, lang, speed);
        let pcm = match disk.as_ref().and_then(|p| read_pcm(p)) {
            Some(pcm) => pcm,
            None => {
                let pcm = self.synthesize(text, lang, speed)?;
                if let Some(path) = &disk {
                    write_pcm(path, &pcm);
                }
                pcm
            }
        };
        if let Ok(mut cache) = self.cache.lock() {
            if cache.len() >= CACHE_CAPACITY {
                cache.clear();
            }
            cache.insert(key, pcm.clone());
        }
        Ok(pcm)
    }

    /// Whether a sentence is already cached.
    pub fn is_cached(&self, text: &str, lang: Lang, elderly: bool) -> bool {
        let speed = if elderly { self.config.elderly_speed } else { self.config.speed };
        self.cache.lock().is_ok_and(|c| c.contains_key(&(text.to_owned(), lang, speed.to_bits())))
    }

    fn synthesize(&self, text: &str, lang: Lang, speed: f32) -> Result<Pcm, TtsError> {
        let mut pcm = match &self.kokoro {
            Some(k) => {
                let (phonemes, voice) = match lang {
                    Lang::Zh => (self.zh.phonemes(text), &self.config.zh_voice),
                    Lang::En => (en::phonemes(text)?, &self.config.en_voice),
                };
                match k.speak_phonemes(&phonemes, voice, speed) {
                    Ok(pcm) => pcm,
                    Err(e) => {
                        tracing::warn!(error = %e, "neural voice failed; using espeak-ng for this sentence");
                        espeak::speak(text, lang, speed, &self.zh)?
                    }
                }
            }
            None => espeak::speak(text, lang, speed, &self.zh)?,
        };
        let volume = self.config.volume.clamp(0.0, 1.0);
        for s in &mut pcm.samples {
            *s = (*s * volume).clamp(-1.0, 1.0);
        }
        Ok(pcm)
    }

    /// Synthesises with a specific Kokoro voice (tests: a patient's voice unlike the kiosk's).
    pub fn with_voice(&self, text: &str, lang: Lang, voice: &str, speed: f32) -> Result<Pcm, TtsError> {
        let k =
            self.kokoro.as_ref().ok_or_else(|| TtsError::Load("the neural voice is not loaded".into()))?;
        let phonemes = match lang {
            Lang::Zh => self.zh.phonemes(text),
            Lang::En => en::phonemes(text)?,
        };
        k.speak_phonemes(&phonemes, voice, speed)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_first_chunk_is_the_first_clause() {
        assert_eq!(
            super::speaking_chunks("您好，我是预问诊助手。请问哪里不舒服？"),
            vec!["您好，", "我是预问诊助手。", "请问哪里不舒服？"]
        );
        assert_eq!(super::speaking_chunks("Have you been sweating?"), vec!["Have you been sweating?"]);
    }

    #[test]
    fn sentences_split_at_their_ends() {
        assert_eq!(super::split_sentences("您好。请问哪里不舒服？"), vec!["您好。", "请问哪里不舒服？"]);
        assert_eq!(
            super::split_sentences("Hello. What brings you here today?"),
            vec!["Hello.", "What brings you here today?"]
        );
        assert!(super::split_sentences("  ...  ").is_empty());
    }
}
