//! Sink `clickhouse`: analytics tables (posts, authors, KOL scores, sheet
//! rows) and ready-made per-hour views, written with RowBinary inserts (lz4)
//! of whole batches. Tables are ReplacingMergeTree on the record version, so
//! a redelivered batch is folded away (`FINAL`, or at merge time). The DDL is
//! chosen by `SELECT version()` (docs/decisions/004).

mod schema;
mod sink;
#[cfg(test)]
mod tests;

use serde::Deserialize;

pub use schema::{Dialect, MIGRATIONS, statements};
pub use sink::ClickhouseSink;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClickhouseConfig {
    /// HTTP interface, e.g. `http://127.0.0.1:8123`.
    pub url: String,
    #[serde(default = "default_database")]
    pub database: String,
    #[serde(default = "default_user")]
    pub user: String,
    #[serde(default)]
    pub password: String,
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
            password: String::new(),
            migrate_on_start: true,
            compression: true,
            request_timeout_ms: default_request_timeout_ms(),
        }
    }

    pub fn check(&self) -> Result<(), String> {
        let url = url::Url::parse(&self.url).map_err(|e| format!("url: {e}"))?;
        if url.scheme() != "http" {
            return Err(format!("url: {} must be http:// (the HTTP interface, port 8123 by default)", self.url));
        }
        if !crate::is_identifier(&self.database) {
            return Err(format!("database: {:?} must be letters, digits and '_'", self.database));
        }
        Ok(())
    }
}
