//! Versioned migrations for the postgres sink, recorded in the schema's
//! `schema_migrations`. All of them run in one transaction under an advisory
//! lock, so workers starting together apply each exactly once.

use tokio_postgres::Client;

use crate::Migration;

/// In order. Append only: never edit a released one.
pub const MIGRATIONS: &[Migration] = &[(1, "initial", include_str!("migrations/001_initial.sql"))];

/// Applies the migrations the schema lacks; returns their versions.
pub async fn migrate(client: &mut Client, schema: &str) -> Result<Vec<i64>, tokio_postgres::Error> {
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock(hashtext('socialpipe.migrate.' || $1::text))", &[&schema]).await?;
    tx.batch_execute(&format!(
        "CREATE SCHEMA IF NOT EXISTS \"{schema}\";
         SET LOCAL search_path TO \"{schema}\";
         CREATE TABLE IF NOT EXISTS schema_migrations (
             version bigint PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
    ))
    .await?;
    let mut applied = Vec::new();
    for (version, name, sql) in MIGRATIONS {
        let done = tx.query_opt("SELECT 1 FROM schema_migrations WHERE version = $1", &[version]).await?.is_some();
        if !done {
            tx.batch_execute(sql).await?;
            tx.execute("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", &[version, name]).await?;
            applied.push(*version);
        }
    }
    tx.commit().await?;
    Ok(applied)
}

/// The newest applied migration (0 when none is).
pub async fn current_version(client: &Client, schema: &str) -> Result<i64, tokio_postgres::Error> {
    let exists = client
        .query_opt(
            "SELECT 1 FROM information_schema.tables WHERE table_schema = $1 AND table_name = 'schema_migrations'",
            &[&schema],
        )
        .await?
        .is_some();
    if !exists {
        return Ok(0);
    }
    let row =
        client.query_one(&format!("SELECT coalesce(max(version), 0) FROM \"{schema}\".schema_migrations"), &[]).await?;
    Ok(row.get(0))
}
