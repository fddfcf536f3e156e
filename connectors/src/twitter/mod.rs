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

use std::sync::Arc;

use socialpipe_schemas::{ComponentError, Secret, Source, SourceConfig};

use crate::api::{ApiSettings, api_config};
use crate::http::SystemClock;
pub use source::TwitterSource;

api_config! {
    /// X/Twitter API v2 recent search (`GET /2/tweets/search/recent`, with
    /// `expansions=author_id` and the tweet and user fields a post needs),
    /// newest first, paged with `next_token`. A sweep reads from the newest
    /// tweet down to the previous sweep's newest; its progress (page token,
    /// newest id seen) is the checkpoint, committed with the durable output,
    /// so a restart continues the sweep without a gap and the next sweep asks
    /// only for tweets above it (`since_id`), without a duplicate. With
    /// `--once` one sweep runs. A tweet maps to a post with its author's
    /// handle, name, follower and following counts, verification and account
    /// creation time; likes, replies as comments, retweets + quotes as
    /// shares, impressions as views. Rate limits: a response with
    /// `x-rate-limit-remaining: 0` makes the next request wait until
    /// `x-rate-limit-reset`. A 401/403 stops this source (fatal: readiness
    /// gives the reason; an app-only bearer token cannot be refreshed).
    pub struct TwitterConfig {
        /// The search query (X search operators), e.g. `"#coffee -is:retweet lang:en"`.
        pub query: String,
        /// An app-only bearer token; use `"${X_BEARER_TOKEN}"`.
        pub bearer_token: Secret,
        /// Tweets per page, 10–100.
        #[serde(default = "default_max_results")]
        pub max_results: u32,
    }
    defaults { base_url: "https://api.x.com", poll_interval_secs: 60 }
}

fn default_max_results() -> u32 {
    100
}

impl SourceConfig for TwitterConfig {
    fn check(&self) -> Result<(), String> {
        if self.query.trim().is_empty() {
            return Err("query must not be empty".into());
        }
        if !(10..=100).contains(&self.max_results) {
            return Err(format!("max_results must be within 10..=100 (the API's bounds), not {}", self.max_results));
        }
        if self.bearer_token.expose().trim().is_empty() {
            return Err("bearer_token is empty".into());
        }
        self.check_api()
    }

    fn build(&self, name: &str) -> Result<Box<dyn Source>, ComponentError> {
        Ok(Box::new(TwitterSource::with_clock(name, self.clone(), Arc::new(SystemClock))?))
    }
}
