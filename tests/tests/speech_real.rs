//! The speech pipeline on real recordings through the real components: whisper (the converted
//! ggml model), earshot VAD, the endpointer and the streaming worker.

use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use kiosk_tests::{clips, fixtures_dir, recognizer};
use protocol::Lang;
use speech::endpoint::{EndpointConfig, EndpointEvent, Endpointer, Expectation};
use speech::source::{AudioSource, MemorySource, Pacing};
use speech::vad::{FRAME_SAMPLES, Vad};
use speech::worker::{SpeechCommand, SpeechConfig, SpeechEvent, SpeechWorker};

/// Tests here stream audio in real time and decode with two threads each; run in parallel on the
/// 2-core machine they would starve each other (partial transcripts are skipped when the
/// recogniser is busy, by design), so each takes this lock.
fn exclusive() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn samples(name: &str) -> Vec<f32> {
    let mut source =
        MemorySource::from_wav(&fixtures_dir().join("audio").join(name), Pacing::Fast).expect("wav");
    let mut out = Vec::new();
    while let Some(chunk) = source.next_chunk().expect("chunk") {
        out.extend(chunk);
    }
    out
}

#[test]
fn recordings_are_recognised_in_both_languages() {
    let _serial = exclusive();
    let r = recognizer();
    let (mut en_err, mut en_n, mut zh_err, mut zh_n) = (0.0, 0, 0.0, 0);
    for clip in clips() {
        let name = clip.path.file_name().expect("name").to_string_lossy().into_owned();
        let lang = Lang::from_code(&clip.language).expect("lang");
        let t = r.transcribe(&samples(&name), lang).expect("transcribes");
        match lang {
            Lang::En => {
                let w = speech::score::wer(&clip.transcript, t.text.expose());
                assert!(w <= 0.25, "{name}: WER {w:.2} {:?}", t.text.expose());
                en_err += w * speech::score::normalize_en(&clip.transcript).len() as f32;
                en_n += speech::score::normalize_en(&clip.transcript).len();
            }
            Lang::Zh => {
                let c = speech::score::cer(&clip.transcript, t.text.expose());
                assert!(c <= 0.40, "{name}: CER {c:.2} {:?}", t.text.expose());
                // Simplified characters, not Traditional.
                assert!(
                    !t.text.expose().contains('國') && !t.text.expose().contains('們'),
                    "{:?}",
                    t.text.expose()
                );
                zh_err += c * speech::score::normalize_zh(&clip.transcript).len() as f32;
                zh_n += speech::score::normalize_zh(&clip.transcript).len();
            }
        }
    }
    let (wer, cer) = (en_err / en_n as f32, zh_err / zh_n as f32);
    assert!(wer <= 0.10, "English WER {wer:.3}");
    assert!(cer <= 0.20, "Mandarin CER {cer:.3}");
}

#[test]
fn the_session_language_is_detected_once() {
    let _serial = exclusive();
    let r = recognizer();
    assert_eq!(
        r.detect_language(&samples("zh01_aishell1_BAC009S0764W0121.wav")).expect("detects").0,
        Lang::Zh
    );
    assert_eq!(
        r.detect_language(&samples("en05_librivox_sense_and_sensibility_0880.wav")).expect("detects").0,
        Lang::En
    );
}

