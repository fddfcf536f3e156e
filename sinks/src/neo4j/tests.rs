use async_trait::async_trait;
use neo4rs::{Graph, query};
use socialpipe_schemas::enrichment::Entities;
use socialpipe_schemas::{Envelope, ErrorDomain, RecordKind, SinkConfig, parse_raw_post};

use super::{Neo4jConfig, Neo4jSink};
use crate::compliance::{MigratingStore, ServerStore, StallStore, Store, migrations_apply_once_to, sink_compliance_suite};
use crate::testing::{PrivateServer, posts, unique};

fn config(port: u16) -> Neo4jConfig {
    let password = std::env::var("NEO4J_PASSWORD").unwrap_or_else(|_| "playwithdata".into());
    Neo4jConfig::new(format!("bolt://127.0.0.1:{port}"), "root", &password, "kol")
}

/// The tests share one database and the sample's hashtag and brand nodes;
/// concurrent batches on those conflict (transiently), so the tests take
/// turns. (`concurrent_writers_…` conflicts on purpose, inside its turn.)
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The shared database; each test uses a platform of its own.
struct Bolt {
    config: Neo4jConfig,
}

impl Bolt {
    fn machine() -> Self {
        Bolt { config: config(7687) }
    }

    async fn graph(&self) -> Graph {
        Graph::connect(
            neo4rs::ConfigBuilder::default()
                .uri(&self.config.uri)
                .user(&self.config.user)
                .password(self.config.password.expose())
                .db(self.config.database.as_str())
                .build()
                .unwrap(),
        )
        .await
        .unwrap()
    }

    /// Runs a read and returns column `column` of every row (reading to the end).
    async fn strings(&self, cypher: &str, platform: &str, column: &str) -> Vec<String> {
        let graph = self.graph().await;
        let mut rows = graph.execute(query(cypher).param("platform", platform)).await.unwrap();
        let mut out = Vec::new();
        while let Some(row) = rows.next().await.unwrap() {
            out.push(row.get::<String>(column).unwrap());
        }
        out
    }

    async fn number(&self, cypher: &str, platform: &str) -> i64 {
        let graph = self.graph().await;
        let mut rows = graph.execute(query(cypher).param("platform", platform)).await.unwrap();
        let mut value = None;
        while let Some(row) = rows.next().await.unwrap() {
            value = Some(row.get::<i64>("n").unwrap());
        }
        value.expect("one row")
    }
}

// The graph model refuses no record (the bisection is tested in `bisect`);
// the migrations test runs below on a server of its own.
sink_compliance_suite!(Bolt, outage, stall, i64_counts);

#[async_trait]
impl Store for Bolt {
    fn on_machine() -> Self {
        Bolt::machine()
    }

    fn config(&self) -> Box<dyn SinkConfig> {
        Box::new(self.config.clone())
    }

    fn turns() -> Option<&'static tokio::sync::Mutex<()>> {
        Some(&SERIAL)
    }

    async fn visible_post_ids(&self, platform: &str) -> Vec<String> {
        self.strings("MATCH (p:Post) WHERE p.platform = $platform RETURN p.id AS id", platform, "id").await
    }

    async fn likes(&self, id: &str) -> Option<i64> {
        let graph = self.graph().await;
        let mut rows =
            graph.execute(query("MATCH (p:Post {id: $id}) RETURN p.likes AS likes").param("id", id)).await.unwrap();
        let mut likes = None;
        while let Some(row) = rows.next().await.unwrap() {
            likes = row.get::<i64>("likes").ok();
        }
        likes
    }

    /// A score lives on its author node; a sheet row is a node.
    async fn stored(&self, kind: RecordKind, id: &str) -> u64 {
        let cypher = match kind {
            RecordKind::KolScore => {
                "MATCH (a:Author) WHERE a.kol_computed_at_ms IS NOT NULL AND $platform STARTS WITH (a.id + '@') RETURN count(a) AS n"
            }
            _ => "MATCH (s:SheetRow) WHERE s.id = $platform RETURN count(s) AS n",
        };
        self.number(cypher, id).await as u64
    }
}

impl ServerStore for Bolt {
    const SERVER: &'static str = "neo4j";
    const COMPANION_PORTS: &'static [i32] = &[-5207];

    fn on_port(port: u16) -> Self {
        Bolt { config: config(port) }
    }
}

impl StallStore for Bolt {
    fn with_write_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.config.write_timeout_ms = timeout.as_millis() as u64;
        self
    }
}

impl MigratingStore for Bolt {
    const MIGRATIONS: &'static [crate::migrations::Migration] = super::sink::MIGRATIONS;

