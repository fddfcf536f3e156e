use async_trait::async_trait;
use socialpipe_schemas::{ComponentError, Envelope, ErrorDomain, RecordKind, Sink};
use tokio_postgres::{Client, NoTls};

use super::{MIGRATIONS, PostgresConfig, PostgresSink};
use crate::compliance::{self, Store};
use crate::testing::{PrivateServer, post, unique};

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
        let client = client(&self.config.url).await;
        client.batch_execute(&format!("SET search_path TO {}", self.config.schema)).await.unwrap();
        if sql.contains("$1") { client.query(sql, &[&id]).await } else { client.query(sql, &[]).await }.unwrap()
    }
}

#[async_trait]
impl Store for Pg {
    async fn sink(&self) -> Result<Box<dyn Sink>, ComponentError> {
        Ok(Box::new(PostgresSink::open(&self.config).await?))
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

    /// PostgreSQL text cannot hold NUL.
    fn poison(&self, platform: &str) -> Envelope {
        let mut envelope = post(platform, 999, 1, 10);
        let mut payload: serde_json::Value = serde_json::from_str(envelope.payload.get()).unwrap();
        payload["text"] = "nul \u{0} inside".into();
        envelope.payload = Envelope::encode_payload(&payload);
        envelope
    }
}

impl Drop for Pg {
    fn drop(&mut self) {
        // Best effort: a failed test leaves its schema for inspection otherwise.
        let (url, schema) = (self.config.url.clone(), self.config.schema.clone());
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async {
                if let Ok((c, conn)) = tokio_postgres::connect(&url, NoTls).await {
                    tokio::spawn(conn);
                    let _ = c.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE")).await;
                }
            })
        })
        .join()
        .ok();
    }
}

#[tokio::test]
async fn redelivery_creates_no_duplicates() {
    compliance::redelivery_creates_no_duplicates(&Pg::new(machine_url()), "twitter").await;
}

#[tokio::test]
async fn older_version_never_overwrites_newer() {
    compliance::older_version_never_overwrites_newer(&Pg::new(machine_url()), "twitter").await;
}

#[tokio::test]
async fn poison_is_reported_and_the_rest_written() {
    compliance::poison_is_reported_and_the_rest_written(&Pg::new(machine_url()), "twitter").await;
}

#[tokio::test]
async fn acknowledged_writes_are_visible_after_the_sink_is_gone() {
    compliance::acknowledged_writes_are_visible_after_the_sink_is_gone(&Pg::new(machine_url()), "twitter").await;
}

#[tokio::test]
async fn outage_loses_nothing() {
    let server = PrivateServer::start("postgres", &[]);
    compliance::outage_loses_nothing(&Pg::new(url(server.port)), &server, "twitter").await;
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
    let latest = pg.query("SELECT score FROM kol_scores_latest WHERE author_id = $1", "instagram:a1").await;
    assert_eq!(latest[0].get::<_, f64>(0), 73.0);
}

#[tokio::test]
async fn migrations_apply_once_and_a_stale_schema_stops_a_sink_that_may_not_migrate() {
    let pg = Pg::new(machine_url());
    let mut config = pg.config.clone();
    config.migrate_on_start = false;
    let error = PostgresSink::open(&config).await.err().expect("an unmigrated schema must refuse to start");
    assert_eq!(error.domain, ErrorDomain::Fatal);
    assert!(error.reason.contains("socialpipe migrate"), "{}", error.reason);
    let all: Vec<i64> = MIGRATIONS.iter().map(|m| m.0).collect();
    assert_eq!(PostgresSink::migrate_store(&pg.config).await.unwrap(), all);
    assert_eq!(PostgresSink::migrate_store(&pg.config).await.unwrap(), Vec::<i64>::new());
    PostgresSink::open(&config).await.unwrap();
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

#[tokio::test]
async fn every_record_type_is_stored_once() {
    compliance::every_record_type_is_stored_once(&Pg::new(machine_url()), "twitter").await;
}

#[tokio::test]
async fn counts_beyond_i64_are_refused() {
    compliance::counts_beyond_i64_are_refused(&Pg::new(machine_url()), "twitter").await;
}
