//! The real sound path through cpal: the kiosk's player plays into a PulseAudio null sink and its
//! capture source records the sink's monitor, as on a kiosk with a speaker and a microphone.
//!
//! `deploy/test.sh` starts the sound server (`deploy/audio-loopback.sh`). Captured sample counts
//! vary under load, so these tests check what was captured (pitch, words), never how much.

use std::process::Command;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use kiosk_tests::{fixtures_dir, recognizer};
use protocol::Lang;
use speech::device::{CpalSource, Player};
use speech::source::{AudioSource, MemorySource, Pacing};
use speech::tts::Pcm;

/// One test at a time: they share the sound card.
fn exclusive() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    let guard = LOCK.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let ok = Command::new("pactl").arg("info").output().map(|o| o.status.success()).unwrap_or(false);
    assert!(
        ok,
        "no PulseAudio server with a null sink; run `deploy/audio-loopback.sh` (deploy/test.sh does)"
    );
    guard
}

/// Records `seconds` of audio from the default input while `play` runs on another thread.
fn record_while(seconds: f32, play: impl FnOnce(&Player) + Send) -> Vec<f32> {
    let mut source = CpalSource::open(None);
    assert!(source.is_open(), "capture did not open: {:?}", source.status());
    let player = Player::open(None).expect("the null sink opens as a speaker");
    let wanted = (seconds * 16_000.0) as usize;
    let mut captured = Vec::with_capacity(wanted);
    std::thread::scope(|scope| {
        scope.spawn(|| play(&player));
        let deadline = Instant::now() + Duration::from_secs_f32(seconds * 3.0 + 5.0);
        while captured.len() < wanted && Instant::now() < deadline {
            match source.next_chunk() {
                Ok(Some(chunk)) => captured.extend(chunk),
                other => panic!("capture stopped: {other:?}"),
            }
        }
    });
    captured
}

/// Frequency estimate of the loud part of `samples` (16 kHz): cycles counted with hysteresis (a
/// cycle is a rise from below -0.1 to above +0.1), so resampler noise near zero does not count.
fn pitch_hz(samples: &[f32]) -> f32 {
    let loud: Vec<&[f32]> = samples
        .chunks(320)
        .filter(|c| (c.iter().map(|s| s * s).sum::<f32>() / c.len() as f32).sqrt() > 0.05)
        .collect();
    let loud_samples: usize = loud.iter().map(|c| c.len()).sum();
    assert!(loud_samples >= 8_000, "the tone was not captured: {loud_samples} loud samples");
    let mut cycles = 0usize;
    let mut low = false;
    for &s in loud.iter().flat_map(|c| c.iter()) {
        if s < -0.1 {
            low = true;
        } else if s > 0.1 && low {
            low = false;
            cycles += 1;
        }
    }
    cycles as f32 / (loud_samples as f32 / 16_000.0)
}

fn tone(hz: f32, seconds: f32, rate_hz: u32) -> Pcm {
    let n = (seconds * rate_hz as f32) as usize;
    let samples =
        (0..n).map(|i| 0.5 * (std::f32::consts::TAU * hz * i as f32 / rate_hz as f32).sin()).collect();
    Pcm { samples, rate_hz }
}

#[test]
fn a_tone_played_through_the_speaker_is_captured_at_its_pitch() {
    let _card = exclusive();
    // Kokoro's output rate, so the player's resampling to the device rate is exercised too.
    for hz in [440.0, 1_000.0] {
        let captured = record_while(2.5, |player| {
            std::thread::sleep(Duration::from_millis(300));
            player.play(&tone(hz, 1.5, 24_000)).expect("plays");
            assert!(player.wait_done(Duration::from_secs(5)), "playback finished");
        });
        let measured = pitch_hz(&captured);
        assert!((measured - hz).abs() / hz < 0.03, "played {hz} Hz, captured {measured:.1} Hz");
    }
}

#[test]
fn speech_played_through_the_speaker_is_recognised_from_the_microphone() {
    let _card = exclusive();
    let mut clip = MemorySource::from_wav(
        &fixtures_dir().join("audio/en05_librivox_sense_and_sensibility_0880.wav"),
        Pacing::Fast,
    )
    .expect("wav");
    let mut samples = Vec::new();
    while let Some(chunk) = clip.next_chunk().expect("reads") {
        samples.extend(chunk);
    }
    let seconds = samples.len() as f32 / 16_000.0;
    let pcm = Pcm { samples, rate_hz: 16_000 };
    let captured = record_while(seconds + 1.5, |player| {
        std::thread::sleep(Duration::from_millis(300));
        player.play(&pcm).expect("plays");
        player.wait_done(Duration::from_secs(10));
    });
    let recognizer = recognizer();
    let t = recognizer.transcribe(&captured, Lang::En).expect("transcribes");
    let wer = speech::score::wer("he was not an ill disposed young man", t.text.expose());
    assert!(wer <= 0.15, "WER {wer:.2}: {:?}", t.text.expose());
}

