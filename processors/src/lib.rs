//! socialpipe enrichment stages. One folder per stage: its config, its logic
//! and its tests. A stage writes its result under `enrichments.<stage type>`.

pub mod brand_safety;
pub mod dictionary;
pub mod embed;
pub mod emotion;
pub mod entities;
pub mod intent;
pub mod key_counter;
pub mod kol;
pub mod language;
pub mod passthrough;
pub mod sentiment;
pub mod topics;

use std::borrow::Cow;

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{Map, Value};
use socialpipe_schemas::{ComponentError, Envelope, Failed, Processor, RecordKind};

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

/// A stateless stage that reads a post's text (and what earlier stages
/// wrote) and adds one enrichment. Records that are not posts pass
/// untouched; a post without a text is invalid (it goes to the DLQ).
pub trait TextEnricher: Send + Sync {
    /// The key under `enrichments`.
    const KEY: &'static str;
    fn enrich(&self, text: &str, enrichments: &Map<String, Value>) -> Value;

    /// Every text of a batch at once, for stages that gain from it (the
    /// emotion model evaluates trees across rows and uses both cores).
    fn enrich_all(&self, texts: &[&str], enrichments: &[&Map<String, Value>]) -> Vec<Value> {
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
                Some(Err(error)) => Err(Failed { record: Box::new(record), error }),
                Some(Ok(())) => {
                    record.enrichments.insert(E::KEY.to_owned(), values.next().expect("one value per post"));
                    Ok(record)
                }
            })
            .collect()
    }
}
