//! Graph API errors and the long-lived token exchange.

use std::sync::Mutex;
use std::time::Duration;

use serde_json::Value;
use socialpipe_schemas::ComponentError;

use socialpipe_schemas::Secret;

use crate::http::{ErrorFormat, HttpErrors, TokenSource, Verdict, request_token};

/// Graph reports most errors as HTTP 400 with `error.code`.
pub struct GraphErrors;

impl ErrorFormat for GraphErrors {
    fn verdict(&self, status: u16, headers: &reqwest::header::HeaderMap, body: Option<&Value>, now: i64) -> Verdict {
        match body.and_then(|b| b["error"]["code"].as_i64()) {
            // Invalid or expired access token / session key.
            Some(190 | 102) => Verdict::TokenRefused,
            // Application, user, page and business-use-case rate limits.
            Some(4 | 17 | 32 | 613 | 80_001..=80_014) => Verdict::Retry(regain_access(headers)),
            // Unknown and service errors: temporary per the reference.
            Some(1 | 2) => Verdict::Retry(None),
            _ => HttpErrors.verdict(status, headers, body, now),
        }
    }
}

/// `x-business-use-case-usage`'s `estimated_time_to_regain_access` (minutes), the longest.
fn regain_access(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let usage: Value = serde_json::from_str(headers.get("x-business-use-case-usage")?.to_str().ok()?).ok()?;
    let minutes = usage
        .as_object()?
        .values()
        .flat_map(|uses| uses.as_array().into_iter().flatten())
        .filter_map(|u| u["estimated_time_to_regain_access"].as_u64())
        .max()?;
    (minutes > 0).then(|| Duration::from_secs(minutes * 60))
}

/// A token exchanged for a fresh long-lived one when refused
/// (`GET /oauth/access_token?grant_type=fb_exchange_token`).
pub struct ExchangedToken {
    pub current: Mutex<Secret>,
    pub app_id: String,
    pub app_secret: Secret,
    /// `{base}/{version}/oauth/access_token`.
    pub endpoint: String,
}

#[async_trait::async_trait]
impl TokenSource for ExchangedToken {
    async fn token(&self) -> Result<Secret, ComponentError> {
        Ok(self.current.lock().expect("token lock").clone())
    }

    async fn refresh(&self, client: &reqwest::Client) -> Result<bool, ComponentError> {
        let current = self.token().await?;
        let query = [
            ("grant_type", "fb_exchange_token"),
            ("client_id", &self.app_id),
            ("client_secret", self.app_secret.expose()),
            ("fb_exchange_token", current.expose()),
        ];
        let request = client.get(&self.endpoint).query(&query);
        let Some(granted) = request_token("facebook", request).await? else { return Ok(false) };
        *self.current.lock().expect("token lock") = granted.access_token;
        Ok(true)
    }
}
