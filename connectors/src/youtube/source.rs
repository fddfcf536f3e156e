//! The uploads sweep, its checkpoint, the mapping and YouTube's errors.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use socialpipe_schemas::{ComponentError, PostPayload, Source, SourceBatch, SourceMode};

use super::YoutubeConfig;
use crate::http::{
    ApiClient, Clock, Dialect, HttpDialect, Pause, Seen, StaticToken, SystemClock, Verdict, decode_checkpoint, reject,
    to_post,
};

/// YouTube reports errors as `error.errors[].reason`.
struct YoutubeDialect;

impl Dialect for YoutubeDialect {
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
        HttpDialect.verdict(status, headers, body, now)
    }
}

/// Committed with durable output.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Cursor {
    /// What earlier sweeps read (publication time in ms).
    read: Seen,
    sweep: Option<Sweep>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Sweep {
    page_token: String,
    /// What this sweep has read so far.
    read: Seen,
}

pub struct YoutubeSource {
    name: String,
    config: YoutubeConfig,
    client: ApiClient,
    clock: Arc<dyn Clock>,
    cursor: Cursor,
    mode: SourceMode,
    /// The channel's `channels` item, read once per sweep.
    channel: Option<Value>,
    pause: Pause,
}

impl YoutubeSource {
    pub fn new(name: &str, config: YoutubeConfig) -> Result<Self, ComponentError> {
        Self::with_clock(name, config, Arc::new(SystemClock))
    }

    pub fn with_clock(name: &str, config: YoutubeConfig, clock: Arc<dyn Clock>) -> Result<Self, ComponentError> {
        let token = Arc::new(StaticToken(config.api_key.clone()));
        let client = ApiClient::new("youtube", token, Arc::new(YoutubeDialect), Arc::clone(&clock), config.retry)?
            .token_in_query("key");
        Ok(YoutubeSource {
            name: name.to_owned(),
            config,
            client,
            clock,
            cursor: Cursor::default(),
            mode: SourceMode::Once,
            channel: None,
            pause: Pause::default(),
        })
    }

    async fn channel(&mut self) -> Result<Value, ComponentError> {
        if let Some(channel) = &self.channel {
            return Ok(channel.clone());
        }
        let query = [("part", "snippet,contentDetails,statistics".to_owned()), ("id", self.config.channel_id.clone())];
        let answer = self.client.get_json(&self.config.url("channels"), &query).await?;
        let channel = answer["items"][0].clone();
        if channel["contentDetails"]["relatedPlaylists"]["uploads"].as_str().is_none() {
            return Err(ComponentError::fatal(format!(
                "youtube: channel {} not found, or without an uploads playlist",
                self.config.channel_id
            )));
        }
        self.channel = Some(channel.clone());
        Ok(channel)
    }

    fn map(&self, channel: &Value, item: &Value, stats: Option<&Value>) -> Result<PostPayload, String> {
        let id = item["contentDetails"]["videoId"].as_str().ok_or("contentDetails.videoId: missing")?;
        let published = item["contentDetails"]["videoPublishedAt"]
            .as_str()
            .or(item["snippet"]["publishedAt"].as_str())
            .ok_or("contentDetails.videoPublishedAt: missing")?;
        let snippet = &item["snippet"];
        let text = [snippet["title"].as_str(), snippet["description"].as_str()]
            .into_iter()
            .flatten()
            .filter(|t| !t.is_empty())
            .collect::<Vec<_>>()
            .join("\n");
        // The API sends counts as decimal strings.
        let count = |v: &Value| v.as_str().and_then(|s| s.parse::<u64>().ok()).or(v.as_u64());
        let stats = stats.map_or(&Value::Null, |s| &s["statistics"]);
        let raw = json!({
            "platform": "youtube",
            "id": id,
            "text": text,
            "created_at": published,
            "author": {
                "id": self.config.channel_id,
                "handle": channel["snippet"]["customUrl"].as_str().map(|h| h.trim_start_matches('@')),
                "name": channel["snippet"]["title"],
                "followers": count(&channel["statistics"]["subscriberCount"]),
            },
            "metrics": {"likes": count(&stats["likeCount"]), "comments": count(&stats["commentCount"]), "views": count(&stats["viewCount"])},
            "url": format!("https://www.youtube.com/watch?v={id}"),
        });
        to_post(raw, "video")
    }
}

#[async_trait]
impl Source for YoutubeSource {
    async fn open(&mut self, checkpoint: Option<Value>, mode: SourceMode) -> Result<(), ComponentError> {
        self.cursor = decode_checkpoint("youtube", checkpoint)?;
        self.mode = mode;
        Ok(())
    }

    async fn next_batch(&mut self, max_records: usize) -> Result<SourceBatch, ComponentError> {
        if self.cursor.sweep.is_none() && self.pause.wait(&*self.clock).await {
            return Ok(SourceBatch::default());
        }
        let channel = self.channel().await?;
        let uploads = channel["contentDetails"]["relatedPlaylists"]["uploads"].as_str().unwrap_or_default().to_owned();
        let page_size = (max_records as u32).clamp(1, self.config.max_results);
        let mut query = vec![
            ("part", "snippet,contentDetails".to_owned()),
            ("playlistId", uploads),
            ("maxResults", page_size.to_string()),
        ];
        if let Some(sweep) = &self.cursor.sweep {
            query.push(("pageToken", sweep.page_token.clone()));
        }
        let url = self.config.url("playlistItems");
        let page = self.client.get_json(&url, &query).await?;
        let items: Vec<Value> = page["items"].as_array().cloned().unwrap_or_default();
        let ids: Vec<&str> = items.iter().filter_map(|i| i["contentDetails"]["videoId"].as_str()).collect();
        let stats = match ids.is_empty() {
            true => Value::Null,
            false => {
                let query = [("part", "statistics".to_owned()), ("id", ids.join(","))];
                self.client.get_json(&self.config.url("videos"), &query).await?
            }
        };
        let stats_of = |id: &str| stats["items"].as_array().and_then(|v| v.iter().find(|s| s["id"] == id));
        let location = format!("{url}?pageToken={}", self.cursor.sweep.as_ref().map_or("", |s| &s.page_token));
        let mut read = self.cursor.sweep.as_ref().map(|s| s.read.clone()).unwrap_or_default();
        let mut batch = SourceBatch::default();
        let mut reached_last_sweep = false;
        for item in &items {
            let id = item["contentDetails"]["videoId"].as_str().unwrap_or_default();
            match self.map(&channel, item, stats_of(id)) {
                Ok(post) => {
                    let at = post.created_at.timestamp_millis();
                    if self.cursor.read.covers(at, id) {
                        reached_last_sweep = true;
                        continue;
                    }
                    read.note(at, id);
                    batch.records.push(post.into_envelope(&self.name));
                }
                Err(reason) => batch.rejected.push(reject(item, reason, &location)),
            }
        }
        match page["nextPageToken"].as_str().filter(|_| !reached_last_sweep) {
            Some(token) => self.cursor.sweep = Some(Sweep { page_token: token.to_owned(), read }),
            None => {
                self.cursor.read.advance(read);
                self.cursor.sweep = None;
                self.channel = None;
                self.pause.after_sweep(&*self.clock, self.config.poll_interval_secs);
                batch.caught_up = self.mode == SourceMode::Once;
            }
        }
        batch.checkpoint = Some(serde_json::to_value(&self.cursor).expect("json"));
        Ok(batch)
    }
}
