//! The kiosk-to-station service over the card store, and the kiosk's client for it.
//!
//! `POST /api/v1/cards` (kiosk device token, `Idempotency-Key`, a JSON card) stores a card once,
//! however often it is sent; `POST /api/v1/login` signs staff in; `GET /api/v1/queue`,
//! `GET /api/v1/cards/{id}`, `GET /api/v1/cards/{id}/fhir`, `POST /api/v1/cards/{id}/changes`
//! (level, department, field edit with a reason; approve; seen; against the version the nurse saw)
//! and `GET /api/v1/cards/{id}/audit` need a staff session; every read and change is audited. A kiosk
//! token can only submit cards and raise alerts (`POST /api/v1/alerts`); staff list open alerts
//! (`GET /api/v1/alerts`), acknowledge them (`POST /api/v1/alerts/{seq}/ack`) and wait for news
//! with `GET /api/v1/events?after=N` (a long poll that answers as soon as a card or an alert
//! arrives or changes, so a red flag reaches the station within a round trip). A 现病史 the kiosk's
//! language model is still writing after the card was sent streams in with
//! `POST /api/v1/cards/{id}/draft` (kiosk; held in memory only, never stored or logged, gone after
//! [`LIVE_DRAFT_TTL`]) and is listed to staff by `GET /api/v1/drafts`; the checked result lands with
//! `POST /api/v1/cards/{id}/hpi` as an audited kiosk version, unless a nurse has edited the card
//! ([`store::CardStore::amend_hpi`]). Bad requests get a
//! 4xx with a JSON reason and store nothing. HTTPS (rustls) when given a certificate and key
//! ([`tls`]); plain HTTP only on loopback or a closed segment.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{DefaultBodyLimit, Path as UrlPath, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use dialogue::KnowledgeBase;
use protocol::ConditionCard;
use serde_json::json;
use store::accounts::{AuthError, Policy};
use store::alerts::NewAlert;
use store::{Actor, Amended, CardStore, Change, DraftedHpi, SqliteStore, StoreError, Submitted};

pub mod client;
pub mod tls;

/// Service settings.
#[derive(Clone, Debug)]
pub struct ServiceConfig {
    /// Largest request body accepted.
    pub max_body_bytes: usize,
    /// Staff account rules.
    pub policy: Policy,
    /// Certificate and key for HTTPS (`None`: plain HTTP).
    pub tls: Option<tls::TlsFiles>,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        Self { max_body_bytes: 256 * 1024, policy: Policy::default(), tls: None }
    }
}

struct AppState {
    store: Mutex<SqliteStore>,
    kb: KnowledgeBase,
    config: ServiceConfig,
    /// Bumped after every new card, change, alert and acknowledgement; `events` waits on it.
    changes: tokio::sync::watch::Sender<u64>,
    /// 现病史 drafts being written at kiosks for cards already sent, by card id (memory only).
    drafts: Mutex<HashMap<String, LiveDraft>>,
}

/// A draft being written, as the kiosk last sent it.
struct LiveDraft {
    lang: protocol::Lang,
    text: String,
    kiosk: String,
    at: Instant,
}

/// How long a draft the kiosk stopped sending stays listed (the kiosk's time budget is at most
/// 120 s).
pub const LIVE_DRAFT_TTL: Duration = Duration::from_secs(150);
/// Drafts held at once at most (the oldest goes first).
const LIVE_DRAFTS: usize = 32;

