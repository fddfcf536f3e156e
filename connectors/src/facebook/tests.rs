//! Against a local server answering as the Graph API reference documents:
//! `data` + `paging.{cursors.after, next}`, reaction/comment summaries,
//! `created_time` as `+0000`, errors as HTTP 400 with `error.code`
//! (190 expired token, 4/17/32/613 throttling with
//! `x-business-use-case-usage`), and the `fb_exchange_token` grant.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use socialpipe_schemas::{ComponentError, ErrorDomain, Source, SourceMode};

use super::{FacebookConfig, FacebookSource};
use crate::http::fixture::{FixtureServer, Reply};
use crate::http::{ManualClock, RetryPolicy};
use socialpipe_schemas::Secret;

const POSTS: &str = "/v21.0/123/posts";
const PAGE: &str = "/v21.0/123";
const EXCHANGE: &str = "/v21.0/oauth/access_token";

fn config(base_url: &str, refresh: bool) -> FacebookConfig {
    FacebookConfig {
        page_id: "123".into(),
        access_token: Secret::new("EAAB-old-token"),
        app_id: refresh.then(|| "555".into()),
        app_secret: refresh.then(|| Secret::new("app-secret-value")),
        base_url: base_url.into(),
        api_version: "v21.0".into(),
        limit: 100,
        poll_interval_secs: 300,
        retry: RetryPolicy { max_attempts: 3, ..Default::default() },
    }
}

fn page_info() -> Reply {
    Reply::json(
        json!({"id": "123", "name": "Bean Cafe", "username": "beancafe", "followers_count": 48200, "fan_count": 47000}),
    )
}

/// Posts `ids` created at the given unix seconds, newest first; `after` when more follow.
fn posts(items: &[(u64, i64)], after: Option<&str>) -> Reply {
    let data: Vec<Value> = items
        .iter()
        .map(|&(id, at)| {
            let time = chrono::DateTime::from_timestamp(at, 0).unwrap().format("%Y-%m-%dT%H:%M:%S+0000").to_string();
            json!({
                "id": format!("123_{id}"), "message": format!("post {id}"), "created_time": time,
                "permalink_url": format!("https://www.facebook.com/123/posts/{id}"),
                "from": {"name": "Bean Cafe", "id": "123"},
                "shares": {"count": 3},
                "reactions": {"data": [], "summary": {"total_count": 40, "viewer_reaction": "NONE"}},
                "comments": {"data": [], "summary": {"order": "ranked", "total_count": 6, "can_comment": true}},
            })
        })
        .collect();
    let mut paging = json!({"cursors": {"before": "QVFIUb4", "after": after.unwrap_or("QVFIUend")}});
    if let Some(after) = after {
        paging["next"] = json!(format!("https://graph.facebook.com/v21.0/123/posts?after={after}"));
    }
    Reply::json(json!({"data": data, "paging": paging}))
}

fn graph_error(code: i64, message: &str) -> Reply {
    Reply::status(
        400,
        &json!({"error": {"message": message, "type": "OAuthException", "code": code, "fbtrace_id": "AbC"}})
            .to_string(),
    )
}

async fn open(
    server: &FixtureServer,
    clock: &Arc<ManualClock>,
    refresh: bool,
    checkpoint: Option<Value>,
) -> FacebookSource {
    let mut source = FacebookSource::with_clock("fb", config(&server.base_url, refresh), clock.clone()).unwrap();
    source.open(checkpoint, SourceMode::Once).await.unwrap();
    source
}

