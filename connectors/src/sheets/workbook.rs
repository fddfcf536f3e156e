//! A workbook's sheets as typed rows under their header, read with
//! calamine: numbers, booleans, text, dates (as ISO 8601 text), empty
//! cells as null, and formulas as the values Excel saved with them.
//! Never panics, whatever the bytes (fuzzed: `make fuzz-xlsx`).
//!
//! Only Office Open XML workbooks (`.xlsx`, `.xlsm`) are read, and only
//! when their parts expand to at most the configured size: fuzzing found
//! calamine's compound-file reader (legacy `.xls`) allocating gigabytes for
//! a few kilobytes of input, and a zip's expansion is what bounds the
//! memory a sheet takes.

use std::io::Cursor;

use calamine::{Data, DataType, Reader, Xlsx};
use serde_json::{Map, Value, json};

/// One sheet: its header and the rows below it.
#[derive(Debug, Clone, PartialEq)]
pub struct Sheet {
    pub name: String,
    pub header: Vec<String>,
    /// 1-based row number in the sheet, and header → cell.
    pub rows: Vec<(u64, Map<String, Value>)>,
}

/// Why a file could not be read, for its dead letter.
pub fn unreadable(bytes: &[u8], error: impl std::fmt::Display) -> String {
    // An encrypted workbook is an OLE compound file holding an
    // `EncryptedPackage` stream, not a zip.
    const OLE: [u8; 8] = [0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];
    let utf16 = |s: &str| s.encode_utf16().flat_map(u16::to_le_bytes).collect::<Vec<u8>>();
    let marker = utf16("EncryptedPackage");
    if bytes.starts_with(&OLE) && bytes.windows(marker.len()).any(|w| w == marker.as_slice()) {
        return "password-protected (an encrypted workbook cannot be read without its password)".into();
    }
    format!("not a readable workbook: {error}")
}

/// Every sheet of the workbook in `bytes`, when its parts expand to at
/// most `max_expanded_bytes`. The reader is third-party code on untrusted
/// bytes: should it panic, the file is reported unreadable instead of
/// stopping the source.
pub fn read(bytes: &[u8], max_expanded_bytes: u64) -> Result<Vec<Sheet>, String> {
    std::panic::catch_unwind(|| read_sheets(bytes, max_expanded_bytes)).unwrap_or_else(|panic| {
        let what =
            panic.downcast_ref::<&str>().map(|s| s.to_string()).or_else(|| panic.downcast_ref::<String>().cloned());
        Err(format!("the workbook reader failed on it: {}", what.unwrap_or_default()))
    })
}

fn read_sheets(bytes: &[u8], max_expanded_bytes: u64) -> Result<Vec<Sheet>, String> {
    if !bytes.starts_with(b"PK\x03\x04") {
        return Err(unreadable(
            bytes,
            "not an Office Open XML workbook (.xls, .xlsb and .ods are not read: save it as .xlsx)",
        ));
    }
    // The central directory's sizes (the zip reader holds each part to its size).
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).map_err(|e| unreadable(bytes, e))?;
    let mut expanded: u64 = 0;
    for index in 0..archive.len() {
        expanded = expanded.saturating_add(archive.by_index_raw(index).map_err(|e| unreadable(bytes, e))?.size());
    }
    if expanded > max_expanded_bytes {
        return Err(format!("its parts expand to {expanded} bytes > max_expanded_bytes {max_expanded_bytes}"));
    }
    let mut workbook = Xlsx::new(Cursor::new(bytes)).map_err(|e| unreadable(bytes, e))?;
    let names = workbook.sheet_names().to_owned();
    let mut sheets = Vec::with_capacity(names.len());
    for name in names {
        let range = workbook.worksheet_range(&name).map_err(|e| format!("sheet {name:?}: {e}"))?;
        let (start_row, start_column) = range.start().unwrap_or((0, 0));
        let start_row = u64::from(start_row);
        let mut rows = range.rows().enumerate().map(|(i, cells)| (start_row + i as u64 + 1, cells));
        // The header: the first row with a cell in it.
        let Some((_, header)) = rows.by_ref().find(|(_, cells)| cells.iter().any(|c| !c.is_empty())) else {
            sheets.push(Sheet { name, header: Vec::new(), rows: Vec::new() });
            continue;
        };
        let header = header_names(header, start_column as usize);
        let mut sheet = Sheet { name, header, rows: Vec::new() };
        for (number, cells) in rows {
            if cells.iter().all(|c| c.is_empty()) {
                continue;
            }
            let row: Map<String, Value> = sheet
                .header
                .iter()
                .cloned()
                .zip(cells.iter().map(typed).chain(std::iter::repeat(Value::Null)))
                .collect();
            sheet.rows.push((number, row));
        }
        sheets.push(sheet);
    }
    Ok(sheets)
}

/// Header cells as column names: trimmed text; a blank one is named by its
/// column letter (the range starts at column `first`), a repeated one gets
/// `_2`, `_3`…
fn header_names(cells: &[Data], first: usize) -> Vec<String> {
    let mut names: Vec<String> = Vec::with_capacity(cells.len());
    for (i, cell) in cells.iter().enumerate() {
        let base = match typed(cell) {
            Value::Null => column_letter(first + i),
            Value::String(text) if text.trim().is_empty() => column_letter(first + i),
            Value::String(text) => text.trim().to_owned(),
            other => other.to_string(),
        };
        let mut name = base.clone();
        let mut n = 1;
        while names.contains(&name) {
            n += 1;
            name = format!("{base}_{n}");
        }
        names.push(name);
    }
    names
}

/// `A`, `B`, … `Z`, `AA`, … for a 0-based column.
fn column_letter(mut index: usize) -> String {
    let mut letters = Vec::new();
    loop {
        letters.push(b'A' + (index % 26) as u8);
        if index < 26 {
            break;
        }
        index = index / 26 - 1;
    }
    letters.reverse();
    String::from_utf8(letters).expect("ascii")
}

/// A cell as JSON. Excel keeps every number as a float: a whole one
/// becomes an integer (a count stays a count). An error cell is null (its
/// text would read as data).
fn typed(cell: &Data) -> Value {
    match cell {
        Data::Int(i) => json!(i),
        Data::Float(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => json!(*f as i64),
        Data::Float(f) if f.is_finite() => json!(f),
        Data::Float(_) => Value::Null,
        Data::String(s) => json!(s),
        Data::Bool(b) => json!(b),
        Data::DateTime(_) => match cell.as_datetime() {
            Some(at) if at.time() == chrono::NaiveTime::MIN => json!(at.date().format("%Y-%m-%d").to_string()),
            Some(at) => json!(at.format("%Y-%m-%dT%H:%M:%S").to_string()),
            None => Value::Null,
        },
        Data::DateTimeIso(s) | Data::DurationIso(s) => json!(s),
        Data::Error(_) | Data::Empty => Value::Null,
    }
}
