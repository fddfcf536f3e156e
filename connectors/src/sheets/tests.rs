//! Workbooks written with rust_xlsxwriter (as Excel writes them: shared
//! strings, date formats, formulas with their saved results), a workbook
//! encrypted by msoffcrypto-tool, and bytes that are no workbook.

use chrono::{DateTime, Utc};
use rust_xlsxwriter::{ExcelDateTime, Format, Formula, Workbook};
use serde_json::{Value, json};
use socialpipe_schemas::{RecordKind, SheetRowRecord, SourceBatch};

use super::workbook::read;
use super::{FileMeta, Loader, RowMapping, SheetRule, SheetSettings};

/// A roster (handle, platform, followers, joined, active, and a formula) and a second sheet.
pub fn roster(followers_of_ann: f64) -> Vec<u8> {
    roster_with(followers_of_ann, false)
}

/// The same, with an empty third sheet when `extra` (other bytes, the same rows).
fn roster_with(followers_of_ann: f64, extra: bool) -> Vec<u8> {
    let mut book = Workbook::new();
    let date = Format::new().set_num_format("yyyy-mm-dd");
    let sheet = book.add_worksheet().set_name("Roster").unwrap();
    for (col, title) in
        ["Handle", "Platform", "Followers", "Joined", "Active", "Doubled", "", "Followers"].iter().enumerate()
    {
        sheet.write(0, col as u16, *title).unwrap();
    }
    let rows = [("@ann", "TikTok", followers_of_ann, true), ("bob", "twitter", 900.0, false)];
    for (i, (handle, platform, followers, active)) in rows.iter().enumerate() {
        let row = i as u32 + 1;
        sheet.write(row, 0, *handle).unwrap();
        sheet.write(row, 1, *platform).unwrap();
        sheet.write(row, 2, *followers).unwrap();
        sheet
            .write_datetime_with_format(row, 3, ExcelDateTime::from_ymd(2024, 3, 1 + i as u8).unwrap(), &date)
            .unwrap();
        sheet.write(row, 4, *active).unwrap();
        let doubled = Formula::new(format!("=C{}*2", row + 1)).set_result((followers * 2.0).to_string());
        sheet.write_formula(row, 5, doubled).unwrap();
    }
    let notes = book.add_worksheet().set_name("Notes").unwrap();
    notes.write(2, 1, "note").unwrap();
    notes.write(3, 1, "call ann").unwrap();
    if extra {
        book.add_worksheet().set_name("Extra").unwrap();
    }
    book.save_to_buffer().unwrap()
}

fn settings() -> SheetSettings {
    SheetSettings {
        rules: vec![SheetRule {
            sheet: "Roster".into(),
            key_column: Some("handle".into()),
            map: RowMapping::Roster,
            columns: Default::default(),
        }],
        ..Default::default()
    }
}

fn file(id: &str, name: &str, bytes: &[u8]) -> FileMeta {
    let digest = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(bytes));
    let modified: DateTime<Utc> = "2026-11-20T08:00:00Z".parse().unwrap();
    FileMeta { id: id.into(), name: name.into(), version: digest.clone(), content: Some(digest), modified }
}

/// Reads `bytes` as file `id` if the loader wants it; everything it queued.
fn load(loader: &mut Loader, id: &str, name: &str, bytes: &[u8]) -> SourceBatch {
    let file = file(id, name, bytes);
    if loader.wants(&file) {
        loader.load(&file, bytes, "sheets");
    }
    loader.take(1_000)
}

fn sheet_rows(batch: &SourceBatch) -> Vec<SheetRowRecord> {
    batch.records.iter().filter(|r| r.kind() == Some(RecordKind::SheetRow)).map(|r| r.payload_as().unwrap()).collect()
}

