//! socialpipe enrichment stages. One folder per stage: its config, its logic
//! and its tests. A stage writes its result under `enrichments.<stage type>`.

pub mod brand_safety;
pub mod dictionary;
pub mod emotion;
pub mod entities;
pub mod intent;
pub mod key_counter;
pub mod language;
pub mod passthrough;
pub mod sentiment;
pub mod topics;

use std::borrow::Cow;

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{Map, Value};
use socialpipe_schemas::{ComponentError, Envelope, Failed, Processor, RecordKind};

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
        let texts: Vec<Option<Result<Cow<'_, str>, ComponentError>>> =
            batch.iter().map(|r| (r.kind() == Some(RecordKind::Post)).then(|| post_text(r))).collect();
        let wanted: Vec<usize> = (0..batch.len()).filter(|&i| matches!(texts[i], Some(Ok(_)))).collect();
        let values = {
            let ok_texts: Vec<&str> =
                wanted.iter().map(|&i| texts[i].as_ref().and_then(|t| t.as_ref().ok()).map_or("", |t| t)).collect();
            let enrichments: Vec<&Map<String, Value>> = wanted.iter().map(|&i| &batch[i].enrichments).collect();
            self.0.enrich_all(&ok_texts, &enrichments)
        };
        let errors: Vec<Option<ComponentError>> = texts.into_iter().map(|t| t.and_then(|t| t.err())).collect();
        let mut values = wanted.into_iter().zip(values).peekable();
        batch
            .into_iter()
            .zip(errors)
            .enumerate()
            .map(|(i, (mut record, error))| {
                if let Some(error) = error {
                    return Err(Failed { record: Box::new(record), error });
                }
                if values.peek().is_some_and(|(at, _)| *at == i) {
                    let (_, value) = values.next().expect("peeked");
                    record.enrichments.insert(E::KEY.to_owned(), value);
                }
                Ok(record)
            })
            .collect()
    }
}