impl AppState {
    fn changed(&self) {
        self.changes.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// The drafts being written, those the kiosk stopped sending already gone.
    fn live_drafts(&self) -> Result<std::sync::MutexGuard<'_, HashMap<String, LiveDraft>>, Failure> {
        let mut drafts = self
            .drafts
            .lock()
            .map_err(|_| Failure(StatusCode::INTERNAL_SERVER_ERROR, "draft lock".into()))?;
        drafts.retain(|_, d| d.at.elapsed() < LIVE_DRAFT_TTL);
        Ok(drafts)
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, SqliteStore>, Failure> {
        self.store.lock().map_err(|_| Failure(StatusCode::INTERNAL_SERVER_ERROR, "store lock".into()))
    }
}

/// A drafted 现病史 as the kiosk sends it (the card id is in the path).
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct DraftBody {
    lang: String,
    text: String,
}

impl DraftBody {
    fn parse(body: &[u8], card_id: &str) -> Result<DraftedHpi, Failure> {
        let bad = |m: String| Failure(StatusCode::BAD_REQUEST, m);
        let draft: DraftBody =
            serde_json::from_slice(body).map_err(|e| bad(format!("expected {{\"lang\", \"text\"}}: {e}")))?;
        let lang = protocol::Lang::from_code(&draft.lang)
            .ok_or_else(|| bad(format!("`lang` must be `zh` or `en`, not {:?}", draft.lang)))?;
        if draft.text.chars().count() > store::MAX_DRAFTED_HPI_CHARS {
            return Err(bad(format!("`text` is longer than {} characters", store::MAX_DRAFTED_HPI_CHARS)));
        }
        Ok(DraftedHpi { card_id: card_id.to_owned(), lang, text: draft.text })
    }
}

/// Longest a long poll waits.
const MAX_WAIT_S: u64 = 30;

type Shared = Arc<AppState>;

/// A 4xx/5xx with a JSON reason.
struct Failure(StatusCode, String);

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "error": self.1 }))).into_response()
    }
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::KeyReused { .. } | StoreError::Conflict { .. } => {
                Self(StatusCode::CONFLICT, e.to_string())
            }
            StoreError::NotFound(_) | StoreError::NoAlert(_) => Self(StatusCode::NOT_FOUND, e.to_string()),
            StoreError::InvalidChange { .. } => Self(StatusCode::BAD_REQUEST, e.to_string()),
            other => {
                tracing::error!(error = %other, "store failure");
                Self(StatusCode::INTERNAL_SERVER_ERROR, "the card store failed; see the service log".into())
            }
        }
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::AUTHORIZATION)?.to_str().ok()?.strip_prefix("Bearer ").map(str::trim)
}

/// Who is calling: a staff session or a kiosk device.
fn caller(state: &AppState, headers: &HeaderMap) -> Result<Actor, Failure> {
    let Some(token) = bearer(headers) else {
        return Err(Failure(StatusCode::UNAUTHORIZED, "missing `Authorization: Bearer <token>`".into()));
    };
    let store =
        state.store.lock().map_err(|_| Failure(StatusCode::INTERNAL_SERVER_ERROR, "store lock".into()))?;
    if let Ok((name, _role)) = store.session(token, now_ms())? {
        return Ok(Actor::Staff(name));
    }
    match store.device(token)? {
        Ok(kiosk) => Ok(kiosk),
        Err(_) => Err(Failure(StatusCode::UNAUTHORIZED, "unknown or expired token; sign in again".into())),
    }
}

fn staff(state: &AppState, headers: &HeaderMap) -> Result<Actor, Failure> {
    match caller(state, headers)? {
        a @ Actor::Staff(_) => Ok(a),
        _ => Err(Failure(StatusCode::FORBIDDEN, "kiosk tokens can only submit cards".into())),
    }
}

/// The calling kiosk; anyone else gets 403 with `refusal`.
fn kiosk(state: &AppState, headers: &HeaderMap, refusal: &str) -> Result<Actor, Failure> {
    match caller(state, headers)? {
        k @ Actor::Kiosk(_) => Ok(k),
        _ => Err(Failure(StatusCode::FORBIDDEN, refusal.to_owned())),
    }
}

fn json_body(headers: &HeaderMap) -> Result<(), Failure> {
    let ok = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| {
        v.split(';').next().is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"))
    });
    if ok {
        Ok(())
    } else {
        Err(Failure(StatusCode::UNSUPPORTED_MEDIA_TYPE, "send `Content-Type: application/json`".into()))
    }
}

