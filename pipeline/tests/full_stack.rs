//! The four analyst stores through the command line: `migrate`, then `run
//! --once` fills ClickHouse, PostgreSQL, MongoDB and Neo4j with the bundled
//! sample; a second run with the same input (a replay) changes no count
//! anywhere. (The whole system, on Kafka with every stage, is `make
//! stack-demo`'s.)

mod common;

use std::collections::BTreeSet;
use std::process::Output;
use std::time::Duration;

use common::*;
use futures_util::TryStreamExt;

/// The ids of the valid posts of the bundled sample.
fn sample_ids() -> BTreeSet<String> {
    // The sample holds malformed lines on purpose (invalid UTF-8 among them).
    let bytes = std::fs::read(root().join("examples/data/posts.jsonl")).unwrap();
    bytes
        .split(|b| *b == b'\n')
        .filter_map(|line| socialpipe_schemas::parse_raw_post(line).ok())
        .map(|post| post.record_id())
        .collect()
}

/// The bundled sample through the embedded log and `entities` into the four
/// stores, named by the environment as examples/production.toml names them.
const FOUR_STORES: &str = r#"
[transport]
type = "embedded"
path = "${SOCIALPIPE_VAR}/log"

[http]
listen = "${SOCIALPIPE_HTTP}"

[sources.posts]
type = "jsonl"
path = "examples/data/posts.jsonl"

[[stages]]
type = "entities"

[sinks.clickhouse]
type = "clickhouse"
url = "http://127.0.0.1:8123"
database = "${CLICKHOUSE_DATABASE}"
batch_max_records = 50000
batch_max_bytes = 67108864

[sinks.postgres]
type = "postgres"
url = "postgres://postgres@127.0.0.1:5432/test"
schema = "${POSTGRES_SCHEMA}"

[sinks.mongodb]
type = "mongodb"
uri = "${MONGODB_URI}"

[sinks.neo4j]
type = "neo4j"
uri = "bolt://127.0.0.1:7687"
user = "root"
password = "playwithdata"
database = "kol"
"#;

struct Stack {
    scratch: Scratch,
    name: String,
}

impl Stack {
    fn new() -> Self {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
        Stack { scratch: Scratch::new(), name: format!("fs_{}_{}", std::process::id(), nanos % 1_000_000_000) }
    }

    fn mongodb_uri(&self) -> String {
        format!("mongodb://127.0.0.1:27017/{}?directConnection=true", self.name)
    }

    fn socialpipe(&self, args: &[&str]) -> Output {
        let output = socialpipe()
            .current_dir(root())
            .args(args)
            .env("SOCIALPIPE_VAR", self.scratch.path("var"))
            .env("SOCIALPIPE_HTTP", format!("127.0.0.1:{}", free_port()))
            .env("CLICKHOUSE_DATABASE", &self.name)
            .env("POSTGRES_SCHEMA", &self.name)
            .env("MONGODB_URI", self.mongodb_uri())
            .output()
            .unwrap();
        assert!(output.status.success(), "socialpipe {args:?}: {}", String::from_utf8_lossy(&output.stderr));
        output
    }

    async fn clickhouse_ids(&self) -> Vec<String> {
        let client = clickhouse::Client::default()
            .with_url("http://127.0.0.1:8123")
            .with_database(&self.name)
            .with_validation(false);
        client.query("SELECT id FROM posts FINAL").fetch_all().await.unwrap()
    }

    async fn postgres_ids(&self) -> Vec<String> {
        let (client, connection) =
            tokio_postgres::connect("postgres://postgres@127.0.0.1:5432/test", tokio_postgres::NoTls).await.unwrap();
        tokio::spawn(connection);
        let rows = client.query(&format!("SELECT id FROM {}.posts", self.name), &[]).await.unwrap();
        rows.iter().map(|r| r.get(0)).collect()
    }

    async fn mongodb_ids(&self) -> Vec<String> {
        let client = mongodb::Client::with_uri_str(self.mongodb_uri()).await.unwrap();
        let posts = client.database(&self.name).collection::<mongodb::bson::Document>("posts");
        let found: Vec<mongodb::bson::Document> =
            posts.find(mongodb::bson::doc! {}).await.unwrap().try_collect().await.unwrap();
        found.iter().map(|d| d.get_str("_id").unwrap().to_owned()).collect()
    }