#[test]
fn every_sheet_is_read_under_its_header_with_typed_cells_and_formulas_saved_values() {
    let sheets = read(&roster(12_000.0), 1 << 20).unwrap();
    assert_eq!(sheets.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), ["Roster", "Notes"]);
    let roster = &sheets[0];
    assert_eq!(roster.header, ["Handle", "Platform", "Followers", "Joined", "Active", "Doubled", "G", "Followers_2"]);
    let (number, row) = &roster.rows[0];
    assert_eq!(*number, 2);
    assert_eq!(
        Value::Object(row.clone()),
        json!({"Handle": "@ann", "Platform": "TikTok", "Followers": 12000, "Joined": "2024-03-01", "Active": true,
               "Doubled": 24000, "G": null, "Followers_2": null})
    );
    // The header is the first row with a cell: row 3 of the second sheet.
    assert_eq!(sheets[1].header, ["note"]);
    assert_eq!(sheets[1].rows, vec![(4, serde_json::Map::from_iter([("note".to_owned(), json!("call ann"))]))]);
}

#[test]
fn an_unchanged_file_gives_nothing_a_changed_cell_one_record_and_a_renamed_copy_nothing() {
    let mut loader = Loader::new(settings());
    let first = load(&mut loader, "f1", "kols.xlsx", &roster(12_000.0));
    assert_eq!(first.records.len(), 3, "two roster rows and the note");
    let ann = &sheet_rows(&first)[0];
    assert_eq!(first.records[0].id, "sheet:f1:Roster:@ann");
    assert_eq!(first.records[0].key, "tiktok:ann", "a roster row is keyed by its author");
    let author = ann.author.as_ref().unwrap();
    assert_eq!(
        (author.platform.as_str(), author.id.as_str(), author.profile.followers),
        ("tiktok", "ann", Some(12_000))
    );

    assert!(load(&mut loader, "f1", "kols.xlsx", &roster(12_000.0)).records.is_empty(), "unchanged");

    let changed = load(&mut loader, "f1", "kols.xlsx", &roster(15_000.0));
    assert_eq!(changed.records.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(), ["sheet:f1:Roster:@ann"]);
    assert_eq!(sheet_rows(&changed)[0].author.as_ref().unwrap().profile.followers, Some(15_000));

    assert!(load(&mut loader, "f2", "kols (copy).xlsx", &roster(15_000.0)).records.is_empty(), "a renamed copy");
    // A copy saved again (other bytes) with the same rows gives nothing either.
    let resaved = roster_with(15_000.0, true);
    assert_ne!(resaved, roster(15_000.0));
    assert!(load(&mut loader, "f3", "kols v2.xlsx", &resaved).records.is_empty());
}

#[test]
fn the_ledger_survives_a_restart_through_the_checkpoint() {
    let mut loader = Loader::new(settings());
    load(&mut loader, "f1", "kols.xlsx", &roster(12_000.0));
    let saved = serde_json::to_value(loader.ledger()).unwrap();
    let mut restarted = Loader::new(settings());
    restarted.restore(Some(saved)).unwrap();
    assert!(load(&mut restarted, "f1", "kols.xlsx", &roster(12_000.0)).records.is_empty());
    assert_eq!(load(&mut restarted, "f1", "kols.xlsx", &roster(13_000.0)).records.len(), 1);
}

#[test]
fn a_corrupt_or_encrypted_file_is_one_dead_letter_with_its_name_and_reason() {
    let mut loader = Loader::new(settings());
    let corrupt = load(&mut loader, "bad", "broken.xlsx", b"PK\x03\x04 this is not a zip archive");
    assert!(corrupt.records.is_empty());
    assert!(
        corrupt.rejected[0].reason.starts_with("file \"broken.xlsx\": not a readable workbook"),
        "{}",
        corrupt.rejected[0].reason
    );
    let encrypted = include_bytes!("testdata/encrypted.xlsx");
    let locked = load(&mut loader, "enc", "locked.xlsx", encrypted);
    assert_eq!(
        locked.rejected[0].reason,
        "file \"locked.xlsx\": password-protected (an encrypted workbook cannot be read without its password)"
    );
    assert_eq!(locked.rejected[0].location.as_deref(), Some("enc"));
    assert!(load(&mut loader, "enc", "locked.xlsx", encrypted).rejected.is_empty(), "reported once per version");
}

