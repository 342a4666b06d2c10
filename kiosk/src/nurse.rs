//! `kiosk nurse`: the nurse station. A guide nurse signs in, watches the live queue of every
//! kiosk's cards (by pre-triage level, then waiting time, with each card's response clock and
//! overdue cards highlighted), sees staff alerts the moment a kiosk raises them, opens a card with
//! the source of every answer, and edits a field, changes the level or department (with a reason),
//! approves it or marks the patient seen. Every read and change is audited by the service. A 现病史
//! the kiosk's language model is still writing for a card already sent streams into that card's
//! view, marked as not yet checked; when the checked text lands on the card, the card is read again.
//!
//! Threads: the UI never waits on the network. A `nurse-net` thread runs the nurse's requests; a
//! `nurse-events` thread holds the service's long poll open and sends a fresh queue and alert list
//! whenever anything changes. Both talk to the UI over bounded channels and wake it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, bounded};
use dialogue::KnowledgeBase;
use egui::{Color32, RichText};
use protocol::{ConditionCard, Department, Lang};
use service::client::{ApiError, CardRecord, LiveDraft, StaffChange, StationClient};
use store::alerts::{AlertKind, StoredAlert};
use store::{AuditEntry, QueueEntry, Status};

/// Seconds the event poll waits at the service before asking again (also the longest the station
/// takes to close).
const POLL_WAIT_S: u64 = 5;

/// What the station needs to know.
#[derive(Clone, Debug)]
pub struct NurseConfig {
    /// The station service, `http://host:port`.
    pub url: String,
    /// Minutes within which a card of level 1-4 should be seen.
    pub response_minutes: [u32; 4],
    /// The station CA to trust for HTTPS (`None`: the public web roots).
    pub ca_pem: Option<Vec<u8>>,
}

/// A request from the nurse.
#[derive(Debug)]
enum Job {
    SignIn { name: String, password: String },
    SignOut,
    Open(String),
    Change { id: String, version: u32, change: StaffChange },
    Acknowledge(u64),
}

/// An answer for the screen.
#[derive(Debug)]
enum Reply {
    SignedIn(String),
    SignInFailed(String),
    SignedOut(Option<String>),
    Snapshot { queue: Vec<QueueEntry>, alerts: Vec<StoredAlert>, drafts: Vec<LiveDraft> },
    Unreachable(String),
    Card(Box<CardRecord>, Vec<AuditEntry>),
    Done(String),
    Failed(String),
}

type Wake = Arc<dyn Fn() + Send + Sync>;

fn unix_ms() -> u64 {
    crate::orchestrator::unix_ms()
}

/// The network side: runs jobs, and the event poll while signed in.
fn net(mut client: StationClient, jobs: &Receiver<Job>, replies: &Sender<Reply>, wake: &Wake) {
    let mut poll: Option<(Arc<AtomicBool>, JoinHandle<()>)> = None;
    let send = |r: Reply| {
        let _ = replies.send(r);
        wake();
    };
    let stop_poll = |poll: &mut Option<(Arc<AtomicBool>, JoinHandle<()>)>| {
        if let Some((stop, thread)) = poll.take() {
            stop.store(true, Ordering::Relaxed);
            let _ = thread.join();
        }
    };
    for job in jobs {
        let result = match job {
            Job::SignIn { name, password } => {
                stop_poll(&mut poll);
                match client.sign_in(&name, &password) {
                    Ok(()) => {
                        send(Reply::SignedIn(name));
                        let stop = Arc::new(AtomicBool::new(false));
                        let (c, s, r, w) =
                            (client.clone(), Arc::clone(&stop), replies.clone(), Arc::clone(wake));
                        match std::thread::Builder::new()
                            .name("nurse-events".into())
                            .spawn(move || events(&c, &s, &r, &w))
                        {
                            Ok(t) => poll = Some((stop, t)),
                            Err(e) => send(Reply::Failed(format!("cannot start the live queue: {e}"))),
                        }
                        Ok(())
                    }
                    Err(e) => {
                        send(Reply::SignInFailed(e.to_string()));
                        Ok(())
                    }
                }
            }
            Job::SignOut => {
                stop_poll(&mut poll);
                let _ = client.sign_out();
                send(Reply::SignedOut(None));
                Ok(())
            }
            Job::Open(id) => client.card(&id).and_then(|card| {
                let audit = client.audit(&id)?;
                send(Reply::Card(Box::new(card), audit));
                Ok(())
            }),
            Job::Change { id, version, change } => client.change(&id, version, &change).and_then(|v| {
                send(Reply::Done(format!("v{v}")));
                let card = client.card(&id)?;
                let audit = client.audit(&id)?;
                send(Reply::Card(Box::new(card), audit));
                Ok(())
            }),
            Job::Acknowledge(seq) => client.acknowledge(seq),
        };
        match result {
            Ok(()) => {}
            Err(ApiError::SignedOut) => {
                stop_poll(&mut poll);
                send(Reply::SignedOut(Some(ApiError::SignedOut.to_string())));
            }
            Err(e) => send(Reply::Failed(e.to_string())),
        }
    }
    stop_poll(&mut poll);
}

