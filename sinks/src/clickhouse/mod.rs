//! Sink `clickhouse`: analytics tables (posts, authors, KOL scores, sheet
//! rows) and ready-made per-hour views, written with RowBinary inserts (lz4)
//! of whole batches. Tables are ReplacingMergeTree on the record version, so
//! a redelivered batch is folded away (`FINAL`, or at merge time). The DDL is
//! chosen by `SELECT version()` (docs/decisions/004).

mod schema;
mod sink;
#[cfg(test)]
mod tests;

use async_trait::async_trait;
use serde::Deserialize;
use socialpipe_schemas::{ComponentError, Secret, Sink, SinkConfig};

pub use schema::{Dialect, MIGRATIONS, statements};
pub use sink::ClickhouseSink;

/// ClickHouse, over its HTTP interface: RowBinary inserts (lz4) of whole
/// batches into ReplacingMergeTree tables `posts` (ordered by platform,
/// event day, id; every enrichment field as a typed column, lists as
/// arrays, the embedding as `Array(Float32)`), `authors`, `kol_scores`
/// (each factor as columns) and `sheet_rows`, plus the views `kol_latest`,
/// `author_profiles`, `sentiment_by_hashtag_hour`, `sentiment_by_brand_hour`,
/// `emotion_by_hashtag_hour` and `emotion_by_brand_hour` (docs/stores.md). Query the tables
/// with `FINAL` so a redelivered row counts once before merges. The DDL is
/// picked by `SELECT version()` (18.x gets `String` where current releases
/// get `LowCardinality(String)`, docs/decisions/004). Prefer large batches
/// (`batch_max_records = 50000`, `batch_max_bytes` to hold them): every
/// insert makes a part.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ClickhouseConfig {
    /// The HTTP interface, e.g. `http://127.0.0.1:8123`.
    pub url: String,
    /// Created by the migrations when missing.
    #[serde(default = "default_database")]
    pub database: String,
    /// The user (and its password below).
    #[serde(default = "default_user")]
    pub user: String,
    /// Use `"${CLICKHOUSE_PASSWORD}"`.
    #[serde(default)]
    pub password: Secret,
    /// Apply pending migrations when the sink starts; when false, a database
    /// behind this build's migrations stops the sink before it consumes.
    #[serde(default = "yes")]
    pub migrate_on_start: bool,
    /// lz4-compress inserts (the server decompresses; costs little CPU).
    #[serde(default = "yes")]
    pub compression: bool,
    /// Bound on sending a batch and on the server's answer to it.
    #[serde(default = "default_request_timeout_ms")]
    pub request_timeout_ms: u64,
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

fn default_database() -> String {
    "socialpipe".into()
}

fn default_user() -> String {
    "default".into()
}

fn yes() -> bool {
    true
}

fn default_request_timeout_ms() -> u64 {
    60_000
}

impl ClickhouseConfig {
    pub fn new(url: impl Into<String>, database: impl Into<String>) -> Self {
        ClickhouseConfig {
            url: url.into(),
            database: database.into(),
            user: default_user(),
            password: Secret::default(),
            migrate_on_start: true,
            compression: true,
            request_timeout_ms: default_request_timeout_ms(),
            write_timeout_ms: crate::store::default_write_timeout_ms(),
        }
    }

}

#[async_trait]
impl SinkConfig for ClickhouseConfig {
    fn check(&self) -> Result<(), String> {
        let url = url::Url::parse(&self.url).map_err(|e| format!("url: {e}"))?;
        if url.scheme() != "http" {
            return Err(format!("url: {} must be http:// (the HTTP interface, port 8123 by default)", self.url));
        }
        if !crate::is_identifier(&self.database) {
            return Err(format!("database: {:?} must be letters, digits and '_'", self.database));
        }
        Ok(())
    }

    async fn build(&self) -> Result<Box<dyn Sink>, ComponentError> {
        Ok(Box::new(ClickhouseSink::open(self).await?))
    }

    async fn migrate(&self) -> Result<Option<Vec<i64>>, ComponentError> {
        ClickhouseSink::migrate_store(self).await.map(Some)
    }
}
