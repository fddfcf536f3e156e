//! Stage `key_counter` (feature `testing`): how many records of the same key (author) the
//! pipeline has seen, including this one, under `enrichments.key_counter`.
//! It is the smallest stage with keyed state: the runner keeps its counts in
//! a changelog and moves them with partitions, so the numbers stay exact
//! across restarts, crashes and rebalances (tests rely on that).

#[cfg(test)]
mod tests;

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::json;
use socialpipe_schemas::{ComponentError, Envelope, Failed, KeyedState, Processor, StageConfig};

/// Writes `enrichments.key_counter = {count}`: how many records of the same
/// key the pipeline has seen, including this one (a test stage).
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KeyCounterConfig {}

/// The key this stage writes under `enrichments` (a test stage's: not part
/// of the enrichment contract).
pub const ENRICHMENT_KEY: &str = "key_counter";

impl StageConfig for KeyCounterConfig {
    fn build(&self) -> Result<Box<dyn Processor>, ComponentError> {
        Ok(Box::new(KeyCounterStage))
    }

    fn keeps_state(&self) -> bool {
        true
    }

    fn writes(&self) -> Vec<&'static str> {
        vec![ENRICHMENT_KEY]
    }
}

#[derive(Default)]
pub struct KeyCounterStage;

#[async_trait]
impl Processor for KeyCounterStage {
    /// Without state a count cannot be right: the runner always calls `process_keyed`.
    async fn process(&mut self, batch: Vec<Envelope>) -> Vec<Result<Envelope, Failed>> {
        self.process_keyed(batch, &mut KeyedState::default()).await
    }

    async fn process_keyed(&mut self, batch: Vec<Envelope>, state: &mut KeyedState) -> Vec<Result<Envelope, Failed>> {
        batch
            .into_iter()
            .map(|mut record| {
                // A value that is not a count (never written by this stage) restarts it.
                let count = state.decode::<u64>(&record.key).ok().flatten().unwrap_or(0) + 1;
                state.encode(&record.key, &count);
                record.enrichments.insert(ENRICHMENT_KEY.to_owned(), json!({ "count": count }));
                Ok(record)
            })
            .collect()
    }
}
