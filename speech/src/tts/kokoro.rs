//! The Kokoro-82M neural voice (int8 ONNX), run with ONNX Runtime through `ort`, loading the
//! runtime library the model installer put on disk (`load-dynamic`; nothing is downloaded).
//!
//! Input: phoneme ids (the model's vocabulary), padded with 0 at both ends, at most 510 per call;
//! the voice's style vector for that length (row `n - 1` of a [510, 256] table); a speed factor.
//! Output: 24 kHz mono audio.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use ort::session::Session;
use ort::value::Tensor;

use super::{Pcm, TtsError};

/// Output sample rate of the model.
pub const KOKORO_RATE_HZ: u32 = 24_000;
/// Longest phoneme sequence per call.
const MAX_TOKENS: usize = 510;
/// Width of a style vector.
const STYLE_DIM: usize = 256;

/// Where the installer puts Kokoro and ONNX Runtime.
#[derive(Clone, Debug)]
pub struct KokoroPaths {
    /// `kokoro-v1.0.int8.onnx`.
    pub model: PathBuf,
    /// `vocab.json`.
    pub vocab: PathBuf,
    /// Folder of `<voice>.bin` style tables.
    pub voices: PathBuf,
    /// `libonnxruntime.so.*`.
    pub runtime: PathBuf,
}

impl KokoroPaths {
    /// The installer's layout under `models_dir`.
    pub fn in_models_dir(models_dir: &Path) -> Self {
        Self {
            model: models_dir.join("kokoro/kokoro-v1.0.int8.onnx"),
            vocab: models_dir.join("kokoro/vocab.json"),
            voices: models_dir.join("kokoro/voices"),
            runtime: models_dir.join("onnxruntime/libonnxruntime.so.1.32.0"),
        }
    }
}

/// The loaded voice.
pub struct Kokoro {
    session: Mutex<Session>,
    vocab: HashMap<char, i64>,
    voices: HashMap<String, Vec<f32>>,
}

