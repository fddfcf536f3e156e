//! The sink task against a real embedded log, with a sink that records the
//! batches it is given.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use socialpipe_schemas::{ComponentError, Envelope, Sink, SinkReport, parse_raw_post};

use super::run;
use crate::config::Config;
use crate::runtime::runner::{Context, Layer, Stop};
use crate::runtime::transport::embedded::{EmbeddedConfig, EmbeddedLog};
use crate::runtime::transport::{Outgoing, Transport};

/// Accepts every batch and keeps the ids of each, in order.
struct Recording(Arc<Mutex<Vec<Vec<String>>>>);

#[async_trait]
impl Sink for Recording {
    async fn write(&mut self, batch: &[Envelope]) -> Result<SinkReport, ComponentError> {
        self.0.lock().unwrap().push(batch.iter().map(|e| e.id.clone()).collect());
        Ok(SinkReport::default())
    }
}

/// A post whose text is `text_bytes` long, as the log holds it.
fn post(n: usize, text_bytes: usize) -> Vec<u8> {
    let raw = serde_json::json!({
        "platform": "x",
        "id": n.to_string(),
        "author": {"id": "1"},
        "text": "t".repeat(text_bytes),
        "created_at": "2026-11-20T10:00:00Z",
    });
    parse_raw_post(raw.to_string().as_bytes()).unwrap().into_envelope("posts").to_bytes()
}

#[tokio::test]
async fn a_batch_never_exceeds_batch_max_bytes_and_every_record_is_written() {
    const MAX_BYTES: usize = 16 << 10;
    let dir = tempfile::tempdir().unwrap();
    let log = EmbeddedLog::open(&EmbeddedConfig::new(dir.path())).unwrap();
    log.create_topic("raw.posts", 1).await.unwrap();
    // Sizes from a few hundred bytes to 3 KB, and one post larger than the
    // bound, which goes alone.
    let values: Vec<Vec<u8>> =
        (0..300).map(|n| post(n, if n == 150 { 2 * MAX_BYTES } else { 100 + n * 37 % 3000 })).collect();
    log.send("raw.posts", values.iter().map(|v| Outgoing::new("x:1", v.clone())).collect()).await.unwrap();
    let size: HashMap<String, usize> = values.iter().map(|v| (Envelope::from_bytes(v).unwrap().id, v.len())).collect();

    // The source only names the topic (the test wrote it). Only the byte
    // bound cuts batches here: many more records and a timeout the run
    // never reaches.
    let source = dir.path().join("unused.jsonl");
    std::fs::write(&source, "").unwrap();
    let text = format!(
        "[sources.posts]\ntype = \"jsonl\"\npath = {:?}\n\n\
         [sinks.out]\ntype = \"blackhole\"\nbatch_max_records = 100000\nbatch_timeout_ms = 3600000\n\
         batch_max_bytes = {MAX_BYTES}\n",
        source.display().to_string()
    );
    let config = Config::parse("test.toml", &text, |_| None).unwrap();
    let spec = config.sinks["out"].clone();
    let ctx = Context::for_test(config, log);
    let batches = Arc::new(Mutex::new(Vec::new()));
    let sink = Box::new(Recording(Arc::clone(&batches)));
    if let Err(Stop::Failed(reason)) = run(&ctx, "out", &spec, Some(sink), Layer::new(0)).await {
        panic!("the sink task failed: {reason}");
    }

    let batches = batches.lock().unwrap().clone();
    for batch in &batches {
        let bytes: usize = batch.iter().map(|id| size[id]).sum();
        assert!(bytes <= MAX_BYTES || batch.len() == 1, "a batch of {} records holds {bytes} bytes", batch.len());
    }
    let written: Vec<String> = batches.concat();
    let sent: Vec<String> = values.iter().map(|v| Envelope::from_bytes(v).unwrap().id).collect();
    assert_eq!(written, sent, "every record once, in order");
    assert!(batches.len() > 20, "{} batches", batches.len());
}