#[test]
fn garbage_in_gives_a_clear_answer_not_a_phantom_sentence() {
    let _serial = exclusive();
    let r = recognizer();
    let silence = vec![0.0f32; 16_000 * 5];
    assert!(r.transcribe(&silence, Lang::Zh).expect("silence").text.is_empty());
    // White noise: nothing, or at least none of the subtitle credits whisper invents.
    let mut seed = 12345u32;
    let noise: Vec<f32> = (0..16_000 * 4)
        .map(|_| {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (seed >> 8) as f32 / (1u32 << 24) as f32 * 0.6 - 0.3
        })
        .collect();
    for lang in [Lang::Zh, Lang::En] {
        let t = r.transcribe(&noise, lang).expect("noise");
        let text = t.text.expose().to_lowercase();
        assert!(!text.contains("amara") && !text.contains("watching") && !text.contains("字幕"), "{text:?}");
    }
    // Clipped speech is still speech.
    let clipped: Vec<f32> =
        samples("en01_jfk_inaugural.wav").iter().map(|s| (s * 20.0).clamp(-1.0, 1.0)).collect();
    let t = r.transcribe(&clipped, Lang::En).expect("clipped");
    let reference = "And so my fellow Americans, ask not what your country can do for you, ask what you can do for your country.";
    assert!(speech::score::wer(reference, t.text.expose()) < 0.5, "{:?}", t.text.expose());
    // NaN and infinities are treated as silence, not a crash.
    let mut broken = samples("en05_librivox_sense_and_sensibility_0880.wav");
    broken[100] = f32::NAN;
    broken[200] = f32::INFINITY;
    assert!(r.transcribe(&broken, Lang::En).is_ok());
}

#[test]
fn bad_files_are_named_in_the_error() {
    let _serial = exclusive();
    let dir = tempfile::tempdir().expect("tempdir");
    let empty = dir.path().join("empty.wav");
    std::fs::write(&empty, b"").expect("write");
    let err = MemorySource::from_wav(&empty, Pacing::Fast).expect_err("0-byte file");
    assert!(err.to_string().contains("empty.wav"), "{err}");
    let text = dir.path().join("notes.wav");
    std::fs::write(&text, b"this is not audio at all").expect("write");
    let err = MemorySource::from_wav(&text, Pacing::Fast).expect_err("not a WAV");
    assert!(err.to_string().contains("notes.wav") && err.to_string().contains("not a readable WAV"), "{err}");
}

#[test]
fn another_sample_rate_is_resampled_once_at_the_edge() {
    let _serial = exclusive();
    // The JFK clip written at 44.1 kHz stereo still transcribes.
    let jfk = samples("en01_jfk_inaugural.wav");
    let up: Vec<f32> = speech::resample::to_16k(&jfk, 16_000).expect("identity");
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("jfk44k.wav");
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate: 44_100,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(&path, spec).expect("wav");
    // Linear upsampling 16 k -> 44.1 k for the fixture.
    let n = (up.len() as f64 * 44_100.0 / 16_000.0) as usize;
    for i in 0..n {
        let x = i as f64 * 16_000.0 / 44_100.0;
        let (a, b) = (x.floor() as usize, (x.floor() as usize + 1).min(up.len() - 1));
        let v = up[a] as f64 * (1.0 - x.fract()) + up[b] as f64 * x.fract();
        let s = (v * f64::from(i16::MAX)) as i16;
        w.write_sample(s).expect("sample");
        w.write_sample(s).expect("sample");
    }
    w.finalize().expect("finalize");
    let mut source = MemorySource::from_wav(&path, Pacing::Fast).expect("44.1k stereo wav");
    let mut audio = Vec::new();
    while let Some(c) = source.next_chunk().expect("chunk") {
        audio.extend(c);
    }
    assert!((audio.len() as f32 / 16_000.0 - 11.0).abs() < 0.2, "{} s", audio.len() as f32 / 16_000.0);
    let t = recognizer().transcribe(&audio, Lang::En).expect("transcribes");
    let reference = "And so my fellow Americans, ask not what your country can do for you, ask what you can do for your country.";
    assert!(speech::score::wer(reference, t.text.expose()) <= 0.10, "{:?}", t.text.expose());
}

/// Runs real audio through the real VAD and the endpointer (no recognition).
fn endpoint(audio: &[f32], elderly: bool, expectation: Expectation) -> Vec<speech::endpoint::Utterance> {
    let mut vad = Vad::default();
    let mut ep = Endpointer::new(EndpointConfig::default());
    ep.set_elderly(elderly);
    ep.set_expectation(expectation);
    let mut out = Vec::new();
    for frame in audio.chunks_exact(FRAME_SAMPLES) {
        if let Some(EndpointEvent::Ended(u)) = ep.push_frame(frame, vad.score(frame)) {
            out.push(u);
        }
    }
    if let Some(EndpointEvent::Ended(u)) = ep.end_of_stream() {
        out.push(u);
    }
    out
}

