//! Source `tiktok`: the TikTok Research API's video query
//! (`POST /v2/research/video/query/`) over a date window, paged by `cursor`
//! within one `search_id`. The window is fixed (`start_date`..`end_date`,
//! read once) or rolling (the last `rolling_days` days, read again every
//! `poll_interval_secs`: videos already read come again with fresher
//! counts under the same record id, so sinks update them in place). The client access token comes from the
//! client-credentials grant (`POST /v2/oauth/token/`) and is fetched again
//! when refused.

mod source;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use serde_json::Value;
use socialpipe_schemas::{ComponentError, Secret, Source, SourceConfig};

use crate::api::{ApiSettings, api_config};
use crate::http::SystemClock;
pub use source::TiktokSource;

api_config! {
    /// The TikTok Research API's video query (`POST /v2/research/video/query/`)
    /// over a date window, paged by `cursor` within the query's `search_id`;
    /// the checkpoint is both, so a restart continues the same search. The
    /// window is fixed (`start_date`..`end_date`, read once; a daemon then
    /// idles) or rolling (the last `rolling_days` days, read again every
    /// `poll_interval_secs`: videos already read come again with fresher
    /// counts under the same record id, so sinks update them in place). The
    /// client access token comes from the client-credentials grant (`POST
    /// /v2/oauth/token/`) first and again when a query is refused with 401;
    /// if the grant is refused the source stops. A video maps to a post with
    /// its description as text, the username as author, likes, comments,
    /// shares and views; region and hashtags are kept as extra fields.
    pub struct TiktokConfig {
        /// The API's query object, e.g. `{and = [{operation = "IN", field_name = "hashtag_name", field_values = ["coffee"]}]}`.
        pub query: Value,
        /// A fixed window, `YYYYMMDD` (the API allows at most 30 days), with
        /// `end_date`; or
        #[serde(default)]
        pub start_date: Option<String>,
        /// The fixed window's last day, `YYYYMMDD`.
        #[serde(default)]
        pub end_date: Option<String>,
        /// a rolling window: the last this many days (UTC) up to today, 1–30.
        #[serde(default)]
        pub rolling_days: Option<u32>,
        /// The app's client key.
        pub client_key: String,
        /// The app's client secret; use `"${TIKTOK_CLIENT_SECRET}"`.
        pub client_secret: Secret,
        /// Videos per page, 1–100.
        #[serde(default = "default_max_count")]
        pub max_count: u32,
    }
    defaults { base_url: "https://open.tiktokapis.com", poll_interval_secs: 3600 }
}

fn default_max_count() -> u32 {
    100
}

impl SourceConfig for TiktokConfig {
    fn check(&self) -> Result<(), String> {
        if !self.query.is_object() {
            return Err("query must be the API's query object".into());
        }
        let date = |name: &str, value: &str| {
            chrono::NaiveDate::parse_from_str(value, "%Y%m%d").map_err(|e| format!("{name} {value:?} (YYYYMMDD): {e}"))
        };
        match (&self.start_date, &self.end_date, self.rolling_days) {
            (Some(start), Some(end), None) => {
                let (start, end) = (date("start_date", start)?, date("end_date", end)?);
                if end < start || (end - start).num_days() > 30 {
                    return Err("end_date must be within 30 days after start_date".into());
                }
            }
            (None, None, Some(days)) if (1..=30).contains(&days) => {}
            (None, None, Some(days)) => return Err(format!("rolling_days must be within 1..=30, not {days}")),
            _ => return Err("give either start_date and end_date (a fixed window) or rolling_days".into()),
        }
        if self.client_key.trim().is_empty() || self.client_secret.expose().trim().is_empty() {
            return Err("client_key and client_secret are required".into());
        }
        if !(1..=100).contains(&self.max_count) {
            return Err(format!("max_count must be within 1..=100, not {}", self.max_count));
        }
        self.check_api()
    }

    fn build(&self, name: &str) -> Result<Box<dyn Source>, ComponentError> {
        Ok(Box::new(TiktokSource::with_clock(name, self.clone(), Arc::new(SystemClock))?))
    }
}

impl TiktokConfig {
    /// The window to query at `now_unix`: `(start_date, end_date)`.
    fn window(&self, now_unix: i64) -> (String, String) {
        match (&self.start_date, &self.end_date, self.rolling_days) {
            (Some(start), Some(end), _) => (start.clone(), end.clone()),
            (_, _, days) => {
                let today = chrono::DateTime::from_timestamp(now_unix, 0).unwrap_or_default().date_naive();
                let start = today - chrono::Days::new(u64::from(days.unwrap_or(1)));
                (start.format("%Y%m%d").to_string(), today.format("%Y%m%d").to_string())
            }
        }
    }
}
