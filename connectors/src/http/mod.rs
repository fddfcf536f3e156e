//! The HTTP API client every API source uses: an injectable clock, and a
//! client that honours the providers' rate-limit headers, retries 429 and
//! 5xx with backoff, reads each provider's error format, and refreshes a
//! rejected token once before it gives up.

mod clock;
#[cfg(any(test, feature = "testing"))]
pub mod fixture;
mod google;

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;
use socialpipe_schemas::{ComponentError, Secret};

#[cfg(test)]
pub use clock::ManualClock;
pub use clock::{Clock, SystemClock};
pub use google::GoogleErrors;

/// Retries and timeouts of an API source's requests.
#[derive(Debug, Clone, Copy, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct RetryPolicy {
    /// Attempts per request (429 and 5xx are retried; the first attempt counts).
    pub max_attempts: u32,
    /// First delay between attempts; doubles with ±25 % jitter.
    pub initial_backoff_ms: u64,
    /// Longest delay between attempts.
    pub max_backoff_ms: u64,
    /// Longest wait a rate-limit header may ask for; a longer one is a transient error.
    pub max_rate_limit_wait_secs: u64,
    /// Bound on one request (for a stream: on connecting).
    pub request_timeout_ms: u64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            initial_backoff_ms: 1_000,
            max_backoff_ms: 60_000,
            max_rate_limit_wait_secs: 900,
            request_timeout_ms: 30_000,
        }
    }
}

/// Where a bearer token comes from.
#[async_trait::async_trait]
pub trait TokenSource: Send + Sync {
    /// The token to send.
    async fn token(&self) -> Result<Secret, ComponentError>;
    /// The provider refused the token: get a new one. False: the provider
    /// refused the credentials too; a transient error: it could not answer.
    async fn refresh(&self, client: &reqwest::Client) -> Result<bool, ComponentError>;
    /// There is no token yet, or it is about to expire: `refresh` must get
    /// one before the next request.
    fn needs_refresh(&self) -> bool {
        false
    }
}

/// What an answer means, beyond its status code.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Ok,
    /// The credentials were refused: refreshing them may help.
    TokenRefused,
    /// Slow down or try later; wait this long when the provider says.
    Retry(Option<Duration>),
    /// The credentials lack a permission, or the request is wrong.
    Refused,
}

/// How a provider signals errors. The default reads HTTP semantics
/// (401 refused token, 403 forbidden, 429 and 5xx retried with
/// `Retry-After` or the `x-rate-limit-reset` time).
pub trait ErrorFormat: Send + Sync {
    fn verdict(
        &self,
        status: u16,
        headers: &reqwest::header::HeaderMap,
        body: Option<&Value>,
        now_unix: i64,
    ) -> Verdict {
        let _ = body;
        match status {
            200..=299 => Verdict::Ok,
            401 => Verdict::TokenRefused,
            429 | 500..=599 => Verdict::Retry(retry_after(headers, now_unix)),
            _ => Verdict::Refused,
        }
    }
}

/// Plain HTTP semantics.
pub struct HttpErrors;

impl ErrorFormat for HttpErrors {}

/// A fixed token: a refusal cannot be repaired.
pub struct StaticToken(pub Secret);

#[async_trait::async_trait]
impl TokenSource for StaticToken {
    async fn token(&self) -> Result<Secret, ComponentError> {
        Ok(self.0.clone())
    }

    async fn refresh(&self, _: &reqwest::Client) -> Result<bool, ComponentError> {
        Ok(false)
    }
}

/// A request the provider refused (4xx other than a token or rate problem).
struct Refusal {
    status: u16,
    /// The answer's JSON, or the start of its text.
    body: Value,
}

pub struct ApiClient {
    http: reqwest::Client,
    clock: Arc<dyn Clock>,
    token: Arc<dyn TokenSource>,
    errors: Arc<dyn ErrorFormat>,
    policy: RetryPolicy,
    /// Which provider, for messages ("twitter").
    provider: &'static str,
    /// Unix seconds before which the provider said no more requests.
    blocked_until: Option<i64>,
    /// The token goes in this query parameter instead of `Authorization: Bearer`.
    token_parameter: Option<&'static str>,
}

