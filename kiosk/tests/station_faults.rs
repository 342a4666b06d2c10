//! The station service as its own process (`kiosk serve`), killed with SIGKILL in the middle of a
//! load and started again: every card each kiosk's outbox held is stored exactly once.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use dialogue::{Engine, InterviewConfig, KnowledgeBase};
use store::outbox::Outbox;
use store::{Actor, CardStore as _, SqliteStore};

const KIOSKS: usize = 8;
const CARDS: usize = 40;

/// `kiosk ARGS` on the data directory `data`, without models, with `config` if given.
fn kiosk(data: &Path, config: Option<&Path>, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kiosk"));
    if let Some(c) = config {
        cmd.arg("--config").arg(c);
    }
    cmd.args(args)
        .env("KIOSK_DATA_DIR", data)
        .env("KIOSK_MODELS_DIR", data.join("no-models"))
        .env_remove("KIOSK_CONFIG")
        .env("KIOSK_LOG", "warn");
    cmd
}

/// Starts `kiosk serve` on `addr` and waits until it accepts connections.
fn serve_with(data: &Path, config: Option<&Path>, addr: SocketAddr) -> Child {
    let child = kiosk(data, config, &["serve", "--bind", &addr.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("kiosk serve starts");
    let start = Instant::now();
    while TcpStream::connect(addr).is_err() {
        assert!(start.elapsed() < Duration::from_secs(20), "the service did not come up");
        std::thread::sleep(Duration::from_millis(50));
    }
    child
}

fn serve(data: &Path, addr: SocketAddr) -> Child {
    serve_with(data, None, addr)
}

fn stored(db: &Path) -> Vec<String> {
    SqliteStore::open(db)
        .and_then(|s| s.queue())
        .map(|q| q.into_iter().map(|e| e.card_id).collect())
        .unwrap_or_default()
}

#[test]
fn killing_the_service_mid_load_loses_and_duplicates_nothing() {
    let data = tempfile::tempdir().expect("tempdir");
    let db = data.path().join("cards.sqlite");
    let tokens: Vec<(String, String)> = {
        let mut store = SqliteStore::open(&db).expect("store");
        let admin = Actor::Staff("admin".into());
        (0..KIOSKS)
            .map(|k| {
                let id = format!("lobby-{k}");
                let token = store.register_device(&id, &admin, 0).expect("device");
                (id, token)
            })
            .collect()
    };
    let addr = TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr");
    let mut server = serve(data.path(), addr);
    let kb = Arc::new(KnowledgeBase::embedded().expect("kb"));
    let templates =
        Arc::new(dialogue::eval::intake_cards(&Arc::new(Engine::new(kb, InterviewConfig::default())), 10));
    let failed = Arc::new(AtomicBool::new(false));
    let base = format!("http://{addr}");
    let clients: Vec<_> = tokens
        .into_iter()
        .enumerate()
        .map(|(k, (kiosk, token))| {
            let (templates, base, dir, failed) = (
                Arc::clone(&templates),
                base.clone(),
                data.path().join(format!("outbox-{k}")),
                Arc::clone(&failed),
            );
            std::thread::spawn(move || {
                let outbox = Outbox::open(&dir).expect("outbox");
                let mut http = service::client::HttpDelivery::new(&base, &token);
                let start = Instant::now();
                for i in 0..CARDS {
                    let mut card = templates[(k + i) % templates.len()].clone();
                    card.card_id = format!("{kiosk}-{i:03}");
                    // Committed to the outbox first: from here the card cannot be lost.
                    outbox.put(&card, i as u64).expect("put");
                    // Send what is pending; when the service is down, keep it and go on.
                    let _ = outbox.drain(&mut http);
                    std::thread::sleep(Duration::from_millis(5));
                }
                while outbox.pending().expect("pending") > 0 {
                    if start.elapsed() > Duration::from_secs(120) {
                        failed.store(true, Ordering::Relaxed);
                        return;
                    }
                    let _ = outbox.drain(&mut http);
                    std::thread::sleep(Duration::from_millis(100));
                }
            })
        })
        .collect();
    // Kill the service the hard way once part of the load is in.
    let start = Instant::now();
    while stored(&db).len() < KIOSKS * CARDS / 3 {
        assert!(start.elapsed() < Duration::from_secs(60), "the load did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    server.kill().expect("SIGKILL");
    server.wait().expect("reaped");
    let at_kill = stored(&db).len();
    assert!(at_kill < KIOSKS * CARDS, "killed too late to matter");
    std::thread::sleep(Duration::from_millis(700));
    let mut server = serve(data.path(), addr);
    for c in clients {
        c.join().expect("client");
    }
    assert!(!failed.load(Ordering::Relaxed), "an outbox did not drain after the restart");
    server.kill().expect("stop");
    server.wait().expect("reaped");
    let mut ids = stored(&db);
    let total = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), KIOSKS * CARDS, "lost cards (stored at the kill: {at_kill})");
    assert_eq!(total, ids.len(), "duplicated cards");
}

#[test]
fn kiosk_serve_speaks_https_with_certs_from_kiosk_certs_and_refuses_plain_http_off_loopback() {
    let data = tempfile::tempdir().expect("tempdir");
    let run = |args: &[&str], config: Option<&Path>| kiosk(data.path(), config, args);
    let out = run(&["serve", "--bind", "0.0.0.0:0"], None).output().expect("kiosk runs");
    let text = String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success());
    assert!(text.contains("refusing plain HTTP") && text.contains("kiosk certs"), "{text}");

    let certs = data.path().join("certs");
    let out = run(&["certs", "--out", certs.to_str().expect("utf-8"), "--host", "127.0.0.1"], None)
        .output()
        .expect("kiosk certs runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let config = data.path().join("station.toml");
    std::fs::write(
        &config,
        format!(
            "[station]\ntls_cert = \"{}\"\ntls_key = \"{}\"\n",
            certs.join("station.pem").display(),
            certs.join("station.key").display()
        ),
    )
    .expect("config");
    let addr = TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr");
    let mut server = serve_with(data.path(), Some(&config), addr);
    let ca = std::fs::read(certs.join("station-ca.pem")).expect("ca");
    let mut nurse =
        service::client::StationClient::trusting(&format!("https://{addr}"), &ca).expect("client");
    // No account yet: the service answers over TLS with a clear refusal.
    let refused = nurse.sign_in("nobody", "whatever password").expect_err("no such account");
    assert!(matches!(refused, service::client::ApiError::Refused { status: 401, .. }), "{refused:?}");
    let _ = server.kill();
    let _ = server.wait();
}
