//! Stage `intent`: purchase / complaint / question / recommendation /
//! other, from documented patterns (patterns.rs) with a confidence. Each
//! class's score is 1 − Π(1 − w) over its matched patterns; the label is
//! the highest score when it reaches `min_confidence`, else `other`. The
//! names of the matched patterns are kept, so a label can be explained.

mod patterns;
#[cfg(test)]
mod tests;

use std::sync::LazyLock;

use regex::RegexSet;
use serde::Deserialize;
use serde_json::{Map, Value};
use socialpipe_schemas::enrichment::{Intent, IntentLabel, IntentScores};
use socialpipe_schemas::{ComponentError, Enrichment, Processor, StageConfig};

use crate::dictionary::fold;
use crate::{TextEnricher, TextStage};

/// The classes patterns vote for, in the order ties are broken.
const CLASSES: [IntentLabel; 4] =
    [IntentLabel::Complaint, IntentLabel::Purchase, IntentLabel::Question, IntentLabel::Recommendation];

/// Word boundaries are ASCII ones: the folded text's letters are mostly
/// ASCII, and Unicode boundaries keep the regex engine off its fast DFA.
static MATCHER: LazyLock<RegexSet> = LazyLock::new(|| {
    RegexSet::new(patterns::PATTERNS.iter().map(|p| p.3.replace(r"\b", r"(?-u:\b)")))
        .expect("the intent patterns compile")
});

/// Writes `enrichments.intent`: purchase, complaint, question,
/// recommendation or other, from documented patterns, with a confidence
/// and the names of the patterns that matched.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IntentConfig {
    /// Below this score a post is `other`.
    #[serde(default = "default_min_confidence")]
    pub min_confidence: f64,
}

fn default_min_confidence() -> f64 {
    0.5
}

impl Default for IntentConfig {
    fn default() -> Self {
        IntentConfig { min_confidence: default_min_confidence() }
    }
}

impl StageConfig for IntentConfig {
    fn check(&self) -> Result<(), String> {
        crate::check_fraction("min_confidence", self.min_confidence)
    }

    fn build(&self) -> Result<Box<dyn Processor>, ComponentError> {
        Ok(Box::new(IntentStage::new(self)))
    }

    fn writes(&self) -> Vec<&'static str> {
        vec![Intent::KEY]
    }
}

/// One post's intent.
#[derive(Debug, Clone, PartialEq)]
pub struct Classified {
    pub label: IntentLabel,
    pub confidence: f64,
    pub scores: [(IntentLabel, f64); 4],
    pub signals: Vec<&'static str>,
}

pub struct IntentEnricher {
    min_confidence: f64,
}

pub type IntentStage = TextStage<IntentEnricher>;

impl IntentStage {
    pub fn new(config: &IntentConfig) -> Self {
        TextStage(IntentEnricher { min_confidence: config.min_confidence })
    }
}

impl IntentEnricher {
    pub fn classify(&self, text: &str) -> Classified {
        let folded = fold(&text.replace(['\u{2019}', '\u{2018}'], "'"));
        let folded = folded.trim();
        let mut scores = CLASSES.map(|c| (c, 0.0));
        let mut signals = Vec::new();
        for i in MATCHER.matches(folded).iter() {
            let (class, weight, name, _) = patterns::PATTERNS[i];
            let slot = scores.iter_mut().find(|(c, _)| *c == class).expect("every pattern's class is listed");
            slot.1 = 1.0 - (1.0 - slot.1) * (1.0 - weight);
            signals.push(name);
        }
        let (best, confidence) =
            scores.iter().copied().fold((IntentLabel::Other, 0.0), |best, (c, s)| if s > best.1 { (c, s) } else { best });
        let (label, confidence) = if confidence >= self.min_confidence {
            (best, confidence)
        } else {
            // How sure "other" is: how far the best class is from counting.
            (IntentLabel::Other, 1.0 - confidence)
        };
        Classified { label, confidence, scores, signals }
    }
}

impl TextEnricher for IntentEnricher {
    type Output = Intent;

    fn enrich(&self, text: &str, _: &Map<String, Value>) -> Intent {
        let c = self.classify(text);
        let score = |label: IntentLabel| c.scores.iter().find(|(l, _)| *l == label).map_or(0.0, |(_, s)| *s);
        Intent {
            label: c.label,
            confidence: c.confidence,
            scores: IntentScores {
                complaint: score(IntentLabel::Complaint),
                purchase: score(IntentLabel::Purchase),
                question: score(IntentLabel::Question),
                recommendation: score(IntentLabel::Recommendation),
            },
            signals: c.signals.iter().map(|s| (*s).to_owned()).collect(),
        }
    }
}
