//! The contract against its documentation: every field the typed views
//! write is a row of docs/record-schema.md's enrichment table, and every
//! row names a field they write.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::*;

/// Each enrichment with every optional field present.
fn samples() -> Vec<(&'static str, Value)> {
    let sample = |key: &'static str, value: Value| (key, value);
    let positive = SentimentLabel::Positive;
    let sentiment = Sentiment {
        vader: VaderScores { neg: 0.0, neu: 0.5, pos: 0.5, compound: 0.6, label: positive },
        model: Some(ModelScores {
            label: positive,
            probabilities: Probabilities { negative: 0.1, neutral: 0.1, positive: 0.8 },
        }),
        label: positive,
        label_source: LabelSource::Model,
        reliable: false,
        unreliable_reason: Some("detected as es".into()),
    };
    let emotion = Emotion {
        scores: PlutchikScores {
            anger: 0.0,
            anticipation: 0.1,
            disgust: 0.0,
            fear: 0.0,
            joy: 0.7,
            sadness: 0.0,
            surprise: 0.1,
            trust: 0.2,
        },
        dominant: EmotionLabel::Joy,
        ekman: Ekman {
            scores: EkmanScores { anger: 0.0, disgust: 0.0, fear: 0.0, joy: 0.7, sadness: 0.0, surprise: 0.1 },
            dominant: EmotionLabel::Joy,
        },
    };
    vec![
        sample(Language::KEY, to(&Language { code: Some("en".into()), confidence: 0.9, reliable: true })),
        sample(Entities::KEY, to(&Entities::default())),
        sample(Embedding::KEY, to(&Embedding(vec![0.5]))),
        sample(Sentiment::KEY, to(&sentiment)),
        sample(Emotion::KEY, to(&emotion)),
        sample(
            Intent::KEY,
            to(&Intent {
                label: IntentLabel::Purchase,
                confidence: 0.9,
                scores: IntentScores { complaint: 0.0, purchase: 0.9, question: 0.0, recommendation: 0.0 },
                signals: vec!["where can I buy".into()],
            }),
        ),
        sample(
            Topics::KEY,
            to(&Topics {
                hashtags: vec![],
                keywords: vec![Keyword { phrase: "new phone".into(), score: 4.0 }],
                categories: vec![],
            }),
        ),
        sample(BrandSafety::KEY, to(&BrandSafety { score: 1.0, safe: true, flags: vec![], terms: BTreeMap::new() })),
        sample(
            KolNote::KEY,
            to(&KolNote { author_id: "x:1".into(), counted: Some(false), reason: Some("late".into()), roster: true }),
        ),
    ]
}

fn to(value: &impl Serialize) -> Value {
    serde_json::to_value(value).expect("enrichments serialise")
}

/// Every path from `prefix` down to a value that is not an object (maps
/// keyed by data, such as `brand_safety.terms`, count as leaves).
fn leaves(prefix: &str, value: &Value, out: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (key, value) in map {
                leaves(&format!("{prefix}.{key}"), value, out);
            }
        }
        _ => {
            out.insert(prefix.to_owned());
        }
    }
}

/// The keys of the enrichment table of docs/record-schema.md: the
/// backticked names in its first column, `{a,b}` expanded.
fn documented() -> Vec<String> {
    let doc = include_str!("../../../docs/record-schema.md");
    let section = doc.split("## Enrichments").nth(1).expect("an Enrichments section");
    let section = section.split("\n## ").next().unwrap_or(section);
    let mut keys = Vec::new();
    for line in section.lines().filter(|l| l.starts_with("| `")) {
        let cell = line.split('|').nth(1).unwrap_or("");
        for key in cell.split('`').skip(1).step_by(2) {
            match (key.find('{'), key.find('}')) {
                (Some(open), Some(close)) => {
                    for part in key[open + 1..close].split(',') {
                        keys.push(format!("{}{}{}", &key[..open], part.trim(), &key[close + 1..]));
                    }
                }
                _ => keys.push(key.to_owned()),
            }
        }
    }
    keys
}

/// `pattern` (with `<placeholder>` segments) names `path` or one of its parents.
fn covers(pattern: &str, path: &str) -> bool {
    let (pattern, path): (Vec<&str>, Vec<&str>) = (pattern.split('.').collect(), path.split('.').collect());
    pattern.len() <= path.len() && pattern.iter().zip(&path).all(|(p, s)| p == s || p.starts_with('<'))
}

#[test]
fn every_documented_enrichment_key_is_in_the_contract_and_every_field_is_documented() {
    let mut fields = BTreeSet::new();
    for (key, value) in samples() {
        leaves(key, &value, &mut fields);
    }
    let documented = documented();
    assert!(documented.len() > 20, "the enrichment table was not found: {documented:?}");
    let unknown: Vec<&String> =
        documented.iter().filter(|d| !fields.iter().any(|f| covers(d, f) || covers(f, d))).collect();
    assert!(unknown.is_empty(), "docs/record-schema.md documents keys no stage writes: {unknown:?}");
    let undocumented: Vec<&String> = fields.iter().filter(|f| !documented.iter().any(|d| covers(d, f))).collect();
    assert!(undocumented.is_empty(), "fields missing from docs/record-schema.md's enrichment table: {undocumented:?}");
}

#[test]
fn an_embedding_is_written_in_the_fewest_digits_and_reads_back_exactly() {
    let vector = vec![0.1f32, -0.333_333_34, 1.0e-7, 0.0];
    let json = serde_json::to_string(&Embedding(vector.clone())).unwrap();
    assert_eq!(json, "[0.1,-0.33333334,1e-7,0.0]");
    assert_eq!(serde_json::from_str::<Embedding>(&json).unwrap().0, vector);
}

#[test]
fn a_value_of_another_shape_reads_as_absent() {
    let mut enrichments = serde_json::Map::new();
    enrichments.insert("sentiment".into(), json!({"compound": 0.5}));
    assert_eq!(read::<Sentiment>(&enrichments), None);
    assert_eq!(read::<Language>(&enrichments), None);
    write(&mut enrichments, &Language { code: None, confidence: 0.0, reliable: false });
    assert_eq!(enrichments["language"], json!({"code": null, "confidence": 0.0, "reliable": false}));
}
