//! Stage `emotion`: Plutchik-8 intensities in [0, 1] from the emotion
//! model of nade 0.3.1 (MIT; Wegmann et al.), reproduced exactly: nade's
//! preprocessing, its fastText emoji classifier (151 emoji probabilities)
//! and its eight LightGBM regressors over those probabilities. The model
//! files come from the nade wheel (`scripts/fetch-models.sh`).
//!
//! Scores are kept unrounded internally and written rounded as nade rounds
//! them (Arrow's half-to-even on x·1000). `dominant` is the strongest
//! emotion, or `neutral` when every score is below `neutral_below`; `ekman`
//! is the same view over Ekman's six basic emotions (Plutchik's eight
//! without anticipation and trust).

mod fasttext;
mod lightgbm;
mod preprocess;
#[cfg(test)]
mod tests;

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;
use serde_json::{Map, Value};
use socialpipe_schemas::enrichment::{Ekman, EkmanScores, Emotion, EmotionLabel, PlutchikScores};
use socialpipe_schemas::{ComponentError, Enrichment, Processor, StageConfig};

pub use preprocess::preprocess;

use crate::{TextEnricher, TextStage, cannot_start};

/// nade's label order (and the order of the regressors).
pub const EMOTIONS: [EmotionLabel; 8] = [
    EmotionLabel::Anger,
    EmotionLabel::Anticipation,
    EmotionLabel::Disgust,
    EmotionLabel::Fear,
    EmotionLabel::Joy,
    EmotionLabel::Sadness,
    EmotionLabel::Surprise,
    EmotionLabel::Trust,
];
/// Ekman's six, as indices into `EMOTIONS`.
const EKMAN: [usize; 6] = [0, 2, 3, 4, 5, 6];

/// What `validate` and the errors tell an operator to run.
pub const FETCH_COMMAND: &str = "scripts/fetch-models.sh";

/// Writes `enrichments.emotion`: Plutchik-8 intensities in [0, 1] from
/// nade 0.3.1's emotion model, reproduced exactly (its preprocessing, its
/// fastText emoji classifier and its eight LightGBM regressors), the
/// dominant emotion, and the same over Ekman's six. The model files come
/// from the nade wheel (`scripts/fetch-models.sh`).
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EmotionConfig {
    /// The directory with nade's model files (from the nade wheel).
    #[serde(default = "default_models_dir")]
    pub models_dir: PathBuf,
    /// `dominant` is `neutral` when every score is below this. nade's
    /// intensities are modest: over varied posts the strongest score has a
    /// median near 0.3, and 0.2 leaves about one post in ten neutral.
    #[serde(default = "default_neutral_below")]
    pub neutral_below: f64,
    /// Threads a batch is spread over (0: one per core).
    #[serde(default)]
    pub threads: usize,
}

fn default_models_dir() -> PathBuf {
    PathBuf::from("models/nade")
}

fn default_neutral_below() -> f64 {
    0.2
}

impl Default for EmotionConfig {
    fn default() -> Self {
        EmotionConfig { models_dir: default_models_dir(), neutral_below: default_neutral_below(), threads: 0 }
    }
}

impl StageConfig for EmotionConfig {
    /// The model files are there (their contents are checked on load).
    fn check(&self) -> Result<(), String> {
        crate::check_fraction("neutral_below", self.neutral_below)?;
        for file in Nade::files() {
            let path = self.models_dir.join(&file);
            if !path.is_file() {
                return Err(format!("model file {} is missing: run `{FETCH_COMMAND}`", path.display()));
            }
        }
        Ok(())
    }

    fn build(&self) -> Result<Box<dyn Processor>, ComponentError> {
        Ok(Box::new(EmotionStage::new(self).map_err(cannot_start)?))
    }

    fn writes(&self) -> Vec<&'static str> {
        vec![Emotion::KEY]
    }
}

#[derive(Debug, thiserror::Error)]
pub enum NadeError {
    #[error("{path}: {error} (run `{FETCH_COMMAND}` to fetch the model)")]
    Open { path: PathBuf, error: std::io::Error },
    #[error("{path}: {error}")]
    FastText { path: PathBuf, error: fasttext::ModelError },
    #[error("{path}: {error}")]
    LightGbm { path: PathBuf, error: lightgbm::LightGbmError },
    #[error("{0}")]
    Mismatch(String),
}

pub struct Nade {
    classifier: fasttext::FastText,
    /// Feature i is the probability of model label `feature_order[i]`:
    /// nade sorts the labels by their number.
    feature_order: Vec<usize>,
    regressors: Vec<lightgbm::Booster>,
}

impl Nade {
    fn files() -> impl Iterator<Item = String> {
        std::iter::once("nade_250k_hp.ftz".to_owned())
            .chain(EMOTIONS.iter().map(|e| format!("reg_{}.txt.gz", e.as_str())))
    }

