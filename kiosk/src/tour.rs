//! `kiosk screenshots --out DIR`: opens the real kiosk window (needs a display; under Xvfb in
//! `deploy/screenshots.sh`), walks through every screen in both languages by touch, on the real
//! session thread, intake engine and a throw-away store, with a silent voice, and saves a PNG of
//! each screen. The PNGs in `docs/screenshots/` come from this command.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, bounded};
use dialogue::{Expect, Touch};
use protocol::{Lang, Sex};
use speech::voice::{Speaks, VoiceEvent};

use crate::app::KioskApp;
use crate::config::{Config, Timeouts};
use crate::orchestrator::{Orchestrator, Parts, StoreSink};
use crate::session::{ConsentStep, Screen, Session, SessionConfig, UiAction, View};

/// A voice that says nothing and finishes at once.
#[derive(Debug)]
pub struct SilentVoice {
    next: std::sync::atomic::AtomicU64,
    tx: Sender<VoiceEvent>,
    rx: Receiver<VoiceEvent>,
}

impl Default for SilentVoice {
    fn default() -> Self {
        let (tx, rx) = bounded(256);
        Self { next: 1.into(), tx, rx }
    }
}

impl SilentVoice {
    fn finish(&self) -> u64 {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let _ = self.tx.try_send(VoiceEvent::Finished { id });
        id
    }
}

impl Speaks for SilentVoice {
    fn say(&self, _text: &str, _lang: Lang, _elderly: bool) -> u64 {
        self.finish()
    }
    fn say_private(&self, _text: &str, _lang: Lang, _elderly: bool) -> u64 {
        self.finish()
    }
    fn stop(&self) {}
    fn events(&self) -> &Receiver<VoiceEvent> {
        &self.rx
    }
}

/// What the tour does in one pass through the kiosk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Pass {
    /// A whole interview to the hand-off.
    Full,
    /// Large text, then a red flag.
    ElderlyEmergency,
    /// Idle until "need more time?".
    Timeout,
    /// Consent declined.
    Declined,
}

struct Tour {
    app: KioskApp,
    actions: Sender<UiAction>,
    passes: Vec<(Lang, Pass)>,
    pass: usize,
    out: PathBuf,
    captured: BTreeSet<String>,
    last_view: Option<View>,
    stable_since: Instant,
    shooting: Option<Arc<AtomicBool>>,
    answered: usize,
    done: bool,
    errors: Arc<std::sync::Mutex<Vec<String>>>,
}

fn screen_name(view: &View) -> String {
    let lang = view.lang.code();
    let what = match &view.screen {
        Screen::Welcome => return "welcome".into(),
        Screen::Consent(ConsentStep::Ai) => "consent-ai".into(),
        Screen::Consent(ConsentStep::Data) => "consent-data".into(),
        Screen::Declined => "declined".into(),
        Screen::Interview => {
            let expect = view.question.as_ref().map(|q| {
                if q.id.starts_with("opening") {
                    "opening".to_owned()
                } else {
                    format!("{:?}", q.expect).to_lowercase()
                }
            });
            format!("question-{}", expect.unwrap_or_default())
        }
        Screen::ReadBack => "readback".into(),
        Screen::Correcting { .. } => "correcting".into(),
        Screen::Handoff(_) => "handoff".into(),
        Screen::Emergency { .. } => "emergency".into(),
        Screen::AskStaff => "ask-staff".into(),
    };
    let mut name = format!("{lang}-{what}");
    if view.elderly {
        name.push_str("-elderly");
    }
    if view.timeout_left_s.is_some() {
        name = format!("{lang}-more-time");
    }
    name
}

