//! `kol_score/v1`: an author's explainable multi-factor KOL score.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KolScoreRecord {
    /// `<platform>:<author id>`.
    pub author_id: String,
    pub platform: String,
    /// Total score, 0–100.
    pub score: f64,
    /// nano, micro, mid, macro or mega.
    pub tier: String,
    pub factors: Vec<KolFactor>,
    /// Event time up to which the score is computed.
    pub as_of: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KolFactor {
    pub name: String,
    /// In [0, 1]; absent when the factor's inputs are unavailable.
    pub value: Option<f64>,
    pub weight: f64,
    pub inputs: Value,
    pub explanation: String,
}

impl KolScoreRecord {
    /// One row per author and score time, so history is kept.
    pub fn record_id(&self) -> String {
        format!("kol:{}:{}", self.author_id, self.as_of.timestamp_millis())
    }
}
