//! `kiosk bench speech`: recognition accuracy (WER/CER), speed (real-time factor), and the latency
//! from the end of speech to the final transcript when a clip is streamed in real time through VAD
//! and endpointing. Prints numbers; asserts nothing.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use protocol::Lang;
use serde::Serialize;

use crate::asr::{DecodeOptions, Recognizer};
use crate::score::{cer, wer};
use crate::source::{MemorySource, Pacing};
use crate::worker::{SpeechConfig, SpeechEvent, SpeechWorker};

/// Silence appended to each streamed clip so the endpointer ends the turn by itself.
const TRAILING_SILENCE_MS: u32 = 2_500;

/// One row of a manifest (`file, language, seconds, transcript, ...`, tab-separated, header row).
#[derive(Clone, Debug)]
pub struct ManifestClip {
    /// WAV path.
    pub path: PathBuf,
    /// Language.
    pub lang: Lang,
    /// Reference transcript.
    pub reference: String,
}

/// Reads a manifest; paths are relative to its folder.
pub fn read_manifest(path: &Path) -> Result<Vec<ManifestClip>, String> {
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("cannot read manifest {}: {e}", path.display()))?;
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut clips = Vec::new();
    for (i, line) in text.lines().enumerate().skip(1) {
        if line.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() < 4 {
            return Err(format!(
                "{} line {}: expected file, language, seconds, transcript",
                path.display(),
                i + 1
            ));
        }
        let lang = Lang::from_code(f[1])
            .ok_or_else(|| format!("{} line {}: unknown language {}", path.display(), i + 1, f[1]))?;
        clips.push(ManifestClip { path: dir.join(f[0]), lang, reference: f[3].to_owned() });
    }
    Ok(clips)
}

/// One clip's figures.
#[derive(Clone, Debug, Serialize)]
pub struct ClipResult {
    /// File name.
    pub file: String,
    /// Language.
    pub language: String,
    /// Length in seconds.
    pub seconds: f32,
    /// Reference transcript.
    pub reference: String,
    /// What the model heard.
    pub recognized: String,
    /// Word error rate (English) or character error rate (Mandarin).
    pub error_rate: f32,
    /// Decode time / audio time.
    pub rtf: f32,
    /// End of turn to final transcript, streamed (milliseconds), per turn.
    pub final_latency_ms: Vec<u64>,
    /// End-of-turn delays used, per turn.
    pub end_of_turn_delay_ms: Vec<u64>,
    /// Speech length of each turn, milliseconds.
    pub turn_speech_ms: Vec<u64>,
}

/// The bench output.
#[derive(Clone, Debug, Serialize)]
pub struct SpeechBench {
    /// Corpus WER over the English clips.
    pub wer_en: f32,
    /// Corpus CER over the Mandarin clips.
    pub cer_zh: f32,
    /// Corpus CER over the AISHELL clips only.
    pub cer_zh_aishell: f32,
    /// Total decode time / total audio time.
    pub rtf: f32,
    /// Median end-of-turn-to-final latency over turns of 2-6 s of speech (the answer lengths the
    /// target is set for).
    pub final_latency_p50_ms: f64,
    /// 95th percentile of the same.
    pub final_latency_p95_ms: f64,
    /// Median over every turn, whatever its length.
    pub final_latency_all_p50_ms: f64,
    /// 95th percentile over every turn.
    pub final_latency_all_p95_ms: f64,
    /// Median end-of-turn delay (reported apart from recognition latency).
    pub end_of_turn_delay_ms: f64,
    /// Median time to first synthesised audio (filled by the synthesis bench).
    pub tts_first_audio_p50_ms: Option<f64>,
    /// Synthesis details (filled by the synthesis bench).
    pub tts: Option<TtsBench>,
    /// The same for the espeak-ng fallback.
    pub tts_fallback: Option<TtsBench>,
    /// Mandarin initial prompts compared on synthesised patient answers.
    pub prompt_comparison: Option<PromptComparison>,
    /// Peak resident memory of the process.
    pub peak_rss_mb: f64,
    /// Per clip.
    pub clips: Vec<ClipResult>,
}

