//! The few CPython `str` behaviours VADER's rules depend on, exactly:
//! `isspace` (what `split()` and `strip()` cut on), `isupper`, and
//! `round(x, n)`. `tests.rs` checks the predicates on every code point
//! against a table written by CPython 3.11 (scripts/reference).

/// `ch.isspace()`: Unicode White_Space plus the four ASCII information
/// separators CPython also counts (U+001C–U+001F).
pub fn is_space(ch: char) -> bool {
    ch.is_whitespace() || ('\u{1C}'..='\u{1F}').contains(&ch)
}

/// CPython 3.11 is on Unicode 14.0, Rust's std on a later version: the
/// code points whose Uppercase / Lowercase property differs between the
/// two (letters added since, and a few recategorised, like U+0295), found
/// by the code point test. Update them when either side moves.
const UPPER_DIFFERS: &[(char, char)] = &[
    ('\u{1C89}', '\u{1C89}'),
    ('\u{A7CB}', '\u{A7CC}'),
    ('\u{A7CE}', '\u{A7CE}'),
    ('\u{A7D2}', '\u{A7D2}'),
    ('\u{A7D4}', '\u{A7D4}'),
    ('\u{A7DA}', '\u{A7DA}'),
    ('\u{A7DC}', '\u{A7DC}'),
    ('\u{10D50}', '\u{10D65}'),
    ('\u{16EA0}', '\u{16EB8}'),
];
const LOWER_DIFFERS: &[(char, char)] = &[
    ('\u{295}', '\u{295}'),
    ('\u{10FC}', '\u{10FC}'),
    ('\u{1C8A}', '\u{1C8A}'),
    ('\u{A7CD}', '\u{A7CD}'),
    ('\u{A7CF}', '\u{A7CF}'),
    ('\u{A7DB}', '\u{A7DB}'),
    ('\u{A7F1}', '\u{A7F4}'),
    ('\u{AB69}', '\u{AB69}'),
    ('\u{10D70}', '\u{10D85}'),
    ('\u{16EBB}', '\u{16ED3}'),
    ('\u{1DF25}', '\u{1DF2A}'),
    ('\u{1E030}', '\u{1E06D}'),
];

fn listed(table: &[(char, char)], ch: char) -> bool {
    table.iter().any(|&(lo, hi)| (lo..=hi).contains(&ch))
}

fn is_upper_char(ch: char) -> bool {
    ch.is_uppercase() != listed(UPPER_DIFFERS, ch)
}

fn is_lower_char(ch: char) -> bool {
    ch.is_lowercase() != listed(LOWER_DIFFERS, ch)
}

/// Category Lt (stable since Unicode 1.1).
fn is_title_char(ch: char) -> bool {
    matches!(ch,
        '\u{1C5}' | '\u{1C8}' | '\u{1CB}' | '\u{1F2}' | '\u{1F88}'..='\u{1F8F}' | '\u{1F98}'..='\u{1F9F}'
        | '\u{1FA8}'..='\u{1FAF}' | '\u{1FBC}' | '\u{1FCC}' | '\u{1FFC}')
}

/// `s.isupper()`: at least one cased character and no lower or title case.
pub fn is_upper(s: &str) -> bool {
    let mut cased = false;
    for ch in s.chars() {
        if is_lower_char(ch) || is_title_char(ch) {
            return false;
        }
        cased |= is_upper_char(ch);
    }
    cased
}

/// Per character, for the code point test.
#[cfg(test)]
pub fn char_flags(ch: char) -> (bool, bool, bool, bool) {
    (is_space(ch), is_upper_char(ch), is_lower_char(ch), is_title_char(ch))
}

/// `s.strip()`.
pub fn strip(s: &str) -> &str {
    s.trim_matches(is_space)
}

/// `s.split()`.
pub fn split(s: &str) -> impl Iterator<Item = &str> {
    s.split(is_space).filter(|w| !w.is_empty())
}

/// `s.lower()`, with an ASCII fast path (most words).
pub fn lower(s: &str) -> String {
    if s.is_ascii() { s.to_ascii_lowercase() } else { s.to_lowercase() }
}

/// `round(x, digits)`: the exact binary value rounded half-to-even to
/// `digits` decimals, read back. When x·10^digits is clearly not near a
/// tie, rounding it and dividing (both exact or correctly rounded) gives
/// the same double as CPython's decimal route; near a tie, the exact
/// decimal expansion decides (Rust's fixed-precision formatting is exact
/// and rounds ties to even, like CPython's dtoa).
pub fn round(x: f64, digits: usize) -> f64 {
    if !x.is_finite() {
        return x;
    }
    let scale = 10f64.powi(digits as i32);
    let scaled = x * scale;
    if scaled.abs() < 1e15 && ((scaled - scaled.trunc()).abs() - 0.5).abs() > 1e-6 {
        return scaled.round() / scale;
    }
    format!("{x:.digits$}").parse().expect("a formatted float parses")
}
