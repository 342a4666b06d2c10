//! The kiosk's on-disk outbox: a card is written here (synced file, atomic rename, synced
//! directory) before the patient is told it was sent, and stays until the receiver acknowledges
//! it. Draining delivers oldest first and stops at the first failure (the link is down: try again
//! later); a crash between delivery and removal only means the card is delivered again, which the
//! receiver's idempotency key turns into a no-op.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use protocol::ConditionCard;

use crate::{Actor, CardStore, SqliteStore};

/// Where cards go from the outbox: the station's service, or the local store of a standalone kiosk.
pub trait Deliver {
    /// Delivers `card` with `idempotency_key`; `Ok` means acknowledged (stored by the receiver).
    fn deliver(&mut self, card: &ConditionCard, idempotency_key: &str) -> Result<(), String>;
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
        // Named by time so that draining goes oldest first; the id keeps names unique.
        let name = format!("{at_ms:016}-{}{SUFFIX}", sanitize(&card.card_id));
        let path = self.dir.join(&name);
        let tmp = self.dir.join(format!(".{name}.partial"));
        let bytes = serde_json::to_vec(card).map_err(std::io::Error::other)?;
        {
            let mut file = std::fs::File::create(&tmp)?;
            file.write_all(&bytes)?;
            file.sync_all()?;
        }
        std::fs::rename(&tmp, &path)?;
        std::fs::File::open(&self.dir)?.sync_all()
    }

    fn files(&self) -> std::io::Result<Vec<PathBuf>> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&self.dir)?
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().ends_with(SUFFIX)))
            .collect();
        files.sort();
        Ok(files)
    }

    /// Cards waiting for acknowledgement.
    pub fn pending(&self) -> std::io::Result<usize> {
        Ok(self.files()?.len())
    }

    /// Delivers waiting cards, oldest first, until one fails.
    pub fn drain(&self, to: &mut dyn Deliver) -> std::io::Result<Drained> {
        let files = self.files()?;
        let mut out = Drained { remaining: files.len(), ..Drained::default() };
        for path in files {
            let bytes = std::fs::read(&path)?;
            let card: ConditionCard = match serde_json::from_slice(&bytes) {
                Ok(c) => c,
                Err(e) => {
                    // A damaged file is set aside for staff, never silently dropped.
                    let aside = path.with_extension("damaged");
                    std::fs::rename(&path, &aside)?;
                    tracing::error!(file = %aside.display(), error = %e, "outbox card damaged; set aside");
                    out.remaining -= 1;
                    continue;
                }
            };
            match to.deliver(&card, &card.card_id) {
                Ok(()) => {
                    std::fs::remove_file(&path)?;
                    out.delivered += 1;
                    out.remaining -= 1;
                }
                Err(e) => {
                    tracing::warn!(card = %card.card_id, error = %e, "delivery failed; will retry");
                    out.error = Some(e);
                    break;
                }
            }
        }
        Ok(out)
    }
}

fn sanitize(id: &str) -> String {
    id.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect()
}
