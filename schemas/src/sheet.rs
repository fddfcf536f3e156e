//! `sheet_row/v1`: one spreadsheet row. Its id is file id + sheet + row key,
//! and `content_hash` tells sinks and sources whether the row changed. A
//! row of a sheet mapped as a creator roster also carries the author
//! snapshot it describes (then the record is keyed by that author, so KOL
//! scoring sees it beside the author's posts).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::post::Profile;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SheetRowRecord {
    pub file_id: String,
    pub file_name: String,
    pub sheet: String,
    /// Value of the configured key column, or the row number.
    pub row_key: String,
    pub row_number: u64,
    /// Header → typed cell value.
    pub cells: Map<String, Value>,
    pub content_hash: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<AuthorSnapshot>,
}

/// A creator as a roster lists them, at the time of the file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuthorSnapshot {
    /// Lower case, as in posts.
    pub platform: String,
    /// The platform's author id (the handle where the roster gives no id).
    pub id: String,
    #[serde(flatten)]
    pub profile: Profile,
    /// The creator's rate, in the roster's currency.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
}

impl AuthorSnapshot {
    /// `<platform>:<id>`, as a post's author id.
    pub fn author_id(&self) -> String {
        format!("{}:{}", self.platform, self.id)
    }
}

impl SheetRowRecord {
    pub fn record_id(&self) -> String {
        format!("sheet:{}:{}:{}", self.file_id, self.sheet, self.row_key)
    }
}
