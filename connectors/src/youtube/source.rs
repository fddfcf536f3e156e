//! The sweep (uploads or search), its checkpoint and the mappings.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat};
use serde_json::{Value, json};
use socialpipe_schemas::{ComponentError, PostPayload, Source, SourceBatch, SourceMode};

use super::YoutubeConfig;
use crate::api::{ApiBase, SweepCursor};
use crate::http::{Clock, GoogleErrors, StaticToken};
use crate::records::{reject, to_post};

pub struct YoutubeSource {
    /// The cursor's times are publication times in ms.
    base: ApiBase<SweepCursor>,
    config: YoutubeConfig,
    /// The channel's uploads playlist (uploads mode), found once per sweep.
    uploads: Option<String>,
    /// `channels` items by id, read once per sweep (handles, subscribers).
    channels: HashMap<String, Value>,
}

impl YoutubeSource {
    pub fn with_clock(name: &str, config: YoutubeConfig, clock: Arc<dyn Clock>) -> Result<Self, ComponentError> {
        let token = Arc::new(StaticToken(config.api_key.clone()));
        let mut base = ApiBase::new("youtube", name, &config, "youtube/v3", token, Arc::new(GoogleErrors), clock)?;
        base.client = base.client.token_in_query("key");
        Ok(YoutubeSource { base, config, uploads: None, channels: HashMap::new() })
    }

    /// Reads the `channels` items of `ids` not read yet this sweep.
    async fn read_channels(&mut self, ids: impl IntoIterator<Item = String>) -> Result<(), ComponentError> {
        let mut missing: Vec<String> = ids.into_iter().filter(|id| !self.channels.contains_key(id)).collect();
        missing.sort();
        missing.dedup();
        if missing.is_empty() {
            return Ok(());
        }
        let query = [("part", "snippet,contentDetails,statistics".to_owned()), ("id", missing.join(","))];
        let answer = self.base.client.get_json(&self.base.url("channels"), &query).await?;
        for channel in answer["items"].as_array().into_iter().flatten() {
            if let Some(id) = channel["id"].as_str() {
                self.channels.insert(id.to_owned(), channel.clone());
            }
        }
        Ok(())
    }

    /// The next page of the listing: the uploads playlist or the search.
    async fn list_page(&mut self, page_size: u32) -> Result<(String, Value), ComponentError> {
        let mut query = vec![("maxResults", page_size.to_string())];
        if let Some(token) = self.base.cursor.page_token() {
            query.push(("pageToken", token.to_owned()));
        }
        let url = match (&self.config.channel_id, &self.config.search_query) {
            (Some(channel_id), _) => {
                let channel_id = channel_id.clone();
                if self.uploads.is_none() {
                    self.read_channels([channel_id.clone()]).await?;
                    let uploads = self
                        .channels
                        .get(&channel_id)
                        .and_then(|c| c["contentDetails"]["relatedPlaylists"]["uploads"].as_str().map(str::to_owned));
                    self.uploads = Some(uploads.ok_or_else(|| {
                        ComponentError::fatal(format!(
                            "youtube: channel {channel_id} not found, or without an uploads playlist"
                        ))
                    })?);
                }
                query.push(("part", "snippet,contentDetails".to_owned()));
                query.push(("playlistId", self.uploads.clone().unwrap_or_default()));
                self.base.url("playlistItems")
            }
            (None, search) => {
                query.push(("part", "snippet".to_owned()));
                query.push(("type", "video".to_owned()));
                query.push(("order", "date".to_owned()));
                query.push(("q", search.clone().unwrap_or_default()));
                if let Some(after) = self.base.cursor.read.at.and_then(DateTime::from_timestamp_millis) {
                    // Inclusive: the videos read at that instant are skipped by id.
                    query.push(("publishedAfter", after.to_rfc3339_opts(SecondsFormat::Millis, true)));
                }
                self.base.url("search")
            }
        };
        let page = self.base.client.get_json(&url, &query).await?;
        let location = format!("{url}?pageToken={}", self.base.cursor.page_token().unwrap_or_default());
        Ok((location, page))
    }