/// The live queue: waits at the service for a change, then fetches the queue and the alerts.
fn events(client: &StationClient, stop: &AtomicBool, replies: &Sender<Reply>, wake: &Wake) {
    let mut seen: Option<u64> = None;
    let send = |r: Reply| {
        let ok = replies.send(r).is_ok();
        wake();
        ok
    };
    while !stop.load(Ordering::Relaxed) {
        let step = client.wait_for_change(seen, POLL_WAIT_S).and_then(|n| {
            if Some(n) != seen {
                let queue = client.queue()?;
                let alerts = client.alerts()?;
                let drafts = client.drafts()?;
                seen = Some(n);
                if !send(Reply::Snapshot { queue, alerts, drafts }) {
                    stop.store(true, Ordering::Relaxed);
                }
            }
            Ok(())
        });
        match step {
            Ok(()) => {}
            Err(ApiError::SignedOut) => {
                send(Reply::SignedOut(Some(ApiError::SignedOut.to_string())));
                return;
            }
            Err(e) => {
                // Ask for everything again once the service is back.
                seen = None;
                if !send(Reply::Unreachable(e.to_string())) {
                    return;
                }
                for _ in 0..20 {
                    if stop.load(Ordering::Relaxed) {
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        }
    }
}

/// Staff language of the station's own words.
fn t(lang: Lang, zh: &'static str, en: &'static str) -> &'static str {
    if lang == Lang::Zh { zh } else { en }
}

/// The name of a pre-triage level (China's four-level emergency triage).
pub fn level_name(level: u8, lang: Lang) -> String {
    let name = match level {
        1 => t(lang, "濒危", "resuscitation"),
        2 => t(lang, "危重", "emergent"),
        3 => t(lang, "急症", "urgent"),
        _ => t(lang, "非急症", "non-urgent"),
    };
    if lang == Lang::Zh { format!("{level}级 {name}") } else { format!("L{level} {name}") }
}

fn level_color(level: u8) -> Color32 {
    match level {
        1 => Color32::from_rgb(0xB0, 0x00, 0x20),
        2 => Color32::from_rgb(0xB3, 0x4A, 0x00),
        3 => Color32::from_rgb(0x7A, 0x5C, 0x00),
        _ => Color32::from_rgb(0x1B, 0x5E, 0x20),
    }
}

const OVERDUE: Color32 = Color32::from_rgb(0xB0, 0x00, 0x20);
const MUTED: Color32 = Color32::from_rgb(0x44, 0x4C, 0x56);

/// How long a card has waited and what its response clock says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Clock {
    /// Waited so far, seconds.
    pub waited_s: u64,
    /// Seconds left to the response target (negative: overdue).
    pub left_s: i64,
}

impl Clock {
    /// The clock of a card of `level` received at `received_ms`, at `now_ms`.
    pub fn of(level: u8, received_ms: u64, now_ms: u64, response_minutes: [u32; 4]) -> Self {
        let waited_s = now_ms.saturating_sub(received_ms) / 1000;
        let target = u64::from(response_minutes[usize::from(level.clamp(1, 4)) - 1]) * 60;
        Self { waited_s, left_s: target as i64 - waited_s as i64 }
    }

    /// Past its response target (a zero target is due at once).
    pub fn overdue(&self) -> bool {
        self.left_s <= 0
    }

    fn waited(&self) -> String {
        format!("{:02}:{:02}", self.waited_s / 60, self.waited_s % 60)
    }

    fn describe(&self, lang: Lang) -> String {
        let minutes = self.left_s.unsigned_abs().div_ceil(60);
        match (self.overdue(), lang) {
            (true, Lang::Zh) if self.left_s > -60 => "立即处理".into(),
            (true, Lang::Zh) => format!("超时 {minutes} 分钟"),
            (true, _) if self.left_s > -60 => "see now".into(),
            (true, _) => format!("overdue {minutes} min"),
            (false, Lang::Zh) => format!("剩 {minutes} 分钟"),
            (false, _) => format!("due in {minutes} min"),
        }
    }
}

fn status_name(status: Status, lang: Lang) -> &'static str {
    match status {
        Status::Waiting => t(lang, "待审核", "to review"),
        Status::Approved => t(lang, "已审核", "approved"),
        Status::Seen => t(lang, "已接诊", "seen"),
    }
}

