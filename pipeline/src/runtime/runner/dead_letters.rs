//! Building dead letters (bounded copies of the original plus why) and the
//! dead letters' envelopes (their topics: `TopicsConfig::dlq_topic`).

use chrono::{DateTime, Utc};
use socialpipe_schemas::{ComponentError, DeadLetter, ErrorDomain, OriginalBytes, OriginalKind, Rejected};

use crate::runtime::transport::{Outgoing, new_trace_id};

/// One failure of one record, with what replay needs.
pub struct Failure<'a> {
    pub component: &'a str,
    pub error: &'a ComponentError,
    pub attempts: u32,
    pub first_failure: DateTime<Utc>,
    pub record_id: Option<String>,
    pub key: Option<String>,
    pub input_topic: &'a str,
    pub original: &'a [u8],
    /// The trace id of the record that failed, when its message carried one.
    pub trace_id: Option<&'a str>,
}

pub fn record_dead_letter(f: Failure<'_>, max_bytes: usize) -> Outgoing {
    let letter = DeadLetter {
        stage: f.component.to_owned(),
        domain: f.error.domain,
        reason: f.error.reason.clone(),
        attempts: f.attempts,
        first_failure: f.first_failure,
        last_failure: Utc::now(),
        record_id: f.record_id,
        location: None,
        input_topic: f.input_topic.to_owned(),
        original_kind: OriginalKind::Envelope,
        original: OriginalBytes::capture(f.original, max_bytes),
    };
    to_outgoing(letter, f.key, f.trace_id)
}

/// A source's rejected input (a raw line) as a dead letter.
pub fn rejected_dead_letter(component: &str, rejected: Rejected, input_topic: &str, max_bytes: usize) -> Outgoing {
    let now = Utc::now();
    let letter = DeadLetter {
        stage: component.to_owned(),
        domain: ErrorDomain::Invalid,
        reason: rejected.reason,
        attempts: 1,
        first_failure: now,
        last_failure: now,
        record_id: None,
        location: rejected.location,
        input_topic: input_topic.to_owned(),
        original_kind: OriginalKind::RawPost,
        original: OriginalBytes::from_prefix(&rejected.prefix, rejected.length, rejected.sha256, max_bytes),
    };
    to_outgoing(letter, None, Some(&new_trace_id()))
}

pub fn to_outgoing(letter: DeadLetter, key: Option<String>, trace_id: Option<&str>) -> Outgoing {
    Outgoing::record(&letter.into_envelope(key), trace_id)
}
