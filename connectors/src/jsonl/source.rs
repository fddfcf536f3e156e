//! The `jsonl` reader state machine: which file, which byte, which line.

use std::collections::BTreeMap;
use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use socialpipe_schemas::{ComponentError, Rejected, Source, SourceBatch, SourceMode, parse_raw_post, sha256_hex};

use super::JsonlConfig;
use super::reader::{Input, LineReader, ReadLine};

/// Resume position of one file; the checkpoint is a map of these by path.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
struct FileCursor {
    offset: u64,
    line: u64,
    inode: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Checkpoint {
    files: BTreeMap<PathBuf, FileCursor>,
}

struct OpenFile {
    path: PathBuf,
    reader: LineReader,
    /// Read no further than this (the size at start in `--once` mode).
    limit: u64,
}

struct ReadState {
    name: String,
    config: JsonlConfig,
    mode: SourceMode,
    cursors: Checkpoint,
    /// `--once`: the files and sizes present at start.
    snapshot: Option<BTreeMap<PathBuf, u64>>,
    current: Option<OpenFile>,
    input: OpenInput,
}

/// Turns an opened file into what is read: the file itself, except in tests
/// that inject read errors.
pub(crate) type OpenInput = Arc<dyn Fn(File) -> Box<dyn Input> + Send + Sync>;

pub struct JsonlSource {
    /// Moved into a blocking task for each batch and back.
    state: Option<Box<ReadState>>,
    poll_interval: Duration,
}

impl JsonlSource {
    pub fn new(name: &str, config: JsonlConfig) -> Self {
        Self::with_input(name, config, Arc::new(|file| Box::new(file)))
    }

    pub(crate) fn with_input(name: &str, config: JsonlConfig, input: OpenInput) -> Self {
        let poll_interval = Duration::from_millis(config.poll_interval_ms);
        let state = ReadState {
            name: name.to_owned(),
            config,
            mode: SourceMode::Continuous,
            cursors: Checkpoint::default(),
            snapshot: None,
            current: None,
            input,
        };
        JsonlSource { state: Some(Box::new(state)), poll_interval }
    }

    fn state(&mut self) -> Result<&mut ReadState, ComponentError> {
        self.state.as_deref_mut().ok_or_else(|| ComponentError::fatal("jsonl reader lost after a failed read"))
    }
}

#[async_trait]
impl Source for JsonlSource {
    async fn open(&mut self, checkpoint: Option<Value>, mode: SourceMode) -> Result<(), ComponentError> {
        let state = self.state()?;
        // Without `follow` the input is read as it is at start, even in a daemon.
        state.mode = if state.config.follow { mode } else { SourceMode::Once };
        state.cursors = match checkpoint {
            Some(value) => serde_json::from_value(value)
                .map_err(|e| ComponentError::fatal(format!("unreadable jsonl checkpoint: {e}")))?,
            None => Checkpoint::default(),
        };
        if mode == SourceMode::Once {
            let mut sizes = BTreeMap::new();
            for path in state.list_files().map_err(|e| io_error(&state.config.path, e))? {
                let size = std::fs::metadata(&path).map_err(|e| io_error(&path, e))?.len();
                sizes.insert(path, size);
            }
            state.snapshot = Some(sizes);
        }
        Ok(())
    }

    async fn next_batch(&mut self, max_records: usize) -> Result<SourceBatch, ComponentError> {
        let mut state =
            self.state.take().ok_or_else(|| ComponentError::fatal("jsonl reader lost after a failed read"))?;
        let (state, batch) = tokio::task::spawn_blocking(move || {
            let batch = state.read_batch(max_records.max(1));
            (state, batch)
        })
        .await
        .map_err(|e| ComponentError::fatal(format!("jsonl reader panicked: {e}")))?;
        let idle = state.mode == SourceMode::Continuous;
        self.state = Some(state);
        let batch = batch?;
        if idle && batch.records.is_empty() && batch.rejected.is_empty() {
            tokio::time::sleep(self.poll_interval).await;
        }
        Ok(batch)
    }
}

fn io_error(path: &Path, e: std::io::Error) -> ComponentError {
    // A missing or unreadable file is an operator's problem to fix; keep retrying.
    ComponentError::transient(format!("{}: {e}", path.display()))
}

fn is_jsonl(path: &Path) -> bool {
    matches!(path.extension().and_then(|e| e.to_str()), Some("jsonl" | "ndjson"))
}

impl ReadState {
    fn list_files(&self) -> std::io::Result<Vec<PathBuf>> {
        let root = &self.config.path;
        if !root.exists() {
            return if self.config.follow {
                Ok(Vec::new())
            } else {
                Err(std::io::Error::new(std::io::ErrorKind::NotFound, "no such file or directory"))
            };
        }
        if !root.is_dir() {
            return Ok(vec![root.clone()]);
        }
        let mut files = Vec::new();
        for entry in std::fs::read_dir(root)? {
            let path = entry?.path();
            if path.is_file() && is_jsonl(&path) {
                files.push(path);
            }
        }
        files.sort();
        Ok(files)
    }