/// Which field a nurse edits.
#[derive(Clone, Debug, PartialEq, Eq)]
struct FieldChoice {
    id: String,
    label: String,
    current: String,
}

fn fields(card: &ConditionCard, lang: Lang) -> Vec<FieldChoice> {
    let mut out: Vec<FieldChoice> = card
        .slots
        .iter()
        .map(|e| FieldChoice {
            id: format!("slot:{}", e.slot.code()),
            label: e.slot.label().get(lang).to_owned(),
            current: e.text.expose().to_owned(),
        })
        .collect();
    let entry = |e: &Option<protocol::HistoryEntry>| {
        e.as_ref().map(|h| h.text.expose().to_owned()).unwrap_or_default()
    };
    out.push(FieldChoice {
        id: "history".into(),
        label: t(lang, "既往史", "History").into(),
        current: entry(&card.history),
    });
    out.push(FieldChoice {
        id: "medications".into(),
        label: t(lang, "用药", "Medications").into(),
        current: entry(&card.medications),
    });
    out.push(FieldChoice {
        id: "allergies".into(),
        label: t(lang, "过敏史", "Allergies").into(),
        current: entry(&card.allergies),
    });
    out.push(FieldChoice {
        id: "hpi".into(),
        label: t(lang, "现病史", "HPI").into(),
        current: card.hpi.get(lang).to_owned(),
    });
    out
}

fn source_name(source: protocol::AnswerSource, lang: Lang) -> &'static str {
    use protocol::AnswerSource as A;
    match source {
        A::Words => t(lang, "口述/输入", "spoken/typed"),
        A::Touch => t(lang, "触屏按钮", "touch button"),
        A::Inferred => t(lang, "推断", "inferred"),
        A::Correction => t(lang, "患者更正", "patient's correction"),
        A::Staff => t(lang, "护士修改", "nurse's edit"),
        A::Model => t(lang, "模型从原话摘录", "model, from the patient's words"),
    }
}

/// The open card and the nurse's unfinished edits.
#[derive(Debug)]
struct Open {
    record: CardRecord,
    audit: Vec<AuditEntry>,
    level: u8,
    level_reason: String,
    department: Department,
    department_reason: String,
    field: usize,
    field_text: String,
    field_reason: String,
}

impl Open {
    fn new(record: CardRecord, audit: Vec<AuditEntry>, lang: Lang) -> Self {
        let level = record.card.triage.level;
        let department = record.card.triage.department;
        let field_text = fields(&record.card, lang).first().map(|f| f.current.clone()).unwrap_or_default();
        Self {
            record,
            audit,
            level,
            level_reason: String::new(),
            department,
            department_reason: String::new(),
            field: 0,
            field_text,
            field_reason: String::new(),
        }
    }
}

/// The nurse station's screen.
pub struct NurseApp {
    config: NurseConfig,
    kb: Arc<KnowledgeBase>,
    lang: Lang,
    jobs: Option<Sender<Job>>,
    replies: Receiver<Reply>,
    worker: Option<JoinHandle<()>>,
    signed_in: Option<String>,
    name: String,
    password: String,
    busy: bool,
    message: Option<(String, bool)>,
    queue: Vec<QueueEntry>,
    alerts: Vec<StoredAlert>,
    /// 现病史 being drafted at kiosks for cards already sent.
    drafts: Vec<LiveDraft>,
    updated: Option<Instant>,
    link_error: Option<String>,
    open: Option<Open>,
}

impl std::fmt::Debug for NurseApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NurseApp").field("signed_in", &self.signed_in).finish_non_exhaustive()
    }
}

impl Drop for NurseApp {
    fn drop(&mut self) {
        self.jobs.take();
        if let Some(t) = self.worker.take() {
            let _ = t.join();
        }
    }
}

impl NurseApp {
    /// Starts the station's network thread; `wake` repaints the screen.
    pub fn start(
        config: NurseConfig,
        kb: Arc<KnowledgeBase>,
        wake: impl Fn() + Send + Sync + 'static,
    ) -> std::io::Result<Self> {
        let (job_tx, job_rx) = bounded::<Job>(16);
        let (reply_tx, reply_rx) = bounded::<Reply>(64);
        let client = match &config.ca_pem {
            Some(pem) => StationClient::trusting(&config.url, pem)
                .map_err(|e| std::io::Error::other(format!("config key `station.ca_file`: {e}")))?,
            None => StationClient::new(&config.url),
        };
        let wake: Wake = Arc::new(wake);
        let worker = std::thread::Builder::new()
            .name("nurse-net".into())
            .spawn(move || net(client, &job_rx, &reply_tx, &wake))?;
        Ok(Self {
            config,
            kb,
            lang: Lang::Zh,
            jobs: Some(job_tx),
            replies: reply_rx,
            worker: Some(worker),
            signed_in: None,
            name: String::new(),
            password: String::new(),
            busy: false,
            message: None,
            queue: Vec::new(),
            alerts: Vec::new(),
            drafts: Vec::new(),
            updated: None,
            link_error: None,
            open: None,
        })
    }

