//! socialpipe sinks. One folder per sink: its config, how it writes a batch,
//! its DDL, and its tests. Every sink writes idempotently (upsert by record
//! id, highest version wins) and returns only when the batch is durable.

pub mod blackhole;
pub mod clickhouse;
pub mod mongodb;
pub mod neo4j;
pub mod postgres;
pub mod rows;
pub mod sqlite;
pub mod stdout;

#[cfg(test)]
mod compliance;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

/// A versioned migration: (version, name, statements). Append only.
pub type Migration = (i64, &'static str, &'static str);

/// A name safe to splice into DDL as a schema or database name.
pub fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name.len() <= 63
}
