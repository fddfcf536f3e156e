//! Bad input gets a clear reason in the DLQ while every valid record flows;
//! `dlq replay` re-delivers once the cause is fixed, and what fails again
//! returns to the DLQ.

mod common;

use std::io::Write;

use common::*;

fn dead_letters(config: &str, stage: &str) -> Vec<serde_json::Value> {
    let output = run_ok(&["dlq", "show", "--config", config, stage, "--limit", "100"]);
    output.stdout.split(|&b| b == b'\n').filter(|l| !l.is_empty()).map(|l| serde_json::from_slice(l).unwrap()).collect()
}

#[test]
fn malformed_lines_land_in_the_dlq_with_their_reason_while_valid_posts_flow() {
    let scratch = Scratch::new();
    let input = scratch.path("posts.jsonl");
    let ids = write_posts(&input, 3, 1_000, 0);
    let ten_mb = format!(
        r#"{{"platform":"twitter","id":"big","author":{{"id":"1"}},"text":"{}","created_at":"2026-11-20T10:00:00Z"}}"#,
        "z".repeat(10 << 20)
    );
    let mut f = std::fs::OpenOptions::new().append(true).open(&input).unwrap();
    f.write_all(b"{\"platform\": \"twitter\", \"id\": \n").unwrap();
    f.write_all(b"{\"platform\":\"twitter\",\"id\":\"u\",\"author\":{\"id\":\"1\"},\"text\":\"bad \xff byte\",\"created_at\":\"2026-11-20T10:00:00Z\"}\n").unwrap();
    f.write_all(
        b"{\"platform\":\"twitter\",\"id\":\"m\",\"text\":\"no author\",\"created_at\":\"2026-11-20T10:00:00Z\"}\n",
    )
    .unwrap();
    f.write_all(format!("{ten_mb}\n").as_bytes()).unwrap();
    f.write_all(b"{\"platform\":\"twitter\",\"id\":\"w\",\"author\":{\"id\":\"1\",\"followers\":\"lots\"},\"text\":\"x\",\"created_at\":\"2026-11-20T10:00:00Z\",\"metrics\":{\"likes\":1.5}}\n").unwrap();
    drop(f);
    write_posts(&input, 4, 1_000, 0).into_iter().for_each(|id| assert!(!ids.contains(&id)));
    let config = scratch.config("app.toml", TOPOLOGY);
    let config = config.to_str().unwrap();

    run_ok(&["run", "--config", config, "--once"]);
    assert_eq!(post_count(&scratch.db()), 2_000, "every valid post before and after the bad lines is stored");

    let letters = dead_letters(config, "posts");
    let reasons: Vec<&str> = letters.iter().map(|l| l["reason"].as_str().unwrap()).collect();
    assert_eq!(letters.len(), 5, "{reasons:?}");
    let by_line =
        |n: usize| letters.iter().find(|l| l["location"].as_str().unwrap().ends_with(&format!(":{n}"))).unwrap();
    assert!(by_line(1001)["reason"].as_str().unwrap().starts_with("invalid JSON: EOF while parsing"));
    assert_eq!(by_line(1002)["reason"], "invalid UTF-8 at byte 63");
    assert_eq!(by_line(1002)["original"]["encoding"], "base64");
    assert_eq!(by_line(1003)["reason"], "author.id: missing");
    let huge = by_line(1004);
    assert_eq!(huge["reason"], format!("line: {} bytes > max_line_bytes 1048576", ten_mb.len()));
    assert_eq!(
        (huge["original"]["truncated"].as_bool(), huge["original"]["length"].as_u64()),
        (Some(true), Some(ten_mb.len() as u64))
    );
    assert_eq!(huge["original"]["sha256"], socialpipe_schemas::sha256_hex(ten_mb.as_bytes()));
    assert_eq!(
        by_line(1005)["reason"],
        "author.followers: must be a non-negative integer; metrics.likes: must be a non-negative integer"
    );
    for l in &letters {
        assert_eq!(
            (l["domain"].as_str(), l["stage"].as_str(), l["input_topic"].as_str()),
            (Some("invalid"), Some("posts"), Some("raw.posts"))
        );
    }

    // Replaying input that is still malformed returns it to the DLQ, one attempt more.
    let output = run(&["dlq", "replay", "--config", config, "posts"]);
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "0 replayed, 5 failed again (back in dlq.posts)");
    let letters = dead_letters(config, "posts");
    assert_eq!(letters.iter().filter(|l| l["attempts"] == 2).count(), 5);
}

