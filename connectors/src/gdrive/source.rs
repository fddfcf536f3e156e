//! The folder listing, the downloads, and the checkpoint.

use std::collections::VecDeque;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use socialpipe_schemas::{ComponentError, ErrorDomain, Source, SourceBatch, SourceMode};

use super::GdriveConfig;
use super::auth::{KeyFile, ServiceAccount};
use crate::api::ApiBase;
use crate::http::{Clock, GoogleErrors};
use crate::records::reject;
use crate::sheets::{FileMeta, Loader};

const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
const GOOGLE_SHEET: &str = "application/vnd.google-apps.spreadsheet";
const FIELDS: &str = "nextPageToken,files(id,name,mimeType,md5Checksum,modifiedTime,size)";

/// Committed with durable output.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Checkpoint {
    /// A sweep in progress: the listing page being read (None: the first).
    #[serde(default)]
    sweep: Option<Sweep>,
    #[serde(default)]
    ledger: Option<Value>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Sweep {
    page_token: Option<String>,
}

pub struct GdriveSource {
    /// The cursor's ledger is the loader's once opened.
    base: ApiBase<Checkpoint>,
    config: GdriveConfig,
    loader: Loader,
    /// The listed page's files not yet looked at.
    files: VecDeque<Value>,
    /// Once a page is listed: the token of the page after it (None: the last).
    after_page: Option<Option<String>>,
}

impl GdriveSource {
    pub fn with_clock(name: &str, config: GdriveConfig, clock: Arc<dyn Clock>) -> Result<Self, ComponentError> {
        let unusable =
            |e: String| ComponentError::fatal(format!("gdrive: key_file {}: {e}", config.key_file.display()));
        let text = std::fs::read_to_string(&config.key_file).map_err(|e| unusable(e.to_string()))?;
        let key_file: KeyFile = serde_json::from_str(&text).map_err(|e| unusable(e.to_string()))?;
        let account = ServiceAccount::new(key_file, Arc::clone(&clock)).map_err(unusable)?;
        let base = ApiBase::new("gdrive", name, &config, "drive/v3", Arc::new(account), Arc::new(GoogleErrors), clock)?;
        let loader = Loader::new(config.sheets.clone());
        Ok(GdriveSource { base, config, loader, files: VecDeque::new(), after_page: None })
    }

    fn checkpoint(&self) -> Value {
        json!({"sweep": self.base.cursor.sweep, "ledger": self.loader.ledger()})
    }

    async fn list_page(&mut self, page_token: Option<String>) -> Result<(), ComponentError> {
        let q = format!(
            "'{}' in parents and trashed = false and (mimeType = '{XLSX}' or mimeType = '{GOOGLE_SHEET}')",
            self.config.folder_id
        );
        let mut query = vec![
            ("q", q),
            ("fields", FIELDS.to_owned()),
            ("pageSize", self.config.page_size.to_string()),
            ("orderBy", "name".to_owned()),
            ("supportsAllDrives", "true".to_owned()),
            ("includeItemsFromAllDrives", "true".to_owned()),
        ];
        query.extend(page_token.map(|t| ("pageToken", t)));
        let page = self.base.client.get_json(&self.base.url("files"), &query).await?;
        self.files = page["files"].as_array().cloned().unwrap_or_default().into();
        self.after_page = Some(page["nextPageToken"].as_str().map(str::to_owned));
        Ok(())
    }

    /// Downloads a listed file if it changed and queues its new rows.
    async fn look_at(&mut self, listed: Value) -> Result<(), ComponentError> {
        let location = self.base.url("files");
        let (Some(id), Some(name), Some(mime)) =
            (listed["id"].as_str(), listed["name"].as_str(), listed["mimeType"].as_str())
        else {
            self.loader.reject(reject(&listed, "gdrive: a listed file without id, name or mimeType".into(), &location));
            return Ok(());
        };
        let modified = listed["modifiedTime"].as_str().and_then(|t| t.parse::<DateTime<Utc>>().ok());
        let md5 = listed["md5Checksum"].as_str().map(str::to_owned);
        let version = md5.clone().or_else(|| listed["modifiedTime"].as_str().map(str::to_owned)).unwrap_or_default();
        let file = FileMeta {
            id: id.to_owned(),
            name: name.to_owned(),
            version,
            content: md5,
            modified: modified
                .unwrap_or_else(|| DateTime::from_timestamp(self.base.clock.now_unix(), 0).unwrap_or_default()),
        };
        if !self.loader.wants(&file) {
            return Ok(());
        }
        let max = self.loader.max_file_bytes();
        let size = listed["size"].as_str().and_then(|s| s.parse::<u64>().ok());
        if let Some(size) = size.filter(|s| *s > max) {
            self.loader.too_large(&file, size);
            return Ok(());
        }
        let (url, query) = match mime {
            GOOGLE_SHEET => (self.base.url(&format!("files/{id}/export")), vec![("mimeType", XLSX.to_owned())]),
            _ => (self.base.url(&format!("files/{id}")), vec![("alt", "media".to_owned())]),
        };
        match self.base.client.try_get_bytes(&url, &query, max).await {
            Ok(Ok(bytes)) => self.loader.load(&file, &bytes, &self.base.name),
            Ok(Err(refusal)) => {
                let why = refusal["error"]["errors"][0]["reason"].as_str().or(refusal["error"]["message"].as_str());
                self.loader.unreadable(&file, format!("Drive refused the download: {}", why.unwrap_or("refused")));
            }
            // Larger than its listed size said: over max_file_bytes once read.
            Err(e) if e.domain == ErrorDomain::Invalid => self.loader.unreadable(&file, e.reason),
            Err(e) => return Err(e),
        }
        Ok(())
    }
}

#[async_trait]
impl Source for GdriveSource {
    async fn open(&mut self, checkpoint: Option<Value>, mode: SourceMode) -> Result<(), ComponentError> {
        self.base.open(checkpoint, mode)?;
        self.loader.restore(self.base.cursor.ledger.take())
    }

    async fn next_batch(&mut self, max_records: usize) -> Result<SourceBatch, ComponentError> {
        loop {
            if !self.loader.is_idle() {
                let mut batch = self.loader.take(max_records);
                batch.checkpoint = Some(self.checkpoint());
                return Ok(batch);
            }
            if let Some(listed) = self.files.pop_front() {
                self.look_at(listed).await?;
                continue;
            }
            if let Some(after) = self.after_page.take() {
                // The page is read: the checkpoint moves to the next one.
                let mut batch = SourceBatch::default();
                match after {
                    Some(token) => self.base.cursor.sweep = Some(Sweep { page_token: Some(token) }),
                    None => {
                        self.base.cursor.sweep = None;
                        batch.caught_up = self.base.end_sweep();
                    }
                }
                batch.checkpoint = Some(self.checkpoint());
                return Ok(batch);
            }
            if self.base.cursor.sweep.is_none() {
                if self.base.waiting_for_sweep().await {
                    return Ok(SourceBatch::default());
                }
                self.base.cursor.sweep = Some(Sweep::default());
            }
            let page_token = self.base.cursor.sweep.as_ref().and_then(|s| s.page_token.clone());
            self.list_page(page_token).await?;
        }
    }
}
