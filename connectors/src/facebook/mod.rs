//! Source `facebook`: a Page's posts from the Graph API
//! (`GET /{version}/{page-id}/posts`), with reaction, comment and share
//! counts, newest first, paged by `after` cursors and resumed by `since`.
//! A refused token (error code 190) is exchanged once for a fresh
//! long-lived one when the app's id and secret are configured.

mod source;

#[cfg(test)]
mod tests;

use serde::Deserialize;

use crate::graph::Access;
use crate::http::{RetryPolicy, Secret};
pub use source::FacebookSource;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FacebookConfig {
    pub page_id: String,
    /// A Page (or user) access token (`${FB_ACCESS_TOKEN}`).
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
    /// Posts per page (the API caps it at 100).
    #[serde(default = "default_limit")]
    pub limit: u32,
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
    100
}

fn default_poll_interval_secs() -> u64 {
    300
}

impl FacebookConfig {
    pub fn check(&self) -> Result<(), String> {
        if self.page_id.trim().is_empty() {
            return Err("page_id must not be empty".into());
        }
        self.access().check(self.limit, &self.base_url)
    }

    fn access(&self) -> Access<'_> {
        Access::new(&self.access_token, &self.app_id, &self.app_secret, self.retry)
    }
}