impl ApiClient {
    pub fn new(
        provider: &'static str,
        token: Arc<dyn TokenSource>,
        errors: Arc<dyn ErrorFormat>,
        clock: Arc<dyn Clock>,
        policy: RetryPolicy,
    ) -> Result<Self, ComponentError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_millis(policy.request_timeout_ms))
            .user_agent(concat!("socialpipe/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ComponentError::fatal(format!("{provider}: HTTP client: {e}")))?;
        Ok(ApiClient { http, clock, token, errors, policy, provider, blocked_until: None, token_parameter: None })
    }

    /// Sends the token as query parameter `name` (an API key) instead of a bearer header.
    pub fn token_in_query(mut self, name: &'static str) -> Self {
        self.token_parameter = Some(name);
        self
    }

    /// GETs `url` with `query` and the token; returns the JSON body.
    /// Waits out an exhausted rate limit first; retries 429 and 5xx with
    /// backoff (honouring `Retry-After` and `x-rate-limit-reset`); on 401
    /// refreshes the token once. Errors: transient when retries run out,
    /// fatal when the token is refused for good or the request is wrong.
    pub async fn get_json(&mut self, url: &str, query: &[(&str, String)]) -> Result<Value, ComponentError> {
        let body =
            self.send(url, query, None, MAX_JSON_BYTES).await?.map_err(|refusal| self.wrong_request(&refusal))?;
        self.json(&body)
    }

    /// GETs `url`'s body as bytes (a download), at most `max_bytes` of them
    /// (more is an `Invalid` error), with the same waits, retries and
    /// refresh; a refused download comes back as `Err(body)`, as in
    /// `try_get_json`.
    pub async fn try_get_bytes(
        &mut self,
        url: &str,
        query: &[(&str, String)],
        max_bytes: u64,
    ) -> Result<Result<Vec<u8>, Value>, ComponentError> {
        Ok(self.send(url, query, None, max_bytes).await?.map_err(|refusal| refusal.body))
    }

    /// Like `get_json`, but a request the provider refuses (4xx other than
    /// a token or rate problem: a missing permission, a wrong parameter)
    /// comes back as `Err(body)`, for optional data such as per-item
    /// insights or comments.
    pub async fn try_get_json(
        &mut self,
        url: &str,
        query: &[(&str, String)],
    ) -> Result<Result<Value, Value>, ComponentError> {
        match self.send(url, query, None, MAX_JSON_BYTES).await? {
            Ok(body) => self.json(&body).map(Ok),
            Err(refusal) => Ok(Err(refusal.body)),
        }
    }

    /// POSTs `body` as JSON, with the same waits, retries and refresh as `get_json`.
    pub async fn post_json(
        &mut self,
        url: &str,
        query: &[(&str, String)],
        body: &Value,
    ) -> Result<Value, ComponentError> {
        let body =
            self.send(url, query, Some(body), MAX_JSON_BYTES).await?.map_err(|refusal| self.wrong_request(&refusal))?;
        self.json(&body)
    }

    fn json(&self, body: &[u8]) -> Result<Value, ComponentError> {
        serde_json::from_slice(body).map_err(|_| {
            ComponentError::transient(format!("{}: the response is not JSON: {}", self.provider, excerpt(body)))
        })
    }

    async fn send(
        &mut self,
        url: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
        max_bytes: u64,
    ) -> Result<Result<Vec<u8>, Refusal>, ComponentError> {
        let mut refreshed = false;
        let mut backoff = self.policy.initial_backoff_ms;
        let mut attempt = 0;
        loop {
            attempt += 1;
            self.wait_for_rate_limit().await?;
            if self.token.needs_refresh() && !self.token.refresh(&self.http).await? {
                return Err(ComponentError::fatal(format!("{}: could not obtain an access token", self.provider)));
            }
            let token = self.token.token().await?;
            let request = match body {
                Some(body) => {
                    self.http.post(url).header(reqwest::header::CONTENT_TYPE, "application/json").body(body.to_string())
                }
                None => self.http.get(url),
            }
            .query(query);
            let request = match self.token_parameter {
                Some(name) => request.query(&[(name, token.expose())]),
                None => request.bearer_auth(token.expose()),
            };
            let sent = request.send().await;
            let response = match sent {
                Ok(response) => response,
                Err(e) if attempt < self.policy.max_attempts => {
                    tracing::warn!(provider = self.provider, error = %without_url(e), "request failed; retrying");
                    self.clock.sleep(jittered(backoff)).await;
                    backoff = (backoff * 2).min(self.policy.max_backoff_ms);
                    continue;
                }
                Err(e) => {
                    return Err(ComponentError::transient(format!("{}: {}", self.provider, without_url(e))));
                }
            };
            let status = response.status();
            let headers = response.headers().clone();
            self.note_rate_limit(&headers, status.as_u16());
            let body = self.read_body(response, max_bytes).await?;
            let json: Option<Value> = serde_json::from_slice(&body).ok();
            match self.errors.verdict(status.as_u16(), &headers, json.as_ref(), self.clock.now_unix()) {
                Verdict::Ok => return Ok(Ok(body)),
                Verdict::TokenRefused if !refreshed => {
                    refreshed = true;
                    if self.token.refresh(&self.http).await? {
                        tracing::info!(provider = self.provider, "token refused; refreshed it, retrying");
                        continue;
                    }
                    return Err(self.refused(status.as_u16(), &body));
                }
                Verdict::TokenRefused => return Err(self.refused(status.as_u16(), &body)),
                Verdict::Retry(wait) if attempt < self.policy.max_attempts => {
                    let wait = wait
                        .map(|d| d.min(Duration::from_secs(self.policy.max_rate_limit_wait_secs)))
                        .unwrap_or_else(|| jittered(backoff));
                    tracing::warn!(
                        provider = self.provider,
                        status = status.as_u16(),
                        wait_ms = wait.as_millis() as u64,
                        "retrying"
                    );
                    self.clock.sleep(wait).await;
                    backoff = (backoff * 2).min(self.policy.max_backoff_ms);
                }
                Verdict::Retry(_) => {
                    return Err(ComponentError::transient(format!(
                        "{}: HTTP {status} after {attempt} attempts: {}",
                        self.provider,
                        excerpt(&body)
                    )));
                }
                Verdict::Refused => {
                    let excerpt = excerpt(&body);
                    return Ok(Err(Refusal { status: status.as_u16(), body: json.unwrap_or(Value::String(excerpt)) }));
                }
            }
        }
    }

    /// The body, chunk by chunk, refusing more than `max_bytes`.
    async fn read_body(&self, mut response: reqwest::Response, max_bytes: u64) -> Result<Vec<u8>, ComponentError> {
        let too_large = |size: u64| {
            ComponentError::invalid(format!(
                "{}: a response of {size} bytes or more > the limit {max_bytes}",
                self.provider
            ))
        };
        if let Some(length) = response.content_length().filter(|l| *l > max_bytes) {
            return Err(too_large(length));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| {
            ComponentError::transient(format!("{}: reading the response: {}", self.provider, without_url(e)))
        })? {
            body.extend_from_slice(&chunk);
            if body.len() as u64 > max_bytes {
                return Err(too_large(body.len() as u64));
            }
        }
        Ok(body)
    }

    /// A refused request stops the source: a 403 lacks a permission, other
    /// refusals are a wrong request.
    fn wrong_request(&self, refusal: &Refusal) -> ComponentError {
        let body = match &refusal.body {
            Value::String(text) => text.clone(),
            json => json.to_string(),
        };
        if refusal.status == 403 {
            return self.refused(403, body.as_bytes());
        }
        let body = excerpt(body.as_bytes());
        ComponentError::fatal(format!(
            "{}: HTTP {} (the request is wrong; check the configuration): {body}",
            self.provider, refusal.status
        ))
    }

    fn refused(&self, status: u16, body: &[u8]) -> ComponentError {
        ComponentError::fatal(format!(
            "{}: HTTP {status}: the credentials were refused{}: {}",
            self.provider,
            if status == 403 { " (missing permission)" } else { " (and could not be refreshed)" },
            excerpt(body)
        ))
    }

    /// Remembers a limit the provider says is spent (`x-rate-limit-remaining: 0`).
    fn note_rate_limit(&mut self, headers: &reqwest::header::HeaderMap, status: u16) {
        let number =
            |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse::<i64>().ok());
        let spent = number("x-rate-limit-remaining") == Some(0) && status != 429;
        self.blocked_until = if spent { number("x-rate-limit-reset") } else { None };
    }

    async fn wait_for_rate_limit(&mut self) -> Result<(), ComponentError> {
        let Some(until) = self.blocked_until.take() else { return Ok(()) };
        let wait = until - self.clock.now_unix();
        if wait <= 0 {
            return Ok(());
        }
        if wait as u64 > self.policy.max_rate_limit_wait_secs {
            self.blocked_until = Some(until);
            return Err(ComponentError::transient(format!(
                "{}: rate limit spent for {wait} s more (over max_rate_limit_wait_secs)",
                self.provider
            )));
        }
        tracing::info!(provider = self.provider, wait_secs = wait, "rate limit spent; waiting for its reset");
        self.clock.sleep(Duration::from_secs(wait as u64)).await;
        Ok(())
    }
}

