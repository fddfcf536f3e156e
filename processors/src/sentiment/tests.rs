use serde::Deserialize;
use serde_json::{Map, json};

use super::pystr;
use socialpipe_schemas::StageConfig;
use socialpipe_schemas::enrichment::{Embedding, SentimentLabel};

use super::{SentimentConfig, SentimentHead, SentimentStage, Vader, head};
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
    let stage = SentimentStage::new(&SentimentConfig::default()).unwrap();
    serde_json::to_value(stage.0.enrich(text, enrichments.as_object().unwrap())).unwrap()
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
    assert_eq!(SentimentLabel::of_compound(0.05), SentimentLabel::Positive);
    assert_eq!(SentimentLabel::of_compound(0.0499), SentimentLabel::Neutral);
    assert_eq!(SentimentLabel::of_compound(-0.05), SentimentLabel::Negative);
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

/// A head whose probabilities do not depend on the text: `bias` alone.
fn fixed_head(bias: [f32; 3], model_confidence: f64) -> tempfile::NamedTempFile {
    let head = SentimentHead {
        format: "socialpipe-sentiment-head/1".into(),
        weights: vec![vec![0.0; crate::embed::DIMENSIONS]; 3],
        bias: bias.to_vec(),
        model_confidence,
        provenance: json!("test"),
    };
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), serde_json::to_string(&head).unwrap()).unwrap();
    file
}

fn with_head(head: &tempfile::NamedTempFile, text: &str, enrichments: serde_json::Value) -> serde_json::Value {
    let config = SentimentConfig { head: Some(head.path().to_owned()), ..SentimentConfig::default() };
    config.check().unwrap();
    serde_json::to_value(SentimentStage::new(&config).unwrap().0.enrich(text, enrichments.as_object().unwrap())).unwrap()
}

fn any_embedding() -> serde_json::Value {
    serde_json::to_value(Embedding(vec![0.05; crate::embed::DIMENSIONS])).unwrap()
}

#[test]
fn without_an_embedding_the_label_is_vaders_and_there_is_no_model_score() {
    let s = sentiment("Today SUX!", json!({}));
    assert_eq!((s["label"].as_str(), s["label_source"].as_str()), (Some("negative"), Some("vader")));
    assert!(s.get("model").is_none(), "{s}");
}

#[test]
fn the_model_label_wins_when_its_top_probability_reaches_the_heads_threshold() {
    // Probabilities 1/6, 1/6, 4/6: positive at 0.667.
    let bias = [0.0, 0.0, 4f32.ln()];
    let sure = fixed_head(bias, 0.6);
    let s = with_head(&sure, "Today SUX!", json!({"embedding": any_embedding()}));
    assert_eq!(s["model"]["label"], "positive");
    let p = &s["model"]["probabilities"];
    assert!((p["positive"].as_f64().unwrap() - 4.0 / 6.0).abs() < 1e-6, "{p}");
    assert!(
        (p["negative"].as_f64().unwrap() + p["neutral"].as_f64().unwrap() + p["positive"].as_f64().unwrap() - 1.0)
            .abs()
            < 1e-9
    );
    assert_eq!((s["label"].as_str(), s["label_source"].as_str()), (Some("positive"), Some("model")));
    assert_eq!(s["vader"]["label"], "negative", "VADER's own label is kept");

    let unsure = fixed_head(bias, 0.7);
    let s = with_head(&unsure, "Today SUX!", json!({"embedding": any_embedding()}));
    assert_eq!(s["model"]["label"], "positive");
    assert_eq!((s["label"].as_str(), s["label_source"].as_str()), (Some("negative"), Some("vader")));
}

#[test]
fn model_false_leaves_the_head_out() {
    let config = SentimentConfig { model: false, ..SentimentConfig::default() };
    let s = SentimentStage::new(&config)
        .unwrap()
        .0
        .enrich("great", json!({"embedding": any_embedding()}).as_object().unwrap());
    let s = serde_json::to_value(s).unwrap();
    assert!(s.get("model").is_none() && s["label_source"] == "vader", "{s}");
}

#[test]
fn an_embedding_of_the_wrong_length_is_not_scored() {
    let s = sentiment("great", json!({"embedding": [0.1, 0.2]}));
    assert!(s.get("model").is_none(), "{s}");
}

#[test]
fn a_head_file_of_the_wrong_shape_is_refused_with_its_path() {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        file.path(),
        r#"{"format": "socialpipe-sentiment-head/1", "weights": [[0.0]], "bias": [0.0], "model_confidence": 0.5}"#,
    )
    .unwrap();
    let error =
        SentimentConfig { head: Some(file.path().to_owned()), ..SentimentConfig::default() }.check().unwrap_err();
    assert!(error.contains(&file.path().display().to_string()) && error.contains("384"), "{error}");
}

#[test]
fn the_committed_head_is_trained_and_records_how() {
    let head = SentimentHead::builtin();
    assert!(head.weights.iter().flatten().any(|w| *w != 0.0), "the committed head has weights");
    let provenance = &head.provenance;
    assert!(provenance["command"].as_str().unwrap().starts_with("socialpipe train-sentiment"), "{provenance}");
    assert_eq!(provenance["data_sha256"].as_str().map(str::len), Some(64));
    for scorer in ["model", "vader", "combined"] {
        assert!(provenance["test"][scorer]["macro_f1"].as_f64().is_some(), "{scorer}: {provenance}");
    }
}

#[test]
fn training_recovers_three_separable_classes() {
    // Three clusters around different axes, with deterministic noise.
    let mut rng = fastrand::Rng::with_seed(7);
    let (mut features, mut labels) = (Vec::new(), Vec::new());
    for i in 0..600 {
        let class = i % 3;
        let mut x: Vec<f32> = (0..crate::embed::DIMENSIONS).map(|_| (rng.f32() - 0.5) * 0.02).collect();
        x[class * 10] += 0.5;
        features.push(x);
        labels.push(class);
    }
    let (weights, bias) = head::train(&features, &labels, head::TrainOptions { steps: 200, ..Default::default() });
    let head = SentimentHead { format: String::new(), weights, bias, model_confidence: 0.0, provenance: json!(null) };
    let predicted: Vec<usize> = features.iter().map(|x| head::argmax(&head.probabilities(x))).collect();
    assert_eq!(head::scores(&predicted, &labels), (1.0, 1.0));
}

#[test]
fn macro_f1_averages_the_three_classes() {
    // Class 0: P 1/2 R 1 (F1 2/3); class 1: P 1 R 1/2 (F1 2/3); class 2: F1 1.
    let (accuracy, f1) = head::scores(&[0, 0, 1, 2], &[0, 1, 1, 2]);
    assert_eq!(accuracy, 0.75);
    assert!((f1 - (2.0 / 3.0 + 2.0 / 3.0 + 1.0) / 3.0).abs() < 1e-12);
}
