use async_trait::async_trait;
use futures_util::TryStreamExt;
use mongodb::bson::{Document, doc};
use mongodb::{Client, Database};
use socialpipe_schemas::{Envelope, ErrorDomain, RecordKind, SinkConfig};

use super::{MongodbConfig, MongodbSink};
use crate::compliance::{MigratingStore, PoisonStore, ServerStore, StallStore, Store, sink_compliance_suite};
use crate::testing::{clean_up, post, unique};

fn uri(port: u16, db: &str) -> String {
    format!("mongodb://127.0.0.1:{port}/{db}?directConnection=true")
}

/// A database of its own on a server.
struct Mongo {
    config: MongodbConfig,
    db: String,
    port: u16,
}

impl Mongo {
    fn new(port: u16) -> Self {
        let db = unique("sp");
        Mongo { config: MongodbConfig::new(uri(port, &db)), db, port }
    }

    fn machine() -> Self {
        Mongo::new(27017)
    }

    async fn database(&self) -> Database {
        Client::with_uri_str(uri(self.port, &self.db)).await.unwrap().database(&self.db)
    }
}

sink_compliance_suite!(Mongo, poison, outage, stall, i64_counts, migrations);

#[async_trait]
impl Store for Mongo {
    fn on_machine() -> Self {
        Mongo::machine()
    }

    fn config(&self) -> Box<dyn SinkConfig> {
        Box::new(self.config.clone())
    }

    async fn visible_post_ids(&self, platform: &str) -> Vec<String> {
        let posts = self.database().await.collection::<Document>("posts");
        let found: Vec<Document> =
            posts.find(doc! { "platform": platform }).await.unwrap().try_collect().await.unwrap();
        found.iter().map(|d| d.get_str("_id").unwrap().to_owned()).collect()
    }

    async fn likes(&self, id: &str) -> Option<i64> {
        let posts = self.database().await.collection::<Document>("posts");
        let found = posts.find_one(doc! { "_id": id }).await.unwrap()?;
        found.get_document("metrics").ok()?.get("likes").and_then(|v| v.as_i64().or(v.as_i32().map(i64::from)))
    }

    async fn stored(&self, kind: RecordKind, id: &str) -> u64 {
        let collection = if kind == RecordKind::KolScore { "kol_scores" } else { "sheet_rows" };
        self.database().await.collection::<Document>(collection).count_documents(doc! { "_id": id }).await.unwrap()
    }

}

#[async_trait]
impl PoisonStore for Mongo {
    /// Refused by a validator on the collection.
    async fn poison(&self, platform: &str) -> Envelope {
        self.database()
            .await
            .run_command(doc! { "create": "posts", "validator": { "metrics.likes": { "$lt": 1_000_000 } } })
            .await
            .unwrap();
        post(platform, 999, 5_000_000, 10)
    }
}

impl ServerStore for Mongo {
    const SERVER: &'static str = "mongodb";
    const COMPANION_PORTS: &'static [i32] = &[];

    fn on_port(port: u16) -> Self {
        Mongo::new(port)
    }
}

impl StallStore for Mongo {
    fn with_write_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.config.write_timeout_ms = timeout.as_millis() as u64;
        self
    }
}

impl MigratingStore for Mongo {
    const MIGRATIONS: &'static [crate::migrations::Migration] = super::sink::MIGRATIONS;

    fn config_without_migrations(&self) -> Box<dyn SinkConfig> {
        Box::new(MongodbConfig { migrate_on_start: false, ..self.config.clone() })
    }
}

impl Drop for Mongo {
    fn drop(&mut self) {
        let (uri, db) = (uri(self.port, &self.db), self.db.clone());
        clean_up(async move {
            if let Ok(client) = Client::with_uri_str(uri).await {
                let _ = client.database(&db).drop().await;
            }
        });
    }
}

#[tokio::test]
async fn documents_carry_enrichments_and_authors_and_indexes_exist() {
    let mongo = Mongo::machine();
    let mut sink = mongo.sink().await.unwrap();
    let batch = crate::testing::posts("youtube", 0..14, 10);
    sink.write(&batch).await.unwrap();
    sink.write(&batch).await.unwrap();
    let db = mongo.database().await;
    let post = db.collection::<Document>("posts").find_one(doc! { "_id": "youtube:3" }).await.unwrap().unwrap();
    assert_eq!(
        post.get_document("enrichments").unwrap().get_document("sentiment").unwrap().get_str("label"),
        Ok("positive")
    );
    // The embedding is a BSON array of doubles, queryable as such.
    let embedding: Vec<f64> = post
        .get_document("enrichments")
        .unwrap()
        .get_array("embedding")
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert_eq!(embedding, vec![0.25, -0.5, 0.125, 1.0]);
    assert_eq!(post.get_str("author_id"), Ok("youtube:a3"));
    assert_eq!(post.get_str("native_id"), Ok("3"));
    assert!(post.get_datetime("created_at").is_ok());
    assert_eq!(post.get_i32("deliveries").or(post.get_i64("deliveries").map(|v| v as i32)), Ok(2));
    let authors = db.collection::<Document>("authors").count_documents(doc! {}).await.unwrap();
    assert_eq!(authors, 7);
    let names: Vec<String> = db.collection::<Document>("posts").list_index_names().await.unwrap();
    assert!(names.iter().any(|n| n.contains("author_id")), "{names:?}");
    assert_eq!(MongodbSink::migrate_store(&mongo.config).await.unwrap(), Vec::<i64>::new(), "migrated on open");
}

#[tokio::test]
async fn an_unreachable_server_is_transient_and_a_bad_uri_fatal() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut config = MongodbConfig::new(uri(port, "x"));
    config.server_selection_timeout_ms = 300;
    assert_eq!(MongodbSink::open(&config).await.err().unwrap().domain, ErrorDomain::Transient);
    assert_eq!(MongodbSink::open(&MongodbConfig::new("mongodb://")).await.err().unwrap().domain, ErrorDomain::Fatal);
    assert!(MongodbConfig::new("http://x").check().is_err());
}
