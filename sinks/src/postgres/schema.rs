//! Versioned migrations for the postgres sink, recorded in the schema's
//! `schema_migrations`. Each applies in one transaction under an advisory
//! lock, so workers starting together apply each exactly once.

use async_trait::async_trait;
use socialpipe_schemas::ComponentError;
use tokio_postgres::Client;

use super::sink::pg_error;
use crate::migrations::{Migration, MigrationTarget};

/// In order. Append only: never edit a released one.
pub const MIGRATIONS: &[Migration] = &[
    Migration { version: 1, name: "initial", script: include_str!("migrations/001_initial.sql") },
    Migration { version: 2, name: "analyst_fields", script: include_str!("migrations/002_analyst_fields.sql") },
    Migration { version: 3, name: "analyst_views", script: include_str!("migrations/003_analyst_views.sql") },
];

/// A schema being migrated.
pub struct Target<'a> {
    pub client: &'a mut Client,
    pub schema: &'a str,
}

#[async_trait]
impl MigrationTarget for Target<'_> {
    async fn applied(&mut self) -> Result<Vec<i64>, ComponentError> {
        let schema = self.schema;
        let read = async {
            let exists = self
                .client
                .query_opt(
                    "SELECT 1 FROM information_schema.tables WHERE table_schema = $1 AND table_name = 'schema_migrations'",
                    &[&schema],
                )
                .await?
                .is_some();
            if !exists {
                return Ok(Vec::new());
            }
            let rows = self.client.query(&format!("SELECT version FROM \"{schema}\".schema_migrations"), &[]).await?;
            Ok(rows.iter().map(|r| r.get(0)).collect())
        };
        read.await.map_err(|e| pg_error("reading migrations", &e))
    }

    async fn apply(&mut self, migration: &Migration) -> Result<bool, ComponentError> {
        let schema = self.schema;
        let apply = async {
            let tx = self.client.transaction().await?;
            tx.execute("SELECT pg_advisory_xact_lock(hashtext('socialpipe.migrate.' || $1::text))", &[&schema]).await?;
            tx.batch_execute(&format!(
                "CREATE SCHEMA IF NOT EXISTS \"{schema}\";
                 SET LOCAL search_path TO \"{schema}\";
                 CREATE TABLE IF NOT EXISTS schema_migrations (
                     version bigint PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
            ))
            .await?;
            let done =
                tx.query_opt("SELECT 1 FROM schema_migrations WHERE version = $1", &[&migration.version]).await?.is_some();
            if !done {
                tx.batch_execute(migration.script).await?;
                tx.execute("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", &[&migration.version, &migration.name])
                    .await?;
            }
            tx.commit().await?;
            Ok(!done)
        };
        apply.await.map_err(|e| pg_error(&format!("migration {}", migration.version), &e))
    }
}
