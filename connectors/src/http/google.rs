//! How Google's APIs (YouTube Data, Drive) report errors: HTTP status with
//! `error.errors[].reason`.

use std::time::Duration;

use serde_json::Value;

use super::{ErrorFormat, HttpErrors, Verdict};

/// Google's reasons: quota and rate limits wait, a bad key or token is refused.
pub struct GoogleErrors;

impl ErrorFormat for GoogleErrors {
    fn verdict(&self, status: u16, headers: &reqwest::header::HeaderMap, body: Option<&Value>, now: i64) -> Verdict {
        let reasons: Vec<&str> = body
            .and_then(|b| b["error"]["errors"].as_array())
            .into_iter()
            .flatten()
            .filter_map(|e| e["reason"].as_str())
            .collect();
        if reasons.contains(&"quotaExceeded") || reasons.contains(&"dailyLimitExceeded") {
            // The daily quota resets at midnight Pacific time (taken as UTC−8).
            let pacific = now - 8 * 3600;
            let wait = (pacific / 86_400 + 1) * 86_400 - pacific;
            return Verdict::Retry(Some(Duration::from_secs(wait as u64)));
        }
        if reasons.iter().any(|r| matches!(*r, "rateLimitExceeded" | "userRateLimitExceeded")) {
            return Verdict::Retry(None);
        }
        if reasons.contains(&"keyInvalid") || reasons.contains(&"keyExpired") {
            return Verdict::TokenRefused;
        }
        HttpErrors.verdict(status, headers, body, now)
    }
}
