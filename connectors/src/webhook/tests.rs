//! The webhook over real HTTP: the handshake, signatures, the body limit,
//! Meta notifications, and no 200 before the batch is durable.

use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use socialpipe_schemas::{Source, SourceMode};

use super::{WebhookConfig, WebhookSource};
use socialpipe_schemas::Secret;

const SECRET: &str = "meta-app-secret";

async fn started(signed: bool) -> (WebhookSource, String) {
    let config = WebhookConfig {
        listen: "127.0.0.1:0".into(),
        path: "/hook".into(),
        app_secret: signed.then(|| Secret::new(SECRET)),
        verify_token: Some(Secret::new("let-me-in")),
        max_body_bytes: 4096,
        ack_timeout_ms: 30_000,
        max_pending_requests: 8,
    };
    let mut source = WebhookSource::new("hook", config).unwrap();
    source.open(None, SourceMode::Continuous).await.unwrap();
    let url = format!("http://{}/hook", source.local_addr());
    (source, url)
}

fn signature(body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

fn raw_post(id: u32) -> Value {
    json!({"platform": "tiktok", "id": id.to_string(), "text": "hello", "created_at": "2026-11-20T10:00:00Z", "author": {"id": "7"}})
}

#[tokio::test]
async fn a_signed_post_is_answered_200_only_after_its_batch_is_durable() {
    let (mut source, url) = started(true).await;
    let body = serde_json::to_vec(&json!([raw_post(1), raw_post(2), {"platform": "tiktok"}])).unwrap();
    let request = tokio::spawn(
        reqwest::Client::new().post(&url).header("x-hub-signature-256", signature(&body)).body(body).send(),
    );
    let mut batch = source.next_batch(100).await.unwrap();
    assert_eq!(batch.records.len(), 2);
    assert_eq!(batch.rejected.len(), 1, "the post without id, text, time and author goes to the DLQ");
    assert!(batch.rejected[0].reason.contains("id: missing"), "{}", batch.rejected[0].reason);
    // Not durable yet: the caller is still waiting.
    tokio::task::yield_now().await;
    assert!(!request.is_finished());
    for callback in batch.on_durable.drain(..) {
        (callback.0)();
    }
    let response = request.await.unwrap().unwrap();
    assert_eq!(response.status(), 200);
    let counts: Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
    assert_eq!(counts, json!({"accepted": 2, "rejected": 1}));

    // A batch that never becomes durable (the write failed, the process is
    // going down) answers 503, so the sender retries: never a 200.
    let body = serde_json::to_vec(&raw_post(3)).unwrap();
    let request = tokio::spawn(
        reqwest::Client::new().post(&url).header("x-hub-signature-256", signature(&body)).body(body).send(),
    );
    drop(source.next_batch(100).await.unwrap());
    assert_eq!(request.await.unwrap().unwrap().status(), 503);
}

#[tokio::test]
async fn a_bad_or_missing_signature_gets_401_and_a_dead_letter() {
    let (mut source, url) = started(true).await;
    let body = serde_json::to_vec(&raw_post(1)).unwrap();
    let client = reqwest::Client::new();
    let forged = client.post(&url).header("x-hub-signature-256", signature(b"something else")).body(body.clone());
    assert_eq!(forged.send().await.unwrap().status(), 401);
    assert_eq!(client.post(&url).body(body).send().await.unwrap().status(), 401);
    let batch = source.next_batch(100).await.unwrap();
    assert!(batch.records.is_empty());
    assert_eq!(batch.rejected.len(), 2);
    assert!(batch.rejected.iter().all(|r| r.reason == "bad or missing X-Hub-Signature-256"));
}

#[tokio::test]
async fn the_handshake_echoes_the_challenge_for_the_right_token_only() {
    let (_source, url) = started(true).await;
    let client = reqwest::Client::new();
    let ask = |token: &str| {
        client.get(&url).query(&[
            ("hub.mode", "subscribe"),
            ("hub.verify_token", token),
            ("hub.challenge", "1158201444"),
        ])
    };
    let ok = ask("let-me-in").send().await.unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.text().await.unwrap(), "1158201444");
    assert_eq!(ask("guess").send().await.unwrap().status(), 403);
}

#[tokio::test]
async fn a_body_over_the_limit_is_refused_with_413() {
    let (_source, url) = started(false).await;
    let response = reqwest::Client::new().post(&url).body(vec![b' '; 5000]).send().await.unwrap();
    assert_eq!(response.status(), 413);
}

#[tokio::test]
async fn a_meta_page_feed_notification_becomes_posts_and_other_changes_dead_letters() {
    let (mut source, url) = started(false).await;
    let notification = json!({"object": "page", "entry": [{"id": "123", "time": 1764000000, "changes": [
        {"field": "feed", "value": {"item": "status", "verb": "add", "post_id": "123_9", "message": "New menu!",
                                    "created_time": 1764000000, "from": {"id": "123", "name": "Bean Cafe"}}},
        {"field": "feed", "value": {"item": "reaction", "verb": "add", "post_id": "123_9", "created_time": 1764000001}},
        {"field": "ratings", "value": {}}
    ]}]});
    let request = tokio::spawn(reqwest::Client::new().post(&url).json_body(&notification).send());
    let batch = source.next_batch(100).await.unwrap();
    let post: Value = serde_json::from_str(batch.records[0].payload.get()).unwrap();
    assert_eq!(post["id"], "123_9");
    assert_eq!(post["author"], json!({"id": "123", "name": "Bean Cafe"}));
    assert_eq!(post["created_at"], "2025-11-24T16:00:00Z");
    let reasons: Vec<&str> = batch.rejected.iter().map(|r| r.reason.as_str()).collect();
    assert_eq!(reasons.len(), 2, "{reasons:?}");
    assert!(reasons[0].starts_with("a feed change that is not a new or edited post"));
    assert!(reasons[1].starts_with("unsupported Meta change"));
    for callback in batch.on_durable {
        (callback.0)();
    }
    assert_eq!(request.await.unwrap().unwrap().status(), 200);
}

#[test]
fn any_bytes_parse_without_panicking() {
    let mut rng = fastrand::Rng::with_seed(5);
    for _ in 0..2_000 {
        let bytes: Vec<u8> = (0..rng.usize(0..200)).map(|_| rng.u8(..)).collect();
        super::payload::parse(&bytes, "test");
    }
}

trait JsonBody {
    fn json_body(self, value: &Value) -> reqwest::RequestBuilder;
}

impl JsonBody for reqwest::RequestBuilder {
    /// reqwest's `json` needs a feature this crate does not enable.
    fn json_body(self, value: &Value) -> reqwest::RequestBuilder {
        self.header("content-type", "application/json").body(value.to_string())
    }
}

#[test]
fn an_empty_app_secret_is_refused_rather_than_signing_with_an_empty_key() {
    use socialpipe_schemas::SourceConfig as _;
    let config: WebhookConfig = toml::from_str("listen = \"127.0.0.1:0\"\napp_secret = \"\"").unwrap();
    assert_eq!(config.check().unwrap_err(), "app_secret is empty (leave it out to accept unsigned posts)");
    let unsigned: WebhookConfig = toml::from_str("listen = \"127.0.0.1:0\"").unwrap();
    assert_eq!(unsigned.check(), Ok(()));
}
