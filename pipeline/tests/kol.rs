//! The kol stage end to end: every author's final score is emitted when a
//! run ends, a run killed with kill -9 and restarted ends with exactly the
//! scores (history included) of an uninterrupted run, and `kol show` prints
//! the breakdown.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use common::*;

const TOPOLOGY: &str = r#"
[transport]
type = "embedded"
path = "{dir}/log"

[http]
enabled = false

[runtime]
poll_wait_ms = 50
stage_batch_records = 200

[sources.posts]
type = "jsonl"
path = "{dir}/posts.jsonl"

[[stages]]
type = "entities"

[[stages]]
type = "sentiment"
model = false

[[stages]]
type = "brand_safety"

[[stages]]
type = "kol"
emit_interval_minutes = 720
[stages.briefs.coffee]
keywords = ["coffee", "espresso"]

[sinks.db]
type = "sqlite"
path = "{dir}/out.db"
batch_max_records = 500
batch_timeout_ms = 100
"#;

/// Every row of `kol_scores` but the wall-clock `emitted_at` and `version`.
fn history(db: &Path) -> BTreeMap<String, (f64, String, String, i64, String)> {
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut stmt = conn.prepare("SELECT id, score, tier, factors, posts, computed_at FROM kol_scores").unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, (r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?))))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

fn kol_rows(db: &Path) -> u64 {
    let Ok(conn) = rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY) else {
        return 0;
    };
    conn.busy_timeout(Duration::from_secs(5)).unwrap();
    conn.query_row("SELECT count(*) FROM kol_scores", [], |r| r.get(0)).unwrap_or(0)
}

/// Authors whose newest stored score misses their newest post or any of
/// their posts (the input spans 30 days, the window): empty when every
/// final score was emitted.
fn stale_authors(db: &Path) -> Vec<(String, String, String, i64, i64)> {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.prepare(
        "SELECT p.author_id, max(p.created_at), k.computed_at, count(*), k.posts
         FROM posts p JOIN kol_latest k ON k.author_id = p.author_id
         GROUP BY p.author_id HAVING max(p.created_at) <> k.computed_at OR count(*) <> k.posts",
    )
    .unwrap()
    .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))
    .unwrap()
    .collect::<Result<_, _>>()
    .unwrap()
}

fn input(scratch: &Scratch) -> u64 {
    write_posts(&scratch.path("posts.jsonl"), 8, 12_000, 300).len() as u64
}