#[test]
fn a_pause_of_one_and_a_half_seconds_does_not_split_an_answer_in_elderly_mode() {
    let _serial = exclusive();
    for name in ["zh09_paddlespeech_zh.wav", "en02_librispeech_1995-1837-0001.wav"] {
        let clip = samples(name);
        let half = clip.len() / 2;
        // Cut inside speech (the loudest point within a second of the middle), so the silence in
        // the answer is exactly the inserted 1.5 s.
        let cut = (half - 16_000..half + 16_000)
            .step_by(160)
            .max_by(|a, b| {
                let e = |i: usize| clip[i..i + 3200].iter().map(|s| s * s).sum::<f32>();
                e(*a).total_cmp(&e(*b))
            })
            .expect("cut point");
        let mut paused = clip[..cut].to_vec();
        paused.extend(std::iter::repeat_n(0.0, 24_000));
        paused.extend_from_slice(&clip[cut..]);
        paused.extend(std::iter::repeat_n(0.0, 48_000));
        let elderly = endpoint(&paused, true, Expectation::Story);
        assert_eq!(elderly.len(), 1, "{name}: elderly mode keeps one answer");
        let fast = endpoint(&paused, false, Expectation::Story);
        assert_eq!(fast.len(), 2, "{name}: the default story delay ends at a 1.5 s pause");
    }
}

#[test]
fn a_short_answer_ends_quickly_and_keeps_its_first_syllable() {
    let _serial = exclusive();
    let clip = samples("en05_librivox_sense_and_sensibility_0880.wav");
    let mut audio = vec![0.0f32; 16_000];
    audio.extend_from_slice(&clip);
    audio.extend(std::iter::repeat_n(0.0, 32_000));
    let u = endpoint(&audio, false, Expectation::Short);
    assert_eq!(u.len(), 1);
    assert!(u[0].end_delay_ms() <= 500, "ended {} ms after speech", u[0].end_delay_ms());
    // Nothing of the answer is lost at the start: recognition of the cut utterance matches.
    let t = recognizer().transcribe(&u[0].samples, Lang::En).expect("transcribes");
    assert!(
        speech::score::wer("he was not an ill disposed young man", t.text.expose()) <= 0.15,
        "{:?}",
        t.text.expose()
    );
}

#[test]
fn streaming_in_real_time_gives_partials_then_the_final_transcript() {
    let _serial = exclusive();
    let source =
        MemorySource::from_wav(&fixtures_dir().join("audio/en01_jfk_inaugural.wav"), Pacing::RealTime)
            .expect("wav")
            .with_trailing_silence(2_000);
    let worker = SpeechWorker::spawn(
        Box::new(source),
        recognizer(),
        SpeechConfig { lang: Lang::En, ..SpeechConfig::default() },
    )
    .expect("worker starts");
    let (mut partials, mut finals, mut levels) = (0, Vec::new(), 0);
    loop {
        match worker.events().recv_timeout(Duration::from_secs(30)).expect("events keep coming") {
            SpeechEvent::Partial(_) => partials += 1,
            SpeechEvent::Final(t, timing) => finals.push((t, timing)),
            SpeechEvent::Level(_) => levels += 1,
            SpeechEvent::SourceEnded => break,
            SpeechEvent::Failed(e) => panic!("{e}"),
            SpeechEvent::SpeechStarted
            | SpeechEvent::Ignored
            | SpeechEvent::BargeIn
            | SpeechEvent::Device(_) => {}
        }
    }
    // The last finals may arrive after the source ends (later on a busy machine): take every
    // one until the worker has been quiet for a while.
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while let Ok(event) = worker.events().recv_timeout(Duration::from_secs(30))
        && std::time::Instant::now() < deadline
    {
        if let SpeechEvent::Final(t, timing) = event {
            finals.push((t, timing));
        }
    }
    assert!(partials >= 2, "partial transcripts while speaking: {partials}");
    assert!(levels >= 50, "input level reported: {levels}");
    let text: String = finals.iter().map(|(t, _)| t.text.expose().to_owned()).collect::<Vec<_>>().join(" ");
    let reference = "And so my fellow Americans, ask not what your country can do for you, ask what you can do for your country.";
    assert!(speech::score::wer(reference, &text) <= 0.15, "{text:?}");
}

