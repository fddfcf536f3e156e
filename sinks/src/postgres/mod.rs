//! Sink `postgres`: relational tables (authors, posts, KOL score history and
//! latest view, sheet rows) in one schema. A batch is one transaction: COPY
//! (binary) into session staging tables, then `INSERT … ON CONFLICT (id) DO
//! UPDATE` where the higher version wins, so a redelivered batch leaves no
//! duplicate. Tables come from versioned migrations in `migrations/`.

mod schema;
mod sink;
#[cfg(test)]
mod tests;

use async_trait::async_trait;
use serde::Deserialize;
use socialpipe_schemas::{ComponentError, Secret, Sink, SinkConfig};

pub use schema::MIGRATIONS;
pub use sink::PostgresSink;

/// PostgreSQL: tables `authors` (with roster rate and category), `posts`
/// (every enrichment field as a typed column generated from `enrichments`,
/// lists as `text[]`, `embedding` as `real[]`, `payload` and `enrichments`
/// as `jsonb`), `kol_scores` (every score, each factor as columns), and
/// `sheet_rows`, with the views `kol_latest` and `author_profiles`
/// (docs/stores.md), in one schema; migrations apply under an advisory lock.
/// A batch is one transaction: binary COPY into session staging tables,
/// then `INSERT … ON CONFLICT (id) DO UPDATE … WHERE excluded.version >=
/// version`. When the server refuses the batch for one record's sake (e.g.
/// a NUL byte in text), the batch is written record by record in savepoints
/// and only the refused ones go to the DLQ.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PostgresConfig {
    /// `postgres://user:password@host:port/database` (libpq URL or
    /// key=value; no TLS yet). Never shown, as it may hold the password.
    pub url: Secret,
    /// The schema holding the tables; created by the migrations.
    #[serde(default = "default_schema")]
    pub schema: String,
    /// Apply pending migrations when the sink starts; when false, a database
    /// behind this build's migrations stops the sink before it consumes.
    #[serde(default = "yes")]
    pub migrate_on_start: bool,
    /// Bound on connecting.
    #[serde(default = "default_connect_timeout_ms")]
    pub connect_timeout_ms: u64,
    /// Server-side bound on one statement (a batch's COPY or upsert).
    #[serde(default = "default_statement_timeout_ms")]
    pub statement_timeout_ms: u64,
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

fn default_schema() -> String {
    "public".into()
}

fn yes() -> bool {
    true
}

fn default_connect_timeout_ms() -> u64 {
    5_000
}

fn default_statement_timeout_ms() -> u64 {
    60_000
}

impl PostgresConfig {
    pub fn new(url: impl Into<String>, schema: impl Into<String>) -> Self {
        PostgresConfig {
            url: Secret::new(url),
            schema: schema.into(),
            migrate_on_start: true,
            connect_timeout_ms: default_connect_timeout_ms(),
            statement_timeout_ms: default_statement_timeout_ms(),
            write_timeout_ms: crate::store::default_write_timeout_ms(),
        }
    }

}

#[async_trait]
impl SinkConfig for PostgresConfig {
    /// What can be checked without a server.
    fn check(&self) -> Result<(), String> {
        let parsed: tokio_postgres::Config = self.url.expose().parse().map_err(|e| format!("url: {e}"))?;
        if parsed.get_ssl_mode() == tokio_postgres::config::SslMode::Require {
            return Err("url: sslmode=require is not supported yet (TLS to PostgreSQL)".into());
        }
        if !crate::is_identifier(&self.schema) {
            return Err(format!(
                "schema: {:?} must be letters, digits and '_', not starting with a digit",
                self.schema
            ));
        }
        Ok(())
    }

    async fn build(&self) -> Result<Box<dyn Sink>, ComponentError> {
        Ok(Box::new(PostgresSink::open(self).await?))
    }

    async fn migrate(&self) -> Result<Option<Vec<i64>>, ComponentError> {
        PostgresSink::migrate_store(self).await.map(Some)
    }
}
