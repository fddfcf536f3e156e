//! Stage `entities`: hashtags, mentions, cashtags, URLs (normalised) and emoji
//! of a post's text, found on grapheme clusters so combining marks, ZWJ
//! sequences and scripts without spaces stay whole. Pure and deterministic:
//! a redelivered record gets the same result.

mod extract;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Map, Value};
use socialpipe_schemas::enrichment::Entities;
use socialpipe_schemas::{ComponentError, Enrichment, Processor, StageConfig};

use crate::dictionary::{Dictionary, fold};
use crate::{TextEnricher, TextStage, cannot_start};

pub use extract::extract_entities;

/// Writes `enrichments.entities`: hashtags, mentions, cashtags, URLs
/// (normalised) and emoji, found on grapheme clusters, and the configured
/// brands the text names.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EntitiesConfig {
    /// Drop tracking parameters (utm_*, fbclid, gclid, …) from URLs.
    #[serde(default = "yes")]
    pub strip_tracking_params: bool,
    /// Brand or product name → the phrases that mention it, matched on whole
    /// words ignoring case and accents (`Nike = ["nike", "air jordan"]`).
    #[serde(default)]
    pub brands: BTreeMap<String, Vec<String>>,
}

fn yes() -> bool {
    true
}

impl Default for EntitiesConfig {
    fn default() -> Self {
        EntitiesConfig { strip_tracking_params: true, brands: BTreeMap::new() }
    }
}

impl StageConfig for EntitiesConfig {
    fn check(&self) -> Result<(), String> {
        self.brand_dictionary().map(drop)
    }

    fn build(&self) -> Result<Box<dyn Processor>, ComponentError> {
        Ok(Box::new(EntitiesStage::new(self.clone()).map_err(cannot_start)?))
    }

    fn writes(&self) -> Vec<&'static str> {
        vec![Entities::KEY]
    }
}

impl EntitiesConfig {
    fn brand_dictionary(&self) -> Result<Dictionary, String> {
        Dictionary::new(self.brands.iter().map(|(name, phrases)| (name.clone(), phrases)))
            .map_err(|e| format!("brands: {e}"))
    }
}

pub struct EntitiesEnricher {
    strip_tracking_params: bool,
    brands: Dictionary,
}

pub type EntitiesStage = TextStage<EntitiesEnricher>;

impl EntitiesStage {
    pub fn new(config: EntitiesConfig) -> Result<Self, String> {
        let brands = config.brand_dictionary()?;
        Ok(TextStage(EntitiesEnricher { strip_tracking_params: config.strip_tracking_params, brands }))
    }
}

impl EntitiesEnricher {
    pub fn entities(&self, text: &str) -> Entities {
        let mut entities = extract_entities(text, self.strip_tracking_params);
        if !self.brands.is_empty() {
            entities.brands = self.brands.names_in(&fold(text)).into_iter().map(str::to_owned).collect();
        }
        entities
    }
}

impl TextEnricher for EntitiesEnricher {
    type Output = Entities;

    fn enrich(&self, text: &str, _: &Map<String, Value>) -> Entities {
        self.entities(text)
    }
}