/// Runs `audio` (after 1 s of silence, in real time) through the worker muted from the start, as
/// while the kiosk speaks; returns the events.
fn while_kiosk_speaks(audio: &[f32], barge_in_ms: Option<u32>) -> Vec<SpeechEvent> {
    let mut samples = vec![0.0f32; 16_000];
    samples.extend_from_slice(audio);
    samples.extend(std::iter::repeat_n(0.0, 32_000));
    let worker = SpeechWorker::spawn(
        Box::new(MemorySource::new(samples, Pacing::RealTime)),
        recognizer(),
        SpeechConfig { lang: Lang::En, barge_in_ms, ..SpeechConfig::default() },
    )
    .expect("worker starts");
    assert!(worker.send(SpeechCommand::Mute(true)));
    let mut events = Vec::new();
    loop {
        match worker.events().recv_timeout(Duration::from_secs(30)).expect("events keep coming") {
            SpeechEvent::Level(_) => {}
            SpeechEvent::SourceEnded => break,
            e => events.push(e),
        }
    }
    // The last final may arrive after the source ends: on a busy machine its decode can take
    // longer than the silence after it. Wait for it while speech is open, briefly otherwise.
    loop {
        let open =
            events.iter().rposition(|e| matches!(e, SpeechEvent::SpeechStarted | SpeechEvent::BargeIn))
                > events.iter().rposition(|e| matches!(e, SpeechEvent::Final(..)));
        let wait = Duration::from_secs(if open { 60 } else { 3 });
        match worker.events().recv_timeout(wait) {
            Ok(SpeechEvent::Level(_)) => {}
            Ok(e) => events.push(e),
            Err(_) => break,
        }
    }
    events
}

#[test]
fn the_gated_microphone_hears_nothing_while_the_kiosk_speaks() {
    let _serial = exclusive();
    let events = while_kiosk_speaks(&samples("en05_librivox_sense_and_sensibility_0880.wav"), None);
    assert!(
        !events.iter().any(|e| matches!(e, SpeechEvent::SpeechStarted | SpeechEvent::Final(..))),
        "{events:?}"
    );
}

#[test]
fn with_barge_in_sustained_speech_interrupts_and_keeps_its_start() {
    let _serial = exclusive();
    let events = while_kiosk_speaks(&samples("en05_librivox_sense_and_sensibility_0880.wav"), Some(600));
    let barge = events.iter().position(|e| matches!(e, SpeechEvent::BargeIn)).expect("barge-in reported");
    let text = events[barge..]
        .iter()
        .find_map(|e| match e {
            SpeechEvent::Final(t, _) => Some(t.text.expose().to_owned()),
            _ => None,
        })
        .expect("the interrupting answer is transcribed");
    // The words before the barge-in was confirmed are not lost.
    assert!(speech::score::wer("he was not an ill disposed young man", &text) <= 0.15, "{text:?}");
}

#[test]
fn barge_in_ignores_a_cough() {
    let _serial = exclusive();
    // 300 ms of speech-like sound is not sustained speech.
    let clip = samples("en05_librivox_sense_and_sensibility_0880.wav");
    let events = while_kiosk_speaks(&clip[8_000..12_800], Some(600));
    assert!(!events.iter().any(|e| matches!(e, SpeechEvent::BargeIn)), "{events:?}");
}