#[tokio::test]
async fn a_sweep_pages_by_cursor_a_restart_resumes_it_and_the_next_skips_what_it_read() {
    let server = FixtureServer::start().await;
    server.reply(PAGE, [page_info(), page_info(), page_info()]);
    server.reply(
        POSTS,
        [posts(&[(9, 900), (8, 800)], Some("A1")), posts(&[(7, 700)], Some("A2")), posts(&[(6, 600)], None)],
    );
    let clock = Arc::new(ManualClock::at(10_000));
    let mut source = open(&server, &clock, false, None).await;
    let first = source.next_batch(100).await.unwrap();
    let second = source.next_batch(100).await.unwrap();
    let third = source.next_batch(100).await.unwrap();
    let ids = |b: &socialpipe_schemas::SourceBatch| b.records.iter().map(|r| r.id.clone()).collect::<Vec<_>>();
    assert_eq!(ids(&first), ["facebook:123_9", "facebook:123_8"]);
    assert_eq!(ids(&second), ["facebook:123_7"]);
    assert!(third.caught_up);
    assert_eq!(third.checkpoint, Some(json!({"read": {"at": 900, "ids": ["123_9"]}, "sweep": null})));
    let post: Value = serde_json::from_str(first.records[0].payload.get()).unwrap();
    assert_eq!(post["created_at"], "1970-01-01T00:15:00Z");
    assert_eq!(post["author"], json!({"id": "123", "handle": "beancafe", "name": "Bean Cafe", "followers": 48200}));
    assert_eq!(post["metrics"], json!({"likes": 40, "comments": 6, "shares": 3}));

    // Restart after the first page: it asks for the page after A1.
    server.reply(POSTS, [posts(&[(7, 700)], Some("A2"))]);
    let mut restarted = open(&server, &clock, false, first.checkpoint.clone()).await;
    assert_eq!(ids(&restarted.next_batch(100).await.unwrap()), ["facebook:123_7"]);
    let asked: Vec<_> = server.seen().into_iter().filter(|s| s.path == POSTS).collect();
    assert_eq!(asked[1].query["after"], "A1");
    assert_eq!(asked[3].query["after"], "A1");

    // The next sweep starts at the newest second read (inclusive) and drops what it saw there.
    server.reply(POSTS, [posts(&[(10, 950), (9, 900)], None)]);
    let mut next = open(&server, &clock, false, third.checkpoint).await;
    let batch = next.next_batch(100).await.unwrap();
    assert_eq!(ids(&batch), ["facebook:123_10"]);
    assert_eq!(server.seen().into_iter().filter(|s| s.path == POSTS).last().unwrap().query["since"], "900");
}

#[tokio::test]
async fn an_expired_token_is_exchanged_once_and_the_request_repeated_with_the_new_one() {
    let server = FixtureServer::start().await;
    let expired = || graph_error(190, "Error validating access token: Session has expired on Tuesday.");
    server.reply(PAGE, [expired(), page_info()]);
    server.reply(
        EXCHANGE,
        [Reply::json(json!({"access_token": "EAAB-new-token", "token_type": "bearer", "expires_in": 5183944}))],
    );
    server.reply(POSTS, [posts(&[(1, 100)], None)]);
    let clock = Arc::new(ManualClock::at(10_000));
    let batch = open(&server, &clock, true, None).await.next_batch(100).await.unwrap();
    assert_eq!(batch.records.len(), 1);
    let seen = server.seen();
    let exchange = seen.iter().find(|s| s.path == EXCHANGE).unwrap();
    assert_eq!(exchange.query["grant_type"], "fb_exchange_token");
    assert_eq!(exchange.query["fb_exchange_token"], "EAAB-old-token");
    assert_eq!(exchange.query["client_id"], "555");
    assert_eq!(seen.last().unwrap().authorization.as_deref(), Some("Bearer EAAB-new-token"));

    // Refused again after the exchange, or without app credentials: the source stops.
    server.reply(PAGE, [expired()]);
    let error = open(&server, &clock, false, None).await.next_batch(100).await.unwrap_err();
    assert_eq!(error.domain, ErrorDomain::Fatal);
    assert!(
        error.reason.contains("HTTP 400: the credentials were refused (and could not be refreshed)"),
        "{}",
        error.reason
    );
    assert!(!error.reason.contains("EAAB-old-token") && !error.reason.contains("app-secret-value"));
}

