//! Clients of the service: the kiosk's ([`HttpDelivery`]: outbox cards and staff alerts, with the
//! kiosk's device token) and the nurse station's ([`StationClient`]: sign-in, queue, cards,
//! changes, alerts, the event long poll). Both are blocking (`ureq`) and meant for their own
//! threads, never a UI thread.

use std::time::Duration;

use protocol::ConditionCard;
use serde::Deserialize;
use serde_json::json;
use store::alerts::{NewAlert, StoredAlert};
use store::outbox::Deliver;
use store::{AuditEntry, DraftedHpi, QueueEntry, Status};

fn agent(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder().timeout_global(Some(timeout)).http_status_as_error(false).build().into()
}

/// An agent that trusts only the CA certificates in `ca_pem` (the station's own CA) for HTTPS.
fn agent_trusting(timeout: Duration, ca_pem: &[u8]) -> Result<ureq::Agent, String> {
    use ureq::tls::{PemItem, RootCerts, TlsConfig};
    let mut certs = Vec::new();
    for item in ureq::tls::parse_pem(ca_pem) {
        match item {
            Ok(PemItem::Certificate(c)) => certs.push(c),
            Ok(_) => {}
            Err(e) => return Err(format!("the CA file is not PEM: {e}")),
        }
    }
    if certs.is_empty() {
        return Err("the CA file holds no CERTIFICATE block".into());
    }
    let tls = TlsConfig::builder().root_certs(RootCerts::Specific(std::sync::Arc::new(certs))).build();
    Ok(ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .http_status_as_error(false)
        .tls_config(tls)
        .build()
        .into())
}

/// Delivers cards and alerts to the service with this kiosk's device token.
#[derive(Debug)]
pub struct HttpDelivery {
    base_url: String,
    token: String,
    agent: ureq::Agent,
}

impl HttpDelivery {
    /// A client for the service at `base_url` (`http://host:port`).
    pub fn new(base_url: &str, device_token: &str) -> Self {
        Self {
            base_url: base_url.trim_end_matches('/').to_owned(),
            token: device_token.to_owned(),
            agent: agent(Duration::from_secs(10)),
        }
    }

    /// The same, trusting only the CA certificates in `ca_pem` for HTTPS (the station's CA from
    /// `kiosk certs`). The error says what is wrong with the file.
    pub fn trusting(base_url: &str, device_token: &str, ca_pem: &[u8]) -> Result<Self, String> {
        Ok(Self {
            base_url: base_url.trim_end_matches('/').to_owned(),
            token: device_token.to_owned(),
            agent: agent_trusting(Duration::from_secs(10), ca_pem)?,
        })
    }

    fn post(&self, path: &str, body: &[u8], key: Option<&str>) -> Result<(), String> {
        let mut request = self
            .agent
            .post(format!("{}{path}", self.base_url))
            .header("Authorization", format!("Bearer {}", self.token))
            .header("Content-Type", "application/json");
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        let mut response = request.send(body).map_err(|e| format!("cannot reach the service: {e}"))?;
        let status = response.status().as_u16();
        if status == 200 || status == 201 {
            return Ok(());
        }
        let reason = response.body_mut().read_to_string().unwrap_or_default();
        Err(format!("service answered {status}: {reason}"))
    }

    /// Sends the 现病史 being drafted for `card_id` so far (shown live at the station, never
    /// stored there); best effort.
    pub fn draft(&mut self, card_id: &str, lang: protocol::Lang, text: &str) -> Result<(), String> {
        let body = json!({ "lang": lang.code(), "text": text }).to_string();
        self.post(&format!("/api/v1/cards/{}/draft", url_segment(card_id)), body.as_bytes(), None)
    }

    /// Raises a staff alert at the station; `Ok` once it is stored there.
    pub fn alert(&mut self, alert: &NewAlert) -> Result<(), String> {
        let body = serde_json::to_vec(alert).map_err(|e| e.to_string())?;
        self.post("/api/v1/alerts", &body, None)
    }
}

impl Deliver for HttpDelivery {
    fn deliver(&mut self, card: &ConditionCard, idempotency_key: &str) -> Result<(), String> {
        let body = serde_json::to_vec(card).map_err(|e| e.to_string())?;
        self.post("/api/v1/cards", &body, Some(idempotency_key))
    }