#[test]
fn records_a_sink_refuses_are_dead_lettered_and_replayed_after_the_fix() {
    let scratch = Scratch::new();
    let input = scratch.path("posts.jsonl");
    let ids = write_posts(&input, 9, 500, 0);
    let config = scratch.config("app.toml", TOPOLOGY);
    let config = config.to_str().unwrap();
    // An analyst's rule in the database refuses some rows (a permanent error per record).
    run_ok(&["migrate", "--config", config]);
    let db = rusqlite::Connection::open(scratch.db()).unwrap();
    db.execute_batch("CREATE TRIGGER no_giveaways BEFORE INSERT ON posts WHEN NEW.text LIKE '%giveaway%' BEGIN SELECT RAISE(ABORT, 'giveaways are not allowed'); END;").unwrap();

    run_ok(&["run", "--config", config, "--once"]);
    let refused = dead_letters(config, "db");
    assert!(!refused.is_empty(), "some generated posts mention a giveaway");
    assert_eq!(
        post_count(&scratch.db()) + refused.len() as u64,
        ids.len() as u64,
        "every post is stored or dead-lettered"
    );
    for letter in &refused {
        assert_eq!(letter["reason"], "sqlite: giveaways are not allowed");
        assert_eq!(letter["input_topic"], "enriched.posts");
    }

    // The fix: the rule goes. Replay and run again: everything is stored.
    db.execute_batch("DROP TRIGGER no_giveaways").unwrap();
    let output = run(&["dlq", "replay", "--config", config, "db"]);
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        format!("{} replayed, 0 failed again (back in dlq.db)", refused.len())
    );
    run_ok(&["run", "--config", config, "--once"]);
    assert_eq!(post_ids(&scratch.db()), ids);
    let pending = run(&["dlq", "list", "--config", config]);
    let listing = String::from_utf8_lossy(&pending.stdout);
    let db_row = listing.lines().find(|l| l.starts_with("dlq.db ")).unwrap();
    assert_eq!(
        db_row.split_whitespace().collect::<Vec<_>>(),
        ["dlq.db", &refused.len().to_string(), "0"],
        "nothing awaits replay"
    );
}

/// Something in a DLQ that is not a dead letter (written by hand, by another
/// tool, or by a version that wrote another shape) is not skipped in
/// silence: replay names it, leaves it in place, and fails.
#[test]
fn replay_reports_what_is_not_a_dead_letter() {
    use socialpipe::runtime::transport::Outgoing;
    use socialpipe::runtime::transport::Transport as _;
    use socialpipe::runtime::transport::embedded::{EmbeddedConfig, EmbeddedLog};

    let scratch = Scratch::new();
    let input = scratch.path("posts.jsonl");
    write_posts(&input, 10, 10, 0);
    std::fs::OpenOptions::new().append(true).open(&input).unwrap().write_all(b"{\"platform\": \n").unwrap();
    let config = scratch.config("app.toml", TOPOLOGY);
    let config = config.to_str().unwrap();
    run_ok(&["run", "--config", config, "--once"]);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let log = EmbeddedLog::open(&EmbeddedConfig::new(scratch.log_dir())).unwrap();
        log.send("dlq.posts", vec![Outgoing::new("stray", b"{\"not\": \"a dead letter\"}".to_vec())]).await.unwrap();
    });
    let output = run(&["dlq", "replay", "--config", config, "posts"]);
    let (stdout, stderr) = (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(!output.status.success(), "{stdout}{stderr}");
    assert_eq!(stdout.trim(), "0 replayed, 1 failed again (back in dlq.posts), 1 unreadable (left in place)");
    // The stray message's key put it in some partition of dlq.posts.
    assert!(stderr.contains("not a dead letter: not an envelope: unknown field `not`"), "{stderr}");
    assert!(stderr.starts_with("error: dlq.posts["), "{stderr}");
}
