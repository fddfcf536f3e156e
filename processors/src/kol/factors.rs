//! The five factors of a KOL score, each in [0, 1] with its inputs and a
//! one-line explanation, and the total: the weighted mean of the factors
//! whose inputs are available, the weights renormalised over them
//! (docs/decisions/007-kol-scores.md).
//!
//! Follower-quality checks and where they come from:
//! - following ratio: accounts that follow many and are followed by fewer
//!   trade follows; the followers/friends ratio is among the strongest
//!   features of Cresci et al., "Fame for sale: efficient detection of fake
//!   Twitter followers", Decision Support Systems 80 (2015).
//! - engagement plausibility: bought followers do not engage, bought
//!   engagement outruns the audience; audience audits compare the rate with
//!   what the follower count predicts (the benchmark), as industry
//!   audience-quality scores do.
//! - follower jumps: purchased followers arrive in bulk within days
//!   (Stringhini et al., "Follow the green: growth and dynamics in Twitter
//!   follower markets", IMC 2013).
//! - new account with a large audience: account age is a top feature of
//!   bot and fake-account detection (Varol et al., "Online human-bot
//!   interactions: detection, estimation, and characterization", ICWSM 2017).

use serde_json::json;
use socialpipe_schemas::KolFactor;

use super::config::KolConfig;
use super::window::{
    AuthorState, FLAG_SAFETY_KNOWN, FLAG_SENTIMENT_KNOWN, FLAG_STRONGLY_NEGATIVE, FLAG_UNSAFE, WindowPost,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tier {
    Nano,
    Micro,
    Mid,
    Macro,
    Mega,
}

impl Tier {
    /// nano < 10k, micro < 100k, mid < 500k, macro < 1M, mega ≥ 1M followers.
    pub fn of(followers: u64) -> Tier {
        match followers {
            0..10_000 => Tier::Nano,
            10_000..100_000 => Tier::Micro,
            100_000..500_000 => Tier::Mid,
            500_000..1_000_000 => Tier::Macro,
            _ => Tier::Mega,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Tier::Nano => "nano",
            Tier::Micro => "micro",
            Tier::Mid => "mid",
            Tier::Macro => "macro",
            Tier::Mega => "mega",
        }
    }
}

/// A brief as the scorer sees it.
pub struct BriefInfo {
    pub name: String,
    /// The brief's text is embedded (its vector is known).
    pub has_text: bool,
    pub has_keywords: bool,
}

/// A factor before weighting: its value (None: unavailable), inputs, explanation.
struct Factor {
    value: Option<f64>,
    inputs: serde_json::Value,
    explanation: String,
}

fn unavailable(why: &str) -> Factor {
    Factor { value: None, inputs: json!({}), explanation: format!("unavailable: {why}") }
}

/// The score of a window: total 0–100 and the factors, in weight order.
pub struct Score {
    pub total: f64,
    pub tier: Option<Tier>,
    pub factors: Vec<KolFactor>,
}

pub fn score(state: &AuthorState, platform: &str, briefs: &[BriefInfo], config: &KolConfig) -> Score {
    let followers = state.latest().map(|s| s.1);
    let tier = followers.map(Tier::of);
    let benchmark = tier.map(|t| (t, config.benchmark(platform, t)));
    let rates = engagement_rates(&state.posts);
    let counted = rates.len();
    let median_rate = median(rates);
    let computed = [
        engagement(median_rate, benchmark, counted),
        follower_quality(state, median_rate, benchmark, config),
        content_relevance(&state.posts, briefs, config),
        brand_safety(&state.posts),
        posting_consistency(&state.posts, config),
    ];
    let weights = config.weights.all();
    let available: f64 = weights.iter().zip(&computed).filter(|(_, f)| f.value.is_some()).map(|((_, w), _)| w).sum();
    let mut total = 0.0;
    let factors = weights
        .iter()
        .zip(computed)
        .map(|(&(name, weight), f)| {
            let effective_weight = match f.value {
                Some(_) if available > 0.0 => weight / available,
                _ => 0.0,
            };
            total += effective_weight * f.value.unwrap_or(0.0);
            KolFactor {
                name: name.to_owned(),
                value: f.value,
                weight,
                effective_weight,
                inputs: f.inputs,
                explanation: f.explanation,
            }
        })
        .collect();
    Score { total: (100.0 * total).clamp(0.0, 100.0), tier, factors }
}

/// Per post: interactions / followers, for posts that have both.
fn engagement_rates(posts: &[WindowPost]) -> Vec<f64> {
    posts
        .iter()
        .filter_map(|p| match (p.interactions(), p.followers()) {
            (Some(i), Some(f)) if f > 0 => Some(i as f64 / f as f64),
            _ => None,
        })
        .collect()
}

/// The median (robust to one viral post), None for no values.
fn median(mut values: Vec<f64>) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    Some(if values.len() % 2 == 1 { values[mid] } else { (values[mid - 1] + values[mid]) / 2.0 })
}

