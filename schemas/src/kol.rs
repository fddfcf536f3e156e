//! `kol_score/v1`: an author's explainable multi-factor KOL score.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KolScoreRecord {
    /// `<platform>:<author id>`.
    pub author_id: String,
    pub platform: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handle: Option<String>,
    /// Total score, 0–100: the weighted mean of the available factors.
    pub score: f64,
    /// nano, micro, mid, macro or mega (by followers); unknown without a count.
    pub tier: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub followers: Option<u64>,
    /// Posts in the window the score covers.
    pub posts: u32,
    pub factors: Vec<KolFactor>,
    /// The event time of the newest post the score includes.
    pub computed_at: DateTime<Utc>,
    /// When the stage emitted it (wall clock; a replay changes only this).
    pub emitted_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KolFactor {
    pub name: String,
    /// In [0, 1]; absent when the factor's inputs are unavailable.
    pub value: Option<f64>,
    /// The configured weight.
    pub weight: f64,
    /// The weight it had in the total: renormalised over the available factors.
    pub effective_weight: f64,
    pub inputs: Value,
    /// One line a person reads, e.g. "engagement 4.1 % vs 1.9 % micro-tier benchmark".
    pub explanation: String,
}

impl KolScoreRecord {
    /// `<author_id>@<computed_at>`: one row per author and score time, so
    /// history is kept and a re-emitted score upserts onto itself.
    pub fn record_id(&self) -> String {
        format!("{}@{}", self.author_id, self.computed_at.to_rfc3339_opts(SecondsFormat::Millis, true))
    }
}

/// An author named on a command line: `platform:id` or `platform:@handle`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthorRef {
    /// `<platform>:<author id>`.
    Id(String),
    Handle {
        platform: String,
        handle: String,
    },
}

impl std::str::FromStr for AuthorRef {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let (platform, rest) =
            text.split_once(':').filter(|(p, r)| !p.is_empty() && !r.is_empty()).ok_or_else(|| {
                format!("{text:?}: expected PLATFORM:ID or PLATFORM:@HANDLE, e.g. twitter:42 or twitter:@alice")
            })?;
        let platform = platform.to_ascii_lowercase();
        Ok(match rest.strip_prefix('@') {
            Some(handle) => AuthorRef::Handle { platform, handle: handle.to_owned() },
            None => AuthorRef::Id(format!("{platform}:{rest}")),
        })
    }
}

impl AuthorRef {
    /// Whether `score` is of this author (handles compare without case).
    pub fn matches(&self, score: &KolScoreRecord) -> bool {
        match self {
            AuthorRef::Id(id) => score.author_id == *id,
            AuthorRef::Handle { platform, handle } => {
                score.platform == *platform && score.handle.as_deref().is_some_and(|h| h.eq_ignore_ascii_case(handle))
            }
        }
    }
}
