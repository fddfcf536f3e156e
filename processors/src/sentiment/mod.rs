//! Stage `sentiment`: VADER (an exact port of vaderSentiment 3.3.2) on
//! every post. VADER's lexicon is English; a post detected as another
//! language with high confidence keeps its scores but is marked
//! `reliable: false` with the reason, so analysts can filter it out.
//! The combined `label` is VADER's until a learned model joins it.

mod pystr;
#[cfg(test)]
mod tests;
mod vader;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub use vader::{Polarity, Vader};

use crate::language::{Language, LanguageConfig, LanguageEnricher, LanguageStage, confidence_over_english};
use crate::{TextEnricher, TextStage};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SentimentConfig {
    /// A post detected as non-English at or above this confidence is
    /// marked unreliable.
    #[serde(default = "default_non_english_confidence")]
    pub non_english_confidence: f64,
}

/// Measured as a choice between the detected language and English only;
/// whatlang's threshold for a reliable detection.
fn default_non_english_confidence() -> f64 {
    0.9
}

impl Default for SentimentConfig {
    fn default() -> Self {
        SentimentConfig { non_english_confidence: default_non_english_confidence() }
    }
}

impl SentimentConfig {
    pub fn check(&self) -> Result<(), String> {
        crate::check_fraction("non_english_confidence", self.non_english_confidence)
    }
}

/// positive at compound ≥ 0.05, negative at ≤ −0.05 (VADER's own cut-offs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Label {
    Positive,
    Neutral,
    Negative,
}

impl Label {
    pub fn of_compound(compound: f64) -> Label {
        if compound >= 0.05 {
            Label::Positive
        } else if compound <= -0.05 {
            Label::Negative
        } else {
            Label::Neutral
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VaderScores {
    pub neg: f64,
    pub neu: f64,
    pub pos: f64,
    pub compound: f64,
    pub label: Label,
}

/// `enrichments.sentiment`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sentiment {
    pub vader: VaderScores,
    pub label: Label,
    pub reliable: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unreliable_reason: Option<String>,
}

pub struct SentimentEnricher {
    vader: &'static Vader,
    non_english_confidence: f64,
    /// For posts no `language` stage has seen.
    language: LanguageEnricher,
}

pub type SentimentStage = TextStage<SentimentEnricher>;

impl SentimentStage {
    pub fn new(config: &SentimentConfig) -> Self {
        TextStage(SentimentEnricher {
            vader: Vader::shared(),
            non_english_confidence: config.non_english_confidence,
            language: LanguageStage::new(&LanguageConfig::default()).0,
        })
    }
}

impl SentimentEnricher {
    pub fn sentiment(&self, text: &str, language: Option<Language>) -> Sentiment {
        let p = self.vader.polarity_scores(text);
        let label = Label::of_compound(p.compound);
        let language = language.unwrap_or_else(|| self.language.detect(text));
        let unreliable_reason = language.code.as_deref().and_then(|code| {
            let confidence = confidence_over_english(text, code);
            (confidence >= self.non_english_confidence).then(|| {
                format!("detected as {code} (confidence {confidence:.2} against English); VADER's lexicon is English")
            })
        });
        Sentiment {
            vader: VaderScores { neg: p.neg, neu: p.neu, pos: p.pos, compound: p.compound, label },
            label,
            reliable: unreliable_reason.is_none(),
            unreliable_reason,
        }
    }
}

impl TextEnricher for SentimentEnricher {
    const KEY: &'static str = "sentiment";

    fn enrich(&self, text: &str, enrichments: &Map<String, Value>) -> Value {
        serde_json::to_value(self.sentiment(text, Language::of(enrichments))).expect("sentiment always serialises")
    }
}
