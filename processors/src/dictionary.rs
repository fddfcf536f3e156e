//! Phrase dictionaries matched on whole words, ignoring case and accents:
//! the brand list of `entities`, the taxonomy of `topics`, the word lists of
//! `brand_safety` and the patterns of `intent` are all one of these.

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// Lower case without accents ("Crème BRÛLÉE" → "creme brulee"), so a
/// dictionary entry matches however a post spells it.
pub fn fold(text: &str) -> String {
    if text.is_ascii() {
        return text.to_ascii_lowercase();
    }
    text.nfd().filter(|c| !is_combining_mark(*c)).flat_map(char::to_lowercase).collect()
}

/// One hit: the entry it belongs to and where it is in the folded text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hit {
    pub entry: usize,
    pub start: usize,
    pub end: usize,
}

pub struct Dictionary {
    matcher: AhoCorasick,
    /// Pattern index → entry index.
    entry_of: Vec<usize>,
    names: Vec<String>,
}

impl Dictionary {
    /// `entries`: (name, phrases). Phrases are folded; empty ones are refused.
    pub fn new<N, P>(entries: impl IntoIterator<Item = (N, P)>) -> Result<Dictionary, String>
    where
        N: Into<String>,
        P: IntoIterator,
        P::Item: AsRef<str>,
    {
        let mut names = Vec::new();
        let mut patterns = Vec::new();
        let mut entry_of = Vec::new();
        for (name, phrases) in entries {
            let name = name.into();
            for phrase in phrases {
                let folded = fold(phrase.as_ref().trim());
                if folded.is_empty() {
                    return Err(format!("{name:?} has an empty phrase"));
                }
                patterns.push(folded);
                entry_of.push(names.len());
            }
            names.push(name);
        }
        let matcher = AhoCorasickBuilder::new()
            .match_kind(MatchKind::Standard)
            .build(&patterns)
            .map_err(|e| format!("dictionary: {e}"))?;
        Ok(Dictionary { matcher, entry_of, names })
    }

    pub fn name(&self, entry: usize) -> &str {
        &self.names[entry]
    }

    pub fn is_empty(&self) -> bool {
        self.entry_of.is_empty()
    }

    /// Whole-word hits in `folded` (the output of `fold`), leftmost first and
    /// longest among those starting at one place, never overlapping.
    pub fn hits(&self, folded: &str) -> Vec<Hit> {
        if self.is_empty() {
            return Vec::new();
        }
        let mut hits: Vec<Hit> = self
            .matcher
            .find_overlapping_iter(folded)
            .filter(|m| on_word_boundaries(folded, m.start(), m.end()))
            .map(|m| Hit { entry: self.entry_of[m.pattern().as_usize()], start: m.start(), end: m.end() })
            .collect();
        hits.sort_by_key(|h| (h.start, std::cmp::Reverse(h.end)));
        let mut taken_until = 0;
        hits.retain(|h| {
            let keep = h.start >= taken_until;
            if keep {
                taken_until = h.end;
            }
            keep
        });
        hits
    }

    /// The names of the entries found, unique, in order of first appearance.
    pub fn names_in(&self, folded: &str) -> Vec<&str> {
        let mut seen = Vec::new();
        for hit in self.hits(folded) {
            if !seen.contains(&hit.entry) {
                seen.push(hit.entry);
            }
        }
        seen.into_iter().map(|e| self.name(e)).collect()
    }
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// A phrase that starts or ends with a word character must not continue a
/// longer word there ("ad" is not in "adidas"); punctuation edges ("f***")
/// need no boundary.
fn on_word_boundaries(text: &str, start: usize, end: usize) -> bool {
    let first = text[start..end].chars().next();
    let last = text[start..end].chars().next_back();
    let before = text[..start].chars().next_back();
    let after = text[end..].chars().next();
    let open = !(first.is_some_and(is_word_char) && before.is_some_and(is_word_char));
    let close = !(last.is_some_and(is_word_char) && after.is_some_and(is_word_char));
    open && close
}

#[cfg(test)]
mod tests {
    use super::{Dictionary, fold};

    fn dict(entries: &[(&str, &[&str])]) -> Dictionary {
        Dictionary::new(entries.iter().map(|(n, p)| (*n, p.iter().copied()))).unwrap()
    }

    #[test]
    fn folding_drops_case_and_accents() {
        assert_eq!(fold("Crème BRÛLÉE"), "creme brulee");
        assert_eq!(fold("L'ORÉAL Paris"), "l'oreal paris");
        assert_eq!(fold("Zoë"), "zoe");
    }

    #[test]
    fn matches_whole_words_only_and_prefers_the_longest() {
        let d = dict(&[("Nike", &["nike", "air jordan"]), ("Air", &["air"]), ("Adidas", &["adidas"]), ("Ad", &["ad"])]);
        let text = fold("My AIR JORDAN from Nikeland and nike, not adidas #ad");
        assert_eq!(d.names_in(&text), ["Nike", "Adidas", "Ad"]);
    }

    #[test]
    fn phrases_with_accents_match_plain_spellings_and_back() {
        let d = dict(&[("L'Oréal", &["l'oréal"]), ("Nestlé", &["nestle"])]);
        assert_eq!(d.names_in(&fold("loving loreal? no: L'OREAL and Nestlé")), ["L'Oréal", "Nestlé"]);
    }

    #[test]
    fn an_empty_phrase_is_refused() {
        assert!(Dictionary::new([("x", [" "])]).is_err());
    }
}