    pub fn load(dir: &Path) -> Result<Nade, NadeError> {
        let open = |name: &str| {
            let path = dir.join(name);
            File::open(&path).map(BufReader::new).map_err(|error| NadeError::Open { path, error })
        };
        let ftz = dir.join("nade_250k_hp.ftz");
        let classifier = fasttext::FastText::read(&mut open("nade_250k_hp.ftz")?)
            .map_err(|error| NadeError::FastText { path: ftz, error })?;
        let mut feature_order: Vec<usize> = (0..classifier.label_ids().len()).collect();
        feature_order.sort_by_key(|&i| classifier.label_ids()[i]);
        let mut regressors = Vec::new();
        for emotion in EMOTIONS {
            let name = format!("reg_{}.txt.gz", emotion.as_str());
            let mut text = String::new();
            flate2::read::GzDecoder::new(open(&name)?)
                .read_to_string(&mut text)
                .map_err(|error| NadeError::Open { path: dir.join(&name), error })?;
            let booster = lightgbm::Booster::parse(&text)
                .map_err(|error| NadeError::LightGbm { path: dir.join(&name), error })?;
            if booster.features() != feature_order.len() {
                return Err(NadeError::Mismatch(format!(
                    "{name} expects {} features, the classifier has {} labels",
                    booster.features(),
                    feature_order.len()
                )));
            }
            regressors.push(booster);
        }
        Ok(Nade { classifier, feature_order, regressors })
    }

    /// The regressors' input: emoji probabilities in label-number order.
    /// They are f32 values (fastText's), kept as such: LightGBM compares
    /// them widened to f64, which is exact.
    fn features(&self, text: &str) -> Vec<f32> {
        let probabilities = self.classifier.probabilities(&preprocess(text));
        self.feature_order.iter().map(|&i| probabilities[i]).collect()
    }

    /// Unrounded intensities, clipped to [0, 1], in `EMOTIONS` order.
    /// Rows go through the trees in blocks that stay in cache while all
    /// 7,093 trees pass over them.
    pub fn predict(&self, texts: &[&str]) -> Vec<[f64; 8]> {
        const BLOCK: usize = 32;
        let mut scores = Vec::with_capacity(texts.len());
        let mut raw = [0.0; BLOCK];
        for block in texts.chunks(BLOCK) {
            let features: Vec<Vec<f32>> = block.iter().map(|t| self.features(t)).collect();
            let rows: Vec<&[f32]> = features.iter().map(Vec::as_slice).collect();
            let first = scores.len();
            scores.resize(first + block.len(), [0.0; 8]);
            for (e, booster) in self.regressors.iter().enumerate() {
                let raw = &mut raw[..block.len()];
                raw.fill(0.0);
                booster.predict_into(&rows, raw);
                for (s, r) in scores[first..].iter_mut().zip(raw.iter()) {
                    s[e] = r.clamp(0.0, 1.0);
                }
            }
        }
        scores
    }
}

/// Arrow's `round(x, ndigits=3)` with its default half-to-even mode.
pub fn round3(x: f64) -> f64 {
    if !x.is_finite() {
        return x;
    }
    let scaled = x * 1000.0;
    let frac = scaled - scaled.floor();
    if frac == 0.0 {
        return x;
    }
    let rounded = if frac != 0.5 { scaled.round() } else { (scaled * 0.5).round() * 2.0 };
    rounded / 1000.0
}

pub struct EmotionEnricher {
    model: Arc<Nade>,
    neutral_below: f64,
    threads: usize,
}

pub type EmotionStage = TextStage<EmotionEnricher>;

impl EmotionStage {
    pub fn new(config: &EmotionConfig) -> Result<Self, NadeError> {
        let model = Arc::new(Nade::load(&config.models_dir)?);
        let threads = match config.threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        Ok(TextStage(EmotionEnricher { model, neutral_below: config.neutral_below, threads }))
    }
}

impl EmotionEnricher {
    fn value(&self, scores: &[f64; 8]) -> Emotion {
        let strongest = |among: &mut dyn Iterator<Item = usize>| {
            // The first of equal scores wins, in nade's label order.
            let best = among.fold(None, |best: Option<usize>, i| match best {
                Some(b) if scores[b] >= scores[i] => Some(b),
                _ => Some(i),
            });
            match best {
                Some(b) if scores[b] >= self.neutral_below => EMOTIONS[b],
                _ => EmotionLabel::Neutral,
            }
        };
        let r: [f64; 8] = scores.map(round3);
        Emotion {
            scores: PlutchikScores {
                anger: r[0],
                anticipation: r[1],
                disgust: r[2],
                fear: r[3],
                joy: r[4],
                sadness: r[5],
                surprise: r[6],
                trust: r[7],
            },
            dominant: strongest(&mut (0..8)),
            ekman: Ekman {
                scores: EkmanScores { anger: r[0], disgust: r[2], fear: r[3], joy: r[4], sadness: r[5], surprise: r[6] },
                dominant: strongest(&mut EKMAN.iter().copied()),
            },
        }
    }
}

impl TextEnricher for EmotionEnricher {
    type Output = Emotion;

    fn enrich(&self, text: &str, _: &Map<String, Value>) -> Emotion {
        self.value(&self.model.predict(&[text])[0])
    }

    /// The batch is cut into one chunk per thread.
    fn enrich_all(&self, texts: &[&str], _: &[&Map<String, Value>]) -> Vec<Emotion> {
        let chunk = texts.len().div_ceil(self.threads.max(1)).max(1);
        if texts.len() <= chunk {
            return self.model.predict(texts).iter().map(|s| self.value(s)).collect();
        }
        std::thread::scope(|scope| {
            let handles: Vec<_> =
                texts.chunks(chunk).map(|part| scope.spawn(move || self.model.predict(part))).collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().expect("emotion scoring does not panic"))
                .map(|s| self.value(&s))
                .collect()
        })
    }
}