impl Tour {
    fn act(&mut self, view: &View) {
        let Some(&(lang, pass)) = self.passes.get(self.pass) else {
            self.done = true;
            return;
        };
        let send = |a: UiAction| {
            let _ = self.actions.try_send(a);
        };
        match &view.screen {
            Screen::Welcome => {
                if self.answered > 0 {
                    // Back at the start: the pass is over.
                    self.pass += 1;
                    self.answered = 0;
                    return self.act(view);
                }
                self.answered += 1;
                send(UiAction::ChooseLanguage(lang));
            }
            Screen::Consent(_) => send(UiAction::Consent(pass != Pass::Declined)),
            Screen::Declined | Screen::Handoff(_) | Screen::Emergency { .. } | Screen::AskStaff => {
                send(UiAction::EndSession)
            }
            Screen::ReadBack => {
                if !self.captured.contains(&format!("{}-correcting", lang.code()))
                    && let Some(line) = view.review.iter().find(|l| l.field == "slot:onset")
                {
                    send(UiAction::StartCorrection { field: line.field.clone(), label: line.label.clone() });
                } else {
                    send(UiAction::Answer(Touch::Yes));
                }
            }
            Screen::Correcting { .. } => send(UiAction::CancelCorrection),
            Screen::Interview => {
                if view.timeout_left_s.is_some() {
                    return send(UiAction::EndSession);
                }
                let Some(q) = &view.question else { return };
                match pass {
                    Pass::Timeout => {} // wait for "need more time?"
                    Pass::ElderlyEmergency => {
                        if !view.elderly {
                            send(UiAction::ToggleElderly);
                        } else {
                            let text = match lang {
                                Lang::Zh => "胸口压着疼，出了一身冷汗",
                                Lang::En => "crushing chest pain and I'm sweating all over",
                            };
                            send(UiAction::Text(text.into()));
                        }
                    }
                    Pass::Full | Pass::Declined => {
                        self.answered += 1;
                        let answer = match q.expect {
                            Expect::FreeText if q.id.starts_with("opening") => UiAction::Text(
                                match lang {
                                    Lang::Zh => "我肚子疼，从昨天晚上开始",
                                    Lang::En => "I have stomach pain since last night",
                                }
                                .into(),
                            ),
                            Expect::YesNo | Expect::FreeText => UiAction::Answer(Touch::No),
                            Expect::Confirm => UiAction::Answer(Touch::Yes),
                            Expect::Rating => UiAction::Answer(Touch::Rating(5)),
                            Expect::Age => UiAction::Answer(Touch::AgeYears(52.0)),
                            Expect::Sex => UiAction::Answer(Touch::Sex(Sex::Female)),
                            Expect::Duration => UiAction::Answer(Touch::DurationHours(10.0)),
                            Expect::Temperature => UiAction::Text("37.8".into()),
                        };
                        send(answer);
                    }
                }
            }
        }
    }

    fn shoot(&mut self, ctx: &egui::Context, name: String) {
        let path = self.out.join(format!("{name}.png"));
        let flag = Arc::new(AtomicBool::new(false));
        let done = Arc::clone(&flag);
        let errors = Arc::clone(&self.errors);
        ctx.request_screenshot(move |image| {
            if let Err(e) = save_png(&path, &image) {
                errors.lock().map(|mut v| v.push(format!("{}: {e}", path.display()))).ok();
            }
            done.store(true, Ordering::Release);
        });
        self.captured.insert(name);
        self.shooting = Some(flag);
    }
}

fn save_png(path: &Path, image: &egui::ColorImage) -> anyhow::Result<()> {
    let file = std::io::BufWriter::new(std::fs::File::create(path)?);
    let mut encoder = png::Encoder::new(file, image.size[0] as u32, image.size[1] as u32);
    encoder.set_color(png::ColorType::Rgba);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header()?;
    let bytes: Vec<u8> = image.pixels.iter().flat_map(|c| c.to_array()).collect();
    writer.write_image_data(&bytes)?;
    Ok(())
}