    /// A listing item's video id and publication time.
    fn listed(&self, item: &Value) -> Result<(String, i64), String> {
        let (id, at) = match self.config.channel_id {
            Some(_) => (
                ("contentDetails.videoId", &item["contentDetails"]["videoId"]),
                // Private uploads have no videoPublishedAt.
                item["contentDetails"]["videoPublishedAt"].as_str().or(item["snippet"]["publishedAt"].as_str()),
            ),
            None => (("id.videoId", &item["id"]["videoId"]), item["snippet"]["publishedAt"].as_str()),
        };
        let video_id = id.1.as_str().ok_or_else(|| format!("{}: missing", id.0))?;
        let at = at.ok_or("snippet.publishedAt: missing")?;
        let at = DateTime::parse_from_rfc3339(at).map_err(|e| format!("snippet.publishedAt {at:?}: {e}"))?;
        Ok((video_id.to_owned(), at.timestamp_millis()))
    }

    fn map_video(&self, video: &Value) -> Result<PostPayload, String> {
        let id = video["id"].as_str().ok_or("id: missing")?;
        let snippet = &video["snippet"];
        let channel_id = snippet["channelId"].as_str().ok_or("snippet.channelId: missing")?;
        let channel = self.channels.get(channel_id).unwrap_or(&Value::Null);
        let text = [snippet["title"].as_str(), snippet["description"].as_str()]
            .into_iter()
            .flatten()
            .filter(|t| !t.is_empty())
            .collect::<Vec<_>>()
            .join("\n");
        let stats = &video["statistics"];
        let raw = json!({
            "platform": "youtube",
            "id": id,
            "text": text,
            "created_at": snippet["publishedAt"],
            "author": {
                "id": channel_id,
                "handle": channel["snippet"]["customUrl"].as_str().map(|h| h.trim_start_matches('@')),
                "name": channel["snippet"]["title"].as_str().or(snippet["channelTitle"].as_str()),
                "followers": count(&channel["statistics"]["subscriberCount"]),
            },
            "metrics": {"likes": count(&stats["likeCount"]), "comments": count(&stats["commentCount"]), "views": count(&stats["viewCount"])},
            "url": format!("https://www.youtube.com/watch?v={id}"),
        });
        to_post(raw, "video")
    }

    /// A video's newest comment threads, each top-level comment a post.
    /// Videos with comments turned off are answered 403 `commentsDisabled`.
    async fn comments(&mut self, video_id: &str, batch: &mut SourceBatch) -> Result<(), ComponentError> {
        let url = self.base.url("commentThreads");
        let mut page_token: Option<String> = None;
        for _ in 0..self.config.comment_pages {
            let mut query = vec![
                ("part", "snippet".to_owned()),
                ("videoId", video_id.to_owned()),
                ("order", "time".to_owned()),
                ("textFormat", "plainText".to_owned()),
                ("maxResults", "100".to_owned()),
            ];
            query.extend(page_token.take().map(|t| ("pageToken", t)));
            let page = match self.base.client.try_get_json(&url, &query).await? {
                Ok(page) => page,
                Err(refusal) => {
                    let reason = refusal["error"]["errors"][0]["reason"].as_str().unwrap_or("refused");
                    tracing::info!(source = self.base.name, video_id, reason, "youtube: no comment threads for this video");
                    return Ok(());
                }
            };
            let location = format!("{url}?videoId={video_id}");
            for thread in page["items"].as_array().into_iter().flatten() {
                match map_comment(thread) {
                    Ok(post) => batch.records.push(post.into_envelope(&self.base.name)),
                    Err(reason) => batch.rejected.push(reject(thread, reason, &location)),
                }
            }
            match page["nextPageToken"].as_str() {
                Some(token) => page_token = Some(token.to_owned()),
                None => break,
            }
        }
        Ok(())
    }
}

/// The API sends counts as decimal strings.
fn count(value: &Value) -> Option<u64> {
    value.as_str().and_then(|s| s.parse::<u64>().ok()).or(value.as_u64())
}