/// Runs the recognition part of the bench.
pub fn run(
    recognizer: &Arc<Recognizer>,
    clips: &[ManifestClip],
    options: &DecodeOptions,
    stream: bool,
) -> Result<SpeechBench, String> {
    let mut results = Vec::new();
    let (mut en_err, mut en_words, mut zh_err, mut zh_chars, mut ai_err, mut ai_chars) =
        (0.0, 0usize, 0.0, 0usize, 0.0, 0usize);
    let (mut compute_ms, mut audio_s) = (0u64, 0f32);
    for clip in clips {
        let source = MemorySource::from_wav(&clip.path, Pacing::Fast).map_err(|e| e.to_string())?;
        let samples = collect(source);
        let t = recognizer.transcribe_with(&samples, clip.lang, options).map_err(|e| e.to_string())?;
        let recognized = t.text.expose().to_owned();
        let (rate, units) = match clip.lang {
            Lang::En => {
                (wer(&clip.reference, &recognized), crate::score::normalize_en(&clip.reference).len())
            }
            Lang::Zh => {
                (cer(&clip.reference, &recognized), crate::score::normalize_zh(&clip.reference).len())
            }
        };
        let file = clip.path.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
        match clip.lang {
            Lang::En => {
                en_err += rate * units as f32;
                en_words += units;
            }
            Lang::Zh => {
                zh_err += rate * units as f32;
                zh_chars += units;
                if file.contains("aishell") {
                    ai_err += rate * units as f32;
                    ai_chars += units;
                }
            }
        }
        compute_ms += t.compute_ms;
        audio_s += t.audio_s;
        let (final_latency_ms, end_of_turn_delay_ms, turn_speech_ms) = if stream {
            stream_clip(recognizer, &samples, clip.lang)?
        } else {
            (Vec::new(), Vec::new(), Vec::new())
        };
        results.push(ClipResult {
            file,
            language: clip.lang.code().to_owned(),
            seconds: samples.len() as f32 / 16_000.0,
            reference: clip.reference.clone(),
            recognized,
            error_rate: rate,
            rtf: t.compute_ms as f32 / 1000.0 / t.audio_s.max(0.001),
            final_latency_ms,
            end_of_turn_delay_ms,
            turn_speech_ms,
        });
    }
    let latencies: Vec<f64> =
        results.iter().flat_map(|r| r.final_latency_ms.iter().map(|v| *v as f64)).collect();
    let latencies_2_6s: Vec<f64> = results
        .iter()
        .flat_map(|r| r.final_latency_ms.iter().zip(&r.turn_speech_ms))
        .filter(|(_, speech)| (2_000..=6_000).contains(*speech))
        .map(|(l, _)| *l as f64)
        .collect();
    let delays: Vec<f64> =
        results.iter().flat_map(|r| r.end_of_turn_delay_ms.iter().map(|v| *v as f64)).collect();
    let ratio = |e: f32, n: usize| if n == 0 { 0.0 } else { e / n as f32 };
    Ok(SpeechBench {
        wer_en: ratio(en_err, en_words),
        cer_zh: ratio(zh_err, zh_chars),
        cer_zh_aishell: ratio(ai_err, ai_chars),
        rtf: compute_ms as f32 / 1000.0 / audio_s.max(0.001),
        final_latency_p50_ms: percentile(&latencies_2_6s, 50.0),
        final_latency_p95_ms: percentile(&latencies_2_6s, 95.0),
        final_latency_all_p50_ms: percentile(&latencies, 50.0),
        final_latency_all_p95_ms: percentile(&latencies, 95.0),
        end_of_turn_delay_ms: percentile(&delays, 50.0),
        tts_first_audio_p50_ms: None,
        tts: None,
        tts_fallback: None,
        prompt_comparison: None,
        peak_rss_mb: peak_rss_mb(),
        clips: results,
    })
}

