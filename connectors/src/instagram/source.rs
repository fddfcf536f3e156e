//! An account's media as a Graph edge, each new item's insights, and the
//! mapping to posts.

use std::collections::HashMap;

use async_trait::async_trait;
use serde_json::{Map, Value, json};
use socialpipe_schemas::{ComponentError, PostPayload, SourceBatch};

use super::InstagramConfig;
use crate::graph::{EdgePage, EdgeReader, EdgeSource, EdgeSpec, PageTaker, parse_time};
use crate::records::to_post;

const MEDIA_FIELDS: &str =
    "id,caption,media_type,media_product_type,permalink,timestamp,username,like_count,comments_count";
const USER_FIELDS: &str = "id,username,name,followers_count,follows_count,media_count";

/// An account's `media` edge, with the configured insights of each new item.
pub struct MediaWithInsights {
    /// Metrics read per new item.
    insights: Vec<String>,
}

pub type InstagramSource = EdgeSource<MediaWithInsights>;

impl MediaWithInsights {
    /// The configured metrics of one media item, by name. Graph refuses
    /// metrics a media type lacks and media with too few viewers ("(#10)
    /// Not enough viewers"): the post then goes on without insights.
    async fn insights(&self, edge: &mut EdgeReader, media_id: &str) -> Result<Map<String, Value>, ComponentError> {
        if self.insights.is_empty() {
            return Ok(Map::new());
        }
        let url = edge.base.url(&format!("{media_id}/insights"));
        let query = [("metric", self.insights.join(","))];
        match edge.base.client.try_get_json(&url, &query).await? {
            Ok(answer) => Ok(answer["data"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|m| {
                    // Lifetime metrics come as `values[0].value`, newer ones as `total_value.value`.
                    let value = m["values"][0]["value"].as_u64().or(m["total_value"]["value"].as_u64())?;
                    Some((m["name"].as_str()?.to_owned(), json!(value)))
                })
                .collect()),
            Err(refusal) => {
                tracing::warn!(
                    source = edge.base.name,
                    media_id,
                    error = %refusal["error"]["message"].as_str().unwrap_or("refused"),
                    "instagram: no insights for this media item"
                );
                Ok(Map::new())
            }
        }
    }
}

/// A media item (with its insights, and the account as its author) as a raw post.
fn map(media: &Value, account: &Value, insights: Option<&Map<String, Value>>) -> Result<PostPayload, String> {
    let created = parse_time("timestamp", media["timestamp"].as_str())?;
    let insight = |name: &str| insights.and_then(|i| i.get(name)).cloned().unwrap_or(Value::Null);
    let mut metrics = json!({
        "likes": media["like_count"], "comments": media["comments_count"],
        "shares": insight("shares"), "views": insight("views"),
    });
    for (name, value) in insights.into_iter().flatten() {
        if !matches!(name.as_str(), "shares" | "views" | "likes" | "comments") {
            metrics[name] = value.clone();
        }
    }
    let raw = json!({
        "platform": "instagram",
        "id": media["id"],
        "text": media["caption"].as_str().unwrap_or(""),
        "created_at": created.to_rfc3339(),
        "author": {
            "id": account["id"],
            "handle": media["username"].as_str().or(account["username"].as_str()),
            "name": account["name"],
            "followers": account["followers_count"],
            "following": account["follows_count"],
        },
        "metrics": metrics,
        "url": media["permalink"],
        "media_type": media["media_type"],
        "media_product_type": media["media_product_type"],
    });
    to_post(raw, "media")
}

#[async_trait]
impl PageTaker for MediaWithInsights {
    type Config = InstagramConfig;

    fn spec(config: &InstagramConfig) -> EdgeSpec {
        let (owner_id, limit) = (config.ig_user_id.clone(), config.limit);
        EdgeSpec { provider: "instagram", owner_id, owner_fields: USER_FIELDS, edge: "media", item_fields: MEDIA_FIELDS, limit }
    }

    fn new(config: InstagramConfig) -> Self {
        MediaWithInsights { insights: config.insights }
    }

    async fn take(&mut self, edge: &mut EdgeReader, page: EdgePage) -> Result<SourceBatch, ComponentError> {
        // Insights only for items not read by an earlier sweep: one request each.
        let mut insights = HashMap::new();
        for media in page.answer["data"].as_array().into_iter().flatten() {
            let (Some(id), Ok(at)) = (media["id"].as_str(), parse_time("timestamp", media["timestamp"].as_str()))
            else {
                continue;
            };
            if !edge.has_read(at.timestamp(), id) {
                insights.insert(id.to_owned(), self.insights(edge, id).await?);
            }
        }
        Ok(edge.take_page(&page, |media, account| {
            map(media, account, media["id"].as_str().and_then(|id| insights.get(id)))
        }))
    }
}
