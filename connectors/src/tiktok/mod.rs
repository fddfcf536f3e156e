//! Source `tiktok`: the TikTok Research API's video query
//! (`POST /v2/research/video/query/`) over a date window, paged by `cursor`
//! within one `search_id`. The client access token comes from the
//! client-credentials grant (`POST /v2/oauth/token/`) and is fetched again
//! when refused.

mod source;

#[cfg(test)]
mod tests;

use serde::Deserialize;
use serde_json::Value;

use crate::http::{RetryPolicy, Secret};
pub use source::TiktokSource;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TiktokConfig {
    /// The API's query object, e.g. `{and = [{operation = "IN", field_name = "hashtag_name", field_values = ["coffee"]}]}`.
    pub query: Value,
    /// The window, `YYYYMMDD` (the API allows at most 30 days).
    pub start_date: String,
    pub end_date: String,
    pub client_key: String,
    pub client_secret: Secret,
    #[serde(default = "default_base_url")]
    pub base_url: String,
    /// Videos per page, 1–100.
    #[serde(default = "default_max_count")]
    pub max_count: u32,
    #[serde(default)]
    pub retry: RetryPolicy,
}

fn default_base_url() -> String {
    "https://open.tiktokapis.com".into()
}

fn default_max_count() -> u32 {
    100
}

impl TiktokConfig {
    pub fn check(&self) -> Result<(), String> {
        if !self.query.is_object() {
            return Err("query must be the API's query object".into());
        }
        let date = |name: &str, value: &str| {
            chrono::NaiveDate::parse_from_str(value, "%Y%m%d").map_err(|e| format!("{name} {value:?} (YYYYMMDD): {e}"))
        };
        let (start, end) = (date("start_date", &self.start_date)?, date("end_date", &self.end_date)?);
        if end < start || (end - start).num_days() > 30 {
            return Err("end_date must be within 30 days after start_date".into());
        }
        if self.client_key.trim().is_empty() || self.client_secret.expose().trim().is_empty() {
            return Err("client_key and client_secret are required".into());
        }
        if !(1..=100).contains(&self.max_count) {
            return Err(format!("max_count must be within 1..=100, not {}", self.max_count));
        }
        self.retry.check_with(&self.base_url)
    }

    fn url(&self, path: &str) -> String {
        format!("{}/v2/{path}", self.base_url.trim_end_matches('/'))
    }
}
