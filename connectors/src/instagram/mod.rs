//! Source `instagram`: an Instagram professional account's media from the
//! Graph API (`GET /{version}/{ig-user-id}/media`) with like and comment
//! counts, newest first, paged by `after` cursors and resumed by `since`;
//! each new item's insights (`GET /{ig-media-id}/insights`: reach, saves,
//! shares, views) when configured. Tokens, errors and paging are Graph's,
//! shared with `facebook`.

mod source;

#[cfg(test)]
mod tests;

use serde::Deserialize;

use crate::graph::Access;
use crate::http::{RetryPolicy, Secret};
pub use source::InstagramSource;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstagramConfig {
    /// The Instagram professional account's id (the IG User id, not the handle).
    pub ig_user_id: String,
    /// A User access token with `instagram_basic` (and
    /// `instagram_manage_insights` for insights) (`${IG_ACCESS_TOKEN}`).
    pub access_token: Secret,
    /// With `app_secret`: a refused token is exchanged for a new long-lived one.
    #[serde(default)]
    pub app_id: Option<String>,
    #[serde(default)]
    pub app_secret: Option<Secret>,
    #[serde(default = "default_base_url")]
    pub base_url: String,
    #[serde(default = "default_api_version")]
    pub api_version: String,
    /// Media per page (the API caps it at 100).
    #[serde(default = "default_limit")]
    pub limit: u32,
    /// Insights metrics read per new media item; empty reads none (one
    /// request fewer per item). A metric a media type lacks is skipped for it.
    #[serde(default = "default_insights")]
    pub insights: Vec<String>,
    #[serde(default = "default_poll_interval_secs")]
    pub poll_interval_secs: u64,
    #[serde(default)]
    pub retry: RetryPolicy,
}

fn default_base_url() -> String {
    "https://graph.facebook.com".into()
}

fn default_api_version() -> String {
    "v21.0".into()
}

fn default_limit() -> u32 {
    50
}

fn default_insights() -> Vec<String> {
    ["reach", "saved", "shares", "views"].map(String::from).to_vec()
}

fn default_poll_interval_secs() -> u64 {
    600
}

impl InstagramConfig {
    pub fn check(&self) -> Result<(), String> {
        if self.ig_user_id.trim().is_empty() {
            return Err("ig_user_id must not be empty".into());
        }
        if let Some(metric) = self.insights.iter().find(|m| m.is_empty() || m.contains([',', ' '])) {
            return Err(format!("insights: {metric:?} is not a metric name"));
        }
        self.access().check(self.limit, &self.base_url)
    }

    fn access(&self) -> Access<'_> {
        Access::new(&self.access_token, &self.app_id, &self.app_secret, self.retry)
    }
}