impl std::fmt::Debug for Kokoro {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kokoro")
            .field("voices", &self.voices.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl Kokoro {
    /// Loads the model, its vocabulary and the named voices, on `threads` CPU threads.
    pub fn load(paths: &KokoroPaths, voice_names: &[&str], threads: usize) -> Result<Self, TtsError> {
        for (what, path) in
            [("model", &paths.model), ("vocabulary", &paths.vocab), ("ONNX Runtime", &paths.runtime)]
        {
            if !path.is_file() {
                return Err(TtsError::Load(format!(
                    "Kokoro {what} {} is missing; run `kiosk models install kokoro onnxruntime`",
                    path.display()
                )));
            }
        }
        let runtime = paths.runtime.to_string_lossy().into_owned();
        // The runtime library is loaded once per process; a second call keeps the first one.
        let _ = ort::init_from(runtime).with_name("kiosk").commit();
        let session = Session::builder()
            .and_then(|b| b.with_optimization_level(ort::session::builder::GraphOptimizationLevel::Level3))
            .and_then(|b| b.with_intra_threads(threads.max(1)))
            .and_then(|b| b.with_inter_threads(1))
            .and_then(|b| b.commit_from_file(&paths.model))
            .map_err(|e| {
                TtsError::Load(format!("Kokoro model {} cannot be loaded: {e}", paths.model.display()))
            })?;
        let vocab_text = std::fs::read_to_string(&paths.vocab)
            .map_err(|e| TtsError::Load(format!("{}: {e}", paths.vocab.display())))?;
        let vocab = parse_vocab(&vocab_text)
            .map_err(|e| TtsError::Load(format!("{}: {e}", paths.vocab.display())))?;
        let mut voices = HashMap::new();
        for name in voice_names {
            let path = paths.voices.join(format!("{name}.bin"));
            let bytes =
                std::fs::read(&path).map_err(|e| TtsError::Load(format!("voice {}: {e}", path.display())))?;
            if bytes.len() != MAX_TOKENS * STYLE_DIM * 4 {
                return Err(TtsError::Load(format!(
                    "voice {} has {} bytes, expected {}",
                    path.display(),
                    bytes.len(),
                    MAX_TOKENS * STYLE_DIM * 4
                )));
            }
            let table = bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
            voices.insert((*name).to_owned(), table);
        }
        Ok(Self { session: Mutex::new(session), vocab, voices })
    }

    /// Whether `voice` was loaded.
    pub fn has_voice(&self, voice: &str) -> bool {
        self.voices.contains_key(voice)
    }

    /// Synthesises a phoneme string with `voice` at `speed` (1.0 normal, below 1.0 slower).
    pub fn speak_phonemes(&self, phonemes: &str, voice: &str, speed: f32) -> Result<Pcm, TtsError> {
        let table = self
            .voices
            .get(voice)
            .ok_or_else(|| TtsError::Synthesis(format!("voice {voice} is not loaded")))?;
        let mut ids: Vec<i64> = phonemes.chars().filter_map(|c| self.vocab.get(&c).copied()).collect();
        ids.truncate(MAX_TOKENS - 2);
        if ids.is_empty() {
            return Ok(Pcm { samples: Vec::new(), rate_hz: KOKORO_RATE_HZ });
        }
        let n = ids.len();
        let style = table[(n - 1) * STYLE_DIM..n * STYLE_DIM].to_vec();
        let mut tokens = Vec::with_capacity(n + 2);
        tokens.push(0);
        tokens.extend(ids);
        tokens.push(0);
        let err = |e: ort::Error| TtsError::Synthesis(e.to_string());
        let tokens = Tensor::from_array(([1usize, n + 2], tokens)).map_err(err)?;
        let style = Tensor::from_array(([1usize, STYLE_DIM], style)).map_err(err)?;
        let speed = Tensor::from_array(([1usize], vec![speed.clamp(0.5, 2.0)])).map_err(err)?;
        let mut session =
            self.session.lock().map_err(|_| TtsError::Synthesis("voice session poisoned".into()))?;
        let outputs =
            session.run(ort::inputs!["tokens" => tokens, "style" => style, "speed" => speed]).map_err(err)?;
        let (_, audio) = outputs[0].try_extract_tensor::<f32>().map_err(err)?;
        Ok(Pcm { samples: trim_silence(audio, KOKORO_RATE_HZ), rate_hz: KOKORO_RATE_HZ })
    }
}

fn parse_vocab(text: &str) -> Result<HashMap<char, i64>, String> {
    let v: serde_json::Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let map = v.get("vocab").and_then(|m| m.as_object()).ok_or("no `vocab` object")?;
    let mut out = HashMap::new();
    for (k, id) in map {
        let mut chars = k.chars();
        if let (Some(c), None, Some(id)) = (chars.next(), chars.next(), id.as_i64()) {
            out.insert(c, id);
        }
    }
    if out.is_empty() {
        return Err("empty vocabulary".into());
    }
    Ok(out)
}

/// Level below which output counts as silence.
const SILENCE_LEVEL: f32 = 0.01;
/// Silence kept before the first and after the last sound.
const KEEP_LEAD_MS: usize = 60;
const KEEP_TAIL_MS: usize = 180;

/// The model pads every sentence with about 0.4 s of silence before and 1 s after: trimmed, so
/// playback starts with speech and sentences follow each other naturally.
fn trim_silence(audio: &[f32], rate_hz: u32) -> Vec<f32> {
    let per_ms = rate_hz as usize / 1000;
    let first = audio.iter().position(|s| s.abs() > SILENCE_LEVEL);
    let last = audio.iter().rposition(|s| s.abs() > SILENCE_LEVEL);
    match (first, last) {
        (Some(a), Some(b)) => {
            let start = a.saturating_sub(KEEP_LEAD_MS * per_ms);
            let end = (b + KEEP_TAIL_MS * per_ms).min(audio.len());
            audio[start..end].to_vec()
        }
        _ => Vec::new(),
    }
}
