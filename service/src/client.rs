//! The kiosk's side: delivering outbox cards to the service.

use std::time::Duration;

use protocol::ConditionCard;
use store::outbox::Deliver;

/// Delivers cards to the service with this kiosk's device token.
#[derive(Debug)]
pub struct HttpDelivery {
    base_url: String,
    token: String,
    agent: ureq::Agent,
}

impl HttpDelivery {
    /// A client for the service at `base_url` (`http://host:port`).
    pub fn new(base_url: &str, device_token: &str) -> Self {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(10)))
            .http_status_as_error(false)
            .build()
            .into();
        Self { base_url: base_url.trim_end_matches('/').to_owned(), token: device_token.to_owned(), agent }
    }
}

impl Deliver for HttpDelivery {
    fn deliver(&mut self, card: &ConditionCard, idempotency_key: &str) -> Result<(), String> {
        let body = serde_json::to_vec(card).map_err(|e| e.to_string())?;
        let mut response = self
            .agent
            .post(format!("{}/api/v1/cards", self.base_url))
            .header("Authorization", format!("Bearer {}", self.token))
            .header("Idempotency-Key", idempotency_key)
            .header("Content-Type", "application/json")
            .send(&body[..])
            .map_err(|e| format!("cannot reach the service: {e}"))?;
        let status = response.status().as_u16();
        if status == 200 || status == 201 {
            return Ok(());
        }
        let reason = response.body_mut().read_to_string().unwrap_or_default();
        Err(format!("service answered {status}: {reason}"))
    }
}