    /// Who is signed in.
    pub fn signed_in(&self) -> Option<&str> {
        self.signed_in.as_deref()
    }

    /// The queue as last received.
    pub fn queue(&self) -> &[QueueEntry] {
        &self.queue
    }

    /// Open alerts as last received.
    pub fn alerts(&self) -> &[StoredAlert] {
        &self.alerts
    }

    /// 现病史 drafts being written at kiosks, as last received.
    pub fn drafts(&self) -> &[LiveDraft] {
        &self.drafts
    }

    /// The open card's id and version.
    pub fn open_card(&self) -> Option<(&str, u32)> {
        self.open.as_ref().map(|o| (o.record.card.card_id.as_str(), o.record.version))
    }

    /// The last notice (text, whether it is an error).
    pub fn message(&self) -> Option<(&str, bool)> {
        self.message.as_ref().map(|(m, e)| (m.as_str(), *e))
    }

    /// Signs in as `name` (what the sign-in button does).
    pub fn sign_in_as(&mut self, name: &str, password: &str) {
        self.name = name.to_owned();
        self.send(Job::SignIn { name: name.to_owned(), password: password.to_owned() });
    }

    /// Opens card `id` (what a tap on its queue row does).
    pub fn open(&mut self, id: &str) {
        self.send(Job::Open(id.to_owned()));
    }

    /// The station's own words in `lang`.
    pub fn set_lang(&mut self, lang: Lang) {
        self.lang = lang;
    }

    fn send(&mut self, job: Job) {
        let sent = self.jobs.as_ref().is_some_and(|j| j.try_send(job).is_ok());
        if sent {
            self.busy = true;
        } else {
            self.message = Some((
                t(self.lang, "请求太多，请稍候再试", "too many requests at once; try again in a moment")
                    .into(),
                true,
            ));
        }
    }

    fn drain(&mut self) {
        while let Ok(reply) = self.replies.try_recv() {
            match reply {
                Reply::SignedIn(name) => {
                    self.busy = false;
                    self.password.clear();
                    self.message = None;
                    self.signed_in = Some(name);
                }
                Reply::SignInFailed(why) => {
                    self.busy = false;
                    self.password.clear();
                    self.message = Some((why, true));
                }
                Reply::SignedOut(why) => {
                    self.busy = false;
                    self.signed_in = None;
                    self.open = None;
                    self.queue.clear();
                    self.alerts.clear();
                    self.drafts.clear();
                    self.updated = None;
                    self.message = why.map(|w| (w, true));
                }
                Reply::Snapshot { queue, alerts, drafts } => {
                    // The open card's draft has ended (it landed, or was given up): read the card
                    // again, so the nurse sees what it holds now.
                    let ended = self.open.as_ref().map(|o| o.record.card.card_id.clone()).filter(|id| {
                        self.drafts.iter().any(|d| d.card_id == *id)
                            && !drafts.iter().any(|d| d.card_id == *id)
                    });
                    self.queue = queue;
                    self.alerts = alerts;
                    self.drafts = drafts;
                    if let Some(id) = ended {
                        self.send(Job::Open(id));
                    }
                    self.updated = Some(Instant::now());
                    self.link_error = None;
                }
                Reply::Unreachable(why) => self.link_error = Some(why),
                Reply::Card(record, audit) => {
                    self.busy = false;
                    self.open = Some(Open::new(*record, audit, self.lang));
                }
                Reply::Done(version) => {
                    self.busy = false;
                    self.message = Some((format!("{} ({version})", t(self.lang, "已保存", "saved")), false));
                }
                Reply::Failed(why) => {
                    self.busy = false;
                    self.message = Some((why, true));
                }
            }
        }
    }

    /// Draws the station.
    pub fn show(&mut self, ui: &mut egui::Ui) {
        self.drain();
        ui.ctx().request_repaint_after(Duration::from_secs(1));
        if self.signed_in.is_none() {
            egui::CentralPanel::default_margins().show(ui, |ui| self.sign_in(ui));
            return;
        }
        egui::Panel::top("station-top").show(ui, |ui| self.top(ui));
        if !self.alerts.is_empty() {
            egui::Panel::top("station-alerts").show(ui, |ui| self.alert_list(ui));
        }
        egui::Panel::left("station-queue")
            .default_size(560.0)
            .min_size(420.0)
            .show(ui, |ui| self.queue_list(ui));
        egui::CentralPanel::default_margins().show(ui, |ui| self.detail(ui));
    }