#[test]
fn a_run_killed_twice_ends_with_the_scores_of_an_uninterrupted_run_and_every_author_has_its_final_score() {
    let reference = Scratch::new();
    input(&reference);
    let config = reference.config("app.toml", TOPOLOGY);
    run_ok(&["run", "--config", config.to_str().unwrap(), "--once"]);
    let expected = history(&reference.db());

    let stale = stale_authors(&reference.db());
    assert!(stale.is_empty(), "authors whose latest score misses posts: {stale:?}");
    let conn = rusqlite::Connection::open(reference.db()).unwrap();
    let (authors, scored): (i64, i64) = conn
        .query_row("SELECT (SELECT count(DISTINCT author_id) FROM posts), (SELECT count(*) FROM kol_latest)", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert_eq!(authors, scored, "one latest score per author");
    assert!(expected.len() as i64 > 3 * authors, "scores kept as history: {} for {authors} authors", expected.len());

    let crashed = Scratch::new();
    let unique = input(&crashed);
    let config = crashed.config("app.toml", TOPOLOGY);
    let config = config.to_str().unwrap();
    for percent in [30, 65] {
        let mut child = spawn(&["run", "--config", config, "--once"]);
        wait_until(&format!("{percent}% of the posts stored"), Duration::from_secs(300), Some(&mut child), || {
            post_count(&crashed.db()) >= unique * percent / 100
        });
        child.kill().expect("kill -9");
        child.wait().unwrap();
        let stored = post_count(&crashed.db());
        eprintln!("killed with {stored} of {unique} posts and {} scores stored", kol_rows(&crashed.db()));
        assert!(stored < unique, "killed before the end");
    }
    run_ok(&["run", "--config", config, "--once"]);
    let got = history(&crashed.db());
    assert_eq!(got.len(), expected.len(), "as many scores as the uninterrupted run");
    let differing: Vec<&String> =
        expected.iter().filter(|(id, row)| got.get(*id) != Some(row)).map(|(id, _)| id).collect();
    assert!(
        differing.is_empty(),
        "{} scores differ or are missing, e.g. {:?}",
        differing.len(),
        &differing[..differing.len().min(3)]
    );
}

#[test]
fn a_daemon_stopped_with_sigterm_emits_every_authors_final_score_first() {
    let scratch = Scratch::new();
    let unique = input(&scratch);
    let port = free_port();
    let topology = TOPOLOGY.replace("[http]\nenabled = false", &format!("[http]\nlisten = \"127.0.0.1:{port}\""));
    let config = scratch.config("app.toml", &topology);
    let mut daemon = spawn(&["run", "--config", config.to_str().unwrap()]);
    wait_until("every post stored", Duration::from_secs(300), Some(&mut daemon), || {
        post_count(&scratch.db()) >= unique
    });
    // The state's size is published: one key per author seen.
    let authors: u64 = rusqlite::Connection::open(scratch.db())
        .unwrap()
        .query_row("SELECT count(DISTINCT author_id) FROM posts", [], |r| r.get(0))
        .unwrap();
    wait_until("the state's size", Duration::from_secs(60), Some(&mut daemon), || {
        metric(port, r#"keyed_state_keys{component="kol"}"#) >= authors
    });
    assert!(metric(port, r#"keyed_state_bytes{component="kol"}"#) > 0);
    sigterm(&daemon);
    let (status, stderr) = stderr_of(daemon);
    assert!(status.success(), "{stderr}");
    let stale = stale_authors(&scratch.db());
    assert!(
        stale.is_empty(),
        "authors whose final score was not emitted at shutdown: {:?}",
        &stale[..stale.len().min(3)]
    );
}

#[test]
fn kol_show_prints_an_authors_latest_score_with_each_factor_explained() {
    let scratch = Scratch::new();
    input(&scratch);
    let config = scratch.config("app.toml", TOPOLOGY);
    let config = config.to_str().unwrap();
    run_ok(&["run", "--config", config, "--once"]);
    let conn = rusqlite::Connection::open(scratch.db()).unwrap();
    let (id, platform, handle, score): (String, String, String, f64) = conn
        .query_row("SELECT author_id, platform, handle, score FROM kol_latest ORDER BY score DESC LIMIT 1", [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })
        .unwrap();
    let by_id = String::from_utf8(run_ok(&["kol", "show", "--config", config, &id]).stdout).unwrap();
    assert!(by_id.starts_with(&format!("{id} (@{handle}): KOL score {score:.1} / 100")), "{by_id}");
    for line in ["engagement", "follower quality", "content relevance", "brand safety", "posting consistency"] {
        assert!(by_id.lines().any(|l| l.trim_start().starts_with(line)), "no {line} line in:\n{by_id}");
    }
    assert!(by_id.contains("-tier benchmark (median of"), "{by_id}");
    assert!(by_id.contains("best brief \"coffee\": keywords in"), "{by_id}");
    let by_handle = run_ok(&["kol", "show", "--config", config, &format!("{platform}:@{handle}")]).stdout;
    assert_eq!(String::from_utf8(by_handle).unwrap(), by_id);

    // Without a sqlite sink the scores topic answers the same.
    let topic_only = scratch.config(
        "topic.toml",
        &TOPOLOGY
            .replace("[sinks.db]\ntype = \"sqlite\"", "[sinks.db]\ntype = \"blackhole\"")
            .replace("path = \"{dir}/out.db\"\n", ""),
    );
    let from_topic = run_ok(&["kol", "show", "--config", topic_only.to_str().unwrap(), &id]).stdout;
    assert_eq!(String::from_utf8(from_topic).unwrap(), by_id);

    let unknown = run(&["kol", "show", "--config", config, "twitter:nobody"]);
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no KOL score for"));
}
