//! Sink `neo4j`: the author/post/hashtag/brand graph over Bolt.
//! (Author)-[:POSTED]->(Post)-[:TAGGED]->(Hashtag), (Post)-[:MENTIONS]->(Author),
//! (Post)-[:ABOUT]->(Brand); KOL scores as properties of the author, sheet
//! rows as (SheetRow) nodes; embeddings stay out of the graph (the other
//! stores keep them). A batch is one transaction of `UNWIND $rows AS
//! r MERGE …` statements; unique constraints (created before the first
//! write) keep concurrent batches from creating duplicate nodes.
//!
//! An author is keyed by `handle_key` (`<platform>:<lower-case handle>`, or
//! `<author id>` when the handle is unknown): a mentioned account is merged
//! on it before its author id is known, and its posts later land on the
//! same node. Every post lands on the node of the handle it gives (a post
//! the statement did not write stops the sink rather than commit); an
//! author node keeps the profile of its newest post (`updated_at_ms`, the
//! post's event time), and an older post changes none of it.

mod sink;
#[cfg(test)]
mod tests;

use async_trait::async_trait;
use serde::Deserialize;
use socialpipe_schemas::{ComponentError, Secret, Sink, SinkConfig};

pub use sink::{MIGRATIONS, Neo4jSink};

/// Neo4j (or a server speaking Bolt): the graph
/// `(Author)-[:POSTED]->(Post)-[:TAGGED]->(Hashtag)`, `(Post)-[:MENTIONS]->(Author)`,
/// `(Post)-[:ABOUT]->(Brand)` (a post's edges are those of its stored
/// version: a newer one that drops a hashtag drops the edge), KOL scores as
/// `kol_*` properties of the author, sheet rows as `SheetRow` nodes; the embedding stays out. A batch
/// is one transaction of `UNWIND $rows AS r MERGE …` statements; unique
/// constraints on `Author.handle_key`, `Post.id`, `Hashtag.name`,
/// `Brand.name`, `SheetRow.id` keep concurrent batches from duplicating
/// nodes. An author is keyed by `<platform>:<lower-case handle>` (by author
/// id when a post gives no handle): a mentioned account and its own posts
/// meet on one node (a renamed handle starts a new one). An author node
/// keeps the profile of its newest post, by event time (`updated_at_ms`).
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Neo4jConfig {
    /// `bolt://host:7687` (or `neo4j://`).
    pub uri: String,
    /// The user (and its password below).
    #[serde(default = "default_user")]
    pub user: String,
    /// Use `"${NEO4J_PASSWORD}"`.
    #[serde(default)]
    pub password: Secret,
    /// Empty: the server's default database.
    #[serde(default)]
    pub database: String,
    /// Apply pending migrations (constraints and indexes) when the sink
    /// starts; when false, a database behind this build's migrations stops
    /// the sink before it consumes.
    #[serde(default = "yes")]
    pub migrate_on_start: bool,
    /// Pooled Bolt connections.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// Bound on one statement's rows; a batch is sent as several statements
    /// (in one transaction) to stay under it.
    #[serde(default = "default_max_message_bytes")]
    pub max_message_bytes: usize,
    /// Bound on writing one batch, connecting again included: a store that
    /// has not finished by then (hung, or unreachable with the connection
    /// left open) fails the write as transient; nothing of the batch is
    /// acknowledged and the runner retries it with backoff (`/health/ready`
    /// says `retrying`). Keep it well above a healthy batch's write time
    /// (large batches on a slow store take longer): a batch that always
    /// takes longer is retried forever.
    #[serde(default = "crate::store::default_write_timeout_ms")]
    pub write_timeout_ms: u64,
}

fn default_max_message_bytes() -> usize {
    4 << 20
}

fn default_user() -> String {
    "neo4j".into()
}

fn yes() -> bool {
    true
}

fn default_max_connections() -> usize {
    4
}

impl Neo4jConfig {
    pub fn new(uri: impl Into<String>, user: &str, password: &str, database: &str) -> Self {
        Neo4jConfig {
            uri: uri.into(),
            user: user.into(),
            password: Secret::new(password),
            database: database.into(),
            migrate_on_start: true,
            max_connections: default_max_connections(),
            max_message_bytes: default_max_message_bytes(),
            write_timeout_ms: crate::store::default_write_timeout_ms(),
        }
    }

}

#[async_trait]
impl SinkConfig for Neo4jConfig {
    fn check(&self) -> Result<(), String> {
        let url = url::Url::parse(&self.uri).map_err(|e| format!("uri: {e}"))?;
        if !matches!(url.scheme(), "bolt" | "neo4j") {
            return Err(format!("uri: {} must be bolt:// or neo4j://", self.uri));
        }
        if !(64 << 10..=15 << 20).contains(&self.max_message_bytes) {
            return Err("max_message_bytes: must be between 64 KiB and 15 MiB".into());
        }
        if self.max_connections == 0 {
            return Err("max_connections: must be at least 1".into());
        }
        Ok(())
    }

    async fn build(&self) -> Result<Box<dyn Sink>, ComponentError> {
        Ok(Box::new(Neo4jSink::open(self).await?))
    }

    async fn migrate(&self) -> Result<Option<Vec<i64>>, ComponentError> {
        Neo4jSink::migrate_store(self).await.map(Some)
    }
}
