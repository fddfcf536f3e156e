//! The kol stage's settings. Every default is documented in the README;
//! the benchmark rates are round figures of the range industry reports
//! publish, meant to be replaced by the operator's own.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;
use socialpipe_schemas::enrichment::{BrandSafety, Embedding, Entities, KolNote, Sentiment, Topics};
use socialpipe_schemas::{ComponentError, Enrichment, Processor, RecordKind, StageConfig};

use super::KolStage;
use super::factors::Tier;
use crate::{cannot_start, check_fraction};

/// Writes `enrichments.kol` on every post and emits `kol_score` records to
/// `topics.kol_scores`: an explainable score per author (`<platform>:<author
/// id>`, the partition key, so one worker owns an author) over a rolling
/// window of event time. `score` 0–100 is the weighted mean of five factors
/// in [0, 1] (engagement, follower quality, content relevance to the briefs,
/// brand safety, posting consistency); a factor whose inputs are missing
/// says why and the others' weights are scaled to sum to 1. `tier` comes
/// from the newest follower count (nano < 10k, micro < 100k, mid < 500k,
/// macro < 1M, mega). Time is event time: the window ends at the author's
/// newest post, a score is emitted when that moves `emit_interval_minutes`
/// past the last one, and every changed author gets a score when the input
/// ends; a replay emits the same scores. A post id counts once (a higher
/// version replaces it); a post later than the allowed lateness passes on
/// uncounted, with the reason. The window is the stage's keyed state, kept
/// in the changelog, restored after a crash and moved with the partition;
/// an author idle past `evict_idle_days` of event time leaves it, after its
/// last score (docs/decisions/007).
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct KolConfig {
    /// The rolling window, in days of event time, before an author's newest post.
    pub window_days: u32,
    /// Posts kept per author (the oldest go first): bounds memory per author.
    pub max_posts_per_author: usize,
    /// How far behind the author's newest post a post may arrive and still
    /// count (default: the whole window).
    pub allowed_lateness_hours: Option<u32>,
    /// At most one score per author per this much event time; the last one
    /// is always emitted when the input ends.
    pub emit_interval_minutes: u32,
    /// Authors whose newest post or roster follower count is more than this
    /// many days of event time older than the newest post in their partition
    /// (a roster, dated when its file was written, moves no partition's clock)
    /// leave the stage's state, which bounds it: a score held back is
    /// emitted first, the scores stay in the stores, and a later post
    /// starts a new window. At
    /// least `window_days`, so no post in order finds its window cut short;
    /// 0: never (the state then keeps every author ever seen). Default:
    /// `window_days`.
    pub evict_idle_days: Option<u32>,
    /// The factors' weights, each within [0, 1], summing to 1.
    pub weights: Weights,
    /// Engagement rate per tier by platform (`default` covers the others);
    /// setting any replaces the built-in table, whose figures are round ones
    /// of the range industry reports publish: set your own.
    pub benchmarks: BTreeMap<String, TierRates>,
    /// Category or campaign briefs, by name: a text (embedded with the
    /// model in `models_dir`) and/or keywords. Changing them makes stored
    /// similarities stale: they are dropped and rebuilt from new posts.
    pub briefs: BTreeMap<String, Brief>,
    /// all-MiniLM-L6-v2, to embed the briefs' texts.
    pub models_dir: PathBuf,
    /// Centroid similarity to a brief at or below which relevance is 0 (linear up to `relevance_full`).
    pub relevance_floor: f64,
    /// Centroid similarity at or above which relevance is 1.
    pub relevance_full: f64,
    /// A post is strongly negative at or below this VADER compound.
    pub strongly_negative_at: f64,
    /// Posting frequency that earns full marks.
    pub target_posts_per_week: f64,
    /// Thresholds of the fake-follower checks (docs/decisions/007 gives their sources).
    pub follower_quality: FollowerQualityConfig,
}

#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Weights {
    /// Median engagement rate against the platform's tier benchmark.
    pub engagement: f64,
    /// Following ratio, engagement plausibility, follower jumps, account age.
    pub follower_quality: f64,
    /// Similarity of the posts to the briefs, and keyword matches.
    pub content_relevance: f64,
    /// Posts flagged unsafe or strongly negative.
    pub brand_safety: f64,
    /// Posting frequency and regularity.
    pub posting_consistency: f64,
}

impl Default for Weights {
    fn default() -> Self {
        Weights {
            engagement: 0.30,
            follower_quality: 0.25,
            content_relevance: 0.20,
            brand_safety: 0.15,
            posting_consistency: 0.10,
        }
    }
}