/// What a batch fails with when the token is refused (190) and its exchange answered `exchange`.
async fn after_exchange(exchange: Reply) -> ComponentError {
    let server = FixtureServer::start().await;
    server.reply(PAGE, [graph_error(190, "Error validating access token: Session has expired on Tuesday.")]);
    server.reply(EXCHANGE, [exchange]);
    let clock = Arc::new(ManualClock::at(10_000));
    let error = open(&server, &clock, true, None).await.next_batch(100).await.unwrap_err();
    assert!(server.seen().iter().any(|s| s.path == EXCHANGE), "the token was not exchanged");
    error
}

#[tokio::test]
async fn a_token_exchange_cut_off_by_the_server_is_transient() {
    let error = after_exchange(Reply::cut_off()).await;
    assert_eq!(error.domain, ErrorDomain::Transient, "{}", error.reason);
    assert!(!error.reason.contains("app-secret-value"), "{}", error.reason);
}

#[tokio::test]
async fn a_token_exchange_answered_with_5xx_or_429_is_transient() {
    for status in [500, 503, 429] {
        let error = after_exchange(Reply::status(status, "<html>try again later</html>")).await;
        assert_eq!(error.domain, ErrorDomain::Transient, "HTTP {status}: {}", error.reason);
    }
}

#[tokio::test]
async fn a_token_exchange_graph_refuses_is_fatal() {
    for (code, message) in [(1, "Error validating client secret."), (190, "The access token could not be decrypted")] {
        let error = after_exchange(graph_error(code, message)).await;
        assert_eq!(error.domain, ErrorDomain::Fatal, "code {code}: {}", error.reason);
        assert!(error.reason.contains("the credentials were refused"), "{}", error.reason);
    }
}

#[tokio::test]
async fn throttling_waits_as_long_as_the_usage_header_says() {
    let server = FixtureServer::start().await;
    let usage = json!({"123": [{"type": "pages", "call_count": 100, "total_cputime": 30, "total_time": 40, "estimated_time_to_regain_access": 2}]});
    server.reply(
        PAGE,
        [graph_error(32, "Page request limit reached").header("x-business-use-case-usage", usage), page_info()],
    );
    server.reply(POSTS, [posts(&[(1, 100)], None)]);
    let clock = Arc::new(ManualClock::at(10_000));
    open(&server, &clock, false, None).await.next_batch(100).await.unwrap();
    assert_eq!(clock.slept(), [Duration::from_secs(120)]);
}

#[tokio::test]
async fn a_post_that_does_not_map_goes_to_the_dlq_with_its_json() {
    let server = FixtureServer::start().await;
    server.reply(PAGE, [page_info()]);
    let broken =
        json!({"data": [{"id": "123_5", "message": "no time"}], "paging": {"cursors": {"before": "a", "after": "b"}}});
    server.reply(POSTS, [Reply::json(broken)]);
    let clock = Arc::new(ManualClock::at(10_000));
    let batch = open(&server, &clock, false, None).await.next_batch(100).await.unwrap();
    assert!(batch.records.is_empty());
    assert_eq!(batch.rejected[0].reason, "created_time: missing");
    assert_eq!(serde_json::from_slice::<Value>(&batch.rejected[0].prefix).unwrap()["id"], "123_5");
}

#[tokio::test]
async fn a_checkpoint_written_before_the_sweep_cursor_was_shared_still_resumes() {
    let server = FixtureServer::start().await;
    server.reply(PAGE, [page_info()]);
    server.reply(POSTS, [posts(&[(7, 700)], None)]);
    let clock = Arc::new(ManualClock::at(10_000));
    let old =
        json!({"read": {"at": 500, "ids": ["123_5"]}, "sweep": {"after": "A1", "read": {"at": 900, "ids": ["123_9"]}}});
    let batch = open(&server, &clock, false, Some(old)).await.next_batch(100).await.unwrap();
    assert_eq!(batch.records.len(), 1);
    let asked = server.seen().into_iter().find(|s| s.path == POSTS).unwrap();
    assert_eq!((asked.query["after"].as_str(), asked.query["since"].as_str()), ("A1", "500"));
    assert_eq!(batch.checkpoint, Some(json!({"read": {"at": 900, "ids": ["123_9"]}, "sweep": null})));
}