    fn config_without_migrations(&self) -> Box<dyn SinkConfig> {
        Box::new(Neo4jConfig { migrate_on_start: false, ..self.config.clone() })
    }
}

/// The suite's migrations test, on a server of its own: the machine's graph
/// is shared by every test and migrated by the first.
#[tokio::test]
async fn migrations_apply_once_and_a_missing_one_stops_a_sink_that_may_not_migrate() {
    let server = PrivateServer::start(Bolt::SERVER, Bolt::COMPANION_PORTS);
    migrations_apply_once_to(Bolt::on_port(server.port)).await;
}

#[tokio::test]
async fn the_graph_links_authors_posts_hashtags_brands_and_mentions_once() {
    let _turn = SERIAL.lock().await;
    let bolt = Bolt::machine();
    let platform = unique("g");
    let mut sink = bolt.sink().await.unwrap();
    // Post n mentions user(n+1)%7 before (for n = 6: after) that account posts.
    let batch = posts(&platform, 0..14, 10);
    sink.write(&batch[..7]).await.unwrap();
    sink.write(&batch[7..]).await.unwrap();
    sink.write(&batch).await.unwrap();
    let (_, envelope) = crate::testing::kol_score(&platform, "2026-11-20T00:00:00Z", 64.0);
    sink.write(&[envelope]).await.unwrap();
    let n = |cypher: &'static str| {
        let bolt = &bolt;
        let platform = platform.clone();
        async move { bolt.number(cypher, &platform).await }
    };
    // Seven accounts: the mentioned handles became the posting authors' nodes.
    assert_eq!(n("MATCH (a:Author) WHERE a.platform = $platform RETURN count(a) AS n").await, 7);
    assert_eq!(n("MATCH (a:Author)-[r:POSTED]->(p:Post) WHERE p.platform = $platform RETURN count(r) AS n").await, 14);
    assert_eq!(
        n("MATCH (p:Post)-[r:TAGGED]->(:Hashtag {name: 'coffee'}) WHERE p.platform = $platform RETURN count(r) AS n")
            .await,
        14
    );
    assert_eq!(
        n("MATCH (p:Post)-[r:ABOUT]->(:Brand {name: 'acme'}) WHERE p.platform = $platform RETURN count(r) AS n").await,
        14
    );
    assert_eq!(n("MATCH (p:Post)-[r:MENTIONS]->(u:Author) WHERE p.platform = $platform AND u.id IS NOT NULL RETURN count(r) AS n").await, 14);
    assert_eq!(n("MATCH (h:Hashtag {name: 'coffee'}) RETURN count(h) AS n").await, 1);
    let tiers = bolt
        .strings(
            "MATCH (a:Author) WHERE a.platform = $platform AND a.kol_tier IS NOT NULL RETURN a.kol_tier AS tier",
            &platform,
            "tier",
        )
        .await;
    assert_eq!(tiers, vec!["micro"]);
}

/// Post `n` of author `a1` of `platform` at `created_at` (and `version`),
/// the author as `author` describes it.
fn post_of_a1(platform: &str, n: u32, mut author: serde_json::Value, created_at: &str, version: i64) -> Envelope {
    author["id"] = "a1".into();
    let raw = serde_json::json!({
        "platform": platform, "id": n.to_string(), "author": author, "text": "hello", "created_at": created_at,
    });
    let mut envelope = parse_raw_post(raw.to_string().as_bytes()).unwrap().into_envelope("test");
    envelope.version = version;
    envelope
}

// Authors were merged once per batch with the newest post's handle and
// posts MATCHed their own: a post with another handle, or none, was dropped.
#[tokio::test]
async fn every_post_is_linked_to_its_author_whatever_handle_it_gives() {
    let _turn = SERIAL.lock().await;
    let bolt = Bolt::machine();
    let platform = unique("h");
    let mut sink = bolt.sink().await.unwrap();
    let batch = [
        post_of_a1(&platform, 1, serde_json::json!({"handle": "ann"}), "2026-11-20T10:00:00Z", 10),
        post_of_a1(&platform, 2, serde_json::json!({"handle": "Ann_Renamed"}), "2026-11-20T11:00:00Z", 10),
        // As webhook posts come: no handle.
        post_of_a1(&platform, 3, serde_json::json!({}), "2026-11-20T09:00:00Z", 10),
    ];
    assert!(sink.write(&batch).await.unwrap().rejected.is_empty());
    let mut links = bolt
        .strings(
            "MATCH (a:Author)-[:POSTED]->(p:Post) WHERE p.platform = $platform
             RETURN p.id + ' by ' + a.id + ' as ' + a.handle_key AS link",
            &platform,
            "link",
        )
        .await;
    links.sort();
    let p = &platform;
    assert_eq!(
        links,
        [
            format!("{p}:1 by {p}:a1 as {p}:ann"),
            format!("{p}:2 by {p}:a1 as {p}:ann_renamed"),
            format!("{p}:3 by {p}:a1 as {p}:a1"),
        ]
    );
}