/// A comment thread's top-level comment as a post by its author, pointing at its video.
fn map_comment(thread: &Value) -> Result<PostPayload, String> {
    let comment = &thread["snippet"]["topLevelComment"];
    let snippet = &comment["snippet"];
    let video_id = thread["snippet"]["videoId"].as_str().or(snippet["videoId"].as_str());
    let id = comment["id"].as_str().ok_or("snippet.topLevelComment.id: missing")?;
    let author = snippet["authorChannelId"]["value"].as_str().ok_or("authorChannelId.value: missing")?;
    let name = snippet["authorDisplayName"].as_str();
    let raw = json!({
        "platform": "youtube",
        "id": id,
        "text": snippet["textOriginal"].as_str().or(snippet["textDisplay"].as_str()),
        "created_at": snippet["publishedAt"],
        "author": {"id": author, "handle": name.filter(|n| n.starts_with('@')), "name": name},
        "metrics": {"likes": snippet["likeCount"], "comments": thread["snippet"]["totalReplyCount"]},
        "url": video_id.map(|v| format!("https://www.youtube.com/watch?v={v}&lc={id}")),
        "in_reply_to": video_id.map(|v| format!("youtube:{v}")),
    });
    to_post(raw, "comment thread")
}

#[async_trait]
impl Source for YoutubeSource {
    async fn open(&mut self, checkpoint: Option<Value>, mode: SourceMode) -> Result<(), ComponentError> {
        self.base.open(checkpoint, mode)
    }

    async fn next_batch(&mut self, max_records: usize) -> Result<SourceBatch, ComponentError> {
        if !self.base.cursor.in_sweep() && self.base.waiting_for_sweep().await {
            return Ok(SourceBatch::default());
        }
        let page_size = (max_records as u32).clamp(1, self.config.max_results);
        let (location, page) = self.list_page(page_size).await?;
        let mut batch = SourceBatch::default();
        let mut reached_last_sweep = false;
        // Listed videos not read before: (id, publication ms).
        let mut new: Vec<(String, i64)> = Vec::new();
        for item in page["items"].as_array().into_iter().flatten() {
            match self.listed(item) {
                Ok((id, at_ms)) if self.base.cursor.read.covers(at_ms, &id) => reached_last_sweep = true,
                Ok(listed) => new.push(listed),
                Err(reason) => batch.rejected.push(reject(item, reason, &location)),
            }
        }
        let videos = match new.is_empty() {
            true => Value::Null,
            false => {
                let ids = new.iter().map(|(id, _)| id.as_str()).collect::<Vec<_>>().join(",");
                let query = [("part", "snippet,statistics".to_owned()), ("id", ids)];
                self.base.client.get_json(&self.base.url("videos"), &query).await?
            }
        };
        let videos: HashMap<&str, &Value> =
            videos["items"].as_array().into_iter().flatten().filter_map(|v| Some((v["id"].as_str()?, v))).collect();
        self.read_channels(videos.values().filter_map(|v| v["snippet"]["channelId"].as_str().map(str::to_owned)))
            .await?;
        let mut read = self.base.cursor.sweep_read();
        for (id, at_ms) in &new {
            read.note(*at_ms, id);
            let Some(video) = videos.get(id.as_str()) else {
                // Private, deleted, or not yet processed: `videos` does not return it.
                tracing::info!(source = self.base.name, video_id = id, "youtube: video not available; skipped");
                continue;
            };
            match self.map_video(video) {
                Ok(post) => batch.records.push(post.into_envelope(&self.base.name)),
                Err(reason) => {
                    batch.rejected.push(reject(video, reason, &location));
                    continue;
                }
            }
            if self.config.comment_pages > 0 {
                self.comments(id, &mut batch).await?;
            }
        }
        let next = page["nextPageToken"].as_str().filter(|_| !reached_last_sweep);
        self.base.cursor.turn(next, read);
        if next.is_none() {
            self.uploads = None;
            self.channels.clear();
            batch.caught_up = self.base.end_sweep();
        }
        batch.checkpoint = Some(self.base.checkpoint());
        Ok(batch)
    }
}