/// What a token endpoint grants (OAuth 2.0's answer, which Graph, Google and TikTok give).
pub struct Grant {
    pub access_token: Secret,
    /// Seconds the token is valid, when the provider says.
    pub expires_in: Option<i64>,
}

/// Sends a request for a token and reads the answer. `Ok(None)`: the provider
/// refused the credentials with its documented error body (OAuth's
/// `{"error": "invalid_client"}`, Graph's `{"error": {"type":
/// "OAuthException"}}`), which no retry repairs. Everything else without a
/// token (no connection, a timeout, 429, 5xx, an answer that is not the
/// provider's) is transient: the credentials may well be good.
pub async fn request_token(provider: &str, request: reqwest::RequestBuilder) -> Result<Option<Grant>, ComponentError> {
    let failed = |why: String| ComponentError::transient(format!("{provider}: token request: {why}"));
    let answer = request.send().await.map_err(|e| failed(without_url(e)))?;
    let status = answer.status();
    let body = answer.bytes().await.map_err(|e| failed(without_url(e)))?;
    let json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if let Some(token) = json["access_token"].as_str().filter(|_| status.is_success()) {
        return Ok(Some(Grant { access_token: Secret::new(token), expires_in: json["expires_in"].as_i64() }));
    }
    let retryable = status == reqwest::StatusCode::TOO_MANY_REQUESTS || status.is_server_error();
    if !retryable && !json["error"].is_null() {
        tracing::warn!(provider, status = status.as_u16(), error = %json["error"], description = %json["error_description"], "the token endpoint refused the credentials");
        return Ok(None);
    }
    // A success without a token is not quoted: it may hold one in another form.
    let quoted = if status.is_success() { String::new() } else { format!(": {}", excerpt(&body)) };
    Err(failed(format!("HTTP {status} without a token{quoted}")))
}

