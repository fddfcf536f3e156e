//! Dead letters: what a stage could not process, why, and the original bytes
//! (bounded: long payloads keep their first bytes plus length and sha256).

use base64::Engine;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::envelope::{Envelope, RecordKind};
use crate::error::ErrorDomain;

/// The original input of a dead letter, possibly truncated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OriginalBytes {
    /// `utf8` when `data` is the text itself, `base64` for bytes that are not UTF-8.
    pub encoding: String,
    pub data: String,
    /// Length of the whole original, in bytes.
    pub length: u64,
    /// sha256 of the whole original, hex.
    pub sha256: String,
    /// True when `data` holds only the first bytes of the original.
    pub truncated: bool,
}

/// sha256 of `bytes`, lower-case hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

impl OriginalBytes {
    /// Captures `bytes`, keeping at most `max_bytes` of them.
    pub fn capture(bytes: &[u8], max_bytes: usize) -> Self {
        let sha256 = sha256_hex(bytes);
        Self::from_prefix(bytes, bytes.len() as u64, sha256, max_bytes)
    }

    /// Builds from the first bytes of an original whose full length and
    /// sha256 were measured while streaming it (e.g. a 10 MB line).
    pub fn from_prefix(prefix: &[u8], length: u64, sha256: String, max_bytes: usize) -> Self {
        let kept = &prefix[..prefix.len().min(max_bytes)];
        let truncated = (kept.len() as u64) < length;
        // A cut may split a UTF-8 sequence: keep the text readable up to the cut.
        let (encoding, data) = match std::str::from_utf8(kept) {
            Ok(text) => ("utf8", text.to_owned()),
            Err(e) if truncated && e.error_len().is_none() => {
                ("utf8", String::from_utf8_lossy(&kept[..e.valid_up_to()]).into_owned())
            }
            Err(_) => ("base64", base64::engine::general_purpose::STANDARD.encode(kept)),
        };
        OriginalBytes { encoding: encoding.to_owned(), data, length, sha256, truncated }
    }

    /// The kept bytes (the whole original unless `truncated`).
    pub fn bytes(&self) -> Vec<u8> {
        match self.encoding.as_str() {
            "base64" => base64::engine::general_purpose::STANDARD.decode(&self.data).unwrap_or_default(),
            _ => self.data.clone().into_bytes(),
        }
    }
}

/// Payload of a `dead_letter/v1` record on a `dlq.<stage>` topic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadLetter {
    /// The component that rejected the record.
    pub stage: String,
    pub domain: ErrorDomain,
    pub reason: String,
    pub attempts: u32,
    pub first_failure: DateTime<Utc>,
    pub last_failure: DateTime<Utc>,
    /// Id of the rejected record, when it had one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record_id: Option<String>,
    /// Where the input was, e.g. `posts.jsonl:1234`, when a source knows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// Where `dlq replay` puts the record back.
    pub input_topic: String,
    /// What `original` holds, which decides how `dlq replay` re-injects it.
    pub original_kind: OriginalKind,
    pub original: OriginalBytes,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OriginalKind {
    /// A raw post as a source read it (validated again on replay).
    RawPost,
    /// An envelope from a topic (re-sent as it is on replay).
    Envelope,
}

impl DeadLetter {
    pub fn into_envelope(self, key: Option<String>) -> Envelope {
        let id = match &self.record_id {
            Some(id) => format!("dlq:{}:{id}", self.stage),
            None => format!("dlq:{}:sha256:{}", self.stage, self.original.sha256),
        };
        let key = key.unwrap_or_else(|| id.clone());
        let event_time = self.last_failure;
        let stage = self.stage.clone();
        let payload = Envelope::encode_payload(&self);
        Envelope::new(RecordKind::DeadLetter, id, key, &stage, event_time, payload)
    }

    pub fn from_envelope(envelope: &Envelope) -> Result<Self, serde_json::Error> {
        envelope.payload_as()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_payloads_are_kept_whole() {
        let o = OriginalBytes::capture(b"hello", 1024);
        assert_eq!((o.encoding.as_str(), o.data.as_str(), o.length, o.truncated), ("utf8", "hello", 5, false));
        assert_eq!(o.bytes(), b"hello");
    }

    #[test]
    fn long_payloads_keep_prefix_length_and_hash_of_the_whole() {
        let big = vec![b'x'; 10_000];
        let o = OriginalBytes::capture(&big, 100);
        assert!(o.truncated);
        assert_eq!(o.data.len(), 100);
        assert_eq!(o.length, 10_000);
        assert_eq!(o.sha256, hex::encode(Sha256::digest(&big)));
    }

    #[test]
    fn invalid_utf8_is_kept_as_base64() {
        let o = OriginalBytes::capture(b"a\xffb", 100);
        assert_eq!(o.encoding, "base64");
        assert_eq!(o.bytes(), b"a\xffb");
    }

    #[test]
    fn a_cut_inside_a_utf8_sequence_stays_text() {
        let o = OriginalBytes::capture("ééé".as_bytes(), 3);
        assert_eq!((o.encoding.as_str(), o.data.as_str(), o.truncated), ("utf8", "é", true));
    }
}
