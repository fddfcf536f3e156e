//! The platform sources through the real binary, against local servers
//! that answer as the providers document: posts land in the sink, a rerun
//! resumes from the committed cursor, and a refused token stops only its
//! source while `/health/ready` says why.

mod common;

use std::time::Duration;

use common::*;
use serde_json::{Value, json};
use socialpipe_connectors::http::fixture::{FixtureServer, Reply};

const SEARCH: &str = "/2/tweets/search/recent";

fn topology(base_url: &str, http: &str, with_file: bool) -> String {
    let file = if with_file {
        "[sources.file]\ntype = \"jsonl\"\npath = \"{dir}/posts.jsonl\"\nfollow = true\npoll_interval_ms = 50\n"
    } else {
        ""
    };
    format!(
        r#"
[transport]
type = "embedded"
path = "{{dir}}/log"

{http}

[runtime]
poll_wait_ms = 50

[sources.x]
type = "twitter"
query = "coffee"
bearer_token = "${{X_BEARER_TOKEN}}"
base_url = "{base_url}"
max_results = 10

{file}

[sinks.db]
type = "sqlite"
path = "{{dir}}/out.db"
batch_timeout_ms = 50
"#
    )
}

fn page(ids: &[u64], next_token: Option<&str>) -> Reply {
    let data: Vec<Value> = ids
        .iter()
        .map(|id| {
            json!({"id": id.to_string(), "text": format!("tweet {id}"), "author_id": "12",
                   "created_at": "2026-11-15T19:08:05.000Z",
                   "public_metrics": {"retweet_count": 1, "reply_count": 2, "like_count": 3, "quote_count": 0}})
        })
        .collect();
    let mut meta = json!({"newest_id": ids[0].to_string(), "oldest_id": ids[ids.len() - 1].to_string(), "result_count": ids.len()});
    if let Some(token) = next_token {
        meta["next_token"] = json!(token);
    }
    let users = json!([{"id": "12", "name": "Bean", "username": "bean", "public_metrics": {"followers_count": 900, "following_count": 80}}]);
    Reply::json(json!({"data": data, "includes": {"users": users}, "meta": meta})).header("x-rate-limit-remaining", 100)
}

/// The daemon on `config`, with the environment variable `var` set to `value`.
fn daemon_with(config: &str, var: &str, value: &str) -> Daemon {
    socialpipe()
        .args(["run", "--config", config])
        .env(var, value)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
        .into()
}