/// A POST of a form to a token endpoint (grants are form-encoded), for `request_token`.
pub fn form_request(client: &reqwest::Client, endpoint: &str, pairs: &[(&str, &str)]) -> reqwest::RequestBuilder {
    let form = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish();
    client.post(endpoint).header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded").body(form)
}

/// How long a 429 or 503 asks to wait: `Retry-After` seconds, else the
/// rate-limit reset time.
pub fn retry_after(headers: &reqwest::header::HeaderMap, now_unix: i64) -> Option<Duration> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
    if let Some(seconds) = header("retry-after").and_then(|v| v.parse::<u64>().ok()) {
        return Some(Duration::from_secs(seconds));
    }
    let reset = header("x-rate-limit-reset").and_then(|v| v.parse::<i64>().ok())?;
    Some(Duration::from_secs((reset - now_unix).max(1) as u64))
}

/// ±25 % around `ms`, so many sources do not retry in step.
fn jittered(ms: u64) -> Duration {
    Duration::from_millis(ms * 3 / 4 + fastrand::u64(0..=ms / 2))
}

/// A transport error without its URL (query strings can hold secrets).
fn without_url(e: reqwest::Error) -> String {
    e.without_url().to_string()
}

/// The largest JSON answer read (a page of a listing is far smaller).
const MAX_JSON_BYTES: u64 = 64 << 20;

/// The start of a body, for messages.
fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(300)]);
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}
