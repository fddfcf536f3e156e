//! Writes the quick start's sample creator roster: the sample posts' most
//! active authors with a rate and a category, as an agency would keep
//! them, plus an unmapped notes sheet (`make sample-roster`).
//!
//! `cargo run -p socialpipe-connectors --example sample_roster -- POSTS.jsonl OUT.xlsx`

use std::collections::BTreeMap;

use rust_xlsxwriter::{ExcelDateTime, Format, Formula, Workbook};
use serde_json::Value;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, posts, out] = args.as_slice() else {
        return Err("usage: sample_roster POSTS.jsonl OUT.xlsx".into());
    };
    // (platform, id) → (posts, handle, newest follower count), from the valid posts.
    let mut authors: BTreeMap<(String, String), (u32, String, u64)> = BTreeMap::new();
    for line in std::fs::read(posts)?.split(|b| *b == b'\n') {
        let Ok(post) = serde_json::from_slice::<Value>(line) else { continue };
        let author = &post["author"];
        let (Some(platform), Some(id), Some(handle)) =
            (post["platform"].as_str(), author["id"].as_str(), author["handle"].as_str())
        else {
            continue;
        };
        let entry = authors.entry((platform.to_owned(), id.to_owned())).or_insert((0, handle.to_owned(), 0));
        entry.0 += 1;
        entry.2 = entry.2.max(author["followers"].as_u64().unwrap_or(0));
    }
    let mut ranked: Vec<_> = authors.into_iter().collect();
    ranked.sort_by(|a, b| b.1.0.cmp(&a.1.0).then(a.0.cmp(&b.0)));

    let mut book = Workbook::new();
    let bold = Format::new().set_bold();
    let date = Format::new().set_num_format("yyyy-mm-dd");
    let roster = book.add_worksheet().set_name("Roster")?;
    let header = ["Platform", "Handle", "Author ID", "Followers", "Following", "Rate", "Category", "Signed", "CPM"];
    for (col, title) in header.iter().enumerate() {
        roster.write_with_format(0, col as u16, *title, &bold)?;
    }
    let categories = ["coffee", "tech", "beauty", "travel", "food", "fitness"];
    for (i, ((platform, id), (_, handle, followers))) in ranked.iter().take(12).enumerate() {
        let row = i as u32 + 1;
        // The agency's count is a little newer than the posts': 3 % more.
        let followers = followers + followers * 3 / 100;
        let rate = 50.0 + (followers as f64 / 1_000.0).round() * 4.0;
        roster.write(row, 0, platform.as_str())?;
        roster.write(row, 1, format!("@{handle}"))?;
        roster.write(row, 2, id.as_str())?;
        roster.write(row, 3, followers as f64)?;
        roster.write(row, 4, 300 + i as u32 * 17)?;
        roster.write(row, 5, rate)?;
        roster.write(row, 6, categories[i % categories.len()])?;
        roster.write_datetime_with_format(row, 7, ExcelDateTime::from_ymd(2026, 10, 1 + i as u8)?, &date)?;
        let cpm = rate * 1_000.0 / followers.max(1) as f64;
        roster.write_formula(
            row,
            8,
            Formula::new(format!("=F{0}*1000/D{0}", row + 1)).set_result(format!("{cpm:.4}")),
        )?;
    }
    let notes = book.add_worksheet().set_name("Campaign notes")?;
    notes.write_with_format(0, 0, "Note", &bold)?;
    notes.write(1, 0, "Q1 launch: brief the coffee creators first")?;
    notes.write(2, 0, "Rates are per post, in USD")?;
    book.save(out)?;
    Ok(())
}
