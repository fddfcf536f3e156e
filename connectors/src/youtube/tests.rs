//! Against a local server answering as the Data API v3 reference documents:
//! `channels` (contentDetails.relatedPlaylists.uploads, statistics as
//! strings), `playlistItems` (`nextPageToken`, contentDetails.videoId /
//! videoPublishedAt), `videos` statistics, and errors as
//! `error.errors[].reason` (`quotaExceeded`).

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use socialpipe_schemas::{Source, SourceBatch, SourceMode};

use super::{YoutubeConfig, YoutubeSource};
use crate::http::fixture::{FixtureServer, Reply};
use crate::http::{ManualClock, RetryPolicy};
use socialpipe_schemas::Secret;

const CHANNELS: &str = "/youtube/v3/channels";
const ITEMS: &str = "/youtube/v3/playlistItems";
const VIDEOS: &str = "/youtube/v3/videos";
/// 2025-11-24T16:00:00Z.
const NOW: i64 = 1_764_000_000;

fn config(base_url: &str) -> YoutubeConfig {
    YoutubeConfig {
        channel_id: Some("UC_x5XG1OV2P6uZZ5FSM9Ttw".into()),
        search_query: None,
        comment_pages: 0,
        api_key: Secret::new("AIza-secret-key"),
        base_url: base_url.into(),
        max_results: 50,
        poll_interval_secs: 900,
        retry: RetryPolicy { max_attempts: 3, ..Default::default() },
    }
}

fn channel() -> Reply {
    Reply::json(json!({"kind": "youtube#channelListResponse", "items": [{
        "kind": "youtube#channel", "id": "UC_x5XG1OV2P6uZZ5FSM9Ttw",
        "snippet": {"title": "Brew Lab", "customUrl": "@brewlab", "publishedAt": "2012-01-01T00:00:00Z"},
        "contentDetails": {"relatedPlaylists": {"likes": "", "uploads": "UU_x5XG1OV2P6uZZ5FSM9Ttw"}},
        "statistics": {"viewCount": "1000000", "subscriberCount": "230000", "hiddenSubscriberCount": false, "videoCount": "300"}
    }]}))
}

/// Uploads `(video id, day of November 2026)`, newest first.
fn items(videos: &[(&str, u32)], next: Option<&str>) -> Reply {
    let items: Vec<Value> = videos
        .iter()
        .map(|(id, day)| {
            let at = format!("2026-11-{day:02}T12:00:00Z");
            json!({"kind": "youtube#playlistItem", "id": format!("item-{id}"),
                   "snippet": {"publishedAt": at, "title": format!("Video {id}"), "description": "pour-over basics",
                               "channelId": "UC_x5XG1OV2P6uZZ5FSM9Ttw", "resourceId": {"kind": "youtube#video", "videoId": id}},
                   "contentDetails": {"videoId": id, "videoPublishedAt": at}})
        })
        .collect();
    let mut page = json!({"kind": "youtube#playlistItemListResponse", "items": items,
                          "pageInfo": {"totalResults": 300, "resultsPerPage": 50}});
    if let Some(next) = next {
        page["nextPageToken"] = json!(next);
    }
    Reply::json(page)
}

/// `videos` items `(video id, day of November 2026)` of the Brew Lab channel.
fn videos(videos: &[(&str, u32)]) -> Reply {
    let items: Vec<Value> = videos
        .iter()
        .map(|(id, day)| {
            json!({"kind": "youtube#video", "id": id,
            "snippet": {"publishedAt": format!("2026-11-{day:02}T12:00:00Z"), "channelId": "UC_x5XG1OV2P6uZZ5FSM9Ttw",
                        "title": format!("Video {id}"), "description": "pour-over basics", "channelTitle": "Brew Lab",
                        "tags": ["coffee"], "categoryId": "26", "liveBroadcastContent": "none"},
            "statistics": {"viewCount": "5400", "likeCount": "320", "favoriteCount": "0", "commentCount": "41"}})
        })
        .collect();
    Reply::json(json!({"kind": "youtube#videoListResponse", "items": items}))
}

