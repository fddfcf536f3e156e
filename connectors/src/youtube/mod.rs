//! Source `youtube`: videos from the YouTube Data API v3, either a
//! channel's uploads (`channels` for its uploads playlist, then
//! `playlistItems`, newest first) or a search (`search`, newest first,
//! `publishedAfter` the last sweep's newest), paged by `pageToken`. Each
//! page's new videos get their snippet and statistics (`videos`), their
//! channels' handles and subscribers (`channels`), and optionally their
//! newest comment threads (`commentThreads`) as posts of their own. A sweep
//! stops at the newest video the previous sweep read. Quota errors wait
//! for the daily reset.

mod source;

#[cfg(test)]
mod tests;

use serde::Deserialize;

use crate::http::{RetryPolicy, Secret};
pub use source::YoutubeSource;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct YoutubeConfig {
    /// Read this channel's uploads (`UC…`); or
    #[serde(default)]
    pub channel_id: Option<String>,
    /// read the videos this search finds (`search.list`: 100 quota units a page).
    #[serde(default)]
    pub search_query: Option<String>,
    /// Pages of top-level comment threads (up to 100 each, newest first)
    /// read for each new video and emitted as posts; 0 reads none. Comments
    /// made after a video was read are not revisited.
    #[serde(default)]
    pub comment_pages: u32,
    /// An API key (`${YOUTUBE_API_KEY}`).
    pub api_key: Secret,
    #[serde(default = "default_base_url")]
    pub base_url: String,
    /// Videos per page, 1–50.
    #[serde(default = "default_max_results")]
    pub max_results: u32,
    #[serde(default = "default_poll_interval_secs")]
    pub poll_interval_secs: u64,
    #[serde(default)]
    pub retry: RetryPolicy,
}

fn default_base_url() -> String {
    "https://www.googleapis.com".into()
}

fn default_max_results() -> u32 {
    50
}

fn default_poll_interval_secs() -> u64 {
    900
}

impl YoutubeConfig {
    pub fn check(&self) -> Result<(), String> {
        let given = |v: &Option<String>| v.as_ref().is_some_and(|v| !v.trim().is_empty());
        if given(&self.channel_id) == given(&self.search_query) {
            return Err("give exactly one of channel_id (its uploads) and search_query".into());
        }
        if self.comment_pages > 10 {
            return Err(format!("comment_pages must be within 0..=10, not {}", self.comment_pages));
        }
        if self.api_key.expose().trim().is_empty() {
            return Err("api_key is empty".into());
        }
        if !(1..=50).contains(&self.max_results) {
            return Err(format!("max_results must be within 1..=50 (the API's bounds), not {}", self.max_results));
        }
        self.retry.check_with(&self.base_url)
    }

    fn url(&self, resource: &str) -> String {
        format!("{}/youtube/v3/{resource}", self.base_url.trim_end_matches('/'))
    }
}
