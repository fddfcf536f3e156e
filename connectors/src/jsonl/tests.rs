use std::io::{Read, Seek, SeekFrom, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::Value;
use socialpipe_schemas::{Source, SourceBatch, SourceMode};

use super::{JsonlConfig, JsonlSource};

fn post(id: u32) -> String {
    format!(
        r#"{{"platform":"twitter","id":"{id}","author":{{"id":"7"}},"text":"post {id}","created_at":"2026-11-20T10:15:00Z"}}"#
    )
}

fn append(path: &std::path::Path, text: &str) {
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(path).unwrap();
    f.write_all(text.as_bytes()).unwrap();
}

async fn open(config: JsonlConfig, checkpoint: Option<Value>, mode: SourceMode) -> JsonlSource {
    let mut source = JsonlSource::new("posts", config);
    source.open(checkpoint, mode).await.unwrap();
    source
}

fn ids(batch: &SourceBatch) -> Vec<String> {
    batch.records.iter().map(|r| r.id.clone()).collect()
}

#[tokio::test]
async fn valid_lines_become_posts_and_bad_lines_are_rejected_with_reason_and_location() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("in.jsonl");
    append(&file, &format!("{}\n{{broken\n\n{}\r\n{{\"platform\":\"x\"}}\n", post(1), post(2)));
    let mut source = open(JsonlConfig::new(&file), None, SourceMode::Once).await;
    let batch = source.next_batch(100).await.unwrap();
    assert_eq!(ids(&batch), ["twitter:1", "twitter:2"]);
    assert!(batch.caught_up);
    let reasons: Vec<_> = batch.rejected.iter().map(|r| (r.reason.as_str(), r.location.clone().unwrap())).collect();
    assert!(reasons[0].0.starts_with("invalid JSON"), "{reasons:?}");
    assert!(reasons[0].1.ends_with("in.jsonl:2"));
    assert_eq!(reasons[1].0, "id: missing; text: missing; created_at: missing; author.id: missing");
    assert!(reasons[1].1.ends_with("in.jsonl:5"));
}

#[tokio::test]
async fn a_checkpoint_resumes_exactly_after_the_last_returned_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("in.jsonl");
    append(&file, &(1..=5).map(|i| post(i) + "\n").collect::<String>());
    let mut first = open(JsonlConfig::new(&file), None, SourceMode::Once).await;
    let batch = first.next_batch(3).await.unwrap();
    assert_eq!(ids(&batch), ["twitter:1", "twitter:2", "twitter:3"]);
    let mut second = open(JsonlConfig::new(&file), batch.checkpoint, SourceMode::Once).await;
    let rest = second.next_batch(100).await.unwrap();
    assert_eq!(ids(&rest), ["twitter:4", "twitter:5"]);
    assert!(rest.caught_up);
}

#[tokio::test]
async fn an_oversized_line_is_rejected_with_length_and_hash_but_not_held() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("in.jsonl");
    let huge = format!(r#"{{"text":"{}"}}"#, "y".repeat(10 * 1024 * 1024));
    append(&file, &format!("{huge}\n{}\n", post(1)));
    let mut config = JsonlConfig::new(&file);
    config.max_line_bytes = 4096;
    let mut source = open(config, None, SourceMode::Once).await;
    let batch = source.next_batch(100).await.unwrap();
    assert_eq!(ids(&batch), ["twitter:1"]);
    let rejected = &batch.rejected[0];
    assert_eq!(rejected.prefix.len(), 4096);
    assert_eq!(rejected.length, huge.len() as u64);
    assert_eq!(rejected.sha256, socialpipe_schemas::sha256_hex(huge.as_bytes()));
    assert_eq!(rejected.reason, format!("line: {} bytes > max_line_bytes 4096", huge.len()));
}

#[tokio::test]
async fn once_mode_reads_the_input_present_at_start_only() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("in.jsonl");
    append(&file, &format!("{}\n{}", post(1), post(2)));
    let mut source = open(JsonlConfig::new(&file), None, SourceMode::Once).await;
    append(&file, &format!("\n{}\n", post(3)));
    let batch = source.next_batch(100).await.unwrap();
    // The unterminated last line at start counts as a line; what came later does not.
    assert_eq!(ids(&batch), ["twitter:1", "twitter:2"]);
    assert!(batch.caught_up);
}

#[tokio::test]
async fn a_directory_is_read_in_file_name_order() {
    let dir = tempfile::tempdir().unwrap();
    append(&dir.path().join("b.jsonl"), &format!("{}\n", post(2)));
    append(&dir.path().join("a.ndjson"), &format!("{}\n", post(1)));
    append(&dir.path().join("c.txt"), &format!("{}\n", post(9)));
    let mut source = open(JsonlConfig::new(dir.path()), None, SourceMode::Once).await;
    let batch = source.next_batch(100).await.unwrap();
    assert_eq!(ids(&batch), ["twitter:1", "twitter:2"]);
}