async fn open(server: &FixtureServer, clock: &Arc<ManualClock>, checkpoint: Option<Value>) -> YoutubeSource {
    let mut source = YoutubeSource::with_clock("yt", config(&server.base_url), clock.clone()).unwrap();
    source.open(checkpoint, SourceMode::Once).await.unwrap();
    source
}

fn ids(batch: &SourceBatch) -> Vec<String> {
    batch.records.iter().map(|r| r.id.clone()).collect()
}

#[tokio::test]
async fn uploads_are_paged_with_their_statistics_and_the_next_sweep_stops_at_the_last_one() {
    let server = FixtureServer::start().await;
    server.reply(CHANNELS, [channel(), channel(), channel()]);
    server.reply(
        ITEMS,
        [items(&[("v9", 20), ("v8", 19)], Some("P2")), items(&[("v7", 18)], Some("P3")), items(&[("v6", 17)], None)],
    );
    server.reply(VIDEOS, [videos(&[("v9", 20), ("v8", 19)]), videos(&[("v7", 18)]), videos(&[("v6", 17)])]);
    let clock = Arc::new(ManualClock::at(NOW));
    let mut source = open(&server, &clock, None).await;
    let first = source.next_batch(100).await.unwrap();
    assert_eq!(ids(&first), ["youtube:v9", "youtube:v8"]);
    let post: Value = serde_json::from_str(first.records[0].payload.get()).unwrap();
    assert_eq!(
        post["author"],
        json!({"id": "UC_x5XG1OV2P6uZZ5FSM9Ttw", "handle": "brewlab", "name": "Brew Lab", "followers": 230000})
    );
    assert_eq!(post["metrics"], json!({"likes": 320, "comments": 41, "views": 5400}));
    assert_eq!(post["text"], "Video v9\npour-over basics");
    assert_eq!(ids(&source.next_batch(100).await.unwrap()), ["youtube:v7"]);
    let last = source.next_batch(100).await.unwrap();
    assert!(last.caught_up);
    let seen = server.seen();
    let pages: Vec<_> = seen.iter().filter(|s| s.path == ITEMS).collect();
    assert_eq!(pages[1].query["pageToken"], "P2");
    assert_eq!(pages[0].query["playlistId"], "UU_x5XG1OV2P6uZZ5FSM9Ttw");
    assert_eq!(seen.iter().find(|s| s.path == VIDEOS).unwrap().query["id"], "v9,v8");
    assert_eq!(seen.iter().filter(|s| s.path == CHANNELS).count(), 1, "the channel is read once a sweep");
    assert!(seen.iter().all(|s| s.query["key"] == "AIza-secret-key" && s.authorization.is_none()));

    // A restart after page 1 asks for page 2; the next sweep stops at v9.
    server.reply(ITEMS, [items(&[("v7", 18)], Some("P3"))]);
    server.reply(VIDEOS, [videos(&[("v7", 18)])]);
    let mut restarted = open(&server, &clock, first.checkpoint).await;
    assert_eq!(ids(&restarted.next_batch(100).await.unwrap()), ["youtube:v7"]);
    assert_eq!(server.seen().iter().filter(|s| s.path == ITEMS).last().unwrap().query["pageToken"], "P2");
    server.reply(ITEMS, [items(&[("v10", 21), ("v9", 20)], Some("P2"))]);
    server.reply(VIDEOS, [videos(&[("v10", 21)])]);
    let mut next = open(&server, &clock, last.checkpoint).await;
    let batch = next.next_batch(100).await.unwrap();
    assert_eq!(ids(&batch), ["youtube:v10"]);
    assert!(batch.caught_up, "reaching the last sweep's newest ends the sweep without paging on");
}

