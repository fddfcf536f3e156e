//! Against a local server answering as the v2 filtered-stream reference
//! documents: rules listed as `data[{id, value, tag}]` + `meta`, changed
//! with `add` / `delete.ids` and answered with `meta.summary` and
//! `errors[]`; the stream as one JSON object per `\r\n`-terminated line
//! (`data`, `includes.users`, `matching_rules`), blank heartbeat lines,
//! and `errors[]` messages before a disconnection.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use socialpipe_schemas::{ComponentError, ErrorDomain, Source, SourceBatch, SourceMode};

use super::source::{Failure, reconnect_wait};
use super::{StreamRule, TwitterStreamConfig, TwitterStreamSource};
use crate::http::fixture::{FixtureServer, Reply};
use crate::http::{ManualClock, RetryPolicy};
use socialpipe_schemas::Secret;

const RULES: &str = "/2/tweets/search/stream/rules";
const STREAM: &str = "/2/tweets/search/stream";
const NOW: i64 = 1_764_000_000;

fn rule(value: &str, tag: &str) -> StreamRule {
    StreamRule { value: value.into(), tag: Some(tag.into()) }
}

fn config(base_url: &str) -> TwitterStreamConfig {
    TwitterStreamConfig {
        rules: vec![rule("#coffee -is:retweet", "coffee"), rule("#tea lang:en", "tea")],
        bearer_token: Secret::new("AAAA-secret-bearer"),
        base_url: base_url.into(),
        backfill_minutes: 0,
        stall_timeout_secs: 25,
        max_batch_wait_ms: 200,
        max_line_bytes: 1 << 20,
        retry: RetryPolicy { max_attempts: 2, ..Default::default() },
    }
}

fn rules_listed(rules: &[(&str, &str, &str)]) -> Reply {
    let data: Vec<Value> = rules.iter().map(|(id, value, tag)| json!({"id": id, "value": value, "tag": tag})).collect();
    let mut body = json!({"meta": {"sent": "2026-12-03T10:00:00.000Z", "result_count": data.len()}});
    if !data.is_empty() {
        body["data"] = json!(data);
    }
    Reply::json(body)
}

fn rules_changed(created: usize, deleted: usize) -> Reply {
    let summary = match deleted {
        0 => json!({"created": created, "not_created": 0, "valid": created, "invalid": 0}),
        _ => json!({"deleted": deleted, "not_deleted": 0}),
    };
    Reply::json(json!({"meta": {"sent": "2026-12-03T10:00:01.000Z", "summary": summary}})).status_code(201)
}

/// A stream message: a tweet by `author`, its author expanded, the rule that matched.
fn line(id: u64, author: &str) -> String {
    json!({
        "data": {
            "id": id.to_string(), "text": format!("tweet {id} about #coffee"), "author_id": author,
            "created_at": "2026-12-03T09:59:58.000Z", "lang": "en", "edit_history_tweet_ids": [id.to_string()],
            "public_metrics": {"retweet_count": 1, "reply_count": 0, "like_count": 4, "quote_count": 0, "bookmark_count": 0, "impression_count": 90}
        },
        "includes": {"users": [{
            "id": author, "name": "Coffee Dev", "username": format!("dev{author}"), "verified": false,
            "created_at": "2013-12-14T04:35:55.000Z",
            "public_metrics": {"followers_count": 5120, "following_count": 300, "tweet_count": 3635, "listed_count": 12, "like_count": 40}
        }]},
        "matching_rules": [{"id": "1865000000000000001", "tag": "coffee"}]
    })
    .to_string()
        + "\r\n"
}

const HEARTBEAT: &str = "\r\n";

async fn open(config: TwitterStreamConfig, clock: &Arc<ManualClock>, checkpoint: Option<Value>) -> TwitterStreamSource {
    let mut source = TwitterStreamSource::with_clock("xs", config, clock.clone()).unwrap();
    source.open(checkpoint, SourceMode::Continuous).await.unwrap();
    source
}