#[tokio::test]
async fn follow_mode_waits_for_complete_lines_and_follows_rotation() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("in.jsonl");
    append(&file, &format!("{}\n{}", post(1), &post(2)[..20]));
    let mut config = JsonlConfig::new(&file);
    config.follow = true;
    config.poll_interval_ms = 1;
    let mut source = open(config, None, SourceMode::Continuous).await;
    assert_eq!(ids(&source.next_batch(100).await.unwrap()), ["twitter:1"]);
    assert!(ids(&source.next_batch(100).await.unwrap()).is_empty());
    append(&file, &format!("{}\n", &post(2)[20..]));
    let batch = source.next_batch(100).await.unwrap();
    assert_eq!(ids(&batch), ["twitter:2"]);
    assert!(!batch.caught_up);

    // Rotation: the old file moves away, a new one takes its name.
    std::fs::rename(&file, dir.path().join("in.jsonl.1")).unwrap();
    append(&file, &format!("{}\n", post(3)));
    assert_eq!(ids(&source.next_batch(100).await.unwrap()), ["twitter:3"]);
}

#[tokio::test]
async fn a_file_that_cannot_be_opened_mid_batch_is_transient_and_the_retry_returns_every_line_once() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.jsonl"), dir.path().join("b.jsonl"));
    let a_text = (1..=3).map(|i| post(i) + "\n").collect::<String>();
    let b_text = (4..=5).map(|i| post(i) + "\n").collect::<String>();
    append(&a, &a_text);
    append(&b, &b_text);
    let mut source = open(JsonlConfig::new(dir.path()), None, SourceMode::Once).await;

    // After a's lines, b cannot be opened (a symlink to itself: ELOOP; root ignores modes).
    std::fs::remove_file(&b).unwrap();
    std::os::unix::fs::symlink(&b, &b).unwrap();
    let error = source.next_batch(100).await.unwrap_err();
    assert_eq!(error.domain, socialpipe_schemas::ErrorDomain::Transient, "{error}");

    std::fs::remove_file(&b).unwrap();
    append(&b, &b_text);
    let batch = source.next_batch(100).await.unwrap();
    assert_eq!(ids(&batch), ["twitter:1", "twitter:2", "twitter:3", "twitter:4", "twitter:5"]);
    assert!(batch.caught_up);
    let checkpoint = batch.checkpoint.unwrap();
    for (path, text, lines) in [(&a, &a_text, 3), (&b, &b_text, 2)] {
        let cursor = &checkpoint["files"][path.to_str().unwrap()];
        assert_eq!((cursor["offset"].as_u64(), cursor["line"].as_u64()), (Some(text.len() as u64), Some(lines)));
    }
}

/// A file whose reads fail once, when `before` bytes of it have been read.
struct FailingOnce {
    file: std::fs::File,
    position: u64,
    before: u64,
    failed: Arc<AtomicBool>,
}

impl Read for FailingOnce {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let armed = !self.failed.load(Ordering::SeqCst);
        if armed && self.position == self.before {
            self.failed.store(true, Ordering::SeqCst);
            return Err(std::io::Error::other("injected read error"));
        }
        let room = if armed { buf.len().min((self.before - self.position) as usize) } else { buf.len() };
        let read = self.file.read(&mut buf[..room])?;
        self.position += read as u64;
        Ok(read)
    }
}

impl Seek for FailingOnce {
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        self.position = self.file.seek(to)?;
        Ok(self.position)
    }
}

#[tokio::test]
async fn a_read_error_inside_a_file_is_transient_and_the_retry_returns_every_line_once() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("in.jsonl");
    let text = (1..=5).map(|i| post(i) + "\n").collect::<String>();
    append(&file, &text);
    let before = (post(1).len() + post(2).len() + 2) as u64;
    let failed = Arc::new(AtomicBool::new(false));
    let input = {
        let failed = Arc::clone(&failed);
        Arc::new(move |file| {
            Box::new(FailingOnce { file, position: 0, before, failed: Arc::clone(&failed) }) as Box<_>
        })
    };
    let mut source = JsonlSource::with_input("posts", JsonlConfig::new(&file), input);
    source.open(None, SourceMode::Once).await.unwrap();

    // Lines 1 and 2 are read, then the read of line 3 fails.
    let error = source.next_batch(100).await.unwrap_err();
    assert_eq!(error.domain, socialpipe_schemas::ErrorDomain::Transient, "{error}");
    assert!(failed.load(Ordering::SeqCst));

    let batch = source.next_batch(100).await.unwrap();
    assert_eq!(ids(&batch), ["twitter:1", "twitter:2", "twitter:3", "twitter:4", "twitter:5"]);
    assert!(batch.caught_up);
    let cursor = &batch.checkpoint.unwrap()["files"][file.to_str().unwrap()];
    assert_eq!((cursor["offset"].as_u64(), cursor["line"].as_u64()), (Some(text.len() as u64), Some(5)));
}
