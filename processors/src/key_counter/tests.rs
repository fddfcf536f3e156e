use serde_json::json;
use socialpipe_schemas::{KeyedState, Processor, parse_raw_post};

use super::KeyCounterStage;

fn post(id: &str, author: &str) -> socialpipe_schemas::Envelope {
    let line = json!({
        "platform": "x", "id": id, "text": "hi", "created_at": "2026-01-01T00:00:00Z", "author": { "id": author }
    });
    parse_raw_post(line.to_string().as_bytes()).expect("valid post").into_envelope("posts")
}

fn counts(out: &[Result<socialpipe_schemas::Envelope, socialpipe_schemas::Failed>]) -> Vec<u64> {
    out.iter().map(|r| r.as_ref().unwrap().enrichments["key_counter"]["count"].as_u64().unwrap()).collect()
}

#[tokio::test]
async fn counts_records_per_key_across_batches_and_reports_the_changes() {
    let mut stage = KeyCounterStage;
    let mut state = KeyedState::default();
    let first = stage.process_keyed(vec![post("1", "a"), post("2", "b"), post("3", "a")], &mut state).await;
    assert_eq!(counts(&first), [1, 1, 2]);
    let changes = state.take_changes();
    assert_eq!(changes.len(), 2, "one change per key, however often it changed: {changes:?}");
    let second = stage.process_keyed(vec![post("4", "a")], &mut state).await;
    assert_eq!(counts(&second), [3]);
    let changes = state.take_changes();
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].0, second[0].as_ref().unwrap().key);
    assert_eq!(changes[0].1.as_ref().map(|v| v.get()), Some("3"));
}

#[tokio::test]
async fn a_restored_count_continues_and_an_unloaded_key_starts_over() {
    let mut stage = KeyCounterStage;
    let mut state = KeyedState::default();
    let record = post("1", "a");
    state.load(record.key.clone(), Some(serde_json::value::to_raw_value(&41).unwrap()));
    assert_eq!(counts(&stage.process_keyed(vec![record.clone()], &mut state).await), [42]);
    state.unload(|_| true);
    assert!(state.is_empty() && state.take_changes().is_empty());
    assert_eq!(counts(&stage.process_keyed(vec![record], &mut state).await), [1]);
}
