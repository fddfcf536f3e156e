//! Synthetic social posts for demos, tests and benchmarks: realistic shape
//! (platforms, authors with stable follower counts, brands, hashtags, emoji,
//! URLs, several languages, engagement that scales with audience), fully
//! determined by a seed. No scraped content.

use std::io::Write;

use chrono::{DateTime, Duration, Utc};
use serde_json::json;

const PLATFORMS: [(&str, &str); 5] = [
    ("twitter", "https://x.com/{h}/status/{id}"),
    ("instagram", "https://www.instagram.com/p/{id}/"),
    ("facebook", "https://www.facebook.com/{h}/posts/{id}"),
    ("youtube", "https://www.youtube.com/watch?v={id}"),
    ("tiktok", "https://www.tiktok.com/@{h}/video/{id}"),
];
const BRANDS: [&str; 8] = ["acme", "globex", "initech", "umbrella", "hooli", "starkindustries", "wonka", "soylent"];
const PRODUCTS: [&str; 8] =
    ["phone", "headphones", "running shoes", "coffee", "skincare kit", "laptop", "energy drink", "smartwatch"];
const TAGS: [&str; 12] = [
    "tech", "review", "unboxing", "fitness", "beauty", "foodie", "travel", "gaming", "sale", "ad", "giveaway",
    "fashion",
];
const EMOJI: [&str; 10] = ["🔥", "😍", "👍", "😡", "😂", "💯", "🙌", "😢", "✨", "🤔"];
const ENGLISH: [&str; 10] = [
    "Loving the new @{b} {p}! #{t}",
    "Honestly the @{b} {p} is overpriced and the battery died after a week. Not buying again. #{t}",
    "Just unboxed the {p} from @{b} {e} full review on my channel #{t} #{t2}",
    "Anyone tried the @{b} {p}? Thinking about getting one before the #{t} ends",
    "Customer service at @{b} never answered my ticket about the {p}... three weeks now {e}",
    "GIVEAWAY {e} win a @{b} {p}! Follow + like + tag 3 friends #{t} #giveaway",
    "Where can I buy the {p}? Sold out everywhere #{t}",
    "This {p} changed my morning routine {e}{e} #{t} https://{b}.com/{p2}?utm_source=social&ref=creator",
    "$AAPL and @{b} both up today, the {p} launch went well #{t}",
    "not sure how i feel about the new {p} from @{b} tbh. kinda mid #{t}",
];
const OTHER: [(&str, &str); 5] = [
    ("vi", "Mới mua {p} của @{b}, dùng rất thích {e} #{t}"),
    ("es", "¡Me encanta el nuevo {p} de @{b}! {e} #{t}"),
    ("id", "Baru coba {p} dari @{b}, mantap banget {e} #{t}"),
    ("pt", "Alguém já testou o {p} da @{b}? #{t}"),
    ("ja", "@{b} の新しい{p}を買いました{e} #{t}"),
];

pub struct Author {
    pub platform: usize,
    pub id: u64,
    pub handle: String,
    pub followers: u64,
    pub following: u64,
    pub verified: bool,
}

pub struct PostGenerator {
    rng: fastrand::Rng,
    authors: Vec<Author>,
    base: DateTime<Utc>,
    next_id: u64,
}

impl PostGenerator {
    /// `authors` distinct authors, posts spread over 30 days before 2026-11-20;
    /// different seeds (below 1000) give different post ids.
    pub fn new(seed: u64, authors: usize) -> Self {
        let mut rng = fastrand::Rng::with_seed(seed);
        let authors = (0..authors.max(1))
            .map(|i| {
                // Audiences spread over nano to mega tiers (log-uniform 300 .. 3M).
                let followers = (10f64.powf(rng.f64() * 4.0 + 2.5)) as u64;
                Author {
                    platform: i % PLATFORMS.len(),
                    id: 1_000 + i as u64 * 7,
                    handle: format!("{}{}", ["mai", "alex", "sam", "linh", "jo", "kai", "rio", "ana"][i % 8], i),
                    followers,
                    following: rng.u64(10..2_000),
                    verified: followers > 500_000 && rng.bool(),
                }
            })
            .collect();
        PostGenerator {
            rng,
            authors,
            base: "2026-11-20T00:00:00Z".parse().expect("a valid time"),
            next_id: 1_790_000_000_000_000_000 + seed % 1_000 * 1_000_000_000_000,
        }
    }