    fn sign_in(&mut self, ui: &mut egui::Ui) {
        let lang = self.lang;
        ui.vertical_centered(|ui| {
            ui.add_space(120.0);
            ui.heading(
                RichText::new(t(lang, "护士站 · 预问诊", "Nurse station · pre-consultation")).size(28.0),
            );
            ui.label(RichText::new(&self.config.url).color(MUTED));
            ui.add_space(24.0);
            let name_label = t(lang, "账号", "Account");
            let password_label = t(lang, "密码", "Password");
            ui.label(name_label);
            let name = ui.add(egui::TextEdit::singleline(&mut self.name).desired_width(320.0).char_limit(64));
            name.widget_info(|| egui::WidgetInfo::labeled(egui::Role::TextInput, true, name_label));
            ui.label(password_label);
            let pw = ui.add(
                egui::TextEdit::singleline(&mut self.password)
                    .password(true)
                    .desired_width(320.0)
                    .char_limit(256),
            );
            pw.widget_info(|| egui::WidgetInfo::labeled(egui::Role::PasswordInput, true, password_label));
            let enter = pw.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
            ui.add_space(12.0);
            let button = ui.add_enabled(
                !self.busy && !self.name.trim().is_empty() && !self.password.is_empty(),
                egui::Button::new(RichText::new(t(lang, "登录", "Sign in")).size(20.0))
                    .min_size(egui::vec2(160.0, 44.0)),
            );
            if (button.clicked() || enter) && !self.busy && !self.password.is_empty() {
                let job = Job::SignIn {
                    name: self.name.trim().to_owned(),
                    password: std::mem::take(&mut self.password),
                };
                self.message = None;
                self.send(job);
            }
            if self.busy {
                ui.spinner();
            }
            if let Some((message, _)) = &self.message {
                ui.add_space(8.0);
                ui.colored_label(OVERDUE, format!("⚠ {message}"));
            }
            ui.add_space(24.0);
            if ui.button(t(lang, "English", "中文")).clicked() {
                self.lang = if lang == Lang::Zh { Lang::En } else { Lang::Zh };
            }
        });
    }

