//! socialpipe enrichment stages. One folder per stage: its config, its logic
//! and its tests, registered on one line below. A stage writes its result
//! under its key of the enrichment contract (`socialpipe_schemas::enrichment`).
//! `key_counter`, `passthrough` and `fault` are test and bench stages (feature `testing`).

pub mod dictionary;

pub use embed::set_process_defaults;

socialpipe_schemas::registry! {
    /// A stage, selected by its `type`.
    pub enum StageKind: dyn StageConfig {
        language => Language(LanguageConfig),
        entities => Entities(EntitiesConfig),
        embed => Embed(EmbedConfig),
        sentiment => Sentiment(SentimentConfig),
        emotion => Emotion(EmotionConfig),
        intent => Intent(IntentConfig),
        topics => Topics(TopicsConfig),
        brand_safety => BrandSafety(BrandSafetyConfig),
        kol => Kol(KolConfig),
        #[cfg(feature = "testing")] key_counter => KeyCounter(KeyCounterConfig),
        #[cfg(feature = "testing")] passthrough => Passthrough(PassthroughConfig),
        #[cfg(feature = "testing")] fault => Fault(FaultConfig),
    }
}

use std::borrow::Cow;

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{Map, Value};
use socialpipe_schemas::{ComponentError, Enrichment, Envelope, Failed, Processor, RecordKind, StageConfig};

/// A mention, hashtag, cashtag or URL token: not prose, for the stages
/// that look at the words (language, topics).
pub(crate) fn is_markup(token: &str) -> bool {
    let starts = |prefix: &str| token.get(..prefix.len()).is_some_and(|t| t.eq_ignore_ascii_case(prefix));
    token.starts_with(['@', '#', '$', '＠', '＃']) || starts("http://") || starts("https://") || starts("www.")
}

/// A setting that is a fraction: within [0, 1] (NaN is not).
pub fn check_fraction(name: &str, value: f64) -> Result<(), String> {
    if (0.0..=1.0).contains(&value) { Ok(()) } else { Err(format!("{name} must be within [0, 1], not {value}")) }
}

/// A component that cannot start (a model that does not load, a
/// dictionary that does not build): fatal, with the cause.
pub(crate) fn cannot_start(cause: impl std::fmt::Display) -> ComponentError {
    ComponentError::fatal(cause.to_string())
}

/// A stateless stage that reads a post's text (and what earlier stages
/// wrote) and adds one enrichment of the contract. Records that are not
/// posts pass untouched; a post without a text is invalid (it goes to the DLQ).
pub trait TextEnricher: Send + Sync {
    /// What it writes, under `Output::KEY`.
    type Output: Enrichment;

    fn enrich(&self, text: &str, enrichments: &Map<String, Value>) -> Self::Output;

    /// Enriches `text` and stores the value under its key, as the stage
    /// does for a record (for callers holding only the enrichments).
    fn enrich_into(&self, text: &str, enrichments: &mut Map<String, Value>) {
        let value = self.enrich(text, enrichments);
        socialpipe_schemas::enrichment::write(enrichments, &value);
    }

    /// Every text of a batch at once, for stages that gain from it (the
    /// emotion model evaluates trees across rows and uses both cores).
    fn enrich_all(&self, texts: &[&str], enrichments: &[&Map<String, Value>]) -> Vec<Self::Output> {
        texts.iter().zip(enrichments).map(|(text, e)| self.enrich(text, e)).collect()
    }
}

/// The `Processor` of every `TextEnricher`.
pub struct TextStage<E>(pub E);

/// A post's text, borrowed from the payload when it has no escapes.
pub fn post_text(record: &Envelope) -> Result<Cow<'_, str>, ComponentError> {
    #[derive(Deserialize)]
    struct Text<'a> {
        #[serde(borrow)]
        text: Cow<'a, str>,
    }
    let Text { text } = record.payload_as().map_err(|e| ComponentError::invalid(format!("payload.text: {e}")))?;
    Ok(text)
}

#[async_trait]
impl<E: TextEnricher> Processor for TextStage<E> {
    async fn process(&mut self, batch: Vec<Envelope>) -> Vec<Result<Envelope, Failed>> {
        // Per record: None (not a post: passed on), its text, or why it has none.
        let texts: Vec<Option<Result<Cow<'_, str>, ComponentError>>> =
            batch.iter().map(|r| (r.kind() == Some(RecordKind::Post)).then(|| post_text(r))).collect();
        let values = {
            let (mut posts, mut enrichments) = (Vec::new(), Vec::new());
            for (record, text) in batch.iter().zip(&texts) {
                if let Some(Ok(text)) = text {
                    posts.push(text.as_ref());
                    enrichments.push(&record.enrichments);
                }
            }
            self.0.enrich_all(&posts, &enrichments)
        };
        let outcomes: Vec<Option<Result<(), ComponentError>>> =
            texts.into_iter().map(|t| t.map(|text| text.map(drop))).collect();
        let mut values = values.into_iter();
        batch
            .into_iter()
            .zip(outcomes)
            .map(|(mut record, outcome)| match outcome {
                None => Ok(record),
                Some(Err(error)) => Err(Failed::new(record, error)),
                Some(Ok(())) => {
                    record.set_enrichment(&values.next().expect("one value per post"));
                    Ok(record)
                }
            })
            .collect()
    }
}
