//! Sink `sqlite`: the embedded default that analysts query with `sqlite3`.
//! A batch is one transaction; rows are upserted by id and the highest
//! version wins, so a redelivered batch leaves no duplicate. Tables come from
//! versioned migrations in `migrations/`, applied on open.

mod schema;
mod sink;
#[cfg(test)]
mod tests;

use std::path::PathBuf;

use serde::Deserialize;

pub use schema::{MIGRATIONS, migrate};
pub use sink::SqliteSink;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SqliteConfig {
    /// Database file; created with its directory when missing.
    pub path: PathBuf,
    /// `normal` survives a crash of the process; `full` also a power loss.
    #[serde(default)]
    pub synchronous: Synchronous,
    /// How long a write waits for another writer (e.g. an analyst's transaction).
    #[serde(default = "default_busy_timeout_ms")]
    pub busy_timeout_ms: u64,
    /// Page cache of the writer; upserts into the id and author indexes
    /// slow down sharply once those stop fitting.
    #[serde(default = "default_cache_mib")]
    pub cache_mib: u32,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
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
