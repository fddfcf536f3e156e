//! The versioned envelope that wraps every message on every topic.
//! `id` is stable and deterministic, so sinks can write idempotently; a changed
//! record keeps its id and gets a higher `version`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

/// The record types an envelope can carry, named by the `schema` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordKind {
    Post,
    SheetRow,
    KolScore,
    DeadLetter,
}

impl RecordKind {
    pub const ALL: [RecordKind; 4] =
        [RecordKind::Post, RecordKind::SheetRow, RecordKind::KolScore, RecordKind::DeadLetter];

    /// The `schema` value written for this kind (name/major version).
    pub fn schema(self) -> &'static str {
        match self {
            RecordKind::Post => "post/v1",
            RecordKind::SheetRow => "sheet_row/v1",
            RecordKind::KolScore => "kol_score/v1",
            RecordKind::DeadLetter => "dead_letter/v1",
        }
    }

    pub fn from_schema(schema: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.schema() == schema)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Envelope {
    /// Record type and major version, e.g. `post/v1`.
    pub schema: String,
    /// `<platform>:<native id>` for posts; stable across redeliveries.
    pub id: String,
    /// Partitioning key: the author id for posts, so an author stays in one partition.
    pub key: String,
    /// Name of the component that created the record.
    pub source: String,
    /// Monotonic version of this id (milliseconds of ingest); the highest wins in sinks.
    pub version: i64,
    pub event_time: DateTime<Utc>,
    pub ingest_time: DateTime<Utc>,
    /// The record, kept as JSON text: stages that do not read it pass it on
    /// without parsing it (see `payload_as`).
    pub payload: Box<RawValue>,
    /// Stage name → that stage's result.
    #[serde(default)]
    pub enrichments: Map<String, Value>,
}

#[derive(Debug, thiserror::Error)]
pub enum EnvelopeError {
    #[error("not an envelope: {0}")]
    Decode(#[from] serde_json::Error),
    #[error("unknown schema {0:?}")]
    UnknownSchema(String),
}

impl Envelope {
    pub fn new(
        kind: RecordKind,
        id: String,
        key: String,
        source: &str,
        event_time: DateTime<Utc>,
        payload: Box<RawValue>,
    ) -> Self {
        let ingest_time = Utc::now();
        Envelope {
            schema: kind.schema().to_owned(),
            id,
            key,
            source: source.to_owned(),
            version: ingest_time.timestamp_millis(),
            event_time,
            ingest_time,
            payload,
            enrichments: Map::new(),
        }
    }

    pub fn kind(&self) -> Option<RecordKind> {
        RecordKind::from_schema(&self.schema)
    }

    /// Decodes the payload (or the part of it a reader's type names).
    pub fn payload_as<'a, T: Deserialize<'a>>(&'a self) -> Result<T, serde_json::Error> {
        serde_json::from_str(self.payload.get())
    }

    /// The payload of a record type as JSON text.
    pub fn encode_payload(payload: &impl Serialize) -> Box<RawValue> {
        serde_json::value::to_raw_value(payload).expect("record types always serialise")
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("an envelope always serialises")
    }

    /// Decodes an envelope and checks that its schema is one this build knows.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, EnvelopeError> {
        let envelope: Envelope = serde_json::from_slice(bytes)?;
        if envelope.kind().is_none() {
            return Err(EnvelopeError::UnknownSchema(envelope.schema));
        }
        Ok(envelope)
    }
}
