//! `kiosk bench store`: many kiosks submitting cards at once to a real station service on
//! loopback, each through its own on-disk outbox (put, then drain over HTTP), with some cards sent
//! twice as after a lost acknowledgement. Prints one JSON object; `lost` and `duplicated` must be 0.

use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use dialogue::{Engine, InterviewConfig, KnowledgeBase};
use serde::Serialize;
use store::outbox::{Deliver as _, Outbox};
use store::{Actor, CardStore as _, SqliteStore};

#[derive(Debug, Serialize)]
struct Report {
    kiosks: usize,
    cards_per_kiosk: usize,
    cards_submitted: usize,
    resent: usize,
    stored: usize,
    lost: usize,
    duplicated: usize,
    seconds: f64,
    throughput_per_s: f64,
    submit_p50_ms: f64,
    submit_p95_ms: f64,
}

/// Runs the bench and prints the report.
pub fn run(kiosks: usize, cards_per_kiosk: usize, out: &mut dyn Write) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("station.sqlite");
    let tokens: Vec<(String, String)> = {
        let mut store = SqliteStore::open(&db)?;
        let admin = Actor::Staff("bench".into());
        (0..kiosks)
            .map(|k| {
                let id = format!("bench-{k:02}");
                store.register_device(&id, &admin, 0).map(|t| (id, t))
            })
            .collect::<Result<_, _>>()?
    };
    let kb = Arc::new(KnowledgeBase::embedded()?);
    let templates = dialogue::eval::intake_cards(&Arc::new(Engine::new(kb, InterviewConfig::default())), 20);
    anyhow::ensure!(!templates.is_empty(), "no template cards");
    let templates = Arc::new(templates);
    let running =
        service::spawn(&db, "127.0.0.1:0".parse::<SocketAddr>()?, service::ServiceConfig::default())?;
    let base = format!("http://{}", running.addr);

    let start = Instant::now();
    let mut threads = Vec::new();
    for (k, (kiosk, token)) in tokens.into_iter().enumerate() {
        let (base, templates, outbox_dir) =
            (base.clone(), Arc::clone(&templates), dir.path().join(format!("outbox-{k}")));
        threads.push(std::thread::Builder::new().name(kiosk.clone()).spawn(
            move || -> anyhow::Result<(Vec<f64>, usize)> {
                let outbox = Outbox::open(&outbox_dir)?;
                let mut http = service::client::HttpDelivery::new(&base, &token);
                let mut times = Vec::with_capacity(cards_per_kiosk);
                let mut sent = Vec::new();
                for i in 0..cards_per_kiosk {
                    let mut card = templates[(k + i) % templates.len()].clone();
                    card.card_id = format!("{kiosk}-{i:04}");
                    let t = Instant::now();
                    outbox.put(&card, i as u64)?;
                    let drained = outbox.drain(&mut http)?;
                    anyhow::ensure!(drained.remaining == 0, "not delivered: {:?}", drained.error);
                    times.push(t.elapsed().as_secs_f64() * 1000.0);
                    sent.push(card);
                }
                // Every tenth card again, as after an acknowledgement lost on the way back.
                let mut resent = 0;
                for card in sent.iter().step_by(10) {
                    http.deliver(card, &card.card_id).map_err(anyhow::Error::msg)?;
                    resent += 1;
                }
                Ok((times, resent))
            },
        )?);
    }
    let mut times = Vec::new();
    let mut resent = 0;
    for t in threads {
        let (t, r) = t.join().map_err(|_| anyhow::anyhow!("a kiosk thread failed"))??;
        times.extend(t);
        resent += r;
    }
    let seconds = start.elapsed().as_secs_f64();
    running.stop();
    let store = SqliteStore::open(&db)?;
    let queue = store.queue()?;
    let mut ids: Vec<&str> = queue.iter().map(|e| e.card_id.as_str()).collect();
    let stored = ids.len();
    ids.sort_unstable();
    ids.dedup();
    let submitted = kiosks * cards_per_kiosk;
    let report = Report {
        kiosks,
        cards_per_kiosk,
        cards_submitted: submitted,
        resent,
        stored,
        lost: submitted.saturating_sub(ids.len()),
        duplicated: stored - ids.len(),
        seconds,
        throughput_per_s: submitted as f64 / seconds,
        submit_p50_ms: protocol::stats::percentile(&times, 50.0),
        submit_p95_ms: protocol::stats::percentile(&times, 95.0),
    };
    serde_json::to_writer_pretty(&mut *out, &report)?;
    writeln!(out)?;
    anyhow::ensure!(report.lost == 0 && report.duplicated == 0, "cards were lost or duplicated");
    Ok(())
}