// Author properties were set by every batch, whatever the age of its post.
#[tokio::test]
async fn an_older_post_never_overwrites_the_author_of_a_newer_one() {
    let _turn = SERIAL.lock().await;
    let bolt = Bolt::machine();
    let platform = unique("v");
    let mut sink = bolt.sink().await.unwrap();
    let author = |name: &str, followers: u64| serde_json::json!({"handle": "ann", "name": name, "followers": followers});
    sink.write(&[post_of_a1(&platform, 1, author("Ann New", 500), "2026-11-21T00:00:00Z", 20)]).await.unwrap();
    sink.write(&[post_of_a1(&platform, 2, author("Ann Old", 100), "2026-11-20T00:00:00Z", 10)]).await.unwrap();
    assert_eq!(bolt.number("MATCH (a:Author) WHERE a.platform = $platform RETURN count(a) AS n", &platform).await, 1);
    assert_eq!(bolt.number("MATCH (a:Author) WHERE a.platform = $platform RETURN a.followers AS n", &platform).await, 500);
    let names = bolt.strings("MATCH (a:Author) WHERE a.platform = $platform RETURN a.name AS name", &platform, "name");
    assert_eq!(names.await, ["Ann New"]);
    assert_eq!(bolt.visible_post_ids(&platform).await.len(), 2, "the older post is written");
}

/// A roster row that names only the author's id, in a later batch than the
/// author's posts, gives its rate and category to the node of the posts.
#[tokio::test]
async fn a_roster_without_a_handle_reaches_the_author_of_the_posts() {
    let _turn = SERIAL.lock().await;
    let bolt = Bolt::machine();
    let platform = unique("r");
    let mut sink = bolt.sink().await.unwrap();
    sink.write(&[post_of_a1(&platform, 1, serde_json::json!({"handle": "ann"}), "2026-11-21T00:00:00Z", 1)]).await.unwrap();
    let row = socialpipe_schemas::SheetRowRecord {
        file_id: "f".into(),
        file_name: "kols.xlsx".into(),
        sheet: "Sheet1".into(),
        row_key: "a1".into(),
        row_number: 2,
        cells: serde_json::Map::new(),
        content_hash: "h".into(),
        author: Some(socialpipe_schemas::AuthorSnapshot {
            platform: platform.clone(),
            id: "a1".into(),
            profile: Default::default(),
            rate: Some(900.0),
            category: Some("beauty".into()),
        }),
    };
    let at = "2026-11-01T00:00:00Z".parse().unwrap();
    let roster =
        Envelope::new(RecordKind::SheetRow, row.record_id(), format!("{platform}:a1"), "s", at, Envelope::encode_payload(&row));
    assert!(sink.write(&[roster]).await.unwrap().rejected.is_empty());
    assert_eq!(bolt.number("MATCH (a:Author) WHERE a.platform = $platform RETURN count(a) AS n", &platform).await, 1);
    let rows = bolt.strings(
        "MATCH (a:Author) WHERE a.platform = $platform RETURN a.handle + ' ' + a.category + ' ' + toString(a.rate) AS r",
        &platform,
        "r",
    );
    assert_eq!(rows.await, ["ann beauty 900.0"]);
}

#[tokio::test]
async fn constraints_are_created_idempotently_and_bad_credentials_are_fatal() {
    let _turn = SERIAL.lock().await;
    let bolt = Bolt::machine();
    Neo4jSink::migrate_store(&bolt.config).await.unwrap();
    assert_eq!(Neo4jSink::migrate_store(&bolt.config).await.unwrap(), Vec::<i64>::new(), "recorded once applied");
    let mut bad = bolt.config.clone();
    bad.password = socialpipe_schemas::Secret::new("wrong");
    let error = Neo4jSink::open(&bad).await.err().unwrap();
    assert_eq!(error.domain, ErrorDomain::Fatal, "{}", error.reason);
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    assert_eq!(Neo4jSink::open(&config(port)).await.err().unwrap().domain, ErrorDomain::Transient);
    assert!(Neo4jConfig::new("http://x", "u", "p", "").check().is_err());
}