async fn submit(
    State(state): State<Shared>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, Failure> {
    json_body(&headers)?;
    let kiosk = kiosk(&state, &headers, "cards are submitted with a kiosk device token")?;
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|k| !k.is_empty() && k.len() <= 200)
        .ok_or_else(|| {
            Failure(StatusCode::BAD_REQUEST, "missing `Idempotency-Key` header (1-200 characters)".into())
        })?
        .to_owned();
    let card: ConditionCard = serde_json::from_slice(&body)
        .map_err(|e| Failure(StatusCode::BAD_REQUEST, format!("body is not a condition card: {e}")))?;
    if card.card_id.trim().is_empty() || card.card_id.len() > 200 {
        return Err(Failure(StatusCode::BAD_REQUEST, "card_id must be 1-200 characters".into()));
    }
    let outcome = {
        let mut store = state
            .store
            .lock()
            .map_err(|_| Failure(StatusCode::INTERNAL_SERVER_ERROR, "store lock".into()))?;
        store.submit(&card, &key, &kiosk, now_ms())?
    };
    let (status, stored) = match outcome {
        Submitted::New => {
            state.changed();
            (StatusCode::CREATED, "new")
        }
        Submitted::Duplicate => (StatusCode::OK, "duplicate"),
    };
    Ok((status, Json(json!({ "card_id": card.card_id, "stored": stored }))).into_response())
}

#[derive(serde::Deserialize)]
struct Login {
    name: String,
    password: String,
}

async fn login(
    State(state): State<Shared>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, Failure> {
    json_body(&headers)?;
    let login: Login = serde_json::from_slice(&body)
        .map_err(|e| Failure(StatusCode::BAD_REQUEST, format!("expected {{\"name\", \"password\"}}: {e}")))?;
    let mut store =
        state.store.lock().map_err(|_| Failure(StatusCode::INTERNAL_SERVER_ERROR, "store lock".into()))?;
    match store.sign_in(&login.name, &login.password, &state.config.policy, now_ms())? {
        Ok(session) => {
            Ok(Json(json!({ "token": session.token, "expires_ms": session.expires_ms })).into_response())
        }
        Err(e @ AuthError::Locked { .. }) => Err(Failure(StatusCode::LOCKED, e.to_string())),
        Err(e) => Err(Failure(StatusCode::UNAUTHORIZED, e.to_string())),
    }
}

async fn queue(State(state): State<Shared>, headers: HeaderMap) -> Result<Response, Failure> {
    staff(&state, &headers)?;
    let store =
        state.store.lock().map_err(|_| Failure(StatusCode::INTERNAL_SERVER_ERROR, "store lock".into()))?;
    Ok(Json(store.queue()?).into_response())
}

async fn card(
    State(state): State<Shared>,
    headers: HeaderMap,
    UrlPath(id): UrlPath<String>,
) -> Result<Response, Failure> {
    let who = staff(&state, &headers)?;
    let mut store =
        state.store.lock().map_err(|_| Failure(StatusCode::INTERNAL_SERVER_ERROR, "store lock".into()))?;
    let stored = store
        .card(&id, &who, now_ms())?
        .ok_or_else(|| Failure(StatusCode::NOT_FOUND, format!("no card {id}")))?;
    Ok(Json(json!({ "version": stored.version, "status": stored.status, "received_ms": stored.received_ms, "card": stored.card }))
        .into_response())
}

async fn fhir(
    State(state): State<Shared>,
    headers: HeaderMap,
    UrlPath(id): UrlPath<String>,
) -> Result<Response, Failure> {
    let who = staff(&state, &headers)?;
    let stored = {
        let mut store = state
            .store
            .lock()
            .map_err(|_| Failure(StatusCode::INTERNAL_SERVER_ERROR, "store lock".into()))?;
        store
            .card(&id, &who, now_ms())?
            .ok_or_else(|| Failure(StatusCode::NOT_FOUND, format!("no card {id}")))?
    };
    let bundle = dialogue::render::fhir::bundle(&stored.card, &state.kb, &[]);
    Ok(([(header::CONTENT_TYPE, "application/fhir+json")], bundle.to_string()).into_response())
}

/// A nurse's change, as sent: `{"expected_version": 2, "change": "level", "level": 2, "reason": "..."}`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ChangeRequest {
    expected_version: u32,
    change: String,
    level: Option<u8>,
    department: Option<String>,
    field: Option<String>,
    text: Option<String>,
    reason: Option<String>,
}

