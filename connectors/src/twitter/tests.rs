//! Against a local server answering as the v2 recent-search reference
//! documents: `data`, `includes.users`, `meta.{newest_id, oldest_id,
//! result_count, next_token}`, `x-rate-limit-*` headers, problem-JSON errors.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use socialpipe_schemas::{ErrorDomain, Source, SourceBatch, SourceConfig, SourceMode};

use super::{TwitterConfig, TwitterSource};
use crate::http::fixture::{FixtureServer, Reply};
use crate::http::{ManualClock, RetryPolicy};
use socialpipe_schemas::Secret;

const PATH: &str = "/2/tweets/search/recent";
const NOW: i64 = 1_764_000_000;

fn config(base_url: &str) -> TwitterConfig {
    TwitterConfig {
        query: "#coffee -is:retweet".into(),
        bearer_token: Secret::new("AAAA-secret-bearer"),
        base_url: base_url.into(),
        max_results: 100,
        poll_interval_secs: 60,
        retry: RetryPolicy { max_attempts: 3, ..Default::default() },
    }
}

fn tweet(id: u64, author: &str) -> Value {
    json!({
        "id": id.to_string(), "text": format!("tweet {id} about #coffee"), "author_id": author,
        "created_at": "2026-11-15T19:08:05.000Z", "lang": "en",
        "edit_history_tweet_ids": [id.to_string()],
        "entities": {"hashtags": [{"start": 16, "end": 23, "tag": "coffee"}]},
        "public_metrics": {"retweet_count": 5, "reply_count": 2, "like_count": 30, "quote_count": 1, "bookmark_count": 0, "impression_count": 1200}
    })
}

fn user(id: &str) -> Value {
    json!({
        "id": id, "name": "Coffee Dev", "username": format!("dev{id}"), "verified": false,
        "created_at": "2013-12-14T04:35:55.000Z",
        "public_metrics": {"followers_count": 51395, "following_count": 2039, "tweet_count": 3635, "listed_count": 12, "like_count": 40}
    })
}

/// A page of tweets `ids` (newest first), with `next_token` when more follow.
fn page(ids: &[u64], next_token: Option<&str>) -> Reply {
    let mut meta = json!({
        "newest_id": ids.first().map(u64::to_string), "oldest_id": ids.last().map(u64::to_string),
        "result_count": ids.len(),
    });
    if let Some(token) = next_token {
        meta["next_token"] = json!(token);
    }
    let data: Vec<Value> = ids.iter().map(|&id| tweet(id, "2244994945")).collect();
    Reply::json(json!({"data": data, "includes": {"users": [user("2244994945")]}, "meta": meta}))
        .header("x-rate-limit-limit", 450)
        .header("x-rate-limit-remaining", 449)
        .header("x-rate-limit-reset", NOW + 900)
}

async fn source(server: &FixtureServer, clock: &Arc<ManualClock>, checkpoint: Option<Value>) -> TwitterSource {
    let mut source = TwitterSource::with_clock("x", config(&server.base_url), clock.clone()).unwrap();
    source.open(checkpoint, SourceMode::Once).await.unwrap();
    source
}

fn ids(batch: &SourceBatch) -> Vec<String> {
    batch.records.iter().map(|r| r.id.clone()).collect()
}

#[tokio::test]
async fn a_sweep_pages_to_the_end_then_the_next_starts_above_it_and_a_restart_resumes_mid_sweep() {
    let server = FixtureServer::start().await;
    server.reply(PATH, [page(&[130, 120], Some("t1")), page(&[110, 100], Some("t2")), page(&[90], None)]);
    let clock = Arc::new(ManualClock::at(NOW));
    let mut source = source(&server, &clock, None).await;
    let first = source.next_batch(100).await.unwrap();
    assert_eq!(ids(&first), ["twitter:130", "twitter:120"]);
    let after_first = first.checkpoint.clone();
    let second = source.next_batch(100).await.unwrap();
    let third = source.next_batch(100).await.unwrap();
    assert_eq!(ids(&second), ["twitter:110", "twitter:100"]);
    assert_eq!(ids(&third), ["twitter:90"]);
    assert!(third.caught_up && !second.caught_up);
    assert_eq!(third.checkpoint, Some(json!({"since_id": "130", "sweep": null})));

    let seen = server.seen();
    assert_eq!(seen.len(), 3);
    assert_eq!(seen[0].query.get("next_token"), None);
    assert_eq!(seen[1].query["next_token"], "t1");
    assert_eq!(seen[2].query["next_token"], "t2");
    assert!(seen.iter().all(|s| !s.query.contains_key("since_id")), "the first sweep reads everything");
    assert_eq!(seen[0].query["expansions"], "author_id");
    assert_eq!(seen[0].query["query"], "#coffee -is:retweet");
    assert_eq!(seen[0].authorization.as_deref(), Some("Bearer AAAA-secret-bearer"));

    // A crash after the first page was durable: the restart asks for page 2.
    server.reply(PATH, [page(&[110, 100], Some("t2")), page(&[90], None)]);
    let mut restarted = self::source(&server, &clock, after_first).await;
    assert_eq!(ids(&restarted.next_batch(100).await.unwrap()), ["twitter:110", "twitter:100"]);
    assert_eq!(server.seen()[3].query["next_token"], "t1");
    let end = restarted.next_batch(100).await.unwrap();
    assert_eq!(end.checkpoint, Some(json!({"since_id": "130", "sweep": null})), "newest of the whole sweep");

    // The next sweep asks only for what is newer than the last one's newest.
    server.reply(PATH, [page(&[150], None)]);
    let mut next = self::source(&server, &clock, end.checkpoint).await;
    assert_eq!(ids(&next.next_batch(100).await.unwrap()), ["twitter:150"]);
    assert_eq!(server.seen()[5].query["since_id"], "130");
}

