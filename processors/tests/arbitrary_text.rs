//! Every text stage takes any text a post can carry (up to the 65,536-byte
//! limit) without panicking: a panic would stop the pipeline, and bad
//! input must never do that. Deterministic pseudo-random texts built from
//! the characters that break naive text code.

use std::path::PathBuf;

use serde_json::Map;
use socialpipe_processors::TextEnricher;
use socialpipe_processors::brand_safety::{BrandSafetyConfig, BrandSafetyStage};
use socialpipe_processors::emotion::{EmotionConfig, EmotionStage};
use socialpipe_processors::entities::{EntitiesConfig, EntitiesStage};
use socialpipe_processors::intent::{IntentConfig, IntentStage};
use socialpipe_processors::language::{LanguageConfig, LanguageStage};
use socialpipe_processors::sentiment::{SentimentConfig, SentimentStage};
use socialpipe_processors::topics::{TopicsConfig, TopicsStage};
use socialpipe_schemas::enrichment;

const PIECES: &[&str] = &[
    "good",
    "BAD",
    "not",
    "but",
    "kind",
    "of",
    "no",
    "least",
    "very",
    "the shit",
    "!!!",
    "???",
    ":)",
    ":D",
    "😍",
    "👨‍👩‍👧",
    "🇻🇳",
    "1️⃣",
    "#tag",
    "@user",
    "$AAPL",
    "https://x.y/z?utm_source=a",
    " ",
    "\t",
    "\n",
    "\u{0}",
    "\u{b}",
    "\u{85}",
    "\u{a0}",
    "\u{2028}",
    "\u{200b}",
    "\u{202e}",
    "\u{301}",
    "İ",
    "ß",
    "Σ",
    "ǅ",
    "ﬃ",
    "\u{1df40}",
    "東京",
    "مرحبا",
    "שלום",
    "नमस्ते",
    "'",
    "\"",
    "-",
    "__label__1",
    "</s>",
    "ab",
    "\u{10ffff}",
    "\u{fffd}",
    "\u{1c}",
];

/// A small deterministic generator (no dependency needed for this).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: usize) -> usize {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((self.0 >> 33) as usize) % n
    }
}

fn texts() -> Vec<String> {
    let mut rng = Lcg(42);
    let mut out: Vec<String> = (0..400)
        .map(|_| {
            let len = rng.next(30);
            (0..len).map(|_| PIECES[rng.next(PIECES.len())]).collect::<Vec<_>>().join(if rng.next(2) == 0 {
                " "
            } else {
                ""
            })
        })
        .collect();
    out.push(String::new());
    out.push("😍".repeat(65_536 / 4));
    out.push("a".repeat(65_536));
    out.push("good ".repeat(13_107));
    out.push("\u{301}".repeat(32_768));
    out
}

#[test]
fn no_text_stage_panics_on_arbitrary_text() {
    let models = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../models/nade");
    let emotion = EmotionStage::new(&EmotionConfig { models_dir: models, ..EmotionConfig::default() })
        .unwrap_or_else(|e| panic!("{e}"));
    let language = LanguageStage::new(&LanguageConfig::default());
    let entities = EntitiesStage::new(EntitiesConfig::default()).unwrap();
    let sentiment = SentimentStage::new(&SentimentConfig::default()).unwrap();
    let intent = IntentStage::new(&IntentConfig::default());
    let topics = TopicsStage::new(&TopicsConfig::default()).unwrap();
    let safety = BrandSafetyStage::new(&BrandSafetyConfig::default()).unwrap();
    let texts = texts();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let empty = Map::new();
    for text in &refs {
        let mut e = Map::new();
        let detected = language.0.enrich(text, &e);
        enrichment::write(&mut e, &detected);
        let found = entities.0.enrich(text, &e);
        enrichment::write(&mut e, &found);
        let sentiment = sentiment.0.enrich(text, &e);
        let wanted = intent.0.enrich(text, &e);
        enrichment::write(&mut e, &wanted);
        let about = topics.0.enrich(text, &e);
        enrichment::write(&mut e, &about);
        let compound = sentiment.vader.compound;
        assert!((-1.0..=1.0).contains(&compound), "{text:?}: {compound}");
        let score = safety.0.enrich(text, &e).score;
        assert!((0.0..=1.0).contains(&score), "{text:?}: {score}");
    }
    let emotions = emotion.0.enrich_all(&refs, &vec![&empty; refs.len()]);
    assert_eq!(emotions.len(), refs.len());
    for (text, value) in refs.iter().zip(&emotions) {
        for (name, s) in value.scores.all() {
            assert!((0.0..=1.0).contains(&s), "{text:?}: {name:?} {s}");
        }
    }
}
