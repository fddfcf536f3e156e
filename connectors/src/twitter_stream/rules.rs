//! Making the stream's rules the configured ones: list them
//! (`GET …/stream/rules`), delete the others, add the missing ones
//! (`POST …/stream/rules` with `delete.ids` / `add`). A rule X refuses
//! (invalid syntax, too long, over the plan's count) stops the source with
//! X's explanation.

use std::collections::HashSet;

use serde_json::{Value, json};
use socialpipe_schemas::ComponentError;

use super::StreamRule;
use crate::http::ApiClient;

/// What a sync changed, for the log.
#[derive(Debug, Default, PartialEq)]
pub struct Changes {
    pub deleted: usize,
    pub added: usize,
}

pub async fn sync(client: &mut ApiClient, url: &str, wanted: &[StreamRule]) -> Result<Changes, ComponentError> {
    let listed = client.get_json(url, &[]).await?;
    let current: Vec<(String, StreamRule)> = listed["data"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| {
            let rule = StreamRule { value: r["value"].as_str()?.to_owned(), tag: r["tag"].as_str().map(str::to_owned) };
            Some((r["id"].as_str()?.to_owned(), rule))
        })
        .collect();
    let wanted_set: HashSet<&StreamRule> = wanted.iter().collect();
    let current_set: HashSet<&StreamRule> = current.iter().map(|(_, r)| r).collect();
    let stale: Vec<&str> = current.iter().filter(|(_, r)| !wanted_set.contains(r)).map(|(id, _)| id.as_str()).collect();
    let mut missing: Vec<&StreamRule> = wanted.iter().filter(|r| !current_set.contains(r)).collect();
    missing.dedup();
    if !stale.is_empty() {
        let answer = client.post_json(url, &[], &json!({"delete": {"ids": stale}})).await?;
        refused(&answer, "deleting rules")?;
    }
    if !missing.is_empty() {
        let add: Vec<Value> = missing.iter().map(|r| json!({"value": r.value, "tag": r.tag})).collect();
        let answer = client.post_json(url, &[], &json!({"add": add})).await?;
        refused(&answer, "adding rules")?;
    }
    Ok(Changes { deleted: stale.len(), added: missing.len() })
}

/// X answers a rules change with 200/201 and lists what it refused in `errors`.
fn refused(answer: &Value, doing: &str) -> Result<(), ComponentError> {
    let Some(errors) = answer["errors"].as_array().filter(|e| !e.is_empty()) else { return Ok(()) };
    let reasons: Vec<String> = errors
        .iter()
        .map(|e| {
            let details = e["details"].as_array().into_iter().flatten().filter_map(Value::as_str);
            let details = details.collect::<Vec<_>>().join("; ");
            format!("{} {}: {}", e["title"].as_str().unwrap_or("error"), e["value"].as_str().unwrap_or(""), details)
        })
        .collect();
    Err(ComponentError::fatal(format!("twitter_stream: {doing} was refused: {}", reasons.join(" | "))))
}