/// The voice's events until request `id` finishes (or `limit` passes).
fn events_until_finished(
    voice: &dyn speech::voice::Speaks,
    id: u64,
    limit: Duration,
) -> Vec<speech::voice::VoiceEvent> {
    let mut events = Vec::new();
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if let Ok(e) = voice.events().recv_timeout(Duration::from_millis(200)) {
            let done = e == speech::voice::VoiceEvent::Finished { id };
            events.push(e);
            if done {
                break;
            }
        }
    }
    events
}

#[test]
fn stopping_the_player_silences_it_at_once() {
    let _card = exclusive();
    // Generous margins: on a loaded 2-core machine the audio server may run late; what is checked
    // is that the queue is dropped, not how fast.
    let captured = record_while(4.0, |player| {
        std::thread::sleep(Duration::from_millis(300));
        player.play(&tone(440.0, 6.0, 16_000)).expect("plays");
        std::thread::sleep(Duration::from_millis(500));
        player.stop();
        assert!(player.wait_done(Duration::from_secs(3)), "stop empties the queue");
    });
    // The last second is silent although the tone was six seconds long.
    let tail = &captured[captured.len() - 16_000..];
    let rms = (tail.iter().map(|s| s * s).sum::<f32>() / tail.len() as f32).sqrt();
    assert!(rms < 0.01, "still playing after stop: rms {rms}");
}

#[test]
fn a_missing_device_is_reported_and_retried_not_a_panic() {
    let _card = exclusive();
    let mut source = CpalSource::open(Some("no-such-microphone"));
    assert!(!source.is_open());
    let status = source.status();
    assert!(
        status.iter().any(|s| s.contains("microphone unavailable") && s.contains("no-such-microphone")),
        "{status:?}"
    );
    // Meanwhile it delivers silence in real time, so the pipeline keeps running.
    let chunk = source.next_chunk().expect("no error").expect("a chunk");
    assert!(chunk.iter().all(|s| *s == 0.0));
    let err = Player::open(Some("no-such-speaker")).expect_err("no such speaker");
    assert!(err.to_string().contains("no-such-speaker"), "{err}");
}

#[test]
fn the_system_voice_speaks_through_the_speaker_and_gates_the_microphone() {
    use speech::voice::{EchoConfig, GateAction, Speaks, SystemVoice, VoiceEvent};
    let _card = exclusive();
    let (gate_tx, gate) = crossbeam_channel::bounded(16);
    let voice = SystemVoice::spawn(&speech::tts::VoiceConfig::default(), EchoConfig::default(), move |a| {
        let _ = gate_tx.try_send(a);
    })
    .expect("speech-dispatcher answers");
    let mut events = Vec::new();
    let captured = record_while(6.0, |_player| {
        std::thread::sleep(Duration::from_millis(300));
        let id = voice.say("Please sit down and rest. A nurse is coming now.", Lang::En, false);
        events = events_until_finished(&voice, id, Duration::from_secs(15));
    });
    assert!(matches!(events.first(), Some(VoiceEvent::Started { .. })), "{events:?}");
    assert!(matches!(events.last(), Some(VoiceEvent::Finished { .. })), "{events:?}");
    let actions: Vec<GateAction> = gate.try_iter().collect();
    assert_eq!(actions, vec![GateAction::Close, GateAction::Open]);
    // The system voice is espeak-ng through speech-dispatcher: robotic, and whisper mishears its
    // small words ("a nurse is coming" -> "nurse incoming"). What is checked is that the sentence
    // reached the microphone through the speaker: its content words are recognised.
    let t = recognizer().transcribe(&captured, Lang::En).expect("transcribes");
    let heard = t.text.expose().to_lowercase();
    let missing: Vec<&str> =
        ["sit", "down", "rest", "nurse"].into_iter().filter(|w| !heard.contains(w)).collect();
    assert!(missing.is_empty(), "missing {missing:?} in {heard:?}");
}

#[test]
fn the_kiosk_voice_speaks_mandarin_through_the_speaker() {
    use speech::voice::{GateAction, VoiceEvent};
    let _card = exclusive();
    let data = tempfile::tempdir().expect("tempdir");
    let env = kiosk::config::Env {
        models_dir: Some(kiosk_tests::models_dir()),
        data_dir: Some(data.path().to_owned()),
        ..kiosk::config::Env::default()
    };
    let config = kiosk::config::Config::from_toml(None, "-", &env).expect("defaults");
    let (gate_tx, gate) = crossbeam_channel::bounded(16);
    let voice = kiosk::speech_cmd::open_voice(&config, move |a| {
        let _ = gate_tx.try_send(a);
    })
    .expect("the voice opens");
    let text = "请您坐下休息，护士马上过来。";
    let mut events = Vec::new();
    let captured = record_while(7.0, |_player| {
        std::thread::sleep(Duration::from_millis(300));
        let id = voice.say(text, Lang::Zh, false);
        events = events_until_finished(voice.as_ref(), id, Duration::from_secs(20));
    });
    assert!(matches!(events.last(), Some(VoiceEvent::Finished { .. })), "{events:?}");
    assert_eq!(gate.try_iter().collect::<Vec<_>>(), vec![GateAction::Close, GateAction::Open]);
    let t = recognizer().transcribe(&captured, Lang::Zh).expect("transcribes");
    let cer = speech::score::cer(text, t.text.expose());
    assert!(cer <= 0.3, "CER {cer:.2}: {:?}", t.text.expose());
}