fn percent(x: f64) -> String {
    format!("{:.1} %", 100.0 * x)
}

/// 1 − 2^(−rate/benchmark): 0.5 at the benchmark, 0.75 at twice it, never
/// falling as engagement rises.
fn engagement(median_rate: Option<f64>, benchmark: Option<(Tier, f64)>, counted: usize) -> Factor {
    let (Some(rate), Some((tier, bench))) = (median_rate, benchmark) else {
        return unavailable("no post with both interaction counts and a follower count");
    };
    let ratio = rate / bench;
    Factor {
        value: Some(1.0 - (-ratio).exp2()),
        inputs: json!({"median_rate": rate, "benchmark": bench, "tier": tier.name(), "posts": counted}),
        explanation: format!(
            "engagement {} vs {} {}-tier benchmark (median of {counted} posts, {ratio:.1}×)",
            percent(rate),
            percent(bench),
            tier.name()
        ),
    }
}

/// The product of the checks' scores, each in [0.5, 1] (1: no sign).
fn follower_quality(
    state: &AuthorState,
    median_rate: Option<f64>,
    benchmark: Option<(Tier, f64)>,
    config: &KolConfig,
) -> Factor {
    let Some(latest) = state.latest() else {
        return unavailable("no follower count");
    };
    let q = &config.follower_quality;
    let (followers, following) = (latest.1, latest.2);
    let mut value = 1.0;
    let mut flagged = Vec::new();
    let mut unchecked = Vec::new();
    let mut checks = serde_json::Map::new();

    match following {
        Some(following) if following >= q.min_following && followers < following => {
            let ratio = followers as f64 / following as f64;
            value *= 0.5 + 0.5 * ratio;
            flagged.push(format!("follows {following} accounts, followed by {followers}"));
            checks.insert("following_ratio".into(), json!(ratio));
        }
        Some(following) => {
            checks.insert("following_ratio".into(), json!(followers as f64 / following.max(1) as f64));
        }
        None => unchecked.push("following ratio"),
    }

    match (median_rate, benchmark) {
        (Some(rate), Some((_, bench))) => {
            let ratio = rate / bench;
            let k = q.implausible_engagement_factor;
            checks.insert("engagement_vs_benchmark".into(), json!(ratio));
            if ratio < 1.0 / k {
                value *= 0.5 + 0.5 * ratio * k;
                flagged.push(format!("engagement {ratio:.2}× benchmark is implausibly low for the audience"));
            } else if ratio > k {
                value *= 0.5 + 0.5 * k / ratio;
                flagged.push(format!("engagement {ratio:.0}× benchmark is implausibly high"));
            }
        }
        _ => unchecked.push("engagement plausibility"),
    }

    let jump = state
        .snapshots
        .windows(2)
        .filter(|w| w[0].1 >= q.jump_min_followers && w[1].1 > w[0].1)
        .map(|w| {
            let days = ((w[1].0 - w[0].0) as f64 / 86_400_000.0).max(1.0);
            ((w[1].1 - w[0].1) as f64 / w[0].1 as f64) / days
        })
        .fold(0.0_f64, f64::max);
    checks.insert("max_daily_growth".into(), json!(jump));
    if jump > q.max_daily_growth {
        value *= 0.5 + 0.5 * q.max_daily_growth / jump;
        flagged.push(format!("followers jumped {} in a day", percent(jump)));
    }

    match state.account_created {
        Some(created) => {
            let days = ((state.newest - created) as f64 / 86_400_000.0).max(0.0);
            checks.insert("account_age_days".into(), json!(days));
            if days < f64::from(q.new_account_days) && followers >= q.new_account_followers {
                value *= 0.5 + 0.5 * days / f64::from(q.new_account_days);
                flagged.push(format!("{followers} followers on an account {days:.0} days old"));
            }
        }
        None => unchecked.push("account age"),
    }

    let run = 4 - unchecked.len();
    let mut explanation = match flagged.len() {
        0 => format!("no warning sign in {run} checks"),
        n => format!("{n} of {run} checks flagged: {}", flagged.join("; ")),
    };
    if !unchecked.is_empty() {
        explanation.push_str(&format!(" (not checked: {})", unchecked.join(", ")));
    }
    checks.insert("flagged".into(), json!(flagged));
    Factor { value: Some(value), inputs: serde_json::Value::Object(checks), explanation }
}

/// Linear from `relevance_floor` (0) to `relevance_full` (1).
fn ramp(similarity: f64, config: &KolConfig) -> f64 {
    ((similarity - config.relevance_floor) / (config.relevance_full - config.relevance_floor)).clamp(0.0, 1.0)
}