fn collect(mut source: MemorySource) -> Vec<f32> {
    use crate::source::AudioSource as _;
    let mut out = Vec::new();
    while let Ok(Some(chunk)) = source.next_chunk() {
        out.extend(chunk);
    }
    out
}

/// Per-turn latencies, end-of-turn delays and speech lengths.
type TurnFigures = (Vec<u64>, Vec<u64>, Vec<u64>);

/// Streams a clip in real time through the worker.
fn stream_clip(recognizer: &Arc<Recognizer>, samples: &[f32], lang: Lang) -> Result<TurnFigures, String> {
    let source =
        MemorySource::new(samples.to_vec(), Pacing::RealTime).with_trailing_silence(TRAILING_SILENCE_MS);
    let config = SpeechConfig { lang, ..SpeechConfig::default() };
    let worker =
        SpeechWorker::spawn(Box::new(source), Arc::clone(recognizer), config).map_err(|e| e.to_string())?;
    let (mut latencies, mut delays, mut speech) = (Vec::new(), Vec::new(), Vec::new());
    let deadline = Duration::from_secs_f32(samples.len() as f32 / 16_000.0 + 30.0);
    let started = std::time::Instant::now();
    let mut ended = false;
    while started.elapsed() < deadline {
        match worker.events().recv_timeout(Duration::from_millis(500)) {
            Ok(SpeechEvent::Final(_, timing)) => {
                latencies.push(timing.final_latency_ms);
                delays.push(timing.end_delay_ms);
                speech.push(timing.speech_ms);
                if ended {
                    break;
                }
            }
            Ok(SpeechEvent::SourceEnded) => {
                ended = true;
                if !latencies.is_empty() {
                    // A final may still be on its way for the last turn; wait briefly.
                    if let Ok(SpeechEvent::Final(_, timing)) =
                        worker.events().recv_timeout(Duration::from_secs(10))
                    {
                        latencies.push(timing.final_latency_ms);
                        delays.push(timing.end_delay_ms);
                        speech.push(timing.speech_ms);
                    }
                    break;
                }
            }
            Ok(SpeechEvent::Failed(e)) => return Err(e),
            Ok(_) | Err(_) => {}
        }
    }
    Ok((latencies, delays, speech))
}

pub use protocol::stats::percentile;

/// Peak resident set size of this process, from /proc (0 where unavailable).
pub fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// Synthesis figures.
#[derive(Clone, Debug, Serialize)]
pub struct TtsBench {
    /// Backend measured.
    pub backend: String,
    /// Time to the first sentence's audio for uncached prompts, median.
    pub first_audio_p50_ms: f64,
    /// 95th percentile of the same.
    pub first_audio_p95_ms: f64,
    /// Time to audio for a cached prompt, median.
    pub cached_p50_ms: f64,
    /// Seconds of speech per second of compute.
    pub speed_x_realtime: f64,
}

/// Fixed prompts for the synthesis bench (the kiosk's own kinds of sentences).
pub const TTS_PROMPTS: &[(&str, Lang)] = &[
    ("您好，我是预问诊助手。请问今天哪里不舒服？", Lang::Zh),
    ("有没有出冷汗、大汗？", Lang::Zh),
    ("如果0分是一点都不难受，10分是能想象到的最难受，现在有几分？", Lang::Zh),
    ("请坐下休息，不要走动。护士马上过来。", Lang::Zh),
    ("量过体温吗？最高是多少度？", Lang::Zh),
    ("Hello, I'm the pre-consultation assistant. What brings you here today?", Lang::En),
    ("Have you been sweating or clammy?", Lang::En),
    ("On a scale from 0 to 10, how bad is it now?", Lang::En),
    ("Please sit down and rest. A nurse is coming now.", Lang::En),
    ("Are you allergic to any medicines or foods?", Lang::En),
];

