//! Stage `brand_safety`: flags for profanity, hate, violence, adult and
//! drugs from term lists (lists.rs, extendable in config), and a safety
//! score in [0, 1]: 1 when nothing is found, multiplied by (1 − weight)
//! for every hit, so one slur or several violent terms weigh more than a
//! stray "damn". KOL scoring reads the score and the flags.

mod lists;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Map, Value};
use socialpipe_schemas::enrichment::{BrandSafety, SafetyCategory as Category};
use socialpipe_schemas::{ComponentError, Enrichment, Processor, StageConfig};

use crate::dictionary::{Dictionary, fold};
use crate::{TextEnricher, TextStage, cannot_start};

/// How much one hit of a category lowers the score (documented in docs/record-schema.md).
fn default_weight(category: Category) -> f64 {
    match category {
        Category::Hate => 0.6,
        Category::Adult => 0.5,
        Category::Violence => 0.4,
        Category::Drugs => 0.3,
        Category::Profanity => 0.2,
    }
}

/// Writes `enrichments.brand_safety`: flags (`profanity`, `hate`,
/// `violence`, `adult`, `drugs`) from term lists (extendable here), and a
/// safety score in [0, 1]: 1 when nothing is found, multiplied by
/// (1 − weight) for every hit (weights: hate 0.6, adult 0.5, violence 0.4,
/// drugs 0.3, profanity 0.2), so one slur or several violent terms weigh
/// more than a stray "damn".
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BrandSafetyConfig {
    /// Terms added to a category's default list.
    #[serde(default)]
    pub terms: BTreeMap<Category, Vec<String>>,
    /// Default terms not to flag (a beer brand's "crack open a cold one").
    #[serde(default)]
    pub allow: Vec<String>,
    /// Per-category weight in (0, 1]; missing ones keep their default.
    #[serde(default)]
    pub weights: BTreeMap<Category, f64>,
    /// Below this score a post is not `safe`.
    #[serde(default = "default_unsafe_below")]
    pub unsafe_below: f64,
}

fn default_unsafe_below() -> f64 {
    0.7
}

impl Default for BrandSafetyConfig {
    fn default() -> Self {
        BrandSafetyConfig {
            terms: BTreeMap::new(),
            allow: Vec::new(),
            weights: BTreeMap::new(),
            unsafe_below: default_unsafe_below(),
        }
    }
}

impl StageConfig for BrandSafetyConfig {
    fn check(&self) -> Result<(), String> {
        if let Some((c, w)) = self.weights.iter().find(|(_, w)| !(**w > 0.0 && **w <= 1.0)) {
            return Err(format!("weights.{}: {w} is not within (0, 1]", c.as_str()));
        }
        crate::check_fraction("unsafe_below", self.unsafe_below)?;
        self.dictionary().map(drop)
    }

    fn build(&self) -> Result<Box<dyn Processor>, ComponentError> {
        Ok(Box::new(BrandSafetyStage::new(self).map_err(cannot_start)?))
    }

    fn writes(&self) -> Vec<&'static str> {
        vec![BrandSafety::KEY]
    }
}

impl BrandSafetyConfig {
    /// One dictionary entry per (category, term), named by the term.
    fn dictionary(&self) -> Result<(Dictionary, Vec<Category>), String> {
        let allowed: Vec<String> = self.allow.iter().map(|t| fold(t)).collect();
        let mut entries = Vec::new();
        for (category, defaults) in lists::DEFAULT_TERMS {
            let extra = self.terms.get(category).into_iter().flatten().map(String::as_str);
            for term in defaults.iter().copied().chain(extra) {
                if !allowed.contains(&fold(term)) {
                    entries.push((*category, term.to_owned()));
                }
            }
        }
        let categories = entries.iter().map(|(c, _)| *c).collect();
        let dictionary = Dictionary::new(entries.into_iter().map(|(_, term)| (term.clone(), [term])))
            .map_err(|e| format!("terms: {e}"))?;
        Ok((dictionary, categories))
    }
}

pub struct BrandSafetyEnricher {
    terms: Dictionary,
    category_of: Vec<Category>,
    weights: BTreeMap<Category, f64>,
    unsafe_below: f64,
}

pub type BrandSafetyStage = TextStage<BrandSafetyEnricher>;

impl BrandSafetyStage {
    pub fn new(config: &BrandSafetyConfig) -> Result<Self, String> {
        let (terms, category_of) = config.dictionary()?;
        let weights = Category::ALL
            .iter()
            .map(|&c| (c, config.weights.get(&c).copied().unwrap_or_else(|| default_weight(c))))
            .collect();
        Ok(TextStage(BrandSafetyEnricher { terms, category_of, weights, unsafe_below: config.unsafe_below }))
    }
}

impl TextEnricher for BrandSafetyEnricher {
    type Output = BrandSafety;

    fn enrich(&self, text: &str, _: &Map<String, Value>) -> BrandSafety {
        let mut score = 1.0;
        let mut terms: BTreeMap<Category, Vec<String>> = BTreeMap::new();
        for hit in self.terms.hits(&fold(text)) {
            let category = self.category_of[hit.entry];
            score *= 1.0 - self.weights[&category];
            let found = terms.entry(category).or_default();
            let term = self.terms.name(hit.entry);
            if !found.iter().any(|t| t == term) {
                found.push(term.to_owned());
            }
        }
        BrandSafety { score, safe: score >= self.unsafe_below, flags: terms.keys().copied().collect(), terms }
    }
}
