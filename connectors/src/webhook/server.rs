//! The HTTP side: handshake, signature check, body limit, and holding each
//! request until the source reports its records durable.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;
use socialpipe_schemas::{PostPayload, Rejected};
use tokio::sync::{mpsc, oneshot};

use super::WebhookConfig;
use super::payload::parse;
use socialpipe_schemas::Secret;

use crate::records::reject_bytes;

/// What one request brought, and how to tell it that it is durable.
pub struct Delivery {
    pub posts: Vec<PostPayload>,
    pub rejected: Vec<Rejected>,
    pub ack: Option<oneshot::Sender<()>>,
}

#[derive(Clone)]
struct App {
    config: Arc<WebhookConfig>,
    tx: mpsc::Sender<Delivery>,
}

pub fn router(config: Arc<WebhookConfig>, tx: mpsc::Sender<Delivery>) -> Router {
    let limit = config.max_body_bytes;
    Router::new()
        .route(&config.path, axum::routing::get(challenge).post(receive))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(App { config, tx })
}

/// The subscription handshake: echo `hub.challenge` for the right token.
async fn challenge(State(app): State<App>, Query(query): Query<HashMap<String, String>>) -> Response {
    let asked = (query.get("hub.mode"), query.get("hub.verify_token"), query.get("hub.challenge"));
    match (asked, &app.config.verify_token) {
        ((Some(mode), Some(token), Some(challenge)), Some(expected))
            if mode == "subscribe" && same(token.as_bytes(), expected.expose().as_bytes()) =>
        {
            (StatusCode::OK, challenge.clone()).into_response()
        }
        _ => (StatusCode::FORBIDDEN, "verification failed").into_response(),
    }
}

async fn receive(State(app): State<App>, headers: HeaderMap, body: Bytes) -> Response {
    let location = format!("webhook {}", app.config.path);
    if let Some(secret) = &app.config.app_secret
        && !signed(secret, headers.get("x-hub-signature-256").and_then(|v| v.to_str().ok()), &body)
    {
        // Counted as a dead letter (a small prefix: the body is not trusted).
        let letter =
            reject_bytes(&body[..body.len().min(1024)], "bad or missing X-Hub-Signature-256".into(), &location);
        let _ = app.tx.try_send(Delivery { posts: Vec::new(), rejected: vec![letter], ack: None });
        return (StatusCode::UNAUTHORIZED, "bad signature").into_response();
    }
    let (posts, rejected) = parse(&body, &location);
    let counts = json!({"accepted": posts.len(), "rejected": rejected.len()});
    let (ack, durable) = oneshot::channel();
    if app.tx.try_send(Delivery { posts, rejected, ack: Some(ack) }).is_err() {
        return (StatusCode::SERVICE_UNAVAILABLE, "busy: retry later").into_response();
    }
    match tokio::time::timeout(Duration::from_millis(app.config.ack_timeout_ms), durable).await {
        Ok(Ok(())) => (StatusCode::OK, counts.to_string()).into_response(),
        _ => (StatusCode::SERVICE_UNAVAILABLE, "not yet durable: retry later").into_response(),
    }
}

/// `sha256=<hex>` is the HMAC-SHA256 of the body under the app secret
/// (checked in constant time).
fn signed(secret: &Secret, header: Option<&str>, body: &[u8]) -> bool {
    let Some(signature) = header.and_then(|h| h.strip_prefix("sha256=")).and_then(|h| hex::decode(h).ok()) else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.expose().as_bytes()).expect("HMAC takes any key length");
    mac.update(body);
    mac.verify_slice(&signature).is_ok()
}

/// Equal bytes, in time that does not depend on where they differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0, |acc, (x, y)| acc | (x ^ y)) == 0
}