#[tokio::test]
async fn an_exceeded_quota_waits_for_midnight_pacific() {
    let server = FixtureServer::start().await;
    let quota = json!({"error": {"code": 403, "message": "The request cannot be completed because you have exceeded your quota.",
                                 "errors": [{"message": "The request cannot be completed because you have exceeded your quota.",
                                             "domain": "youtube.quota", "reason": "quotaExceeded"}]}});
    server.reply(CHANNELS, [Reply::status(403, &quota.to_string()), channel()]);
    server.reply(ITEMS, [items(&[("v1", 1)], None)]);
    server.reply(VIDEOS, [videos(&[("v1", 1)])]);
    let clock = Arc::new(ManualClock::at(NOW));
    let mut source = YoutubeSource::with_clock(
        "yt",
        YoutubeConfig {
            retry: RetryPolicy { max_rate_limit_wait_secs: 86_400, ..config("").retry },
            ..config(&server.base_url)
        },
        clock.clone(),
    )
    .unwrap();
    source.open(None, SourceMode::Once).await.unwrap();
    source.next_batch(100).await.unwrap();
    // 16:00 UTC is 08:00 at UTC−8: 16 hours to midnight.
    assert_eq!(clock.slept(), [Duration::from_secs(16 * 3600)]);
}

#[tokio::test]
async fn a_video_without_an_id_goes_to_the_dlq_with_its_json() {
    let server = FixtureServer::start().await;
    server.reply(CHANNELS, [channel()]);
    let broken = json!({"items": [{"kind": "youtube#playlistItem", "snippet": {"title": "?"}, "contentDetails": {}}]});
    server.reply(ITEMS, [Reply::json(broken)]);
    let clock = Arc::new(ManualClock::at(NOW));
    let batch = open(&server, &clock, None).await.next_batch(100).await.unwrap();
    assert!(batch.records.is_empty());
    assert_eq!(batch.rejected[0].reason, "contentDetails.videoId: missing");
}

const SEARCH: &str = "/youtube/v3/search";
const THREADS: &str = "/youtube/v3/commentThreads";

/// Search results `(video id, day of November 2026)`, newest first.
fn found(videos: &[(&str, u32)], next: Option<&str>) -> Reply {
    let items: Vec<Value> = videos
        .iter()
        .map(|(id, day)| {
            json!({"kind": "youtube#searchResult", "etag": "e",
            "id": {"kind": "youtube#video", "videoId": id},
            "snippet": {"publishedAt": format!("2026-11-{day:02}T12:00:00Z"), "channelId": "UC_x5XG1OV2P6uZZ5FSM9Ttw",
                        "title": format!("Video {id}"), "description": "pour-over…", "channelTitle": "Brew Lab",
                        "liveBroadcastContent": "none", "publishTime": format!("2026-11-{day:02}T12:00:00Z")}})
        })
        .collect();
    let mut page = json!({"kind": "youtube#searchListResponse", "regionCode": "US", "items": items,
                          "pageInfo": {"totalResults": 1000000, "resultsPerPage": 50}});
    if let Some(next) = next {
        page["nextPageToken"] = json!(next);
    }
    Reply::json(page)
}

fn threads(video: &str, comments: &[(&str, &str)], next: Option<&str>) -> Reply {
    let items: Vec<Value> = comments
        .iter()
        .map(|(id, text)| json!({"kind": "youtube#commentThread", "id": id,
            "snippet": {"channelId": "UC_x5XG1OV2P6uZZ5FSM9Ttw", "videoId": video, "canReply": true, "totalReplyCount": 2, "isPublic": true,
                "topLevelComment": {"kind": "youtube#comment", "id": id, "snippet": {
                    "channelId": "UC_x5XG1OV2P6uZZ5FSM9Ttw", "videoId": video, "textDisplay": text, "textOriginal": text,
                    "authorDisplayName": "@latteluke", "authorProfileImageUrl": "https://yt3.ggpht.com/a", "authorChannelUrl": "http://www.youtube.com/@latteluke",
                    "authorChannelId": {"value": "UCluke"}, "canRate": true, "viewerRating": "none", "likeCount": 3,
                    "publishedAt": "2026-11-20T13:00:00Z", "updatedAt": "2026-11-20T13:00:00Z"}}}}))
        .collect();
    let mut page = json!({"kind": "youtube#commentThreadListResponse", "items": items,
                          "pageInfo": {"totalResults": items.len(), "resultsPerPage": 100}});
    if let Some(next) = next {
        page["nextPageToken"] = json!(next);
    }
    Reply::json(page)
}

