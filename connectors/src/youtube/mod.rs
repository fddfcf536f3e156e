//! Source `youtube`: a channel's uploads from the YouTube Data API v3 —
//! the channel (`channels`: uploads playlist, title, handle, subscribers),
//! its uploads playlist (`playlistItems`, newest first, `pageToken`), and
//! each page's video statistics (`videos`). A sweep stops at the newest
//! video the previous sweep read. Quota errors wait (see `dialect`).

mod source;

#[cfg(test)]
mod tests;

use serde::Deserialize;

use crate::http::{RetryPolicy, Secret};
pub use source::YoutubeSource;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct YoutubeConfig {
    /// The channel id (`UC…`).
    pub channel_id: String,
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
        if self.channel_id.trim().is_empty() {
            return Err("channel_id must not be empty".into());
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
