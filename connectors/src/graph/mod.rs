//! What the Meta Graph API sources (`facebook`, `instagram`) share: its
//! error codes, the long-lived token exchange, its time format, and the
//! sweep of an edge read newest first by `after` cursors down to `since`.

mod edge;
mod token;

pub use edge::{Access, EdgePage, EdgeReader, EdgeSpec};
pub use token::{ExchangedToken, GraphDialect};

use std::sync::{Arc, Mutex};

use chrono::{DateTime, FixedOffset};

use crate::http::{Secret, StaticToken, TokenSource};

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