fn ids(batches: &[SourceBatch]) -> Vec<String> {
    batches.iter().flat_map(|b| b.records.iter().map(|r| r.id.clone())).collect()
}

/// Reads until `records` tweets came, returning the batches and the transient errors on the way.
async fn read(source: &mut TwitterStreamSource, records: usize) -> (Vec<SourceBatch>, Vec<ComponentError>) {
    let (mut batches, mut errors) = (Vec::new(), Vec::new());
    for _ in 0..10_000 {
        if batches.iter().map(|b: &SourceBatch| b.records.len()).sum::<usize>() >= records {
            return (batches, errors);
        }
        match source.next_batch(100).await {
            Ok(batch) => batches.push(batch),
            Err(e) if e.domain == ErrorDomain::Transient => errors.push(e),
            Err(e) => panic!("fatal: {}", e.reason),
        }
    }
    panic!("{records} records never came: {:?}", ids(&batches));
}

#[tokio::test]
async fn rules_become_the_configured_ones_and_tweets_arrive_with_the_rule_they_matched() {
    let server = FixtureServer::start().await;
    server.reply(
        RULES,
        [
            rules_listed(&[("11", "old rule", "old"), ("12", "#coffee -is:retweet", "coffee")]),
            rules_changed(0, 1),
            rules_changed(1, 0),
        ],
    );
    server.reply(STREAM, [Reply::text(line(101, "7") + HEARTBEAT + &line(102, "8")).held_open()]);
    let clock = Arc::new(ManualClock::at(NOW));
    let mut source = open(config(&server.base_url), &clock, None).await;
    let (batches, errors) = read(&mut source, 2).await;
    assert!(errors.is_empty());
    assert_eq!(ids(&batches), ["twitter:101", "twitter:102"]);

    let seen = server.seen();
    let posted: Vec<Value> = seen
        .iter()
        .filter(|s| s.path == RULES && !s.body.is_empty())
        .map(|s| serde_json::from_slice(&s.body).unwrap())
        .collect();
    assert_eq!(posted, [json!({"delete": {"ids": ["11"]}}), json!({"add": [{"value": "#tea lang:en", "tag": "tea"}]})]);
    let stream = seen.iter().find(|s| s.path == STREAM).unwrap();
    assert_eq!(stream.query["expansions"], "author_id");
    assert!(stream.query["tweet.fields"].contains("public_metrics"));
    assert!(!stream.query.contains_key("backfill_minutes"));
    assert_eq!(stream.authorization.as_deref(), Some("Bearer AAAA-secret-bearer"));

    let last = batches.iter().rev().find(|b| !b.records.is_empty()).unwrap();
    let post: Value = serde_json::from_str(last.records[0].payload.get()).unwrap();
    assert_eq!(post["matching_rules"], json!([{"id": "1865000000000000001", "tag": "coffee"}]));
    assert_eq!(post["author"]["followers"], 5120);
    assert_eq!(last.checkpoint, Some(json!({"last_id": "102", "received_at_ms": NOW * 1000})));
}

#[tokio::test]
async fn a_rule_x_refuses_stops_the_source_with_x_s_explanation() {
    let server = FixtureServer::start().await;
    let refused = json!({
        "meta": {"sent": "2026-12-03T10:00:01.000Z", "summary": {"created": 1, "not_created": 1, "valid": 1, "invalid": 1}},
        "errors": [{"value": "#tea lang:en", "details": ["Reference to invalid operator 'lang'"], "title": "UnprocessableEntity", "type": "https://api.twitter.com/2/problems/invalid-rules"}]
    });
    server.reply(RULES, [rules_listed(&[]), Reply::json(refused).status_code(201)]);
    let clock = Arc::new(ManualClock::at(NOW));
    let error = open(config(&server.base_url), &clock, None).await.next_batch(100).await.unwrap_err();
    assert_eq!(error.domain, ErrorDomain::Fatal);
    assert!(
        error.reason.contains("UnprocessableEntity #tea lang:en: Reference to invalid operator 'lang'"),
        "{}",
        error.reason
    );
}

