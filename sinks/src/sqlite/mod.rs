//! Sink `sqlite`: the embedded default that analysts query with `sqlite3`.
//! A batch is one transaction; rows are upserted by id and the highest
//! version wins, so a redelivered batch leaves no duplicate. Tables come from
//! versioned migrations in `migrations/`, applied on open.

mod schema;
mod sink;
#[cfg(test)]
mod tests;

use std::path::PathBuf;

use async_trait::async_trait;
use serde::Deserialize;
use socialpipe_schemas::{AuthorRef, ComponentError, KolScoreRecord, KolScoreStore, Sink, SinkConfig};

pub use schema::MIGRATIONS;
pub use sink::SqliteSink;

/// A SQLite database file that analysts query with `sqlite3`: tables
/// `posts`, `authors`, `sheet_rows` and `kol_scores` with the view
/// `kol_latest` (each author's newest score), from versioned migrations
/// applied on open. `posts.enrichments` holds every stage's result as JSON,
/// with the main scores as typed columns generated from it (`language`,
/// `sentiment_label`, `emotion`, `intent`, `brand_safe`, …) and the embedding
/// as a BLOB of 384 little-endian f32; `posts.deliveries` counts writes of a
/// row, redeliveries included. An author row keeps, field by field, the
/// newest value posts and rosters give (rate and category from rosters).
/// A batch is one transaction.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SqliteConfig {
    /// Database file; created with its directory when missing.
    pub path: PathBuf,
    /// `normal` survives a crash of the process; `full` also a power loss.
    #[serde(default)]
    pub synchronous: Synchronous,
    /// How long a write waits for another writer (e.g. an analyst's
    /// transaction) before it counts as a transient error and is retried.
    #[serde(default = "default_busy_timeout_ms")]
    pub busy_timeout_ms: u64,
    /// Page cache of the writer; upserts into the id and author indexes
    /// slow down sharply once those stop fitting.
    #[serde(default = "default_cache_mib")]
    pub cache_mib: u32,
}

/// SQLite's `PRAGMA synchronous`, as the sink commits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Synchronous {
    #[default]
    Normal,
    Full,
}

impl Synchronous {
    pub fn pragma(self) -> &'static str {
        match self {
            Synchronous::Normal => "NORMAL",
            Synchronous::Full => "FULL",
        }
    }
}

fn default_cache_mib() -> u32 {
    64
}

fn default_busy_timeout_ms() -> u64 {
    5_000
}

impl SqliteConfig {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        SqliteConfig {
            path: path.into(),
            synchronous: Synchronous::Normal,
            busy_timeout_ms: default_busy_timeout_ms(),
            cache_mib: default_cache_mib(),
        }
    }
}

#[async_trait]
impl SinkConfig for SqliteConfig {
    async fn build(&self) -> Result<Box<dyn Sink>, ComponentError> {
        Ok(Box::new(SqliteSink::open(self).await?))
    }

    async fn migrate(&self) -> Result<Option<Vec<i64>>, ComponentError> {
        SqliteSink::migrate_store(self).await.map(Some)
    }

    fn kol_scores(&self) -> Option<&dyn KolScoreStore> {
        Some(self)
    }
}

#[async_trait]
impl KolScoreStore for SqliteConfig {
    /// From the `kol_latest` view (indexed by author and time).
    async fn latest_kol_score(&self, author: &AuthorRef) -> Result<Option<KolScoreRecord>, ComponentError> {
        sink::latest_kol_score(&self.path, author)
    }
}
