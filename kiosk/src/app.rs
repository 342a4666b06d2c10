//! The touch screen (eframe/egui). The UI thread only draws the latest [`View`] and turns touches
//! into [`UiAction`]s: it drains the orchestrator's views under a small time budget each frame and
//! is woken by the orchestrator when something changes. If the orchestrator stops answering, the
//! screen says "please ask staff" on its own.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, TryRecvError};
use dialogue::{Expect, Touch};
use egui::{Align, Color32, FontData, FontDefinitions, FontFamily, Layout, RichText, Vec2};
use protocol::{Lang, Sex};
use ui_assets::{PALETTE, Rgb};

use crate::session::{ConsentStep, Screen, UiAction, View, strings};

/// Longest the UI spends taking views off the channel per frame.
const DRAIN_BUDGET: Duration = Duration::from_millis(3);
/// An action unanswered for this long means the orchestrator is stuck.
const STALL_AFTER: Duration = Duration::from_secs(10);

fn color(c: Rgb) -> Color32 {
    Color32::from_rgb(c.0, c.1, c.2)
}

/// Registers the embedded CJK font after egui's own (Latin) fonts, for every text style.
pub fn install_fonts(ctx: &egui::Context) {
    let mut fonts = FontDefinitions::default();
    fonts
        .font_data
        .insert(ui_assets::CJK_FONT_NAME.to_owned(), Arc::new(FontData::from_static(ui_assets::CJK_FONT)));
    fonts.font_data.insert(
        ui_assets::EMOJI_FONT_NAME.to_owned(),
        Arc::new(FontData::from_static(ui_assets::EMOJI_FONT)),
    );
    for family in [FontFamily::Proportional, FontFamily::Monospace] {
        let list = fonts.families.entry(family).or_default();
        list.push(ui_assets::CJK_FONT_NAME.to_owned());
        list.push(ui_assets::EMOJI_FONT_NAME.to_owned());
    }
    ctx.set_fonts(fonts);
    let mut visuals = egui::Visuals::light();
    visuals.panel_fill = color(PALETTE.background);
    visuals.window_fill = color(PALETTE.panel);
    visuals.override_text_color = Some(color(PALETTE.text));
    visuals.widgets.inactive.weak_bg_fill = color(PALETTE.button);
    visuals.widgets.inactive.bg_fill = color(PALETTE.button);
    visuals.widgets.hovered.weak_bg_fill = color(PALETTE.button);
    visuals.selection.stroke.color = color(PALETTE.accent);
    ctx.set_visuals(visuals);
}

/// Sizes that change with the large-text mode.
#[derive(Clone, Copy, Debug)]
struct Sizes {
    body: f32,
    question: f32,
    title: f32,
    button: Vec2,
    wide_button: Vec2,
}

impl Sizes {
    fn new(elderly: bool) -> Self {
        if elderly {
            // Main text at least 30 pt, touch targets well above 60x60.
            Self {
                body: 34.0,
                question: 48.0,
                title: 52.0,
                button: Vec2::new(170.0, 96.0),
                wide_button: Vec2::new(420.0, 104.0),
            }
        } else {
            Self {
                body: 26.0,
                question: 38.0,
                title: 42.0,
                button: Vec2::new(130.0, 72.0),
                wide_button: Vec2::new(340.0, 84.0),
            }
        }
    }
}

/// The kiosk's window.
pub struct KioskApp {
    actions: Sender<UiAction>,
    views: Receiver<Arc<View>>,
    view: Arc<View>,
    /// Typed text (free-text answers, corrections).
    typed: String,
    /// Digits being entered (age, temperature).
    digits: String,
    generation: u64,
    awaiting: Option<Instant>,
    orchestrator_gone: bool,
}

impl std::fmt::Debug for KioskApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KioskApp").field("generation", &self.generation).finish_non_exhaustive()
    }
}