impl ChangeRequest {
    fn into_change(self) -> Result<(u32, Change), Failure> {
        let bad = |m: &str| Failure(StatusCode::BAD_REQUEST, m.to_owned());
        let reason = || self.reason.clone().filter(|r| !r.trim().is_empty());
        let change = match self.change.as_str() {
            "level" => Change::Level {
                level: self
                    .level
                    .filter(|l| (1..=4).contains(l))
                    .ok_or_else(|| bad("`level` must be 1-4"))?,
                reason: reason().ok_or_else(|| bad("changing the level needs a `reason`"))?,
            },
            "department" => Change::Department {
                department: self
                    .department
                    .as_deref()
                    .and_then(protocol::Department::from_code)
                    .ok_or_else(|| bad("`department` must be a department code (e.g. `cardiology`)"))?,
                reason: reason().ok_or_else(|| bad("changing the department needs a `reason`"))?,
            },
            "field" => Change::Field {
                field: self.field.clone().ok_or_else(|| bad("`field` is missing"))?,
                text: self.text.clone().ok_or_else(|| bad("`text` is missing"))?,
                reason: reason().ok_or_else(|| bad("editing a field needs a `reason`"))?,
            },
            "approve" => Change::Approve,
            "seen" => Change::Seen,
            other => {
                return Err(bad(&format!(
                    "unknown change {other:?}: use level, department, field, approve or seen"
                )));
            }
        };
        Ok((self.expected_version, change))
    }
}

async fn change(
    State(state): State<Shared>,
    headers: HeaderMap,
    UrlPath(id): UrlPath<String>,
    body: axum::body::Bytes,
) -> Result<Response, Failure> {
    let who = staff(&state, &headers)?;
    json_body(&headers)?;
    let request: ChangeRequest = serde_json::from_slice(&body)
        .map_err(|e| Failure(StatusCode::BAD_REQUEST, format!("not a change: {e}")))?;
    let (expected, change) = request.into_change()?;
    let mut store =
        state.store.lock().map_err(|_| Failure(StatusCode::INTERNAL_SERVER_ERROR, "store lock".into()))?;
    let version = store.change(&id, expected, &change, &who, now_ms())?;
    drop(store);
    state.changed();
    Ok(Json(json!({ "version": version })).into_response())
}

async fn logout(State(state): State<Shared>, headers: HeaderMap) -> Result<Response, Failure> {
    staff(&state, &headers)?;
    let token = bearer(&headers).unwrap_or_default().to_owned();
    state.lock()?.sign_out(&token)?;
    Ok(Json(json!({ "signed_out": true })).into_response())
}

