//! Stage `passthrough` (feature `testing`): hands every record on
//! unchanged, for measuring what the runtime and transport cost by
//! themselves (benches/src/bin/kafka_passthrough.rs).

use async_trait::async_trait;
use serde::Deserialize;
use socialpipe_schemas::{ComponentError, Envelope, Failed, Processor, StageConfig};

/// Hands every record on unchanged (a bench stage).
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PassthroughConfig {}

impl StageConfig for PassthroughConfig {
    fn build(&self) -> Result<Box<dyn Processor>, ComponentError> {
        Ok(Box::new(PassthroughStage))
    }

    fn writes(&self) -> Vec<&'static str> {
        Vec::new()
    }
}

pub struct PassthroughStage;

#[async_trait]
impl Processor for PassthroughStage {
    async fn process(&mut self, batch: Vec<Envelope>) -> Vec<Result<Envelope, Failed>> {
        batch.into_iter().map(Ok).collect()
    }
}

#[cfg(test)]
mod tests {
    use socialpipe_schemas::{Processor, parse_raw_post};

    use super::PassthroughStage;

    #[tokio::test]
    async fn records_come_out_as_they_went_in() {
        let line = br#"{"platform":"x","id":"1","author":{"id":"2"},"text":"hi","created_at":"2026-11-20T10:15:00Z"}"#;
        let record = parse_raw_post(line).unwrap().into_envelope("posts");
        let out = PassthroughStage.process(vec![record.clone()]).await;
        assert_eq!(out.into_iter().next().unwrap().unwrap().to_bytes(), record.to_bytes());
    }
}
