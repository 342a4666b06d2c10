//! Speech output through its real components: the kiosk's prompts synthesised by the Kokoro voice
//! (ONNX Runtime from the installed library) and recognised back by the installed whisper model,
//! in both languages, numbers and polyphones included; and the espeak-ng fallback.

use std::sync::{Arc, OnceLock};

use kiosk_tests::{models_dir, recognizer};
use protocol::Lang;
use speech::tts::kokoro::{Kokoro, KokoroPaths};
use speech::tts::{Backend, Synthesizer, VoiceConfig};

fn synthesizer() -> Arc<Synthesizer> {
    static S: OnceLock<Arc<Synthesizer>> = OnceLock::new();
    S.get_or_init(|| {
        let voices = ["zf_xiaobei", "af_heart", "zm_yunjian", "am_michael"];
        let kokoro =
            Kokoro::load(&KokoroPaths::in_models_dir(&models_dir()), &voices, 2).expect("Kokoro loads");
        Arc::new(Synthesizer::new(Some(kokoro), VoiceConfig::default()))
    })
    .clone()
}

fn hear(pcm: &speech::tts::Pcm, lang: Lang) -> String {
    let audio = speech::resample::to_16k(&pcm.samples, pcm.rate_hz).expect("resample");
    recognizer().transcribe(&audio, lang).expect("transcribe").text.expose().to_owned()
}

const ZH_PROMPTS: &[&str] = &[
    "您好，我是预问诊助手。请问今天哪里不舒服？",
    "请问患者今年多大年纪？",
    "有没有发烧？",
    "有没有出冷汗、大汗？",
    "疼痛会不会传到左胳膊、肩膀或者下巴？",
    "如果0分是一点都不难受，10分是能想象到的最难受，现在有几分？",
    "量过体温吗？最高是多少度？",
    "有没有对什么药物或者食物过敏？",
    "我再说一遍：您觉得是突然开始的，还是慢慢出现的？",
    "您的体温是38.5度，已经两天了。",
    "请到三楼心血管内科，排队号码是120号。",
    "我头疼了三天，还有点咳嗽。",
];

const EN_PROMPTS: &[&str] = &[
    "Hello, I'm the pre-consultation assistant. What brings you here today?",
    "How old is the patient?",
    "Have you been sweating or clammy?",
    "Does the pain spread to your arm, shoulder or jaw?",
    "On a scale from 0 to 10, where 10 is the worst you can imagine, how bad is it now?",
    "Are you allergic to any medicines or foods?",
    "Your temperature was 38.5 degrees for 2 days.",
    "Please go to Cardiology on the third floor. Your number is 120.",
];

#[test]
fn mandarin_prompts_survive_synthesis_and_recognition() {
    let s = synthesizer();
    assert_eq!(s.backend(), Backend::Kokoro);
    let (mut errors, mut chars) = (0.0, 0usize);
    for text in ZH_PROMPTS {
        let pcm = s.sentence(text, Lang::Zh, false).expect("synthesis");
        assert_eq!(pcm.rate_hz, 24_000);
        let heard = hear(&pcm, Lang::Zh);
        let reference = speech::tts::zh::normalize(text);
        let cer = speech::score::cer(&reference, &heard);
        eprintln!("{cer:.2} {text} -> {heard}");
        // Per prompt the bound is loose: whisper-base writes homophones (汗 -> 汉, 有 -> 又), each a
        // full character error in a short prompt. The corpus bound below is the real check.
        assert!(cer <= 0.5, "{text:?} heard as {heard:?} (CER {cer:.2})");
        let n = speech::score::normalize_zh(&reference).len();
        errors += cer * n as f32;
        chars += n;
    }
    let cer = errors / chars as f32;
    assert!(cer <= 0.12, "corpus CER {cer:.3}");
}

#[test]
fn english_prompts_survive_synthesis_and_recognition() {
    let s = synthesizer();
    let (mut errors, mut words) = (0.0, 0usize);
    for text in EN_PROMPTS {
        let pcm = s.sentence(text, Lang::En, false).expect("synthesis");
        let heard = hear(&pcm, Lang::En);
        let wer = speech::score::wer(text, &heard);
        eprintln!("{wer:.2} {text} -> {heard}");
        assert!(wer <= 0.3, "{text:?} heard as {heard:?} (WER {wer:.2})");
        let n = speech::score::normalize_en(text).len();
        errors += wer * n as f32;
        words += n;
    }
    let wer = errors / words as f32;
    assert!(wer <= 0.10, "corpus WER {wer:.3}");
}

#[test]
fn slower_elderly_speech_is_still_recognised_and_longer() {
    let s = synthesizer();
    let text = "请问患者今年多大年纪？";
    let normal = s.sentence(text, Lang::Zh, false).expect("normal");
    let slow = s.sentence(text, Lang::Zh, true).expect("slow");
    assert!(slow.seconds() > normal.seconds() * 1.1, "{} vs {}", slow.seconds(), normal.seconds());
    assert!(speech::score::cer(text, &hear(&slow, Lang::Zh)) <= 0.3);
}

#[test]
fn the_espeak_fallback_speaks_both_languages() {
    let s = Synthesizer::new(None, VoiceConfig::default());
    assert_eq!(s.backend(), Backend::Espeak);
    for (text, lang) in [("有没有发烧？", Lang::Zh), ("Do you have a fever?", Lang::En)] {
        let pcm = s.sentence(text, lang, false).expect("espeak-ng");
        assert!(pcm.seconds() > 0.5, "{text}: {} s", pcm.seconds());
        let peak = pcm.samples.iter().fold(0f32, |m, v| m.max(v.abs()));
        assert!(peak > 0.05, "{text}: silent output");
    }
}

#[test]
fn patient_information_is_never_cached() {
    use speech::tts::Synthesize as _;
    let dir = tempfile::tempdir().expect("tempdir");
    let s = Synthesizer::new(None, VoiceConfig::default()).with_disk_cache(dir.path().to_owned());
    let readback = "您说胸口疼了两天。";
    s.private_sentence(readback, Lang::Zh, false).expect("synthesis");
    assert!(!s.is_cached(readback, Lang::Zh, false));
    assert_eq!(std::fs::read_dir(dir.path()).expect("cache dir").count(), 0, "patient audio written to disk");
    // A fixed prompt is cached in memory and on disk.
    s.sentence("请问哪里不舒服？", Lang::Zh, false).expect("synthesis");
    assert!(s.is_cached("请问哪里不舒服？", Lang::Zh, false));
    assert_eq!(std::fs::read_dir(dir.path()).expect("cache dir").count(), 1);
}
