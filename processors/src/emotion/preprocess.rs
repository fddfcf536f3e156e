//! nade's preprocessing, as pyarrow computes it: spaces around runs of
//! punctuation (`\s*([\p{P}]+)\s*` → ` \1 `), whitespace runs collapsed,
//! lower case, trimmed. pyarrow's RE2 and utf8proc differ from Rust's
//! tables in places (ASCII-only `\s`, 13 code points Rust counts as
//! punctuation, a 1:1 lower-case mapping on a different Unicode version);
//! `tests.rs` compares every code point with pyarrow's output.

use std::sync::LazyLock;

use regex::Regex;

/// RE2's `\s` is `[\t\n\f\r ]`; `\p{P}` without what RE2's tables lack.
static PUNCTUATION_RUN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"[\t\n\f\r ]*([\p{P}--[\x{1B4E}\x{1B4F}\x{1B7F}\x{10D6E}\x{113D4}\x{113D5}\x{113D7}\x{113D8}\x{11BE1}\x{16D6D}\x{16D6E}\x{16D6F}\x{1E5FF}]]+)[\t\n\f\r ]*",
    )
    .expect("a valid pattern")
});
static SPACE_RUN: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"[\t\n\f\r ]+").expect("a valid pattern"));

/// Code points utf8proc lower-cases differently from Rust's std (found by
/// the code point test): (from, to).
const LOWER_OVERRIDES: &[(char, char)] = &[
    ('\u{A7DD}', '\u{277}'),
    ('\u{A7E2}', '\u{27C}'),
    ('\u{AB6C}', '\u{AB4B}'),
    ('\u{AB6D}', '\u{AB4C}'),
    ('\u{1DF40}', '\u{1DF41}'),
    ('\u{1DF48}', '\u{1DF49}'),
    ('\u{1DF4A}', '\u{1DF4B}'),
    ('\u{1DF4D}', '\u{1DF4E}'),
    ('\u{1DF51}', '\u{1DF52}'),
    ('\u{1DF68}', '\u{1DF69}'),
    ('\u{1DF6A}', '\u{1DF6B}'),
    ('\u{1DF6C}', '\u{1DF6D}'),
    ('\u{1DF6E}', '\u{1DF6F}'),
    ('\u{1DF72}', '\u{1DF73}'),
    ('\u{1DF74}', '\u{1DF75}'),
    ('\u{1DF76}', '\u{1DF77}'),
    ('\u{1DF78}', '\u{1DF79}'),
    ('\u{1DF7A}', '\u{1DF7B}'),
    ('\u{1DF7C}', '\u{1DF7D}'),
    ('\u{1DF7E}', '\u{1DF7F}'),
];

fn lower(ch: char) -> char {
    if ch.is_ascii() {
        return ch.to_ascii_lowercase();
    }
    if let Ok(i) = LOWER_OVERRIDES.binary_search_by_key(&ch, |&(from, _)| from) {
        return LOWER_OVERRIDES[i].1;
    }
    // 1:1: the first code point of a longer mapping (İ → i, not i̇).
    ch.to_lowercase().next().unwrap_or(ch)
}

/// utf8proc's whitespace, which `utf8_trim_whitespace` strips.
fn is_trimmed(ch: char) -> bool {
    ch.is_whitespace() || ('\u{1C}'..='\u{1F}').contains(&ch)
}

pub fn preprocess(text: &str) -> String {
    let spaced = PUNCTUATION_RUN.replace_all(text, " $1 ");
    let collapsed = SPACE_RUN.replace_all(&spaced, " ");
    let lowered: String = collapsed.chars().map(lower).collect();
    lowered.trim_matches(is_trimmed).to_owned()
}