#[tokio::test]
async fn a_dropped_stream_reconnects_at_once_then_backs_off_as_x_asks_for_each_failure() {
    let server = FixtureServer::start().await;
    server.reply(RULES, [rules_listed(&[("12", "#coffee -is:retweet", "coffee"), ("13", "#tea lang:en", "tea")])]);
    let unavailable = || {
        Reply::status(
            503,
            r#"{"title":"Service Unavailable","detail":"Service Unavailable","type":"about:blank","status":503}"#,
        )
    };
    let too_many = Reply::status(
        429,
        r#"{"title":"ConnectionException","detail":"This stream is currently at the maximum allowed connection limit.","connection_issue":"TooManyConnections","type":"https://api.twitter.com/2/problems/streaming-connection"}"#,
    );
    let disconnect = json!({"errors": [{"title": "operational-disconnect", "disconnect_type": "UpstreamOperationalDisconnect", "detail": "This stream has been disconnected upstream for operational reasons.", "type": "https://api.twitter.com/2/problems/operational-disconnect"}]});
    server.reply(
        STREAM,
        [
            Reply::text(line(101, "7") + &disconnect.to_string() + "\r\n"),
            Reply::text(line(102, "7")),
            unavailable(),
            unavailable(),
            too_many,
            Reply::text(line(103, "7")).held_open(),
        ],
    );
    let clock = Arc::new(ManualClock::at(NOW));
    let mut source = open(config(&server.base_url), &clock, None).await;
    let (batches, errors) = read(&mut source, 3).await;
    assert_eq!(ids(&batches), ["twitter:101", "twitter:102", "twitter:103"]);
    assert!(batches.iter().all(|b| b.rejected.is_empty()), "an error message is not a dead letter");
    let waits: Vec<&str> = errors.iter().map(|e| e.reason.rsplit("next in ").next().unwrap()).collect();
    assert_eq!(waits, ["5000 ms", "10000 ms", "60000 ms"]);
    // Two reconnections at once after the drops, then 5 s + 10 s + 60 s, slept in steps of at most a second.
    let slept: Duration = clock.slept().iter().sum();
    assert_eq!(slept, Duration::from_secs(75));
    assert!(clock.slept().iter().all(|d| *d <= Duration::from_secs(1)));
    assert_eq!(server.seen().iter().filter(|s| s.path == STREAM).count(), 6);
}

#[test]
fn the_reconnection_schedule_is_x_s() {
    let network: Vec<u64> = (1..=70).map(|n| reconnect_wait(Failure::Network, n, 900).as_millis() as u64).collect();
    assert_eq!(&network[..3], [250, 500, 750]);
    assert_eq!(network[63], 16_000);
    assert_eq!(network[69], 16_000);
    let http: Vec<u64> = (1..=8).map(|n| reconnect_wait(Failure::Http, n, 900).as_secs()).collect();
    assert_eq!(http, [5, 10, 20, 40, 80, 160, 320, 320]);
    let limited: Vec<u64> = (1..=6).map(|n| reconnect_wait(Failure::RateLimited, n, 900).as_secs()).collect();
    assert_eq!(limited, [60, 120, 240, 480, 900, 900]);
}

