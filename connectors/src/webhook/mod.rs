//! Source `webhook`: an HTTP endpoint that receives posts. A POST carries
//! raw posts (the record contract: one object or an array) or a Meta
//! webhook notification (Page feed changes). When `app_secret` is set,
//! every POST must carry a valid `X-Hub-Signature-256` (HMAC-SHA256 of the
//! body, compared in constant time); the `hub.challenge` handshake answers
//! a GET with the right `hub.verify_token`. A request is answered 200 only
//! once its records are durable in the log; a bad signature gets 401 and a
//! dead letter (so it is counted); a body over `max_body_bytes` gets 413.

pub mod payload;
mod server;
mod source;

#[cfg(test)]
mod tests;

use serde::Deserialize;
use socialpipe_schemas::{ComponentError, Secret, Source, SourceConfig};

pub use source::WebhookSource;

/// An HTTP endpoint (`POST path`) receiving raw posts (one object or an
/// array) or Meta webhook notifications (Page `feed` changes that add or
/// edit a post or status become posts; other changes go to the DLQ with
/// their JSON). A request is answered `200 {"accepted": n, "rejected": m}`
/// only once its records are durable in the log (a kill -9 right after the
/// 200 loses nothing); `503` when they are not durable within
/// `ack_timeout_ms` or too many requests wait (the sender retries). With
/// `app_secret`, every POST must carry `X-Hub-Signature-256: sha256=<HMAC-SHA256
/// of the body>` (compared in constant time): a bad or missing one gets 401
/// and a dead letter. `GET path?hub.mode=subscribe&hub.verify_token=…&hub.challenge=…`
/// echoes the challenge for the right `verify_token`, else 403. A body over
/// `max_body_bytes` gets 413. A webhook never ends, so it cannot run with `--once`.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// Address to listen on, e.g. `"0.0.0.0:8088"` (bound at start: a taken
    /// port stops start-up).
    pub listen: String,
    /// The path POSTs and the handshake go to.
    #[serde(default = "default_path")]
    pub path: String,
    /// The Meta app secret: when set, POSTs must be signed with it.
    #[serde(default)]
    pub app_secret: Option<Secret>,
    /// Answers the subscription handshake (`hub.verify_token`).
    #[serde(default)]
    pub verify_token: Option<Secret>,
    /// Larger bodies are refused with 413.
    #[serde(default = "default_max_body_bytes")]
    pub max_body_bytes: usize,
    /// How long a request waits for its records to be durable before 503.
    #[serde(default = "default_ack_timeout_ms")]
    pub ack_timeout_ms: u64,
    /// Requests waiting to be written: more get 503 (backpressure).
    #[serde(default = "default_queue")]
    pub max_pending_requests: usize,
}

fn default_path() -> String {
    "/webhook".into()
}

fn default_max_body_bytes() -> usize {
    1 << 20
}

fn default_ack_timeout_ms() -> u64 {
    30_000
}

fn default_queue() -> usize {
    64
}

impl SourceConfig for WebhookConfig {
    fn check(&self) -> Result<(), String> {
        self.listen.parse::<std::net::SocketAddr>().map_err(|e| format!("listen {:?}: {e}", self.listen))?;
        if !self.path.starts_with('/') {
            return Err(format!("path {:?} must start with /", self.path));
        }
        if self.max_body_bytes == 0 || self.max_pending_requests == 0 || self.ack_timeout_ms == 0 {
            return Err("max_body_bytes, max_pending_requests and ack_timeout_ms must be at least 1".into());
        }
        // An empty secret would sign with an empty key: anyone could post.
        if self.app_secret.as_ref().is_some_and(|s| s.expose().is_empty()) {
            return Err("app_secret is empty (leave it out to accept unsigned posts)".into());
        }
        Ok(())
    }

    fn build(&self, name: &str) -> Result<Box<dyn Source>, ComponentError> {
        Ok(Box::new(WebhookSource::new(name, self.clone())?))
    }

    fn unbounded(&self) -> bool {
        true
    }
}
