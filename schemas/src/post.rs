//! Raw social posts: parsing, validation and normalisation into the `post/v1`
//! payload. Every validation error names the field path and the rule broken.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::envelope::{Envelope, RecordKind};

/// Longest accepted post text, in bytes of UTF-8.
pub const MAX_TEXT_BYTES: usize = 65_536;

/// The normalised payload of a `post/v1` record. Unknown fields are kept in `extra`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PostPayload {
    pub platform: String,
    pub id: String,
    pub author: Author,
    pub text: String,
    pub created_at: DateTime<Utc>,
    #[serde(default)]
    pub metrics: Metrics,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lang: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Author {
    pub id: String,
    #[serde(flatten)]
    pub profile: Profile,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verified: Option<bool>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// What a post or a roster says of an author besides its id: what every
/// store's authors table keeps of both.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handle: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub followers: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub following: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub likes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comments: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shares: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub views: Option<u64>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl PostPayload {
    /// `<platform>:<id>`, the record id.
    pub fn record_id(&self) -> String {
        format!("{}:{}", self.platform, self.id)
    }

    /// `<platform>:<author.id>`, the author id and the envelope key.
    pub fn author_id(&self) -> String {
        format!("{}:{}", self.platform, self.author.id)
    }

    pub fn into_envelope(self, source: &str) -> Envelope {
        let id = self.record_id();
        let key = self.author_id();
        let event_time = self.created_at;
        let payload = Envelope::encode_payload(&self);
        Envelope::new(RecordKind::Post, id, key, source, event_time, payload)
    }

    pub fn from_envelope(envelope: &Envelope) -> Result<Self, serde_json::Error> {
        envelope.payload_as()
    }
}

/// Why a raw post was rejected. The message lists every broken rule,
/// each as `field.path: rule`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RawPostError {
    #[error("invalid UTF-8 at byte {0}")]
    Utf8(usize),
    #[error("invalid JSON: {0}")]
    Json(String),
    #[error("{}", .0.join("; "))]
    Fields(Vec<String>),
}

/// Parses and validates one raw post (a JSON object as bytes).
pub fn parse_raw_post(bytes: &[u8]) -> Result<PostPayload, RawPostError> {
    let text = std::str::from_utf8(bytes).map_err(|e| RawPostError::Utf8(e.valid_up_to()))?;
    let value: Value = serde_json::from_str(text).map_err(|e| RawPostError::Json(e.to_string()))?;
    validate_raw_post(value)
}

/// Validates a decoded raw post and normalises it (ids to strings, platform to
/// lower case, times to UTC).
pub fn validate_raw_post(value: Value) -> Result<PostPayload, RawPostError> {
    let Value::Object(mut root) = value else {
        return Err(RawPostError::Fields(vec!["(root): must be a JSON object".into()]));
    };
    let mut problems = Vec::new();

    let platform = match root.get("platform") {
        None | Some(Value::Null) => {
            problems.push("platform: missing".to_owned());
            None
        }
        Some(Value::String(s)) if is_platform_name(s) => Some(s.to_ascii_lowercase()),
        Some(_) => {
            problems.push("platform: must be a non-empty string of letters, digits, '_' or '-'".to_owned());
            None
        }
    };
    let id = take_id(root.get("id"), "id", &mut problems);
    let text = match root.get("text") {
        None | Some(Value::Null) => {
            problems.push("text: missing".to_owned());
            None
        }
        Some(Value::String(s)) if s.len() > MAX_TEXT_BYTES => {
            problems.push(format!("text: {} bytes > {MAX_TEXT_BYTES}", s.len()));
            None
        }
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => {
            problems.push("text: must be a string".to_owned());
            None
        }
    };
    let created_at = match root.get("created_at") {
        None | Some(Value::Null) => {
            problems.push("created_at: missing".to_owned());
            None
        }
        Some(Value::String(s)) => match DateTime::parse_from_rfc3339(s) {
            Ok(t) => Some(t.with_timezone(&Utc)),
            Err(_) => {
                problems.push("created_at: not RFC 3339".to_owned());
                None
            }
        },
        Some(_) => {
            problems.push("created_at: not RFC 3339".to_owned());
            None
        }
    };
    let author = match root.remove("author") {
        None | Some(Value::Null) => {
            problems.push("author.id: missing".to_owned());
            None
        }
        Some(Value::Object(author)) => validate_author(author, &mut problems),
        Some(_) => {
            problems.push("author: must be an object".to_owned());
            None
        }
    };
    let metrics = match root.remove("metrics") {
        None | Some(Value::Null) => Some(Metrics::default()),
        Some(Value::Object(metrics)) => validate_metrics(metrics, &mut problems),
        Some(_) => {
            problems.push("metrics: must be an object".to_owned());
            None
        }
    };
    let lang = optional_string(&root, "lang", &mut problems);
    let url = optional_string(&root, "url", &mut problems);

    match (platform, id, text, created_at, author, metrics) {
        (Some(platform), Some(id), Some(text), Some(created_at), Some(author), Some(metrics))
            if problems.is_empty() =>
        {
            for known in ["platform", "id", "text", "created_at", "lang", "url"] {
                root.remove(known);
            }
            Ok(PostPayload { platform, id, author, text, created_at, metrics, lang, url, extra: root })
        }
        _ => Err(RawPostError::Fields(problems)),
    }
}

