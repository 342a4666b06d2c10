//! The nurse station against a real station service on loopback (real SQLite file, real HTTP):
//! a linked kiosk hands cards and a red-flag alert over through its outbox and station link, the
//! nurse signs in, sees the queue and the alert, opens a card, edits it with a reason, approves it,
//! acknowledges the alert and signs out; the audit trail records every step. And the kiosk's link
//! survives a station that is down: the outbox keeps the card until the station is back.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dialogue::{Engine, InterviewConfig, KnowledgeBase};
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable as _;
use kiosk::config::{Config, Env};
use kiosk::nurse::{Clock, NurseApp, NurseConfig};
use kiosk::session::Alert;
use protocol::ConditionCard;
use service::client::{HttpDelivery, StationClient};
use service::{ServiceConfig, spawn};
use store::accounts::{Policy, Role};
use store::outbox::Outbox;
use store::{Actor, SqliteStore};

const PASSWORD: &str = "correct horse battery";

fn config(data: &std::path::Path) -> Config {
    let env = Env { home: Some("/nonexistent".into()), data_dir: Some(data.to_owned()), ..Env::default() };
    Config::from_toml(None, "-", &env).expect("defaults")
}

fn cards(n: usize) -> Vec<ConditionCard> {
    let kb = Arc::new(KnowledgeBase::embedded().expect("kb"));
    dialogue::eval::intake_cards(&Arc::new(Engine::new(kb, InterviewConfig::default())), n)
}

/// A station store with nurse `li` and kiosk `lobby-1`; returns the kiosk's device token.
fn provision(path: &std::path::Path) -> String {
    let mut store = SqliteStore::open(path).expect("store");
    let admin = Actor::Staff("admin".into());
    store
        .set_account("li", Role::Nurse, PASSWORD, &Policy::default(), &admin, 0)
        .expect("db")
        .expect("account");
    store.register_device("lobby-1", &admin, 0).expect("device")
}

fn until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

struct Station {
    harness: Harness<'static, NurseApp>,
}

impl Station {
    fn open(url: &str) -> Self {
        let kb = Arc::new(KnowledgeBase::embedded().expect("kb"));
        let app = NurseApp::start(
            NurseConfig { url: url.to_owned(), response_minutes: [0, 10, 30, 240], ca_pem: None },
            kb,
            || {},
        )
        .expect("station threads");
        let harness = Harness::builder()
            .with_size(egui::Vec2::new(1440.0, 900.0))
            .with_context_setup(kiosk::app::install_fonts)
            .build_ui_state(|ui, app: &mut NurseApp| app.show(ui), app);
        Self { harness }
    }

