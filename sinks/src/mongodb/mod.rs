//! Sink `mongodb`: one document per record keyed by `_id` = record id, with
//! every enrichment; collections `posts`, `authors`, `kol_scores`,
//! `sheet_rows` in the URI's database. A batch is one `update` command per
//! collection (many upsert statements, unordered), each applied only when
//! its version is at least the stored one; a document the server refuses is
//! reported with the server's message, for the DLQ.

mod sink;
#[cfg(test)]
mod tests;

use async_trait::async_trait;
use serde::Deserialize;
use socialpipe_schemas::{ComponentError, Secret, Sink, SinkConfig};

pub use sink::{MIGRATIONS, MongodbSink};

/// MongoDB (or a server speaking its wire protocol): collections `posts`,
/// `authors`, `kol_scores`, `sheet_rows` in the URI's database; one document
/// per record with `_id` = record id and every enrichment, times as BSON
/// dates. A batch is one unordered `insert` per collection; ids already
/// stored come back as duplicate keys and are sent again as `update`
/// upserts guarded by version (`posts.deliveries` counts writes). Any other
/// refusal (a validator, another unique index) is reported per document.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MongodbConfig {
    /// `mongodb://host:port/database?options`; the database defaults to
    /// `socialpipe`. Never shown, as it may hold a password.
    pub uri: Secret,
    /// Apply pending migrations (the indexes) when the sink starts; when
    /// false, a database behind this build's migrations stops the sink
    /// before it consumes.
    #[serde(default = "yes")]
    pub migrate_on_start: bool,
    /// How long to wait for a server that can take writes.
    #[serde(default = "default_server_selection_timeout_ms")]
    pub server_selection_timeout_ms: u64,
    /// Bound on one `update` command's size; a batch is split to stay under it.
    #[serde(default = "default_max_command_bytes")]
    pub max_command_bytes: usize,
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

fn yes() -> bool {
    true
}

fn default_server_selection_timeout_ms() -> u64 {
    5_000
}

fn default_max_command_bytes() -> usize {
    8 << 20
}

impl MongodbConfig {
    pub fn new(uri: impl Into<String>) -> Self {
        MongodbConfig {
            uri: Secret::new(uri),
            migrate_on_start: true,
            server_selection_timeout_ms: default_server_selection_timeout_ms(),
            max_command_bytes: default_max_command_bytes(),
            write_timeout_ms: crate::store::default_write_timeout_ms(),
        }
    }

}

#[async_trait]
impl SinkConfig for MongodbConfig {
    fn check(&self) -> Result<(), String> {
        let uri = self.uri.expose();
        if !(uri.starts_with("mongodb://") || uri.starts_with("mongodb+srv://")) {
            return Err("uri: must start with mongodb:// or mongodb+srv://".into());
        }
        // The server-side limit is 16 MiB per document and 48 MB per message.
        if !(1 << 20..=40 << 20).contains(&self.max_command_bytes) {
            return Err("max_command_bytes: must be between 1 MiB and 40 MiB".into());
        }
        Ok(())
    }

    async fn build(&self) -> Result<Box<dyn Sink>, ComponentError> {
        Ok(Box::new(MongodbSink::open(self).await?))
    }

    async fn migrate(&self) -> Result<Option<Vec<i64>>, ComponentError> {
        MongodbSink::migrate_store(self).await.map(Some)
    }
}
