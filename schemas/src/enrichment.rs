//! The enrichment contract: every key a stage writes under an envelope's
//! `enrichments`, with the typed view of its value. The stage that writes
//! a key and every reader (later stages, sinks' typed columns, the kol
//! stage) go through these types, so a renamed field is renamed for all of
//! them at once; docs/record-schema.md documents the same fields (a test
//! checks it), and the SQLite sink's generated columns name their paths
//! (a test checks those too).

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::envelope::Envelope;

/// A stage's result, stored under `enrichments.<KEY>`.
pub trait Enrichment: Serialize + DeserializeOwned {
    const KEY: &'static str;
}

/// The enrichment `E` of a record's enrichments: None when absent, or
/// when it is not of this shape (written by a build with another contract,
/// or by another producer), which is logged once per key and process.
pub fn read<E: Enrichment>(enrichments: &Map<String, Value>) -> Option<E> {
    let value = enrichments.get(E::KEY)?;
    match E::deserialize(value) {
        Ok(enrichment) => Some(enrichment),
        Err(e) => {
            warn_once(E::KEY, &e);
            None
        }
    }
}

/// Readers treat a malformed enrichment as absent (a column stays empty, a
/// factor unavailable); the operator hears of it once per key.
fn warn_once(key: &'static str, error: &serde_json::Error) {
    static WARNED: std::sync::Mutex<Vec<&'static str>> = std::sync::Mutex::new(Vec::new());
    let mut warned = WARNED.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if !warned.contains(&key) {
        warned.push(key);
        tracing::warn!(key, %error, "an enrichment does not match this build's contract; it is read as absent");
    }
}

/// Stores `value` under its key, replacing what was there.
pub fn write<E: Enrichment>(enrichments: &mut Map<String, Value>, value: &E) {
    enrichments.insert(E::KEY.to_owned(), serde_json::to_value(value).expect("enrichments always serialise"));
}

impl Envelope {
    /// This record's enrichment `E` (see [`read`]).
    pub fn enrichment<E: Enrichment>(&self) -> Option<E> {
        read(&self.enrichments)
    }

    pub fn set_enrichment<E: Enrichment>(&mut self, value: &E) {
        write(&mut self.enrichments, value);
    }
}

/// Names a label enum's values as serde writes them (lower case).
macro_rules! labels {
    ($(#[$meta:meta])* pub enum $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, schemars::JsonSchema)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $text)] $variant,)+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];

            /// The value as stored (`enrichments` JSON and typed columns).
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }
        }
    };
}

/// `enrichments.language`, by the `language` stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Language {
    /// ISO 639-1; None when nothing could be detected.
    pub code: Option<String>,
    pub confidence: f64,
    /// `confidence` reached the stage's `min_confidence`.
    pub reliable: bool,
}

impl Enrichment for Language {
    const KEY: &'static str = "language";
}

/// `enrichments.entities`, by the `entities` stage; each list is unique, in
/// order of first appearance.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entities {
    /// Lower-cased, without `#`.
    pub hashtags: Vec<String>,
    /// Lower-cased, without `@`.
    pub mentions: Vec<String>,
    /// Upper-cased, without `$`.
    pub cashtags: Vec<String>,
    pub urls: Vec<String>,
    pub emoji: Vec<String>,
    /// The configured brand names mentioned.
    #[serde(default)]
    pub brands: Vec<String>,
}

impl Enrichment for Entities {
    const KEY: &'static str = "entities";
}

/// `enrichments.embedding`, by the `embed` stage: the sentence vector.
/// Each float is written with the fewest digits that read back as the same
/// f32 (about 10 characters rather than an f64's 19).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Embedding(pub Vec<f32>);

impl Enrichment for Embedding {
    const KEY: &'static str = "embedding";
}

impl Serialize for Embedding {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut buffer = ryu::Buffer::new();
        serializer.collect_seq(self.0.iter().map(|&x| {
            // The shortest f32 digits, as the f64 they spell.
            let shortest: f64 = buffer.format(x).parse().unwrap_or(f64::NAN);
            shortest
        }))
    }
}

impl<'de> Deserialize<'de> for Embedding {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Vec::<f32>::deserialize(deserializer).map(Embedding)
    }
}

labels! {
    /// A sentiment label.
    pub enum SentimentLabel {
        Positive = "positive",
        Neutral = "neutral",
        Negative = "negative",
    }
}

impl SentimentLabel {
    /// VADER's own cut-offs: positive at compound ≥ 0.05, negative at ≤ −0.05.
    pub fn of_compound(compound: f64) -> SentimentLabel {
        if compound >= 0.05 {
            SentimentLabel::Positive
        } else if compound <= -0.05 {
            SentimentLabel::Negative
        } else {
            SentimentLabel::Neutral
        }
    }
}

labels! {
    /// Which scorer a combined sentiment label is from.
    pub enum LabelSource {
        Vader = "vader",
        Model = "model",
    }
}