    fn amend(&mut self, drafted: &DraftedHpi) -> Result<(), String> {
        let body = json!({ "lang": drafted.lang.code(), "text": drafted.text }).to_string();
        self.post(&format!("/api/v1/cards/{}/hpi", url_segment(&drafted.card_id)), body.as_bytes(), None)
    }
}

/// What went wrong talking to the station, in words a nurse can act on.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// The service cannot be reached.
    #[error("the station service cannot be reached ({0}); check the network and that `kiosk serve` runs")]
    Unreachable(String),
    /// The session expired or was never valid.
    #[error("your session has expired; please sign in again")]
    SignedOut,
    /// The service refused the request.
    #[error("{reason}")]
    Refused {
        /// HTTP status.
        status: u16,
        /// The service's reason.
        reason: String,
    },
    /// The answer did not parse (a version mismatch between station and service).
    #[error("the service's answer was not understood: {0}")]
    Garbled(String),
}

/// A 现病史 a kiosk's language model is still writing for a card already sent (not yet checked).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct LiveDraft {
    /// The card.
    pub card_id: String,
    /// Its language code (`zh`, `en`).
    pub lang: String,
    /// The text so far.
    pub text: String,
    /// Which kiosk writes it (`kiosk:ID`).
    pub kiosk: String,
}

/// A card as the station reads it.
#[derive(Clone, Debug, Deserialize)]
pub struct CardRecord {
    /// Version (send it back with a change).
    pub version: u32,
    /// Workflow state.
    pub status: Status,
    /// Received, Unix ms.
    pub received_ms: u64,
    /// The card.
    pub card: ConditionCard,
}

/// A nurse's change, as the service takes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StaffChange {
    /// New level, with a reason.
    Level(u8, String),
    /// New department code, with a reason.
    Department(String, String),
    /// A field (`slot:onset`, `history`, `medications`, `allergies`, `hpi`), its new text, a reason.
    Field(String, String, String),
    /// Approve.
    Approve,
    /// The patient has been seen.
    Seen,
}

impl StaffChange {
    fn body(&self, expected_version: u32) -> serde_json::Value {
        match self {
            Self::Level(level, reason) => {
                json!({ "expected_version": expected_version, "change": "level", "level": level, "reason": reason })
            }
            Self::Department(department, reason) => json!({
                "expected_version": expected_version, "change": "department",
                "department": department, "reason": reason
            }),
            Self::Field(field, text, reason) => json!({
                "expected_version": expected_version, "change": "field",
                "field": field, "text": text, "reason": reason
            }),
            Self::Approve => json!({ "expected_version": expected_version, "change": "approve" }),
            Self::Seen => json!({ "expected_version": expected_version, "change": "seen" }),
        }
    }
}

/// The nurse station's client. Clone it for a second thread (the event poll); the session token
/// is shared by value.
#[derive(Clone, Debug)]
pub struct StationClient {
    base_url: String,
    token: Option<String>,
    agent: ureq::Agent,
}

impl StationClient {
    /// A client for the service at `base_url`, signed out.
    pub fn new(base_url: &str) -> Self {
        Self {
            base_url: base_url.trim_end_matches('/').to_owned(),
            token: None,
            agent: agent(Duration::from_secs(40)),
        }
    }

    /// The same, trusting only the CA certificates in `ca_pem` for HTTPS.
    pub fn trusting(base_url: &str, ca_pem: &[u8]) -> Result<Self, String> {
        Ok(Self {
            base_url: base_url.trim_end_matches('/').to_owned(),
            token: None,
            agent: agent_trusting(Duration::from_secs(40), ca_pem)?,
        })
    }

    /// The service's address.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Whether a sign-in succeeded (the service may still have expired it).
    pub fn signed_in(&self) -> bool {
        self.token.is_some()
    }

