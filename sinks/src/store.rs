//! The `Sink` of every store: decode the batch, refuse what the store
//! cannot hold, write the rest durably, report the refusals. A store sink
//! implements `StoreWriter` (its encoding and its write) and nothing else.

use async_trait::async_trait;
use socialpipe_schemas::{ComponentError, Envelope, Sink, SinkReport};

use crate::batch::{DecodedBatch, Record};

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
}

/// A store writer as a sink.
pub struct StoreSink<W>(pub W);

#[async_trait]
impl<W: StoreWriter> Sink for StoreSink<W> {
    async fn write(&mut self, batch: &[Envelope]) -> Result<SinkReport, ComponentError> {
        let mut decoded = DecodedBatch::decode(batch, W::NAME);
        let writer = &mut self.0;
        decoded.refuse_unless(|record| writer.storable(record));
        writer.write(&mut decoded).await?;
        Ok(decoded.into_report())
    }
}
