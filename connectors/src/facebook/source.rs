//! A Page's posts as a Graph edge, and their mapping to posts.

use async_trait::async_trait;
use serde_json::{Value, json};
use socialpipe_schemas::{ComponentError, PostPayload, SourceBatch};

use super::FacebookConfig;
use crate::graph::{EdgePage, EdgeReader, EdgeSource, EdgeSpec, PageTaker, parse_time};
use crate::records::to_post;

const POST_FIELDS: &str = "id,message,story,created_time,permalink_url,from,shares,\
reactions.summary(total_count).limit(0),comments.summary(total_count).limit(0)";
const PAGE_FIELDS: &str = "id,name,username,followers_count,fan_count";

/// A Page's `posts` edge, each post mapped on its own.
pub struct PagePosts;

pub type FacebookSource = EdgeSource<PagePosts>;

#[async_trait]
impl PageTaker for PagePosts {
    type Config = FacebookConfig;

    fn spec(config: &FacebookConfig) -> EdgeSpec {
        let (owner_id, limit) = (config.page_id.clone(), config.limit);
        EdgeSpec { provider: "facebook", owner_id, owner_fields: PAGE_FIELDS, edge: "posts", item_fields: POST_FIELDS, limit }
    }

    fn new(_: FacebookConfig) -> Self {
        PagePosts
    }

    async fn take(&mut self, edge: &mut EdgeReader, page: EdgePage) -> Result<SourceBatch, ComponentError> {
        Ok(edge.take_page(&page, map))
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