#[tokio::test]
async fn a_restart_asks_for_the_minutes_it_missed_and_drops_the_replays() {
    let server = FixtureServer::start().await;
    server.reply(RULES, [rules_listed(&[("12", "#coffee -is:retweet", "coffee"), ("13", "#tea lang:en", "tea")])]);
    // The backfill replays 102, already delivered on this connection's first line.
    server
        .reply(STREAM, [Reply::text(line(102, "7") + &line(103, "7") + &line(102, "7") + &line(104, "7")).held_open()]);
    let clock = Arc::new(ManualClock::at(NOW));
    let mut config = config(&server.base_url);
    config.backfill_minutes = 5;
    let checkpoint = json!({"last_id": "101", "received_at_ms": (NOW - 130) * 1000});
    let mut source = open(config, &clock, Some(checkpoint)).await;
    let (batches, _) = read(&mut source, 3).await;
    assert_eq!(ids(&batches), ["twitter:102", "twitter:103", "twitter:104"]);
    let stream = server.seen().into_iter().find(|s| s.path == STREAM).unwrap();
    assert_eq!(stream.query["backfill_minutes"], "3", "130 s away: 3 minutes");
}

#[tokio::test]
async fn a_silent_stream_is_dropped_after_the_stall_timeout_and_reopened() {
    let server = FixtureServer::start().await;
    server.reply(RULES, [rules_listed(&[("12", "#coffee -is:retweet", "coffee"), ("13", "#tea lang:en", "tea")])]);
    server.reply(STREAM, [Reply::text(line(101, "7")).held_open(), Reply::text(line(102, "7")).held_open()]);
    let clock = Arc::new(ManualClock::at(NOW));
    let mut config = config(&server.base_url);
    config.stall_timeout_secs = 1;
    let mut source = open(config, &clock, None).await;
    let (batches, errors) = read(&mut source, 2).await;
    assert_eq!(ids(&batches), ["twitter:101", "twitter:102"]);
    assert!(errors.is_empty());
    assert_eq!(server.seen().iter().filter(|s| s.path == STREAM).count(), 2);
}

#[tokio::test]
async fn lines_that_do_not_map_go_to_the_dlq_as_received_and_the_stream_goes_on() {
    let server = FixtureServer::start().await;
    server.reply(RULES, [rules_listed(&[("12", "#coffee -is:retweet", "coffee"), ("13", "#tea lang:en", "tea")])]);
    let no_author = r#"{"data":{"id":"150","text":"no author"},"matching_rules":[{"id":"1","tag":"coffee"}]}"#;
    let body = format!("{{not json\r\n{no_author}\r\n{{\"unexpected\":true}}\r\n{}", line(151, "7"));
    server.reply(STREAM, [Reply::text(body).held_open()]);
    let clock = Arc::new(ManualClock::at(NOW));
    let mut source = open(config(&server.base_url), &clock, None).await;
    let (batches, _) = read(&mut source, 1).await;
    assert_eq!(ids(&batches), ["twitter:151"]);
    let rejected: Vec<_> = batches.iter().flat_map(|b| &b.rejected).collect();
    assert_eq!(rejected.len(), 3);
    assert_eq!(rejected[0].prefix, b"{not json");
    assert!(rejected[0].reason.starts_with("twitter_stream: a stream line that is not JSON"));
    assert!(rejected[1].reason.contains("author_id: missing"), "{}", rejected[1].reason);
    assert_eq!(rejected[2].reason, "twitter_stream: a stream message with neither data nor errors");
}

#[tokio::test]
async fn a_refused_token_stops_the_source_without_showing_it() {
    let server = FixtureServer::start().await;
    server.reply(RULES, [rules_listed(&[("12", "#coffee -is:retweet", "coffee"), ("13", "#tea lang:en", "tea")])]);
    server.reply(
        STREAM,
        [Reply::status(401, r#"{"title":"Unauthorized","type":"about:blank","status":401,"detail":"Unauthorized"}"#)],
    );
    let clock = Arc::new(ManualClock::at(NOW));
    let error = open(config(&server.base_url), &clock, None).await.next_batch(100).await.unwrap_err();
    assert_eq!(error.domain, ErrorDomain::Fatal);
    assert!(error.reason.contains("HTTP 401: the bearer token was refused"), "{}", error.reason);
    assert!(!error.reason.contains("AAAA-secret-bearer"));
}
