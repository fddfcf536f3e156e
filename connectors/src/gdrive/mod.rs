//! Source `gdrive`: the spreadsheets in a Google Drive folder — uploaded
//! `.xlsx` files (downloaded with `alt=media`) and Google Sheets (exported
//! as xlsx) — listed with `files.list` (paged; the page being read is the
//! checkpoint, so a restart resumes there), read with the same parsing,
//! mapping and dedup as `local_xlsx` (see `sheets`). A file's version is
//! its `md5Checksum` (a Google Sheet has none: its `modifiedTime`), so an
//! unchanged file is not downloaded again and a renamed copy (same md5) is
//! skipped. Auth is a service account's JWT-bearer grant (`auth`).

mod auth;
mod source;

#[cfg(test)]
mod tests;

use std::path::PathBuf;

use serde::Deserialize;

use crate::http::RetryPolicy;
use crate::sheets::SheetSettings;
pub use source::GdriveSource;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GdriveConfig {
    /// The folder whose spreadsheets are read (shared with the service account).
    pub folder_id: String,
    /// The service account's JSON key file (`${GOOGLE_APPLICATION_CREDENTIALS}`); its
    /// `token_uri` is where the grant goes.
    pub key_file: PathBuf,
    #[serde(default = "default_base_url")]
    pub base_url: String,
    /// Files per listing page, 1–1000.
    #[serde(default = "default_page_size")]
    pub page_size: u32,
    #[serde(default = "default_poll_interval_secs")]
    pub poll_interval_secs: u64,
    #[serde(default)]
    pub sheets: SheetSettings,
    #[serde(default)]
    pub retry: RetryPolicy,
}

fn default_base_url() -> String {
    "https://www.googleapis.com".into()
}

fn default_page_size() -> u32 {
    100
}

fn default_poll_interval_secs() -> u64 {
    300
}

impl GdriveConfig {
    pub fn check(&self) -> Result<(), String> {
        if self.folder_id.trim().is_empty() || self.folder_id.contains('\'') {
            return Err(format!("folder_id {:?} is not a folder id", self.folder_id));
        }
        if !(1..=1000).contains(&self.page_size) {
            return Err(format!("page_size must be within 1..=1000, not {}", self.page_size));
        }
        self.sheets.check()?;
        self.retry.check_with(&self.base_url)
    }

    fn url(&self, path: &str) -> String {
        format!("{}/drive/v3/{path}", self.base_url.trim_end_matches('/'))
    }
}