    fn top(&mut self, ui: &mut egui::Ui) {
        let lang = self.lang;
        ui.horizontal(|ui| {
            ui.heading(t(lang, "护士站", "Nurse station"));
            ui.label(format!(
                "{} {}",
                t(lang, "当前护士：", "Signed in:"),
                self.signed_in.as_deref().unwrap_or_default()
            ));
            match (&self.link_error, self.updated) {
                (Some(e), _) => {
                    ui.colored_label(
                        OVERDUE,
                        format!("⚠ {} {e}", t(lang, "与服务器断开：", "Station service unreachable:")),
                    );
                }
                (None, Some(at)) => {
                    ui.label(format!(
                        "● {} {} s",
                        t(lang, "实时，更新于", "live, updated"),
                        at.elapsed().as_secs()
                    ));
                }
                (None, None) => {
                    ui.spinner();
                }
            }
            ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                if ui.button(t(lang, "退出登录", "Sign out")).clicked() {
                    self.send(Job::SignOut);
                }
                if ui.button(t(lang, "English", "中文")).clicked() {
                    self.lang = if lang == Lang::Zh { Lang::En } else { Lang::Zh };
                }
            });
        });
        if let Some((message, error)) = &self.message {
            if *error {
                ui.colored_label(OVERDUE, format!("⚠ {message}"));
            } else {
                ui.label(format!("✔ {message}"));
            }
        }
    }

    fn alert_list(&mut self, ui: &mut egui::Ui) {
        let lang = self.lang;
        let now = unix_ms();
        let mut act = None;
        for alert in &self.alerts {
            egui::Frame::new()
                .fill(Color32::from_rgb(0xFD, 0xEC, 0xEE))
                .stroke(egui::Stroke::new(2.0, OVERDUE))
                .inner_margin(8.0)
                .show(ui, |ui| {
                    ui.horizontal(|ui| {
                        let what = match alert.kind {
                            AlertKind::RedFlag => {
                                let rule = self.kb.red_flags.iter().find(|r| r.id == alert.detail);
                                let title = rule
                                    .map(|r| r.label().get(lang).to_owned())
                                    .unwrap_or_else(|| alert.detail.clone());
                                format!("{}：{title}", t(lang, "红旗征象", "Red flag"))
                            }
                            AlertKind::CallStaff => {
                                t(lang, "患者呼叫护士", "A patient asks for a nurse").to_owned()
                            }
                            AlertKind::WorkerFailed => {
                                format!("{}：{}", t(lang, "一体机故障", "Kiosk fault"), alert.detail)
                            }
                            AlertKind::StoreFailed => {
                                t(lang, "一体机无法保存卡片", "The kiosk could not store a card").to_owned()
                            }
                        };
                        let ago = now.saturating_sub(alert.at_ms) / 1000;
                        let kiosk = alert.source.strip_prefix("kiosk:").unwrap_or(&alert.source);
                        ui.label(RichText::new(format!("⚠ {what}")).strong().color(OVERDUE).size(18.0));
                        ui.label(format!(
                            "{} {kiosk} · {} {}:{:02}",
                            t(lang, "一体机", "kiosk"),
                            t(lang, "已过", "for"),
                            ago / 60,
                            ago % 60
                        ));
                        if let Some(card) = &alert.card_id
                            && self.queue.iter().any(|q| &q.card_id == card)
                            && ui.button(t(lang, "打开卡片", "Open card")).clicked()
                        {
                            act = Some(Job::Open(card.clone()));
                        }
                        let ack = format!("{} #{}", t(lang, "确认收到", "Acknowledge"), alert.seq);
                        if ui.button(ack).clicked() {
                            act = Some(Job::Acknowledge(alert.seq));
                        }
                    });
                });
        }
        if let Some(job) = act {
            self.send(job);
        }
    }

    fn queue_list(&mut self, ui: &mut egui::Ui) {
        let lang = self.lang;
        let now = unix_ms();
        let overdue = self
            .queue
            .iter()
            .filter(|q| Clock::of(q.level, q.received_ms, now, self.config.response_minutes).overdue())
            .count();
        ui.heading(format!(
            "{} {} · {} {overdue}",
            t(lang, "候诊队列", "Queue"),
            self.queue.len(),
            t(lang, "超时", "overdue")
        ));
        let mut open = None;
        egui::ScrollArea::vertical().show(ui, |ui| {
            for entry in &self.queue {
                let clock = Clock::of(entry.level, entry.received_ms, now, self.config.response_minutes);
                let department = self
                    .kb
                    .department_name(
                        Department::from_code(&entry.department).unwrap_or(Department::GeneralInternal),
                    )
                    .get(lang)
                    .to_owned();
                let selected = self.open.as_ref().is_some_and(|o| o.record.card.card_id == entry.card_id);
                let flag = if entry.red_flag { "⚠ " } else { "" };
                let drafting = if self.drafts.iter().any(|d| d.card_id == entry.card_id) {
                    t(lang, " · 现病史起草中", " · HPI being drafted")
                } else {
                    ""
                };
                let complaint = self
                    .kb
                    .protocol(&entry.complaint)
                    .map(|p| p.name.get(lang).to_owned())
                    .unwrap_or_else(|| t(lang, "未明确", "unclear").to_owned());
                let text = format!(
                    "{flag}{} {} · {complaint} · {department} · {} {} · {} · {}{drafting}",
                    entry.queue_number.as_deref().unwrap_or("—"),
                    level_name(entry.level, lang),
                    t(lang, "等候", "waited"),
                    clock.waited(),
                    clock.describe(lang),
                    status_name(entry.status, lang),
                );
                let mut rich = RichText::new(text).size(16.0).color(level_color(entry.level));
                if clock.overdue() {
                    rich = rich.strong().background_color(Color32::from_rgb(0xFD, 0xEC, 0xEE));
                }
                if ui.selectable_label(selected, rich).clicked() {
                    open = Some(entry.card_id.clone());
                }
                ui.add_space(2.0);
            }
            if self.queue.is_empty() && self.updated.is_some() {
                ui.label(RichText::new(t(lang, "没有候诊的卡片", "No cards waiting")).color(MUTED));
            }
        });
        if let Some(id) = open {
            self.send(Job::Open(id));
        }
    }

    fn detail(&mut self, ui: &mut egui::Ui) {
        let lang = self.lang;
        let Some(open) = self.open.as_mut() else {
            ui.label(
                RichText::new(t(lang, "从左侧队列选择一张卡片。", "Choose a card from the queue."))
                    .color(MUTED),
            );
            return;
        };
        let mut job = None;
        let card = &open.record.card;
        let id = card.card_id.clone();
        let version = open.record.version;
        ui.horizontal(|ui| {
            ui.heading(
                RichText::new(format!(
                    "{} · {}",
                    level_name(card.triage.level, lang),
                    card.chief_complaint_text(lang)
                ))
                .color(level_color(card.triage.level)),
            );
            ui.label(
                RichText::new(format!(
                    "{} {} · {id} · v{version} · {} · {}",
                    t(lang, "号码", "number"),
                    card.queue_number.as_deref().unwrap_or("—"),
                    status_name(open.record.status, lang),
                    card.kiosk_id
                ))
                .color(MUTED),
            );
        });
        ui.horizontal(|ui| {
            if ui.button(t(lang, "✔ 审核通过", "✔ Approve")).clicked() {
                job = Some(Job::Change { id: id.clone(), version, change: StaffChange::Approve });
            }
            if ui.button(t(lang, "已接诊（移出队列）", "Seen (leaves the queue)")).clicked() {
                job = Some(Job::Change { id: id.clone(), version, change: StaffChange::Seen });
            }
        });
        ui.separator();
        egui::ScrollArea::vertical().show(ui, |ui| {
            // Level.
            ui.horizontal(|ui| {
                ui.label(t(lang, "分诊级别", "Level"));
                egui::ComboBox::from_id_salt("level").selected_text(level_name(open.level, lang)).show_ui(
                    ui,
                    |ui| {
                        for l in 1..=4 {
                            ui.selectable_value(&mut open.level, l, level_name(l, lang));
                        }
                    },
                );
                let reason_label = t(lang, "改级理由", "Reason for the level change");
                let r = ui.add(
                    egui::TextEdit::singleline(&mut open.level_reason)
                        .hint_text(reason_label)
                        .char_limit(300),
                );
                r.widget_info(|| egui::WidgetInfo::labeled(egui::Role::TextInput, true, reason_label));
                let ready = open.level != card.triage.level && !open.level_reason.trim().is_empty();
                if ui.add_enabled(ready, egui::Button::new(t(lang, "改级", "Change level"))).clicked() {
                    job = Some(Job::Change {
                        id: id.clone(),
                        version,
                        change: StaffChange::Level(open.level, open.level_reason.trim().to_owned()),
                    });
                }
            });
            // Department.
            ui.horizontal(|ui| {
                ui.label(t(lang, "科室", "Department"));
                let kb = &self.kb;
                egui::ComboBox::from_id_salt("department")
                    .selected_text(kb.department_name(open.department).get(lang).to_owned())
                    .show_ui(ui, |ui| {
                        for d in Department::ALL {
                            ui.selectable_value(
                                &mut open.department,
                                d,
                                kb.department_name(d).get(lang).to_owned(),
                            );
                        }
                    });
                let reason_label = t(lang, "改科理由", "Reason for re-routing");
                let r = ui.add(
                    egui::TextEdit::singleline(&mut open.department_reason)
                        .hint_text(reason_label)
                        .char_limit(300),
                );
                r.widget_info(|| egui::WidgetInfo::labeled(egui::Role::TextInput, true, reason_label));
                let ready =
                    open.department != card.triage.department && !open.department_reason.trim().is_empty();
                if ui.add_enabled(ready, egui::Button::new(t(lang, "改科室", "Re-route"))).clicked() {
                    job = Some(Job::Change {
                        id: id.clone(),
                        version,
                        change: StaffChange::Department(
                            open.department.code().to_owned(),
                            open.department_reason.trim().to_owned(),
                        ),
                    });
                }
            });
            // A field.
            let choices = fields(card, lang);
            ui.horizontal(|ui| {
                ui.label(t(lang, "修改内容", "Edit"));
                let before = open.field;
                egui::ComboBox::from_id_salt("field")
                    .selected_text(choices.get(open.field).map(|f| f.label.clone()).unwrap_or_default())
                    .show_ui(ui, |ui| {
                        for (i, f) in choices.iter().enumerate() {
                            ui.selectable_value(&mut open.field, i, f.label.clone());
                        }
                    });
                if open.field != before {
                    open.field_text = choices.get(open.field).map(|f| f.current.clone()).unwrap_or_default();
                }
            });
            let text_label = t(lang, "新内容", "New text");
            let r = ui.add(
                egui::TextEdit::multiline(&mut open.field_text)
                    .desired_rows(2)
                    .desired_width(f32::INFINITY)
                    .char_limit(2000),
            );
            r.widget_info(|| egui::WidgetInfo::labeled(egui::Role::TextInput, true, text_label));
            ui.horizontal(|ui| {
                let reason_label = t(lang, "修改理由", "Reason for the edit");
                let r = ui.add(
                    egui::TextEdit::singleline(&mut open.field_reason)
                        .hint_text(reason_label)
                        .char_limit(300),
                );
                r.widget_info(|| egui::WidgetInfo::labeled(egui::Role::TextInput, true, reason_label));
                let current = choices.get(open.field);
                let ready = current.is_some_and(|c| c.current != open.field_text)
                    && !open.field_text.trim().is_empty()
                    && !open.field_reason.trim().is_empty();
                if ui.add_enabled(ready, egui::Button::new(t(lang, "保存修改", "Save edit"))).clicked()
                    && let Some(c) = current
                {
                    job = Some(Job::Change {
                        id: id.clone(),
                        version,
                        change: StaffChange::Field(
                            c.id.clone(),
                            open.field_text.trim().to_owned(),
                            open.field_reason.trim().to_owned(),
                        ),
                    });
                }
            });
            ui.separator();
            if let Some(draft) = self.drafts.iter().find(|d| d.card_id == id) {
                ui.group(|ui| {
                    ui.label(
                        RichText::new(t(
                            lang,
                            "一体机正在起草现病史（尚未核对；核对通过后写入卡片）……",
                            "The kiosk is drafting the HPI (not yet checked; it goes on the card once it passes) …",
                        ))
                        .color(MUTED),
                    );
                    ui.label(RichText::new(&draft.text).italics().size(16.0));
                });
            }
            ui.label(RichText::new(dialogue::render::text::render(card, &self.kb, lang)).size(16.0));
            ui.separator();
            egui::CollapsingHeader::new(t(lang, "每个回答的来源", "Where each answer came from"))
                .default_open(true)
                .show(ui, |ui| provenance(ui, card, lang));
            egui::CollapsingHeader::new(t(lang, "审计记录", "Audit trail")).show(ui, |ui| {
                egui::Grid::new("audit").striped(true).show(ui, |ui| {
                    for e in &open.audit {
                        ui.label(dialogue::render::rfc3339(e.at_ms));
                        ui.label(&e.actor);
                        ui.label(&e.action);
                        ui.label(&e.detail);
                        ui.end_row();
                    }
                });
            });
        });
        if let Some(job) = job {
            self.send(job);
        }
    }
}