#[tokio::test]
async fn a_search_pages_with_authors_and_comments_and_the_next_sweep_asks_for_what_is_newer() {
    let server = FixtureServer::start().await;
    server.reply(
        SEARCH,
        [found(&[("v9", 20)], Some("S2")), found(&[("v8", 19)], Some("S3")), found(&[("v7", 18)], None)],
    );
    server.reply(VIDEOS, [videos(&[("v9", 20)]), videos(&[("v8", 19)]), videos(&[("v7", 18)])]);
    server.reply(CHANNELS, [channel(), channel(), channel()]);
    server.reply(THREADS, [
        threads("v9", &[("Ugw1", "great grind tips"), ("Ugw2", "which kettle?")], Some("C2")),
        threads("v9", &[("Ugw3", "more please")], None),
        Reply::status(403, &json!({"error": {"code": 403, "message": "The video identified by the videoId parameter has disabled comments.",
            "errors": [{"message": "The video identified by the videoId parameter has disabled comments.", "domain": "youtube.commentThread", "reason": "commentsDisabled", "location": "videoId", "locationType": "parameter"}]}}).to_string()),
        threads("v7", &[], None),
    ]);
    let clock = Arc::new(ManualClock::at(NOW));
    let mut config = config(&server.base_url);
    (config.channel_id, config.search_query, config.comment_pages) = (None, Some("pour over coffee".into()), 2);
    let mut source = YoutubeSource::with_clock("yt", config.clone(), clock.clone()).unwrap();
    source.open(None, SourceMode::Once).await.unwrap();
    let first = source.next_batch(100).await.unwrap();
    assert_eq!(ids(&first), ["youtube:v9", "youtube:Ugw1", "youtube:Ugw2", "youtube:Ugw3"]);
    let comment: Value = serde_json::from_str(first.records[1].payload.get()).unwrap();
    assert_eq!(comment["author"], json!({"id": "UCluke", "handle": "latteluke", "name": "@latteluke"}));
    assert_eq!(comment["in_reply_to"], "youtube:v9");
    assert_eq!(comment["metrics"], json!({"likes": 3, "comments": 2}));
    let video: Value = serde_json::from_str(first.records[0].payload.get()).unwrap();
    assert_eq!(video["author"]["followers"], 230000);
    assert_eq!(ids(&source.next_batch(100).await.unwrap()), ["youtube:v8"], "comments disabled: the video alone");
    let last = source.next_batch(100).await.unwrap();
    assert_eq!(ids(&last), ["youtube:v7"]);
    assert!(last.caught_up);
    let seen = server.seen();
    let searches: Vec<_> = seen.iter().filter(|s| s.path == SEARCH).collect();
    assert_eq!((searches[0].query["q"].as_str(), searches[0].query["order"].as_str()), ("pour over coffee", "date"));
    assert_eq!(searches[2].query["pageToken"], "S3");
    assert!(!searches[0].query.contains_key("publishedAfter"));
    let asked_threads: Vec<_> = seen.iter().filter(|s| s.path == THREADS).collect();
    assert_eq!(asked_threads[1].query["pageToken"], "C2");

    // The next sweep asks for videos published since the newest read, and skips that one.
    server.reply(SEARCH, [found(&[("v10", 21), ("v9", 20)], None)]);
    server.reply(VIDEOS, [videos(&[("v10", 21)])]);
    server.reply(CHANNELS, [channel()]);
    server.reply(THREADS, [threads("v10", &[], None)]);
    let mut next = YoutubeSource::with_clock("yt", config, clock.clone()).unwrap();
    next.open(last.checkpoint, SourceMode::Once).await.unwrap();
    assert_eq!(ids(&next.next_batch(100).await.unwrap()), ["youtube:v10"]);
    let search = server.seen().into_iter().filter(|s| s.path == SEARCH).last().unwrap();
    assert_eq!(search.query["publishedAfter"], "2026-11-20T12:00:00.000Z");
}