async fn raise_alert(
    State(state): State<Shared>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, Failure> {
    json_body(&headers)?;
    let kiosk = kiosk(&state, &headers, "alerts are raised with a kiosk device token")?;
    let alert: NewAlert = serde_json::from_slice(&body)
        .map_err(|e| Failure(StatusCode::BAD_REQUEST, format!("body is not an alert: {e}")))?;
    alert.check().map_err(|reason| Failure(StatusCode::BAD_REQUEST, reason))?;
    let seq = state.lock()?.raise_alert(&alert, &kiosk, now_ms())?;
    state.changed();
    Ok((StatusCode::CREATED, Json(json!({ "seq": seq }))).into_response())
}

async fn alerts(State(state): State<Shared>, headers: HeaderMap) -> Result<Response, Failure> {
    staff(&state, &headers)?;
    Ok(Json(state.lock()?.open_alerts()?).into_response())
}

async fn ack_alert(
    State(state): State<Shared>,
    headers: HeaderMap,
    UrlPath(seq): UrlPath<u64>,
) -> Result<Response, Failure> {
    let who = staff(&state, &headers)?;
    state.lock()?.ack_alert(seq, &who, now_ms())?;
    state.changed();
    Ok(Json(json!({ "acknowledged": seq })).into_response())
}

#[derive(serde::Deserialize)]
struct EventsQuery {
    /// The change number the caller has seen.
    after: Option<u64>,
    /// Seconds to wait for a change (at most 30).
    wait_s: Option<u64>,
}

/// Long poll: answers `{"seq": N}` as soon as the change number differs from `after`, or after
/// `wait_s` seconds. The number starts from the clock, so a restarted service never repeats one.
async fn events(
    State(state): State<Shared>,
    headers: HeaderMap,
    Query(query): Query<EventsQuery>,
) -> Result<Response, Failure> {
    staff(&state, &headers)?;
    let mut rx = state.changes.subscribe();
    let wait = Duration::from_secs(query.wait_s.unwrap_or(20).min(MAX_WAIT_S));
    if query.after.is_some_and(|after| *rx.borrow_and_update() == after) {
        let _ = tokio::time::timeout(wait, rx.changed()).await;
    }
    let seq = *rx.borrow();
    Ok(Json(json!({ "seq": seq })).into_response())
}

async fn audit(
    State(state): State<Shared>,
    headers: HeaderMap,
    UrlPath(id): UrlPath<String>,
) -> Result<Response, Failure> {
    staff(&state, &headers)?;
    let store =
        state.store.lock().map_err(|_| Failure(StatusCode::INTERNAL_SERVER_ERROR, "store lock".into()))?;
    Ok(Json(store.audit(&id)?).into_response())
}

/// More of a draft being written at a kiosk (replaces what it sent before).
async fn draft(
    State(state): State<Shared>,
    headers: HeaderMap,
    UrlPath(id): UrlPath<String>,
    body: axum::body::Bytes,
) -> Result<Response, Failure> {
    json_body(&headers)?;
    let kiosk = kiosk(&state, &headers, "drafts are sent with a kiosk device token")?.label();
    let drafted = DraftBody::parse(&body, &id)?;
    {
        let mut drafts = state.live_drafts()?;
        if drafts.len() >= LIVE_DRAFTS && !drafts.contains_key(&id) {
            let oldest = drafts.iter().min_by_key(|(_, d)| d.at).map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                drafts.remove(&k);
            }
        }
        let live = LiveDraft { lang: drafted.lang, text: drafted.text, kiosk, at: Instant::now() };
        drafts.insert(id, live);
    }
    state.changed();
    Ok((StatusCode::OK, Json(json!({ "live": true }))).into_response())
}

/// Drafts being written at kiosks for cards in the queue: `[{"card_id", "lang", "text", "kiosk"}]`.
async fn drafts(State(state): State<Shared>, headers: HeaderMap) -> Result<Response, Failure> {
    staff(&state, &headers)?;
    let drafts = state.live_drafts()?;
    let list: Vec<serde_json::Value> = drafts
        .iter()
        .map(|(id, d)| json!({ "card_id": id, "lang": d.lang.code(), "text": d.text, "kiosk": d.kiosk }))
        .collect();
    Ok(Json(list).into_response())
}

/// The kiosk's finished, checked draft: a new version of the card unless a nurse's words stand.
async fn drafted_hpi(
    State(state): State<Shared>,
    headers: HeaderMap,
    UrlPath(id): UrlPath<String>,
    body: axum::body::Bytes,
) -> Result<Response, Failure> {
    json_body(&headers)?;
    let kiosk = kiosk(&state, &headers, "drafted text is sent with a kiosk device token")?;
    let drafted = DraftBody::parse(&body, &id)?;
    let amended = state.lock()?.amend_hpi(&drafted, &kiosk, now_ms())?;
    if let Ok(mut drafts) = state.drafts.lock() {
        drafts.remove(&id);
    }
    state.changed();
    let answer = match amended {
        Amended::Applied(version) => json!({ "applied": true, "version": version }),
        Amended::Already => json!({ "applied": true }),
        Amended::Refused(why) => json!({ "applied": false, "reason": why }),
    };
    Ok(Json(answer).into_response())
}

