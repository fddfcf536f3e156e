//! Building dead letters (bounded copies of the original plus why) and the
//! dead letters' envelopes (their topics: `TopicsConfig::dlq_topic`).

use chrono::{DateTime, Utc};
use socialpipe_schemas::{ComponentError, DeadLetter, Envelope, ErrorDomain, OriginalBytes, OriginalKind, Rejected};

use crate::runtime::transport::{Outgoing, new_trace_id};

/// How large a dead letter may grow: its copy of the original
/// (`max_dlq_payload_bytes`), and the whole message (the transport's limit:
/// a dead letter must always fit, or the component that writes it stops).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub original: usize,
    pub message: usize,
}

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

pub fn record_dead_letter(f: Failure<'_>, limits: Limits) -> Outgoing {
    let last_failure = Utc::now();
    let sha256 = socialpipe_schemas::sha256_hex(f.original);
    fitted(limits, |kept| {
        let letter = DeadLetter {
            stage: f.component.to_owned(),
            domain: f.error.domain,
            reason: f.error.reason.clone(),
            attempts: f.attempts,
            first_failure: f.first_failure,
            last_failure,
            record_id: f.record_id.clone(),
            location: None,
            input_topic: f.input_topic.to_owned(),
            original_kind: OriginalKind::Envelope,
            original: OriginalBytes::from_prefix(f.original, f.original.len() as u64, sha256.clone(), kept),
        };
        to_outgoing(letter, f.key.clone(), f.trace_id)
    })
}

/// A source's rejected input (a raw line) as a dead letter.
pub fn rejected_dead_letter(component: &str, rejected: Rejected, input_topic: &str, limits: Limits) -> Outgoing {
    let now = Utc::now();
    let trace_id = new_trace_id();
    fitted(limits, |kept| {
        let letter = DeadLetter {
            stage: component.to_owned(),
            domain: ErrorDomain::Invalid,
            reason: rejected.reason.clone(),
            attempts: 1,
            first_failure: now,
            last_failure: now,
            record_id: None,
            location: rejected.location.clone(),
            input_topic: input_topic.to_owned(),
            original_kind: OriginalKind::RawPost,
            original: OriginalBytes::from_prefix(&rejected.prefix, rejected.length, rejected.sha256.clone(), kept),
        };
        to_outgoing(letter, None, Some(&trace_id))
    })
}

/// Builds the letter keeping at most `limits.original` bytes of the original,
/// fewer when escaping makes the message outgrow `limits.message`.
fn fitted(limits: Limits, build: impl Fn(usize) -> Outgoing) -> Outgoing {
    let mut kept = limits.original;
    loop {
        let letter = build(kept);
        let size = letter.wire_size();
        if size <= limits.message || kept == 0 {
            return letter;
        }
        // In proportion, with a margin: one more round at most, in practice.
        let scaled = (kept as u128 * limits.message as u128 * 9 / 10 / size as u128) as usize;
        kept = scaled.min(kept - 1);
    }
}

/// A dead letter of `record` when the transport cannot take its `message`
/// whole (its limit is `limits.message`); `original` is what a replay
/// re-sends from `input_topic`.
pub fn too_large_letter(
    component: &str,
    record: &Envelope,
    message: &Outgoing,
    input_topic: &str,
    original: &[u8],
    limits: Limits,
) -> Option<Outgoing> {
    let (size, limit) = (message.wire_size(), limits.message);
    if size <= limit {
        return None;
    }
    let error =
        ComponentError::invalid(format!("record of {size} bytes exceeds the transport's limit of {limit} bytes"));
    let failure = Failure {
        component,
        error: &error,
        attempts: 1,
        first_failure: Utc::now(),
        record_id: Some(record.id.clone()),
        key: Some(record.key.clone()),
        input_topic,
        original,
        trace_id: message.headers.trace_id.as_deref(),
    };
    Some(record_dead_letter(failure, limits))
}

/// A source's (or `produce`'s) messages the transport takes, and dead
/// letters of those too large for it: whole records, nothing of them written.
pub fn fitting_or_dead(
    component: &str,
    topic: &str,
    records: &[Envelope],
    messages: Vec<Outgoing>,
    limits: Limits,
) -> (Vec<Outgoing>, Vec<Outgoing>) {
    let (mut fitting, mut letters) = (Vec::with_capacity(messages.len()), Vec::new());
    for (record, message) in records.iter().zip(messages) {
        match too_large_letter(component, record, &message, topic, &message.value, limits) {
            Some(letter) => letters.push(letter),
            None => fitting.push(message),
        }
    }
    (fitting, letters)
}

pub fn to_outgoing(letter: DeadLetter, key: Option<String>, trace_id: Option<&str>) -> Outgoing {
    Outgoing::record(&letter.into_envelope(key), trace_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dead_letter_is_cut_to_fit_the_message_limit_whatever_escaping_adds() {
        // Control characters take six bytes each once escaped in JSON.
        let original = vec![1u8; 600_000];
        let error = ComponentError::invalid("too odd");
        let failure = Failure {
            component: "stage",
            error: &error,
            attempts: 1,
            first_failure: Utc::now(),
            record_id: Some("x:1".into()),
            key: Some("k".into()),
            input_topic: "raw.posts",
            original: &original,
            trace_id: None,
        };
        let limits = Limits { original: 1 << 20, message: 1_000_000 };
        let letter = record_dead_letter(failure, limits);
        assert!(letter.wire_size() <= 1_000_000, "{}", letter.wire_size());
        let envelope = socialpipe_schemas::Envelope::from_bytes(&letter.value).unwrap();
        let letter = DeadLetter::from_envelope(&envelope).unwrap();
        assert!(letter.original.truncated && letter.original.length == 600_000);
        assert!(letter.original.data.len() > 100_000, "as much as fits is kept: {}", letter.original.data.len());
    }
}
