//! DDL for the clickhouse sink: versioned migrations recorded in the
//! database's `schema_migrations`. Every statement is idempotent (`IF NOT
//! EXISTS`), so two workers migrating at once do no harm.
//!
//! One dialect difference matters: `LowCardinality` is experimental on the
//! 18.x servers (Debian's) and needs a setting newer servers reject, so
//! there those columns are plain `String` (same RowBinary encoding).

use crate::migrations::Migration;

/// Which servers a statement is written for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// ClickHouse before 19.1 (Debian's 18.16).
    Legacy,
    /// 19.1 and later.
    Current,
}

impl Dialect {
    /// From the answer of `SELECT version()`, e.g. `18.16.1` or `25.3.2.39`.
    pub fn of_version(version: &str) -> Dialect {
        let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
        match (parts.next().unwrap_or(0), parts.next().unwrap_or(0)) {
            (major, _) if major < 19 => Dialect::Legacy,
            _ => Dialect::Current,
        }
    }

    fn low_cardinality(self) -> &'static str {
        match self {
            Dialect::Legacy => "String",
            Dialect::Current => "LowCardinality(String)",
        }
    }
}

/// In order. Append only: never edit a released one. `{lc}` stands for the
/// dialect's low-cardinality string type.
pub const MIGRATIONS: &[Migration] = &[
    Migration { version: 1, name: "initial", script: include_str!("migrations/001_initial.sql") },
    Migration { version: 2, name: "analyst_fields", script: include_str!("migrations/002_analyst_fields.sql") },
    Migration { version: 3, name: "rollups", script: include_str!("migrations/003_rollups.sql") },
];

/// The per-hour analyst views: sentiment and emotion, by hashtag and by brand.
fn views() -> String {
    let mut sql = String::new();
    for (dimension, column) in [("hashtag", "hashtags"), ("brand", "brands")] {
        sql.push_str(&format!(
            "CREATE VIEW IF NOT EXISTS sentiment_by_{dimension}_hour AS
             SELECT toStartOfHour(created_at) AS hour, platform, {dimension}, count() AS posts,
                    avg(sentiment_compound) AS avg_compound,
                    countIf(sentiment_label = 'positive') AS positive,
                    countIf(sentiment_label = 'neutral') AS neutral,
                    countIf(sentiment_label = 'negative') AS negative
             FROM posts FINAL ARRAY JOIN {column} AS {dimension}
             GROUP BY hour, platform, {dimension};
             CREATE VIEW IF NOT EXISTS emotion_by_{dimension}_hour AS
             SELECT toStartOfHour(created_at) AS hour, platform, {dimension}, emotion, count() AS posts
             FROM posts FINAL ARRAY JOIN {column} AS {dimension}
             WHERE emotion != ''
             GROUP BY hour, platform, {dimension}, emotion;
            "
        ));
    }
    sql
}

/// A statement that runs only while a column exists, or only while it is
/// missing (`-- only if column T.C exists` / `is missing` before it): what
/// 18.16 lacks `IF [NOT] EXISTS` for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnGuard {
    pub table: String,
    pub column: String,
    pub exists: bool,
}

/// One statement of a migration and its guard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    pub sql: String,
    pub guard: Option<ColumnGuard>,
}

impl ColumnGuard {
    fn parse(chunk: &str) -> Option<ColumnGuard> {
        let line = chunk.lines().find_map(|l| l.trim().strip_prefix("-- only if column "))?;
        let (name, state) = line.split_once(' ')?;
        let (table, column) = name.split_once('.')?;
        let exists = match state.trim() {
            "exists" => true,
            "is missing" => false,
            other => panic!("migration guard {line:?}: {other:?} is neither `exists` nor `is missing`"),
        };
        Some(ColumnGuard { table: table.to_owned(), column: column.to_owned(), exists })
    }

    /// The query that answers 1 when the guarded statement should run.
    pub fn query(&self) -> String {
        format!(
            "SELECT toUInt8(count() {} 0) FROM system.columns WHERE database = currentDatabase() AND table = '{}' AND name = '{}'",
            if self.exists { ">" } else { "=" },
            self.table,
            self.column
        )
    }
}

/// The statements of migration `sql` for `dialect`, in order.
pub fn statements(sql: &str, dialect: Dialect) -> Vec<Statement> {
    let sql = sql.replace("{views}", &views()).replace("{lc}", dialect.low_cardinality());
    sql.split(';')
        .filter_map(|chunk| {
            let guard = ColumnGuard::parse(chunk);
            crate::migrations::statements(chunk).pop().map(|sql| Statement { sql, guard })
        })
        .collect()
}
