//! socialpipe sinks. One folder per sink: its config, how it writes a
//! batch, its migrations, and its tests, registered on one line below. Every
//! store sink writes idempotently (upsert by record id, highest version
//! wins) and returns only when the batch is durable. What they share, each
//! calling only downwards: `store` (the `Sink` of every store: decode,
//! refuse, write, report), `batch` (a batch decoded into records),
//! `analyst` (a post's and a KOL score's fields, as typed columns),
//! `bisect` (a writer that finds the records a store refuses by halving),
//! `fit` (integers a store holds), `migrations` (versioned schema changes).

pub mod analyst;
pub mod batch;
pub mod bisect;
pub mod fit;
pub mod migrations;
pub mod store;

#[cfg(test)]
mod compliance;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

use socialpipe_schemas::SinkConfig;

socialpipe_schemas::registry! {
    /// A sink, selected by its `type`.
    pub enum SinkKind: dyn SinkConfig {
        sqlite => Sqlite(SqliteConfig),
        postgres => Postgres(PostgresConfig),
        clickhouse => Clickhouse(ClickhouseConfig),
        mongodb => Mongodb(MongodbConfig),
        neo4j => Neo4j(Neo4jConfig),
        stdout => Stdout(StdoutConfig),
        blackhole => Blackhole(BlackholeConfig),
    }
}

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

/// A name safe to splice into DDL as a schema or database name.
pub fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name.len() <= 63
}

#[cfg(test)]
mod tests {
    use super::SinkKind;

    /// Each sink configuration with a credential, as a configuration file
    /// gives it (a plain string).
    const WITH_PASSWORDS: &[&str] = &[
        r#"{"type": "clickhouse", "url": "http://127.0.0.1:8123", "password": "hunter2-ch"}"#,
        r#"{"type": "neo4j", "uri": "bolt://127.0.0.1:7687", "password": "hunter2-bolt"}"#,
        r#"{"type": "postgres", "url": "postgres://sp:hunter2-pg@127.0.0.1:5432/test"}"#,
        r#"{"type": "mongodb", "uri": "mongodb://sp:hunter2-mongo@127.0.0.1:27017/socialpipe"}"#,
    ];

    #[test]
    fn no_sink_configuration_shows_its_password_in_debug() {
        let leaks: Vec<String> = WITH_PASSWORDS
            .iter()
            .map(|text| {
                let sink: SinkKind = serde_json::from_str(text).unwrap();
                sink.component().check().unwrap();
                format!("{sink:?}")
            })
            .filter(|shown| shown.contains("hunter2"))
            .collect();
        assert!(leaks.is_empty(), "{leaks:#?}");
    }
}