/// `enrichments.sentiment`, by the `sentiment` stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sentiment {
    pub vader: VaderScores,
    /// The learned head's view, when the post had an embedding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<ModelScores>,
    /// The combined label: the model's when it is confident enough, VADER's otherwise.
    pub label: SentimentLabel,
    pub label_source: LabelSource,
    /// False when the post is confidently not English (VADER's lexicon is English).
    pub reliable: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unreliable_reason: Option<String>,
}

impl Enrichment for Sentiment {
    const KEY: &'static str = "sentiment";
}

/// vaderSentiment's scores.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VaderScores {
    pub neg: f64,
    pub neu: f64,
    pub pos: f64,
    /// In [−1, 1].
    pub compound: f64,
    pub label: SentimentLabel,
}

/// The learned head's label and probabilities.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelScores {
    pub label: SentimentLabel,
    pub probabilities: Probabilities,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Probabilities {
    pub negative: f64,
    pub neutral: f64,
    pub positive: f64,
}

labels! {
    /// Plutchik's eight emotions, and `neutral` when none is strong enough.
    pub enum EmotionLabel {
        Anger = "anger",
        Anticipation = "anticipation",
        Disgust = "disgust",
        Fear = "fear",
        Joy = "joy",
        Sadness = "sadness",
        Surprise = "surprise",
        Trust = "trust",
        Neutral = "neutral",
    }
}

/// `enrichments.emotion`, by the `emotion` stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Emotion {
    pub scores: PlutchikScores,
    /// The strongest emotion, or `neutral` when every score is below the stage's `neutral_below`.
    pub dominant: EmotionLabel,
    /// The same over Ekman's six basic emotions.
    pub ekman: Ekman,
}

impl Enrichment for Emotion {
    const KEY: &'static str = "emotion";
}

/// Intensities in [0, 1].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlutchikScores {
    pub anger: f64,
    pub anticipation: f64,
    pub disgust: f64,
    pub fear: f64,
    pub joy: f64,
    pub sadness: f64,
    pub surprise: f64,
    pub trust: f64,
}

impl PlutchikScores {
    /// Each emotion with its score, in the order of the fields.
    pub fn all(&self) -> [(EmotionLabel, f64); 8] {
        use EmotionLabel::*;
        [
            (Anger, self.anger),
            (Anticipation, self.anticipation),
            (Disgust, self.disgust),
            (Fear, self.fear),
            (Joy, self.joy),
            (Sadness, self.sadness),
            (Surprise, self.surprise),
            (Trust, self.trust),
        ]
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ekman {
    pub scores: EkmanScores,
    pub dominant: EmotionLabel,
}

/// Plutchik's scores without anticipation and trust.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EkmanScores {
    pub anger: f64,
    pub disgust: f64,
    pub fear: f64,
    pub joy: f64,
    pub sadness: f64,
    pub surprise: f64,
}

labels! {
    /// What a post wants.
    pub enum IntentLabel {
        Purchase = "purchase",
        Complaint = "complaint",
        Question = "question",
        Recommendation = "recommendation",
        Other = "other",
    }
}

/// `enrichments.intent`, by the `intent` stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Intent {
    pub label: IntentLabel,
    /// The label's score; for `other`, 1 − the best class's score.
    pub confidence: f64,
    pub scores: IntentScores,
    /// The names of the patterns that matched.
    pub signals: Vec<String>,
}

impl Enrichment for Intent {
    const KEY: &'static str = "intent";
}

/// Each class's score, 1 − Π(1 − w) over its matched patterns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IntentScores {
    pub complaint: f64,
    pub purchase: f64,
    pub question: f64,
    pub recommendation: f64,
}

/// `enrichments.topics`, by the `topics` stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Topics {
    pub hashtags: Vec<String>,
    /// RAKE key phrases, best first.
    pub keywords: Vec<Keyword>,
    /// The configured taxonomy's topics the post mentions.
    pub categories: Vec<String>,
}

impl Enrichment for Topics {
    const KEY: &'static str = "topics";
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Keyword {
    pub phrase: String,
    pub score: f64,
}

labels! {
    /// What a brand-safety term is about.
    pub enum SafetyCategory {
        Profanity = "profanity",
        Hate = "hate",
        Violence = "violence",
        Adult = "adult",
        Drugs = "drugs",
    }
}

/// `enrichments.brand_safety`, by the `brand_safety` stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BrandSafety {
    /// 1 when nothing is found; each hit multiplies it by 1 − its category's weight.
    pub score: f64,
    pub safe: bool,
    /// The categories found.
    pub flags: Vec<SafetyCategory>,
    /// Per category, the terms found.
    pub terms: BTreeMap<SafetyCategory, Vec<String>>,
}

impl Enrichment for BrandSafety {
    const KEY: &'static str = "brand_safety";
}

/// `enrichments.kol`, by the `kol` stage: which author's window a record
/// went into, and whether it counted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KolNote {
    pub author_id: String,
    /// For a post: whether it counted (a duplicate or a late post does not).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counted: Option<bool>,
    /// Why a post did not count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// A roster row that updated the author's profile.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub roster: bool,
}

impl Enrichment for KolNote {
    const KEY: &'static str = "kol";
}

#[cfg(test)]
mod tests;
