//! Sink `blackhole`: accepts and discards every record. For benchmarks and
//! dry runs, where the cost of the pipeline without a store is the question.

use async_trait::async_trait;
use serde::Deserialize;
use socialpipe_schemas::{ComponentError, Envelope, Sink, SinkConfig, SinkReport};

/// Accepts and discards every record: the pipeline's cost without a store.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BlackholeConfig {}

#[async_trait]
impl SinkConfig for BlackholeConfig {
    async fn build(&self) -> Result<Box<dyn Sink>, ComponentError> {
        Ok(Box::new(BlackholeSink))
    }
}

pub struct BlackholeSink;

#[async_trait]
impl Sink for BlackholeSink {
    async fn write(&mut self, _batch: &[Envelope]) -> Result<SinkReport, ComponentError> {
        Ok(SinkReport::default())
    }
}