impl Weights {
    pub fn all(&self) -> [(&'static str, f64); 5] {
        [
            ("engagement", self.engagement),
            ("follower_quality", self.follower_quality),
            ("content_relevance", self.content_relevance),
            ("brand_safety", self.brand_safety),
            ("posting_consistency", self.posting_consistency),
        ]
    }
}

/// Engagement rate ((likes + comments + shares) / followers) a typical
/// post of each tier reaches.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TierRates {
    /// Under 10k followers.
    pub nano: f64,
    /// Under 100k.
    pub micro: f64,
    /// Under 500k.
    pub mid: f64,
    /// Under 1M.
    pub r#macro: f64,
    /// 1M and more.
    pub mega: f64,
}

impl TierRates {
    pub fn of(&self, tier: Tier) -> f64 {
        match tier {
            Tier::Nano => self.nano,
            Tier::Micro => self.micro,
            Tier::Mid => self.mid,
            Tier::Macro => self.r#macro,
            Tier::Mega => self.mega,
        }
    }

    fn all(&self) -> [f64; 5] {
        [self.nano, self.micro, self.mid, self.r#macro, self.mega]
    }
}

/// A category or campaign.
#[derive(Debug, Clone, Default, serde::Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Brief {
    /// Embedded with the model: content relevance is the similarity of an
    /// author's posts' centroid to it.
    #[serde(default)]
    pub text: Option<String>,
    /// Whole words in a post's text, or equal to a hashtag or topic category.
    #[serde(default)]
    pub keywords: Vec<String>,
}

/// Thresholds of the fake-follower checks (see `factors.rs` for sources).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct FollowerQualityConfig {
    /// The following-ratio check applies from this many followed accounts.
    pub min_following: u64,
    /// Engagement below benchmark / this or above benchmark × this is implausible.
    pub implausible_engagement_factor: f64,
    /// Follower growth per day between snapshots that counts as a jump.
    pub max_daily_growth: f64,
    /// Snapshots below this many followers are not checked for jumps.
    pub jump_min_followers: u64,
    /// An account younger than this with `new_account_followers` is suspect.
    pub new_account_days: u32,
    /// Followers that make an account younger than `new_account_days` suspect.
    pub new_account_followers: u64,
}

impl Default for FollowerQualityConfig {
    fn default() -> Self {
        FollowerQualityConfig {
            min_following: 1_000,
            implausible_engagement_factor: 10.0,
            max_daily_growth: 0.20,
            jump_min_followers: 1_000,
            new_account_days: 90,
            new_account_followers: 100_000,
        }
    }
}

/// Built-in benchmarks: a `default` row and rows for the platforms whose
/// typical rates differ most (TikTok higher, X/Twitter lower).
pub fn default_benchmarks() -> BTreeMap<String, TierRates> {
    let rates = |nano, micro, mid, r#macro, mega| TierRates { nano, micro, mid, r#macro, mega };
    BTreeMap::from([
        ("default".to_owned(), rates(0.040, 0.025, 0.018, 0.015, 0.012)),
        ("tiktok".to_owned(), rates(0.080, 0.060, 0.050, 0.045, 0.040)),
        ("twitter".to_owned(), rates(0.010, 0.008, 0.006, 0.005, 0.004)),
    ])
}

impl Default for KolConfig {
    fn default() -> Self {
        KolConfig {
            window_days: 30,
            max_posts_per_author: 200,
            allowed_lateness_hours: None,
            emit_interval_minutes: 60,
            evict_idle_days: None,
            weights: Weights::default(),
            benchmarks: default_benchmarks(),
            briefs: BTreeMap::new(),
            models_dir: PathBuf::from("models/all-MiniLM-L6-v2"),
            relevance_floor: 0.15,
            relevance_full: 0.50,
            strongly_negative_at: -0.6,
            target_posts_per_week: 3.0,
            follower_quality: FollowerQualityConfig::default(),
        }
    }
}

/// Briefs are told apart in state by their position: at most this many.
pub const MAX_BRIEFS: usize = 64;

impl StageConfig for KolConfig {
    /// The settings, and the model the briefs' texts need.
    fn check(&self) -> Result<(), String> {
        self.check_settings()?;
        if self.needs_model() {
            crate::embed::EmbedConfig { models_dir: self.models_dir.clone(), ..Default::default() }
                .check()
                .map_err(|e| format!("the briefs' texts need the embedding model: {e}"))?;
        }
        Ok(())
    }

