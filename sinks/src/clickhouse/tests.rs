use async_trait::async_trait;
use clickhouse::Client;
use socialpipe_schemas::{Envelope, ErrorDomain, RecordKind, SinkConfig};

use super::{ClickhouseConfig, ClickhouseSink, Dialect, MIGRATIONS, statements};
use crate::compliance::{MigratingStore, PoisonStore, ServerStore, Store, sink_compliance_suite};
use crate::testing::{clean_up, post_with, unique};

fn url(port: u16) -> String {
    format!("http://127.0.0.1:{port}")
}

fn machine_url() -> String {
    std::env::var("CLICKHOUSE_URL").unwrap_or_else(|_| url(8123))
}

/// A database of its own on a server.
struct Ch {
    config: ClickhouseConfig,
}

impl Ch {
    fn new(url: String) -> Self {
        Ch { config: ClickhouseConfig::new(url, unique("sp")) }
    }

    fn client(&self) -> Client {
        Client::default().with_url(&self.config.url).with_database(&self.config.database).with_validation(false)
    }
}

sink_compliance_suite!(Ch, poison, outage, migrations);

#[async_trait]
impl Store for Ch {
    fn on_machine() -> Self {
        Ch::new(machine_url())
    }

    fn config(&self) -> Box<dyn SinkConfig> {
        Box::new(self.config.clone())
    }

    /// As an analyst must query a ReplacingMergeTree: with FINAL.
    async fn visible_post_ids(&self, platform: &str) -> Vec<String> {
        self.client().query("SELECT id FROM posts FINAL WHERE platform = ?").bind(platform).fetch_all().await.unwrap()
    }

    async fn likes(&self, id: &str) -> Option<i64> {
        let likes: Option<Option<u64>> =
            self.client().query("SELECT likes FROM posts FINAL WHERE id = ?").bind(id).fetch_optional().await.unwrap();
        likes.flatten().map(|l| l as i64)
    }

    async fn stored(&self, kind: RecordKind, id: &str) -> u64 {
        let table = if kind == RecordKind::KolScore { "kol_scores" } else { "sheet_rows" };
        self.client()
            .query(&format!("SELECT count() FROM {table} FINAL WHERE id = ?"))
            .bind(id)
            .fetch_one()
            .await
            .unwrap()
    }

}

#[async_trait]
impl PoisonStore for Ch {
    /// DateTime cannot hold times before 1970.
    async fn poison(&self, platform: &str) -> Envelope {
        post_with(platform, 999, "created_at", "1969-07-20T20:17:00Z".into())
    }
}

impl ServerStore for Ch {
    const SERVER: &'static str = "clickhouse";
    const COMPANION_PORTS: &'static [i32] = &[877, 886];

    fn on_port(port: u16) -> Self {
        Ch::new(url(port))
    }
}

impl MigratingStore for Ch {
    const MIGRATIONS: &'static [crate::migrations::Migration] = super::schema::MIGRATIONS;

    fn config_without_migrations(&self) -> Box<dyn SinkConfig> {
        Box::new(ClickhouseConfig { migrate_on_start: false, ..self.config.clone() })
    }
}

impl Drop for Ch {
    fn drop(&mut self) {
        let (client, db) = (Client::default().with_url(&self.config.url), self.config.database.clone());
        clean_up(async move {
            let _ = client.query(&format!("DROP DATABASE IF EXISTS {db}")).execute().await;
        });
    }
}

#[tokio::test]
async fn views_aggregate_sentiment_per_hour_and_hashtag_without_duplicates() {
    let ch = Ch::new(machine_url());
    let mut sink = ch.sink().await.unwrap();
    let batch = crate::testing::posts("tiktok", 0..30, 10);
    sink.write(&batch).await.unwrap();
    sink.write(&batch).await.unwrap();
    let (posts, positive): (u64, u64) = ch
        .client()
        .query("SELECT sum(posts), sum(positive) FROM sentiment_by_hashtag_hour WHERE platform = 'tiktok' AND hashtag = 'coffee'")
        .fetch_one()
        .await
        .unwrap();
    assert_eq!((posts, positive), (30, 30));
    let brands: u64 = ch
        .client()
        .query("SELECT sum(posts) FROM sentiment_by_brand_hour WHERE brand = 'acme'")
        .fetch_one()
        .await
        .unwrap();
    assert_eq!(brands, 30);
    let authors: u64 = ch.client().query("SELECT count() FROM authors FINAL").fetch_one().await.unwrap();
    assert_eq!(authors, 7);
    let embedding: Vec<f32> =
        ch.client().query("SELECT embedding FROM posts FINAL WHERE id = 'tiktok:3'").fetch_one().await.unwrap();
    assert_eq!(embedding, vec![0.25, -0.5, 0.125, 1.0]);
}

