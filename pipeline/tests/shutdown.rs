//! SIGTERM stops the sources, drains stages and sinks, commits and exits 0:
//! nothing acknowledged is left behind, so a restart has nothing to do.

mod common;

use std::time::Duration;

use common::*;
use socialpipe::runtime::transport::Transport;
use socialpipe::runtime::transport::embedded::{EmbeddedConfig, EmbeddedLog};

/// Following the input; the sink flushes only when its batch is full (never
/// here) or when draining, so everything it holds at SIGTERM is in memory.
fn following() -> String {
    let config = TOPOLOGY
        .replace("path = \"{dir}/posts.jsonl\"", "path = \"{dir}/posts.jsonl\"\nfollow = true\npoll_interval_ms = 50")
        .replace(
            "batch_max_records = 2000\nbatch_timeout_ms = 100",
            "batch_max_records = 1000000\nbatch_timeout_ms = 3600000",
        );
    assert!(config.contains("follow = true") && config.contains("3600000"), "TOPOLOGY changed: {config}");
    config
}

fn stage_committed(scratch: &Scratch) -> u64 {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let Ok(log) = EmbeddedLog::open(&EmbeddedConfig::new(scratch.log_dir())) else {
            return 0;
        };
        log.group_lag(&["socialpipe.stages".to_owned()]).await.unwrap_or_default().iter().map(|l| l.committed).sum()
    })
}

#[test]
fn sigterm_drains_everything_acknowledged_and_a_restart_processes_nothing() {
    let scratch = Scratch::new();
    let ids = write_posts(&scratch.path("posts.jsonl"), 5, 20_000, 0);
    let config = scratch.config("follow.toml", &following());
    let mut child = spawn(&["run", "--config", config.to_str().unwrap()]);
    // The stage chain has committed every post: they are acknowledged, but the
    // sink still holds its unflushed batch in memory.
    wait_until("the stages to process every post", Duration::from_secs(300), Some(&mut child), || {
        stage_committed(&scratch) == ids.len() as u64
    });
    assert!(post_count(&scratch.db()) < ids.len() as u64, "the sink has not flushed yet");
    sigterm(&child);
    let (status, stderr) = stderr_of(child);
    assert!(status.success(), "exit status {status}: {stderr}");
    assert_eq!(post_ids(&scratch.db()), ids, "every acknowledged post is in the sink after exit 0");

    let once = scratch.config("once.toml", &following().replace("follow = true", "follow = false"));
    let report = scratch.path("report.json");
    run_ok(&["run", "--config", once.to_str().unwrap(), "--once", "--report", report.to_str().unwrap()]);
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(report).unwrap()).unwrap();
    for component in ["posts", "entities", "db"] {
        assert_eq!(report["components"][component]["received"], 0, "{component} had nothing left to process: {report}");
    }
}

/// A store that stops answering (kill -STOP) mid-write must not hold a
/// SIGTERM past its deadline: the process exits non-zero in time, and what
/// was not written was not committed, so the next run writes it.
#[test]
fn a_hung_store_does_not_hold_shutdown_past_its_deadline() {
    let mongo = PrivateMongo::start();
    let scratch = Scratch::new();
    let port = free_port();
    let topology = following()
        .replace("[http]\nenabled = false", &format!("[http]\nlisten = \"127.0.0.1:{port}\""))
        .replace("shutdown_deadline_secs = 60", "shutdown_deadline_secs = 3")
        .replace(
            "[sinks.db]\ntype = \"sqlite\"\npath = \"{dir}/out.db\"\nbatch_max_records = 1000000\nbatch_timeout_ms = 3600000",
            &format!("[sinks.db]\ntype = \"mongodb\"\nuri = \"{}\"\nbatch_max_records = 100\nbatch_timeout_ms = 50", mongo.uri()),
        );
    assert!(topology.contains("mongodb") && topology.contains("= 3\n"), "TOPOLOGY changed: {topology}");
    let config = scratch.config("hung.toml", &topology);
    let mut child = spawn(&["run", "--config", config.to_str().unwrap()]);
    wait_until("the daemon to be ready", Duration::from_secs(60), Some(&mut child), || {
        http_get(port, "/health/ready").is_some_and(|(s, _)| s == 200)
    });
    mongo.signal("STOP");
    let ids = write_posts(&scratch.path("posts.jsonl"), 6, 500, 0);
    wait_until("the sink to be writing", Duration::from_secs(60), Some(&mut child), || {
        metric(port, r#"component_received_events_total{component="db",kind="sink"}"#) > 0
    });
    sigterm(&child);
    let mut child = child;
    let deadline = std::time::Instant::now() + Duration::from_secs(3 + 20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(std::time::Instant::now() < deadline, "still running 20 s after the 3 s shutdown deadline");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(!status.success(), "a shutdown that could not drain exits non-zero");

    mongo.signal("CONT");
    let once = scratch.config("once.toml", &topology.replace("follow = true", "follow = false"));
    run_ok(&["run", "--config", once.to_str().unwrap(), "--once"]);
    assert_eq!(mongo.post_ids(), ids, "what the hung store did not take is written by the next run");
}