    pub fn next_post(&mut self) -> serde_json::Value {
        let rng = &mut self.rng;
        let author = &self.authors[rng.usize(..self.authors.len())];
        let (platform, url_template) = PLATFORMS[author.platform];
        self.next_id += rng.u64(1..1_000);
        let id = self.next_id.to_string();
        let (lang, template) = if rng.u8(..10) < 8 {
            ("en", ENGLISH[rng.usize(..ENGLISH.len())])
        } else {
            OTHER[rng.usize(..OTHER.len())]
        };
        let product = PRODUCTS[rng.usize(..PRODUCTS.len())];
        let mut text = template
            .replace("{b}", BRANDS[rng.usize(..BRANDS.len())])
            .replace("{p2}", &product.replace(' ', "-"))
            .replace("{p}", product)
            .replace("{t2}", TAGS[rng.usize(..TAGS.len())])
            .replace("{t}", TAGS[rng.usize(..TAGS.len())]);
        while let Some(at) = text.find("{e}") {
            text.replace_range(at..at + 3, EMOJI[rng.usize(..EMOJI.len())]);
        }
        if rng.u8(..10) == 0 {
            text = text.to_uppercase();
        }
        let reach = author.followers as f64 * (0.005 + rng.f64() * 0.05);
        let likes = reach as u64;
        let created = self.base - Duration::seconds(rng.i64(0..30 * 86_400));
        json!({
            "platform": platform,
            "id": id,
            "author": {"id": author.id.to_string(), "handle": author.handle, "name": author.handle.to_uppercase(), "followers": author.followers, "following": author.following, "verified": author.verified},
            "text": text,
            "created_at": created.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "metrics": {"likes": likes, "comments": likes / rng.u64(8..40), "shares": likes / rng.u64(5..60), "views": likes * rng.u64(10..80)},
            "lang": lang,
            "url": url_template.replace("{h}", &author.handle).replace("{id}", &id),
        })
    }
}

/// Lines a careless exporter produces; each must end in the DLQ with its reason.
pub const MALFORMED: [&[u8]; 7] = [
    b"{\"platform\":\"twitter\",\"id\":\"1\",\"author\":{\"id\":\"1\"},\"text\":\"cut off",
    b"{\"platform\":\"twitter\",\"id\":\"2\",\"author\":{\"handle\":\"noid\"},\"text\":\"hi\",\"created_at\":\"2026-11-20T10:00:00Z\"}",
    b"{\"platform\":\"instagram\",\"id\":\"3\",\"author\":{\"id\":\"9\"},\"text\":\"hi\",\"created_at\":\"20/11/2026 10:00\"}",
    b"{\"platform\":\"tiktok\",\"id\":\"4\",\"author\":{\"id\":\"9\"},\"text\":\"hi\",\"created_at\":\"2026-11-20T10:00:00Z\",\"metrics\":{\"likes\":-5}}",
    b"{\"platform\":\"youtube\",\"id\":\"5\",\"author\":{\"id\":\"9\"},\"text\":42,\"created_at\":\"2026-11-20T10:00:00Z\"}",
    b"{\"platform\":\"facebook\",\"id\":\"6\",\"author\":{\"id\":\"9\"},\"text\":\"caf\xe9 latin-1\",\"created_at\":\"2026-11-20T10:00:00Z\"}",
    b"[\"not\", \"an\", \"object\"]",
];

/// Writes `count` posts as JSON lines, with the malformed lines spread
/// evenly through them when `malformed` is set.
pub fn write_posts(
    out: &mut impl Write,
    seed: u64,
    count: usize,
    authors: usize,
    malformed: bool,
) -> std::io::Result<()> {
    let mut generator = PostGenerator::new(seed, authors);
    let every = if malformed { count / (MALFORMED.len() + 1) } else { 0 };
    let mut bad = MALFORMED.iter();
    for i in 0..count {
        if every > 0
            && i > 0
            && i % every == 0
            && let Some(line) = bad.next()
        {
            out.write_all(line)?;
            out.write_all(b"\n")?;
        }
        serde_json::to_writer(&mut *out, &generator.next_post())?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_posts_and_they_are_valid() {
        let (mut a, mut b) = (Vec::new(), Vec::new());
        write_posts(&mut a, 7, 200, 20, false).unwrap();
        write_posts(&mut b, 7, 200, 20, false).unwrap();
        assert_eq!(a, b);
        for line in a.split(|&c| c == b'\n').filter(|l| !l.is_empty()) {
            socialpipe_schemas::parse_raw_post(line).unwrap();
        }
    }

    #[test]
    fn every_malformed_line_is_rejected() {
        for line in MALFORMED {
            assert!(socialpipe_schemas::parse_raw_post(line).is_err(), "{}", String::from_utf8_lossy(line));
        }
    }
}
