//! Stage `entities`: hashtags, mentions, cashtags, URLs (normalised) and emoji
//! of a post's text, found on grapheme clusters so combining marks, ZWJ
//! sequences and scripts without spaces stay whole. Pure and deterministic:
//! a redelivered record gets the same result.

mod extract;
#[cfg(test)]
mod tests;

use std::borrow::Cow;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use socialpipe_schemas::{ComponentError, Envelope, Failed, Processor, RecordKind};

pub use extract::extract_entities;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntitiesConfig {
    /// Drop tracking parameters (utm_*, fbclid, gclid, …) from URLs.
    #[serde(default = "yes")]
    pub strip_tracking_params: bool,
}

fn yes() -> bool {
    true
}

impl Default for EntitiesConfig {
    fn default() -> Self {
        EntitiesConfig { strip_tracking_params: true }
    }
}

/// The entities of one text; each list is unique, in order of first appearance.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entities {
    /// Lower-cased, without `#`.
    pub hashtags: Vec<String>,
    /// Lower-cased, without `@`.
    pub mentions: Vec<String>,
    /// Upper-cased, without `$`.
    pub cashtags: Vec<String>,
    pub urls: Vec<String>,
    pub emoji: Vec<String>,
}

pub struct EntitiesStage {
    config: EntitiesConfig,
}

/// The key this stage writes under `enrichments`.
pub const ENRICHMENT_KEY: &str = "entities";

impl EntitiesStage {
    pub fn new(config: EntitiesConfig) -> Self {
        EntitiesStage { config }
    }

    fn enrich(&self, record: &mut Envelope) -> Result<(), ComponentError> {
        if record.kind() != Some(RecordKind::Post) {
            return Ok(());
        }
        // Only the text is read; the rest of the payload is skipped, not built.
        #[derive(Deserialize)]
        struct Text<'a> {
            #[serde(borrow)]
            text: Cow<'a, str>,
        }
        let Text { text } = record.payload_as().map_err(|e| ComponentError::invalid(format!("payload.text: {e}")))?;
        let entities = extract_entities(&text, self.config.strip_tracking_params);
        record
            .enrichments
            .insert(ENRICHMENT_KEY.to_owned(), serde_json::to_value(entities).expect("entities always serialise"));
        Ok(())
    }
}

#[async_trait]
impl Processor for EntitiesStage {
    async fn process(&mut self, batch: Vec<Envelope>) -> Vec<Result<Envelope, Failed>> {
        batch
            .into_iter()
            .map(|mut record| match self.enrich(&mut record) {
                Ok(()) => Ok(record),
                Err(error) => Err(Failed { record: Box::new(record), error }),
            })
            .collect()
    }
}
