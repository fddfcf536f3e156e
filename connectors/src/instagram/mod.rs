//! Source `instagram`: an Instagram professional account's media from the
//! Graph API (`GET /{version}/{ig-user-id}/media`) with like and comment
//! counts, newest first, paged by `after` cursors and resumed by `since`;
//! each new item's insights (`GET /{ig-media-id}/insights`: reach, saves,
//! shares, views) when configured. Tokens, errors and paging are Graph's,
//! shared with `facebook`.

mod source;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use socialpipe_schemas::{ComponentError, Source, SourceConfig};

use crate::graph::{GraphSettings, graph_config};
use crate::http::SystemClock;
pub use source::InstagramSource;

graph_config! {
    /// An Instagram professional account's media from the Graph API (`GET
    /// /{version}/{ig-user-id}/media` with caption, type, permalink, like and
    /// comment counts; the account's username, name, follower and following
    /// counts once per sweep), newest first, paged and checkpointed exactly
    /// as `facebook`. Each media item not read before gets its insights (`GET
    /// /{ig-media-id}/insights?metric=…`, one request per item): `views` and
    /// `shares` fill the post's metrics, the others (`reach`, `saved`, …) are
    /// kept beside them. Insights Graph refuses for an item (too few viewers,
    /// a metric its type lacks, a missing `instagram_manage_insights`
    /// permission) are logged and the post goes on without them. Tokens,
    /// errors and rate limits as for `facebook`.
    pub struct InstagramConfig {
        /// The Instagram professional account's id (the IG User id, not the
        /// handle). The token needs `instagram_basic` (and
        /// `instagram_manage_insights` for insights).
        pub ig_user_id: String,
        /// Media per page, 1–100.
        #[serde(default = "default_limit")]
        pub limit: u32,
        /// Insights metrics read per new media item; `[]` reads none (one
        /// request fewer per item). A metric a media type lacks is skipped for it.
        #[serde(default = "default_insights")]
        pub insights: Vec<String>,
    }
    defaults { poll_interval_secs: 600 }
}

fn default_limit() -> u32 {
    50
}

fn default_insights() -> Vec<String> {
    ["reach", "saved", "shares", "views"].map(String::from).to_vec()
}

impl SourceConfig for InstagramConfig {
    fn check(&self) -> Result<(), String> {
        if self.ig_user_id.trim().is_empty() {
            return Err("ig_user_id must not be empty".into());
        }
        if let Some(metric) = self.insights.iter().find(|m| m.is_empty() || m.contains([',', ' '])) {
            return Err(format!("insights: {metric:?} is not a metric name"));
        }
        self.check_graph(self.limit)
    }

    fn build(&self, name: &str) -> Result<Box<dyn Source>, ComponentError> {
        Ok(Box::new(InstagramSource::with_clock(name, self.clone(), Arc::new(SystemClock))?))
    }
}