fn run_with_token(args: &[&str]) -> std::process::Output {
    let output = socialpipe().args(args).env("X_BEARER_TOKEN", "secret-bearer-value").output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    output
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_search_lands_in_the_sink_and_the_next_run_asks_only_for_newer_tweets() {
    let server = FixtureServer::start().await;
    server.reply(SEARCH, [page(&[50, 40], Some("p2")), page(&[30, 20], Some("p3")), page(&[10], None)]);
    let scratch = Scratch::new();
    let config = scratch.config("app.toml", &topology(&server.base_url, "[http]\nenabled = false", false));
    let config = config.to_str().unwrap().to_owned();
    tokio::task::spawn_blocking({
        let config = config.clone();
        move || run_with_token(&["run", "--config", &config, "--once"])
    })
    .await
    .unwrap();
    let ids: Vec<String> = post_ids(&scratch.db()).into_iter().collect();
    assert_eq!(ids, ["twitter:10", "twitter:20", "twitter:30", "twitter:40", "twitter:50"]);

    server.reply(SEARCH, [page(&[60], None)]);
    tokio::task::spawn_blocking(move || run_with_token(&["run", "--config", &config, "--once"])).await.unwrap();
    assert_eq!(post_count(&scratch.db()), 6);
    let seen = server.seen();
    assert_eq!(seen.len(), 4);
    assert_eq!(seen[1].query["next_token"], "p2");
    assert_eq!(seen[3].query["since_id"], "50", "the second run starts above the first one's newest");
    assert!(seen.iter().all(|s| s.authorization.as_deref() == Some("Bearer secret-bearer-value")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_token_stops_only_that_source_and_readiness_says_why() {
    let server = FixtureServer::start().await;
    server.reply(
        SEARCH,
        [Reply::status(401, r#"{"title":"Unauthorized","type":"about:blank","status":401,"detail":"Unauthorized"}"#)],
    );
    let scratch = Scratch::new();
    let port = free_port();
    let http = format!("[http]\nlisten = \"127.0.0.1:{port}\"");
    let config = scratch.config("app.toml", &topology(&server.base_url, &http, true));
    let ids = write_posts(&scratch.path("posts.jsonl"), 3, 300, 0);
    let mut daemon = daemon_with(config.to_str().unwrap(), "X_BEARER_TOKEN", "secret-bearer-value");
    let body = tokio::task::spawn_blocking(move || {
        wait_until("the file's posts stored", Duration::from_secs(120), Some(&mut daemon), || {
            post_count(&scratch.db()) == ids.len() as u64
        });
        let mut body = String::new();
        wait_until("readiness to report the source", Duration::from_secs(60), Some(&mut daemon), || {
            http_get(port, "/health/ready").is_some_and(|(status, b)| {
                body = b;
                status == 503
            })
        });
        sigterm(&daemon);
        let (_, stderr) = stderr_of(daemon);
        assert!(stderr.contains("x stopped"), "{stderr}");
        assert!(!stderr.contains("secret-bearer-value"), "the token never shows: {stderr}");
        body
    })
    .await
    .unwrap();
    assert!(body.contains("HTTP 401: the credentials were refused"), "{body}");
    assert!(!body.contains("secret-bearer-value"));
}

#[test]
fn a_webhook_post_answered_200_survives_a_kill_9_right_after() {
    let scratch = Scratch::new();
    let port = free_port();
    let config = scratch.config(
        "hook.toml",
        &format!(
            r#"
[transport]
type = "embedded"
path = "{{dir}}/log"

[http]
enabled = false

[runtime]
poll_wait_ms = 50

[sources.hook]
type = "webhook"
listen = "127.0.0.1:{port}"
app_secret = "${{HOOK_SECRET}}"

[sinks.db]
type = "sqlite"
path = "{{dir}}/out.db"
batch_timeout_ms = 50
"#
        ),
    );
    let config = config.to_str().unwrap();
    let start = || daemon_with(config, "HOOK_SECRET", "s3cret");
    let mut daemon = start();
    let body = serde_json::to_vec(&json!([
        {"platform": "tiktok", "id": "77", "text": "durable?", "created_at": "2026-11-20T10:00:00Z", "author": {"id": "5"}}
    ]))
    .unwrap();
    let signature = {
        use hmac::Mac;
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(b"s3cret").unwrap();
        mac.update(&body);
        format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
    };
    let mut status = 0;
    wait_until("the webhook to answer", Duration::from_secs(60), Some(&mut daemon), || {
        let headers = [("Content-Type", "application/json"), ("X-Hub-Signature-256", signature.as_str())];
        status = http_request(port, "POST", "/webhook", &headers, &body).map_or(0, |(status, _)| status);
        status != 0
    });
    assert_eq!(status, 200);
    daemon.kill().unwrap();
    daemon.wait().unwrap();
    let mut restarted = start();
    wait_until("the acknowledged post in the sink", Duration::from_secs(60), Some(&mut restarted), || {
        post_ids(&scratch.db()).contains("tiktok:77")
    });
    sigterm(&restarted);
    assert!(stderr_of(restarted).0.success());
}

const RULES: &str = "/2/tweets/search/stream/rules";
const STREAM: &str = "/2/tweets/search/stream";

/// A filtered-stream line: tweet `id` by author 12, matched by the `coffee` rule.
fn stream_line(id: u64) -> String {
    json!({
        "data": {"id": id.to_string(), "text": format!("streamed {id}"), "author_id": "12", "created_at": "2026-11-15T19:08:05.000Z",
                 "public_metrics": {"retweet_count": 0, "reply_count": 0, "like_count": 1, "quote_count": 0}},
        "includes": {"users": [{"id": "12", "name": "Bean", "username": "bean", "public_metrics": {"followers_count": 900, "following_count": 80}}]},
        "matching_rules": [{"id": "1865000000000000001", "tag": "coffee"}]
    })
    .to_string()
        + "\r\n"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_reconnects_after_a_drop_and_a_kill_9_and_asks_for_what_it_missed() {
    let server = FixtureServer::start().await;
    let listed = json!({"data": [{"id": "1865000000000000001", "value": "coffee", "tag": "coffee"}],
                        "meta": {"sent": "2026-12-03T10:00:00.000Z", "result_count": 1}});
    server.reply(RULES, [Reply::json(listed.clone()), Reply::json(listed)]);
    server.reply(
        STREAM,
        [
            // The first connection drops after three tweets; the second stays open.
            Reply::text(stream_line(1) + &stream_line(2) + "\r\n" + &stream_line(3)),
            Reply::text(stream_line(4)).held_open(),
            // After the restart: X replays 3 and 4 from its backfill, then 5.
            Reply::text(stream_line(3) + &stream_line(4) + &stream_line(5)).held_open(),
        ],
    );
    let scratch = Scratch::new();
    let config = scratch.config(
        "stream.toml",
        &format!(
            r#"
[transport]
type = "embedded"
path = "{{dir}}/log"

[http]
enabled = false

[runtime]
poll_wait_ms = 50

[sources.xs]
type = "twitter_stream"
rules = [{{value = "coffee", tag = "coffee"}}]
bearer_token = "${{X_BEARER_TOKEN}}"
base_url = "{}"
backfill_minutes = 5
max_batch_wait_ms = 100

[sinks.db]
type = "sqlite"
path = "{{dir}}/out.db"
batch_timeout_ms = 50
"#,
            server.base_url
        ),
    );
    let config = config.to_str().unwrap().to_owned();
    let start = move || daemon_with(&config, "X_BEARER_TOKEN", "secret-bearer-value");
    let db = scratch.db();
    let first_ids = tokio::task::spawn_blocking({
        let (db, start) = (db.clone(), start.clone());
        move || {
            let mut daemon = start();
            wait_until("four streamed tweets stored", Duration::from_secs(60), Some(&mut daemon), || {
                post_count(&db) == 4
            });
            daemon.kill().unwrap();
            daemon.wait().unwrap();
            let mut restarted = start();
            wait_until("the fifth tweet stored", Duration::from_secs(60), Some(&mut restarted), || {
                post_count(&db) == 5
            });
            sigterm(&restarted);
            assert!(stderr_of(restarted).0.success());
            post_ids(&db)
        }
    })
    .await
    .unwrap();
    let expected: Vec<String> = (1..=5).map(|i| format!("twitter:{i}")).collect();
    assert_eq!(first_ids.into_iter().collect::<Vec<_>>(), expected, "each tweet once, none lost");
    let connections: Vec<_> = server.seen().into_iter().filter(|s| s.path == STREAM).collect();
    assert_eq!(connections.len(), 3);
    assert!(!connections[0].query.contains_key("backfill_minutes"), "a first start has nothing to backfill");
    assert_eq!(connections[1].query["backfill_minutes"], "1", "the drop: a minute at most");
    assert_eq!(connections[2].query["backfill_minutes"], "1", "the restart: from the checkpoint's time");
    assert!(server.seen().iter().all(|s| s.authorization.as_deref() == Some("Bearer secret-bearer-value")));
}