    /// Post nodes of the sample (the graph database is shared across runs).
    async fn neo4j_ids(&self, ids: &BTreeSet<String>) -> Vec<String> {
        let config = neo4rs::ConfigBuilder::default()
            .uri("bolt://127.0.0.1:7687")
            .user("root")
            .password(std::env::var("NEO4J_PASSWORD").unwrap_or_else(|_| "playwithdata".into()))
            .db("kol")
            .build()
            .unwrap();
        let graph = neo4rs::Graph::connect(config).await.unwrap();
        let ids: Vec<String> = ids.iter().cloned().collect();
        let mut rows = graph
            .execute(neo4rs::query("MATCH (p:Post) WHERE p.id IN $ids RETURN p.id AS id").param("ids", ids))
            .await
            .unwrap();
        let mut found = Vec::new();
        while let Some(row) = rows.next().await.unwrap() {
            found.push(row.get::<String>("id").unwrap());
        }
        found
    }

    /// Every store holds each sample post exactly once.
    async fn check(&self, expected: &BTreeSet<String>) {
        let as_set = |ids: Vec<String>, store: &str| {
            let set: BTreeSet<String> = ids.iter().cloned().collect();
            assert_eq!(set.len(), ids.len(), "{store} shows duplicates");
            assert_eq!(&set, expected, "{store} holds other posts than the sample's");
        };
        as_set(self.clickhouse_ids().await, "clickhouse");
        as_set(self.postgres_ids().await, "postgres");
        as_set(self.mongodb_ids().await, "mongodb");
        as_set(self.neo4j_ids(expected).await, "neo4j");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_then_run_once_fills_every_sink_and_a_replay_adds_nothing() {
    let stack = Stack::new();
    let config = stack.scratch.config("four-stores.toml", FOUR_STORES);
    let config = config.to_str().unwrap();
    let migrated = String::from_utf8(stack.socialpipe(&["migrate", "--config", config]).stdout).unwrap();
    for sink in ["clickhouse", "postgres", "mongodb", "neo4j"] {
        assert!(migrated.contains(&format!("{sink}: ")), "{migrated}");
    }
    let expected = sample_ids();
    let report = stack.scratch.path("report.json");
    stack.socialpipe(&["run", "--config", config, "--once", "--report", report.to_str().unwrap()]);
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    for sink in ["clickhouse", "postgres", "mongodb", "neo4j"] {
        let sent = report["components"][sink]["sent"].as_u64().unwrap();
        assert!(sent >= expected.len() as u64, "{sink} sent {sent} of {}", expected.len());
        assert_eq!(report["components"][sink]["dead_letters"].as_u64(), Some(0), "{sink}");
    }
    stack.check(&expected).await;

    // The same input again under a new log: every record is redelivered.
    std::fs::remove_dir_all(stack.scratch.path("var")).unwrap();
    stack.socialpipe(&["run", "--config", config, "--once"]);
    stack.check(&expected).await;
}

/// A sink whose server is down at start: the runner retries with backoff,
/// reports not ready, reads nothing more, and writes everything once the
/// server is back.
#[test]
fn a_sink_whose_server_is_down_holds_the_stream_and_catches_up_when_it_returns() {
    let server = socialpipe_sinks::testing::PrivateServer::start("clickhouse", &[877, 886]);
    server.stop();
    let scratch = Scratch::new();
    let http = free_port();
    let posts = root().join("examples/data/posts.jsonl");
    let config = scratch.config(
        "outage.toml",
        &format!(
            r#"
[transport]
type = "embedded"
path = "{{dir}}/log"

[http]
listen = "127.0.0.1:{http}"

[runtime.retry]
initial_backoff_ms = 50
max_backoff_ms = 500

[sources.posts]
type = "jsonl"
path = "{}"

[[stages]]
type = "entities"

[sinks.clickhouse]
type = "clickhouse"
url = "http://127.0.0.1:{}"
database = "outage"
"#,
            posts.display(),
            server.port
        ),
    );
    let mut daemon = spawn(&["run", "--config", config.to_str().unwrap(), "--once"]);
    let transient = r#"component_errors_total{component="clickhouse",domain="transient",kind="sink"}"#;
    wait_until("a transient clickhouse error", Duration::from_secs(60), Some(&mut daemon), || {
        metric(http, transient) >= 2
    });
    assert_eq!(http_get(http, "/health/ready").map(|(status, _)| status), Some(503));
    server.restart();
    let (status, stderr) = stderr_of(daemon);
    assert!(status.success(), "{stderr}");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let ids: Vec<String> = rt.block_on(async {
        let client = clickhouse::Client::default()
            .with_url(format!("http://127.0.0.1:{}", server.port))
            .with_database("outage")
            .with_validation(false);
        client.query("SELECT id FROM posts FINAL").fetch_all().await.unwrap()
    });
    let found: BTreeSet<String> = ids.iter().cloned().collect();
    assert_eq!(found.len(), ids.len());
    assert_eq!(found, sample_ids());
}
