//! What the spreadsheet sources (`gdrive`, `local_xlsx`) share: reading a
//! workbook's sheets (`workbook`), turning rows into records as the
//! configured rules say (`rows`: sheet rows, creator rosters, posts), and
//! the ledger that decides what is new (`ledger`): an unchanged file is not
//! read again, a renamed copy of a file read before is skipped, and only
//! rows whose content changed are emitted again.

mod ledger;
mod rows;
pub mod workbook;

#[cfg(test)]
pub(crate) mod tests;

use std::collections::BTreeMap;

use serde::Deserialize;

pub use ledger::{FileMeta, Ledger, Loader};

/// How the rows of one sheet (or of every other sheet, `sheet = "*"`)
/// become records.
#[derive(Debug, Clone, serde::Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SheetRule {
    /// The sheet's name, or `*` for every sheet no other rule names.
    pub sheet: String,
    /// The column whose value identifies a row (a handle, an external id);
    /// without one, the row number does.
    #[serde(default)]
    pub key_column: Option<String>,
    /// What the rows become.
    #[serde(default)]
    pub map: RowMapping,
    /// Header names for the mapped fields where they differ from the
    /// field's own name (`{followers = "Followers (k)"}`); matched without
    /// regard to case.
    #[serde(default)]
    pub columns: BTreeMap<String, String>,
}

/// What a sheet's rows become. `rows`: `sheet_row/v1` records, cells as
/// they are. `roster`: each row is a creator (`platform`, `handle`,
/// `author_id`, `name`, `followers`, `following`, `rate`, `category`): a
/// `sheet_row/v1` carrying an author snapshot, keyed `<platform>:<author_id>`
/// (the handle where there is no id column: give one for platforms whose
/// author id is not the handle, as X, YouTube, Facebook and Instagram), so
/// the `kol` stage sees it beside the author's posts and takes its follower
/// counts (as of the file's time) and handle; a row without a platform, or
/// without both handle and id, is a dead letter. `posts`: each row is a post
/// (`platform`, `id`, `author_id`, `author`, `text`, `created_at`, `likes`,
/// `comments`, `shares`, `views`, `url`, `lang`), validated like any raw
/// post; the row key is the `id` column.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RowMapping {
    #[default]
    Rows,
    Roster,
    Posts,
}

/// How sheets map to records, and the bounds on what is read. Every sheet
/// of a workbook is read (calamine): the header is the first row with a
/// cell in it (a blank header cell is named by its column letter, a
/// repeated one gets `_2`…), cells are typed (numbers, whole numbers as
/// integers, booleans, text, dates as `YYYY-MM-DD` or `YYYY-MM-DDTHH:MM:SS`,
/// empty and error cells as null), and formulas give the value Excel saved
/// with them. A row's id is `sheet:<file id>:<sheet>:<row key>`, the row key
/// being the `key_column`'s value or the row number. What is new is decided
/// by a ledger in the checkpoint: a file whose version was read is not read
/// again, a file with the same bytes as one read before (a renamed copy) is
/// skipped, and within a file only rows whose (sheet, row key, content) was
/// not emitted before are emitted: one changed cell gives exactly one record,
/// with the same id and a higher version. A file that is corrupt,
/// password-protected, not an Office Open XML workbook (legacy `.xls`,
/// `.xlsb`, `.ods`: save it as `.xlsx`), over `max_file_bytes`, or whose
/// parts expand to more than `max_expanded_bytes` becomes one dead letter
/// with its name and the reason, once per version; the source goes on.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SheetSettings {
    /// One rule per sheet name (or `*`); sheets without a rule become plain rows.
    #[serde(default)]
    pub rules: Vec<SheetRule>,
    /// Larger files are dead-lettered unread.
    #[serde(default = "default_max_file_bytes")]
    pub max_file_bytes: u64,
    /// A workbook whose parts expand to more is dead-lettered unread (what
    /// bounds the memory reading it takes).
    #[serde(default = "default_max_expanded_bytes")]
    pub max_expanded_bytes: u64,
    /// Row digests the ledger keeps, 8 bytes each (oldest forgotten first: a
    /// forgotten row that comes again unchanged is emitted again, and sinks
    /// upsert it).
    #[serde(default = "default_max_tracked_rows")]
    pub max_tracked_rows: usize,
}

impl Default for SheetSettings {
    fn default() -> Self {
        SheetSettings {
            rules: Vec::new(),
            max_file_bytes: default_max_file_bytes(),
            max_expanded_bytes: default_max_expanded_bytes(),
            max_tracked_rows: default_max_tracked_rows(),
        }
    }
}

fn default_max_file_bytes() -> u64 {
    50 << 20
}

fn default_max_expanded_bytes() -> u64 {
    256 << 20
}

fn default_max_tracked_rows() -> usize {
    200_000
}

impl SheetSettings {
    pub fn check(&self) -> Result<(), String> {
        let mut named = std::collections::HashSet::new();
        for rule in &self.rules {
            if !named.insert(rule.sheet.as_str()) {
                return Err(format!("sheets: {:?} has two rules", rule.sheet));
            }
            let known = match rule.map {
                RowMapping::Rows => &[][..],
                RowMapping::Roster => &rows::ROSTER_FIELDS[..],
                RowMapping::Posts => &rows::POST_FIELDS[..],
            };
            if let Some(field) = rule.columns.keys().find(|f| !known.contains(&f.as_str())) {
                return Err(format!(
                    "sheets {:?}: {field:?} is not a field of {:?} (known: {known:?})",
                    rule.sheet, rule.map
                ));
            }
        }
        if self.max_file_bytes == 0 || self.max_expanded_bytes == 0 || self.max_tracked_rows == 0 {
            return Err("max_file_bytes, max_expanded_bytes and max_tracked_rows must be positive".into());
        }
        Ok(())
    }

    /// The rule for a sheet: its own, else `*`'s, else plain rows.
    fn rule(&self, sheet: &str) -> Option<&SheetRule> {
        self.rules.iter().find(|r| r.sheet == sheet).or_else(|| self.rules.iter().find(|r| r.sheet == "*"))
    }
}
