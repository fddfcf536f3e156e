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

/// A stage that panics on one text (the test stage `fault`).
fn with_a_panicking_stage(topology: &str) -> String {
    topology.replace(
        "[[stages]]\ntype = \"entities\"\n",
        "[[stages]]\ntype = \"entities\"\n\n[[stages]]\ntype = \"fault\"\npanic_on_text = \"boom\"\n",
    )
}

fn append_post_with_text(input: &std::path::Path, text: &str) {
    use std::io::Write as _;
    let post = serde_json::json!({"platform": "twitter", "id": "panics", "author": {"id": "1"}, "text": text,
                                  "created_at": "2026-11-20T10:00:00Z"});
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(input).unwrap();
    writeln!(f, "{post}").unwrap();
}

#[test]
fn a_panicking_stage_fails_the_run_and_readiness_names_it() {
    let scratch = Scratch::new();
    let input = scratch.path("posts.jsonl");
    write_posts(&input, 33, 100, 0);
    append_post_with_text(&input, "it goes boom");
    let port = free_port();
    let topology = with_a_panicking_stage(TWO_SINKS).replace("{port}", &port.to_string());
    let config = scratch.config("daemon.toml", &topology);
    let mut child = spawn(&["run", "--config", config.to_str().unwrap()]);
    let mut body = String::new();
    wait_until("the stage to fail", Duration::from_secs(60), Some(&mut child), || {
        body = http_get(port, "/health/ready").map(|(_, b)| b).unwrap_or_default();
        body.contains(r#""fault":{"state":"failed""#)
    });
    let (status, _) = http_get(port, "/health/ready").unwrap();
    assert_eq!(status, 503, "{body}");
    let health: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(health["fault"]["reason"].as_str().unwrap().contains("panicked"), "{body}");
    sigterm(&child);
    let (status, stderr) = stderr_of(child);
    assert!(!status.success(), "a panicked component makes the exit non-zero: {stderr}");

    // `run --once` exits non-zero too, naming the stage.
    let scratch = Scratch::new();
    let input = scratch.path("posts.jsonl");
    write_posts(&input, 34, 100, 0);
    append_post_with_text(&input, "it goes boom");
    let once = scratch.config("once.toml", &with_a_panicking_stage(TOPOLOGY));
    let output = run(&["run", "--config", once.to_str().unwrap(), "--once"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(stderr.contains("fault stopped") && stderr.contains("panicked"), "{stderr}");
}

/// The embedded log's disk fills up (SQLite's `max_page_count` stands in for
/// the disk, as a full disk makes SQLite report SQLITE_FULL the same way):
/// appends are retried, readiness says so, and once there is room again the
/// run goes on without a restart and loses nothing.
#[test]
fn a_full_disk_is_retried_until_there_is_room_and_nothing_is_lost() {
    use socialpipe::config::Config;
    use socialpipe::runtime::{runner, transport};

    let scratch = Scratch::new();
    let input = scratch.path("posts.jsonl");
    let ids = write_posts(&input, 35, 2_000, 0);
    let port = free_port();
    let path = scratch.config("daemon.toml", &TWO_SINKS.replace("{port}", &port.to_string()));
    let config = Config::load(&path).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let opened = transport::open(&config.transport).unwrap();
    let log = opened.embedded.clone().expect("the embedded log");
    rt.block_on(runner::create_topics(&config, &*opened.transport)).unwrap();
    // No room to grow.
    rt.block_on(log.limit_size(Some(0))).unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let run = rt.spawn(runner::run_on(config, runner::RunOptions::default(), opened, async {
        let _ = stopped.await;
    }));
    let ready = move || http_get(port, "/health/ready");
    let mut body = String::new();
    wait_until("the source to retry its append", Duration::from_secs(60), None, || {
        body = ready().map(|(_, b)| b).unwrap_or_default();
        body.contains("\"posts\":{\"state\":\"retrying\"")
    });
    assert_eq!(post_count(&scratch.db()), 0, "{body}");
    rt.block_on(log.limit_size(None)).unwrap();
    wait_until("every post in the sink", Duration::from_secs(60), None, || post_count(&scratch.db()) == 2_000);
    assert_eq!(post_ids(&scratch.db()), ids);
    wait_until("ready again", Duration::from_secs(30), None, || ready().is_some_and(|(s, _)| s == 200));
    stop.send(()).unwrap();
    let report = rt.block_on(run).unwrap().unwrap();
    assert!(report.failures.is_empty(), "{:?}", report.failures);
}

/// A sink that takes long to start (a store that accepts the connection
/// but does not answer, as during a long index build) must not keep the
/// process from answering its liveness probe.
#[test]
fn liveness_is_served_while_a_sink_is_still_starting() {
    let mongo = PrivateMongo::start();
    mongo.signal("STOP");
    let scratch = Scratch::new();
    std::fs::write(scratch.path("posts.jsonl"), "").unwrap();
    let port = free_port();
    let topology = TWO_SINKS.replace("{port}", &port.to_string()).replace(
        "[sinks.archive]\ntype = \"sqlite\"\npath = \"{dir}/archive.db\"",
        &format!(
            "[sinks.archive]\ntype = \"mongodb\"\nuri = \"{}\"\nserver_selection_timeout_ms = 600000",
            mongo.uri()
        ),
    );
    assert!(topology.contains("mongodb"), "TWO_SINKS changed: {topology}");
    let config = scratch.config("daemon.toml", &topology);
    let mut child = spawn(&["run", "--config", config.to_str().unwrap()]);
    wait_until("liveness", Duration::from_secs(60), Some(&mut child), || {
        http_get(port, "/health/live").is_some_and(|(s, _)| s == 200)
    });
    let (status, body) = http_get(port, "/health/ready").unwrap();
    assert_eq!(status, 503, "not ready while a sink starts: {body}");
    assert!(body.contains("\"archive\":{\"state\":\"starting\""), "{body}");
}