/// Measures synthesis: the first sentence of each prompt uncached, then cached.
pub fn run_tts(synth: &crate::tts::Synthesizer) -> Result<TtsBench, String> {
    let (mut first, mut cached, mut audio_s, mut compute_s) = (Vec::new(), Vec::new(), 0f64, 0f64);
    for (text, lang) in TTS_PROMPTS {
        let sentence = crate::tts::speaking_chunks(text).into_iter().next().unwrap_or_default();
        let started = std::time::Instant::now();
        let pcm = synth.sentence(&sentence, *lang, false).map_err(|e| e.to_string())?;
        let t = started.elapsed().as_secs_f64();
        first.push(t * 1000.0);
        audio_s += f64::from(pcm.seconds());
        compute_s += t;
        let started = std::time::Instant::now();
        synth.sentence(&sentence, *lang, false).map_err(|e| e.to_string())?;
        cached.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    Ok(TtsBench {
        backend: format!("{:?}", synth.backend()),
        first_audio_p50_ms: percentile(&first, 50.0),
        first_audio_p95_ms: percentile(&first, 95.0),
        cached_p50_ms: percentile(&cached, 50.0),
        speed_x_realtime: audio_s / compute_s.max(1e-9),
    })
}

/// Patient answers in Mandarin, spoken by voices unlike the kiosk's, for measuring the initial
/// prompt on medical speech.
pub const PATIENT_ANSWERS_ZH: &[&str] = &[
    "我头疼了三天了",
    "咳嗽，有黄痰",
    "胸口疼，出了一身冷汗",
    "肚子疼，拉肚子",
    "昨天晚上开始发烧，三十九度",
    "有点头晕，恶心想吐",
    "喘不上气，心慌",
    "嗓子疼，吞东西疼",
    "腰疼，疼到腿上",
    "没有过敏",
    "有高血压，吃降压药",
    "大概七分",
];

/// Mandarin round trip per prompt kind: corpus CER of patient answers (two voices).
#[derive(Clone, Debug, Serialize)]
pub struct PromptComparison {
    /// CER with the plain Simplified prompt.
    pub plain_cer: f32,
    /// CER with the clinical-vocabulary prompt.
    pub clinical_cer: f32,
    /// CER without a prompt.
    pub none_cer: f32,
}

/// Synthesises the patient answers and recognises them with each prompt kind.
pub fn compare_prompts(
    synth: &crate::tts::Synthesizer,
    recognizer: &Recognizer,
    voices: &[&str],
) -> Result<PromptComparison, String> {
    use crate::asr::PromptKind;
    let mut audio = Vec::new();
    for voice in voices {
        for text in PATIENT_ANSWERS_ZH {
            let pcm = synth.with_voice(text, Lang::Zh, voice, 1.0).map_err(|e| e.to_string())?;
            audio
                .push((text, crate::resample::to_16k(&pcm.samples, pcm.rate_hz).map_err(|e| e.to_string())?));
        }
    }
    let cer_for = |prompt: PromptKind| -> Result<f32, String> {
        let (mut err, mut n) = (0f32, 0usize);
        for (text, samples) in &audio {
            let options = DecodeOptions { prompt, ..DecodeOptions::default() };
            let heard = recognizer.transcribe_with(samples, Lang::Zh, &options).map_err(|e| e.to_string())?;
            let units = crate::score::normalize_zh(text).len();
            err += cer(text, heard.text.expose()) * units as f32;
            n += units;
        }
        Ok(err / n.max(1) as f32)
    };
    Ok(PromptComparison {
        plain_cer: cer_for(PromptKind::Plain)?,
        clinical_cer: cer_for(PromptKind::Clinical)?,
        none_cer: cer_for(PromptKind::None)?,
    })
}
