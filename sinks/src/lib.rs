//! socialpipe sinks. One folder per sink: its config, how it writes a batch,
//! its DDL, and its tests. Every sink writes idempotently (upsert by record
//! id, highest version wins) and returns only when the batch is durable.

pub mod blackhole;
pub mod sqlite;
pub mod stdout;
