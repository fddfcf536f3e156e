//! What a webhook body holds: raw posts, or a Meta notification whose Page
//! feed changes become posts. Each item that does not map is rejected with
//! its JSON and the reason; a body that is not JSON is rejected whole.
//! Never panics, whatever the bytes (fuzzed: `make fuzz-webhook`).

use serde_json::{Value, json};
use socialpipe_schemas::{PostPayload, Rejected, validate_raw_post};

use crate::records::{reject, reject_bytes, strip_nulls};

pub fn parse(body: &[u8], location: &str) -> (Vec<PostPayload>, Vec<Rejected>) {
    let value: Value = match serde_json::from_slice(body) {
        Ok(value) => value,
        Err(e) => return (Vec::new(), vec![reject_bytes(body, format!("not JSON: {e}"), location)]),
    };
    let items: Vec<Result<Value, (Value, String)>> = match value {
        Value::Array(posts) => posts.into_iter().map(Ok).collect(),
        Value::Object(ref map) if map.contains_key("object") && map.contains_key("entry") => meta_posts(&value),
        Value::Object(_) => vec![Ok(value)],
        other => vec![Err((other, "a webhook body must be a JSON object or array".into()))],
    };
    let (mut posts, mut rejected) = (Vec::new(), Vec::new());
    for item in items {
        match item {
            Ok(raw) => match validate_raw_post(raw.clone()) {
                Ok(post) => posts.push(post),
                Err(e) => rejected.push(reject(&raw, e.to_string(), location)),
            },
            Err((raw, reason)) => rejected.push(reject(&raw, reason, location)),
        }
    }
    (posts, rejected)
}

/// A Meta notification (`{"object": "page", "entry": [{"id", "time",
/// "changes": [{"field": "feed", "value": {...}}]}]}`): each added or
/// edited post or status becomes a raw post; other changes are rejected.
fn meta_posts(notification: &Value) -> Vec<Result<Value, (Value, String)>> {
    let object = notification["object"].as_str().unwrap_or_default();
    let mut out = Vec::new();
    for entry in notification["entry"].as_array().into_iter().flatten() {
        for change in entry["changes"].as_array().into_iter().flatten() {
            out.push(meta_post(object, entry, change).map_err(|reason| (change.clone(), reason)));
        }
    }
    out
}

fn meta_post(object: &str, entry: &Value, change: &Value) -> Result<Value, String> {
    let v = &change["value"];
    if object != "page" || change["field"] != "feed" {
        return Err(format!("unsupported Meta change: object {object:?}, field {}", change["field"]));
    }
    if !matches!(v["item"].as_str(), Some("post" | "status")) || !matches!(v["verb"].as_str(), Some("add" | "edited")) {
        return Err(format!("a feed change that is not a new or edited post: item {}, verb {}", v["item"], v["verb"]));
    }
    let created = v["created_time"].as_i64().ok_or("value.created_time: missing (unix seconds)")?;
    let created = chrono::DateTime::from_timestamp(created, 0).ok_or("value.created_time: out of range")?;
    let mut raw = json!({
        "platform": "facebook",
        "id": v["post_id"],
        "text": v["message"].as_str().unwrap_or(""),
        "created_at": created.to_rfc3339(),
        "author": {"id": v["from"]["id"].as_str().or(entry["id"].as_str()), "name": v["from"]["name"]},
    });
    strip_nulls(&mut raw);
    Ok(raw)
}
