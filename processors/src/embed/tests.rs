use std::io::Read;
use std::path::PathBuf;
use std::sync::LazyLock;

use serde::Deserialize;
use serde_json::{Map, Value};

use socialpipe_schemas::StageConfig;
use socialpipe_schemas::Enrichment;
use socialpipe_schemas::enrichment::{self, Embedding};

use super::{DIMENSIONS, EmbedConfig, EmbedStage, Embedder};
use crate::TextEnricher;
use crate::emotion::FETCH_COMMAND;

/// models/ of the workspace, filled by scripts/fetch-models.sh (which
/// `make test` runs first).
fn config() -> EmbedConfig {
    let models_dir = std::env::var_os("SOCIALPIPE_MINILM_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../models/all-MiniLM-L6-v2"));
    EmbedConfig { models_dir, ..EmbedConfig::default() }
}

static EMBEDDER: LazyLock<Embedder> = LazyLock::new(|| {
    Embedder::load(&config()).unwrap_or_else(|e| panic!("{e}; the embed tests need the model: run `{FETCH_COMMAND}`"))
});

#[derive(Deserialize)]
struct Reference {
    text: String,
    ids: Vec<u32>,
    embedding: Vec<f32>,
}

/// sentence-transformers 6.2.0's vectors and its tokenizer's ids
/// (scripts/reference/generate.sh embed).
fn references() -> Vec<Reference> {
    let mut text = String::new();
    flate2::read::GzDecoder::new(&include_bytes!("testdata/minilm-reference.jsonl.gz")[..])
        .read_to_string(&mut text)
        .unwrap();
    text.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| f64::from(*x) * f64::from(*y)).sum();
    let norm = |v: &[f32]| v.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    dot / (norm(a) * norm(b))
}

#[test]
fn the_reference_covers_short_long_emoji_and_non_english_texts() {
    let references = references();
    assert!(references.len() >= 300, "only {} reference sentences", references.len());
    let longest = references.iter().map(|r| r.ids.len()).max().unwrap();
    assert_eq!(longest, 256, "some texts reach the 256-token limit");
    assert!(references.iter().filter(|r| r.ids.len() == 256).count() >= 10);
    assert!(references.iter().filter(|r| r.ids.len() <= 16).count() >= 50);
    assert!(references.iter().any(|r| r.text.chars().any(|c| emojis::get(&c.to_string()).is_some())));
    let scripts = [
        ("Cyrillic", 0x400..0x500),
        ("Arabic", 0x600..0x700),
        ("CJK", 0x4E00..0xA000),
        ("Hangul", 0xAC00..0xD7B0),
        ("Thai", 0xE00..0xE80),
    ];
    for (script, range) in scripts {
        assert!(references.iter().any(|r| r.text.chars().any(|c| range.contains(&u32::from(c)))), "no {script} text");
    }
}

#[test]
fn tokenisation_matches_the_python_tokenizer_on_every_reference_text() {
    let references = references();
    let mismatched: Vec<&str> =
        references.iter().filter(|r| EMBEDDER.tokens(&r.text) != r.ids).map(|r| r.text.as_str()).collect();
    assert!(mismatched.is_empty(), "{} texts tokenise differently, e.g. {:?}", mismatched.len(), &mismatched[..1]);
}

#[test]
fn every_vector_has_cosine_at_least_0_9999_with_sentence_transformers() {
    let references = references();
    let texts: Vec<&str> = references.iter().map(|r| r.text.as_str()).collect();
    // Embedded as one batch: the buckets mix lengths the way a stage batch does.
    let vectors = EMBEDDER.embed(&texts);
    let mut worst = (f64::INFINITY, "");
    for (r, v) in references.iter().zip(&vectors) {
        assert_eq!(v.len(), DIMENSIONS);
        let c = cosine(v, &r.embedding);
        if c < worst.0 {
            worst = (c, &r.text);
        }
    }
    assert!(worst.0 >= 0.9999, "cosine {} for {:?}", worst.0, worst.1);
}

#[test]
fn a_vector_does_not_depend_on_the_batch_it_was_embedded_in() {
    let references = references();
    let texts: Vec<&str> = references.iter().map(|r| r.text.as_str()).collect();
    let together = EMBEDDER.embed(&texts[..64]);
    for (text, batched) in texts[..64].iter().zip(&together) {
        let alone = &EMBEDDER.embed(&[text])[0];
        assert!(cosine(alone, batched) >= 0.99999, "{text:?}");
    }
}

#[test]
fn vectors_are_unit_length() {
    for v in EMBEDDER.embed(&["a", "", "Great phone, terrible battery 🔋", &"word ".repeat(400)]) {
        let norm: f32 = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-5, "norm {norm}");
    }
}

#[test]
fn the_json_form_reads_back_as_the_same_floats_in_few_digits() {
    let v = EMBEDDER.embed(&["The coffee here is amazing"]).remove(0);
    let mut enrichments = Map::new();
    enrichment::write(&mut enrichments, &Embedding(v.clone()));
    assert_eq!(super::of(&enrichments), Some(v));
    let written = serde_json::to_string(&enrichments[Embedding::KEY]).unwrap();
    assert!(written.len() < DIMENSIONS * 13, "{} bytes", written.len());
    // Not this model's size: not read as its embedding.
    enrichments.insert("embedding".into(), Value::Array(vec![Value::from(1.0); 3]));
    assert_eq!(super::of(&enrichments), None);
}

#[test]
fn the_stage_writes_384_floats_under_enrichments_embedding() {
    let stage = EmbedStage::new(&config()).unwrap();
    let empty = Map::new();
    let values = stage.0.enrich_all(&["I love this", "I hate this"], &[&empty, &empty]);
    assert_eq!(values.len(), 2);
    for value in &values {
        assert_eq!(value.0.len(), DIMENSIONS);
    }
    assert_ne!(values[0], values[1]);
}

#[test]
fn check_names_the_fetch_command_when_the_model_is_missing() {
    let config = EmbedConfig { models_dir: PathBuf::from("/nonexistent"), ..EmbedConfig::default() };
    let error = config.check().unwrap_err();
    assert!(error.contains("model.safetensors") && error.contains(FETCH_COMMAND), "{error}");
    let error = EmbedConfig { batch_size: 0, ..EmbedConfig::default() }.check().unwrap_err();
    assert!(error.contains("batch_size"), "{error}");
}
