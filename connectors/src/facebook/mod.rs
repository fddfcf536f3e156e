//! Source `facebook`: a Page's posts from the Graph API
//! (`GET /{version}/{page-id}/posts`), with reaction, comment and share
//! counts, newest first, paged by `after` cursors and resumed by `since`.
//! A refused token (error code 190) is exchanged once for a fresh
//! long-lived one when the app's id and secret are configured.

mod source;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use socialpipe_schemas::{ComponentError, Source, SourceConfig};

use crate::graph::{GraphSettings, graph_config};
use crate::http::SystemClock;
pub use source::FacebookSource;

graph_config! {
    /// A Page's posts from the Graph API (`GET /{version}/{page-id}/posts`
    /// with reaction and comment summaries and share counts, plus the Page's
    /// name, username and follower count once per sweep), newest first, paged
    /// by `after` cursors. The checkpoint is the sweep's cursor, then the
    /// newest creation time read (`since`, which Graph treats as inclusive,
    /// with the ids read in that second, so none comes twice). Reactions
    /// count as likes. Graph reports errors as HTTP 400 with `error.code`:
    /// 190 (expired or invalid token) exchanges the token once when `app_id`
    /// and `app_secret` are set, otherwise the source stops (fatal, with the
    /// reason); codes 4, 17, 32, 613 and 80001–80014 (rate limits) wait for
    /// `x-business-use-case-usage`'s `estimated_time_to_regain_access`, or back off.
    pub struct FacebookConfig {
        /// The Page.
        pub page_id: String,
        /// Posts per page, 1–100.
        #[serde(default = "default_limit")]
        pub limit: u32,
    }
    defaults { poll_interval_secs: 300 }
}

fn default_limit() -> u32 {
    100
}

impl SourceConfig for FacebookConfig {
    fn check(&self) -> Result<(), String> {
        if self.page_id.trim().is_empty() {
            return Err("page_id must not be empty".into());
        }
        self.check_graph(self.limit)
    }

    fn build(&self, name: &str) -> Result<Box<dyn Source>, ComponentError> {
        Ok(Box::new(FacebookSource::with_clock(name, self.clone(), Arc::new(SystemClock))?))
    }
}
