//! Stage `topics`: what a post is about, three ways: its hashtags, its key
//! phrases by RAKE (Rose et al. 2010, "Automatic keyword extraction from
//! individual documents": candidate phrases are the runs of words between
//! stopwords and punctuation; a word scores degree / frequency; a phrase
//! the sum of its words), and the configured taxonomy's topics whose
//! keywords it mentions. Deterministic: ties keep the order of appearance.

mod stopwords;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap};

use serde::Deserialize;
use serde_json::{Map, Value};
use socialpipe_schemas::enrichment::{self, Entities, Keyword, Topics};
use socialpipe_schemas::{ComponentError, Enrichment, Processor, StageConfig};

use crate::dictionary::{Dictionary, fold};
use crate::entities::extract_entities;
use crate::{TextEnricher, TextStage, cannot_start};

/// Writes `enrichments.topics`: the post's hashtags, its key phrases by
/// RAKE, and the configured taxonomy's topics whose keywords it mentions.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TopicsConfig {
    /// Key phrases kept per post.
    #[serde(default = "default_max_keywords")]
    pub max_keywords: usize,
    /// Topic → keywords (whole words, case and accents ignored; a hashtag
    /// counts as its word): `skincare = ["serum", "moisturizer", "spf"]`.
    #[serde(default)]
    pub taxonomy: BTreeMap<String, Vec<String>>,
}

fn default_max_keywords() -> usize {
    5
}

impl Default for TopicsConfig {
    fn default() -> Self {
        TopicsConfig { max_keywords: default_max_keywords(), taxonomy: BTreeMap::new() }
    }
}

impl StageConfig for TopicsConfig {
    fn check(&self) -> Result<(), String> {
        if self.max_keywords > 50 {
            return Err(format!("max_keywords is at most 50, not {}", self.max_keywords));
        }
        self.dictionary().map(drop)
    }

    fn build(&self) -> Result<Box<dyn Processor>, ComponentError> {
        Ok(Box::new(TopicsStage::new(self).map_err(cannot_start)?))
    }

    /// The entities stage's hashtags (else it finds them itself).
    fn reads(&self) -> Vec<&'static str> {
        vec![Entities::KEY]
    }

    fn writes(&self) -> Vec<&'static str> {
        vec![Topics::KEY]
    }
}

impl TopicsConfig {
    fn dictionary(&self) -> Result<Dictionary, String> {
        Dictionary::new(self.taxonomy.iter().map(|(topic, words)| (topic.clone(), words)))
            .map_err(|e| format!("taxonomy: {e}"))
    }
}

pub struct TopicsEnricher {
    max_keywords: usize,
    taxonomy: Dictionary,
}

pub type TopicsStage = TextStage<TopicsEnricher>;

impl TopicsStage {
    pub fn new(config: &TopicsConfig) -> Result<Self, String> {
        Ok(TextStage(TopicsEnricher { max_keywords: config.max_keywords, taxonomy: config.dictionary()? }))
    }
}

/// RAKE over the words of `text` (mentions, hashtags, URLs and numbers
/// are not candidates).
pub fn rake(text: &str, max: usize) -> Vec<Keyword> {
    let mut phrases: Vec<Vec<String>> = vec![Vec::new()];
    for token in text.split_whitespace() {
        if crate::is_markup(token) {
            phrases.push(Vec::new());
            continue;
        }
        let lower = token.to_lowercase();
        // Punctuation inside a token ends a phrase ("great, cheap").
        let mut word = String::new();
        for c in lower.chars() {
            if c.is_alphanumeric() || c == '\'' || c == '-' {
                word.push(c);
            } else {
                end_word(&mut word, &mut phrases);
                phrases.push(Vec::new());
            }
        }
        end_word(&mut word, &mut phrases);
    }
    // Longer runs are sentences without stopwords, not key phrases.
    let phrases: Vec<Vec<String>> = phrases.into_iter().filter(|p| !p.is_empty() && p.len() <= 4).collect();
    let mut frequency: HashMap<&str, f64> = HashMap::new();
    let mut degree: HashMap<&str, f64> = HashMap::new();
    for phrase in &phrases {
        for w in phrase {
            *frequency.entry(w).or_default() += 1.0;
            *degree.entry(w).or_default() += phrase.len() as f64;
        }
    }
    let mut seen = Vec::new();
    let mut keywords = Vec::new();
    for phrase in &phrases {
        let joined = phrase.join(" ");
        if seen.contains(&joined) {
            continue;
        }
        let score = phrase.iter().map(|w| degree[w.as_str()] / frequency[w.as_str()]).sum();
        seen.push(joined.clone());
        keywords.push(Keyword { phrase: joined, score });
    }
    // Stable: equal scores keep the order of appearance.
    keywords.sort_by(|a, b| b.score.total_cmp(&a.score));
    keywords.truncate(max);
    keywords
}

/// Adds a finished word to the current phrase; a stopword, a number or a
/// single character ends the phrase instead.
fn end_word(word: &mut String, phrases: &mut Vec<Vec<String>>) {
    if word.is_empty() {
        return;
    }
    let word = std::mem::take(word);
    if stopwords::is_stopword(&word) || word.chars().all(char::is_numeric) || word.chars().count() < 2 {
        phrases.push(Vec::new());
    } else {
        phrases.last_mut().expect("never empty").push(word);
    }
}

impl TextEnricher for TopicsEnricher {
    type Output = Topics;

    fn enrich(&self, text: &str, enrichments: &Map<String, Value>) -> Topics {
        // The entities stage's hashtags when it ran, else found here.
        let entities = enrichment::read::<Entities>(enrichments).unwrap_or_else(|| extract_entities(text, false));
        Topics {
            hashtags: entities.hashtags,
            keywords: rake(text, self.max_keywords),
            categories: self.taxonomy.names_in(&fold(text)).into_iter().map(str::to_owned).collect(),
        }
    }
}
