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
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::dictionary::fold;
use crate::{TextEnricher, TextStage};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Intent {
    Purchase,
    Complaint,
    Question,
    Recommendation,
    Other,
}

/// The classes patterns vote for, in the order ties are broken.
const CLASSES: [Intent; 4] = [Intent::Complaint, Intent::Purchase, Intent::Question, Intent::Recommendation];

/// Word boundaries are ASCII ones: the folded text's letters are mostly
/// ASCII, and Unicode boundaries keep the regex engine off its fast DFA.
static MATCHER: LazyLock<RegexSet> = LazyLock::new(|| {
    RegexSet::new(patterns::PATTERNS.iter().map(|p| p.3.replace(r"\b", r"(?-u:\b)")))
        .expect("the intent patterns compile")
});

#[derive(Debug, Clone, Deserialize)]
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

impl IntentConfig {
    pub fn check(&self) -> Result<(), String> {
        crate::check_fraction("min_confidence", self.min_confidence)
    }
}

/// One post's intent.
#[derive(Debug, Clone, PartialEq)]
pub struct Classified {
    pub label: Intent,
    pub confidence: f64,
    pub scores: [(Intent, f64); 4],
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
            scores.iter().copied().fold((Intent::Other, 0.0), |best, (c, s)| if s > best.1 { (c, s) } else { best });
        let (label, confidence) = if confidence >= self.min_confidence {
            (best, confidence)
        } else {
            // How sure "other" is: how far the best class is from counting.
            (Intent::Other, 1.0 - confidence)
        };
        Classified { label, confidence, scores, signals }
    }
}

impl TextEnricher for IntentEnricher {
    const KEY: &'static str = "intent";

    fn enrich(&self, text: &str, _: &Map<String, Value>) -> Value {
        let c = self.classify(text);
        let scores: Map<String, Value> = c
            .scores
            .iter()
            .map(|(class, s)| {
                (serde_json::to_value(class).expect("a label").as_str().unwrap_or_default().to_owned(), json!(s))
            })
            .collect();
        json!({"label": c.label, "confidence": c.confidence, "scores": scores, "signals": c.signals})
    }
}