    /// A batch, or an error with the cursors where they were before it: the
    /// lines read before the error were not returned, so the retry reads
    /// them again, from a reopened file (the open reader has moved past them).
    fn read_batch(&mut self, max_records: usize) -> Result<SourceBatch, ComponentError> {
        let before = self.cursors.clone();
        let batch = self.fill_batch(max_records);
        if batch.is_err() {
            self.cursors = before;
            self.current = None;
        }
        batch
    }

    fn fill_batch(&mut self, max_records: usize) -> Result<SourceBatch, ComponentError> {
        let mut batch = SourceBatch::default();
        let mut produced = 0;
        // Files read to their end in this call (a partial last line waits for the next).
        let mut ended = Vec::new();
        while produced < max_records {
            if self.current.is_none() && !self.open_next_file(&ended)? {
                batch.caught_up = self.mode == SourceMode::Once;
                break;
            }
            let file = self.current.as_mut().expect("a file is open");
            let accept_unterminated = self.mode == SourceMode::Once;
            let read = file
                .reader
                .next_line(self.config.max_line_bytes, file.limit, accept_unterminated)
                .map_err(|e| io_error(&file.path, e))?;
            let line = match read {
                ReadLine::Line(line) => line,
                ReadLine::End => {
                    ended.push(file.path.clone());
                    self.current = None;
                    continue;
                }
            };
            let cursor = self.cursors.files.entry(file.path.clone()).or_default();
            cursor.offset += line.consumed;
            cursor.line += 1;
            if line.bytes.iter().all(u8::is_ascii_whitespace) && line.oversized_sha256.is_none() {
                continue;
            }
            produced += 1;
            let location = Some(format!("{}:{}", file.path.display(), cursor.line));
            if let Some(sha256) = line.oversized_sha256 {
                batch.rejected.push(Rejected {
                    prefix: line.bytes,
                    length: line.length,
                    sha256,
                    reason: format!("line: {} bytes > max_line_bytes {}", line.length, self.config.max_line_bytes),
                    location,
                });
                continue;
            }
            match parse_raw_post(&line.bytes) {
                Ok(post) => batch.records.push(post.into_envelope(&self.name)),
                Err(e) => {
                    let sha256 = sha256_hex(&line.bytes);
                    batch.rejected.push(Rejected {
                        length: line.length,
                        prefix: line.bytes,
                        sha256,
                        reason: e.to_string(),
                        location,
                    });
                }
            }
        }
        batch.checkpoint = Some(serde_json::to_value(&self.cursors).expect("a checkpoint always serialises"));
        Ok(batch)
    }

    /// Opens the first file with unread bytes; false when there is none.
    fn open_next_file(&mut self, ended: &[PathBuf]) -> Result<bool, ComponentError> {
        let files = match &self.snapshot {
            Some(sizes) => sizes.keys().cloned().collect(),
            None => self.list_files().map_err(|e| io_error(&self.config.path, e))?,
        };
        for path in files {
            if ended.contains(&path) {
                continue;
            }
            let file = match File::open(&path) {
                Ok(file) => file,
                // Rotated away between listing and opening: the next poll sees the new state.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io_error(&path, e)),
            };
            let meta = file.metadata().map_err(|e| io_error(&path, e))?;
            let cursor = self.cursors.files.entry(path.clone()).or_default();
            // A new file under the same name (rotation) or a truncated one starts over.
            if cursor.inode != meta.ino() || meta.len() < cursor.offset {
                *cursor = FileCursor { offset: 0, line: 0, inode: meta.ino() };
            }
            let limit = match &self.snapshot {
                Some(sizes) => sizes[&path],
                None => u64::MAX,
            };
            if cursor.offset >= meta.len().min(limit) {
                continue;
            }
            let reader = LineReader::open((self.input)(file), cursor.offset).map_err(|e| io_error(&path, e))?;
            self.current = Some(OpenFile { path, reader, limit });
            return Ok(true);
        }
        Ok(false)
    }
}
