//! The service on loopback with a real SQLite file: a kiosk submits through its outbox, staff sign
//! in and read; authorisation, bad requests and a service that is down then back.

use std::net::SocketAddr;
use std::sync::Arc;

use dialogue::{Engine, InterviewConfig, KnowledgeBase};
use protocol::ConditionCard;
use service::client::HttpDelivery;
use service::{ServiceConfig, spawn};
use store::accounts::{Policy, Role};
use store::outbox::Outbox;
use store::{Actor, CardStore, SqliteStore};

fn cards(n: usize) -> Vec<ConditionCard> {
    let kb = Arc::new(KnowledgeBase::embedded().expect("kb"));
    dialogue::eval::intake_cards(&Arc::new(Engine::new(kb, InterviewConfig::default())), n)
}

/// A store with one nurse and one kiosk; returns the kiosk's token.
fn provision(path: &std::path::Path) -> String {
    let mut store = SqliteStore::open(path).expect("store");
    let admin = Actor::Staff("admin".into());
    store
        .set_account("nurse-li", Role::Nurse, "correct horse battery", &Policy::default(), &admin, 0)
        .expect("db")
        .expect("account");
    store.register_device("lobby-1", &admin, 0).expect("device")
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder().http_status_as_error(false).build().into()
}

fn login(base: &str) -> String {
    let mut r = agent()
        .post(format!("{base}/api/v1/login"))
        .header("Content-Type", "application/json")
        .send(r#"{"name":"nurse-li","password":"correct horse battery"}"#)
        .expect("login");
    assert_eq!(r.status().as_u16(), 200);
    let v: serde_json::Value =
        serde_json::from_str(&r.body_mut().read_to_string().expect("body")).expect("json");
    v["token"].as_str().expect("token").to_owned()
}

fn get(url: &str, token: Option<&str>) -> (u16, String) {
    let mut req = agent().get(url);
    if let Some(t) = token {
        req = req.header("Authorization", format!("Bearer {t}"));
    }
    let mut r = req.call().expect("request");
    (r.status().as_u16(), r.body_mut().read_to_string().unwrap_or_default())
}

#[test]
fn kiosk_submits_through_its_outbox_and_staff_read_the_queue() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("station.sqlite");
    let token = provision(&db);
    let all = cards(3);
    // The service is down: the outbox keeps the cards.
    let outbox = Outbox::open(&dir.path().join("outbox")).expect("outbox");
    for (i, c) in all.iter().enumerate() {
        outbox.put(c, i as u64).expect("put");
    }
    // Port 1: nothing listens there, and no test can start a service on it meanwhile.
    let mut down = HttpDelivery::new("http://127.0.0.1:1", &token);
    let drained = outbox.drain(&mut down).expect("drain");
    assert_eq!((drained.delivered, drained.remaining), (0, 3));
    assert!(drained.error.is_some_and(|e| e.contains("cannot reach")));

    // Back up: the outbox drains; a second copy of a delivered card is stored once.
    let running = spawn(&db, "127.0.0.1:0".parse::<SocketAddr>().expect("addr"), ServiceConfig::default())
        .expect("serves");
    let base = format!("http://{}", running.addr);
    let mut up = HttpDelivery::new(&base, &token);
    assert_eq!(outbox.drain(&mut up).expect("drain").delivered, 3);
    outbox.put(&all[0], 99).expect("put again");
    assert_eq!(outbox.drain(&mut up).expect("drain").delivered, 1);

    let nurse = login(&base);
    let (status, body) = get(&format!("{base}/api/v1/queue"), Some(&nurse));
    assert_eq!(status, 200, "{body}");
    let queue: Vec<serde_json::Value> = serde_json::from_str(&body).expect("queue json");
    assert_eq!(queue.len(), 3, "no card lost or duplicated");
    let id = all[1].card_id.clone();
    let (status, body) = get(&format!("{base}/api/v1/cards/{id}"), Some(&nurse));
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(v["card"]["card_id"], id.as_str());
    let (status, body) = get(&format!("{base}/api/v1/cards/{id}/fhir"), Some(&nurse));
    assert_eq!(status, 200);
    assert!(body.contains("\"resourceType\":\"Bundle\""), "{body}");
    running.stop();

    // The reads were audited with the nurse's name.
    let store = SqliteStore::open(&db).expect("store");
    let audit = store.audit(&id).expect("audit");
    assert!(audit.iter().any(|a| a.actor == "staff:nurse-li" && a.action == "read"), "{audit:?}");
    assert!(audit.iter().any(|a| a.actor == "kiosk:lobby-1" && a.action == "submit"));
}