    fn wait(&mut self, what: &str, done: impl Fn(&NurseApp) -> bool) {
        let start = Instant::now();
        loop {
            self.harness.step();
            if done(self.harness.state()) {
                self.harness.step();
                return;
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "timed out waiting for {what}: {:?}",
                self.harness.state()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn click(&mut self, label: &str) {
        self.harness.get_by_label(label).click();
        self.harness.step();
    }

    fn type_into(&mut self, role: egui::accesskit::Role, label: &str, text: &str) {
        let field = self.harness.get_by_role_and_label(role, label);
        field.focus();
        field.type_text(text);
        self.harness.step();
    }

    /// Signs in as `li` (the account name stays in its field after a refusal, as on any form).
    fn sign_in(&mut self, password: &str) {
        if self.harness.get_by_role_and_label(egui::accesskit::Role::TextInput, "账号").value().as_deref()
            != Some("li")
        {
            self.type_into(egui::accesskit::Role::TextInput, "账号", "li");
        }
        self.type_into(egui::accesskit::Role::PasswordInput, "密码", password);
        self.click("登录");
    }
}

#[test]
fn a_nurse_reviews_a_linked_kiosks_cards_and_alerts_at_the_station() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("station.sqlite");
    let token = provision(&db);
    let running = spawn(&db, "127.0.0.1:0".parse::<SocketAddr>().expect("addr"), ServiceConfig::default())
        .expect("serves");
    let url = format!("http://{}", running.addr);

    // The kiosk: cards through its outbox and link, then a red flag.
    let kiosk_dir = dir.path().join("kiosk");
    let outbox = Outbox::open(&kiosk_dir.join("outbox")).expect("outbox");
    let mut handoff =
        kiosk::station::linked(&config(&kiosk_dir), outbox.clone(), HttpDelivery::new(&url, &token))
            .expect("link");
    let all = cards(3);
    for card in &all {
        let number = handoff.sink.submit(card).expect("committed to the outbox");
        assert!(number.len() == 4, "queue number like A001: {number}");
    }
    handoff
        .alerts
        .send(Alert::RedFlag {
            card_id: all[0].card_id.clone(),
            rule_id: "RF-STROKE-BEFAST".into(),
            level: 1,
        })
        .expect("alert");

    let mut station = Station::open(&url);
    station.sign_in("wrong password");
    station.wait("refusal", |app| app.message().is_some_and(|(_, error)| error));
    assert!(station.harness.state().signed_in().is_none());
    station.sign_in(PASSWORD);
    station.wait("the live queue", |app| app.queue().len() == 3 && app.alerts().len() == 1);
    assert_eq!(station.harness.state().signed_in(), Some("li"));
    until("the outbox to drain", Duration::from_secs(10), || outbox.pending().expect("outbox") == 0);

    // The queue is ordered by level, then by waiting time.
    let queue = station.harness.state().queue().to_vec();
    assert!(queue.windows(2).all(|w| (w[0].level, w[0].received_ms) <= (w[1].level, w[1].received_ms)));

    // The alert is on screen at once; it names the kiosk and can be acknowledged.
    let seq = station.harness.state().alerts()[0].seq;
    let _ = station.harness.get_by_label_contains("红旗征象");

    // Open the first card, edit a field with a reason, approve.
    let first = queue[0].card_id.clone();
    let row = station.harness.get_all_by_label_contains("等候").next().expect("a queue row");
    row.click();
    station.wait("the card", |app| app.open_card().is_some_and(|(id, _)| id == first));
    let (_, version) = station.harness.state().open_card().expect("open");
    // The first field in the list, its new text and a reason.
    station.type_into(egui::accesskit::Role::TextInput, "新内容", "（护士核实）");
    station.type_into(egui::accesskit::Role::TextInput, "修改理由", "患者口头补充");
    station.click("保存修改");
    station.wait("the edit", |app| app.open_card().is_some_and(|(_, v)| v == version + 1));
    station.click("✔ 审核通过");
    station.wait("the approval", |app| app.open_card().is_some_and(|(_, v)| v == version + 2));
    station.click(&format!("确认收到 #{seq}"));
    station.wait("the acknowledgement", |app| app.alerts().is_empty());

    // The audit trail has every step, by the nurse's name.
    let mut nurse = StationClient::new(&url);
    nurse.sign_in("li", PASSWORD).expect("sign in");
    let actions: Vec<(String, String)> =
        nurse.audit(&first).expect("audit").into_iter().map(|e| (e.actor, e.action)).collect();
    for step in ["read", "edit", "approve", "ack_alert"] {
        assert!(
            actions.iter().any(|(who, a)| a == step && who == "staff:li"),
            "{step} by staff:li missing from {actions:?}"
        );
    }
    assert!(actions.iter().any(|(who, a)| a == "submit" && who == "kiosk:lobby-1"), "{actions:?}");

    station.click("退出登录");
    station.wait("the sign-in screen", |app| app.signed_in().is_none() && app.queue().is_empty());
    drop(handoff.sink);
    drop(handoff.alerts);
    handoff.courier.join();
}

#[test]
fn the_kiosk_outbox_keeps_cards_while_the_station_is_down_and_drains_when_it_is_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("station.sqlite");
    let token = provision(&db);
    let addr = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr");
    let url = format!("http://{addr}");
    let kiosk_dir = dir.path().join("kiosk");
    let outbox = Outbox::open(&kiosk_dir.join("outbox")).expect("outbox");
    let mut handoff =
        kiosk::station::linked(&config(&kiosk_dir), outbox.clone(), HttpDelivery::new(&url, &token))
            .expect("link");
    let all = cards(2);
    for card in &all {
        handoff.sink.submit(card).expect("committed to the outbox while the station is down");
    }
    handoff.alerts.send(Alert::CallStaff { card_id: None }).expect("alert");
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(outbox.pending().expect("outbox"), 2, "nothing is lost while the station is down");

    // The station comes up on the address the kiosk knows.
    let _running = spawn(&db, addr, ServiceConfig::default()).expect("serves");
    until("the outbox to drain", Duration::from_secs(45), || outbox.pending().expect("outbox") == 0);
    let mut nurse = StationClient::new(&url);
    nurse.sign_in("li", PASSWORD).expect("sign in");
    until("the alert", Duration::from_secs(5), || nurse.alerts().expect("alerts").len() == 1);
    let queue = nurse.queue().expect("queue");
    assert_eq!(queue.len(), 2, "each card once");
    drop(handoff.sink);
    drop(handoff.alerts);
    handoff.courier.join();
}

#[test]
fn response_clocks_follow_the_level() {
    let minutes = [0, 10, 30, 240];
    let at = 1_000_000;
    assert!(Clock::of(1, at, at, minutes).overdue(), "level 1 is due at once");
    let level2 = Clock::of(2, at, at + 9 * 60_000, minutes);
    assert!(!level2.overdue());
    assert_eq!(level2.left_s, 60);
    assert!(Clock::of(2, at, at + 11 * 60_000, minutes).overdue());
    assert!(!Clock::of(4, at, at + 200 * 60_000, minutes).overdue());
    // A clock skew that puts the card in the future never underflows.
    assert_eq!(Clock::of(3, at + 5_000, at, minutes).waited_s, 0);
}

#[test]
fn a_draft_written_after_the_hand_off_streams_into_the_nurses_view_and_lands_on_the_card() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("station.sqlite");
    let token = provision(&db);
    let running = spawn(&db, "127.0.0.1:0".parse::<SocketAddr>().expect("addr"), ServiceConfig::default())
        .expect("serves");
    let url = format!("http://{}", running.addr);
    let kiosk_dir = dir.path().join("kiosk");
    let outbox = Outbox::open(&kiosk_dir.join("outbox")).expect("outbox");
    let mut handoff =
        kiosk::station::linked(&config(&kiosk_dir), outbox.clone(), HttpDelivery::new(&url, &token))
            .expect("link");
    let card = cards(1).remove(0);
    let lang = card.language;
    handoff.sink.submit(&card).expect("committed");
    until("the outbox to drain", Duration::from_secs(10), || outbox.pending().expect("outbox") == 0);

