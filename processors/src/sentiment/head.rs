//! The learned sentiment head: multinomial logistic regression over the
//! all-MiniLM-L6-v2 embedding (384 weights and a bias per label), and the
//! deterministic trainer `socialpipe train-sentiment` runs. The committed
//! head (`model/head.json`) records the data, command and held-out scores
//! it came from.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use socialpipe_schemas::enrichment::SentimentLabel;
use crate::embed::DIMENSIONS;

/// The head's label order.
pub const LABELS: [SentimentLabel; 3] = [SentimentLabel::Negative, SentimentLabel::Neutral, SentimentLabel::Positive];
const FORMAT: &str = "socialpipe-sentiment-head/1";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SentimentHead {
    pub format: String,
    /// One row of `DIMENSIONS` weights per label, in `LABELS` order.
    pub weights: Vec<Vec<f32>>,
    pub bias: Vec<f32>,
    /// The combined label is the model's when its top probability is at
    /// least this, VADER's otherwise (chosen on the dev split).
    pub model_confidence: f64,
    /// Where the head came from: data, command, held-out scores.
    #[serde(default)]
    pub provenance: Value,
}

#[derive(Debug, thiserror::Error)]
pub enum HeadError {
    #[error("{path}: {error}")]
    Read { path: String, error: std::io::Error },
    #[error("{path}: {error}")]
    Parse { path: String, error: serde_json::Error },
    #[error("{path}: {what}")]
    Shape { path: String, what: String },
}

impl SentimentHead {
    /// The committed head, trained by `make train-sentiment`.
    pub fn builtin() -> &'static SentimentHead {
        static HEAD: std::sync::LazyLock<SentimentHead> = std::sync::LazyLock::new(|| {
            SentimentHead::parse("builtin", include_str!("model/head.json")).expect("the committed head is valid")
        });
        &HEAD
    }

    pub fn load(path: &std::path::Path) -> Result<SentimentHead, HeadError> {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|error| HeadError::Read { path: name.clone(), error })?;
        SentimentHead::parse(&name, &text)
    }

    fn parse(path: &str, text: &str) -> Result<SentimentHead, HeadError> {
        let head: SentimentHead =
            serde_json::from_str(text).map_err(|error| HeadError::Parse { path: path.to_owned(), error })?;
        let shape = |what: String| HeadError::Shape { path: path.to_owned(), what };
        if head.format != FORMAT {
            return Err(shape(format!("format {:?}, expected {FORMAT:?}", head.format)));
        }
        if head.weights.len() != LABELS.len()
            || head.bias.len() != LABELS.len()
            || head.weights.iter().any(|w| w.len() != DIMENSIONS)
        {
            return Err(shape(format!(
                "expected {} rows of {DIMENSIONS} weights and {} biases",
                LABELS.len(),
                LABELS.len()
            )));
        }
        Ok(head)
    }

    /// Label probabilities, in `LABELS` order.
    pub fn probabilities(&self, embedding: &[f32]) -> [f64; 3] {
        let mut logits = [0f64; 3];
        for (logit, (w, b)) in logits.iter_mut().zip(self.weights.iter().zip(&self.bias)) {
            *logit = f64::from(*b) + w.iter().zip(embedding).map(|(w, x)| f64::from(*w) * f64::from(*x)).sum::<f64>();
        }
        softmax(logits)
    }
}

fn softmax(logits: [f64; 3]) -> [f64; 3] {
    let max = logits.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let exp = logits.map(|l| (l - max).exp());
    let sum: f64 = exp.iter().sum();
    exp.map(|e| e / sum)
}

/// The index of the largest probability (the first of equals).
pub fn argmax(p: &[f64; 3]) -> usize {
    (0..3).fold(0, |best, i| if p[i] > p[best] { i } else { best })
}

/// How the trainer fits a head.
#[derive(Debug, Clone, Copy)]
pub struct TrainOptions {
    /// L2 penalty on the weights (over standardised features).
    pub l2: f64,
    /// Full-batch Adam steps.
    pub steps: usize,
    pub learning_rate: f64,
}

impl Default for TrainOptions {
    fn default() -> Self {
        TrainOptions { l2: 1e-3, steps: 600, learning_rate: 0.05 }
    }
}

