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

use std::sync::Arc;

use socialpipe_schemas::{ComponentError, Secret, Source, SourceConfig};

use crate::api::{ApiSettings, api_config};
use crate::http::SystemClock;
pub use source::YoutubeSource;

api_config! {
    /// Videos from the YouTube Data API v3: a channel's uploads
    /// (`channel_id`: `channels` for its uploads playlist, then
    /// `playlistItems`, newest first) or a search (`search_query`: `search`
    /// with `type=video&order=date`; the next sweep asks only for videos
    /// published since the last one's newest), paged by `pageToken`. Each
    /// page's new videos get their snippet and statistics (`videos`) and their
    /// channels' handle, title and subscriber count (`channels`); a video
    /// maps to a post with title and description as text, likes, comments and
    /// views, its channel as the author. With `comment_pages` > 0, each new
    /// video's newest top-level comment threads become posts too. Quota: a
    /// search page costs 100 units, every other call 1; `quotaExceeded`
    /// waits until the daily quota resets (midnight Pacific time, bounded by
    /// `retry.max_rate_limit_wait_secs`), `keyInvalid` stops the source. The
    /// API key goes in the `key` query parameter and never appears in errors.
    pub struct YoutubeConfig {
        /// Read this channel's uploads (`UC…`); or
        #[serde(default)]
        pub channel_id: Option<String>,
        /// read the videos this search finds (`search.list`: 100 quota units a
        /// page). Give exactly one of the two.
        #[serde(default)]
        pub search_query: Option<String>,
        /// Pages of top-level comment threads (up to 100 each, newest first)
        /// read for each new video and emitted as posts, 0–10; 0 reads none.
        /// Comments made after a video was read are not revisited.
        #[serde(default)]
        pub comment_pages: u32,
        /// An API key; use `"${YOUTUBE_API_KEY}"`.
        pub api_key: Secret,
        /// Videos per page, 1–50.
        #[serde(default = "default_max_results")]
        pub max_results: u32,
    }
    defaults { base_url: "https://www.googleapis.com", poll_interval_secs: 900 }
}

fn default_max_results() -> u32 {
    50
}

impl SourceConfig for YoutubeConfig {
    fn check(&self) -> Result<(), String> {
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
        self.check_api()
    }

    fn build(&self, name: &str) -> Result<Box<dyn Source>, ComponentError> {
        Ok(Box::new(YoutubeSource::with_clock(name, self.clone(), Arc::new(SystemClock))?))
    }
}