fn is_platform_name(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn take_id(value: Option<&Value>, path: &str, problems: &mut Vec<String>) -> Option<String> {
    match value {
        None | Some(Value::Null) => {
            problems.push(format!("{path}: missing"));
            None
        }
        Some(Value::String(s)) if !s.is_empty() && s.len() <= 256 => Some(s.clone()),
        Some(Value::Number(n)) if n.is_u64() => Some(n.to_string()),
        Some(_) => {
            problems.push(format!("{path}: must be a non-empty string (at most 256 bytes) or a non-negative integer"));
            None
        }
    }
}

fn optional_string(root: &Map<String, Value>, field: &str, problems: &mut Vec<String>) -> Option<String> {
    match root.get(field) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => {
            problems.push(format!("{field}: must be a string"));
            None
        }
    }
}

fn count(map: &mut Map<String, Value>, parent: &str, field: &str, problems: &mut Vec<String>) -> Option<u64> {
    match map.remove(field) {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) if n.is_u64() => n.as_u64(),
        Some(_) => {
            problems.push(format!("{parent}.{field}: must be a non-negative integer"));
            None
        }
    }
}

fn validate_author(mut author: Map<String, Value>, problems: &mut Vec<String>) -> Option<Author> {
    let before = problems.len();
    let id = take_id(author.get("id"), "author.id", problems);
    let handle = optional_string(&author, "handle", problems).map(|h| h.trim_start_matches('@').to_owned());
    let name = optional_string(&author, "name", problems);
    let followers = count(&mut author, "author", "followers", problems);
    let following = count(&mut author, "author", "following", problems);
    let verified = match author.remove("verified") {
        None | Some(Value::Null) => None,
        Some(Value::Bool(b)) => Some(b),
        Some(_) => {
            problems.push("author.verified: must be a boolean".to_owned());
            None
        }
    };
    for known in ["id", "handle", "name"] {
        author.remove(known);
    }
    if problems.len() > before {
        return None;
    }
    Some(Author { id: id?, profile: Profile { handle, name, followers, following }, verified, extra: author })
}

