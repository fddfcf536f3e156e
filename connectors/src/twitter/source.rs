//! The recent-search sweep and its checkpoint.

use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use socialpipe_schemas::{ComponentError, Source, SourceBatch, SourceMode};

use super::TwitterConfig;
use super::mapping::{REQUEST_FIELDS, map_page};
use crate::api::ApiBase;
use crate::http::{Clock, HttpErrors, StaticToken};
use crate::records::reject;

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
    base: ApiBase<Cursor>,
    config: TwitterConfig,
}

impl TwitterSource {
    pub fn with_clock(name: &str, config: TwitterConfig, clock: Arc<dyn Clock>) -> Result<Self, ComponentError> {
        let token = Arc::new(StaticToken(config.bearer_token.clone()));
        let base = ApiBase::new("twitter", name, &config, "2", token, Arc::new(HttpErrors), clock)?;
        Ok(TwitterSource { base, config })
    }
}

/// Tweet ids are decimal strings of growing numbers: longer is newer.
fn newer(a: &str, b: &str) -> bool {
    (a.len(), a) > (b.len(), b)
}

#[async_trait]
impl Source for TwitterSource {
    async fn open(&mut self, checkpoint: Option<Value>, mode: SourceMode) -> Result<(), ComponentError> {
        self.base.open(checkpoint, mode)
    }

    async fn next_batch(&mut self, max_records: usize) -> Result<SourceBatch, ComponentError> {
        if self.base.cursor.sweep.is_none() && self.base.waiting_for_sweep().await {
            return Ok(SourceBatch::default());
        }
        let page_size = (max_records as u32).clamp(10, self.config.max_results);
        let mut query: Vec<(&str, String)> = vec![("query", self.config.query.clone())];
        query.push(("max_results", page_size.to_string()));
        query.extend(REQUEST_FIELDS.iter().map(|(k, v)| (*k, (*v).to_owned())));
        let cursor = &self.base.cursor;
        if let Some(since) = &cursor.since_id {
            query.push(("since_id", since.clone()));
        }
        if let Some(sweep) = &cursor.sweep {
            query.push(("next_token", sweep.next_token.clone()));
        }
        let url = self.base.url("tweets/search/recent");
        let location = format!("{url}?next_token={}", cursor.sweep.as_ref().map_or("", |s| &s.next_token));
        let page = self.base.client.get_json(&url, &query).await?;
        let mut batch = SourceBatch::default();
        if page.get("data").is_some_and(|d| !d.is_array()) || page.get("meta").is_none() {
            batch.rejected.push(reject(&page, "twitter: a search page without data[] and meta".into(), &location));
        } else {
            let (posts, rejected) = map_page(&page, &location);
            batch.records = posts.into_iter().map(|p| p.into_envelope(&self.base.name)).collect();
            batch.rejected = rejected;
        }
        let meta = &page["meta"];
        let page_newest = meta["newest_id"].as_str().map(str::to_owned);
        let cursor = &mut self.base.cursor;
        let newest_id = match (cursor.sweep.as_ref().and_then(|s| s.newest_id.clone()), page_newest) {
            (Some(a), Some(b)) => Some(if newer(&b, &a) { b } else { a }),
            (a, b) => a.or(b),
        };
        match meta["next_token"].as_str() {
            Some(token) => cursor.sweep = Some(Sweep { next_token: token.to_owned(), newest_id }),
            None => {
                // The sweep reached the previous one: everything up to its newest is read.
                if let Some(newest) = newest_id {
                    cursor.since_id = Some(newest);
                }
                cursor.sweep = None;
                batch.caught_up = self.base.end_sweep();
            }
        }
        batch.checkpoint = Some(self.base.checkpoint());
        Ok(batch)
    }
}