impl eframe::App for Tour {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        self.app.show(ui);
        let ctx = ui.ctx().clone();
        ctx.request_repaint_after(Duration::from_millis(50));
        if let Some(flag) = &self.shooting {
            if !flag.load(Ordering::Acquire) {
                return;
            }
            self.shooting = None;
        }
        if self.done {
            ctx.send_viewport_cmd(egui::ViewportCommand::Close);
            return;
        }
        let view = self.app.view().clone();
        if self.last_view.as_ref() != Some(&view) {
            self.last_view = Some(view);
            self.stable_since = Instant::now();
            return;
        }
        // Let the screen settle (layout, fonts) before it is photographed.
        if self.stable_since.elapsed() < Duration::from_millis(400) {
            return;
        }
        let name = screen_name(&view);
        if !self.captured.contains(&name) {
            return self.shoot(&ctx, name);
        }
        self.stable_since = Instant::now();
        self.act(&view);
    }
}

/// Runs the tour, writing PNGs to `out`; returns the names written.
pub fn run(config: &Config, out: &Path) -> anyhow::Result<Vec<String>> {
    std::fs::create_dir_all(out)?;
    let data = tempfile::tempdir()?;
    let engine = crate::window::engine(config)?;
    let sink = StoreSink::open(&data.path().join("cards.sqlite"), &config.kiosk_id)?;
    let (alert_tx, _alerts) = bounded(64);
    let timeouts = Timeouts { inactivity: Duration::from_secs(3), ..Timeouts::default() };
    let session = Session::new(
        engine,
        SessionConfig { timeouts, ..SessionConfig::from_config(config) },
        Instant::now(),
    );
    let parts = Parts {
        session,
        voice: Box::new(SilentVoice::default()),
        speech: None,
        sink: Box::new(sink),
        alerts: alert_tx,
    };
    let errors = Arc::new(std::sync::Mutex::new(Vec::new()));
    let captured = Arc::new(std::sync::Mutex::new(BTreeSet::new()));
    let options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_inner_size([1280.0, 800.0])
            .with_title("kiosk screenshots"),
        ..Default::default()
    };
    let (errors2, captured2, out2) = (Arc::clone(&errors), Arc::clone(&captured), out.to_owned());
    let mut passes = Vec::new();
    for lang in [Lang::Zh, Lang::En] {
        for pass in [Pass::Full, Pass::ElderlyEmergency, Pass::Timeout, Pass::Declined] {
            passes.push((lang, pass));
        }
    }
    let mut orchestrator_slot = None;
    let slot = &mut orchestrator_slot;
    eframe::run_native(
        "kiosk-screenshots",
        options,
        Box::new(move |cc| {
            crate::app::install_fonts(&cc.egui_ctx);
            let ctx = cc.egui_ctx.clone();
            let orchestrator = Orchestrator::spawn(parts, move || ctx.request_repaint())?;
            let app = KioskApp::new(
                orchestrator.actions.clone(),
                orchestrator.views.clone(),
                orchestrator.first.clone(),
            );
            let tour = Tour {
                app,
                actions: orchestrator.actions.clone(),
                passes,
                pass: 0,
                out: out2,
                captured: BTreeSet::new(),
                last_view: None,
                stable_since: Instant::now(),
                shooting: None,
                answered: 0,
                done: false,
                errors: errors2,
            };
            *slot = Some(orchestrator);
            Ok(Box::new(TourDone { tour, captured: captured2 }))
        }),
    )
    .map_err(|e| anyhow::anyhow!("the window could not be opened: {e}"))?;
    if let Some(o) = orchestrator_slot {
        o.join();
    }
    let errors = errors.lock().map(|e| e.clone()).unwrap_or_default();
    anyhow::ensure!(errors.is_empty(), "screenshots failed: {errors:?}");
    Ok(captured.lock().map(|c| c.iter().cloned().collect()).unwrap_or_default())
}

/// Copies the captured names out when the window closes.
struct TourDone {
    tour: Tour,
    captured: Arc<std::sync::Mutex<BTreeSet<String>>>,
}

impl eframe::App for TourDone {
    fn ui(&mut self, ui: &mut egui::Ui, frame: &mut eframe::Frame) {
        self.tour.ui(ui, frame);
        if let Ok(mut c) = self.captured.lock() {
            c.clone_from(&self.tour.captured);
        }
    }
}
