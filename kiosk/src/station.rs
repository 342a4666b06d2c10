//! Where finished cards and staff alerts go.
//!
//! - **Standalone** (no `[station] url`): cards are committed to the kiosk's own SQLite store and
//!   alerts are raised in it; a `kiosk serve` on the same machine serves both to the nurse station.
//! - **Linked**: a card is written to the on-disk outbox (synced) before the patient is told it was
//!   sent, and the `station-link` thread delivers it to the station's service, retrying with
//!   back-off until the service acknowledges it (the card id is the idempotency key, so a resend
//!   never duplicates). Alerts go first, since a red flag is urgent; an alert the station cannot
//!   take yet is kept (in memory, up to [`PENDING_ALERTS`]) and resent.
//!
//! A 现病史 the language model finishes after its card was sent follows the card the same way
//! (outbox, then the station, where it becomes an audited kiosk version of the card). While it is
//! written, the link sends the text so far to the station for the nurse to watch (best effort:
//! only the newest text is sent, and nothing while the station is unreachable).
//!
//! Either way every alert is also written to the kiosk's log (kind, rule and card ids only).

use std::collections::VecDeque;
use std::path::PathBuf;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use crossbeam_channel::{Receiver, Sender, bounded};
use protocol::{ConditionCard, Lang};
use service::client::HttpDelivery;
use store::alerts::{AlertKind, NewAlert};
use store::outbox::Outbox;
use store::{Actor, SqliteStore};

use crate::config::Config;
use crate::orchestrator::{CardSink, Numbering, StoreSink, unix_ms};
use crate::session::Alert;

/// Alerts kept for resending while the station is unreachable.
pub const PENDING_ALERTS: usize = 256;
/// Alerts queued from the session at most.
const ALERT_CAPACITY: usize = 64;
/// Draft texts queued for the link at most (it sends only the newest).
const DRAFT_CAPACITY: usize = 16;
/// Longest wait between delivery attempts while the station is unreachable.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// How often a healthy link looks at the outbox anyway (a card left by a crash).
const IDLE_CHECK: Duration = Duration::from_secs(15);

/// The alert as the station stores it: kind, ids and level, never patient words. `n` makes the
/// key unique within this kiosk's run.
pub fn to_station(alert: &Alert, kiosk_id: &str, at_ms: u64, n: u64) -> NewAlert {
    let key = format!("{kiosk_id}-{at_ms}-{n}");
    let (kind, card_id, level, detail) = match alert {
        Alert::RedFlag { card_id, rule_id, level } => {
            (AlertKind::RedFlag, Some(card_id.clone()), Some(*level), rule_id.clone())
        }
        Alert::CallStaff { card_id } => (AlertKind::CallStaff, card_id.clone(), None, String::new()),
        Alert::WorkerFailed { what } => {
            (AlertKind::WorkerFailed, None, None, what.chars().take(200).collect::<String>())
        }
        Alert::StoreFailed { card_id } => {
            (AlertKind::StoreFailed, Some(card_id.clone()), None, String::new())
        }
    };
    NewAlert { key, kind, card_id, level, detail }
}

/// The card sink and alert channel of a kiosk, and the thread behind them.
pub struct Handoff {
    /// Where the session commits cards.
    pub sink: Box<dyn CardSink>,
    /// Where the session sends staff alerts.
    pub alerts: Sender<Alert>,
    /// The thread that delivers (joined by [`Courier::join`]).
    pub courier: Courier,
}

impl std::fmt::Debug for Handoff {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handoff").finish_non_exhaustive()
    }
}

/// The delivering thread.
#[derive(Debug)]
pub struct Courier {
    thread: Option<JoinHandle<()>>,
}

