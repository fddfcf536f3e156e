//! The `Sink` of every store: decode the batch, refuse what the store
//! cannot hold, write the rest durably, report the refusals. A store sink
//! implements `StoreWriter` (its encoding and its write) and nothing else.
//! A write that passes its deadline fails as transient and acknowledges
//! nothing (the runner retries it; writes are idempotent, so a write that
//! landed after all is absorbed by the retry).

use std::time::Duration;

use async_trait::async_trait;
use socialpipe_schemas::{ComponentError, Envelope, Sink, SinkReport};

use crate::batch::{DecodedBatch, Record};

/// The default of every store sink's `write_timeout_ms`: far beyond a
/// healthy batch's write, short enough that a hung store shows as
/// `retrying` within a minute.
pub fn default_write_timeout_ms() -> u64 {
    60_000
}

/// How one store writes a decoded batch.
#[async_trait]
pub trait StoreWriter: Send {
    /// The sink's name, in refusals.
    const NAME: &'static str;

    /// Refuses, before anything is sent, a record the store cannot hold
    /// (a count beyond its integers, a time outside its range).
    fn storable(&self, record: &Record) -> Result<(), ComponentError>;

    /// Writes `batch.records` durably and idempotently; a record the store
    /// refuses for good moves to `batch.rejected` (the rest is written). An
    /// error fails the whole batch: transient ones are retried.
    async fn write(&mut self, batch: &mut DecodedBatch<'_>) -> Result<(), ComponentError>;

    /// Called when a write was abandoned at its deadline: the connection it
    /// used is in an unknown state (a request sent, its answer unread), so a
    /// writer whose driver would reuse it drops it and connects again on the
    /// next write. Drivers that close a connection dropped mid-request need
    /// nothing.
    fn abandon(&mut self) {}
}

/// A store writer as a sink.
pub struct StoreSink<W> {
    writer: W,
    /// None for a store whose writes block the thread (SQLite's), which a
    /// deadline could not interrupt.
    write_timeout: Option<Duration>,
}

impl<W: StoreWriter> StoreSink<W> {
    pub fn new(writer: W, write_timeout: Option<Duration>) -> Self {
        StoreSink { writer, write_timeout }
    }
}

#[async_trait]
impl<W: StoreWriter> Sink for StoreSink<W> {
    async fn write(&mut self, batch: &[Envelope]) -> Result<SinkReport, ComponentError> {
        let mut decoded = DecodedBatch::decode(batch, W::NAME);
        let writer = &mut self.writer;
        decoded.refuse_unless(|record| writer.storable(record));
        let written = writer.write(&mut decoded);
        match self.write_timeout {
            None => written.await?,
            Some(limit) => match tokio::time::timeout(limit, written).await {
                Ok(result) => result?,
                Err(_) => {
                    writer.abandon();
                    return Err(ComponentError::transient(format!(
                        "{}: the store did not finish writing the batch within write_timeout_ms ({} ms)",
                        W::NAME,
                        limit.as_millis()
                    )));
                }
            },
        }
        Ok(decoded.into_report())
    }
}
