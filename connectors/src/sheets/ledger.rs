//! What a spreadsheet source has read, committed with its output: the
//! version of each file read to its end (an unchanged file is not read
//! again), the content digests of files read (a renamed copy is skipped),
//! and the digests of rows emitted, oldest first and bounded (a row is
//! emitted again only when its content changed). The `Loader` reads one
//! file at a time into a queue and hands it out in batches, noting in the
//! ledger exactly what each batch holds.

use std::collections::{BTreeMap, HashSet, VecDeque};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use socialpipe_schemas::{ComponentError, Envelope, Rejected, SourceBatch};

use super::rows::{Origin, map_sheet};
use super::{SheetSettings, workbook};
use crate::records::reject_bytes;

/// Content digests of files remembered (a copy of an older one is read again, and its rows filtered).
const MAX_CONTENTS: usize = 10_000;

/// A file as a source lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct FileMeta {
    pub id: String,
    pub name: String,
    /// Changes when the file does (Drive: md5Checksum, or modifiedTime for
    /// Google Sheets; a local file: the sha256 of its bytes).
    pub version: String,
    /// The same for the same bytes under any name, when known.
    pub content: Option<String>,
    pub modified: DateTime<Utc>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Ledger {
    /// File id → version read to its end.
    #[serde(default)]
    files: BTreeMap<String, String>,
    #[serde(default)]
    contents: VecDeque<String>,
    /// Digests of (sheet, row key, content) emitted, oldest first.
    #[serde(default)]
    rows: VecDeque<u64>,
    #[serde(skip)]
    row_set: HashSet<u64>,
}

impl Ledger {
    fn is_current(&self, file: &FileMeta) -> bool {
        self.files.get(&file.id) == Some(&file.version)
    }

    fn has_content(&self, file: &FileMeta) -> bool {
        file.content.as_ref().is_some_and(|c| self.contents.contains(c))
    }

    fn note_file(&mut self, id: String, version: String, content: Option<String>) {
        self.files.insert(id, version);
        if let Some(content) = content.filter(|c| !self.contents.contains(c)) {
            self.contents.push_back(content);
            if self.contents.len() > MAX_CONTENTS {
                self.contents.pop_front();
            }
        }
    }

    fn note_row(&mut self, digest: u64, max: usize) {
        if self.row_set.insert(digest) {
            self.rows.push_back(digest);
            while self.rows.len() > max {
                if let Some(oldest) = self.rows.pop_front() {
                    self.row_set.remove(&oldest);
                }
            }
        }
    }
}

enum Queued {
    Row { outcome: Result<Envelope, Rejected>, digest: Option<u64> },
    FileDone { id: String, version: String, content: Option<String> },
}

pub struct Loader {
    settings: SheetSettings,
    ledger: Ledger,
    queue: VecDeque<Queued>,
}

impl Loader {
    pub fn new(settings: SheetSettings) -> Self {
        Loader { settings, ledger: Ledger::default(), queue: VecDeque::new() }
    }

    /// Continues from a checkpoint's ledger.
    pub fn restore(&mut self, ledger: Option<Value>) -> Result<(), ComponentError> {
        let mut restored: Ledger = match ledger {
            Some(value) => serde_json::from_value(value)
                .map_err(|e| ComponentError::fatal(format!("unreadable checkpoint ledger: {e}")))?,
            None => Ledger::default(),
        };
        restored.row_set = restored.rows.iter().copied().collect();
        self.ledger = restored;
        self.queue.clear();
        Ok(())
    }

    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    /// Whether `file` must be read: not read in this version, and not a
    /// copy of bytes read before (such a copy is noted as read unread).
    pub fn wants(&mut self, file: &FileMeta) -> bool {
        if self.ledger.is_current(file) {
            return false;
        }
        if self.ledger.has_content(file) {
            tracing::info!(file = file.name, "the same bytes were read before under another name; skipped");
            self.queue_done(file);
            return false;
        }
        true
    }

    /// The largest file read.
    pub fn max_file_bytes(&self) -> u64 {
        self.settings.max_file_bytes
    }

    /// A file too large to read: one dead letter with its name.
    pub fn too_large(&mut self, file: &FileMeta, size: u64) {
        self.unreadable(file, format!("{size} bytes > max_file_bytes {}", self.settings.max_file_bytes));
    }

    /// A file that could not be fetched: one dead letter with its name and
    /// the reason; this version of it is not tried again.
    pub fn unreadable(&mut self, file: &FileMeta, reason: String) {
        self.reject(reject_bytes(&[], format!("file {:?}: {reason}", file.name), &file.id));
        self.queue_done(file);
    }

    /// Something listed that is not a file it can read: one dead letter.
    pub fn reject(&mut self, rejected: Rejected) {
        self.queue.push_back(Queued::Row { outcome: Err(rejected), digest: None });
    }

    /// Reads `bytes` as `file` and queues its new rows; a file that cannot
    /// be read becomes one dead letter with its name and the reason.
    pub fn load(&mut self, file: &FileMeta, bytes: &[u8], source: &str) {
        match workbook::read(bytes, self.settings.max_expanded_bytes) {
            Err(reason) => {
                let reason = format!("file {:?}: {reason}", file.name);
                self.reject(reject_bytes(bytes, reason, &file.id));
            }
            Ok(sheets) => {
                let origin = Origin { file_id: &file.id, file_name: &file.name, modified: file.modified, source };
                let mut in_file = HashSet::new();
                for sheet in &sheets {
                    for row in map_sheet(sheet, self.settings.rule(&sheet.name), &origin) {
                        if self.ledger.row_set.contains(&row.digest) || !in_file.insert(row.digest) {
                            continue;
                        }
                        self.queue.push_back(Queued::Row { outcome: row.outcome, digest: Some(row.digest) });
                    }
                }
            }
        }
        self.queue_done(file);
    }

    fn queue_done(&mut self, file: &FileMeta) {
        let (id, version, content) = (file.id.clone(), file.version.clone(), file.content.clone());
        self.queue.push_back(Queued::FileDone { id, version, content });
    }

    pub fn is_idle(&self) -> bool {
        self.queue.is_empty()
    }

    /// Up to `max` queued rows (records and dead letters), noted in the
    /// ledger; the caller adds the checkpoint.
    pub fn take(&mut self, max: usize) -> SourceBatch {
        let mut batch = SourceBatch::default();
        while let Some(front) = self.queue.front() {
            let full = batch.records.len() + batch.rejected.len() >= max.max(1);
            if full && matches!(front, Queued::Row { .. }) {
                break;
            }
            match self.queue.pop_front().expect("a front") {
                Queued::Row { outcome, digest } => {
                    if let Some(digest) = digest {
                        self.ledger.note_row(digest, self.settings.max_tracked_rows);
                    }
                    match outcome {
                        Ok(record) => batch.records.push(record),
                        Err(rejected) => batch.rejected.push(rejected),
                    }
                }
                Queued::FileDone { id, version, content } => self.ledger.note_file(id, version, content),
            }
        }
        batch
    }
}
