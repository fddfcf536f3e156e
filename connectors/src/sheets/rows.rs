//! A sheet's rows as records: plain sheet rows, roster rows with their
//! author snapshot, or posts, as the sheet's rule says. A row that does
//! not map (a roster row without a platform, a post without an id) is
//! rejected with its cells and the reason.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use socialpipe_schemas::{AuthorSnapshot, Envelope, Profile, RecordKind, Rejected, SheetRowRecord};

use super::workbook::Sheet;
use super::{RowMapping, SheetRule};
use crate::records::{reject, to_post};

pub const ROSTER_FIELDS: [&str; 8] =
    ["platform", "handle", "author_id", "name", "followers", "following", "rate", "category"];
pub const POST_FIELDS: [&str; 12] = [
    "platform",
    "id",
    "author_id",
    "author",
    "text",
    "created_at",
    "likes",
    "comments",
    "shares",
    "views",
    "url",
    "lang",
];

/// The file a sheet came from.
pub struct Origin<'a> {
    pub file_id: &'a str,
    pub file_name: &'a str,
    pub modified: DateTime<Utc>,
    pub source: &'a str,
}

/// One row, mapped: the record (or why not) and the digest that says
/// whether it was emitted before (sheet, row key and content).
pub struct MappedRow {
    pub outcome: Result<Envelope, Rejected>,
    pub digest: u64,
}

pub fn map_sheet(sheet: &Sheet, rule: Option<&SheetRule>, origin: &Origin) -> Vec<MappedRow> {
    let mapping = rule.map_or(RowMapping::Rows, |r| r.map);
    let key_column = rule.and_then(|r| r.key_column.clone()).or_else(|| match mapping {
        // A post's id identifies it.
        RowMapping::Posts => Some(column(rule, "id").unwrap_or_else(|| "id".into())),
        _ => None,
    });
    let key_column = key_column.and_then(|k| sheet.header.iter().find(|h| h.eq_ignore_ascii_case(&k)).cloned());
    sheet
        .rows
        .iter()
        .map(|(number, cells)| {
            let row_key =
                key_column.as_ref().and_then(|k| cells.get(k)).and_then(text).unwrap_or_else(|| number.to_string());
            let content_hash = hex::encode(Sha256::digest(Value::Object(cells.clone()).to_string().as_bytes()));
            let digest = digest(&sheet.name, &row_key, &content_hash);
            let record = SheetRowRecord {
                file_id: origin.file_id.to_owned(),
                file_name: origin.file_name.to_owned(),
                sheet: sheet.name.clone(),
                row_key,
                row_number: *number,
                cells: cells.clone(),
                content_hash,
                author: None,
            };
            let location = format!("{} / {} / row {number}", origin.file_name, sheet.name);
            let outcome = match mapping {
                RowMapping::Rows => Ok(sheet_row(record, origin)),
                RowMapping::Roster => roster_row(record, rule, origin),
                RowMapping::Posts => post_row(cells, rule, origin),
            }
            .map_err(|reason| reject(&Value::Object(cells.clone()), reason, &location));
            MappedRow { outcome, digest }
        })
        .collect()
}

fn sheet_row(record: SheetRowRecord, origin: &Origin) -> Envelope {
    let key = match &record.author {
        Some(author) => author.author_id(),
        None => record.file_id.clone(),
    };
    let id = record.record_id();
    Envelope::new(RecordKind::SheetRow, id, key, origin.source, origin.modified, Envelope::encode_payload(&record))
}

fn roster_row(mut record: SheetRowRecord, rule: Option<&SheetRule>, origin: &Origin) -> Result<Envelope, String> {
    let cell = |field: &str| cell(&record.cells, rule, field);
    let platform = cell("platform").and_then(|v| text(&v)).ok_or("roster row: platform: missing")?;
    let handle = cell("handle").and_then(|v| text(&v)).map(|h| h.trim_start_matches('@').to_owned());
    let id = cell("author_id").and_then(|v| text(&v)).or_else(|| handle.clone());
    let id = id.ok_or("roster row: neither author_id nor handle")?;
    let count = |field: &str| -> Result<Option<u64>, String> {
        match cell(field) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v
                .as_f64()
                .or_else(|| v.as_str().and_then(|s| s.replace([',', '_', ' '], "").parse().ok()))
                .filter(|n| *n >= 0.0 && n.is_finite())
                .map(|n| Some(n.round() as u64))
                .ok_or_else(|| format!("roster row: {field}: {v} is not a count")),
        }
    };
    let profile = Profile {
        handle,
        name: cell("name").and_then(|v| text(&v)),
        followers: count("followers")?,
        following: count("following")?,
    };
    let author = AuthorSnapshot {
        platform: platform.to_lowercase(),
        id,
        profile,
        rate: cell("rate").and_then(|v| v.as_f64().or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))),
        category: cell("category").and_then(|v| text(&v)),
    };
    record.author = Some(author);
    Ok(sheet_row(record, origin))
}

fn post_row(cells: &Map<String, Value>, rule: Option<&SheetRule>, origin: &Origin) -> Result<Envelope, String> {
    let cell = |field: &str| cell(cells, rule, field).unwrap_or(Value::Null);
    let id_text = |field: &str| text(&cell(field)).map(Value::String).unwrap_or(Value::Null);
    let author_id = id_text("author_id");
    let handle = id_text("author");
    let raw = json!({
        "platform": cell("platform"),
        "id": id_text("id"),
        "author": {"id": if author_id.is_null() { handle.clone() } else { author_id }, "handle": handle},
        "text": cell("text"),
        "created_at": cell("created_at"),
        "metrics": {"likes": cell("likes"), "comments": cell("comments"), "shares": cell("shares"), "views": cell("views")},
        "url": cell("url"),
        "lang": cell("lang"),
    });
    let post = to_post(raw, "post row")?;
    Ok(post.into_envelope(origin.source))
}

/// The header a field is read from: the rule's name for it, else the field's own.
fn column(rule: Option<&SheetRule>, field: &str) -> Option<String> {
    rule.and_then(|r| r.columns.get(field)).cloned()
}

fn cell(cells: &Map<String, Value>, rule: Option<&SheetRule>, field: &str) -> Option<Value> {
    let name = column(rule, field).unwrap_or_else(|| field.to_owned());
    cells.iter().find(|(header, _)| header.eq_ignore_ascii_case(&name)).map(|(_, v)| v.clone())
}

/// A cell as an identifier: text trimmed, a whole number without its `.0`.
fn text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        Value::Number(n) => Some(match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", f as i64),
            _ => n.to_string(),
        }),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// 64 bits of sha256(sheet, row key, content): enough to tell rows apart in a ledger.
fn digest(sheet: &str, key: &str, content_hash: &str) -> u64 {
    let hash = Sha256::digest(format!("{sheet}\u{1f}{key}\u{1f}{content_hash}").as_bytes());
    u64::from_le_bytes(hash[..8].try_into().expect("8 bytes"))
}
