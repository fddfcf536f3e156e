//! The recent-search sweep and its checkpoint.

use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use socialpipe_schemas::{ComponentError, Source, SourceBatch, SourceMode};

use super::TwitterConfig;
use super::mapping::{REQUEST_FIELDS, map_page};
use crate::http::{ApiClient, Clock, HttpDialect, Pause, StaticToken, SystemClock, decode_checkpoint, reject};

/// What is committed with durable output.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Cursor {
    /// Every tweet up to this id has been read (the next sweep's `since_id`).
    since_id: Option<String>,
    /// A sweep in progress.
    sweep: Option<Sweep>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Sweep {
    /// The page to ask for next.
    next_token: String,
    /// The newest id this sweep has seen (its first page's newest).
    newest_id: Option<String>,
}

pub struct TwitterSource {
    name: String,
    config: TwitterConfig,
    client: ApiClient,
    clock: Arc<dyn Clock>,
    cursor: Cursor,
    mode: SourceMode,
    /// Unix seconds before which a daemon does not start the next sweep.
    pause: Pause,
}

impl TwitterSource {
    pub fn new(name: &str, config: TwitterConfig) -> Result<Self, ComponentError> {
        Self::with_clock(name, config, Arc::new(SystemClock))
    }

    pub fn with_clock(name: &str, config: TwitterConfig, clock: Arc<dyn Clock>) -> Result<Self, ComponentError> {
        let token = Arc::new(StaticToken(config.bearer_token.clone()));
        let client = ApiClient::new("twitter", token, Arc::new(HttpDialect), Arc::clone(&clock), config.retry)?;
        Ok(TwitterSource {
            name: name.to_owned(),
            config,
            client,
            clock,
            cursor: Cursor::default(),
            mode: SourceMode::Once,
            pause: Pause::default(),
        })
    }

    fn url(&self) -> String {
        format!("{}/2/tweets/search/recent", self.config.base_url.trim_end_matches('/'))
    }
}

/// Tweet ids are decimal strings of growing numbers: longer is newer.
fn newer(a: &str, b: &str) -> bool {
    (a.len(), a) > (b.len(), b)
}

#[async_trait]
impl Source for TwitterSource {
    async fn open(&mut self, checkpoint: Option<Value>, mode: SourceMode) -> Result<(), ComponentError> {
        self.cursor = decode_checkpoint("twitter", checkpoint)?;
        self.mode = mode;
        Ok(())
    }

    async fn next_batch(&mut self, max_records: usize) -> Result<SourceBatch, ComponentError> {
        if self.cursor.sweep.is_none() && self.pause.wait(&*self.clock).await {
            return Ok(SourceBatch::default());
        }
        let page_size = (max_records as u32).clamp(10, self.config.max_results);
        let mut query: Vec<(&str, String)> = vec![("query", self.config.query.clone())];
        query.push(("max_results", page_size.to_string()));
        query.extend(REQUEST_FIELDS.iter().map(|(k, v)| (*k, (*v).to_owned())));
        if let Some(since) = &self.cursor.since_id {
            query.push(("since_id", since.clone()));
        }
        if let Some(sweep) = &self.cursor.sweep {
            query.push(("next_token", sweep.next_token.clone()));
        }
        let url = self.url();
        let page = self.client.get_json(&url, &query).await?;
        let location = format!("{url}?next_token={}", self.cursor.sweep.as_ref().map_or("", |s| &s.next_token));
        let mut batch = SourceBatch::default();
        if page.get("data").is_some_and(|d| !d.is_array()) || page.get("meta").is_none() {
            batch.rejected.push(reject(&page, "twitter: a search page without data[] and meta".into(), &location));
        } else {
            let (posts, rejected) = map_page(&page, &location);
            batch.records = posts.into_iter().map(|p| p.into_envelope(&self.name)).collect();
            batch.rejected = rejected;
        }
        let meta = &page["meta"];
        let page_newest = meta["newest_id"].as_str().map(str::to_owned);
        let newest_id = match (self.cursor.sweep.as_ref().and_then(|s| s.newest_id.clone()), page_newest) {
            (Some(a), Some(b)) => Some(if newer(&b, &a) { b } else { a }),
            (a, b) => a.or(b),
        };
        match meta["next_token"].as_str() {
            Some(token) => self.cursor.sweep = Some(Sweep { next_token: token.to_owned(), newest_id }),
            None => {
                // The sweep reached the previous one: everything up to its newest is read.
                if let Some(newest) = newest_id {
                    self.cursor.since_id = Some(newest);
                }
                self.cursor.sweep = None;
                self.pause.after_sweep(&*self.clock, self.config.poll_interval_secs);
                batch.caught_up = self.mode == SourceMode::Once;
            }
        }
        batch.checkpoint = Some(serde_json::to_value(&self.cursor).expect("json"));
        Ok(batch)
    }
}