impl KioskApp {
    /// The window, talking to the orchestrator over `actions` and `views`, showing `first`
    /// until the first view arrives.
    pub fn new(actions: Sender<UiAction>, views: Receiver<Arc<View>>, first: View) -> Self {
        Self {
            actions,
            views,
            generation: first.generation,
            view: Arc::new(first),
            typed: String::new(),
            digits: String::new(),
            awaiting: None,
            orchestrator_gone: false,
        }
    }

    /// The view on screen.
    pub fn view(&self) -> &View {
        &self.view
    }

    /// What the patient has typed and not yet sent (wiped with the session).
    pub fn typed(&self) -> (&str, &str) {
        (&self.typed, &self.digits)
    }

    fn send(&mut self, action: UiAction) {
        if self.actions.try_send(action).is_err() {
            // Full (stuck) or gone: both end in "please ask staff" via the stall check.
            tracing::warn!("the session did not take a touch");
        }
        self.awaiting.get_or_insert_with(Instant::now);
    }

    fn drain(&mut self) {
        let start = Instant::now();
        loop {
            match self.views.try_recv() {
                Ok(view) => {
                    self.view = view;
                    self.awaiting = None;
                }
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    self.orchestrator_gone = true;
                    break;
                }
            }
            if start.elapsed() > DRAIN_BUDGET {
                break;
            }
        }
        if self.view.generation != self.generation {
            self.generation = self.view.generation;
            self.typed.clear();
            self.digits.clear();
        }
    }

    fn stalled(&self) -> bool {
        self.orchestrator_gone || self.awaiting.is_some_and(|t| t.elapsed() > STALL_AFTER)
    }

    /// Draws one frame.
    pub fn show(&mut self, ui: &mut egui::Ui) {
        self.drain();
        let view = Arc::clone(&self.view);
        let s = strings(view.lang);
        let sz = Sizes::new(view.elderly);
        ui.ctx().request_repaint_after(Duration::from_millis(250));

        egui::Panel::top("top").show(ui, |ui| {
            ui.add_space(6.0);
            ui.horizontal(|ui| {
                ui.label(RichText::new(&view.hospital).size(sz.body).strong());
                ui.label(RichText::new(s.get("app_title")).size(sz.body).color(color(PALETTE.muted)));
                ui.with_layout(Layout::right_to_left(Align::Center), |ui| {
                    let staff = egui::Button::new(
                        RichText::new(format!("☎ {}", s.get("call_staff")))
                            .size(sz.body)
                            .color(color(PALETTE.staff_text)),
                    )
                    .fill(color(PALETTE.staff))
                    .min_size(sz.button);
                    if ui.add(staff).clicked() {
                        self.send(UiAction::CallStaff);
                    }
                    let mode = if view.elderly { s.get("elderly_off") } else { s.get("elderly_on") };
                    let mode = egui::Button::new(RichText::new(format!("👓 {mode}")).size(sz.body))
                        .min_size(sz.button);
                    if ui.add(mode).clicked() {
                        self.send(UiAction::ToggleElderly);
                    }
                });
            });
            ui.add_space(6.0);
        });

        egui::Panel::bottom("voice").show(ui, |ui| {
            ui.add_space(6.0);
            self.voice_bar(ui, &view, sz);
            ui.add_space(6.0);
        });

        egui::CentralPanel::default_margins().show(ui, |ui| {
            if self.stalled() {
                ask_staff(ui, &view, sz, None);
                return;
            }
            match &view.screen {
                Screen::Welcome => self.welcome(ui, &view, sz),
                Screen::Consent(step) => self.consent(ui, &view, *step, sz),
                Screen::Declined => self.declined(ui, &view, sz),
                Screen::Interview => self.interview(ui, &view, sz),
                Screen::ReadBack => self.read_back(ui, &view, sz),
                Screen::Correcting { field, label } => self.correcting(ui, &view, field, label, sz),
                Screen::Handoff(h) => self.handoff(ui, &view, h, sz),
                Screen::Emergency { instructions } => emergency(ui, &view, instructions, sz),
                Screen::AskStaff => {
                    if let Some(action) = ask_staff(ui, &view, sz, Some(())) {
                        self.send(action);
                    }
                }
            }
            if view.staff_called && !matches!(view.screen, Screen::Emergency { .. } | Screen::AskStaff) {
                ui.add_space(8.0);
                ui.label(RichText::new(format!("☎ {}", s.get("staff_called"))).size(sz.body).strong());
            }
        });

        if let Some(left) = view.timeout_left_s {
            egui::Modal::new(egui::Id::unique("more-time")).show(ui.ctx(), |ui| {
                ui.set_min_width(600.0);
                ui.label(RichText::new(s.get("timeout_question")).size(sz.question).strong());
                ui.label(
                    RichText::new(s.fill("timeout_seconds", &[("seconds", &left.to_string())]))
                        .size(sz.body)
                        .color(color(PALETTE.muted)),
                );
                ui.horizontal(|ui| {
                    if primary(ui, s.get("timeout_more"), sz.wide_button, sz.body).clicked() {
                        self.send(UiAction::MoreTime);
                    }
                    if big(ui, s.get("timeout_end"), sz.button, sz.body).clicked() {
                        self.send(UiAction::EndSession);
                    }
                });
            });
        }
    }

    fn voice_bar(&mut self, ui: &mut egui::Ui, view: &View, sz: Sizes) {
        let s = strings(view.lang);
        ui.horizontal(|ui| {
            if matches!(view.screen, Screen::Interview | Screen::ReadBack | Screen::Consent(_))
                && big(ui, &format!("🔁 {}", s.get("repeat")), sz.button, sz.body).clicked()
            {
                self.send(UiAction::Repeat);
            }
            if !view.mic_ok {
                ui.label(RichText::new(format!("🎤✖ {}", s.get("mic_unavailable"))).size(sz.body));
                return;
            }
            if view.speaking {
                ui.label(RichText::new(format!("🔊 {}", s.get("speaking"))).size(sz.body));
            } else if view.listening {
                ui.label(
                    RichText::new(format!("🎤 {}", s.get("listening")))
                        .size(sz.body)
                        .color(color(PALETTE.accent)),
                );
                let bar = egui::ProgressBar::new((view.level * 8.0).clamp(0.0, 1.0))
                    .desired_width(160.0)
                    .fill(color(PALETTE.accent));
                ui.add(bar);
            }
            if let Some(partial) = &view.partial {
                ui.label(RichText::new(format!("… {partial}")).size(sz.body).italics());
            } else if let Some(heard) = &view.heard {
                ui.label(RichText::new(format!("{} {heard}", s.get("you_said"))).size(sz.body));
            }
        });
    }

    fn welcome(&mut self, ui: &mut egui::Ui, view: &View, sz: Sizes) {
        ui.vertical_centered(|ui| {
            ui.add_space(40.0);
            for lang in &view.languages {
                ui.label(RichText::new(strings(*lang).get("welcome_title")).size(sz.title).strong());
            }
            ui.add_space(20.0);
            for lang in &view.languages {
                ui.label(
                    RichText::new(format!("🎤 {}", strings(*lang).get("welcome_hint")))
                        .size(sz.body)
                        .color(color(PALETTE.muted)),
                );
            }
            ui.add_space(40.0);
            ui.horizontal(|ui| {
                let total = view.languages.len() as f32 * (sz.wide_button.x + 24.0);
                ui.add_space(((ui.available_width() - total) / 2.0).max(0.0));
                for lang in &view.languages {
                    let label = match lang {
                        Lang::Zh => "中文",
                        Lang::En => "English",
                    };
                    if primary(ui, label, sz.wide_button, sz.question).clicked() {
                        self.send(UiAction::ChooseLanguage(*lang));
                    }
                    ui.add_space(24.0);
                }
            });
        });
    }

    fn consent(&mut self, ui: &mut egui::Ui, view: &View, step: ConsentStep, sz: Sizes) {
        let s = strings(view.lang);
        let days = view.retention_days.to_string();
        ui.label(RichText::new(s.get("consent_title")).size(sz.title).strong());
        ui.add_space(16.0);
        let (notice, question) = match step {
            ConsentStep::Ai => (s.get("consent_ai").to_owned(), s.get("consent_ai_q")),
            ConsentStep::Data => (s.fill("consent_data", &[("days", &days)]), s.get("consent_data_q")),
        };
        panel(ui, |ui| {
            ui.label(RichText::new(notice).size(sz.body));
        });
        ui.add_space(16.0);
        ui.label(RichText::new(question).size(sz.question).strong());
        ui.add_space(16.0);
        ui.horizontal(|ui| {
            if primary(ui, &format!("✔ {}", s.get("agree")), sz.wide_button, sz.question).clicked() {
                self.send(UiAction::Consent(true));
            }
            ui.add_space(24.0);
            if big(ui, &format!("✖ {}", s.get("decline")), sz.wide_button, sz.question).clicked() {
                self.send(UiAction::Consent(false));
            }
        });
    }

    fn declined(&mut self, ui: &mut egui::Ui, view: &View, sz: Sizes) {
        let s = strings(view.lang);
        ui.add_space(40.0);
        ui.label(RichText::new(s.get("declined")).size(sz.question).strong());
        ui.add_space(24.0);
        if primary(ui, s.get("start_over"), sz.wide_button, sz.body).clicked() {
            self.send(UiAction::EndSession);
        }
    }

    fn question_box(&mut self, ui: &mut egui::Ui, view: &View, sz: Sizes) {
        for said in &view.said {
            ui.label(RichText::new(said).size(sz.body).color(color(PALETTE.muted)));
        }
        if let Some(q) = &view.question {
            panel(ui, |ui| {
                ui.label(RichText::new(&q.text).size(sz.question).strong());
            });
        }
    }

    fn interview(&mut self, ui: &mut egui::Ui, view: &View, sz: Sizes) {
        let s = strings(view.lang);
        egui::ScrollArea::vertical().show(ui, |ui| {
            self.question_box(ui, view, sz);
            ui.add_space(12.0);
            let Some(q) = view.question.clone() else { return };
            match q.expect {
                Expect::YesNo => self.yes_no(ui, view, sz),
                Expect::Confirm => {
                    ui.horizontal(|ui| {
                        if primary(ui, &format!("✔ {}", s.get("yes")), sz.button, sz.question).clicked() {
                            self.send(UiAction::Answer(Touch::Yes));
                        }
                        if big(ui, &format!("✖ {}", s.get("no")), sz.button, sz.question).clicked() {
                            self.send(UiAction::Answer(Touch::No));
                        }
                    });
                }
                Expect::Rating => self.pain_faces(ui, view, sz),
                Expect::Sex => {
                    ui.horizontal(|ui| {
                        if big(ui, s.get("male"), sz.wide_button, sz.question).clicked() {
                            self.send(UiAction::Answer(Touch::Sex(Sex::Male)));
                        }
                        if big(ui, s.get("female"), sz.wide_button, sz.question).clicked() {
                            self.send(UiAction::Answer(Touch::Sex(Sex::Female)));
                        }
                    });
                }
                Expect::Age => self.keypad(ui, view, sz, false),
                Expect::Temperature => self.keypad(ui, view, sz, true),
                Expect::Duration => self.durations(ui, view, sz),
                Expect::FreeText => {
                    if q.id.starts_with("opening") {
                        self.regions(ui, view, sz);
                    } else {
                        self.yes_no(ui, view, sz);
                    }
                    self.typing(ui, view, sz);
                }
            }
        });
    }

    fn yes_no(&mut self, ui: &mut egui::Ui, view: &View, sz: Sizes) {
        let s = strings(view.lang);
        ui.horizontal_wrapped(|ui| {
            if big(ui, &format!("✔ {}", s.get("yes")), sz.button, sz.question).clicked() {
                self.send(UiAction::Answer(Touch::Yes));
            }
            if big(ui, &format!("✖ {}", s.get("no")), sz.button, sz.question).clicked() {
                self.send(UiAction::Answer(Touch::No));
            }
            if big(ui, &format!("？ {}", s.get("dont_know")), sz.button, sz.body).clicked() {
                self.send(UiAction::Answer(Touch::DontKnow));
            }
        });
    }

    fn pain_faces(&mut self, ui: &mut egui::Ui, view: &View, sz: Sizes) {
        let s = strings(view.lang);
        const FACES: [&str; 11] = ["😀", "☺", "☺", "😐", "😐", "😕", "😟", "😣", "😖", "😫", "😭"];
        ui.horizontal(|ui| {
            ui.label(RichText::new(format!("0 = {}", s.get("pain_none"))).size(sz.body));
            ui.add_space(30.0);
            ui.label(RichText::new(format!("10 = {}", s.get("pain_worst"))).size(sz.body));
        });
        ui.horizontal_wrapped(|ui| {
            for (n, face) in FACES.iter().enumerate() {
                let b = egui::Button::new(RichText::new(format!("{n}\n{face}")).size(sz.question))
                    .min_size(Vec2::new(sz.button.y * 1.1, sz.button.y * 1.6));
                if ui.add(b).clicked() {
                    self.send(UiAction::Answer(Touch::Rating(n as u8)));
                }
            }
        });
    }

    fn keypad(&mut self, ui: &mut egui::Ui, view: &View, sz: Sizes, decimal: bool) {
        let s = strings(view.lang);
        let key = Vec2::new(sz.button.y * 1.3, sz.button.y * 0.9);
        ui.horizontal(|ui| {
            ui.vertical(|ui| {
                for row in [["1", "2", "3"], ["4", "5", "6"], ["7", "8", "9"]] {
                    ui.horizontal(|ui| {
                        for k in row {
                            if big(ui, k, key, sz.question).clicked() && self.digits.len() < 5 {
                                self.digits.push_str(k);
                            }
                        }
                    });
                }
                ui.horizontal(|ui| {
                    if decimal && big(ui, ".", key, sz.question).clicked() && !self.digits.contains('.') {
                        self.digits.push('.');
                    }
                    if big(ui, "0", key, sz.question).clicked() && self.digits.len() < 5 {
                        self.digits.push('0');
                    }
                    if big(ui, s.get("clear"), key, sz.body).clicked() {
                        self.digits.clear();
                    }
                });
            });
            ui.add_space(24.0);
            ui.vertical(|ui| {
                panel(ui, |ui| {
                    let shown = if self.digits.is_empty() { "—" } else { &self.digits };
                    ui.label(RichText::new(shown).size(sz.title).strong());
                });
                ui.add_space(8.0);
                if decimal {
                    if primary(ui, &format!("✔ {}", s.get("send")), sz.wide_button, sz.question).clicked()
                        && let Ok(t) = self.digits.parse::<f32>()
                    {
                        let text =
                            if view.lang == Lang::Zh { format!("{t}度") } else { format!("{t} degrees") };
                        self.digits.clear();
                        self.send(UiAction::Text(text));
                    }
                    if big(ui, s.get("dont_know"), sz.wide_button, sz.body).clicked() {
                        self.send(UiAction::Answer(Touch::DontKnow));
                    }
                } else {
                    if primary(ui, &format!("✔ {}", s.get("age_years")), sz.wide_button, sz.question)
                        .clicked()
                        && let Ok(y) = self.digits.parse::<f64>()
                    {
                        self.digits.clear();
                        self.send(UiAction::Answer(Touch::AgeYears(y)));
                    }
                    if big(ui, s.get("age_months"), sz.wide_button, sz.body).clicked()
                        && let Ok(m) = self.digits.parse::<f64>()
                    {
                        self.digits.clear();
                        self.send(UiAction::Answer(Touch::AgeMonths(m)));
                    }
                }
            });
        });
    }

    fn durations(&mut self, ui: &mut egui::Ui, view: &View, sz: Sizes) {
        let s = strings(view.lang);
        ui.horizontal_wrapped(|ui| {
            for (key, hours) in [
                ("duration_hours", 3.0),
                ("duration_today", 10.0),
                ("duration_days", 60.0),
                ("duration_week", 168.0),
                ("duration_month", 24.0 * 45.0),
            ] {
                if big(ui, s.get(key), sz.wide_button, sz.body).clicked() {
                    self.send(UiAction::Answer(Touch::DurationHours(hours)));
                }
            }
            if big(ui, s.get("dont_know"), sz.button, sz.body).clicked() {
                self.send(UiAction::Answer(Touch::DontKnow));
            }
        });
    }

    fn regions(&mut self, ui: &mut egui::Ui, view: &View, sz: Sizes) {
        let s = strings(view.lang);
        ui.label(RichText::new(s.get("region_title")).size(sz.body).strong());
        ui.horizontal_wrapped(|ui| {
            for key in [
                "region_head",
                "region_chest",
                "region_abdomen",
                "region_back",
                "region_throat",
                "region_limbs",
                "region_skin",
                "region_fever",
                "region_breathing",
                "region_cough",
            ] {
                if big(ui, s.get(key), sz.button, sz.body).clicked() {
                    let text = region_complaint(key, view.lang).to_owned();
                    self.send(UiAction::Answer(Touch::Option(text)));
                }
            }
        });
    }

    fn typing(&mut self, ui: &mut egui::Ui, view: &View, sz: Sizes) {
        let s = strings(view.lang);
        ui.add_space(8.0);
        ui.horizontal(|ui| {
            let edit = egui::TextEdit::singleline(&mut self.typed)
                .hint_text(RichText::new(s.get("type_answer")).size(sz.body).color(color(PALETTE.muted)))
                .font(egui::FontId::proportional(sz.body))
                .margin(egui::Margin::same(12))
                .min_size(Vec2::new(0.0, sz.button.y))
                .desired_width(ui.available_width() - sz.button.x - 20.0);
            let response = ui.add(edit.char_limit(500));
            response
                .widget_info(|| egui::WidgetInfo::labeled(egui::Role::TextInput, true, s.get("type_answer")));
            let enter = response.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
            if (primary(ui, s.get("send"), sz.button, sz.body).clicked() || enter)
                && !self.typed.trim().is_empty()
            {
                let text = std::mem::take(&mut self.typed);
                self.send(UiAction::Text(text));
            }
        });
    }

    fn read_back(&mut self, ui: &mut egui::Ui, view: &View, sz: Sizes) {
        let s = strings(view.lang);
        ui.label(RichText::new(s.get("readback_title")).size(sz.title).strong());
        ui.label(RichText::new(s.get("readback_change")).size(sz.body).color(color(PALETTE.muted)));
        egui::ScrollArea::vertical().max_height(ui.available_height() - sz.wide_button.y * 2.2).show(
            ui,
            |ui| {
                for line in &view.review {
                    let text = format!("{}：{}", line.label, line.value);
                    let b = egui::Button::new(RichText::new(text).size(sz.body))
                        .min_size(Vec2::new(ui.available_width(), sz.button.y * 0.8));
                    let clicked = ui.add(b).clicked();
                    if clicked && !line.field.is_empty() {
                        self.send(UiAction::StartCorrection {
                            field: line.field.clone(),
                            label: line.label.clone(),
                        });
                    }
                }
                if let Some(n) = &view.narrative {
                    ui.add_space(8.0);
                    egui::Frame::group(ui.style()).show(ui, |ui| {
                        ui.set_width(ui.available_width());
                        ui.label(RichText::new(s.get("readback_summary")).size(sz.body).strong());
                        let note = if n.writing {
                            Some(format!("✍ {}", s.get("readback_summary_writing")))
                        } else if n.drafted {
                            Some(s.get("readback_summary_drafted").to_owned())
                        } else {
                            None
                        };
                        if let Some(note) = note {
                            ui.label(RichText::new(note).size(sz.body * 0.8).color(color(PALETTE.muted)));
                        }
                        ui.label(RichText::new(&n.text).size(sz.body));
                    });
                }
            },
        );
        if let Some(notice) = &view.notice {
            ui.label(RichText::new(format!("⚠ {notice}")).size(sz.body).strong());
        }
        ui.add_space(8.0);
        ui.label(RichText::new(s.get("readback_question")).size(sz.question).strong());
        ui.horizontal(|ui| {
            if primary(ui, &format!("✔ {}", s.get("readback_yes")), sz.wide_button, sz.body).clicked() {
                self.send(UiAction::Answer(Touch::Yes));
            }
        });
    }

    fn correcting(&mut self, ui: &mut egui::Ui, view: &View, field: &str, label: &str, sz: Sizes) {
        let s = strings(view.lang);
        ui.label(RichText::new(format!("{label} — {}", s.get("correcting"))).size(sz.question).strong());
        ui.add_space(12.0);
        let line = view.review.iter().find(|l| l.field == field);
        if let Some(line) = line {
            panel(ui, |ui| {
                ui.label(RichText::new(&line.value).size(sz.body).color(color(PALETTE.muted)));
            });
        }
        if field.starts_with("finding:") {
            self.yes_no(ui, view, sz);
        }
        self.typing(ui, view, sz);
        if big(ui, s.get("cancel"), sz.button, sz.body).clicked() {
            self.send(UiAction::CancelCorrection);
        }
    }

    fn handoff(&mut self, ui: &mut egui::Ui, view: &View, h: &crate::session::Handoff, sz: Sizes) {
        let s = strings(view.lang);
        ui.label(RichText::new(format!("✔ {}", s.get("handoff_title"))).size(sz.title).strong());
        ui.add_space(12.0);
        ui.horizontal(|ui| {
            ui.vertical(|ui| {
                ui.label(RichText::new(s.get("handoff_number")).size(sz.body));
                ui.label(RichText::new(&h.number).size(sz.title * 1.6).strong());
                ui.add_space(8.0);
                ui.label(RichText::new(s.get("handoff_go")).size(sz.body));
                ui.label(RichText::new(&h.department).size(sz.question).strong());
                if let Some(loc) = &h.location {
                    ui.label(RichText::new(loc).size(sz.body));
                }
                ui.label(
                    RichText::new(format!("{} {}{}", s.get("handoff_level"), h.level, s.get("level")))
                        .size(sz.body),
                );
                if let Some(advice) = &h.advice {
                    ui.label(RichText::new(advice).size(sz.body));
                }
            });
            ui.add_space(40.0);
            ui.vertical(|ui| {
                qr_code(ui, &h.card_id, if view.elderly { 260.0 } else { 220.0 });
                ui.label(RichText::new(s.get("handoff_qr")).size(sz.body * 0.8));
            });
        });
        ui.add_space(16.0);
        if primary(ui, s.get("done"), sz.wide_button, sz.question).clicked() {
            self.send(UiAction::EndSession);
        }
    }
}

