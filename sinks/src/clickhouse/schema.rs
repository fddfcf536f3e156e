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
pub const MIGRATIONS: &[Migration] =
    &[Migration { version: 1, name: "initial", script: include_str!("migrations/001_initial.sql") }];

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

/// The statements of migration `sql` for `dialect`, one per entry.
pub fn statements(sql: &str, dialect: Dialect) -> Vec<String> {
    crate::migrations::statements(&sql.replace("{views}", &views()).replace("{lc}", dialect.low_cardinality()))
}
