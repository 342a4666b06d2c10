//! `kiosk transcribe FILE.wav`, `kiosk say TEXT` and `kiosk bench speech`.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use protocol::Lang;
use speech::asr::{AsrConfig, DecodeOptions, PromptKind, Recognizer};
use speech::source::{AudioSource as _, MemorySource, Pacing};

use crate::config::Config;

/// The installed recognition model with the configured threads.
pub fn recognizer(config: &Config) -> anyhow::Result<Recognizer> {
    let model_path = Recognizer::default_model_path(&config.models_dir);
    Ok(Recognizer::load(&AsrConfig { model_path, threads: config.asr_threads })?)
}

/// Transcribes a WAV file and prints the text with its confidence.
pub fn transcribe(
    config: &Config,
    file: &Path,
    lang: Option<&str>,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let lang = match lang {
        Some(code) => {
            Some(Lang::from_code(code).with_context(|| format!("unknown language {code:?}: use zh or en"))?)
        }
        None => None,
    };
    let mut source = MemorySource::from_wav(file, Pacing::Fast)?;
    let mut samples = Vec::new();
    while let Some(chunk) = source.next_chunk()? {
        samples.extend(chunk);
    }
    anyhow::ensure!(!samples.is_empty(), "{} holds no audio", file.display());
    let recognizer = recognizer(config)?;
    let lang = match lang {
        Some(l) => l,
        None => recognizer.detect_language(&samples)?.0,
    };
    let t = recognizer.transcribe(&samples, lang)?;
    writeln!(out, "{}", t.text.expose())?;
    writeln!(
        out,
        "[{} | {:.1} s audio | {} ms | confidence {:.2} | no-speech {:.2}{}]",
        lang,
        t.audio_s,
        t.compute_ms,
        t.confidence,
        t.no_speech_prob,
        if t.filtered { " | filtered" } else { "" }
    )?;
    Ok(())
}

/// The configured voice, speaking through the configured speaker; the microphone gate is `gate`.
pub fn open_voice(
    config: &Config,
    gate: impl Fn(speech::voice::GateAction) + Send + 'static,
) -> anyhow::Result<Box<dyn speech::voice::Speaks>> {
    use speech::voice::{SystemVoice, Voice};
    if config.voice_backend == crate::config::VoiceBackend::System {
        let voice = SystemVoice::spawn(&config.voice, config.echo, gate).map_err(anyhow::Error::msg)?;
        return Ok(Box::new(voice));
    }
    let kokoro = match config.voice_backend {
        crate::config::VoiceBackend::Kokoro => {
            let paths = speech::tts::kokoro::KokoroPaths::in_models_dir(&config.models_dir);
            let voices = [config.voice.zh_voice.as_str(), config.voice.en_voice.as_str()];
            match speech::tts::kokoro::Kokoro::load(&paths, &voices, 2) {
                Ok(k) => Some(k),
                Err(e) => {
                    tracing::warn!(error = %e, "neural voice unavailable; speaking with espeak-ng");
                    None
                }
            }
        }
        _ => None,
    };
    let synth = speech::tts::Synthesizer::new(kokoro, config.voice.clone())
        .with_disk_cache(config.data_dir.join("voice-cache"));
    let player = speech::device::Player::open(config.output_device.as_deref())?;
    let tts = speech::tts::worker::TtsWorker::spawn(Arc::new(synth))?;
    Ok(Box::new(Voice::spawn(tts, Arc::new(player), config.echo, gate)?))
}

/// Says `text` through the speaker and reports how long the first audio took.
pub fn say(
    config: &Config,
    text: &str,
    lang: &str,
    elderly: bool,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    use speech::voice::VoiceEvent;
    let lang = Lang::from_code(lang).with_context(|| format!("unknown language {lang:?}: use zh or en"))?;
    anyhow::ensure!(!text.trim().is_empty(), "nothing to say: give the text as the argument");
    let voice = open_voice(config, |_| {})?;
    let id = voice.say(text, lang, elderly);
    loop {
        match voice.events().recv_timeout(std::time::Duration::from_secs(60)) {
            Ok(VoiceEvent::Started { id: i, first_audio_ms }) if i == id => {
                writeln!(
                    out,
                    "speaking ({:?}): first audio after {first_audio_ms} ms",
                    config.voice_backend
                )?;
            }
            Ok(VoiceEvent::Finished { id: i }) if i == id => break,
            Ok(VoiceEvent::Failed { id: i, error }) if i == id => anyhow::bail!("{error}"),
            Ok(_) => {}
            Err(_) => anyhow::bail!("the voice did not finish within 60 s"),
        }
    }
    writeln!(out, "done")?;
    Ok(())
}

/// Runs the speech bench and prints one JSON object.
pub fn bench(
    config: &Config,
    manifest: &Path,
    stream: bool,
    full_window: bool,
    prompt: PromptKind,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let clips = speech::bench::read_manifest(manifest).map_err(anyhow::Error::msg)?;
    let recognizer = Arc::new(recognizer(config)?);
    let options = DecodeOptions { full_window, prompt, cancel: None };
    let mut report = speech::bench::run(&recognizer, &clips, &options, stream).map_err(anyhow::Error::msg)?;
    // The kiosk's configured voices, plus two others that play the patient in the prompt comparison.
    let mut voices =
        vec![config.voice.zh_voice.as_str(), config.voice.en_voice.as_str(), "zm_yunjian", "zf_xiaoyi"];
    voices.dedup();
    match speech::tts::kokoro::Kokoro::load(
        &speech::tts::kokoro::KokoroPaths::in_models_dir(&config.models_dir),
        &voices,
        2,
    ) {
        Ok(kokoro) => {
            let synth = speech::tts::Synthesizer::new(Some(kokoro), config.voice.clone());
            let tts = speech::bench::run_tts(&synth).map_err(anyhow::Error::msg)?;
            report.tts_first_audio_p50_ms = Some(tts.first_audio_p50_ms);
            report.tts = Some(tts);
            report.prompt_comparison = Some(
                speech::bench::compare_prompts(&synth, &recognizer, &["zm_yunjian", "zf_xiaoyi"])
                    .map_err(anyhow::Error::msg)?,
            );
        }
        Err(e) => tracing::warn!(error = %e, "neural voice unavailable; synthesis not measured"),
    }
    let fallback = speech::tts::Synthesizer::new(None, config.voice.clone());
    report.tts_fallback = Some(speech::bench::run_tts(&fallback).map_err(anyhow::Error::msg)?);
    report.peak_rss_mb = speech::bench::peak_rss_mb();
    serde_json::to_writer_pretty(&mut *out, &report)?;
    writeln!(out)?;
    Ok(())
}
