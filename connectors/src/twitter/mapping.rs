//! A v2 tweet (with its author from `includes.users`) as a raw post of
//! the record contract, validated like any other input.

use serde_json::{Map, Value, json};
use socialpipe_schemas::{PostPayload, Rejected};

use crate::records::{reject, to_post};

/// The expansions and fields a tweet is requested with (search and stream).
pub const REQUEST_FIELDS: [(&str, &str); 3] = [
    ("expansions", "author_id"),
    ("tweet.fields", "created_at,public_metrics,lang,entities,author_id"),
    ("user.fields", "public_metrics,verified,created_at,username,name"),
];

/// Maps a page's tweets; a tweet that does not map becomes a rejection
/// carrying its JSON.
pub fn map_page(page: &Value, location: &str) -> (Vec<PostPayload>, Vec<Rejected>) {
    let users: Map<String, Value> = page["includes"]["users"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|u| Some((u["id"].as_str()?.to_owned(), u.clone())))
        .collect();
    let (mut posts, mut rejected) = (Vec::new(), Vec::new());
    for tweet in page["data"].as_array().into_iter().flatten() {
        match map_tweet(tweet, &users) {
            Ok(post) => posts.push(post),
            Err(reason) => rejected.push(reject(tweet, reason, location)),
        }
    }
    (posts, rejected)
}

fn map_tweet(tweet: &Value, users: &Map<String, Value>) -> Result<PostPayload, String> {
    let author_id = tweet["author_id"].as_str().ok_or("tweet.author_id: missing (request expansions=author_id)")?;
    let user = users.get(author_id);
    let user_field = |name: &str| user.map_or(Value::Null, |u| u[name].clone());
    let public = |from: &Value, name: &str| from["public_metrics"][name].clone();
    let metrics = &tweet["public_metrics"];
    let count = |name: &str| metrics[name].as_u64();
    let shares = match (count("retweet_count"), count("quote_count")) {
        (None, None) => Value::Null,
        (r, q) => json!(r.unwrap_or(0) + q.unwrap_or(0)),
    };
    let username = user_field("username");
    let url = match (username.as_str(), tweet["id"].as_str()) {
        (Some(handle), Some(id)) => json!(format!("https://x.com/{handle}/status/{id}")),
        _ => Value::Null,
    };
    let user_public = user.cloned().unwrap_or(Value::Null);
    let raw = json!({
        "platform": "twitter",
        "id": tweet["id"],
        "text": tweet["text"],
        "created_at": tweet["created_at"],
        "author": {
            "id": author_id,
            "handle": username,
            "name": user_field("name"),
            "followers": public(&user_public, "followers_count"),
            "following": public(&user_public, "following_count"),
            "verified": user_field("verified"),
            "created_at": user_field("created_at"),
        },
        "metrics": {
            "likes": metrics["like_count"],
            "comments": metrics["reply_count"],
            "shares": shares,
            "views": metrics["impression_count"],
        },
        "lang": tweet["lang"],
        "url": url,
    });
    to_post(raw, "tweet")
}