    fn call(&self, method: &str, path: &str, body: Option<serde_json::Value>) -> Result<String, ApiError> {
        let url = format!("{}{path}", self.base_url);
        let auth = self.token.as_ref().map(|t| format!("Bearer {t}"));
        let get = || {
            let mut r = self.agent.get(&url);
            if let Some(a) = &auth {
                r = r.header("Authorization", a);
            }
            r.call()
        };
        let result = match (method, body) {
            // A kept-alive connection the service has closed meanwhile fails at once with an I/O
            // error; a read is safe to send again, once, on a fresh connection.
            ("GET", _) => match get() {
                Err(ureq::Error::Io(e)) => {
                    tracing::debug!(error = %e, "station connection dropped; reading again");
                    get()
                }
                other => other,
            },
            (_, body) => {
                let mut r = self.agent.post(&url).header("Content-Type", "application/json");
                if let Some(a) = &auth {
                    r = r.header("Authorization", a);
                }
                r.send(body.unwrap_or_else(|| json!({})).to_string().as_bytes())
            }
        };
        let mut response = result.map_err(|e| ApiError::Unreachable(e.to_string()))?;
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().map_err(|e| ApiError::Unreachable(e.to_string()))?;
        match status {
            200 | 201 => Ok(text),
            401 if self.token.is_some() => Err(ApiError::SignedOut),
            _ => {
                let reason = serde_json::from_str::<serde_json::Value>(&text)
                    .ok()
                    .and_then(|v| v["error"].as_str().map(str::to_owned))
                    .unwrap_or_else(|| format!("the service answered {status}"));
                Err(ApiError::Refused { status, reason })
            }
        }
    }

    fn parse<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, ApiError> {
        serde_json::from_str(text).map_err(|e| ApiError::Garbled(e.to_string()))
    }

    /// Signs in; the password is sent once and not kept.
    pub fn sign_in(&mut self, name: &str, password: &str) -> Result<(), ApiError> {
        self.token = None;
        let text = self.call("POST", "/api/v1/login", Some(json!({ "name": name, "password": password })))?;
        let v: serde_json::Value = Self::parse(&text)?;
        let token = v["token"].as_str().ok_or_else(|| ApiError::Garbled("no token".into()))?;
        self.token = Some(token.to_owned());
        Ok(())
    }

    /// Signs out (the token stops working at the service too).
    pub fn sign_out(&mut self) -> Result<(), ApiError> {
        let result =
            if self.token.is_some() { self.call("POST", "/api/v1/logout", None).map(|_| ()) } else { Ok(()) };
        self.token = None;
        result
    }

    /// Cards not yet seen, by level then waiting time.
    pub fn queue(&self) -> Result<Vec<QueueEntry>, ApiError> {
        Self::parse(&self.call("GET", "/api/v1/queue", None)?)
    }

    /// One card (the read is audited).
    pub fn card(&self, id: &str) -> Result<CardRecord, ApiError> {
        Self::parse(&self.call("GET", &format!("/api/v1/cards/{}", url_segment(id)), None)?)
    }

    /// The audit trail of a card.
    pub fn audit(&self, id: &str) -> Result<Vec<AuditEntry>, ApiError> {
        Self::parse(&self.call("GET", &format!("/api/v1/cards/{}/audit", url_segment(id)), None)?)
    }

    /// Makes a change against `expected_version`; returns the new version.
    pub fn change(&self, id: &str, expected_version: u32, change: &StaffChange) -> Result<u32, ApiError> {
        let text = self.call(
            "POST",
            &format!("/api/v1/cards/{}/changes", url_segment(id)),
            Some(change.body(expected_version)),
        )?;
        let v: serde_json::Value = Self::parse(&text)?;
        v["version"].as_u64().map(|v| v as u32).ok_or_else(|| ApiError::Garbled("no version".into()))
    }

    /// 现病史 drafts being written at kiosks for cards already sent.
    pub fn drafts(&self) -> Result<Vec<LiveDraft>, ApiError> {
        Self::parse(&self.call("GET", "/api/v1/drafts", None)?)
    }

    /// Alerts not yet acknowledged.
    pub fn alerts(&self) -> Result<Vec<StoredAlert>, ApiError> {
        Self::parse(&self.call("GET", "/api/v1/alerts", None)?)
    }

    /// Acknowledges an alert.
    pub fn acknowledge(&self, seq: u64) -> Result<(), ApiError> {
        self.call("POST", &format!("/api/v1/alerts/{seq}/ack"), None).map(|_| ())
    }

    /// Waits up to `wait_s` seconds for a change after `after`; returns the change number.
    pub fn wait_for_change(&self, after: Option<u64>, wait_s: u64) -> Result<u64, ApiError> {
        let path = match after {
            Some(n) => format!("/api/v1/events?after={n}&wait_s={wait_s}"),
            None => "/api/v1/events".to_owned(),
        };
        let v: serde_json::Value = Self::parse(&self.call("GET", &path, None)?)?;
        v["seq"].as_u64().ok_or_else(|| ApiError::Garbled("no seq".into()))
    }
}

/// Percent-encodes a path segment (card ids are plain, but never trust that).
fn url_segment(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