/// The best brief: the author's embedding centroid projected on the brief
/// (the mean of the posts' cosine similarities to it; see decision 007),
/// ramped to [0, 1], blended 3:1 with the share of posts matching its keywords.
fn content_relevance(posts: &[WindowPost], briefs: &[BriefInfo], config: &KolConfig) -> Factor {
    if briefs.is_empty() {
        return unavailable("no briefs configured");
    }
    let embedded: Vec<&WindowPost> = posts.iter().filter(|p| p.similarities().len() == briefs.len()).collect();
    let mut best: Option<(f64, serde_json::Value, String)> = None;
    let mut relevance = serde_json::Map::new();
    for (i, brief) in briefs.iter().enumerate() {
        let hits = posts.iter().filter(|p| p.keyword_hits() & (1 << i) != 0).count();
        let keyword_share = hits as f64 / posts.len().max(1) as f64;
        let centroid = (brief.has_text && !embedded.is_empty()).then(|| {
            embedded.iter().map(|p| f64::from(p.similarities()[i]) / 10_000.0).sum::<f64>() / embedded.len() as f64
        });
        let (value, words) = match (centroid, brief.has_keywords) {
            (Some(c), true) => (
                0.75 * ramp(c, config) + 0.25 * keyword_share,
                format!("centroid similarity {c:.2}, keywords in {hits} of {} posts", posts.len()),
            ),
            (Some(c), false) => (ramp(c, config), format!("centroid similarity {c:.2}")),
            (None, true) => {
                let note = if brief.has_text { " (no embeddings: keywords only)" } else { "" };
                (keyword_share, format!("keywords in {hits} of {} posts{note}", posts.len()))
            }
            (None, false) => continue,
        };
        relevance.insert(brief.name.clone(), json!(value));
        if best.as_ref().is_none_or(|(v, _, _)| value > *v) {
            let inputs = json!({
                "brief": brief.name, "centroid_similarity": centroid, "keyword_share": keyword_share,
                "embedded_posts": embedded.len(),
            });
            best = Some((value, inputs, format!("best brief {:?}: {words}", brief.name)));
        }
    }
    match best {
        Some((value, mut inputs, explanation)) => {
            inputs["briefs"] = serde_json::Value::Object(relevance);
            Factor { value: Some(value), inputs, explanation }
        }
        None => unavailable("no embeddings (put an embed stage before kol)"),
    }
}

/// (1 − unsafe share) × (1 − strongly negative share / 2).
fn brand_safety(posts: &[WindowPost]) -> Factor {
    let share = |known: u8, flag: u8| {
        let known: Vec<&WindowPost> = posts.iter().filter(|p| p.has(known)).collect();
        (!known.is_empty())
            .then(|| (known.iter().filter(|p| p.has(flag)).count(), known.len()))
            .map(|(hits, of)| (hits, of, hits as f64 / of as f64))
    };
    let unsafe_share = share(FLAG_SAFETY_KNOWN, FLAG_UNSAFE);
    let negative_share = share(FLAG_SENTIMENT_KNOWN, FLAG_STRONGLY_NEGATIVE);
    if unsafe_share.is_none() && negative_share.is_none() {
        return unavailable("no brand_safety or sentiment stage before kol");
    }
    let mut parts = Vec::new();
    let mut value = 1.0;
    if let Some((hits, of, share)) = unsafe_share {
        value *= 1.0 - share;
        parts.push(format!("{hits} of {of} posts flagged unsafe"));
    }
    if let Some((hits, of, share)) = negative_share {
        value *= 1.0 - share / 2.0;
        parts.push(format!("{hits} of {of} strongly negative"));
    }
    Factor {
        value: Some(value),
        inputs: json!({
            "unsafe_share": unsafe_share.map(|s| s.2), "strongly_negative_share": negative_share.map(|s| s.2),
        }),
        explanation: parts.join(", "),
    }
}

/// Half regularity (1 − coefficient of variation of the gaps between
/// posts, clipped to [0, 1]), half frequency against the target.
fn posting_consistency(posts: &[WindowPost], config: &KolConfig) -> Factor {
    if posts.is_empty() {
        return unavailable("no posts in the window");
    }
    let per_week = posts.len() as f64 / (f64::from(config.window_days) / 7.0);
    let frequency = (per_week / config.target_posts_per_week).min(1.0);
    let gaps: Vec<f64> = posts.windows(2).map(|w| (w[1].at() - w[0].at()) as f64).collect();
    let (value, regularity, words) = if gaps.len() >= 2 {
        let mean = gaps.iter().sum::<f64>() / gaps.len() as f64;
        let cv = if mean > 0.0 {
            (gaps.iter().map(|g| (g - mean).powi(2)).sum::<f64>() / gaps.len() as f64).sqrt() / mean
        } else {
            f64::INFINITY
        };
        let regularity = (1.0 - cv).clamp(0.0, 1.0);
        (0.5 * regularity + 0.5 * frequency, Some(regularity), format!("gaps vary by CV {cv:.2}"))
    } else {
        (frequency, None, format!("{} posts: too few to judge regularity", posts.len()))
    };
    Factor {
        value: Some(value),
        inputs: json!({"posts_per_week": per_week, "target_per_week": config.target_posts_per_week,
                       "regularity": regularity, "frequency": frequency}),
        explanation: format!("{per_week:.1} posts/week (target {}), {words}", config.target_posts_per_week),
    }
}
