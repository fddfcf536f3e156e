//! The video query, its token, its checkpoint and the mapping.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use socialpipe_schemas::{ComponentError, PostPayload, Secret, Source, SourceBatch, SourceMode};

use super::TiktokConfig;
use crate::api::ApiBase;
use crate::http::{Clock, HttpErrors, TokenSource, form_request, request_token};
use crate::records::{reject, to_post};

const FIELDS: &str = "id,video_description,create_time,region_code,share_count,view_count,like_count,comment_count,username,hashtag_names";

/// A client access token from the client-credentials grant.
struct ClientToken {
    endpoint: String,
    client_key: String,
    client_secret: Secret,
    current: Mutex<Option<Secret>>,
}

#[async_trait]
impl TokenSource for ClientToken {
    async fn token(&self) -> Result<Secret, ComponentError> {
        let current = self.current.lock().expect("token lock").clone();
        current.ok_or_else(|| ComponentError::fatal("tiktok: no access token"))
    }

    async fn refresh(&self, client: &reqwest::Client) -> Result<bool, ComponentError> {
        let grant = [
            ("client_key", self.client_key.as_str()),
            ("client_secret", self.client_secret.expose()),
            ("grant_type", "client_credentials"),
        ];
        let request = form_request(client, &self.endpoint, &grant);
        let Some(granted) = request_token("tiktok", request).await? else { return Ok(false) };
        *self.current.lock().expect("token lock") = Some(granted.access_token);
        Ok(true)
    }

    fn needs_refresh(&self) -> bool {
        self.current.lock().expect("token lock").is_none()
    }
}

/// Committed with durable output: where the query stands.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Cursor {
    /// The window being read, `(start_date, end_date)`.
    #[serde(default)]
    window: Option<(String, String)>,
    search_id: Option<String>,
    cursor: u64,
    /// A fixed window is read to its end.
    done: bool,
}

pub struct TiktokSource {
    base: ApiBase<Cursor>,
    config: TiktokConfig,
}

impl TiktokSource {
    pub fn with_clock(name: &str, config: TiktokConfig, clock: Arc<dyn Clock>) -> Result<Self, ComponentError> {
        let token = Arc::new(ClientToken {
            endpoint: format!("{}/v2/oauth/token/", config.base_url.trim_end_matches('/')),
            client_key: config.client_key.clone(),
            client_secret: config.client_secret.clone(),
            current: Mutex::new(None),
        });
        let base = ApiBase::new("tiktok", name, &config, "v2", token, Arc::new(HttpErrors), clock)?;
        Ok(TiktokSource { base, config })
    }
}

fn map(video: &Value) -> Result<PostPayload, String> {
    let id = match &video["id"] {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        _ => return Err("id: missing".into()),
    };
    let username = video["username"].as_str().ok_or("username: missing")?;
    let created = video["create_time"].as_i64().ok_or("create_time: missing (unix seconds)")?;
    let created = chrono::DateTime::from_timestamp(created, 0).ok_or("create_time: out of range")?;
    let raw = json!({
        "platform": "tiktok",
        "id": id,
        "text": video["video_description"].as_str().unwrap_or(""),
        "created_at": created.to_rfc3339(),
        "author": {"id": username, "handle": username},
        "metrics": {"likes": video["like_count"], "comments": video["comment_count"], "shares": video["share_count"], "views": video["view_count"]},
        "url": format!("https://www.tiktok.com/@{username}/video/{id}"),
        "region": video["region_code"],
        "hashtags": video["hashtag_names"],
    });
    to_post(raw, "video")
}

#[async_trait]
impl Source for TiktokSource {
    async fn open(&mut self, checkpoint: Option<Value>, mode: SourceMode) -> Result<(), ComponentError> {
        self.base.open(checkpoint, mode)
    }

    async fn next_batch(&mut self, max_records: usize) -> Result<SourceBatch, ComponentError> {
        if self.base.cursor.done {
            // The fixed window is read; a daemon idles (a new window is a new configuration).
            self.base.clock.sleep(std::time::Duration::from_secs(1)).await;
            return Ok(SourceBatch { caught_up: self.base.mode == SourceMode::Once, ..Default::default() });
        }
        if self.base.cursor.window.is_none() && self.base.waiting_for_sweep().await {
            return Ok(SourceBatch::default());
        }
        let now = self.base.clock.now_unix();
        let (start_date, end_date) = self.base.cursor.window.get_or_insert_with(|| self.config.window(now)).clone();
        let mut body = json!({
            "query": self.config.query,
            "start_date": start_date,
            "end_date": end_date,
            "max_count": (max_records as u32).clamp(1, self.config.max_count),
            "cursor": self.base.cursor.cursor,
        });
        if let Some(search_id) = &self.base.cursor.search_id {
            body["search_id"] = json!(search_id);
        }
        let url = self.base.url("research/video/query/");
        let answer = self.base.client.post_json(&url, &[("fields", FIELDS.to_owned())], &body).await?;
        let data = &answer["data"];
        let location = format!("{url} cursor {}", self.base.cursor.cursor);
        let mut batch = SourceBatch::default();
        match data["videos"].as_array() {
            Some(videos) => {
                for video in videos {
                    match map(video) {
                        Ok(post) => batch.records.push(post.into_envelope(&self.base.name)),
                        Err(reason) => batch.rejected.push(reject(video, reason, &location)),
                    }
                }
            }
            None => batch.rejected.push(reject(&answer, "tiktok: an answer without data.videos".into(), &location)),
        }
        let cursor = &mut self.base.cursor;
        cursor.search_id = data["search_id"].as_str().map(str::to_owned).or(cursor.search_id.take());
        cursor.cursor = data["cursor"].as_u64().unwrap_or(cursor.cursor);
        let finished = !data["has_more"].as_bool().unwrap_or(false);
        if finished && self.config.rolling_days.is_some() {
            // The next sweep queries the window as it is then, with a new search.
            *cursor = Cursor::default();
            self.base.end_sweep();
        } else {
            cursor.done = finished;
        }
        batch.caught_up = finished && self.base.mode == SourceMode::Once;
        batch.checkpoint = Some(self.base.checkpoint());
        Ok(batch)
    }
}
