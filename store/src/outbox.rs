//! The kiosk's on-disk outbox: a card is written here (synced file, atomic rename, synced
//! directory) before the patient is told it was sent, and stays until the receiver acknowledges
//! it. Draining delivers oldest first and stops at the first failure (the link is down: try again
//! later); a crash between delivery and removal only means the card is delivered again, which the
//! receiver's idempotency key turns into a no-op. A 现病史 the language model finished after the
//! card was sent waits here too, behind its card, and is delivered the same way (a redelivery
//! finds it already on the card and changes nothing).

use std::io::Write as _;
use std::path::{Path, PathBuf};

use protocol::ConditionCard;

use crate::{Actor, Amended, CardStore, DraftedHpi, SqliteStore};

/// Where cards go from the outbox: the station's service, or the local store of a standalone kiosk.
pub trait Deliver {
    /// Delivers `card` with `idempotency_key`; `Ok` means acknowledged (stored by the receiver).
    fn deliver(&mut self, card: &ConditionCard, idempotency_key: &str) -> Result<(), String>;
    /// Delivers a late-drafted 现病史; `Ok` means the receiver has dealt with it for good (put it
    /// on the card, found it there, or refused it because a nurse's words stand).
    fn amend(&mut self, drafted: &DraftedHpi) -> Result<(), String>;
}

/// A standalone kiosk delivers into its own store.
#[derive(Debug)]
pub struct LocalDelivery<'a> {
    /// The store.
    pub store: &'a mut SqliteStore,
    /// This kiosk.
    pub kiosk: Actor,
    /// Clock, Unix ms.
    pub now_ms: fn() -> u64,
}

impl Deliver for LocalDelivery<'_> {
    fn deliver(&mut self, card: &ConditionCard, idempotency_key: &str) -> Result<(), String> {
        self.store
            .submit(card, idempotency_key, &self.kiosk, (self.now_ms)())
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    fn amend(&mut self, drafted: &DraftedHpi) -> Result<(), String> {
        let amended =
            self.store.amend_hpi(drafted, &self.kiosk, (self.now_ms)()).map_err(|e| e.to_string())?;
        log_amended(&drafted.card_id, &amended);
        Ok(())
    }
}

/// The log line for what became of a drafted 现病史 (ids and reasons, never the text).
pub fn log_amended(card_id: &str, amended: &Amended) {
    match amended {
        Amended::Applied(version) => tracing::info!(card = %card_id, version, "drafted 现病史 on the card"),
        Amended::Already => {}
        Amended::Refused(why) => tracing::info!(card = %card_id, why, "drafted 现病史 not applied"),
    }
}

/// What a drain did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Drained {
    /// Acknowledged and removed.
    pub delivered: usize,
    /// Still waiting.
    pub remaining: usize,
    /// The failure that stopped the drain, if any.
    pub error: Option<String>,
}

/// The outbox directory.
#[derive(Debug, Clone)]
pub struct Outbox {
    dir: PathBuf,
}

const SUFFIX: &str = ".card.json";
/// A late-drafted 现病史.
const HPI_SUFFIX: &str = ".hpi.json";

impl Outbox {
    /// Opens (creating) the outbox in `dir`, clearing half-written files left by a crash.
    pub fn open(dir: &Path) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        for entry in std::fs::read_dir(dir)?.flatten() {
            if entry.file_name().to_string_lossy().ends_with(".partial") {
                let _ = std::fs::remove_file(entry.path());
            }
        }
        Ok(Self { dir: dir.to_owned() })
    }

    /// Stores `card` durably; the card id is its idempotency key. Returns once it is on disk.
    pub fn put(&self, card: &ConditionCard, at_ms: u64) -> std::io::Result<()> {
        self.write(&card.card_id, SUFFIX, &serde_json::to_vec(card).map_err(std::io::Error::other)?, at_ms)
    }

    /// Stores a 现病史 drafted after its card was put here; delivered after the card.
    pub fn put_hpi(&self, drafted: &DraftedHpi, at_ms: u64) -> std::io::Result<()> {
        let bytes = serde_json::to_vec(drafted).map_err(std::io::Error::other)?;
        self.write(&drafted.card_id, HPI_SUFFIX, &bytes, at_ms)
    }

    fn write(&self, card_id: &str, suffix: &str, bytes: &[u8], at_ms: u64) -> std::io::Result<()> {
        // Named by time so that draining goes oldest first; the id keeps names unique.
        let name = format!("{at_ms:016}-{}{suffix}", sanitize(card_id));
        let path = self.dir.join(&name);
        let tmp = self.dir.join(format!(".{name}.partial"));
        {
            let mut file = std::fs::File::create(&tmp)?;
            file.write_all(bytes)?;
            file.sync_all()?;
        }
        std::fs::rename(&tmp, &path)?;
        std::fs::File::open(&self.dir)?.sync_all()
    }

    fn files(&self) -> std::io::Result<Vec<PathBuf>> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&self.dir)?
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                p.file_name().is_some_and(|n| {
                    let n = n.to_string_lossy();
                    n.ends_with(SUFFIX) || n.ends_with(HPI_SUFFIX)
                })
            })
            .collect();
        files.sort();
        Ok(files)
    }

    /// Cards (and drafted 现病史) waiting for acknowledgement.
    pub fn pending(&self) -> std::io::Result<usize> {
        Ok(self.files()?.len())
    }

    /// Delivers waiting cards, oldest first, until one fails.
    pub fn drain(&self, to: &mut dyn Deliver) -> std::io::Result<Drained> {
        let files = self.files()?;
        let mut out = Drained { remaining: files.len(), ..Drained::default() };
        for path in files {
            let bytes = std::fs::read(&path)?;
            let is_hpi = path.to_string_lossy().ends_with(HPI_SUFFIX);
            let parsed = if is_hpi {
                serde_json::from_slice(&bytes).map(Item::Hpi)
            } else {
                serde_json::from_slice(&bytes).map(|c| Item::Card(Box::new(c)))
            };
            let item = match parsed {
                Ok(item) => item,
                Err(e) => {
                    // A damaged file is set aside for staff, never silently dropped.
                    let aside = path.with_extension("damaged");
                    std::fs::rename(&path, &aside)?;
                    tracing::error!(file = %aside.display(), error = %e, "outbox file damaged; set aside");
                    out.remaining -= 1;
                    continue;
                }
            };
            let (card_id, result) = match &item {
                Item::Card(card) => (&card.card_id, to.deliver(card, &card.card_id)),
                Item::Hpi(drafted) => (&drafted.card_id, to.amend(drafted)),
            };
            match result {
                Ok(()) => {
                    std::fs::remove_file(&path)?;
                    out.delivered += 1;
                    out.remaining -= 1;
                }
                Err(e) => {
                    tracing::warn!(card = %card_id, error = %e, "delivery failed; will retry");
                    out.error = Some(e);
                    break;
                }
            }
        }
        Ok(out)
    }
}

/// What an outbox file holds.
enum Item {
    Card(Box<ConditionCard>),
    Hpi(DraftedHpi),
}

fn sanitize(id: &str) -> String {
    id.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect()
}