/// Fits weights and biases to embeddings and their label indices.
/// Deterministic: features are standardised (the scaling is folded back
/// into the weights), classes are weighted by inverse frequency so the
/// rarer positive class counts as much as the others, and the loss is
/// minimised by full-batch Adam from zero.
pub fn train(features: &[Vec<f32>], labels: &[usize], options: TrainOptions) -> (Vec<Vec<f32>>, Vec<f32>) {
    let n = features.len();
    assert!(n > 0 && n == labels.len(), "one label per embedding");
    let d = DIMENSIONS;
    let mut mean = vec![0f64; d];
    let mut var = vec![0f64; d];
    for x in features {
        mean.iter_mut().zip(x).for_each(|(m, v)| *m += f64::from(*v) / n as f64);
    }
    for x in features {
        var.iter_mut().zip(x.iter().zip(&mean)).for_each(|(s, (v, m))| *s += (f64::from(*v) - m).powi(2) / n as f64);
    }
    let std: Vec<f64> = var.iter().map(|v| v.sqrt().max(1e-6)).collect();
    let z: Vec<Vec<f64>> = features
        .iter()
        .map(|x| x.iter().zip(mean.iter().zip(&std)).map(|(v, (m, s))| (f64::from(*v) - m) / s).collect())
        .collect();
    let mut counts = [0usize; 3];
    labels.iter().for_each(|&l| counts[l] += 1);
    let class_weight = counts.map(|c| if c == 0 { 0.0 } else { n as f64 / (3.0 * c as f64) });

    // Parameters: 3 rows of d weights, then 3 biases.
    let size = 3 * d + 3;
    let mut theta = vec![0f64; size];
    let (mut m1, mut m2) = (vec![0f64; size], vec![0f64; size]);
    let (beta1, beta2, eps) = (0.9, 0.999, 1e-8);
    let mut gradient = vec![0f64; size];
    for step in 1..=options.steps {
        gradient.fill(0.0);
        for (x, &label) in z.iter().zip(labels) {
            let mut logits = [0f64; 3];
            for (c, logit) in logits.iter_mut().enumerate() {
                *logit = theta[3 * d + c] + theta[c * d..(c + 1) * d].iter().zip(x).map(|(w, v)| w * v).sum::<f64>();
            }
            let p = softmax(logits);
            for c in 0..3 {
                let g = class_weight[label] * (p[c] - if c == label { 1.0 } else { 0.0 }) / n as f64;
                gradient[c * d..(c + 1) * d].iter_mut().zip(x).for_each(|(acc, v)| *acc += g * v);
                gradient[3 * d + c] += g;
            }
        }
        for (g, w) in gradient[..3 * d].iter_mut().zip(&theta[..3 * d]) {
            *g += options.l2 * w;
        }
        let (c1, c2) = (1.0 - f64::powi(beta1, step as i32), 1.0 - f64::powi(beta2, step as i32));
        for i in 0..size {
            m1[i] = beta1 * m1[i] + (1.0 - beta1) * gradient[i];
            m2[i] = beta2 * m2[i] + (1.0 - beta2) * gradient[i] * gradient[i];
            theta[i] -= options.learning_rate * (m1[i] / c1) / ((m2[i] / c2).sqrt() + eps);
        }
    }
    // Back to raw embeddings: w·(x − μ)/σ + b = (w/σ)·x + (b − Σ w μ/σ).
    let mut weights = Vec::with_capacity(3);
    let mut bias = Vec::with_capacity(3);
    for c in 0..3 {
        let row = &theta[c * d..(c + 1) * d];
        weights.push(row.iter().zip(&std).map(|(w, s)| (w / s) as f32).collect());
        bias.push(
            (theta[3 * d + c] - row.iter().zip(mean.iter().zip(&std)).map(|(w, (m, s))| w * m / s).sum::<f64>()) as f32,
        );
    }
    (weights, bias)
}

/// Accuracy and macro-F1 of predicted against true label indices.
pub fn scores(predicted: &[usize], truth: &[usize]) -> (f64, f64) {
    let correct = predicted.iter().zip(truth).filter(|(p, t)| p == t).count();
    let f1: f64 = (0..3)
        .map(|c| {
            let tp = predicted.iter().zip(truth).filter(|&(&p, &t)| p == c && t == c).count() as f64;
            let predicted_c = predicted.iter().filter(|&&p| p == c).count() as f64;
            let true_c = truth.iter().filter(|&&t| t == c).count() as f64;
            if tp == 0.0 { 0.0 } else { 2.0 * tp / (predicted_c + true_c) }
        })
        .sum::<f64>()
        / 3.0;
    (correct as f64 / truth.len().max(1) as f64, f1)
}