    let mut station = Station::open(&url);
    station.sign_in(PASSWORD);
    station.wait("the live queue", |app| app.queue().len() == 1);
    station.harness.get_all_by_label_contains("等候").next().expect("a queue row").click();
    station.wait("the card", |app| app.open_card().is_some_and(|(id, v)| id == card.card_id && v == 1));

    // The text so far streams in, marked as not yet checked.
    handoff.sink.draft_progress(&card.card_id, lang, "患者");
    station.wait("the draft", |app| app.drafts().iter().any(|d| d.text == "患者"));
    handoff.sink.draft_progress(&card.card_id, lang, "患者3天前起");
    station.wait("more of it", |app| app.drafts().iter().any(|d| d.text == "患者3天前起"));
    let _ = station.harness.get_by_label_contains("一体机正在起草现病史");
    let _ = station.harness.get_by_label("患者3天前起");

    // Checked at the kiosk, it follows the card; the station reads the card again.
    let drafted =
        store::DraftedHpi { card_id: card.card_id.clone(), lang, text: "患者3天前起头痛。".into() };
    handoff.sink.amend_hpi(&drafted).expect("committed to the outbox");
    station.wait("the drafted card", |app| {
        app.drafts().is_empty() && app.open_card().is_some_and(|(_, v)| v == 2)
    });
    assert!(station.harness.query_by_label_contains("一体机正在起草现病史").is_none());
    let mut nurse = StationClient::new(&url);
    nurse.sign_in("li", PASSWORD).expect("sign in");
    let record = nurse.card(&card.card_id).expect("card");
    assert_eq!((record.card.hpi.get(lang), record.card.hpi_drafted), ("患者3天前起头痛。", Some(lang)));
    let audit = nurse.audit(&card.card_id).expect("audit");
    assert!(audit.iter().any(|a| a.action == "draft_hpi" && a.actor == "kiosk:lobby-1"), "{audit:?}");
    drop(handoff.sink);
    drop(handoff.alerts);
    handoff.courier.join();
}
