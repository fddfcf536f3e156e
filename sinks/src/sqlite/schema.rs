//! Versioned migrations for the sqlite sink, recorded in `schema_migrations`.

use rusqlite::{Connection, params};

/// (version, name, SQL), in order. Append only: never edit a released one.
pub const MIGRATIONS: &[crate::Migration] = &[
    (1, "initial", include_str!("migrations/001_initial.sql")),
    (2, "text scores", include_str!("migrations/002_text_scores.sql")),
    (3, "embeddings", include_str!("migrations/003_embeddings.sql")),
    (4, "kol scores", include_str!("migrations/004_kol_scores.sql")),
    (5, "rosters", include_str!("migrations/005_rosters.sql")),
];

/// Applies the migrations the database lacks; each in its own transaction.
pub fn migrate(conn: &mut Connection) -> rusqlite::Result<Vec<i64>> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)",
    )?;
    let mut applied = Vec::new();
    for (version, name, sql) in MIGRATIONS {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let done: bool =
            tx.query_row("SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = ?1)", [version], |r| {
                r.get(0)
            })?;
        if !done {
            tx.execute_batch(sql)?;
            tx.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?1, ?2, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))",
                params![version, name],
            )?;
            applied.push(*version);
        }
        tx.commit()?;
    }
    Ok(applied)
}