fn emergency(ui: &mut egui::Ui, view: &View, instructions: &[String], sz: Sizes) {
    let s = strings(view.lang);
    let rect = ui.max_rect();
    ui.painter().rect_filled(rect, 0.0, color(PALETTE.danger));
    ui.vertical_centered(|ui| {
        ui.add_space(30.0);
        let text =
            |t: &str, size: f32| RichText::new(t).size(size).color(color(PALETTE.danger_text)).strong();
        ui.label(text(&format!("⚠ {}", s.get("emergency_title")), sz.title));
        ui.add_space(20.0);
        for line in instructions {
            ui.label(text(line, sz.question));
        }
        ui.add_space(20.0);
        ui.label(text(&format!("☎ {}", s.get("emergency_alerted")), sz.body));
    });
}

/// "Please ask staff". With `resume`, staff can take the session up again.
fn ask_staff(ui: &mut egui::Ui, view: &View, sz: Sizes, resume: Option<()>) -> Option<UiAction> {
    let s = strings(view.lang);
    ui.add_space(40.0);
    ui.label(RichText::new(format!("☎ {}", s.get("ask_staff_title"))).size(sz.title).strong());
    ui.add_space(16.0);
    ui.label(RichText::new(s.get("ask_staff_body")).size(sz.question));
    let mut action = None;
    if resume.is_some() {
        ui.add_space(30.0);
        // For staff: resume where the patient was.
        if big(ui, "↩ 继续 / Resume", sz.wide_button, sz.body).clicked() {
            action = Some(UiAction::StaffResume);
        }
    }
    action
}

