//! What sources share about the records they make: input that does not
//! map goes to the DLQ with its bytes and the reason; a provider's item
//! becomes a post only through the same validation as any raw post.

use serde_json::Value;
use socialpipe_schemas::{PostPayload, Rejected, sha256_hex, validate_raw_post};

/// Bytes of a rejected item kept in its dead letter.
const MAX_REJECTED_BYTES: usize = 64 * 1024;

/// An item of a provider's answer that does not map to a post, for the DLQ
/// with its JSON.
pub fn reject(raw: &Value, reason: String, location: &str) -> Rejected {
    reject_bytes(raw.to_string().as_bytes(), reason, location)
}

/// Input that does not map, as received, for the DLQ (the first 64 KiB).
pub fn reject_bytes(bytes: &[u8], reason: String, location: &str) -> Rejected {
    Rejected {
        length: bytes.len() as u64,
        sha256: sha256_hex(bytes),
        prefix: bytes[..bytes.len().min(MAX_REJECTED_BYTES)].to_vec(),
        reason,
        location: Some(location.to_owned()),
    }
}

/// A provider's item mapped to a raw post, validated like any input
/// (absent fields left out rather than sent as null).
pub fn to_post(mut raw: Value, what: &str) -> Result<PostPayload, String> {
    strip_nulls(&mut raw);
    validate_raw_post(raw).map_err(|e| format!("{what} does not map to a post: {e}"))
}

/// Absent fields are left out of a mapped post rather than sent as null.
pub fn strip_nulls(value: &mut Value) {
    if let Value::Object(map) = value {
        map.retain(|_, v| !v.is_null());
        map.values_mut().for_each(strip_nulls);
    }
}