impl Courier {
    /// Waits for the thread: it ends once the session has dropped its alert sender and the card
    /// sink, after a last delivery attempt.
    pub fn join(mut self) {
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Opens the kiosk's hand-off as configured.
pub fn open(config: &Config) -> anyhow::Result<Handoff> {
    match &config.station.url {
        None => standalone(config),
        Some(url) => {
            let token_file = config.station.token_file.as_ref().ok_or_else(|| {
                anyhow::anyhow!(
                    "config key `station.url` is set but `station.token_file` is empty; register this \
                     kiosk on the station (`kiosk accounts register-kiosk {}`) and put the printed \
                     token in a file named by `station.token_file`",
                    config.kiosk_id
                )
            })?;
            let token = read_token(token_file)?;
            let outbox_dir = config.data_dir.join("outbox");
            let outbox = Outbox::open(&outbox_dir)
                .with_context(|| format!("cannot open the outbox {}", outbox_dir.display()))?;
            linked(config, outbox, delivery(config, url, &token)?)
        }
    }
}

/// The station's CA certificate (`station.ca_file`), if one is configured.
pub fn ca_pem(config: &Config) -> anyhow::Result<Option<Vec<u8>>> {
    config
        .station
        .ca_file
        .as_ref()
        .map(|path| {
            std::fs::read(path).with_context(|| {
                format!(
                    "cannot read the station CA certificate {} (config key `station.ca_file`)",
                    path.display()
                )
            })
        })
        .transpose()
}

fn delivery(config: &Config, url: &str, token: &str) -> anyhow::Result<HttpDelivery> {
    match ca_pem(config)? {
        Some(pem) => HttpDelivery::trusting(url, token, &pem).map_err(|e| {
            anyhow::anyhow!("config key `station.ca_file`: {e}; give the station CA's PEM certificate")
        }),
        None => Ok(HttpDelivery::new(url, token)),
    }
}

fn read_token(path: &PathBuf) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(path).with_context(|| {
        format!("cannot read the device token file {} (config key `station.token_file`)", path.display())
    })?;
    let token = text.trim();
    if token.is_empty() || token.contains(char::is_whitespace) {
        anyhow::bail!(
            "the device token file {} (config key `station.token_file`) must hold the one token \
             `kiosk accounts register-kiosk` printed",
            path.display()
        );
    }
    Ok(token.to_owned())
}

fn standalone(config: &Config) -> anyhow::Result<Handoff> {
    let path = crate::console::store_path(&config.data_dir);
    let sink = StoreSink::open(&path, &config.kiosk_id)
        .with_context(|| format!("cannot open the card store {}", path.display()))?;
    let (tx, rx) = bounded::<Alert>(ALERT_CAPACITY);
    let kiosk_id = config.kiosk_id.clone();
    let thread = std::thread::Builder::new().name("alerts".into()).spawn(move || {
        let mut store = match SqliteStore::open(&path) {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::error!(error = %e, "alerts go to the log only: the card store cannot be opened");
                None
            }
        };
        let actor = Actor::Kiosk(kiosk_id.clone());
        for (n, alert) in rx.into_iter().enumerate() {
            let now = unix_ms();
            let new = to_station(&alert, &kiosk_id, now, n as u64);
            tracing::warn!(kind = new.kind.code(), detail = %new.detail, card = ?new.card_id, "STAFF ALERT");
            if let Some(store) = store.as_mut()
                && let Err(e) = store.raise_alert(&new, &actor, now)
            {
                tracing::error!(error = %e, "staff alert not stored");
            }
        }
    })?;
    Ok(Handoff { sink: Box::new(sink), alerts: tx, courier: Courier { thread: Some(thread) } })
}

/// A card sink that writes to the outbox and wakes the link.
struct OutboxSink {
    outbox: Outbox,
    wake: Sender<()>,
    drafts: Sender<LiveDraft>,
    numbers: Numbering,
}

/// A 现病史 being drafted, so far.
struct LiveDraft {
    card_id: String,
    lang: Lang,
    text: String,
}

impl CardSink for OutboxSink {
    fn submit(&mut self, card: &ConditionCard) -> anyhow::Result<String> {
        let at = unix_ms();
        let number = self.numbers.next(at);
        let card = ConditionCard { queue_number: Some(number.clone()), ..card.clone() };
        self.outbox.put(&card, at).context("the card could not be written to the outbox")?;
        // A full wake channel already has a wake-up pending.
        let _ = self.wake.try_send(());
        Ok(number)
    }

    fn amend_hpi(&mut self, drafted: &store::DraftedHpi) -> anyhow::Result<()> {
        self.outbox
            .put_hpi(drafted, unix_ms())
            .context("the drafted 现病史 could not be written to the outbox")?;
        let _ = self.wake.try_send(());
        Ok(())
    }

    fn draft_progress(&mut self, card_id: &str, lang: Lang, text: &str) {
        // A full queue: the link is behind, and a newer text will follow.
        let _ = self.drafts.try_send(LiveDraft { card_id: card_id.to_owned(), lang, text: text.to_owned() });
    }
}

/// Where the link delivers (the station's HTTP service; a fake in tests).
pub trait Station: store::outbox::Deliver + Send {
    /// Raises an alert; `Ok` once the station has stored it.
    fn alert(&mut self, alert: &NewAlert) -> Result<(), String>;
    /// Shows the 现病史 being drafted for `card_id` so far (never stored there).
    fn draft(&mut self, card_id: &str, lang: Lang, text: &str) -> Result<(), String>;
}

impl Station for HttpDelivery {
    fn alert(&mut self, alert: &NewAlert) -> Result<(), String> {
        HttpDelivery::alert(self, alert)
    }
    fn draft(&mut self, card_id: &str, lang: Lang, text: &str) -> Result<(), String> {
        HttpDelivery::draft(self, card_id, lang, text)
    }
}

