//! A directory of workbooks, read once and as a daemon would re-read it.

use serde_json::{Value, json};
use socialpipe_schemas::{Source, SourceBatch, SourceMode};

use super::{LocalXlsxConfig, LocalXlsxSource};
use crate::sheets::tests::roster;
use crate::sheets::{RowMapping, SheetRule, SheetSettings};

fn config(dir: &std::path::Path) -> LocalXlsxConfig {
    let rule = SheetRule {
        sheet: "Roster".into(),
        key_column: Some("handle".into()),
        map: RowMapping::Roster,
        columns: Default::default(),
    };
    LocalXlsxConfig {
        path: dir.to_owned(),
        sheets: SheetSettings { rules: vec![rule], ..Default::default() },
        poll_interval_ms: 50,
    }
}

/// Runs a `--once` pass from `checkpoint`: every batch until caught up.
async fn pass(dir: &std::path::Path, checkpoint: Option<Value>) -> (Vec<SourceBatch>, Option<Value>) {
    let mut source = LocalXlsxSource::new("rosters", config(dir));
    source.open(checkpoint, SourceMode::Once).await.unwrap();
    let mut batches = Vec::new();
    loop {
        let batch = source.next_batch(2).await.unwrap();
        let done = batch.caught_up;
        batches.push(batch);
        if done {
            let checkpoint = batches.iter().rev().find_map(|b| b.checkpoint.clone());
            return (batches, checkpoint);
        }
    }
}

fn ids(batches: &[SourceBatch]) -> Vec<String> {
    batches.iter().flat_map(|b| b.records.iter().map(|r| r.id.clone())).collect()
}

#[tokio::test]
async fn files_are_read_in_name_order_and_a_rerun_reads_only_what_changed() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.xlsx"), roster(12_000.0)).unwrap();
    std::fs::write(dir.path().join("b.xlsx"), b"not a workbook").unwrap();
    std::fs::write(dir.path().join("~$a.xlsx"), b"Excel's lock file").unwrap();
    std::fs::write(dir.path().join("notes.txt"), b"ignored").unwrap();
    let (batches, checkpoint) = pass(dir.path(), None).await;
    assert_eq!(ids(&batches), ["sheet:a.xlsx:Roster:@ann", "sheet:a.xlsx:Roster:bob", "sheet:a.xlsx:Notes:4"]);
    assert!(batches.iter().all(|b| b.records.len() + b.rejected.len() <= 2), "batches stay within max_records");
    let rejected: Vec<_> = batches.iter().flat_map(|b| &b.rejected).collect();
    assert_eq!(rejected.len(), 1);
    assert!(rejected[0].reason.starts_with("file \"b.xlsx\": not a readable workbook"));

    let (again, checkpoint) = pass(dir.path(), checkpoint).await;
    assert!(ids(&again).is_empty() && again.iter().all(|b| b.rejected.is_empty()), "nothing changed");

    std::fs::write(dir.path().join("a.xlsx"), roster(15_000.0)).unwrap();
    std::fs::copy(dir.path().join("a.xlsx"), dir.path().join("z copy of a.xlsx")).unwrap();
    let (changed, _) = pass(dir.path(), checkpoint).await;
    assert_eq!(ids(&changed), ["sheet:a.xlsx:Roster:@ann"], "one changed cell; the copy gives nothing");
    let record = changed.iter().flat_map(|b| &b.records).next().unwrap();
    let row: Value = serde_json::from_str(record.payload.get()).unwrap();
    assert_eq!(row["author"], json!({"platform": "tiktok", "id": "ann", "handle": "ann", "followers": 15000}));
}