/// Each answer on the card: the question it answered, how it was given, and when.
fn provenance(ui: &mut egui::Ui, card: &ConditionCard, lang: Lang) {
    egui::Grid::new("provenance").striped(true).num_columns(5).show(ui, |ui| {
        for h in [
            t(lang, "项目", "Item"),
            t(lang, "内容", "Value"),
            t(lang, "问题", "Question"),
            t(lang, "方式", "How"),
            t(lang, "时间", "When"),
        ] {
            ui.label(RichText::new(h).strong());
        }
        ui.end_row();
        let mut row = |item: String, value: &str, p: &protocol::Provenance| {
            ui.label(item);
            ui.label(value);
            ui.label(format!("#{} {}", p.turn, p.question_id));
            ui.label(source_name(p.source, lang));
            ui.label(format!("+{} s", p.at_ms / 1000));
            ui.end_row();
        };
        for e in &card.slots {
            row(e.slot.label().get(lang).to_owned(), e.text.expose(), &e.provenance);
        }
        for f in &card.findings {
            let yes_no = if f.present { t(lang, "有", "yes") } else { t(lang, "无", "no") };
            row(f.name.get(lang).to_owned(), yes_no, &f.provenance);
        }
        for (name, e) in [
            (t(lang, "既往史", "History"), &card.history),
            (t(lang, "用药", "Medications"), &card.medications),
            (t(lang, "过敏史", "Allergies"), &card.allergies),
        ] {
            if let Some(e) = e {
                let text = if e.denied { t(lang, "否认", "denied") } else { e.text.expose() };
                row(name.to_owned(), text, &e.provenance);
            }
        }
    });
}

