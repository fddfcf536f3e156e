//! Against a local server answering as the Research API reference
//! documents: `{"data": {"videos", "cursor", "has_more", "search_id"},
//! "error": {"code": "ok", ...}}`, the client-credentials token endpoint,
//! and `access_token_invalid` errors.

use std::sync::Arc;

use serde_json::{Value, json};
use socialpipe_schemas::{ErrorDomain, Source, SourceMode};

use super::{TiktokConfig, TiktokSource};
use crate::http::fixture::{FixtureServer, Reply};
use crate::http::{Clock, ManualClock, RetryPolicy};
use socialpipe_schemas::Secret;

const QUERY: &str = "/v2/research/video/query/";
const TOKEN: &str = "/v2/oauth/token/";

fn config(base_url: &str) -> TiktokConfig {
    TiktokConfig {
        query: json!({"and": [{"operation": "IN", "field_name": "hashtag_name", "field_values": ["coffee"]}]}),
        start_date: Some("20261101".into()),
        end_date: Some("20261120".into()),
        rolling_days: None,
        poll_interval_secs: 3_600,
        client_key: "awkey".into(),
        client_secret: Secret::new("client-secret-value"),
        base_url: base_url.into(),
        max_count: 100,
        retry: RetryPolicy { max_attempts: 3, ..Default::default() },
    }
}

fn token(value: &str) -> Reply {
    Reply::json(json!({"access_token": value, "expires_in": 7200, "token_type": "Bearer"}))
}

fn page(ids: &[u64], cursor: u64, has_more: bool) -> Reply {
    let videos: Vec<Value> = ids
        .iter()
        .map(|id| json!({"id": id, "video_description": "latte art #coffee", "create_time": 1763900000,
                          "region_code": "US", "share_count": 4, "view_count": 900, "like_count": 70, "comment_count": 5,
                          "username": "barista.jo", "hashtag_names": ["coffee"]}))
        .collect();
    Reply::json(
        json!({"data": {"videos": videos, "cursor": cursor, "has_more": has_more, "search_id": "7201388525814961198"},
                       "error": {"code": "ok", "message": "", "log_id": "2023"}}),
    )
}

async fn open(server: &FixtureServer, checkpoint: Option<Value>) -> TiktokSource {
    let clock = Arc::new(ManualClock::at(1_764_000_000));
    let mut source = TiktokSource::with_clock("tt", config(&server.base_url), clock).unwrap();
    source.open(checkpoint, SourceMode::Once).await.unwrap();
    source
}

#[tokio::test]
async fn the_query_pages_by_cursor_within_its_search_and_a_restart_resumes_there() {
    let server = FixtureServer::start().await;
    server.reply(TOKEN, [token("clt.first"), token("clt.second")]);
    server.reply(QUERY, [page(&[1, 2], 2, true), page(&[3], 3, true), page(&[4], 4, false)]);
    let mut source = open(&server, None).await;
    let first = source.next_batch(100).await.unwrap();
    assert_eq!(first.records.len(), 2);
    let post: Value = serde_json::from_str(first.records[0].payload.get()).unwrap();
    assert_eq!(post["author"], json!({"id": "barista.jo", "handle": "barista.jo"}));
    assert_eq!(post["metrics"], json!({"likes": 70, "comments": 5, "shares": 4, "views": 900}));
    assert_eq!(post["url"], "https://www.tiktok.com/@barista.jo/video/1");
    source.next_batch(100).await.unwrap();
    let last = source.next_batch(100).await.unwrap();
    assert!(last.caught_up);

    let seen = server.seen();
    let token_request = String::from_utf8(seen[0].body.to_vec()).unwrap();
    assert!(token_request.contains("grant_type=client_credentials") && token_request.contains("client_key=awkey"));
    let queries: Vec<Value> =
        seen.iter().filter(|s| s.path == QUERY).map(|s| serde_json::from_slice(&s.body).unwrap()).collect();
    assert_eq!(queries[0]["cursor"], 0);
    assert!(queries[0].get("search_id").is_none());
    assert_eq!(
        (queries[1]["cursor"].clone(), queries[1]["search_id"].clone()),
        (json!(2), json!("7201388525814961198"))
    );
    assert_eq!(queries[0]["start_date"], "20261101");
    assert!(seen.iter().filter(|s| s.path == QUERY).all(|s| s.authorization.as_deref() == Some("Bearer clt.first")));

    // A restart after the first page continues at its cursor and search.
    server.reply(QUERY, [page(&[3], 3, false)]);
    let mut restarted = open(&server, first.checkpoint).await;
    assert!(restarted.next_batch(100).await.unwrap().caught_up);
    let resumed: Value = serde_json::from_slice(&server.seen().last().unwrap().body).unwrap();
    assert_eq!((resumed["cursor"].clone(), resumed["search_id"].clone()), (json!(2), json!("7201388525814961198")));
}

