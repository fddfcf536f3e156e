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

/// An error about the store or a whole batch. The driver classifiers say
/// `Invalid` for record-level refusals; outside a record's write that means
/// the store itself refuses (e.g. its schema), so the sink stops.
pub(crate) fn store_error(
    domain: socialpipe_schemas::ErrorDomain,
    reason: String,
) -> socialpipe_schemas::ComponentError {
    use socialpipe_schemas::ErrorDomain;
    let domain = if domain == ErrorDomain::Invalid { ErrorDomain::Fatal } else { domain };
    socialpipe_schemas::ComponentError { domain, reason }
}

/// A versioned migration: (version, name, statements). Append only.
pub type Migration = (i64, &'static str, &'static str);

/// A name safe to splice into DDL as a schema or database name.
pub fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name.len() <= 63
}
