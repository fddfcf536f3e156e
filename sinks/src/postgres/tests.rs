use async_trait::async_trait;
use socialpipe_schemas::{Envelope, ErrorDomain, RecordKind, SinkConfig};
use tokio_postgres::{Client, NoTls};

use super::{PostgresConfig, PostgresSink};
use crate::compliance::{MigratingStore, PoisonStore, ServerStore, StallStore, Store, sink_compliance_suite};
use crate::testing::{clean_up, post_with, unique};

fn url(port: u16) -> String {
    format!("postgres://postgres@127.0.0.1:{port}/test")
}

fn machine_url() -> String {
    std::env::var("POSTGRES_URL").unwrap_or_else(|_| url(5432))
}

async fn client(url: &str) -> Client {
    let (client, connection) = tokio_postgres::connect(url, NoTls).await.unwrap();
    tokio::spawn(connection);
    client
}

/// A schema of its own on a server.
struct Pg {
    config: PostgresConfig,
}

impl Pg {
    fn new(url: String) -> Self {
        Pg { config: PostgresConfig::new(url, unique("sp")) }
    }

    async fn query(&self, sql: &str, id: &str) -> Vec<tokio_postgres::Row> {
        let client = client(self.config.url.expose()).await;
        client.batch_execute(&format!("SET search_path TO {}", self.config.schema)).await.unwrap();
        if sql.contains("$1") { client.query(sql, &[&id]).await } else { client.query(sql, &[]).await }.unwrap()
    }
}

sink_compliance_suite!(Pg, poison, outage, stall, i64_counts, migrations);

#[async_trait]
impl Store for Pg {
    fn on_machine() -> Self {
        Pg::new(machine_url())
    }

    fn config(&self) -> Box<dyn SinkConfig> {
        Box::new(self.config.clone())
    }

    async fn visible_post_ids(&self, platform: &str) -> Vec<String> {
        self.query("SELECT id FROM posts WHERE platform = $1", platform).await.iter().map(|r| r.get(0)).collect()
    }

    async fn likes(&self, id: &str) -> Option<i64> {
        self.query("SELECT likes FROM posts WHERE id = $1", id).await.first().and_then(|r| r.get(0))
    }

    async fn stored(&self, kind: RecordKind, id: &str) -> u64 {
        let table = if kind == RecordKind::KolScore { "kol_scores" } else { "sheet_rows" };
        let rows = self.query(&format!("SELECT count(*) FROM {table} WHERE id = $1"), id).await;
        rows[0].get::<_, i64>(0) as u64
    }

}

#[async_trait]
impl PoisonStore for Pg {
    /// PostgreSQL text cannot hold NUL.
    async fn poison(&self, platform: &str) -> Envelope {
        post_with(platform, 999, "text", "nul \u{0} inside".into())
    }
}

impl ServerStore for Pg {
    const SERVER: &'static str = "postgres";
    const COMPANION_PORTS: &'static [i32] = &[];

    fn on_port(port: u16) -> Self {
        Pg::new(url(port))
    }
}

impl StallStore for Pg {
    fn with_write_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.config.write_timeout_ms = timeout.as_millis() as u64;
        self
    }
}

impl MigratingStore for Pg {
    const MIGRATIONS: &'static [crate::migrations::Migration] = super::schema::MIGRATIONS;

    fn config_without_migrations(&self) -> Box<dyn SinkConfig> {
        Box::new(PostgresConfig { migrate_on_start: false, ..self.config.clone() })
    }
}

impl Drop for Pg {
    fn drop(&mut self) {
        // Best effort: a failed test leaves its schema for inspection otherwise.
        let (url, schema) = (self.config.url.expose().to_owned(), self.config.schema.clone());
        clean_up(async move {
            if let Ok((c, conn)) = tokio_postgres::connect(&url, NoTls).await {
                tokio::spawn(conn);
                let _ = c.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE")).await;
            }
        });
    }
}

#[tokio::test]
async fn every_table_gets_its_rows_with_typed_columns() {
    let pg = Pg::new(machine_url());
    let mut sink = pg.sink().await.unwrap();
    let mut batch = crate::testing::posts("instagram", 0..14, 10);
    for (computed_at, value) in [("2026-11-20T00:00:00Z", 71.5), ("2026-11-21T00:00:00Z", 73.0)] {
        batch.push(crate::testing::kol_score("instagram", computed_at, value).1);
    }
    assert!(sink.write(&batch).await.unwrap().rejected.is_empty());
    let authors = pg.query("SELECT count(*) FROM authors WHERE platform = 'instagram'", "").await;
    assert_eq!(authors[0].get::<_, i64>(0), 7);
    let row = &pg
        .query(
            "SELECT hashtags, mentions, embedding, enrichments->'sentiment'->>'label' FROM posts WHERE id = $1",
            "instagram:3",
        )
        .await[0];
    assert_eq!(row.get::<_, Vec<String>>(0), vec!["coffee"]);
    assert_eq!(row.get::<_, Vec<String>>(1), vec!["user4"]);
    assert_eq!(row.get::<_, Vec<f32>>(2), vec![0.25, -0.5, 0.125, 1.0]);
    assert_eq!(row.get::<_, String>(3), "positive");
    let history = pg.query("SELECT count(*) FROM kol_scores WHERE author_id = $1", "instagram:a1").await;
    assert_eq!(history[0].get::<_, i64>(0), 2);
    let latest = pg.query("SELECT score FROM kol_latest WHERE author_id = $1", "instagram:a1").await;
    assert_eq!(latest[0].get::<_, f64>(0), 73.0);
}

#[tokio::test]
async fn bad_credentials_are_fatal_and_an_unreachable_server_transient() {
    let bad_db = PostgresConfig::new("postgres://postgres@127.0.0.1:5432/no_such_database_here", "public");
    let error = PostgresSink::open(&bad_db).await.err().unwrap();
    assert_eq!(error.domain, ErrorDomain::Fatal, "{}", error.reason);
    assert!(error.reason.contains("no_such_database_here"), "{}", error.reason);
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let unreachable = PostgresConfig::new(url(port), "public");
    assert_eq!(PostgresSink::open(&unreachable).await.err().unwrap().domain, ErrorDomain::Transient);
    assert!(PostgresConfig::new("http://nope", "public").check().is_err());
    assert!(PostgresConfig::new(machine_url(), "bad;name").check().is_err());
}
