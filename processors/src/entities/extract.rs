//! The scanner behind the `entities` stage.

use unicode_segmentation::UnicodeSegmentation;
use url::Url;

use super::Entities;

/// Query parameters that only track clicks; they split one link into many.
const TRACKING_PARAMS: [&str; 8] = ["fbclid", "gclid", "igshid", "mc_cid", "mc_eid", "msclkid", "si", "ref_src"];

/// Longest hashtag or mention body kept, in characters.
const MAX_TAG_CHARS: usize = 100;

pub fn extract_entities(text: &str, strip_tracking_params: bool) -> Entities {
    let graphemes: Vec<(usize, &str)> = text.grapheme_indices(true).collect();
    let mut entities = Entities::default();
    let mut i = 0;
    while i < graphemes.len() {
        let (start, g) = graphemes[i];
        let after_boundary =
            i == 0 || !is_word(graphemes[i - 1].1) && !matches!(graphemes[i - 1].1, "&" | "@" | "#" | "$");
        let consumed = match g {
            "#" | "＃" if after_boundary => tag(&graphemes[i + 1..], false).map(|(body, n)| {
                if body.chars().any(char::is_alphabetic) {
                    push_unique(&mut entities.hashtags, body.to_lowercase());
                }
                n
            }),
            "@" | "＠" if after_boundary => tag(&graphemes[i + 1..], true).map(|(body, n)| {
                push_unique(&mut entities.mentions, body.to_lowercase());
                n
            }),
            "$" if after_boundary => cashtag(&graphemes[i + 1..]).map(|(body, n)| {
                push_unique(&mut entities.cashtags, body.to_uppercase());
                n
            }),
            _ if (i == 0 || !is_word(graphemes[i - 1].1)) && starts_url(&text[start..]) => {
                let raw = url_extent(&text[start..]);
                if let Some(url) = normalise_url(raw, strip_tracking_params) {
                    push_unique(&mut entities.urls, url);
                }
                // Skip the graphemes the URL covered.
                let end = start + raw.len();
                Some(graphemes[i..].iter().take_while(|(s, _)| *s < end).count() - 1)
            }
            _ => {
                if is_emoji(g) {
                    push_unique(&mut entities.emoji, g.to_owned());
                }
                None
            }
        };
        i += 1 + consumed.unwrap_or(0);
    }
    entities
}

fn push_unique(list: &mut Vec<String>, item: String) {
    if !list.contains(&item) {
        list.push(item);
    }
}

/// A grapheme that can be part of a word: its base character is a letter,
/// a digit or `_` (combining marks travel with their base).
fn is_word(g: &str) -> bool {
    g.chars().next().is_some_and(|c| c.is_alphanumeric() || c == '_')
}

/// The body of a hashtag or mention; mentions may contain inner dots
/// (Instagram, TikTok handles). Returns (body, graphemes consumed).
fn tag(rest: &[(usize, &str)], allow_dots: bool) -> Option<(String, usize)> {
    let mut body = String::new();
    let mut n = 0;
    for (_, g) in rest {
        if is_word(g) || allow_dots && *g == "." {
            body.push_str(g);
            n += 1;
        } else {
            break;
        }
    }
    while allow_dots && body.ends_with('.') {
        body.pop();
        n -= 1;
    }
    if body.is_empty() || body.chars().count() > MAX_TAG_CHARS {
        return None;
    }
    Some((body, n))
}

/// `$` + 1–6 ASCII letters, optionally `.X` / `_X` class suffix, then a boundary.
fn cashtag(rest: &[(usize, &str)]) -> Option<(String, usize)> {
    let letters = rest.iter().take_while(|(_, g)| g.len() == 1 && g.as_bytes()[0].is_ascii_alphabetic()).count();
    if !(1..=6).contains(&letters) {
        return None;
    }
    let mut n = letters;
    if let [(_, sep), (_, class), ..] = &rest[n..]
        && matches!(*sep, "." | "_")
        && class.len() == 1
        && class.as_bytes()[0].is_ascii_alphabetic()
        && rest.get(n + 2).is_none_or(|(_, g)| !is_word(g))
    {
        n += 2;
    }
    if rest.get(n).is_some_and(|(_, g)| is_word(g)) {
        return None;
    }
    Some((rest[..n].iter().map(|(_, g)| *g).collect(), n))
}

fn starts_url(text: &str) -> bool {
    let head = text.get(..8).unwrap_or(text).to_ascii_lowercase();
    head.starts_with("http://") || head.starts_with("https://") || head.starts_with("www.")
}

/// The URL's extent: up to whitespace, without trailing punctuation that
/// belongs to the sentence (a `)` stays when the URL opened one).
fn url_extent(text: &str) -> &str {
    let end = text
        .find(|c: char| c.is_whitespace() || matches!(c, '<' | '>' | '"' | '“' | '”' | '«' | '»'))
        .unwrap_or(text.len());
    let mut url = &text[..end];
    while let Some(last) = url.chars().last() {
        let unbalanced_paren = last == ')' && url.matches('(').count() < url.matches(')').count();
        if matches!(last, '.' | ',' | ';' | ':' | '!' | '?' | '\'' | ']' | '}' | '…' | '。' | '、') || unbalanced_paren
        {
            url = &url[..url.len() - last.len_utf8()];
        } else {
            break;
        }
    }
    url
}

/// Lower-case scheme and host, no default port, no fragment, no tracking
/// parameters, no empty query. `www.` links get `https://`.
fn normalise_url(raw: &str, strip_tracking_params: bool) -> Option<String> {
    let with_scheme =
        if raw.to_ascii_lowercase().starts_with("www.") { format!("https://{raw}") } else { raw.to_owned() };
    let mut url = Url::parse(&with_scheme).ok()?;
    url.host_str()?;
    url.set_fragment(None);
    if strip_tracking_params && url.query().is_some() {
        let kept: Vec<(String, String)> = url
            .query_pairs()
            .filter(|(k, _)| {
                !k.to_ascii_lowercase().starts_with("utm_")
                    && !TRACKING_PARAMS.contains(&k.to_ascii_lowercase().as_str())
            })
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        if kept.is_empty() {
            url.set_query(None);
        } else {
            url.query_pairs_mut().clear().extend_pairs(kept);
        }
    }
    Some(url.to_string())
}

/// An emoji grapheme: a known emoji (any skin tone, ZWJ sequence, flag or
/// keycap). Latin-1, letterlike and arrow symbols (©, ™, ↔) are text in
/// ordinary writing and count only in emoji presentation (with FE0F).
fn is_emoji(g: &str) -> bool {
    let mut chars = g.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    if first.is_ascii_alphanumeric() || first.is_whitespace() {
        return g.contains('\u{20E3}');
    }
    if ((first as u32) <= 0xFF || (0x2100..=0x21FF).contains(&(first as u32))) && !g.contains('\u{FE0F}') {
        return false;
    }
    let bare: String = g.chars().filter(|&c| c != '\u{FE0F}').collect();
    emojis::get(g).is_some()
        || emojis::get(&bare).is_some()
        || emojis::get(&format!("{bare}\u{FE0F}")).is_some()
        || is_regional_flag(g)
}

fn is_regional_flag(g: &str) -> bool {
    let chars: Vec<char> = g.chars().collect();
    chars.len() == 2 && chars.iter().all(|c| ('\u{1F1E6}'..='\u{1F1FF}').contains(c))
}
