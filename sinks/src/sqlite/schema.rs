//! Versioned migrations for the sqlite sink, recorded in `schema_migrations`;
//! each applies in its own immediate transaction.

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, params};
use socialpipe_schemas::ComponentError;

use super::sink::sink_error;
use crate::migrations::{Migration, MigrationTarget};

/// In order. Append only: never edit a released one.
pub const MIGRATIONS: &[Migration] = &[
    Migration { version: 1, name: "initial", script: include_str!("migrations/001_initial.sql") },
    Migration { version: 2, name: "text scores", script: include_str!("migrations/002_text_scores.sql") },
    Migration { version: 3, name: "embeddings", script: include_str!("migrations/003_embeddings.sql") },
    Migration { version: 4, name: "kol scores", script: include_str!("migrations/004_kol_scores.sql") },
    Migration { version: 5, name: "rosters", script: include_str!("migrations/005_rosters.sql") },
    Migration { version: 6, name: "analyst fields", script: include_str!("migrations/006_analyst_fields.sql") },
    Migration { version: 7, name: "analyst views", script: include_str!("migrations/007_analyst_views.sql") },
];

/// A database being migrated.
pub struct Target<'a>(pub &'a mut Connection);

#[async_trait]
impl MigrationTarget for Target<'_> {
    async fn applied(&mut self) -> Result<Vec<i64>, ComponentError> {
        let applied = || -> rusqlite::Result<Vec<i64>> {
            let exists: Option<i64> = self
                .0
                .query_row("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'", [], |r| {
                    r.get(0)
                })
                .optional()?;
            if exists.is_none() {
                return Ok(Vec::new());
            }
            let mut statement = self.0.prepare("SELECT version FROM schema_migrations")?;
            statement.query_map([], |r| r.get(0))?.collect()
        };
        applied().map_err(|e| sink_error(&e))
    }

    async fn apply(&mut self, migration: &Migration) -> Result<bool, ComponentError> {
        let mut apply = || -> rusqlite::Result<bool> {
            let tx = self.0.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            tx.execute_batch(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)",
            )?;
            let done: bool = tx.query_row(
                "SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = ?1)",
                [migration.version],
                |r| r.get(0),
            )?;
            if !done {
                tx.execute_batch(migration.script)?;
                tx.execute(
                    "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?1, ?2, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))",
                    params![migration.version, migration.name],
                )?;
            }
            tx.commit()?;
            Ok(!done)
        };
        apply().map_err(|e| sink_error(&e))
    }
}
