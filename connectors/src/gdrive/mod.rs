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
use std::sync::Arc;

use socialpipe_schemas::{ComponentError, Source, SourceConfig};

use crate::api::{ApiSettings, api_config};
use crate::http::SystemClock;
use crate::sheets::SheetSettings;
pub use source::GdriveSource;

api_config! {
    /// The spreadsheets in a Google Drive folder: uploaded `.xlsx` files
    /// (downloaded with `alt=media`) and Google Sheets (exported as xlsx),
    /// listed with `files.list` (paged; the page being read is the
    /// checkpoint, so a restart resumes there) and read with the same
    /// parsing, mapping and dedup as `local_xlsx`. A file's version is its
    /// `md5Checksum` (a Google Sheet's is its `modifiedTime`), so an unchanged
    /// file is not downloaded again and a renamed copy (same md5) is skipped.
    /// Auth is the service account's JWT-bearer grant (a JWT signed RS256 by
    /// the key file's private key for its `client_email`, scope
    /// `drive.readonly`, sent to its `token_uri`), renewed a minute before it
    /// expires and again when refused. A download Drive refuses
    /// (`fileNotDownloadable`, `exportSizeLimitExceeded`) becomes a dead
    /// letter with the file's name and the reason, and the source goes on.
    /// Share the folder with the service account's email.
    pub struct GdriveConfig {
        /// The folder whose spreadsheets are read (shared with the service account).
        pub folder_id: String,
        /// The service account's JSON key file (`${GOOGLE_APPLICATION_CREDENTIALS}`);
        /// its `token_uri` is where the grant goes.
        pub key_file: PathBuf,
        /// Files per listing page, 1–1000.
        #[serde(default = "default_page_size")]
        pub page_size: u32,
        /// How sheets map to records.
        #[serde(default)]
        pub sheets: SheetSettings,
    }
    defaults { base_url: "https://www.googleapis.com", poll_interval_secs: 300 }
}

fn default_page_size() -> u32 {
    100
}

impl SourceConfig for GdriveConfig {
    fn check(&self) -> Result<(), String> {
        if self.folder_id.trim().is_empty() || self.folder_id.contains('\'') {
            return Err(format!("folder_id {:?} is not a folder id", self.folder_id));
        }
        if !(1..=1000).contains(&self.page_size) {
            return Err(format!("page_size must be within 1..=1000, not {}", self.page_size));
        }
        self.sheets.check()?;
        self.check_api()
    }

    fn build(&self, name: &str) -> Result<Box<dyn Source>, ComponentError> {
        Ok(Box::new(GdriveSource::with_clock(name, self.clone(), Arc::new(SystemClock))?))
    }
}
