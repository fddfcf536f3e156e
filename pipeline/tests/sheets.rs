//! Spreadsheets through the real binary: a roster read by `local_xlsx`
//! lands as sheet rows and author snapshots, feeds the KOL scores, and a
//! rerun emits only what changed.

mod common;

use common::*;
use rust_xlsxwriter::Workbook;

/// A roster of TikTok creators (their author id is their handle): `(handle, followers)`.
fn roster(creators: &[(&str, u64)]) -> Vec<u8> {
    let mut book = Workbook::new();
    let sheet = book.add_worksheet().set_name("Roster").unwrap();
    for (col, title) in ["Platform", "Handle", "Followers", "Rate", "Category"].iter().enumerate() {
        sheet.write(0, col as u16, *title).unwrap();
    }
    for (i, (handle, followers)) in creators.iter().enumerate() {
        let row = i as u32 + 1;
        sheet.write(row, 0, "tiktok").unwrap();
        sheet.write(row, 1, format!("@{handle}")).unwrap();
        sheet.write(row, 2, *followers as f64).unwrap();
        sheet.write(row, 3, 120.0 + i as f64).unwrap();
        sheet.write(row, 4, "coffee").unwrap();
    }
    book.save_to_buffer().unwrap()
}

const CONFIG: &str = r#"
[transport]
type = "embedded"
path = "{dir}/log"

[http]
enabled = false

[sources.posts]
type = "jsonl"
path = "{dir}/posts.jsonl"

[sources.rosters]
type = "local_xlsx"
path = "{dir}/rosters"
[[sources.rosters.sheets.rules]]
sheet = "Roster"
key_column = "Handle"
map = "roster"

[[stages]]
type = "kol"

[sinks.db]
type = "sqlite"
path = "{dir}/out.db"
batch_timeout_ms = 50
"#;

fn query(db: &std::path::Path, sql: &str) -> Vec<Vec<String>> {
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut stmt = conn.prepare(sql).unwrap();
    let columns = stmt.column_count();
    stmt.query_map([], |r| {
        (0..columns)
            .map(|i| r.get::<_, rusqlite::types::Value>(i).map(|v| format!("{v:?}")))
            .collect::<Result<Vec<_>, _>>()
    })
    .unwrap()
    .collect::<Result<_, _>>()
    .unwrap()
}

#[test]
fn a_roster_feeds_authors_and_kol_scores_and_a_rerun_emits_only_the_changed_row() {
    let scratch = Scratch::new();
    let posts: String = (0..3)
        .map(|i| {
            format!(
                r#"{{"platform":"tiktok","id":"v{i}","author":{{"id":"ann","handle":"ann"}},"text":"latte art #{i}","created_at":"2026-11-2{i}T10:00:00Z","metrics":{{"likes":50,"comments":5,"views":2000}}}}"#
            ) + "\n"
        })
        .collect();
    std::fs::write(scratch.path("posts.jsonl"), posts).unwrap();
    std::fs::create_dir_all(scratch.path("rosters")).unwrap();
    std::fs::write(scratch.path("rosters/kols.xlsx"), roster(&[("ann", 48_000), ("bob", 900)])).unwrap();
    let config = scratch.config("sheets.toml", CONFIG);
    let config = config.to_str().unwrap();
    run_ok(&["run", "--config", config, "--once"]);
    let db = scratch.db();

    let authors = query(&db, "SELECT id, handle, followers, rate, category FROM authors ORDER BY id");
    assert_eq!(authors.len(), 2, "{authors:?}");
    assert_eq!(
        authors[0],
        ["Text(\"tiktok:ann\")", "Text(\"ann\")", "Integer(48000)", "Real(120.0)", "Text(\"coffee\")"]
    );
    let rows = query(&db, "SELECT id, author_id FROM sheet_rows ORDER BY id");
    assert_eq!(rows[0], ["Text(\"sheet:kols.xlsx:Roster:@ann\")", "Text(\"tiktok:ann\")"]);
    // The posts carry no follower count: the roster's gives ann a tier.
    let score = query(&db, "SELECT followers, tier FROM kol_latest WHERE author_id = 'tiktok:ann'");
    assert_eq!(score, [["Integer(48000)", "Text(\"micro\")"]]);
    assert!(query(&db, "SELECT 1 FROM kol_latest WHERE author_id = 'tiktok:bob'").is_empty(), "bob has no posts");

    // A rerun of the same file emits nothing: every row keeps its version.
    let versions = || query(&db, "SELECT id, version FROM sheet_rows ORDER BY id");
    let before = versions();
    run_ok(&["run", "--config", config, "--once"]);
    assert_eq!(versions(), before);

    // One changed cell: exactly that row is emitted again, with a higher version.
    std::fs::write(scratch.path("rosters/kols.xlsx"), roster(&[("ann", 48_000), ("bob", 1_500)])).unwrap();
    run_ok(&["run", "--config", config, "--once"]);
    let after = versions();
    let changed: Vec<&String> = after.iter().zip(&before).filter(|(a, b)| a[1] != b[1]).map(|(a, _)| &a[0]).collect();
    assert_eq!(changed, ["Text(\"sheet:kols.xlsx:Roster:@bob\")"]);
    assert_eq!(query(&db, "SELECT followers FROM authors WHERE id = 'tiktok:bob'"), [["Integer(1500)"]]);
}
