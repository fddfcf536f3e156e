//! Transient failures hold the stream back (retried, nothing lost); a fatal
//! one stops only its component, and `/health/ready` says why.

mod common;

use std::time::Duration;

use common::*;

const TWO_SINKS: &str = r#"
[transport]
type = "embedded"
path = "{dir}/log"

[http]
listen = "127.0.0.1:{port}"

[runtime]
poll_wait_ms = 50
retry = { initial_backoff_ms = 10, max_backoff_ms = 200, max_attempts = 3 }

[sources.posts]
type = "jsonl"
path = "{dir}/posts.jsonl"
follow = true
poll_interval_ms = 50

[[stages]]
type = "entities"

[sinks.db]
type = "sqlite"
path = "{dir}/out.db"
busy_timeout_ms = 20
batch_timeout_ms = 50

[sinks.archive]
type = "sqlite"
path = "{dir}/archive.db"
batch_timeout_ms = 50
"#;

fn daemon(scratch: &Scratch) -> (Daemon, u16) {
    let port = free_port();
    let config = scratch.config("daemon.toml", &TWO_SINKS.replace("{port}", &port.to_string()));
    let child = spawn(&["run", "--config", config.to_str().unwrap()]);
    (child, port)
}

#[test]
fn a_locked_store_is_retried_until_it_frees_and_nothing_is_lost() {
    let scratch = Scratch::new();
    let input = scratch.path("posts.jsonl");
    std::fs::write(&input, "").unwrap();
    let (mut child, port) = daemon(&scratch);
    wait_until("the daemon to be ready", Duration::from_secs(60), Some(&mut child), || {
        http_get(port, "/health/ready").is_some_and(|(s, _)| s == 200)
    });
    // Someone takes the database's write lock while posts arrive: the sink cannot write.
    let blocker = rusqlite::Connection::open(scratch.db()).unwrap();
    blocker.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let ids = write_posts(&input, 21, 2_000, 0);
    let transient = "component_errors_total{component=\"db\",domain=\"transient\",kind=\"sink\"}";
    wait_until("the sink to retry", Duration::from_secs(60), Some(&mut child), || metric(port, transient) >= 3);
    let (status, body) = http_get(port, "/health/ready").unwrap();
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("\"db\":{\"state\":\"retrying\""), "{body}");
    // The other sink is not held back.
    wait_until("every post in the other sink", Duration::from_secs(60), Some(&mut child), || {
        post_count(&scratch.path("archive.db")) == 2_000
    });
    assert_eq!(post_count(&scratch.db()), 0);

    blocker.execute_batch("COMMIT").unwrap();
    wait_until("every post in the sink", Duration::from_secs(60), Some(&mut child), || {
        post_count(&scratch.db()) == ids.len() as u64
    });
    assert_eq!(post_ids(&scratch.db()), ids);
    wait_until("ready again", Duration::from_secs(60), Some(&mut child), || {
        http_get(port, "/health/ready").is_some_and(|(s, _)| s == 200)
    });
    sigterm(&child);
    assert!(stderr_of(child).0.success());
}

#[test]
fn a_fatal_sink_error_stops_that_sink_only_and_readiness_says_why() {
    let scratch = Scratch::new();
    let input = scratch.path("posts.jsonl");
    let first = write_posts(&input, 31, 500, 0);
    let (mut child, port) = daemon(&scratch);
    wait_until("the first posts in both sinks", Duration::from_secs(60), Some(&mut child), || {
        post_count(&scratch.db()) == 500 && post_count(&scratch.path("archive.db")) == 500
    });
    // Misconfiguration found mid-stream: the archive's table disappears.
    rusqlite::Connection::open(scratch.path("archive.db")).unwrap().execute_batch("DROP TABLE posts").unwrap();
    let second = write_posts(&input, 32, 500, 0);
    wait_until("the archive sink to stop", Duration::from_secs(60), Some(&mut child), || {
        http_get(port, "/health/ready").is_some_and(|(s, _)| s == 503)
    });
    let (_, body) = http_get(port, "/health/ready").unwrap();
    let health: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(health["archive"]["state"], "failed");
    assert!(health["archive"]["reason"].as_str().unwrap().contains("no such table: posts"), "{body}");
    assert_eq!(health["db"]["state"], "running");
    // The rest runs on: the other sink still gets every new post.
    wait_until("the new posts in the healthy sink", Duration::from_secs(60), Some(&mut child), || {
        post_count(&scratch.db()) == 1_000
    });
    assert_eq!(post_ids(&scratch.db()), first.union(&second).cloned().collect());
    sigterm(&child);
    let (status, stderr) = stderr_of(child);
    assert!(!status.success(), "a failed component makes the exit non-zero");
    assert!(stderr.contains("error: archive stopped: sqlite: no such table: posts"), "{stderr}");
}
