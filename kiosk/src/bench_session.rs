//! `kiosk bench session`: whole interviews by voice against the real kiosk (see
//! [`crate::simulate`]), at real time, printing one JSON object: response latency (end of the
//! patient's speech to the first audio of the kiosk's next question), cold start to the welcome
//! screen, UI frame time while recognition runs, peak memory.

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::bounded;
use serde::Serialize;

use crate::config::Config;
use crate::session::{Session, SessionConfig, View};
use crate::simulate::SimKit;

#[derive(Debug, Serialize)]
struct Report {
    sessions: usize,
    completed: usize,
    answers: usize,
    response_latency_p50_ms: u64,
    response_latency_p95_ms: u64,
    response_latency_max_ms: u64,
    cold_start_ms: u64,
    cold_start_parts_ms: Vec<(String, u64)>,
    prompt_sentences: usize,
    prompt_cache_s: f64,
    frames: usize,
    frame_ms_p50: f64,
    frame_ms_p95: f64,
    /// The language model ran beside the sessions (reading stories, drafting the 现病史).
    with_language_model: bool,
    /// Sessions whose draft was seen streaming onto the read-back.
    narratives_streamed: usize,
    /// Cards that went with a drafted (and checked) 现病史.
    narratives_on_card: usize,
    peak_rss_mb: f64,
}

/// Runs `rounds` Mandarin and English sessions and prints the report.
pub fn run(config: &Config, rounds: usize, out: &mut dyn Write) -> anyhow::Result<()> {
    // Cold start: what `kiosk run` does before its first frame (the window itself adds the GL
    // context, ~0.1 s), measured in this process.
    let t0 = Instant::now();
    let mut parts = Vec::new();
    let mut lap = |name: &str, since: &mut Instant| {
        parts.push((name.to_owned(), since.elapsed().as_millis() as u64));
        *since = Instant::now();
    };
    let mut t = Instant::now();
    let catalog = models::Catalog::embedded()?;
    let _health = crate::startup::check_models(config, &catalog)?;
    lap("model check (re-hash)", &mut t);
    let engine = crate::window::engine(config)?;
    lap("intake engine + semantic matcher", &mut t);
    let recognizer = crate::speech_cmd::recognizer(config)?;
    lap("whisper", &mut t);
    let kokoro = speech::tts::kokoro::Kokoro::load(
        &speech::tts::kokoro::KokoroPaths::in_models_dir(&config.models_dir),
        &[config.voice.zh_voice.as_str(), config.voice.en_voice.as_str()],
        2,
    )?;
    lap("kokoro", &mut t);
    let session = Session::new(engine, SessionConfig::from_config(config), Instant::now());
    let _first: View = session.view(Instant::now());
    lap("welcome screen", &mut t);
    let cold_start_ms = t0.elapsed().as_millis() as u64;
    drop((recognizer, kokoro, session));

    let kit = SimKit::load(config)?;
    // A kiosk that has been on for a while has its fixed prompts cached (it prepares them while
    // idle and keeps them on disk): so does the simulated one.
    let warm_start = Instant::now();
    let prompt_sentences = kit.warm(config)?;
    let prompt_cache_s = warm_start.elapsed().as_secs_f64();
    // A headless UI thread drawing every view at 60 frames per second while the sessions run.
    let (tap_tx, tap_rx) = bounded::<Arc<View>>(64);
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = Arc::clone(&stop);
    let first =
        Session::new(crate::window::engine(config)?, SessionConfig::from_config(config), Instant::now())
            .view(Instant::now());
    let frames = std::thread::Builder::new().name("ui-bench".into()).spawn(move || {
        let (action_tx, _action_rx) = bounded(1024);
        let mut app = crate::app::KioskApp::new(action_tx, tap_rx, first);
        let ctx = egui::Context::default();
        crate::app::install_fonts(&ctx);
        let mut times = Vec::new();
        let size = egui::Rect::from_min_size(egui::Pos2::ZERO, egui::vec2(1280.0, 800.0));
        while !stop2.load(Ordering::Relaxed) {
            let start = Instant::now();
            let input = egui::RawInput { screen_rect: Some(size), ..Default::default() };
            let mut output = ctx.run_ui(input, |ui| app.show(ui));
            // No GPU here: the font atlas updates are dropped, as a renderer would consume them.
            output.textures_delta.clear();
            let _ = ctx.tessellate(output.shapes, output.pixels_per_point);
            times.push(start.elapsed().as_secs_f64() * 1000.0);
            std::thread::sleep(Duration::from_millis(16).saturating_sub(start.elapsed()));
        }
        times
    })?;

    let mut latencies = Vec::new();
    let mut completed = 0;
    let mut sessions = 0;
    let (mut with_model, mut streamed, mut on_card) = (false, 0, 0);
    for round in 0..rounds.max(1) {
        for script in [SimKit::mandarin_script(), SimKit::english_script()] {
            let data = tempfile::tempdir()?;
            let mut c = config.clone();
            c.data_dir = data.path().to_owned();
            let report = kit.run(&c, &script, 1.0, Duration::from_secs(600), Some(tap_tx.clone()))?;
            sessions += 1;
            if let Some(card) = &report.card {
                completed += 1;
                on_card += usize::from(card.hpi_drafted.is_some());
            }
            with_model |= report.with_model;
            streamed += usize::from(report.narrative_streamed);
            tracing::info!(round, lang = %script.lang, answers = report.response_ms.len(), "session done");
            latencies.extend(report.response_ms);
        }
    }
    stop.store(true, Ordering::Relaxed);
    let frame_times = frames.join().map_err(|_| anyhow::anyhow!("the UI bench thread failed"))?;
    latencies.sort_unstable();
    let lat: Vec<f64> = latencies.iter().map(|l| *l as f64).collect();
    let pick = |p: f64| protocol::stats::percentile(&lat, p) as u64;
    let pick_f = |v: &[f64], p: f64| protocol::stats::percentile(v, p);
    let report = Report {
        sessions,
        completed,
        answers: latencies.len(),
        response_latency_p50_ms: pick(50.0),
        response_latency_p95_ms: pick(95.0),
        response_latency_max_ms: latencies.last().copied().unwrap_or(0),
        cold_start_ms,
        cold_start_parts_ms: parts,
        prompt_sentences,
        prompt_cache_s,
        frames: frame_times.len(),
        frame_ms_p50: pick_f(&frame_times, 50.0),
        frame_ms_p95: pick_f(&frame_times, 95.0),
        with_language_model: with_model,
        narratives_streamed: streamed,
        narratives_on_card: on_card,
        peak_rss_mb: speech::bench::peak_rss_mb(),
    };
    serde_json::to_writer_pretty(&mut *out, &report)?;
    writeln!(out)?;
    Ok(())
}