/// What a body-region chip says as an opening complaint.
fn region_complaint(key: &str, lang: Lang) -> &'static str {
    let zh = lang == Lang::Zh;
    match key {
        "region_head" => {
            if zh {
                "头痛"
            } else {
                "headache"
            }
        }
        "region_chest" => {
            if zh {
                "胸口痛"
            } else {
                "chest pain"
            }
        }
        "region_abdomen" => {
            if zh {
                "肚子痛"
            } else {
                "stomach ache"
            }
        }
        "region_back" => {
            if zh {
                "腰背痛"
            } else {
                "back pain"
            }
        }
        "region_throat" => {
            if zh {
                "喉咙痛"
            } else {
                "sore throat"
            }
        }
        "region_limbs" => {
            if zh {
                "手脚痛"
            } else {
                "pain in my arm or leg"
            }
        }
        "region_skin" => {
            if zh {
                "皮疹"
            } else {
                "a skin rash"
            }
        }
        "region_fever" => {
            if zh {
                "发烧"
            } else {
                "fever"
            }
        }
        "region_breathing" => {
            if zh {
                "喘不上气"
            } else {
                "short of breath"
            }
        }
        _ => {
            if zh {
                "咳嗽"
            } else {
                "cough"
            }
        }
    }
}

fn panel(ui: &mut egui::Ui, add: impl FnOnce(&mut egui::Ui)) {
    egui::Frame::new()
        .fill(color(PALETTE.panel))
        .stroke(egui::Stroke::new(1.0, color(PALETTE.muted)))
        .corner_radius(10.0)
        .inner_margin(16.0)
        .show(ui, |ui| {
            ui.set_width(ui.available_width());
            add(ui);
        });
}

