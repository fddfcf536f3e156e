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
pub mod train;
mod vader;

use std::path::PathBuf;
use std::sync::Arc;

use serde::Deserialize;
use serde_json::{Map, Value};
use socialpipe_schemas::enrichment::{
    Embedding, Language, LabelSource, ModelScores, Probabilities, Sentiment, SentimentLabel, VaderScores,
};
use socialpipe_schemas::{ComponentError, Enrichment, Processor, StageConfig};

pub use head::{HeadError, SentimentHead};
pub use vader::{Polarity, Vader};

use crate::language::{LanguageConfig, LanguageEnricher, LanguageStage, confidence_over_english};
use crate::{TextEnricher, TextStage, cannot_start};

/// Writes `enrichments.sentiment`: VADER's scores (an exact port of
/// vaderSentiment 3.3.2) on every post and, when an earlier `embed` stage
/// wrote the post's embedding, the learned head's; the combined `label` is
/// the head's when its top probability reaches the head's
/// `model_confidence`, VADER's otherwise. A post confidently detected as
/// another language than English is marked `reliable: false` with the reason.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SentimentConfig {
    /// A post detected as non-English at or above this confidence (asked
    /// as "that language or English?") is marked unreliable.
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

impl StageConfig for SentimentConfig {
    fn check(&self) -> Result<(), String> {
        crate::check_fraction("non_english_confidence", self.non_english_confidence)?;
        match &self.head {
            Some(path) => SentimentHead::load(path).map(drop).map_err(|e| e.to_string()),
            None => Ok(()),
        }
    }

    fn build(&self) -> Result<Box<dyn Processor>, ComponentError> {
        Ok(Box::new(SentimentStage::new(self).map_err(cannot_start)?))
    }

    /// The language stage's detection (else it detects one itself), and
    /// the embedding when the head is on.
    fn reads(&self) -> Vec<&'static str> {
        let mut reads = vec![Language::KEY];
        if self.model {
            reads.push(Embedding::KEY);
        }
        reads
    }

    fn setting_without(&self, key: &str) -> Option<&'static str> {
        (key == Embedding::KEY).then_some("model = false")
    }

    fn writes(&self) -> Vec<&'static str> {
        vec![Sentiment::KEY]
    }
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
        let vader_label = SentimentLabel::of_compound(p.compound);
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
    type Output = Sentiment;

    fn enrich(&self, text: &str, enrichments: &Map<String, Value>) -> Sentiment {
        let embedding = crate::embed::of(enrichments);
        let language = socialpipe_schemas::enrichment::read::<Language>(enrichments);
        self.sentiment(text, language, embedding.as_deref())
    }
}