#[test]
fn bad_requests_and_wrong_callers_are_refused_and_store_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("station.sqlite");
    let kiosk = provision(&db);
    let config = ServiceConfig { max_body_bytes: 64 * 1024, ..ServiceConfig::default() };
    let running = spawn(&db, "127.0.0.1:0".parse::<SocketAddr>().expect("addr"), config).expect("serves");
    let base = format!("http://{}", running.addr);
    let card = serde_json::to_string(&cards(1)[0]).expect("json");
    let post = |token: Option<&str>, ctype: &str, key: Option<&str>, body: &str| -> u16 {
        let mut req = agent().post(format!("{base}/api/v1/cards")).header("Content-Type", ctype);
        if let Some(t) = token {
            req = req.header("Authorization", format!("Bearer {t}"));
        }
        if let Some(k) = key {
            req = req.header("Idempotency-Key", k);
        }
        req.send(body.as_bytes()).expect("request").status().as_u16()
    };
    assert_eq!(post(None, "application/json", Some("k"), &card), 401, "no token");
    assert_eq!(post(Some("forged"), "application/json", Some("k"), &card), 401, "unknown token");
    assert_eq!(post(Some(&kiosk), "text/plain", Some("k"), &card), 415, "wrong content type");
    assert_eq!(post(Some(&kiosk), "application/json", None, &card), 400, "no idempotency key");
    assert_eq!(post(Some(&kiosk), "application/json", Some("k"), "{\"card_id\": 3"), 400, "corrupt body");
    assert_eq!(post(Some(&kiosk), "application/json", Some("k"), &"x".repeat(100_000)), 413, "oversized");
    // A kiosk token cannot read, and nothing was stored by the refused requests.
    assert_eq!(get(&format!("{base}/api/v1/queue"), Some(&kiosk)).0, 403);
    assert_eq!(get(&format!("{base}/api/v1/queue"), None).0, 401);
    let nurse = login(&base);
    assert_eq!(get(&format!("{base}/api/v1/queue"), Some(&nurse)).1, "[]");
    // A nurse token cannot submit as a kiosk.
    assert_eq!(post(Some(&nurse), "application/json", Some("k"), &card), 403);
    // Wrong passwords lock the account.
    for _ in 0..5 {
        let r = agent()
            .post(format!("{base}/api/v1/login"))
            .header("Content-Type", "application/json")
            .send(r#"{"name":"nurse-li","password":"guess"}"#)
            .expect("login");
        assert_eq!(r.status().as_u16(), 401);
    }
    let r = agent()
        .post(format!("{base}/api/v1/login"))
        .header("Content-Type", "application/json")
        .send(r#"{"name":"nurse-li","password":"correct horse battery"}"#)
        .expect("login");
    assert_eq!(r.status().as_u16(), 423, "locked");
}

fn post_json(url: &str, token: &str, body: &str) -> (u16, String) {
    let mut r = agent()
        .post(url)
        .header("Authorization", format!("Bearer {token}"))
        .header("Content-Type", "application/json")
        .send(body)
        .expect("request");
    (r.status().as_u16(), r.body_mut().read_to_string().unwrap_or_default())
}

#[test]
fn a_nurse_edits_a_card_and_the_audit_shows_every_step() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("station.sqlite");
    let kiosk_token = provision(&db);
    let card = cards(1).remove(0);
    let running = spawn(&db, "127.0.0.1:0".parse::<SocketAddr>().expect("addr"), ServiceConfig::default())
        .expect("serves");
    let base = format!("http://{}", running.addr);
    let outbox = Outbox::open(&dir.path().join("outbox")).expect("outbox");
    outbox.put(&card, 1).expect("put");
    assert_eq!(outbox.drain(&mut HttpDelivery::new(&base, &kiosk_token)).expect("drain").delivered, 1);

    let nurse = login(&base);
    let id = &card.card_id;
    let changes = format!("{base}/api/v1/cards/{id}/changes");
    // The kiosk cannot change cards.
    let (status, _) = post_json(&changes, &kiosk_token, r#"{"expected_version":1,"change":"approve"}"#);
    assert_eq!(status, 403);
    // A level change without a reason is refused, and changes nothing.
    let (status, body) = post_json(&changes, &nurse, r#"{"expected_version":1,"change":"level","level":2}"#);
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("reason"), "{body}");
    // With a reason: version 2.
    let (status, body) = post_json(
        &changes,
        &nurse,
        r#"{"expected_version":1,"change":"level","level":2,"reason":"looks unwell at the desk"}"#,
    );
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"version\":2"), "{body}");
    // Another nurse working from version 1 is refused.
    let (status, _) = post_json(
        &changes,
        &nurse,
        r#"{"expected_version":1,"change":"department","department":"cardiology","reason":"ECG changes"}"#,
    );
    assert_eq!(status, 409);
    let (status, body) = post_json(
        &changes,
        &nurse,
        r#"{"expected_version":2,"change":"department","department":"cardiology","reason":"ECG changes"}"#,
    );
    assert_eq!(status, 200, "{body}");
    let (status, body) = post_json(&changes, &nurse, r#"{"expected_version":3,"change":"approve"}"#);
    assert_eq!(status, 200, "{body}");
    // Unknown changes and malformed bodies get reasons.
    let (status, body) = post_json(&changes, &nurse, r#"{"expected_version":4,"change":"delete"}"#);
    assert_eq!(status, 400);
    assert!(body.contains("unknown change"), "{body}");
    let (status, _) = post_json(&changes, &nurse, "{not json");
    assert_eq!(status, 400);

    // The card shows the edits; the audit shows who did what, without patient words.
    let (status, body) = get(&format!("{base}/api/v1/cards/{id}"), Some(&nurse));
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(v["version"], 4);
    assert_eq!(v["card"]["triage"]["level"], 2);
    assert_eq!(v["card"]["triage"]["department"], "cardiology");
    let (status, body) = get(&format!("{base}/api/v1/cards/{id}/audit"), Some(&nurse));
    assert_eq!(status, 200, "{body}");
    let audit: Vec<serde_json::Value> = serde_json::from_str(&body).expect("json");
    let actions: Vec<String> = audit
        .iter()
        .map(|e| format!("{} {} {}", e["actor"].as_str().unwrap_or(""), e["action"], e["detail"]))
        .collect();
    let joined = actions.join("\n");
    assert!(joined.contains("kiosk:lobby-1") && joined.contains("submit"), "{joined}");
    assert!(joined.contains("staff:nurse-li") && joined.contains("level -> 2"), "{joined}");
    assert!(joined.contains("department -> cardiology") && joined.contains("approved"), "{joined}");
    assert!(!joined.contains("looks unwell"), "reasons are in the version history, not the audit: {joined}");
    // A kiosk cannot read the audit.
    assert_eq!(get(&format!("{base}/api/v1/cards/{id}/audit"), Some(&kiosk_token)).0, 403);
    running.stop();
}

#[test]
fn a_red_flag_alert_reaches_a_waiting_station_at_once_and_is_acknowledged() {
    use service::client::{ApiError, StationClient};
    use store::alerts::{AlertKind, NewAlert};
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("station.sqlite");
    let token = provision(&db);
    let running = spawn(&db, "127.0.0.1:0".parse::<SocketAddr>().expect("addr"), ServiceConfig::default())
        .expect("serves");
    let base = format!("http://{}", running.addr);

    let mut nurse = StationClient::new(&base);
    assert!(matches!(
        nurse.sign_in("nurse-li", "wrong password"),
        Err(ApiError::Refused { status: 401, .. })
    ));
    nurse.sign_in("nurse-li", "correct horse battery").expect("sign in");
    let seen = nurse.wait_for_change(None, 0).expect("events");

    // The station waits; a kiosk raises a red flag; the wait ends with the news.
    let poller = nurse.clone();
    let waiting = std::thread::spawn(move || {
        let started = std::time::Instant::now();
        let changed = poller.wait_for_change(Some(seen), 20).expect("long poll");
        (changed, started.elapsed())
    });
    std::thread::sleep(std::time::Duration::from_millis(300));
    let alert = NewAlert {
        key: "lobby-1-1".into(),
        kind: AlertKind::RedFlag,
        card_id: Some("card-x".into()),
        level: Some(1),
        detail: "rf.stroke".into(),
    };
    let mut kiosk = HttpDelivery::new(&base, &token);
    kiosk.alert(&alert).expect("raised");
    kiosk.alert(&alert).expect("resent");
    let (changed, waited) = waiting.join().expect("poller");
    assert_ne!(changed, seen);
    assert!(waited.as_secs() < 15, "the long poll should answer when the alert arrives, not at its timeout");

    let open = nurse.alerts().expect("alerts");
    assert_eq!(open.len(), 1, "a resent alert is one alert");
    assert_eq!((open[0].kind, open[0].detail.as_str()), (AlertKind::RedFlag, "rf.stroke"));

    // A kiosk cannot read alerts; a nurse cannot raise them; a malformed alert is refused.
    assert_eq!(get(&format!("{base}/api/v1/alerts"), Some(&token)).0, 403);
    let body = serde_json::to_string(&alert).expect("json");
    let nurse_token = login(&base);
    assert_eq!(post_json(&format!("{base}/api/v1/alerts"), &nurse_token, &body).0, 403);
    assert_eq!(post_json(&format!("{base}/api/v1/alerts"), &token, r#"{"key":"k","kind":"fire"}"#).0, 400);
    assert_eq!(post_json(&format!("{base}/api/v1/alerts"), &token, r#"{"key":"","kind":"red_flag"}"#).0, 400);

    nurse.acknowledge(open[0].seq).expect("ack");
    assert!(nurse.alerts().expect("alerts").is_empty());
    assert!(matches!(nurse.acknowledge(9999), Err(ApiError::Refused { status: 404, .. })));
    let audit = nurse.audit("card-x").expect("audit");
    let actions: Vec<&str> = audit.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["alert", "ack_alert"]);

    // Signing out ends the session at the service.
    let mut out = nurse.clone();
    out.sign_out().expect("sign out");
    assert_eq!(nurse.queue().expect_err("signed out"), ApiError::SignedOut);
}

#[test]
fn the_service_speaks_https_with_the_stations_own_ca_and_refuses_what_does_not_trust_it() {
    use service::client::{ApiError, StationClient};
    use service::tls::{TlsFiles, generate};
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("station.sqlite");
    let token = provision(&db);
    let certs =
        generate(&dir.path().join("certs"), &["localhost".into(), "127.0.0.1".into()], 30).expect("certs");
    assert!(generate(&dir.path().join("certs"), &["localhost".into()], 30).is_err(), "never overwrites");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&certs.key).expect("key").permissions().mode();
        assert_eq!(mode & 0o077, 0, "the key is readable by its owner only");
    }
    let config = ServiceConfig {
        tls: Some(TlsFiles { cert: certs.cert.clone(), key: certs.key.clone() }),
        ..ServiceConfig::default()
    };
    let running = spawn(&db, "127.0.0.1:0".parse::<SocketAddr>().expect("addr"), config).expect("serves");
    let url = running.url();
    assert!(url.starts_with("https://"));
    let ca = std::fs::read(&certs.ca_cert).expect("ca");

    // A kiosk and a nurse that trust the station's CA work as over HTTP.
    let mut kiosk = HttpDelivery::trusting(&url, &token, &ca).expect("client");
    use store::outbox::Deliver as _;
    let card = &cards(1)[0];
    kiosk.deliver(card, &card.card_id).expect("delivered over https");
    let mut nurse = StationClient::trusting(&url, &ca).expect("client");
    nurse.sign_in("nurse-li", "correct horse battery").expect("sign in over https");
    assert_eq!(nurse.queue().expect("queue").len(), 1);

    // A client that does not trust it, and plain HTTP to the HTTPS port, get nothing.
    let mut stranger = StationClient::new(&url);
    assert!(matches!(stranger.sign_in("nurse-li", "correct horse battery"), Err(ApiError::Unreachable(_))));
    let plain = url.replace("https://", "http://");
    let mut plain = StationClient::new(&plain);
    assert!(matches!(plain.sign_in("nurse-li", "correct horse battery"), Err(ApiError::Unreachable(_))));
    assert!(HttpDelivery::trusting(&url, &token, b"not a certificate").is_err());

    // A missing or mismatched key stops the start with a message naming the file.
    let bad = ServiceConfig {
        tls: Some(TlsFiles { cert: certs.cert.clone(), key: dir.path().join("missing.key") }),
        ..ServiceConfig::default()
    };
    let err = spawn(&db, "127.0.0.1:0".parse::<SocketAddr>().expect("addr"), bad).expect_err("no key");
    assert!(err.to_string().contains("missing.key"), "{err}");
    let mismatched = ServiceConfig {
        tls: Some(TlsFiles { cert: certs.cert.clone(), key: certs.ca_key.clone() }),
        ..ServiceConfig::default()
    };
    let err =
        spawn(&db, "127.0.0.1:0".parse::<SocketAddr>().expect("addr"), mismatched).expect_err("wrong key");
    assert!(err.to_string().contains("do not fit"), "{err}");
}

#[test]
fn a_draft_streams_to_the_station_and_lands_as_an_audited_kiosk_version() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("station.sqlite");
    let kiosk_token = provision(&db);
    let card = cards(1).remove(0);
    let lang = card.language;
    let running = spawn(&db, "127.0.0.1:0".parse::<SocketAddr>().expect("addr"), ServiceConfig::default())
        .expect("serves");
    let base = format!("http://{}", running.addr);
    let mut kiosk = HttpDelivery::new(&base, &kiosk_token);
    let outbox = Outbox::open(&dir.path().join("outbox")).expect("outbox");
    outbox.put(&card, 1).expect("put");
    assert_eq!(outbox.drain(&mut kiosk).expect("drain").delivered, 1);
    let nurse = login(&base);
    let mut station = service::client::StationClient::new(&base);
    station.sign_in("nurse-li", "correct horse battery").expect("signs in");
    let seen = station.wait_for_change(None, 0).expect("events");

    // The draft streams in: each piece wakes the station, which lists it for the nurse.
    kiosk.draft(&card.card_id, lang, "患者").expect("draft");
    let after = station.wait_for_change(Some(seen), 5).expect("events");
    assert_ne!(after, seen, "a piece wakes the long poll");
    kiosk.draft(&card.card_id, lang, "患者3天前").expect("draft");
    let live = station.drafts().expect("drafts");
    assert_eq!(live.len(), 1);
    assert_eq!((live[0].card_id.as_str(), live[0].text.as_str()), (card.card_id.as_str(), "患者3天前"));
    assert_eq!(live[0].kiosk, "kiosk:lobby-1");
    // Only kiosks send drafts, only staff read them; bad bodies are refused with the reason.
    let draft_url = format!("{base}/api/v1/cards/{}/draft", card.card_id);
    assert_eq!(post_json(&draft_url, &nurse, r#"{"lang":"zh","text":"x"}"#).0, 403);
    assert_eq!(get(&format!("{base}/api/v1/drafts"), Some(&kiosk_token)).0, 403);
    let (status, body) = post_json(&draft_url, &kiosk_token, r#"{"lang":"fr","text":"x"}"#);
    assert_eq!(status, 400);
    assert!(body.contains("`lang`"), "{body}");
    let long = format!(r#"{{"lang":"zh","text":"{}"}}"#, "头".repeat(2001));
    assert_eq!(post_json(&draft_url, &kiosk_token, &long).0, 400);
    assert_eq!(station.card(&card.card_id).expect("card").version, 1, "a live draft is never stored");

    // The checked draft lands through the outbox as version 2, once; the live draft is gone.
    let drafted =
        store::DraftedHpi { card_id: card.card_id.clone(), lang, text: "患者3天前起头痛。".into() };
    outbox.put_hpi(&drafted, 2).expect("put hpi");
    outbox.put_hpi(&drafted, 3).expect("put hpi again");
    assert_eq!(outbox.drain(&mut kiosk).expect("drain").delivered, 2);
    assert!(station.drafts().expect("drafts").is_empty());
    let record = station.card(&card.card_id).expect("card");
    assert_eq!(record.version, 2);
    assert_eq!(record.card.hpi.get(lang), "患者3天前起头痛。");
    assert_eq!(record.card.hpi_drafted, Some(lang));
    let audit = station.audit(&card.card_id).expect("audit");
    assert_eq!(audit.iter().filter(|a| a.action == "draft_hpi").count(), 1);
    assert!(audit.iter().all(|a| !a.detail.contains("头痛")), "{audit:?}");

    // After a nurse's edit, a late draft is refused for good (delivered, not retried).
    let (status, body) = post_json(
        &format!("{base}/api/v1/cards/{}/changes", card.card_id),
        &nurse,
        r#"{"expected_version":2,"change":"field","field":"hpi","text":"护士重写","reason":"patient added detail"}"#,
    );
    assert_eq!(status, 200, "{body}");
    let (status, body) = post_json(
        &format!("{base}/api/v1/cards/{}/hpi", card.card_id),
        &kiosk_token,
        r#"{"lang":"zh","text":"患者头痛。"}"#,
    );
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"applied\":false"), "{body}");
    assert_eq!(station.card(&card.card_id).expect("card").card.hpi.get(lang), "护士重写");
    // A draft for a card the station does not have is a 404.
    let (status, _) =
        post_json(&format!("{base}/api/v1/cards/nope/hpi"), &kiosk_token, r#"{"lang":"zh","text":"x"}"#);
    assert_eq!(status, 404);
    running.stop();
}