fn big(ui: &mut egui::Ui, text: &str, min: Vec2, size: f32) -> egui::Response {
    ui.add(egui::Button::new(RichText::new(text).size(size).color(color(PALETTE.button_text))).min_size(min))
}

fn primary(ui: &mut egui::Ui, text: &str, min: Vec2, size: f32) -> egui::Response {
    ui.add(
        egui::Button::new(RichText::new(text).size(size).color(color(PALETTE.primary_text)))
            .fill(color(PALETTE.primary))
            .min_size(min),
    )
}

/// The card id as a QR code, drawn module by module (no image files).
fn qr_code(ui: &mut egui::Ui, data: &str, side: f32) {
    let Ok(code) = qrcode::QrCode::new(data.as_bytes()) else { return };
    let width = code.width();
    let colors = code.to_colors();
    let quiet = 2.0;
    let module = side / (width as f32 + 2.0 * quiet);
    let (rect, response) = ui.allocate_exact_size(Vec2::splat(side), egui::Sense::hover());
    response.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Image, true, "QR"));
    let painter = ui.painter_at(rect);
    painter.rect_filled(rect, 0.0, Color32::WHITE);
    for (i, c) in colors.iter().enumerate() {
        if *c == qrcode::Color::Dark {
            let (x, y) = ((i % width) as f32, (i / width) as f32);
            let min = rect.min + Vec2::new((x + quiet) * module, (y + quiet) * module);
            painter.rect_filled(egui::Rect::from_min_size(min, Vec2::splat(module)), 0.0, Color32::BLACK);
        }
    }
}

impl eframe::App for KioskApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        self.show(ui);
    }
}