#[test]
fn roster_rows_without_a_platform_and_post_rows_that_do_not_validate_are_dead_letters() {
    let mut book = Workbook::new();
    let sheet = book.add_worksheet().set_name("Roster").unwrap();
    for (col, title) in ["handle", "platform", "followers"].iter().enumerate() {
        sheet.write(0, col as u16, *title).unwrap();
    }
    sheet.write(1, 0, "nobody").unwrap();
    sheet.write(1, 2, "many").unwrap();
    let posts = book.add_worksheet().set_name("Export").unwrap();
    for (col, title) in ["Network", "id", "author", "text", "created_at", "likes"].iter().enumerate() {
        posts.write(0, col as u16, *title).unwrap();
    }
    for (row, (id, created)) in [("p1", "2026-11-20T10:00:00Z"), ("p2", "yesterday")].iter().enumerate() {
        let row = row as u32 + 1;
        for (col, value) in ["instagram", id, "cafe.ann", "new roast", created].iter().enumerate() {
            posts.write(row, col as u16, *value).unwrap();
        }
        posts.write(row, 5, 42).unwrap();
    }
    let bytes = book.save_to_buffer().unwrap();
    let mut settings = settings();
    settings.rules.push(SheetRule {
        sheet: "Export".into(),
        key_column: None,
        map: RowMapping::Posts,
        columns: [("platform".to_owned(), "network".to_owned())].into(),
    });
    let mut loader = Loader::new(settings);
    let batch = load(&mut loader, "f9", "export.xlsx", &bytes);
    assert_eq!(batch.records.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(), ["instagram:p1"]);
    let post: Value = serde_json::from_str(batch.records[0].payload.get()).unwrap();
    assert_eq!(post["author"], json!({"id": "cafe.ann", "handle": "cafe.ann"}));
    assert_eq!(post["metrics"], json!({"likes": 42}));
    let reasons: Vec<&str> = batch.rejected.iter().map(|r| r.reason.as_str()).collect();
    assert_eq!(reasons.len(), 2);
    assert_eq!(reasons[0], "roster row: platform: missing");
    assert!(reasons[1].contains("created_at"), "{}", reasons[1]);
    assert_eq!(batch.rejected[0].location.as_deref(), Some("export.xlsx / Roster / row 2"));
}

#[test]
fn the_compound_file_that_made_calamine_panic_is_a_dead_letter() {
    // Found by `make fuzz-xlsx` when compound files were read: calamine 0.37
    // indexes past a sector of this malformed one (cfb.rs) and panics. Such
    // files no longer reach it; its directory names an EncryptedPackage.
    let mut loader = Loader::new(settings());
    let batch = load(&mut loader, "p", "odd.xls", include_bytes!("testdata/reader-panic.bin"));
    assert!(batch.records.is_empty());
    assert!(
        batch.rejected[0].reason.starts_with("file \"odd.xls\": password-protected"),
        "{}",
        batch.rejected[0].reason
    );
}

#[test]
fn legacy_formats_and_workbooks_that_expand_past_the_limit_are_dead_letters() {
    let mut loader = Loader::new(settings());
    let xls = load(&mut loader, "o", "old.xls", b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1 a compound file without a package");
    assert!(xls.rejected[0].reason.contains("not an Office Open XML workbook"), "{}", xls.rejected[0].reason);
    let small = SheetSettings { max_expanded_bytes: 4_096, ..settings() };
    let mut loader = Loader::new(small);
    let big = load(&mut loader, "b", "big.xlsx", &roster(1.0));
    assert!(big.rejected[0].reason.contains("> max_expanded_bytes 4096"), "{}", big.rejected[0].reason);
}