#[tokio::test]
async fn bad_credentials_are_fatal_and_an_unreachable_server_transient() {
    let mut bad = ClickhouseConfig::new(machine_url(), unique("sp"));
    bad.user = "nobody_here".into();
    let error = ClickhouseSink::open(&bad).await.err().unwrap();
    assert_eq!(error.domain, ErrorDomain::Fatal, "{}", error.reason);
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let error = ClickhouseSink::open(&ClickhouseConfig::new(url(port), "x")).await.err().unwrap();
    assert_eq!(error.domain, ErrorDomain::Transient, "{}", error.reason);
    assert!(ClickhouseConfig::new("https://x", "x").check().is_err());
    assert!(ClickhouseConfig::new(machine_url(), "a-b").check().is_err());
}

#[test]
fn dialect_follows_the_server_version() {
    assert_eq!(Dialect::of_version("18.16.1"), Dialect::Legacy);
    assert_eq!(Dialect::of_version("25.3.2.39"), Dialect::Current);
    let legacy = statements(MIGRATIONS[0].script, Dialect::Legacy).join("\n");
    assert!(!legacy.contains("LowCardinality") && !legacy.contains("{lc}"));
    assert!(statements(MIGRATIONS[0].script, Dialect::Current).join("\n").contains("LowCardinality(String)"));
}

/// The current-release DDL (and the analyst queries on it) on chdb, an
/// embedded current ClickHouse from PyPI (`scripts/services.sh which chdb`).
#[test]
fn current_release_ddl_and_views_work_on_chdb() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let python = std::process::Command::new("bash")
        .arg(root.join("../scripts/services.sh"))
        .args(["which", "chdb"])
        .output()
        .unwrap();
    assert!(python.status.success(), "{}", String::from_utf8_lossy(&python.stderr));
    let python = String::from_utf8(python.stdout).unwrap().trim().to_owned();
    let mut sql = vec!["CREATE DATABASE sp".to_owned(), "USE sp".to_owned()];
    sql.extend(MIGRATIONS.iter().flat_map(|m| statements(m.script, Dialect::Current)));
    // One post written twice (a redelivery) and a newer version of it.
    for version in [10, 10, 11] {
        sql.push(format!(
            "INSERT INTO posts (id, platform, author_id, created_at, created_at_ms, hashtags, brands, sentiment_label,
                                sentiment_compound, emotion, version)
             VALUES ('x:1', 'x', 'x:a', '2026-11-20 10:15:00', 1795170900000, ['coffee'], ['acme'], 'positive', 0.5, 'joy', {version})"
        ));
    }
    sql.push("SELECT count() AS n FROM posts FINAL".into());
    sql.push("SELECT hour, hashtag, posts, positive FROM sentiment_by_hashtag_hour".into());
    sql.push("SELECT brand, emotion, posts FROM emotion_by_brand_hour".into());
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), serde_json::to_vec(&sql).unwrap()).unwrap();
    let out = std::process::Command::new(python)
        .arg(root.join("../scripts/chdb_exec.py"))
        .arg(file.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let outputs: Vec<String> = serde_json::from_slice(&out.stdout).unwrap();
    let last: Vec<serde_json::Value> =
        outputs.iter().rev().take(3).rev().map(|s| serde_json::from_str(s.trim()).unwrap()).collect();
    use serde_json::json;
    assert_eq!(last[0], json!({"n": 1}));
    assert_eq!(last[1], json!({"hour": "2026-11-20 10:00:00", "hashtag": "coffee", "posts": 1, "positive": 1}));
    assert_eq!(last[2], json!({"brand": "acme", "emotion": "joy", "posts": 1}));
}

