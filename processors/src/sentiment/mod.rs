//! Stage `sentiment`: VADER (an exact port of vaderSentiment 3.3.2) on
//! every post. VADER's lexicon is English; a post detected as another
//! language with high confidence keeps its scores but is marked
//! `reliable: false` with the reason, so analysts can filter it out.
//!
//! When an earlier `embed` stage wrote `enrichments.embedding`, a learned
//! head (logistic regression on the embedding, `head.rs`) adds `model`
//! scores. The combined `label` is then the model's when its top
//! probability is at least the head's `model_confidence`, VADER's
//! otherwise; `label_source` says which. Without an embedding `label` is
//! VADER's.

pub mod head;
mod pystr;
#[cfg(test)]
mod tests;
mod vader;

use std::path::PathBuf;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub use head::{HeadError, SentimentHead};
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
    /// Add the learned head's scores to posts that carry an embedding.
    #[serde(default = "default_model")]
    pub model: bool,
    /// A head trained by `socialpipe train-sentiment` (default: the
    /// committed one, processors/src/sentiment/model/head.json).
    #[serde(default)]
    pub head: Option<PathBuf>,
}

fn default_model() -> bool {
    true
}

/// Measured as a choice between the detected language and English only;
/// whatlang's threshold for a reliable detection.
fn default_non_english_confidence() -> f64 {
    0.9
}

impl Default for SentimentConfig {
    fn default() -> Self {
        SentimentConfig { non_english_confidence: default_non_english_confidence(), model: true, head: None }
    }
}

impl SentimentConfig {
    pub fn check(&self) -> Result<(), String> {
        crate::check_fraction("non_english_confidence", self.non_english_confidence)?;
        match &self.head {
            Some(path) => SentimentHead::load(path).map(drop).map_err(|e| e.to_string()),
            None => Ok(()),
        }
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
/// The learned head's view of a post.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelScores {
    pub label: Label,
    pub probabilities: Probabilities,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Probabilities {
    pub negative: f64,
    pub neutral: f64,
    pub positive: f64,
}

/// Which scorer the combined label is from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LabelSource {
    Vader,
    Model,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sentiment {
    pub vader: VaderScores,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<ModelScores>,
    /// The combined label (see the module's rule).
    pub label: Label,
    pub label_source: LabelSource,
    pub reliable: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unreliable_reason: Option<String>,
}

pub struct SentimentEnricher {
    vader: &'static Vader,
    non_english_confidence: f64,
    /// The learned head, unless the config turned it off.
    head: Option<Arc<SentimentHead>>,
    /// For posts no `language` stage has seen.
    language: LanguageEnricher,
}

pub type SentimentStage = TextStage<SentimentEnricher>;

impl SentimentStage {
    pub fn new(config: &SentimentConfig) -> Result<Self, HeadError> {
        let head = match (&config.head, config.model) {
            (_, false) => None,
            (Some(path), true) => Some(Arc::new(SentimentHead::load(path)?)),
            (None, true) => Some(Arc::new(SentimentHead::builtin().clone())),
        };
        Ok(TextStage(SentimentEnricher {
            vader: Vader::shared(),
            non_english_confidence: config.non_english_confidence,
            head,
            language: LanguageStage::new(&LanguageConfig::default()).0,
        }))
    }
}

impl SentimentEnricher {
    /// VADER's scores, the head's when an embedding is given, and the
    /// combined label.
    pub fn sentiment(&self, text: &str, language: Option<Language>, embedding: Option<&[f32]>) -> Sentiment {
        let p = self.vader.polarity_scores(text);
        let vader_label = Label::of_compound(p.compound);
        let language = language.unwrap_or_else(|| self.language.detect(text));
        let unreliable_reason = language.code.as_deref().and_then(|code| {
            let confidence = confidence_over_english(text, code);
            (confidence >= self.non_english_confidence).then(|| {
                format!("detected as {code} (confidence {confidence:.2} against English); VADER's lexicon is English")
            })
        });
        let mut label = (vader_label, LabelSource::Vader);
        let model = self.head.as_ref().zip(embedding).map(|(head, embedding)| {
            let [negative, neutral, positive] = head.probabilities(embedding);
            let best = head::argmax(&[negative, neutral, positive]);
            let model_label = head::LABELS[best];
            if [negative, neutral, positive][best] >= head.model_confidence {
                label = (model_label, LabelSource::Model);
            }
            ModelScores { label: model_label, probabilities: Probabilities { negative, neutral, positive } }
        });
        Sentiment {
            vader: VaderScores { neg: p.neg, neu: p.neu, pos: p.pos, compound: p.compound, label: vader_label },
            model,
            label: label.0,
            label_source: label.1,
            reliable: unreliable_reason.is_none(),
            unreliable_reason,
        }
    }
}

impl TextEnricher for SentimentEnricher {
    const KEY: &'static str = "sentiment";

    fn enrich(&self, text: &str, enrichments: &Map<String, Value>) -> Value {
        let embedding = enrichments.get(crate::embed::KEY).and_then(crate::embed::from_json);
        serde_json::to_value(self.sentiment(text, Language::of(enrichments), embedding.as_deref()))
            .expect("sentiment always serialises")
    }
}