/// The routes over `store`.
pub fn router(store: SqliteStore, kb: KnowledgeBase, config: ServiceConfig) -> Router {
    let limit = config.max_body_bytes;
    let (changes, _) = tokio::sync::watch::channel(now_ms());
    let state =
        Arc::new(AppState { store: Mutex::new(store), kb, config, changes, drafts: Mutex::default() });
    Router::new()
        .route("/api/v1/login", post(login))
        .route("/api/v1/cards", post(submit))
        .route("/api/v1/queue", get(queue))
        .route("/api/v1/cards/{id}", get(card))
        .route("/api/v1/cards/{id}/fhir", get(fhir))
        .route("/api/v1/cards/{id}/changes", post(change))
        .route("/api/v1/cards/{id}/audit", get(audit))
        .route("/api/v1/cards/{id}/draft", post(draft))
        .route("/api/v1/cards/{id}/hpi", post(drafted_hpi))
        .route("/api/v1/drafts", get(drafts))
        .route("/api/v1/logout", post(logout))
        .route("/api/v1/alerts", post(raise_alert).get(alerts))
        .route("/api/v1/alerts/{seq}/ack", post(ack_alert))
        .route("/api/v1/events", get(events))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(state)
}

/// A running service on its own thread.
#[derive(Debug)]
pub struct Running {
    /// The bound address.
    pub addr: SocketAddr,
    /// Whether it speaks HTTPS.
    pub https: bool,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Running {
    /// The base URL (`https://127.0.0.1:8440`).
    pub fn url(&self) -> String {
        format!("{}://{}", if self.https { "https" } else { "http" }, self.addr)
    }

    /// Stops the service and waits for it.
    pub fn stop(mut self) {
        self.halt();
    }

    fn halt(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.halt();
    }
}

/// Opens the store at `store_path` and serves it on `bind` (port 0: any free port), over HTTPS
/// when `config.tls` is set.
pub fn spawn(store_path: &Path, bind: SocketAddr, config: ServiceConfig) -> Result<Running, StartError> {
    let tls = config.tls.as_ref().map(tls::server_config).transpose()?;
    let store = SqliteStore::open(store_path)?;
    let kb = KnowledgeBase::embedded().map_err(|e| StartError::Knowledge(e.to_string()))?;
    let listener = std::net::TcpListener::bind(bind)?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let app = router(store, kb, config);
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let https = tls.is_some();
    let thread = std::thread::Builder::new().name("service".into()).spawn(move || {
        runtime.block_on(async move {
            let listener = match tokio::net::TcpListener::from_std(listener) {
                Ok(l) => l,
                Err(e) => {
                    tracing::error!(error = %e, "service cannot listen");
                    return;
                }
            };
            if let Some(tls) = tls {
                tls::serve(listener, app, tls, rx).await;
                return;
            }
            let served = axum::serve(listener, app).with_graceful_shutdown(async {
                let _ = rx.await;
            });
            if let Err(e) = served.await {
                tracing::error!(error = %e, "service stopped");
            }
        });
    })?;
    tracing::info!(%addr, https, "service listening");
    Ok(Running { addr, https, shutdown: Some(tx), thread: Some(thread) })
}

/// Starting the service failed.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The store.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The socket or runtime.
    #[error("cannot start the service: {0}")]
    Io(#[from] std::io::Error),
    /// The certificate or key.
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    /// The knowledge base (a build defect).
    #[error("cannot start the service: {0}")]
    Knowledge(String),
}
