//! A Page's posts as a Graph edge, and their mapping to posts.

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{Value, json};
use socialpipe_schemas::{ComponentError, PostPayload, Source, SourceBatch, SourceMode};

use super::FacebookConfig;
use crate::graph::{EdgeReader, EdgeSpec, parse_time};
use crate::http::Clock;
use crate::records::to_post;

const POST_FIELDS: &str = "id,message,story,created_time,permalink_url,from,shares,\
reactions.summary(total_count).limit(0),comments.summary(total_count).limit(0)";
const PAGE_FIELDS: &str = "id,name,username,followers_count,fan_count";

pub struct FacebookSource {
    edge: EdgeReader,
}

impl FacebookSource {
    pub fn with_clock(name: &str, config: FacebookConfig, clock: Arc<dyn Clock>) -> Result<Self, ComponentError> {
        let (owner_id, limit) = (config.page_id.clone(), config.limit);
        let spec =
            EdgeSpec { provider: "facebook", owner_id, owner_fields: PAGE_FIELDS, edge: "posts", item_fields: POST_FIELDS, limit };
        Ok(FacebookSource { edge: EdgeReader::new(spec, name, &config, clock)? })
    }
}

/// Maps a Graph post (and the Page as its author) to a raw post.
fn map(post: &Value, page: &Value) -> Result<PostPayload, String> {
    let created = parse_time("created_time", post["created_time"].as_str())?;
    let summary = |edge: &str| post[edge]["summary"]["total_count"].clone();
    let author_id = post["from"]["id"].as_str().or(page["id"].as_str()).ok_or("from.id: missing")?;
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

#[async_trait]
impl Source for FacebookSource {
    async fn open(&mut self, checkpoint: Option<Value>, mode: SourceMode) -> Result<(), ComponentError> {
        self.edge.base.open(checkpoint, mode)
    }

    async fn next_batch(&mut self, max_records: usize) -> Result<SourceBatch, ComponentError> {
        let Some(page) = self.edge.next_page(max_records).await? else { return Ok(SourceBatch::default()) };
        Ok(self.edge.take_page(&page, map))
    }
}
