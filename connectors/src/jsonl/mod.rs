//! Source `jsonl`: raw posts, one JSON object per line, from a file or a
//! directory of `*.jsonl` / `*.ndjson` files, optionally followed like `tail -F`.
//! Promises: lines are read in order; the checkpoint (file, byte offset, line)
//! covers exactly the lines returned so far; a line longer than
//! `max_line_bytes` is rejected without being held in memory.

mod reader;
mod source;
#[cfg(test)]
mod tests;

use std::path::PathBuf;

use serde::Deserialize;
use socialpipe_schemas::{ComponentError, Source, SourceConfig};

pub use source::JsonlSource;

/// Raw posts, one JSON object per line (docs/record-schema.md#raw-posts-input),
/// from a file or a directory of `*.jsonl` / `*.ndjson` files read in name
/// order; a line that is not a valid post goes to `dlq.NAME` with the reason.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JsonlConfig {
    /// A file, or a directory whose `*.jsonl` and `*.ndjson` files are read in name order.
    pub path: PathBuf,
    /// Keep reading as files grow, rotate (rename + new file) or are
    /// truncated, like `tail -F`. Such a source never ends, so it cannot run
    /// with `--once`; without it the source reads the input present at start
    /// and finishes.
    #[serde(default)]
    pub follow: bool,
    /// Longer lines go to the DLQ (first bytes, length and sha256 only).
    #[serde(default = "default_max_line_bytes")]
    pub max_line_bytes: usize,
    /// How often a followed file is checked for growth and rotation.
    #[serde(default = "default_poll_interval_ms")]
    pub poll_interval_ms: u64,
}

fn default_max_line_bytes() -> usize {
    1 << 20
}

fn default_poll_interval_ms() -> u64 {
    200
}

impl JsonlConfig {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        JsonlConfig {
            path: path.into(),
            follow: false,
            max_line_bytes: default_max_line_bytes(),
            poll_interval_ms: default_poll_interval_ms(),
        }
    }

}

impl SourceConfig for JsonlConfig {
    fn check(&self) -> Result<(), String> {
        if self.max_line_bytes < 1024 {
            return Err("max_line_bytes: must be at least 1024".into());
        }
        if !self.follow && !self.path.exists() {
            return Err(format!("path: {} does not exist", self.path.display()));
        }
        Ok(())
    }

    fn build(&self, name: &str) -> Result<Box<dyn Source>, ComponentError> {
        Ok(Box::new(JsonlSource::new(name, self.clone())))
    }

    fn unbounded(&self) -> bool {
        self.follow
    }
}