#[tokio::test]
async fn a_batch_larger_than_a_bolt_message_is_sent_in_pieces() {
    let _turn = SERIAL.lock().await;
    let bolt = Bolt::machine();
    let platform = unique("big");
    let mut sink = bolt.sink().await.unwrap();
    // 300 posts of 60 KB: 18 MB, over the 16 MiB a Bolt server accepts in one message.
    let text = "long ".repeat(12_000);
    let batch: Vec<Envelope> = (0..300)
        .map(|n| {
            let mut envelope = crate::testing::post(&platform, n, 1, 10);
            let mut payload: serde_json::Value = serde_json::from_str(envelope.payload.get()).unwrap();
            payload["text"] = text.clone().into();
            envelope.payload = Envelope::encode_payload(&payload);
            envelope
        })
        .collect();
    assert!(sink.write(&batch).await.unwrap().rejected.is_empty());
    assert_eq!(bolt.visible_post_ids(&platform).await.len(), 300);
}

/// Concurrent batches touching the same hashtag and brand nodes conflict on
/// ArcadeDB; the conflicts are transient (the runner retries them) and, with
/// the unique constraints, no node is duplicated.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_conflict_transiently_and_create_no_duplicate_nodes() {
    let _turn = SERIAL.lock().await;
    let tag = unique("tag");
    let mut tasks = Vec::new();
    for writer in 0..3 {
        let tag = tag.clone();
        tasks.push(tokio::spawn(async move {
            let bolt = Bolt::machine();
            let mut sink = bolt.sink().await.unwrap();
            let platform = unique(&format!("c{writer}"));
            let mut batch = posts(&platform, 0..300, 10);
            for envelope in &mut batch {
                let tags = vec![tag.clone()];
                envelope.set_enrichment(&Entities { hashtags: tags.clone(), brands: tags, ..Entities::default() });
            }
            let mut conflicts = 0;
            // As the runner does: retry transient failures, with a pause.
            while let Err(e) = sink.write(&batch).await {
                assert_eq!(e.domain, ErrorDomain::Transient, "{}", e.reason);
                conflicts += 1;
                assert!(conflicts < 100, "still conflicting: {}", e.reason);
                tokio::time::sleep(std::time::Duration::from_millis(fastrand::u64(10..200))).await;
            }
            assert_eq!(bolt.visible_post_ids(&platform).await.len(), 300);
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let bolt = Bolt::machine();
    assert_eq!(bolt.number("MATCH (h:Hashtag) WHERE h.name = $platform RETURN count(h) AS n", &tag).await, 1);
    assert_eq!(bolt.number("MATCH (b:Brand) WHERE b.name = $platform RETURN count(b) AS n", &tag).await, 1);
    let edges =
        bolt.number("MATCH (:Post)-[r:TAGGED]->(h:Hashtag) WHERE h.name = $platform RETURN count(r) AS n", &tag).await;
    assert_eq!(edges, 900);
}

/// The post's edges are its newest version's: a newer version that drops a
/// hashtag, brand or mention drops the edge, and an older version arriving
/// late adds none of its own.
#[tokio::test]
async fn a_newer_version_that_drops_a_hashtag_or_brand_drops_its_edge() {
    use socialpipe_schemas::enrichment::Entities;
    let _turn = SERIAL.lock().await;
    let bolt = Bolt::machine();
    let platform = unique("e");
    let mut sink = bolt.sink().await.unwrap();
    let version = |version: i64, hashtags: &[&str], brands: &[&str], mentions: &[&str]| {
        let mut envelope = crate::testing::post(&platform, 1, 1, version);
        envelope.set_enrichment(&Entities {
            hashtags: hashtags.iter().map(|h| h.to_string()).collect(),
            brands: brands.iter().map(|b| b.to_string()).collect(),
            mentions: mentions.iter().map(|m| m.to_string()).collect(),
            ..Entities::default()
        });
        envelope
    };
    sink.write(&[version(10, &["coffee", "latte"], &["acme"], &["user3"])]).await.unwrap();
    sink.write(&[version(20, &["latte"], &[], &["user4"])]).await.unwrap();
    sink.write(&[version(5, &["tea"], &["globex"], &["user5"])]).await.unwrap();
    let names = |cypher: &'static str| {
        let (bolt, platform) = (&bolt, platform.clone());
        async move {
            let mut names = bolt.strings(cypher, &platform, "name").await;
            names.sort();
            names
        }
    };
    assert_eq!(names("MATCH (p:Post)-[:TAGGED]->(h:Hashtag) WHERE p.platform = $platform RETURN h.name AS name").await, ["latte"]);
    assert!(names("MATCH (p:Post)-[:ABOUT]->(b:Brand) WHERE p.platform = $platform RETURN b.name AS name").await.is_empty());
    assert_eq!(
        names("MATCH (p:Post)-[:MENTIONS]->(u:Author) WHERE p.platform = $platform RETURN u.handle AS name").await,
        ["user4"]
    );
}
