//! Versioned changes to a store's schema (tables, views, collections'
//! indexes, graph constraints), the same for every store sink: each store
//! records the versions it applied, `migrate` applies the missing ones in
//! order, and a sink that may not migrate (`migrate_on_start = false`)
//! stops before it consumes when its store lacks one.

use async_trait::async_trait;
use socialpipe_schemas::ComponentError;

/// One change. Append only: never edit a released one.
pub struct Migration {
    pub version: i64,
    pub name: &'static str,
    /// The store's own language: SQL, Cypher, or MongoDB commands.
    pub script: &'static str,
}

/// A store that applies migrations and remembers which it applied.
#[async_trait]
pub trait MigrationTarget: Send {
    /// The versions applied (none while the store has no record of any).
    async fn applied(&mut self) -> Result<Vec<i64>, ComponentError>;

    /// Applies `migration` and records it: in one transaction where the
    /// store has them, else with idempotent statements, so several workers
    /// migrating at once do no harm. False when another process applied it
    /// meanwhile.
    async fn apply(&mut self, migration: &Migration) -> Result<bool, ComponentError>;
}

/// Applies the migrations the store lacks, in order; returns their versions.
pub async fn migrate(target: &mut impl MigrationTarget, migrations: &[Migration]) -> Result<Vec<i64>, ComponentError> {
    let done = target.applied().await?;
    let mut applied = Vec::new();
    for migration in migrations.iter().filter(|m| !done.contains(&m.version)) {
        if target.apply(migration).await? {
            applied.push(migration.version);
        }
    }
    Ok(applied)
}

/// Migrates when the sink may; otherwise stops it (fatal) when `store`
/// lacks a migration this build needs.
pub async fn prepare(
    target: &mut impl MigrationTarget,
    migrations: &[Migration],
    migrate_on_start: bool,
    store: &str,
) -> Result<(), ComponentError> {
    if migrate_on_start {
        return migrate(target, migrations).await.map(drop);
    }
    let done = target.applied().await?;
    match migrations.iter().find(|m| !done.contains(&m.version)) {
        Some(missing) => Err(ComponentError::fatal(format!(
            "{store} lacks migration {} ({}): run `socialpipe migrate`",
            missing.version, missing.name
        ))),
        None => Ok(()),
    }
}

/// The statements of a script separated by `;` (comment lines dropped).
pub fn statements(script: &str) -> Vec<String> {
    script
        .split(';')
        .map(|s| {
            s.lines().filter(|l| !l.trim_start().starts_with("--")).collect::<Vec<_>>().join("\n").trim().to_owned()
        })
        .filter(|s| !s.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Remembers what it applied; another process may have applied some.
    #[derive(Default)]
    struct Store {
        recorded: Vec<i64>,
        applied_elsewhere: Vec<i64>,
    }

    #[async_trait]
    impl MigrationTarget for Store {
        async fn applied(&mut self) -> Result<Vec<i64>, ComponentError> {
            Ok(self.recorded.clone())
        }

        async fn apply(&mut self, migration: &Migration) -> Result<bool, ComponentError> {
            self.recorded.push(migration.version);
            Ok(!self.applied_elsewhere.contains(&migration.version))
        }
    }

    const ALL: &[Migration] = &[
        Migration { version: 1, name: "one", script: "" },
        Migration { version: 2, name: "two", script: "" },
        Migration { version: 3, name: "three", script: "" },
    ];

    #[tokio::test]
    async fn missing_migrations_apply_in_order_once() {
        let mut store = Store { recorded: vec![1], ..Default::default() };
        assert_eq!(migrate(&mut store, ALL).await.unwrap(), [2, 3]);
        assert_eq!(migrate(&mut store, ALL).await.unwrap(), Vec::<i64>::new());
        assert_eq!(store.recorded, [1, 2, 3]);
        let mut racing = Store { applied_elsewhere: vec![2], ..Default::default() };
        assert_eq!(migrate(&mut racing, ALL).await.unwrap(), [1, 3], "what another process applied is not counted");
    }

    #[tokio::test]
    async fn a_store_behind_stops_a_sink_that_may_not_migrate() {
        let mut behind = Store { recorded: vec![1], ..Default::default() };
        let error = prepare(&mut behind, ALL, false, "db x").await.unwrap_err();
        assert_eq!(error.reason, "db x lacks migration 2 (two): run `socialpipe migrate`");
        assert_eq!(behind.recorded, [1], "nothing applied");
        prepare(&mut behind, ALL, true, "db x").await.unwrap();
        prepare(&mut behind, ALL, false, "db x").await.unwrap();
    }

    #[test]
    fn statements_split_on_semicolons_without_comment_lines() {
        assert_eq!(statements("-- a comment\nCREATE x;\n\n  -- another\nCREATE y ;"), ["CREATE x", "CREATE y"]);
    }
}
