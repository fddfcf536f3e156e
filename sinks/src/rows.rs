//! What every sink stores, decoded once from the envelopes of a batch: posts
//! (with their author snapshot and the entities and embedding stages added),
//! sheet rows and KOL scores. Each sink encodes these into its own format;
//! a record none of them can hold is refused with the reason, for the DLQ.

use std::collections::HashMap;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::Value;
use socialpipe_schemas::{ComponentError, Envelope, KolScoreRecord, PostPayload, RecordKind, SheetRowRecord};

/// One decoded record with its envelope.
pub enum Row {
    Post { post: Box<PostPayload>, envelope: Envelope },
    Sheet { row: SheetRowRecord, envelope: Envelope },
    Kol { score: KolScoreRecord, envelope: Envelope },
}

/// A batch split into rows (with their index in the batch) and refusals.
#[derive(Default)]
pub struct Decoded {
    pub rows: Vec<(usize, Row)>,
    pub rejected: Vec<(usize, ComponentError)>,
}

impl Decoded {
    /// Decodes every record of `batch`; `sink` names the sink in refusals.
    pub fn batch(batch: &[Envelope], sink: &str) -> Self {
        let mut decoded = Decoded::default();
        for (index, record) in batch.iter().enumerate() {
            match Row::decode(record, sink) {
                Ok(row) => decoded.rows.push((index, row)),
                Err(e) => decoded.rejected.push((index, e)),
            }
        }
        decoded
    }

    pub fn posts(&self) -> impl Iterator<Item = (&PostPayload, &Envelope)> {
        self.rows.iter().filter_map(|(_, row)| match row {
            Row::Post { post, envelope } => Some((post.as_ref(), envelope)),
            _ => None,
        })
    }

    pub fn sheets(&self) -> impl Iterator<Item = (&SheetRowRecord, &Envelope)> {
        self.rows.iter().filter_map(|(_, row)| match row {
            Row::Sheet { row, envelope } => Some((row, envelope)),
            _ => None,
        })
    }

    pub fn scores(&self) -> impl Iterator<Item = (&KolScoreRecord, &Envelope)> {
        self.rows.iter().filter_map(|(_, row)| match row {
            Row::Kol { score, envelope } => Some((score, envelope)),
            _ => None,
        })
    }

    /// Each author of the batch's posts once, as of their newest post (by
    /// event time): an author row is written once per batch, not per post.
    pub fn newest_authors(&self) -> Vec<&PostPayload> {
        let mut newest: HashMap<String, &PostPayload> = HashMap::new();
        for (post, _) in self.posts() {
            let slot = newest.entry(post.author_id()).or_insert(post);
            if post.created_at >= slot.created_at {
                *slot = post;
            }
        }
        let mut authors: Vec<&PostPayload> = newest.into_values().collect();
        authors.sort_by_key(|p| p.author_id());
        authors
    }

    /// Moves a row the store refused for good to the refusals.
    pub fn reject(&mut self, index: usize, error: ComponentError) {
        self.rows.retain(|(i, _)| *i != index);
        self.rejected.push((index, error));
    }
}

impl Row {
    pub fn decode(record: &Envelope, sink: &str) -> Result<Row, ComponentError> {
        let bad =
            |e: serde_json::Error| ComponentError::invalid(format!("payload does not match {}: {e}", record.schema));
        match record.kind() {
            Some(RecordKind::Post) => Ok(Row::Post {
                post: Box::new(PostPayload::from_envelope(record).map_err(bad)?),
                envelope: record.clone(),
            }),
            Some(RecordKind::SheetRow) => {
                Ok(Row::Sheet { row: record.payload_as().map_err(bad)?, envelope: record.clone() })
            }
            Some(RecordKind::KolScore) => {
                Ok(Row::Kol { score: record.payload_as().map_err(bad)?, envelope: record.clone() })
            }
            Some(RecordKind::DeadLetter) | None => {
                Err(ComponentError::invalid(format!("the {sink} sink does not store {} records", record.schema)))
            }
        }
    }

    pub fn envelope(&self) -> &Envelope {
        match self {
            Row::Post { envelope, .. } | Row::Sheet { envelope, .. } | Row::Kol { envelope, .. } => envelope,
        }
    }
}

/// RFC 3339 UTC with milliseconds, the text form of times in every store.
pub fn rfc3339(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The list `enrichments.entities.<field>` (hashtags, mentions, brands), if any.
pub fn entity_list<'a>(envelope: &'a Envelope, field: &str) -> Vec<&'a str> {
    envelope
        .enrichments
        .get("entities")
        .and_then(|e| e.get(field))
        .and_then(Value::as_array)
        .map(|items| items.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// `enrichments.embedding` when it is an array of numbers (stored natively).
pub fn embedding(envelope: &Envelope) -> Option<Vec<f32>> {
    let items = envelope.enrichments.get("embedding")?.as_array()?;
    items.iter().map(|v| v.as_f64().map(|x| x as f32)).collect()
}

/// Enrichments as JSON text.
pub fn enrichments_json(envelope: &Envelope) -> String {
    serde_json::to_string(&envelope.enrichments).expect("enrichments always serialise")
}