/// A kiosk linked to a station through `outbox` and `station`.
pub fn linked(config: &Config, outbox: Outbox, station: impl Station + 'static) -> anyhow::Result<Handoff> {
    let (wake_tx, wake_rx) = bounded::<()>(1);
    let (alert_tx, alert_rx) = bounded::<Alert>(ALERT_CAPACITY);
    let (draft_tx, draft_rx) = bounded::<LiveDraft>(DRAFT_CAPACITY);
    let sink = OutboxSink {
        outbox: outbox.clone(),
        wake: wake_tx,
        drafts: draft_tx,
        numbers: Numbering::new(&config.kiosk_id),
    };
    let kiosk_id = config.kiosk_id.clone();
    let channels = LinkChannels { wake: wake_rx, alerts: alert_rx, drafts: draft_rx };
    let thread = std::thread::Builder::new()
        .name("station-link".into())
        .spawn(move || link(&outbox, station, &channels, &kiosk_id))?;
    Ok(Handoff { sink: Box::new(sink), alerts: alert_tx, courier: Courier { thread: Some(thread) } })
}

/// What the link thread listens to.
struct LinkChannels {
    /// A card (or drafted 现病史) is in the outbox.
    wake: Receiver<()>,
    alerts: Receiver<Alert>,
    drafts: Receiver<LiveDraft>,
}

fn link(outbox: &Outbox, mut station: impl Station, channels: &LinkChannels, kiosk_id: &str) {
    let mut pending: VecDeque<NewAlert> = VecDeque::new();
    let mut n = 0u64;
    let mut backoff = Duration::from_secs(1);
    let mut next_attempt = Instant::now();
    let mut open = (true, true);
    let mut drafts_open = true;
    let mut was_down = false;
    while open.0 || open.1 {
        let mut take = |alert: Alert| {
            let new = to_station(&alert, kiosk_id, unix_ms(), n);
            n += 1;
            tracing::warn!(kind = new.kind.code(), detail = %new.detail, card = ?new.card_id, "STAFF ALERT");
            if pending.len() == PENDING_ALERTS {
                tracing::error!("too many staff alerts waiting for the station: the oldest is dropped");
                pending.pop_front();
            }
            pending.push_back(new);
        };
        let wait = next_attempt.saturating_duration_since(Instant::now());
        crossbeam_channel::select! {
            recv(if open.1 { channels.alerts.clone() } else { crossbeam_channel::never() }) -> a => match a {
                Ok(alert) => take(alert),
                Err(_) => open.1 = false,
            },
            recv(if open.0 { channels.wake.clone() } else { crossbeam_channel::never() }) -> w => {
                if w.is_err() {
                    open.0 = false;
                }
            },
            recv(if drafts_open { channels.drafts.clone() } else { crossbeam_channel::never() }) -> d => {
                match d {
                    // Only the newest text matters; nothing is sent while the station is down.
                    Ok(first) => {
                        let newest = channels.drafts.try_iter().last().unwrap_or(first);
                        if !was_down
                            && let Err(e) = station.draft(&newest.card_id, newest.lang, &newest.text)
                        {
                            tracing::debug!(error = %e, "draft not shown at the station");
                        }
                    }
                    Err(_) => drafts_open = false,
                }
                continue;
            },
            default(wait) => {},
        }
        // Whatever else arrived meanwhile.
        while let Ok(alert) = channels.alerts.try_recv() {
            take(alert);
        }
        let mut failure = None;
        while let Some(alert) = pending.front() {
            match station.alert(alert) {
                Ok(()) => {
                    pending.pop_front();
                }
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        if failure.is_none() {
            match outbox.drain(&mut station) {
                Ok(d) => failure = d.error,
                Err(e) => failure = Some(format!("the outbox cannot be read: {e}")),
            }
        }
        match failure {
            Some(e) => {
                if !was_down {
                    tracing::warn!(error = %e, "the station cannot take cards or alerts now; retrying");
                }
                was_down = true;
                next_attempt = Instant::now() + backoff;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
            None => {
                if was_down {
                    tracing::info!("the station link is back; the outbox is drained");
                }
                was_down = false;
                backoff = Duration::from_secs(1);
                next_attempt = Instant::now() + IDLE_CHECK;
            }
        }
        // The session has ended: one last attempt was made above.
        if !open.0 && !open.1 {
            break;
        }
    }
    let left = outbox.pending().unwrap_or(0);
    if left > 0 || !pending.is_empty() {
        tracing::warn!(
            cards = left,
            alerts = pending.len(),
            "stopping with deliveries pending (the cards stay in the outbox)"
        );
    }
}
