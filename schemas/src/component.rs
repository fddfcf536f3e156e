//! The component traits. Sources produce envelopes with a resume checkpoint;
//! processors map a batch to a batch with per-record errors; sinks write a
//! batch durably and idempotently (upsert by id) before they return.

use async_trait::async_trait;
use serde_json::Value;

use crate::envelope::Envelope;
use crate::error::ComponentError;

/// Whether a source stops when it has caught up (`--once`) or waits for more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceMode {
    /// Process the input available at start, then report `caught_up`.
    Once,
    /// Keep following new input.
    Continuous,
}

/// Input a source could not turn into a record.
#[derive(Debug, Clone)]
pub struct Rejected {
    /// The first bytes of the input (sources bound what they hold).
    pub prefix: Vec<u8>,
    pub length: u64,
    pub sha256: String,
    pub reason: String,
    /// Where the input was, e.g. `posts.jsonl:1234`.
    pub location: Option<String>,
}

/// What one call to [`Source::next_batch`] produced.
#[derive(Debug, Default)]
pub struct SourceBatch {
    pub records: Vec<Envelope>,
    pub rejected: Vec<Rejected>,
    /// Resume state covering everything in this batch; persisted only after
    /// the records and rejects are durable downstream.
    pub checkpoint: Option<Value>,
    /// In `Once` mode: the input available at start is exhausted.
    pub caught_up: bool,
}

#[async_trait]
pub trait Source: Send {
    /// Prepares to read from `checkpoint` (None: from the beginning).
    async fn open(&mut self, checkpoint: Option<Value>, mode: SourceMode) -> Result<(), ComponentError>;

    /// Returns the next batch of at most `max_records` records. In continuous
    /// mode it returns an empty batch after a short idle wait, so the runner
    /// can check for shutdown between calls.
    async fn next_batch(&mut self, max_records: usize) -> Result<SourceBatch, ComponentError>;
}

/// A record a processor could not handle, with why.
#[derive(Debug, Clone)]
pub struct Failed {
    /// Boxed: a failure is rare, and keeps the `Ok` path's results small.
    pub record: Box<Envelope>,
    pub error: ComponentError,
}

#[async_trait]
pub trait Processor: Send {
    /// Enriches a batch: one outcome per input record, in order.
    async fn process(&mut self, batch: Vec<Envelope>) -> Vec<Result<Envelope, Failed>>;
}

/// Records of a batch a sink refused for good (e.g. a constraint violation):
/// the rest of the batch is durably written.
#[derive(Debug, Default)]
pub struct SinkReport {
    /// (index in the batch, why)
    pub rejected: Vec<(usize, ComponentError)>,
}

#[async_trait]
pub trait Sink: Send {
    /// Writes the batch durably; returns only when it is (or with an error
    /// for the whole batch: transient → retried, fatal → the sink stops).
    async fn write(&mut self, batch: &[Envelope]) -> Result<SinkReport, ComponentError>;
}