#[tokio::test]
async fn tweets_map_to_posts_with_their_authors_and_a_tweet_that_does_not_goes_to_the_dlq_with_its_json() {
    let server = FixtureServer::start().await;
    let mut broken = tweet(7, "2244994945");
    broken.as_object_mut().unwrap().remove("author_id");
    let body = json!({"data": [tweet(8, "2244994945"), broken], "includes": {"users": [user("2244994945")]},
                      "meta": {"newest_id": "8", "oldest_id": "7", "result_count": 2}});
    server.reply(PATH, [Reply::json(body)]);
    let clock = Arc::new(ManualClock::at(NOW));
    let batch = source(&server, &clock, None).await.next_batch(100).await.unwrap();
    let post: Value = serde_json::from_str(batch.records[0].payload.get()).unwrap();
    assert_eq!(post["author"]["handle"], "dev2244994945");
    assert_eq!(post["author"]["followers"], 51395);
    assert_eq!(post["author"]["created_at"], "2013-12-14T04:35:55.000Z");
    assert_eq!(post["metrics"], json!({"likes": 30, "comments": 2, "shares": 6, "views": 1200}));
    assert_eq!(post["url"], "https://x.com/dev2244994945/status/8");
    assert_eq!(batch.records[0].key, "twitter:2244994945");
    assert_eq!(batch.rejected.len(), 1);
    let rejected = &batch.rejected[0];
    assert!(rejected.reason.contains("author_id: missing"), "{}", rejected.reason);
    assert_eq!(serde_json::from_slice::<Value>(&rejected.prefix).unwrap()["id"], "7");
}

#[tokio::test]
async fn a_spent_rate_limit_and_a_429_are_waited_out_on_the_clock() {
    let server = FixtureServer::start().await;
    let spent = page(&[20], Some("t1")).header("x-rate-limit-remaining", 0).header("x-rate-limit-reset", NOW + 30);
    let too_many = Reply::status(
        429,
        r#"{"title":"Too Many Requests","detail":"Too Many Requests","type":"about:blank","status":429}"#,
    )
    .header("retry-after", 7);
    server.reply(PATH, [spent, too_many, page(&[10], None)]);
    let clock = Arc::new(ManualClock::at(NOW));
    let mut source = source(&server, &clock, None).await;
    source.next_batch(100).await.unwrap();
    assert!(clock.slept().is_empty());
    let last = source.next_batch(100).await.unwrap();
    assert_eq!(ids(&last), ["twitter:10"]);
    assert_eq!(clock.slept(), [Duration::from_secs(30), Duration::from_secs(7)]);
}

#[tokio::test]
async fn server_errors_are_retried_with_backoff_then_reported_as_transient() {
    let server = FixtureServer::start().await;
    let unavailable = || Reply::status(503, r#"{"title":"Service Unavailable","status":503}"#);
    server.reply(PATH, [unavailable(), page(&[5], None)]);
    let clock = Arc::new(ManualClock::at(NOW));
    let batch = source(&server, &clock, None).await.next_batch(100).await.unwrap();
    assert_eq!(ids(&batch), ["twitter:5"]);
    let waited = clock.slept();
    assert_eq!(waited.len(), 1);
    assert!((750..=1250).contains(&waited[0].as_millis()), "initial backoff 1 s ± 25 %: {waited:?}");

    server.reply(PATH, [unavailable(), unavailable(), unavailable()]);
    let error = source(&server, &clock, None).await.next_batch(100).await.unwrap_err();
    assert_eq!(error.domain, ErrorDomain::Transient);
    assert!(error.reason.contains("HTTP 503 Service Unavailable after 3 attempts"), "{}", error.reason);
}

#[tokio::test]
async fn a_refused_token_stops_the_source_with_a_reason_that_does_not_show_it() {
    let server = FixtureServer::start().await;
    let unauthorized = r#"{"title":"Unauthorized","type":"about:blank","status":401,"detail":"Unauthorized"}"#;
    server.reply(PATH, [Reply::status(401, unauthorized)]);
    let clock = Arc::new(ManualClock::at(NOW));
    let error = source(&server, &clock, None).await.next_batch(100).await.unwrap_err();
    assert_eq!(error.domain, ErrorDomain::Fatal);
    assert!(error.reason.contains("HTTP 401: the credentials were refused"), "{}", error.reason);
    assert!(!error.reason.contains("AAAA-secret-bearer"));
    assert!(!format!("{:?}", config("http://x")).contains("AAAA-secret-bearer"), "Debug redacts the token");
}

#[test]
fn the_config_is_checked() {
    let mut c = config("http://127.0.0.1:1");
    c.max_results = 500;
    assert!(c.check().unwrap_err().contains("max_results"));
    let parsed: Result<TwitterConfig, _> = toml::from_str("query = \"a\"\nbearer_token = \"b\"\nmax_result = 10");
    assert!(parsed.unwrap_err().to_string().contains("unknown field"));
}
