//! Source `twitter_stream`: the X/Twitter API v2 filtered stream
//! (`GET /2/tweets/search/stream`). Before connecting it makes the
//! stream's rules (`/2/tweets/search/stream/rules`) exactly the configured
//! ones. It reconnects as X asks: at once after an established connection
//! drops, then linearly (+250 ms, up to 16 s) after network errors,
//! exponentially from 5 s (up to 320 s) after HTTP errors and from 60 s
//! after 429; a connection silent for `stall_timeout_secs` (X sends a
//! heartbeat every 20 s) counts as dropped. Reconnecting after a gap asks
//! for up to `backfill_minutes` of missed tweets (X keeps 5 minutes).

mod rules;
mod source;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use serde::Deserialize;
use socialpipe_schemas::{ComponentError, Secret, Source, SourceConfig};

use crate::api::{ApiSettings, api_config};
use crate::http::SystemClock;
pub use source::TwitterStreamSource;

api_config! {
    /// The X/Twitter API v2 filtered stream (`GET /2/tweets/search/stream`,
    /// with the same expansions and fields as `twitter`). Before connecting,
    /// the app's stream rules are made exactly the configured ones (others
    /// deleted, missing ones added); a rule X refuses stops the source with
    /// X's explanation. Each tweet becomes a post carrying `matching_rules`;
    /// heartbeats are ignored; X's `operational-disconnect` messages are
    /// logged. Reconnection follows X's guidance: at once after an
    /// established connection drops; after a failed attempt +250 ms per
    /// attempt up to 16 s for network errors, doubling from 5 s up to 320 s
    /// for HTTP errors, doubling from 60 s for 429 (up to
    /// `retry.max_rate_limit_wait_secs`). 401/403 stop the source. The
    /// checkpoint is the newest tweet id and when it arrived: after a gap,
    /// the stream asks for the minutes missed (`backfill_minutes`) and drops
    /// the tweets it replays by id (the last 20,000 ids are remembered). A
    /// stream never ends, so it cannot run with `--once`.
    pub struct TwitterStreamConfig {
        /// The stream's rules, `[{value = "#coffee -is:retweet", tag = "coffee"}, …]`;
        /// any other rule on the app is deleted.
        pub rules: Vec<StreamRule>,
        /// An app-only bearer token; use `"${X_BEARER_TOKEN}"`.
        pub bearer_token: Secret,
        /// Minutes of missed tweets to ask for when reconnecting after a gap,
        /// 0–5 (X keeps 5; needs a Pro or Enterprise project; 0 disables).
        #[serde(default)]
        pub backfill_minutes: u32,
        /// A connection without data or heartbeat this long is dropped and
        /// reopened (X sends a heartbeat every 20 s).
        #[serde(default = "default_stall_timeout_secs")]
        pub stall_timeout_secs: u64,
        /// Longest wait for a batch to fill before handing over what arrived.
        #[serde(default = "default_max_batch_wait_ms")]
        pub max_batch_wait_ms: u64,
        /// Longest line accepted (X's tweets with expansions are a few KiB); a
        /// longer one is dead-lettered and the connection reopened.
        #[serde(default = "default_max_line_bytes")]
        pub max_line_bytes: usize,
    }
    defaults { base_url: "https://api.x.com" }
}

/// A filtering rule and its tag, reported on each match.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StreamRule {
    /// The rule, in X's rule syntax.
    pub value: String,
    /// A name for it, reported in each matching post's `matching_rules`.
    #[serde(default)]
    pub tag: Option<String>,
}

fn default_stall_timeout_secs() -> u64 {
    // X's heartbeat comes every 20 s, sometimes a little late.
    25
}

fn default_max_batch_wait_ms() -> u64 {
    1_000
}

fn default_max_line_bytes() -> usize {
    1 << 20
}

impl SourceConfig for TwitterStreamConfig {
    fn check(&self) -> Result<(), String> {
        if self.rules.is_empty() {
            return Err("rules must not be empty (the stream delivers only what a rule matches)".into());
        }
        if let Some(rule) = self.rules.iter().find(|r| r.value.trim().is_empty()) {
            return Err(format!("a rule's value must not be empty (tag {:?})", rule.tag));
        }
        if self.backfill_minutes > 5 {
            return Err(format!(
                "backfill_minutes must be within 0..=5 (X keeps 5 minutes), not {}",
                self.backfill_minutes
            ));
        }
        if self.stall_timeout_secs == 0 || self.max_batch_wait_ms == 0 || self.max_line_bytes < 1024 {
            return Err(
                "stall_timeout_secs and max_batch_wait_ms must be positive, max_line_bytes at least 1024".into()
            );
        }
        if self.bearer_token.expose().trim().is_empty() {
            return Err("bearer_token is empty".into());
        }
        self.check_api()
    }

    fn build(&self, name: &str) -> Result<Box<dyn Source>, ComponentError> {
        Ok(Box::new(TwitterStreamSource::with_clock(name, self.clone(), Arc::new(SystemClock))?))
    }

    fn unbounded(&self) -> bool {
        true
    }
}

impl TwitterStreamConfig {
    fn url(&self, path: &str) -> String {
        format!("{}/2/tweets/search/{path}", self.base_url.trim_end_matches('/'))
    }
}
