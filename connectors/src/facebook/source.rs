//! The page-posts sweep and its checkpoint, and the mapping to posts.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::DateTime;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use socialpipe_schemas::{ComponentError, PostPayload, Source, SourceBatch, SourceMode};

use super::FacebookConfig;
use super::token::{ExchangedToken, GraphDialect};
use crate::http::{
    ApiClient, Clock, Pause, Seen, StaticToken, SystemClock, TokenSource, decode_checkpoint, reject, to_post,
};

const POST_FIELDS: &str = "id,message,story,created_time,permalink_url,from,shares,\
reactions.summary(total_count).limit(0),comments.summary(total_count).limit(0)";
const PAGE_FIELDS: &str = "id,name,username,followers_count,fan_count";

/// Committed with durable output.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Cursor {
    /// What earlier sweeps read (creation time in unix seconds: the next
    /// sweep's `since`, which Graph treats as inclusive).
    read: Seen,
    sweep: Option<Sweep>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Sweep {
    /// The `after` cursor of the next page.
    after: String,
    /// What this sweep has read so far.
    read: Seen,
}

pub struct FacebookSource {
    name: String,
    config: FacebookConfig,
    client: ApiClient,
    clock: Arc<dyn Clock>,
    cursor: Cursor,
    mode: SourceMode,
    /// The Page's profile, read once per sweep.
    page: Option<Value>,
    pause: Pause,
}

impl FacebookSource {
    pub fn new(name: &str, config: FacebookConfig) -> Result<Self, ComponentError> {
        Self::with_clock(name, config, Arc::new(SystemClock))
    }

    pub fn with_clock(name: &str, config: FacebookConfig, clock: Arc<dyn Clock>) -> Result<Self, ComponentError> {
        let token: Arc<dyn TokenSource> = match (&config.app_id, &config.app_secret) {
            (Some(app_id), Some(app_secret)) => Arc::new(ExchangedToken {
                current: Mutex::new(config.access_token.clone()),
                app_id: app_id.clone(),
                app_secret: app_secret.clone(),
                endpoint: config.url("oauth/access_token"),
            }),
            _ => Arc::new(StaticToken(config.access_token.clone())),
        };
        let client = ApiClient::new("facebook", token, Arc::new(GraphDialect), Arc::clone(&clock), config.retry)?;
        Ok(FacebookSource {
            name: name.to_owned(),
            config,
            client,
            clock,
            cursor: Cursor::default(),
            mode: SourceMode::Once,
            page: None,
            pause: Pause::default(),
        })
    }

    /// Maps a Graph post (and the Page as its author) to a raw post.
    fn map(&self, post: &Value) -> Result<PostPayload, String> {
        let page = self.page.as_ref().unwrap_or(&Value::Null);
        let created = post["created_time"].as_str().ok_or("created_time: missing")?;
        let created = DateTime::parse_from_str(created, "%Y-%m-%dT%H:%M:%S%z")
            .map_err(|e| format!("created_time {created:?}: {e}"))?;
        let summary = |edge: &str| post[edge]["summary"]["total_count"].clone();
        let author_id = post["from"]["id"].as_str().or(page["id"].as_str()).unwrap_or(&self.config.page_id);
        let followers = page["followers_count"].as_u64().or(page["fan_count"].as_u64());
        let raw = json!({
            "platform": "facebook",
            "id": post["id"],
            "text": post["message"].as_str().or(post["story"].as_str()).unwrap_or(""),
            "created_at": created.to_rfc3339(),
            "author": {"id": author_id, "handle": page["username"], "name": post["from"]["name"].as_str().or(page["name"].as_str()), "followers": followers},
            "metrics": {"likes": summary("reactions"), "comments": summary("comments"), "shares": post["shares"]["count"].as_u64().unwrap_or(0)},
            "url": post["permalink_url"],
        });
        to_post(raw, "post")
    }
}

#[async_trait]
impl Source for FacebookSource {
    async fn open(&mut self, checkpoint: Option<Value>, mode: SourceMode) -> Result<(), ComponentError> {
        self.cursor = decode_checkpoint("facebook", checkpoint)?;
        self.mode = mode;
        Ok(())
    }

    async fn next_batch(&mut self, max_records: usize) -> Result<SourceBatch, ComponentError> {
        if self.cursor.sweep.is_none() && self.pause.wait(&*self.clock).await {
            return Ok(SourceBatch::default());
        }
        if self.page.is_none() {
            let url = self.config.url(&self.config.page_id);
            self.page = Some(self.client.get_json(&url, &[("fields", PAGE_FIELDS.to_owned())]).await?);
        }
        let url = self.config.url(&format!("{}/posts", self.config.page_id));
        let limit = (max_records as u32).clamp(1, self.config.limit);
        let mut query = vec![("fields", POST_FIELDS.to_owned()), ("limit", limit.to_string())];
        if let Some(since) = self.cursor.read.at {
            query.push(("since", since.to_string()));
        }
        if let Some(sweep) = &self.cursor.sweep {
            query.push(("after", sweep.after.clone()));
        }
        let answer = self.client.get_json(&url, &query).await?;
        let location = format!("{url}?after={}", self.cursor.sweep.as_ref().map_or("", |s| &s.after));
        let mut batch = SourceBatch::default();
        let mut read = self.cursor.sweep.as_ref().map(|s| s.read.clone()).unwrap_or_default();
        let Some(posts) = answer["data"].as_array() else {
            batch.rejected.push(reject(&answer, "facebook: a posts page without data[]".into(), &location));
            return self.finish_sweep(batch, read);
        };
        for post in posts {
            let id = post["id"].as_str().unwrap_or_default().to_owned();
            match self.map(post) {
                Ok(mapped) => {
                    let at = mapped.created_at.timestamp();
                    if self.cursor.read.covers(at, &id) {
                        continue;
                    }
                    read.note(at, &id);
                    batch.records.push(mapped.into_envelope(&self.name));
                }
                Err(reason) => batch.rejected.push(reject(post, reason, &location)),
            }
        }
        match answer["paging"]["next"].as_str().and(answer["paging"]["cursors"]["after"].as_str()) {
            Some(after) => {
                self.cursor.sweep = Some(Sweep { after: after.to_owned(), read });
                batch.checkpoint = Some(serde_json::to_value(&self.cursor).expect("json"));
                Ok(batch)
            }
            None => self.finish_sweep(batch, read),
        }
    }
}

impl FacebookSource {
    /// The sweep reached the previous one: what it saw becomes the lower bound.
    fn finish_sweep(&mut self, mut batch: SourceBatch, read: Seen) -> Result<SourceBatch, ComponentError> {
        self.cursor.read.advance(read);
        self.cursor.sweep = None;
        self.page = None;
        self.pause.after_sweep(&*self.clock, self.config.poll_interval_secs);
        batch.caught_up = self.mode == SourceMode::Once;
        batch.checkpoint = Some(serde_json::to_value(&self.cursor).expect("json"));
        Ok(batch)
    }
}
