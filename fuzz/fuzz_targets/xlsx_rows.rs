//! Any bytes a spreadsheet source may download: reading and mapping never
//! panic out of `Loader::load`, and every rejection has a reason. The rules
//! map one sheet as a roster and one as posts, so the mappings run too.
//!
//! calamine itself panicked on malformed compound files (found here, before
//! only zip-based workbooks were read); `workbook::read` turns such a panic
//! into a dead letter. libFuzzer's panic hook would abort on that caught
//! panic, so the hook is silenced: a panic anywhere else still escapes the
//! target and is reported as a crash. Memory is bounded by libFuzzer's
//! `-rss_limit_mb` (2 GiB), which found calamine's compound-file reader
//! allocating past it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use socialpipe_connectors::sheets::{FileMeta, Loader, RowMapping, SheetRule, SheetSettings};

fn rule(sheet: &str, map: RowMapping) -> SheetRule {
    SheetRule { sheet: sheet.into(), key_column: Some("handle".into()), map, columns: Default::default() }
}

fuzz_target!(|bytes: &[u8]| {
    static QUIET: std::sync::Once = std::sync::Once::new();
    QUIET.call_once(|| std::panic::set_hook(Box::new(|_| {})));
    let settings = SheetSettings {
        rules: vec![rule("Roster", RowMapping::Roster), rule("Posts", RowMapping::Posts)],
        ..Default::default()
    };
    let mut loader = Loader::new(settings);
    let file = FileMeta {
        id: "fuzz".into(),
        name: "fuzz.xlsx".into(),
        version: "1".into(),
        content: None,
        modified: chrono::DateTime::UNIX_EPOCH,
    };
    loader.load(&file, bytes, "fuzz");
    let batch = loader.take(usize::MAX);
    assert!(batch.rejected.iter().all(|r| !r.reason.is_empty()));
});
