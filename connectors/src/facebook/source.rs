//! The page-posts sweep and its checkpoint, and the mapping to posts.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::DateTime;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use socialpipe_schemas::{ComponentError, PostPayload, Source, SourceBatch, SourceMode, validate_raw_post};

use super::FacebookConfig;
use super::token::{ExchangedToken, GraphDialect};
use crate::http::{ApiClient, Clock, StaticToken, SystemClock, TokenSource, reject, strip_nulls};

const POST_FIELDS: &str = "id,message,story,created_time,permalink_url,from,shares,\
reactions.summary(total_count).limit(0),comments.summary(total_count).limit(0)";
const PAGE_FIELDS: &str = "id,name,username,followers_count,fan_count";
const IDLE_STEP: Duration = Duration::from_secs(1);

/// Committed with durable output.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Cursor {
    /// Every post created before this (unix seconds) has been read, and
    /// those created in it whose ids are listed (`since` is inclusive).
    since: Option<i64>,
    #[serde(default)]
    seen_at_since: Vec<String>,
    sweep: Option<Sweep>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Sweep {
    /// The `after` cursor of the next page.
    after: String,
    /// The newest creation time this sweep has seen, and the ids created then.
    newest: Option<i64>,
    newest_ids: Vec<String>,
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
    next_sweep_at: i64,
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
            next_sweep_at: 0,
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
        let mut raw = json!({
            "platform": "facebook",
            "id": post["id"],
            "text": post["message"].as_str().or(post["story"].as_str()).unwrap_or(""),
            "created_at": created.to_rfc3339(),
            "author": {"id": author_id, "handle": page["username"], "name": post["from"]["name"].as_str().or(page["name"].as_str()), "followers": followers},
            "metrics": {"likes": summary("reactions"), "comments": summary("comments"), "shares": post["shares"]["count"].as_u64().unwrap_or(0)},
            "url": post["permalink_url"],
        });
        strip_nulls(&mut raw);
        validate_raw_post(raw).map_err(|e| format!("post does not map: {e}"))
    }
}

#[async_trait]
impl Source for FacebookSource {
    async fn open(&mut self, checkpoint: Option<Value>, mode: SourceMode) -> Result<(), ComponentError> {
        self.cursor = match checkpoint {
            Some(value) => serde_json::from_value(value)
                .map_err(|e| ComponentError::fatal(format!("facebook: unreadable checkpoint: {e}")))?,
            None => Cursor::default(),
        };
        self.mode = mode;
        Ok(())
    }

    async fn next_batch(&mut self, max_records: usize) -> Result<SourceBatch, ComponentError> {
        if self.cursor.sweep.is_none() {
            let wait = self.next_sweep_at - self.clock.now_unix();
            if wait > 0 {
                self.clock.sleep(Duration::from_secs(wait as u64).min(IDLE_STEP)).await;
                return Ok(SourceBatch::default());
            }
        }
        if self.page.is_none() {
            let url = self.config.url(&self.config.page_id);
            self.page = Some(self.client.get_json(&url, &[("fields", PAGE_FIELDS.to_owned())]).await?);
        }
        let url = self.config.url(&format!("{}/posts", self.config.page_id));
        let limit = (max_records as u32).clamp(1, self.config.limit);
        let mut query = vec![("fields", POST_FIELDS.to_owned()), ("limit", limit.to_string())];
        if let Some(since) = self.cursor.since {
            query.push(("since", since.to_string()));
        }
        if let Some(sweep) = &self.cursor.sweep {
            query.push(("after", sweep.after.clone()));
        }
        let answer = self.client.get_json(&url, &query).await?;
        let location = format!("{url}?after={}", self.cursor.sweep.as_ref().map_or("", |s| &s.after));
        let mut batch = SourceBatch::default();
        let (mut newest, mut newest_ids) = match &self.cursor.sweep {
            Some(s) => (s.newest, s.newest_ids.clone()),
            None => (None, Vec::new()),
        };
        let Some(posts) = answer["data"].as_array() else {
            batch.rejected.push(reject(&answer, "facebook: a posts page without data[]".into(), &location));
            return self.finish_sweep(batch, newest, newest_ids);
        };
        for post in posts {
            let id = post["id"].as_str().unwrap_or_default().to_owned();
            match self.map(post) {
                Ok(mapped) => {
                    let at = mapped.created_at.timestamp();
                    if self.cursor.since == Some(at) && self.cursor.seen_at_since.contains(&id) {
                        continue;
                    }
                    match newest {
                        Some(n) if at < n => {}
                        Some(n) if at == n => newest_ids.push(id),
                        _ => (newest, newest_ids) = (Some(at), vec![id]),
                    }
                    batch.records.push(mapped.into_envelope(&self.name));
                }
                Err(reason) => batch.rejected.push(reject(post, reason, &location)),
            }
        }
        match answer["paging"]["next"].as_str().and(answer["paging"]["cursors"]["after"].as_str()) {
            Some(after) => {
                self.cursor.sweep = Some(Sweep { after: after.to_owned(), newest, newest_ids });
                batch.checkpoint = Some(serde_json::to_value(&self.cursor).expect("json"));
                Ok(batch)
            }
            None => self.finish_sweep(batch, newest, newest_ids),
        }
    }
}

impl FacebookSource {
    /// The sweep reached the previous one: what it saw becomes the lower bound.
    fn finish_sweep(
        &mut self,
        mut batch: SourceBatch,
        newest: Option<i64>,
        newest_ids: Vec<String>,
    ) -> Result<SourceBatch, ComponentError> {
        if let Some(at) = newest {
            if self.cursor.since == Some(at) {
                self.cursor.seen_at_since.extend(newest_ids);
            } else {
                self.cursor.since = Some(at);
                self.cursor.seen_at_since = newest_ids;
            }
        }
        self.cursor.sweep = None;
        self.page = None;
        self.next_sweep_at = self.clock.now_unix() + self.config.poll_interval_secs as i64;
        batch.caught_up = self.mode == SourceMode::Once;
        batch.checkpoint = Some(serde_json::to_value(&self.cursor).expect("json"));
        Ok(batch)
    }
}
