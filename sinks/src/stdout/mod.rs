//! Sink `stdout`: envelopes as JSON lines on standard output, for debugging.

use std::io::Write;

use async_trait::async_trait;
use serde::Deserialize;
use socialpipe_schemas::{ComponentError, Envelope, Sink, SinkConfig, SinkReport};

/// Envelopes as JSON lines on standard output, for debugging.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StdoutConfig {
    /// Indent each envelope over several lines.
    #[serde(default)]
    pub pretty: bool,
}

#[async_trait]
impl SinkConfig for StdoutConfig {
    async fn build(&self) -> Result<Box<dyn Sink>, ComponentError> {
        Ok(Box::new(StdoutSink::new(self.clone())))
    }
}

pub struct StdoutSink {
    config: StdoutConfig,
}

impl StdoutSink {
    pub fn new(config: StdoutConfig) -> Self {
        StdoutSink { config }
    }
}

#[async_trait]
impl Sink for StdoutSink {
    async fn write(&mut self, batch: &[Envelope]) -> Result<SinkReport, ComponentError> {
        let mut out = std::io::stdout().lock();
        for record in batch {
            let line =
                if self.config.pretty { serde_json::to_string_pretty(record) } else { serde_json::to_string(record) };
            writeln!(out, "{}", line.expect("an envelope always serialises"))
                .map_err(|e| ComponentError::fatal(format!("stdout: {e}")))?;
        }
        out.flush().map_err(|e| ComponentError::fatal(format!("stdout: {e}")))?;
        Ok(SinkReport::default())
    }
}
