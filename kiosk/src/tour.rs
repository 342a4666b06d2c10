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
        self.shooting = Some(screenshot(ctx, self.out.join(format!("{name}.png")), &self.errors));
        self.captured.insert(name);
    }
}

/// Asks for a screenshot of the next frame, saved as a PNG at `path`; the flag is set once it is
/// written (failures go to `errors`).
fn screenshot(
    ctx: &egui::Context,
    path: PathBuf,
    errors: &Arc<std::sync::Mutex<Vec<String>>>,
) -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
    let done = Arc::clone(&flag);
    let errors = Arc::clone(errors);
    ctx.request_screenshot(move |image| {
        if let Err(e) = save_png(&path, &image) {
            errors.lock().map(|mut v| v.push(format!("{}: {e}", path.display()))).ok();
        }
        done.store(true, Ordering::Release);
    });
    flag
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
        assist: None,
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

/// `kiosk screenshots --station`: the nurse station in a real window against a real service on
/// loopback with a throw-away store: cards from the intake cases received over the last hour, a
/// red-flag alert, the sign-in screen, the queue, an open card in both languages.
pub fn station(out: &Path) -> anyhow::Result<Vec<String>> {
    use service::client::HttpDelivery;
    use store::alerts::{AlertKind, NewAlert};
    use store::outbox::Deliver as _;

    std::fs::create_dir_all(out)?;
    let data = tempfile::tempdir()?;
    let db = data.path().join("station.sqlite");
    let password = "tour-password-1234";
    let kb = Arc::new(dialogue::KnowledgeBase::embedded()?);
    let engine = Arc::new(dialogue::Engine::new(Arc::clone(&kb), dialogue::InterviewConfig::default()));
    // A spread of complaints and levels from the intake cases.
    let cards: Vec<_> = dialogue::eval::intake_cards(&engine, 140).into_iter().step_by(11).take(12).collect();
    let token = {
        let mut store = store::SqliteStore::open(&db)?;
        let admin = store::Actor::Staff("tour".into());
        store
            .set_account(
                "nurse-wang",
                store::accounts::Role::Nurse,
                password,
                &Default::default(),
                &admin,
                0,
            )?
            .map_err(anyhow::Error::msg)?;
        let token = store.register_device("lobby-1", &admin, 0)?;
        // Cards received over the last hour, so the clocks show waiting and overdue cards.
        let now = crate::orchestrator::unix_ms();
        let kiosk = store::Actor::Kiosk("lobby-1".into());
        use store::CardStore as _;
        for (i, card) in cards.iter().take(11).enumerate() {
            let card =
                protocol::ConditionCard { queue_number: Some(format!("A{:03}", i + 1)), ..card.clone() };
            store.submit(&card, &card.card_id, &kiosk, now - (56 - 5 * i as u64) * 60_000)?;
        }
        token
    };
    let running = service::spawn(&db, "127.0.0.1:0".parse()?, service::ServiceConfig::default())?;
    let url = format!("http://{}", running.addr);
    let mut kiosk = HttpDelivery::new(&url, &token);
    kiosk
        .alert(&NewAlert {
            key: "tour-1".into(),
            kind: AlertKind::RedFlag,
            card_id: None,
            level: Some(1),
            detail: "RF-STROKE-BEFAST".into(),
        })
        .map_err(anyhow::Error::msg)?;
    kiosk.deliver(&cards[11], &cards[11].card_id).map_err(anyhow::Error::msg)?;
    let captured = Arc::new(std::sync::Mutex::new(Vec::new()));
    let errors = Arc::new(std::sync::Mutex::new(Vec::new()));
    let (captured2, errors2, out2) = (Arc::clone(&captured), Arc::clone(&errors), out.to_owned());
    let options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_inner_size([1440.0, 900.0])
            .with_title("station screenshots"),
        ..Default::default()
    };
    eframe::run_native(
        "station-screenshots",
        options,
        Box::new(move |cc| {
            crate::app::install_fonts(&cc.egui_ctx);
            let ctx = cc.egui_ctx.clone();
            let config = crate::nurse::NurseConfig { url, response_minutes: [0, 10, 30, 240], ca_pem: None };
            let app = crate::nurse::NurseApp::start(config, kb, move || ctx.request_repaint())?;
            Ok(Box::new(StationTour {
                app,
                step: 0,
                since: Instant::now(),
                shooting: None,
                out: out2,
                captured: captured2,
                errors: errors2,
                password: password.to_owned(),
            }))
        }),
    )
    .map_err(|e| anyhow::anyhow!("the window could not be opened: {e}"))?;
    running.stop();
    let errors = errors.lock().map(|e| e.clone()).unwrap_or_default();
    anyhow::ensure!(errors.is_empty(), "screenshots failed: {errors:?}");
    Ok(captured.lock().map(|c| c.clone()).unwrap_or_default())
}

struct StationTour {
    app: crate::nurse::NurseApp,
    step: usize,
    since: Instant,
    shooting: Option<Arc<AtomicBool>>,
    out: PathBuf,
    captured: Arc<std::sync::Mutex<Vec<String>>>,
    errors: Arc<std::sync::Mutex<Vec<String>>>,
    password: String,
}

impl StationTour {
    fn shoot(&mut self, ctx: &egui::Context, name: &str) {
        self.shooting = Some(screenshot(ctx, self.out.join(format!("{name}.png")), &self.errors));
        self.captured.lock().map(|mut c| c.push(name.to_owned())).ok();
    }
}

impl eframe::App for StationTour {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        self.app.show(ui);
        let ctx = ui.ctx().clone();
        ctx.request_repaint_after(Duration::from_millis(50));
        if let Some(flag) = &self.shooting {
            if !flag.load(Ordering::Acquire) {
                return;
            }
            self.shooting = None;
            self.step += 1;
            self.since = Instant::now();
        }
        let settled = self.since.elapsed() > Duration::from_millis(600);
        let timed_out = self.since.elapsed() > Duration::from_secs(20);
        if timed_out {
            self.errors.lock().map(|mut e| e.push(format!("station tour stuck at step {}", self.step))).ok();
            ctx.send_viewport_cmd(egui::ViewportCommand::Close);
            return;
        }
        match self.step {
            0 if settled => self.shoot(&ctx, "station-sign-in"),
            1 => {
                self.app.sign_in_as("nurse-wang", &self.password.clone());
                self.step = 2;
            }
            2 if settled && self.app.queue().len() >= 10 && !self.app.alerts().is_empty() => {
                self.shoot(&ctx, "station-queue");
            }
            3 => {
                if let Some(id) = self
                    .app
                    .queue()
                    .iter()
                    .find(|q| q.level == 2)
                    .or(self.app.queue().first())
                    .map(|q| q.card_id.clone())
                {
                    self.app.open(&id);
                }
                self.step = 4;
                self.since = Instant::now();
            }
            4 if settled && self.app.open_card().is_some() => self.shoot(&ctx, "station-card"),
            5 => {
                self.app.set_lang(Lang::En);
                self.step = 6;
                self.since = Instant::now();
            }
            6 if settled => self.shoot(&ctx, "station-card-en"),
            7 => ctx.send_viewport_cmd(egui::ViewportCommand::Close),
            _ => {}
        }
    }
}
