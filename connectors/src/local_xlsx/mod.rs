//! Source `local_xlsx`: the workbooks in a directory (`.xlsx`, `.xlsm`),
//! read in name order with the same parsing,
//! mapping and dedup as `gdrive` (see `sheets`). A file's id is its name
//! in the directory; its version is the sha256 of its bytes, so an
//! unchanged file produces nothing and a renamed copy is skipped. A daemon
//! looks again every `poll_interval_ms`.

mod source;

#[cfg(test)]
mod tests;

use std::path::PathBuf;

use serde::Deserialize;
use socialpipe_schemas::{ComponentError, Source, SourceConfig};

use crate::sheets::SheetSettings;
pub use source::LocalXlsxSource;

/// The workbooks (`.xlsx`, `.xlsm`; Excel's `~$` lock files skipped) in a
/// directory, read in name order with the same parsing, mapping and dedup
/// as `gdrive`: a file's id is its name, its version the sha256 of its
/// bytes, so an unchanged file produces nothing and a renamed copy is
/// skipped; only changed rows are emitted.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LocalXlsxConfig {
    /// The directory watched.
    pub path: PathBuf,
    #[serde(default)]
    pub sheets: SheetSettings,
    /// How often a daemon looks at the directory again.
    #[serde(default = "default_poll_interval_ms")]
    pub poll_interval_ms: u64,
}

fn default_poll_interval_ms() -> u64 {
    2_000
}

impl SourceConfig for LocalXlsxConfig {
    fn check(&self) -> Result<(), String> {
        if self.poll_interval_ms == 0 {
            return Err("poll_interval_ms must be positive".into());
        }
        self.sheets.check()
    }

    fn build(&self, name: &str) -> Result<Box<dyn Source>, ComponentError> {
        Ok(Box::new(LocalXlsxSource::new(name, self.clone())))
    }
}