trait ComplaintText {
    fn chief_complaint_text(&self, lang: Lang) -> String;
}

impl ComplaintText for ConditionCard {
    fn chief_complaint_text(&self, lang: Lang) -> String {
        if lang == Lang::Zh { self.chief_complaint.zh.clone() } else { self.chief_complaint.en.clone() }
    }
}

impl eframe::App for NurseApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        self.show(ui);
    }
}

/// Runs the nurse station in a window until it is closed.
pub fn run(config: NurseConfig) -> anyhow::Result<()> {
    if std::env::var_os("DISPLAY").is_none() && std::env::var_os("WAYLAND_DISPLAY").is_none() {
        anyhow::bail!(
            "no display: neither DISPLAY nor WAYLAND_DISPLAY is set. Start the nurse station from a \
             graphical session (or under Xvfb for testing: `xvfb-run kiosk nurse`)"
        );
    }
    let kb = Arc::new(KnowledgeBase::embedded()?);
    let viewport =
        egui::ViewportBuilder::default().with_title("护士站 Nurse station").with_inner_size([1440.0, 900.0]);
    let options = eframe::NativeOptions { viewport, ..Default::default() };
    eframe::run_native(
        "kiosk-nurse",
        options,
        Box::new(move |cc| {
            crate::app::install_fonts(&cc.egui_ctx);
            let ctx = cc.egui_ctx.clone();
            let app = NurseApp::start(config, kb, move || ctx.request_repaint())?;
            Ok(Box::new(app))
        }),
    )
    .map_err(|e| {
        anyhow::anyhow!("the window could not be opened: {e} (check the display and OpenGL drivers)")
    })
}