    fn build(&self) -> Result<Box<dyn Processor>, ComponentError> {
        Ok(Box::new(KolStage::new(self).map_err(cannot_start)?))
    }

    fn keeps_state(&self) -> bool {
        true
    }

    /// Each factor it can compute from them; without them it is unavailable.
    fn reads(&self) -> Vec<&'static str> {
        vec![BrandSafety::KEY, Sentiment::KEY, Embedding::KEY, Entities::KEY, Topics::KEY]
    }

    fn writes(&self) -> Vec<&'static str> {
        vec![KolNote::KEY]
    }

    fn emits(&self) -> Vec<RecordKind> {
        vec![RecordKind::KolScore]
    }
}

impl KolConfig {
    pub fn check_settings(&self) -> Result<(), String> {
        let weights = self.weights.all();
        for (name, weight) in weights {
            check_fraction(&format!("weights.{name}"), weight)?;
        }
        let sum: f64 = weights.iter().map(|(_, w)| w).sum();
        if (sum - 1.0).abs() > 1e-9 {
            return Err(format!("weights must sum to 1, not {sum}"));
        }
        if self.window_days == 0 {
            return Err("window_days must be at least 1".into());
        }
        if self.max_posts_per_author < 2 {
            return Err("max_posts_per_author must be at least 2".into());
        }
        if self.emit_interval_minutes == 0 {
            return Err("emit_interval_minutes must be at least 1".into());
        }
        if let Some(days @ 1..) = self.evict_idle_days
            && days < self.window_days
        {
            return Err(format!(
                "evict_idle_days must be 0 (never) or at least window_days ({}), not {days}: an author's next post \
                 would find its window cut short",
                self.window_days
            ));
        }
        for (platform, rates) in &self.benchmarks {
            if !rates.all().iter().all(|r| r.is_finite() && *r > 0.0) {
                return Err(format!("benchmarks.{platform}: every rate must be above 0"));
            }
        }
        if self.briefs.len() > MAX_BRIEFS {
            return Err(format!("at most {MAX_BRIEFS} briefs, not {}", self.briefs.len()));
        }
        for (name, brief) in &self.briefs {
            if brief.text.as_deref().is_none_or(|t| t.trim().is_empty()) && brief.keywords.is_empty() {
                return Err(format!("briefs.{name} needs a text or keywords"));
            }
        }
        if !(-1.0..=1.0).contains(&self.relevance_floor)
            || !(-1.0..=1.0).contains(&self.relevance_full)
            || self.relevance_floor >= self.relevance_full
        {
            return Err("relevance_floor must be below relevance_full, both within [-1, 1]".into());
        }
        if !(-1.0..=1.0).contains(&self.strongly_negative_at) {
            return Err("strongly_negative_at must be a VADER compound, within [-1, 1]".into());
        }
        if !(self.target_posts_per_week.is_finite() && self.target_posts_per_week > 0.0) {
            return Err("target_posts_per_week must be above 0".into());
        }
        let q = &self.follower_quality;
        if !(q.implausible_engagement_factor > 1.0 && q.max_daily_growth > 0.0 && q.new_account_days > 0) {
            return Err(
                "follower_quality: implausible_engagement_factor must exceed 1, max_daily_growth and new_account_days be above 0"
                    .into(),
            );
        }
        Ok(())
    }

    /// Some brief has a text to embed.
    pub fn needs_model(&self) -> bool {
        self.briefs.values().any(|b| b.text.is_some())
    }

    pub fn window_ms(&self) -> i64 {
        i64::from(self.window_days) * 86_400_000
    }

    /// Posts older than the author's newest by more than this are not counted.
    pub fn lateness_ms(&self) -> i64 {
        self.allowed_lateness_hours.map_or(self.window_ms(), |h| (i64::from(h) * 3_600_000).min(self.window_ms()))
    }

    /// How long an author may be idle before leaving the state (None: forever).
    pub fn evict_idle_ms(&self) -> Option<i64> {
        match self.evict_idle_days.unwrap_or(self.window_days) {
            0 => None,
            days => Some(i64::from(days) * 86_400_000),
        }
    }

    pub fn emit_interval_ms(&self) -> i64 {
        i64::from(self.emit_interval_minutes) * 60_000
    }

    /// The benchmark rate of a platform and tier.
    pub fn benchmark(&self, platform: &str, tier: Tier) -> f64 {
        let table = self.benchmarks.get(platform).or_else(|| self.benchmarks.get("default"));
        match table {
            Some(rates) => rates.of(tier),
            None => default_benchmarks()["default"].of(tier),
        }
    }
}
