//! `kiosk run`: the whole kiosk wired together (microphone, recognition, intake engine, store,
//! voice, touch screen) in a real window.

use std::sync::Arc;
use std::time::Instant;

use dialogue::{Engine, InterviewConfig, KnowledgeBase};
use speech::source::AudioSource;
use speech::voice::{GateAction, Speaks};
use speech::worker::{SpeechCommand, SpeechConfig, SpeechWorker};

use crate::config::Config;
use crate::orchestrator::{Orchestrator, Parts};
use crate::session::{Session, SessionConfig};

/// The intake engine with the configured semantic matcher.
pub fn engine(config: &Config) -> anyhow::Result<Arc<Engine>> {
    let kb = Arc::new(KnowledgeBase::embedded()?);
    let mut engine = Engine::new(
        kb.clone(),
        InterviewConfig { kiosk_id: config.kiosk_id.clone(), ..InterviewConfig::default() },
    );
    if let Some(m) = crate::semantic::load_or_warn(config, &kb) {
        engine = engine.with_semantic(m);
    }
    Ok(Arc::new(engine))
}

/// The speech settings of `config`.
pub fn speech_config(config: &Config) -> SpeechConfig {
    SpeechConfig {
        endpoint: config.endpoint.clone(),
        lang: config.default_language,
        barge_in_ms: config.barge_in_ms,
        ..SpeechConfig::default()
    }
}

/// Starts the speech worker on `source`, or says why the kiosk runs touch-only.
pub fn speech_worker(config: &Config, source: Box<dyn AudioSource>) -> Option<Arc<SpeechWorker>> {
    let recognizer = match crate::speech_cmd::recognizer(config) {
        Ok(r) => Arc::new(r),
        Err(e) => {
            tracing::error!(error = %e, "speech recognition unavailable: the kiosk runs touch-only");
            return None;
        }
    };
    match SpeechWorker::spawn(source, recognizer, speech_config(config)) {
        Ok(w) => Some(Arc::new(w)),
        Err(e) => {
            tracing::error!(error = %e, "speech worker did not start: the kiosk runs touch-only");
            None
        }
    }
}

/// Everything the orchestrator drives, with the given audio source and voice (real devices in
/// `kiosk run`; a scripted patient and a silent speaker in tests and the session bench), and the
/// courier thread that hands cards and alerts on (join it after the orchestrator).
pub fn parts(
    config: &Config,
    engine: Arc<Engine>,
    speech: Option<Arc<SpeechWorker>>,
    voice: Box<dyn Speaks>,
) -> anyhow::Result<(Parts, crate::station::Courier)> {
    let handoff = crate::station::open(config)?;
    let session = Session::new(engine, SessionConfig::from_config(config), Instant::now());
    let assist = crate::assist::Assist::load(config);
    let parts = Parts { session, voice, speech, sink: handoff.sink, alerts: handoff.alerts, assist };
    Ok((parts, handoff.courier))
}

/// The microphone gate for `speech`: closed while the kiosk speaks.
pub fn gate(speech: Option<Arc<SpeechWorker>>) -> impl Fn(GateAction) + Send + 'static {
    move |action| {
        if let Some(s) = &speech {
            s.send(SpeechCommand::Mute(action == GateAction::Close));
        }
    }
}

/// Runs the kiosk in a window (full screen unless `windowed`) until it is closed.
pub fn run(config: &Config, windowed: bool) -> anyhow::Result<()> {
    if std::env::var_os("DISPLAY").is_none() && std::env::var_os("WAYLAND_DISPLAY").is_none() {
        anyhow::bail!(
            "no display: neither DISPLAY nor WAYLAND_DISPLAY is set. Start the kiosk from the \
             kiosk's graphical session (or under Xvfb for testing: `xvfb-run kiosk run`), or use \
             `kiosk console` for the text console"
        );
    }
    let engine = engine(config)?;
    let source = speech::device::CpalSource::open(config.input_device.as_deref());
    let speech = speech_worker(config, Box::new(source));
    let voice = crate::speech_cmd::open_voice(config, gate(speech.clone()))?;
    let (parts, courier) = parts(config, engine, speech, voice)?;
    let mut viewport = egui::ViewportBuilder::default().with_title("预问诊 Pre-consultation");
    viewport =
        if windowed { viewport.with_inner_size([1280.0, 800.0]) } else { viewport.with_fullscreen(true) };
    let options = eframe::NativeOptions { viewport, ..Default::default() };
    let mut orchestrator_slot = None;
    let slot = &mut orchestrator_slot;
    let result = eframe::run_native(
        "kiosk",
        options,
        Box::new(move |cc| {
            crate::app::install_fonts(&cc.egui_ctx);
            let ctx = cc.egui_ctx.clone();
            let orchestrator = Orchestrator::spawn(parts, move || ctx.request_repaint())?;
            let app = crate::app::KioskApp::new(
                orchestrator.actions.clone(),
                orchestrator.views.clone(),
                orchestrator.first.clone(),
            );
            *slot = Some(orchestrator);
            Ok(Box::new(app))
        }),
    );
    if let Some(o) = orchestrator_slot {
        o.join();
    }
    courier.join();
    result.map_err(|e| {
        anyhow::anyhow!("the window could not be opened: {e} (check the display and OpenGL drivers)")
    })
}
