//! What the Meta Graph API sources (`facebook`, `instagram`) share: its
//! error codes, the long-lived token exchange, its time format, and the
//! sweep of an edge read newest first by `after` cursors down to `since`.

mod edge;
mod token;

pub use edge::{EdgePage, EdgeReader, EdgeSource, EdgeSpec, PageTaker};
pub use token::{ExchangedToken, GraphErrors};

use std::sync::{Arc, Mutex};

use chrono::{DateTime, FixedOffset};
use socialpipe_schemas::Secret;

use crate::api::Polling;
use crate::http::{StaticToken, TokenSource};

/// The settings of a Graph source beyond the API sources' own.
pub trait GraphSettings: Polling {
    fn access_token(&self) -> &Secret;
    fn app_id(&self) -> Option<&String>;
    fn app_secret(&self) -> Option<&Secret>;
    fn api_version(&self) -> &str;

    /// The checks every Graph source makes of its credentials and page size.
    fn check_graph(&self, limit: u32) -> Result<(), String> {
        if self.access_token().expose().trim().is_empty() {
            return Err("access_token is empty".into());
        }
        if self.app_id().is_some() != self.app_secret().is_some() {
            return Err("app_id and app_secret go together (both refresh the token)".into());
        }
        if !(1..=100).contains(&limit) {
            return Err(format!("limit must be within 1..=100, not {limit}"));
        }
        self.check_api()
    }
}

/// A Graph source's config: its own fields, then the Graph credentials and
/// API version, then the API sources' shared settings.
macro_rules! graph_config {
    (
        $(#[$meta:meta])*
        pub struct $name:ident { $($fields:tt)* }
        defaults { poll_interval_secs: $poll:literal $(,)? }
    ) => {
        $crate::api::api_config! {
            $(#[$meta])*
            pub struct $name {
                $($fields)*
                /// The access token; use `"${FB_ACCESS_TOKEN}"` or `"${IG_ACCESS_TOKEN}"`.
                pub access_token: socialpipe_schemas::Secret,
                /// With `app_secret`: a refused token (Graph error 190) is exchanged
                /// once for a new long-lived one (`grant_type=fb_exchange_token`).
                /// The exchanged token lives in memory: keep the configured one fresh.
                #[serde(default)]
                pub app_id: Option<String>,
                /// The app's secret (with `app_id`); use `"${FB_APP_SECRET}"`.
                #[serde(default)]
                pub app_secret: Option<socialpipe_schemas::Secret>,
                /// The Graph API version in the path.
                #[serde(default = "default_api_version")]
                pub api_version: String,
            }
            defaults { base_url: "https://graph.facebook.com", poll_interval_secs: $poll }
        }

        fn default_api_version() -> String {
            "v21.0".into()
        }

        impl $crate::graph::GraphSettings for $name {
            fn access_token(&self) -> &socialpipe_schemas::Secret {
                &self.access_token
            }

            fn app_id(&self) -> Option<&String> {
                self.app_id.as_ref()
            }

            fn app_secret(&self) -> Option<&socialpipe_schemas::Secret> {
                self.app_secret.as_ref()
            }

            fn api_version(&self) -> &str {
                &self.api_version
            }
        }
    };
}
pub(crate) use graph_config;

/// Graph's timestamps: ISO 8601 with a `+0000` offset.
pub fn parse_time(field: &str, value: Option<&str>) -> Result<DateTime<FixedOffset>, String> {
    let value = value.ok_or_else(|| format!("{field}: missing"))?;
    DateTime::parse_from_str(value, "%Y-%m-%dT%H:%M:%S%z").map_err(|e| format!("{field} {value:?}: {e}"))
}

/// The configured token, exchanged for a fresh long-lived one when refused
/// if the app's id and secret are configured.
fn token_source(token: &Secret, app: Option<(&String, &Secret)>, exchange_endpoint: String) -> Arc<dyn TokenSource> {
    match app {
        Some((app_id, app_secret)) => Arc::new(ExchangedToken {
            current: Mutex::new(token.clone()),
            app_id: app_id.clone(),
            app_secret: app_secret.clone(),
            endpoint: exchange_endpoint,
        }),
        None => Arc::new(StaticToken(token.clone())),
    }
}
