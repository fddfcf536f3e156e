//! `sheet_row/v1`: one spreadsheet row. Its id is file id + sheet + row key,
//! and `content_hash` tells sinks and sources whether the row changed.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

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
}

impl SheetRowRecord {
    pub fn record_id(&self) -> String {
        format!("sheet:{}:{}:{}", self.file_id, self.sheet, self.row_key)
    }
}
