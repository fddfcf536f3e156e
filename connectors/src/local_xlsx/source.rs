//! The directory scan, one file at a time, and its checkpoint.

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use socialpipe_schemas::{ComponentError, Source, SourceBatch, SourceMode};

use super::LocalXlsxConfig;
use crate::api::decode_checkpoint;
use crate::sheets::{FileMeta, Loader};

const EXTENSIONS: [&str; 2] = ["xlsx", "xlsm"];

/// Committed with durable output.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Checkpoint {
    #[serde(default)]
    ledger: Option<Value>,
}

pub struct LocalXlsxSource {
    name: String,
    config: LocalXlsxConfig,
    loader: Loader,
    mode: SourceMode,
    /// Files of the current scan not yet looked at.
    scan: VecDeque<PathBuf>,
    scanned_once: bool,
    /// When a daemon scans again.
    next_scan: tokio::time::Instant,
    /// Size and modification time of each file when last hashed, so an
    /// untouched file is not read again to learn it is unchanged.
    stat: HashMap<PathBuf, (u64, SystemTime)>,
}

impl LocalXlsxSource {
    pub fn new(name: &str, config: LocalXlsxConfig) -> Self {
        let loader = Loader::new(config.sheets.clone());
        LocalXlsxSource {
            name: name.to_owned(),
            config,
            loader,
            mode: SourceMode::Once,
            scan: VecDeque::new(),
            scanned_once: false,
            next_scan: tokio::time::Instant::now(),
            stat: HashMap::new(),
        }
    }

    fn list(&self) -> Result<VecDeque<PathBuf>, ComponentError> {
        let entries = std::fs::read_dir(&self.config.path).map_err(|e| {
            ComponentError::transient(format!("local_xlsx: reading {}: {e}", self.config.path.display()))
        })?;
        let mut files: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.is_file())
            .filter(|p| {
                p.extension().and_then(|e| e.to_str()).is_some_and(|e| EXTENSIONS.contains(&e.to_lowercase().as_str()))
            })
            // Excel's lock files while a workbook is open.
            .filter(|p| !p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("~$")))
            .collect();
        files.sort();
        Ok(files.into())
    }

    /// Looks at one file: queues its new rows when it changed.
    fn look_at(&mut self, path: PathBuf) -> Result<(), ComponentError> {
        let io = |e: std::io::Error| ComponentError::transient(format!("local_xlsx: {}: {e}", path.display()));
        let Ok(meta) = std::fs::metadata(&path) else { return Ok(()) };
        let stamp = (meta.len(), meta.modified().map_err(io)?);
        if self.stat.get(&path) == Some(&stamp) {
            return Ok(());
        }
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_owned();
        let modified: DateTime<Utc> = stamp.1.into();
        if meta.len() > self.loader.max_file_bytes() {
            let file = FileMeta {
                id: name.clone(),
                name,
                version: format!("{}:{}", stamp.0, modified.timestamp_millis()),
                content: None,
                modified,
            };
            if self.loader.wants(&file) {
                self.loader.too_large(&file, meta.len());
            }
            self.stat.insert(path, stamp);
            return Ok(());
        }
        let bytes = std::fs::read(&path).map_err(io)?;
        let digest = hex::encode(Sha256::digest(&bytes));
        let file = FileMeta { id: name.clone(), name, version: digest.clone(), content: Some(digest), modified };
        if self.loader.wants(&file) {
            self.loader.load(&file, &bytes, &self.name);
        }
        self.stat.insert(path, stamp);
        Ok(())
    }

    fn checkpoint(&self) -> Value {
        serde_json::to_value(Checkpoint { ledger: Some(serde_json::to_value(self.loader.ledger()).expect("json")) })
            .expect("json")
    }
}

#[async_trait]
impl Source for LocalXlsxSource {
    async fn open(&mut self, checkpoint: Option<Value>, mode: SourceMode) -> Result<(), ComponentError> {
        let checkpoint: Checkpoint = decode_checkpoint("local_xlsx", checkpoint)?;
        self.loader.restore(checkpoint.ledger)?;
        self.mode = mode;
        Ok(())
    }

    async fn next_batch(&mut self, max_records: usize) -> Result<SourceBatch, ComponentError> {
        while self.loader.is_idle() {
            match self.scan.pop_front() {
                Some(path) => self.look_at(path)?,
                None if self.scanned_once && self.mode == SourceMode::Once => {
                    return Ok(SourceBatch {
                        caught_up: true,
                        checkpoint: Some(self.checkpoint()),
                        ..Default::default()
                    });
                }
                None if tokio::time::Instant::now() < self.next_scan => {
                    // At most a second at a time, so the runner sees a shutdown.
                    let wait = self.next_scan - tokio::time::Instant::now();
                    tokio::time::sleep(wait.min(Duration::from_secs(1))).await;
                    return Ok(SourceBatch::default());
                }
                None => {
                    self.scan = self.list()?;
                    self.scanned_once = true;
                    self.next_scan = tokio::time::Instant::now() + Duration::from_millis(self.config.poll_interval_ms);
                }
            }
        }
        let mut batch = self.loader.take(max_records);
        batch.checkpoint = Some(self.checkpoint());
        Ok(batch)
    }
}