fn validate_metrics(mut metrics: Map<String, Value>, problems: &mut Vec<String>) -> Option<Metrics> {
    let before = problems.len();
    let likes = count(&mut metrics, "metrics", "likes", problems);
    let comments = count(&mut metrics, "metrics", "comments", problems);
    let shares = count(&mut metrics, "metrics", "shares", problems);
    let views = count(&mut metrics, "metrics", "views", problems);
    if problems.len() > before {
        return None;
    }
    Some(Metrics { likes, comments, shares, views, extra: metrics })
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = r#"{"platform":"twitter","id":"1790000000000000001","author":{"id":"42","handle":"alice","name":"Alice","followers":12000,"following":300,"verified":false},"text":"Loving the new @acme phone! #tech","created_at":"2026-11-20T10:15:00Z","metrics":{"likes":120,"comments":8,"shares":15,"views":5400},"lang":"en","url":"https://x.com/alice/status/1790000000000000001"}"#;

    fn errors(input: &str) -> String {
        parse_raw_post(input.as_bytes()).unwrap_err().to_string()
    }

    #[test]
    fn documented_example_becomes_a_post_keyed_by_author() {
        let post = parse_raw_post(EXAMPLE.as_bytes()).unwrap();
        assert_eq!(post.record_id(), "twitter:1790000000000000001");
        assert_eq!(post.author_id(), "twitter:42");
        assert_eq!(post.metrics.likes, Some(120));
        assert_eq!(post.author.profile.followers, Some(12000));
        let json = serde_json::to_value(&post).unwrap();
        assert_eq!(json["author"]["handle"], "alice", "the profile is flattened into the author");
        let back: PostPayload = serde_json::from_value(json).unwrap();
        assert_eq!((back.author.profile.handle.as_deref(), back.author.extra.len()), (Some("alice"), 0));
        let envelope = post.into_envelope("posts");
        assert_eq!(envelope.schema, "post/v1");
        assert_eq!(envelope.key, "twitter:42");
        assert_eq!(envelope.event_time.to_rfc3339(), "2026-11-20T10:15:00+00:00");
    }

    #[test]
    fn integer_ids_are_normalised_to_strings() {
        let post = parse_raw_post(
            br#"{"platform":"YouTube","id":17,"author":{"id":42},"text":"hi","created_at":"2026-11-20T10:15:00+02:00"}"#,
        )
        .unwrap();
        assert_eq!(post.record_id(), "youtube:17");
        assert_eq!(post.author_id(), "youtube:42");
        assert_eq!(post.created_at.to_rfc3339(), "2026-11-20T08:15:00+00:00");
    }

    #[test]
    fn unknown_fields_are_kept_in_the_payload() {
        let post = parse_raw_post(
            br#"{"platform":"tiktok","id":"1","author":{"id":"2","region":"VN"},"text":"x","created_at":"2026-11-20T10:15:00Z","sound":{"id":9},"metrics":{"saves":3}}"#,
        )
        .unwrap();
        let json = serde_json::to_value(&post).unwrap();
        assert_eq!(json["sound"]["id"], 9);
        assert_eq!(json["author"]["region"], "VN");
        assert_eq!(json["metrics"]["saves"], 3);
    }

    #[test]
    fn errors_name_the_field_path_and_the_rule() {
        assert_eq!(
            errors(r#"{"platform":"x","id":"1","author":{},"text":"t","created_at":"2026-11-20T10:15:00Z"}"#),
            "author.id: missing"
        );
        assert_eq!(
            errors(r#"{"platform":"x","id":"1","author":{"id":1},"text":"t","created_at":"yesterday"}"#),
            "created_at: not RFC 3339"
        );
        let long = "a".repeat(70_000);
        assert_eq!(
            errors(&format!(
                r#"{{"platform":"x","id":"1","author":{{"id":1}},"text":"{long}","created_at":"2026-11-20T10:15:00Z"}}"#
            )),
            "text: 70000 bytes > 65536"
        );
        assert_eq!(
            errors(
                r#"{"platform":"x","id":-1,"author":{"id":1,"followers":-5},"text":"t","created_at":"2026-11-20T10:15:00Z","metrics":{"likes":"many"}}"#
            ),
            "id: must be a non-empty string (at most 256 bytes) or a non-negative integer; author.followers: must be a non-negative integer; metrics.likes: must be a non-negative integer"
        );
    }

    #[test]
    fn bad_bytes_and_bad_json_are_reported_as_such() {
        assert_eq!(parse_raw_post(b"{\"a\":\"\xff\"}").unwrap_err(), RawPostError::Utf8(6));
        assert!(errors("{not json").starts_with("invalid JSON: "));
        assert_eq!(errors("[1]"), "(root): must be a JSON object");
    }
}