#[tokio::test]
async fn an_expired_token_is_fetched_again_and_the_query_repeated() {
    let server = FixtureServer::start().await;
    server.reply(TOKEN, [token("clt.old"), token("clt.new")]);
    let invalid = json!({"error": {"code": "access_token_invalid", "message": "The access token is invalid or not found in the request.", "log_id": "1"}});
    server.reply(QUERY, [Reply::status(401, &invalid.to_string()), page(&[9], 1, false)]);
    let batch = open(&server, None).await.next_batch(100).await.unwrap();
    assert_eq!(batch.records.len(), 1);
    assert_eq!(server.seen().last().unwrap().authorization.as_deref(), Some("Bearer clt.new"));
}

#[tokio::test]
async fn a_token_endpoint_answering_5xx_or_429_is_transient() {
    for status in [500, 503, 429] {
        let server = FixtureServer::start().await;
        server.reply(TOKEN, [Reply::status(status, "<html>try again later</html>")]);
        let error = open(&server, None).await.next_batch(100).await.unwrap_err();
        assert_eq!(error.domain, ErrorDomain::Transient, "HTTP {status}: {}", error.reason);
        assert!(server.seen().iter().all(|s| s.path == TOKEN));
    }
}

#[tokio::test]
async fn client_credentials_the_token_endpoint_refuses_are_fatal() {
    let server = FixtureServer::start().await;
    let refused = json!({"error": "invalid_client", "error_description": "Client key or secret is incorrect.", "log_id": "2"});
    server.reply(TOKEN, [Reply::status(401, &refused.to_string())]);
    let error = open(&server, None).await.next_batch(100).await.unwrap_err();
    assert_eq!(error.domain, ErrorDomain::Fatal, "{}", error.reason);
    assert!(!error.reason.contains("client-secret-value"), "{}", error.reason);
}

#[tokio::test]
async fn a_rolling_window_is_read_again_after_the_poll_interval_with_the_days_as_they_are_then() {
    let server = FixtureServer::start().await;
    server.reply(TOKEN, [token("clt.first")]);
    server.reply(QUERY, [page(&[1], 1, true), page(&[2], 2, false), page(&[1, 3], 2, false)]);
    // 2025-11-24T16:00:00Z.
    let clock = Arc::new(ManualClock::at(1_764_000_000));
    let config = TiktokConfig { start_date: None, end_date: None, rolling_days: Some(2), ..config(&server.base_url) };
    let mut source = TiktokSource::with_clock("tt", config, clock.clone()).unwrap();
    source.open(None, SourceMode::Continuous).await.unwrap();
    let first = source.next_batch(100).await.unwrap();
    assert_eq!(
        first.checkpoint.unwrap()["window"],
        json!(["20251122", "20251124"]),
        "the sweep's window is kept, so a restart continues its search"
    );
    let end_of_sweep = source.next_batch(100).await.unwrap();
    assert!(!end_of_sweep.caught_up, "a daemon goes on");
    assert_eq!(end_of_sweep.checkpoint, Some(json!({"window": null, "search_id": null, "cursor": 0, "done": false})));
    // The next sweep waits out the interval, crossing midnight: its window moves by a day.
    let mut waited = 0;
    while source.next_batch(100).await.unwrap().records.is_empty() {
        waited += 1;
        assert!(waited <= 3_600, "the next sweep never came");
        if waited == 1 {
            clock.sleep(std::time::Duration::from_secs(8 * 3600)).await;
        }
    }
    let queries: Vec<Value> =
        server.seen().iter().filter(|s| s.path == QUERY).map(|s| serde_json::from_slice(&s.body).unwrap()).collect();
    assert_eq!(
        (queries[0]["start_date"].as_str(), queries[0]["end_date"].as_str()),
        (Some("20251122"), Some("20251124"))
    );
    assert_eq!(
        (queries[2]["start_date"].as_str(), queries[2]["end_date"].as_str()),
        (Some("20251123"), Some("20251125"))
    );
    assert!(queries[2].get("search_id").is_none(), "a new window is a new search");
}
