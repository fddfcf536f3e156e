//! Stage `fault` (feature `testing`): panics on a post whose text contains
//! a given string, so tests can check what the runner does with a stage
//! that panics. Every other record passes unchanged.

use async_trait::async_trait;
use serde::Deserialize;
use socialpipe_schemas::{ComponentError, Envelope, Failed, Processor, StageConfig};

/// Panics on a post whose text contains `panic_on_text` (a test stage).
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FaultConfig {
    /// The text that makes the stage panic.
    pub panic_on_text: String,
}

impl StageConfig for FaultConfig {
    fn build(&self) -> Result<Box<dyn Processor>, ComponentError> {
        Ok(Box::new(FaultStage { panic_on_text: self.panic_on_text.clone() }))
    }

    fn writes(&self) -> Vec<&'static str> {
        Vec::new()
    }
}

pub struct FaultStage {
    panic_on_text: String,
}

#[async_trait]
impl Processor for FaultStage {
    async fn process(&mut self, batch: Vec<Envelope>) -> Vec<Result<Envelope, Failed>> {
        for record in &batch {
            if crate::post_text(record).is_ok_and(|text| text.contains(&self.panic_on_text)) {
                panic!("fault stage: record {} contains {:?}", record.id, self.panic_on_text);
            }
        }
        batch.into_iter().map(Ok).collect()
    }
}
