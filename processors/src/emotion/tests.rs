use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::LazyLock;

use serde::Deserialize;
use serde_json::Map;

use socialpipe_schemas::StageConfig;
use socialpipe_schemas::enrichment::EmotionLabel;

use super::{EMOTIONS, EmotionConfig, EmotionStage, FETCH_COMMAND, Nade, preprocess, round3};
use crate::TextEnricher;

/// models/ of the workspace, filled by scripts/fetch-models.sh (which
/// `make test` runs first).
fn models_dir() -> PathBuf {
    std::env::var_os("SOCIALPIPE_NADE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../models/nade"))
}

static NADE: LazyLock<Nade> = LazyLock::new(|| {
    Nade::load(&models_dir()).unwrap_or_else(|e| panic!("{e}; the emotion tests need the model: run `{FETCH_COMMAND}`"))
});

#[derive(Deserialize)]
struct Reference {
    text: String,
    preprocessed: String,
    #[serde(flatten)]
    scores: HashMap<String, f64>,
}

/// nade 0.3.1's output for 2,600+ sentences (scripts/reference/generate.sh nade).
#[test]
fn every_reference_sentence_gets_exactly_nades_scores() {
    let references: Vec<Reference> =
        include_str!("testdata/nade-0.3.1.jsonl").lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(references.len() >= 2000, "only {} reference sentences", references.len());
    let texts: Vec<&str> = references.iter().map(|r| r.text.as_str()).collect();
    let predicted = NADE.predict(&texts);
    let mut wrong = Vec::new();
    for (r, scores) in references.iter().zip(&predicted) {
        if preprocess(&r.text) != r.preprocessed {
            wrong.push(format!("{:?}: preprocessed {:?}, pyarrow {:?}", r.text, preprocess(&r.text), r.preprocessed));
        }
        for (e, score) in EMOTIONS.iter().map(|e| e.as_str()).zip(scores) {
            if round3(*score).to_bits() != r.scores[e].to_bits() {
                wrong.push(format!("{:?} {e}: rust {} ({score}), nade {}", r.text, round3(*score), r.scores[e]));
            }
        }
    }
    assert!(wrong.is_empty(), "{} differences:\n{}", wrong.len(), wrong[..wrong.len().min(20)].join("\n"));
}

/// pyarrow's preprocessing of `a<c>b` and of `<c>` alone, for every code
/// point where either is not the identity (the others must be identity).
#[test]
fn preprocessing_matches_pyarrow_on_every_code_point() {
    let mut listed = HashMap::new();
    for line in include_str!("testdata/pyarrow-preprocess.tsv").lines().filter(|l| !l.starts_with('#')) {
        let mut fields = line.split('\t');
        let cp = u32::from_str_radix(fields.next().unwrap(), 16).unwrap();
        let inside: String = serde_json::from_str(fields.next().unwrap()).unwrap();
        let alone: String = serde_json::from_str(fields.next().unwrap()).unwrap();
        listed.insert(cp, (inside, alone));
    }
    let mut wrong = Vec::new();
    for ch in (0..0x110000u32).filter_map(char::from_u32) {
        let (inside, alone) = listed.remove(&(ch as u32)).unwrap_or_else(|| (format!("a{ch}b"), ch.to_string()));
        let (got_inside, got_alone) = (preprocess(&format!("a{ch}b")), preprocess(&ch.to_string()));
        if got_inside != inside || got_alone != alone {
            wrong.push(format!("U+{:04X}: rust {got_inside:?} {got_alone:?}, pyarrow {inside:?} {alone:?}", ch as u32));
        }
    }
    assert!(wrong.is_empty(), "{} code points differ:\n{}", wrong.len(), wrong[..wrong.len().min(60)].join("\n"));
}

#[test]
fn rounding_is_arrows_half_to_even_on_x_times_1000() {
    assert_eq!(round3(0.0005), 0.0); // 0.5 exactly after scaling: to even
    assert_eq!(round3(0.0015), 0.002);
    assert_eq!(round3(0.1234), 0.123);
    assert_eq!(round3(0.9996), 1.0);
    assert_eq!(round3(0.25), 0.25);
}

fn stage() -> EmotionStage {
    EmotionStage::new(&EmotionConfig { models_dir: models_dir(), ..EmotionConfig::default() }).unwrap()
}

#[test]
fn the_enrichment_has_scores_a_dominant_emotion_and_an_ekman_view() {
    let stage = stage();
    let e = serde_json::to_value(stage.0.enrich("I am so happy today, best day ever!! 😍", &Map::new())).unwrap();
    let scores = e["scores"].as_object().unwrap();
    let mut keys: Vec<&str> = scores.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, EMOTIONS.map(|e| e.as_str()));
    assert_eq!(e["dominant"], "joy");
    assert_eq!(e["ekman"]["dominant"], "joy");
    assert_eq!(e["ekman"]["scores"].as_object().unwrap().len(), 6);
    assert!(e["ekman"]["scores"].get("trust").is_none());
    assert_eq!(stage.0.value(&[0.1; 8]).dominant, EmotionLabel::Neutral, "every score below neutral_below");
    let mut trust_first = [0.1; 8];
    trust_first[7] = 0.6;
    assert_eq!(stage.0.value(&trust_first).dominant, EmotionLabel::Trust);
    assert_eq!(stage.0.value(&trust_first).ekman.dominant, EmotionLabel::Neutral, "trust is not one of Ekman's six");
}

#[test]
fn a_batch_spread_over_threads_gives_what_one_text_at_a_time_gives() {
    let stage = stage();
    let texts: Vec<String> =
        (0..37).map(|i| format!("post {i}: this is {} news", ["great", "terrible", "odd"][i % 3])).collect();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let empty = Map::new();
    let batch = stage.0.enrich_all(&refs, &vec![&empty; refs.len()]);
    let single: Vec<_> = refs.iter().map(|t| stage.0.enrich(t, &empty)).collect();
    assert_eq!(batch, single);
}

#[test]
fn missing_model_files_name_the_fetch_command() {
    let config = EmotionConfig { models_dir: "/nonexistent".into(), ..EmotionConfig::default() };
    let e = config.check().unwrap_err();
    assert!(e.contains(FETCH_COMMAND) && e.contains("nade_250k_hp.ftz"), "{e}");
    let e = EmotionStage::new(&config).err().unwrap().to_string();
    assert!(e.contains(FETCH_COMMAND), "{e}");
}
