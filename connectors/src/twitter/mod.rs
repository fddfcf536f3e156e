//! Source `twitter`: X/Twitter API v2 recent search
//! (`GET /2/tweets/search/recent`), newest first, paged by `next_token`,
//! resumed by `since_id`. A sweep pages from the newest tweet down to the
//! last sweep's newest; its progress (the page token and the newest id seen)
//! is the checkpoint, so a restart continues the sweep without a gap, and
//! the next sweep starts above everything already read, without a duplicate.

pub(crate) mod mapping;
mod source;

#[cfg(test)]
mod tests;

use serde::Deserialize;

use crate::http::{RetryPolicy, Secret};
pub use source::TwitterSource;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TwitterConfig {
    /// The search query (X search operators), e.g. `"#coffee -is:retweet lang:en"`.
    pub query: String,
    /// An app-only bearer token (`${X_BEARER_TOKEN}`).
    pub bearer_token: Secret,
    #[serde(default = "default_base_url")]
    pub base_url: String,
    /// Tweets per page, 10–100.
    #[serde(default = "default_max_results")]
    pub max_results: u32,
    /// Between sweeps when running as a daemon.
    #[serde(default = "default_poll_interval_secs")]
    pub poll_interval_secs: u64,
    #[serde(default)]
    pub retry: RetryPolicy,
}

fn default_base_url() -> String {
    "https://api.x.com".into()
}

fn default_max_results() -> u32 {
    100
}

fn default_poll_interval_secs() -> u64 {
    60
}

impl TwitterConfig {
    pub fn check(&self) -> Result<(), String> {
        if self.query.trim().is_empty() {
            return Err("query must not be empty".into());
        }
        if !(10..=100).contains(&self.max_results) {
            return Err(format!("max_results must be within 10..=100 (the API's bounds), not {}", self.max_results));
        }
        if self.bearer_token.expose().trim().is_empty() {
            return Err("bearer_token is empty".into());
        }
        self.retry.check_with(&self.base_url)
    }
}
