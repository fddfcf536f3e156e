use serde::Deserialize;
use serde_json::{Map, json};

use super::pystr;
use super::{Label, SentimentConfig, SentimentStage, Vader};
use crate::TextEnricher;

#[derive(Deserialize)]
struct Reference {
    text: String,
    neg: f64,
    neu: f64,
    pos: f64,
    compound: f64,
}

/// vaderSentiment 3.3.2's scores for 5,000+ sentences, written by
/// scripts/reference/generate.sh vader.
#[test]
fn every_reference_sentence_scores_exactly_as_vader_sentiment_3_3_2() {
    let vader = Vader::shared();
    let mut checked = 0;
    let mut wrong = Vec::new();
    for line in include_str!("testdata/vader-3.3.2.jsonl").lines() {
        let r: Reference = serde_json::from_str(line).unwrap();
        let p = vader.polarity_scores(&r.text);
        // Bit-identical, sign of zero included.
        let same = |a: f64, b: f64| a.to_bits() == b.to_bits();
        if !(same(p.neg, r.neg) && same(p.neu, r.neu) && same(p.pos, r.pos) && same(p.compound, r.compound)) {
            wrong.push(format!("{:?}: rust {p:?}, python {} {} {} {}", r.text, r.neg, r.neu, r.pos, r.compound));
        }
        checked += 1;
    }
    assert!(checked >= 5000, "only {checked} reference sentences");
    assert!(wrong.is_empty(), "{} of {checked} differ:\n{}", wrong.len(), wrong[..wrong.len().min(20)].join("\n"));
}

fn parse_ranges(spec: &str) -> Vec<(u32, u32)> {
    spec.split_whitespace()
        .map(|r| match r.split_once('-') {
            Some((a, b)) => (u32::from_str_radix(a, 16).unwrap(), u32::from_str_radix(b, 16).unwrap()),
            None => {
                let a = u32::from_str_radix(r, 16).unwrap();
                (a, a)
            }
        })
        .collect()
}

/// `isspace`, `isupper`, `islower` and title case for every code point, as
/// CPython 3.11 (which wrote the reference) has them.
#[test]
fn the_str_predicates_match_cpython_on_every_code_point() {
    let table: Map<String, serde_json::Value> = include_str!("testdata/python-unicode.txt")
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| {
            let (name, ranges) = l.split_once(' ').unwrap();
            (name.to_owned(), json!(ranges))
        })
        .collect();
    let set = |name: &str| parse_ranges(table[name].as_str().unwrap());
    let (space, upper, lower, title) = (set("isspace"), set("isupper"), set("islower"), set("istitle_only"));
    let has = |ranges: &[(u32, u32)], cp: u32| {
        let i = ranges.partition_point(|&(_, hi)| hi < cp);
        ranges.get(i).is_some_and(|&(lo, _)| lo <= cp)
    };
    let mut wrong = Vec::new();
    for ch in (0..0x110000).filter_map(char::from_u32) {
        let cp = ch as u32;
        let python = (has(&space, cp), has(&upper, cp), has(&lower, cp), has(&title, cp));
        if pystr::char_flags(ch) != python {
            wrong.push(format!("U+{cp:04X} rust {:?} python {python:?}", pystr::char_flags(ch)));
        }
    }
    assert!(wrong.is_empty(), "{} code points differ:\n{}", wrong.len(), wrong[..wrong.len().min(40)].join("\n"));
}

#[test]
fn rounding_is_pythons_half_to_even_on_the_exact_binary_value() {
    // 0.125 and 0.375 are exact ties; 2.675 is just below its tie in binary.
    assert_eq!(pystr::round(0.125, 2), 0.12);
    assert_eq!(pystr::round(0.375, 2), 0.38);
    assert_eq!(pystr::round(2.675, 2), 2.67);
    assert_eq!(pystr::round(-0.00004, 4).to_bits(), (-0.0f64).to_bits());
}

fn sentiment(text: &str, enrichments: serde_json::Value) -> serde_json::Value {
    let stage = SentimentStage::new(&SentimentConfig::default());
    stage.0.enrich(text, enrichments.as_object().unwrap())
}

#[test]
fn the_enrichment_has_vaders_scores_and_the_label() {
    let s = sentiment("VADER is smart, handsome, and funny!", json!({}));
    assert_eq!(s["vader"], json!({"neg": 0.0, "neu": 0.248, "pos": 0.752, "compound": 0.8439, "label": "positive"}));
    assert_eq!(s["label"], "positive");
    assert_eq!(s["reliable"], true);
    assert_eq!(sentiment("Today SUX!", json!({}))["label"], "negative");
    assert_eq!(sentiment("the bus leaves at nine", json!({}))["label"], "neutral");
}

#[test]
fn labels_follow_vaders_cut_offs() {
    assert_eq!(Label::of_compound(0.05), Label::Positive);
    assert_eq!(Label::of_compound(0.0499), Label::Neutral);
    assert_eq!(Label::of_compound(-0.05), Label::Negative);
}

#[test]
fn confidently_non_english_posts_are_scored_but_marked_unreliable() {
    let spanish = "No me gusta nada este teléfono porque la batería es un desastre total y la pantalla se rompió";
    let s = sentiment(spanish, json!({}));
    assert_eq!(s["reliable"], false);
    assert!(s["unreliable_reason"].as_str().unwrap().starts_with("detected as es"), "{s}");
    // A language stage's verdict is used when present.
    let s = sentiment(spanish, json!({"language": {"code": "en", "confidence": 0.99, "reliable": true}}));
    assert_eq!(s["reliable"], true);
    let s = sentiment("great phone", json!({"language": {"code": "fr", "confidence": 0.3, "reliable": false}}));
    assert_eq!(s["reliable"], true, "an unsure detection does not discard the score");
}
