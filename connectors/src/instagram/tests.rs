//! Against a local server answering as the Instagram Graph reference
//! documents: the IG User's fields, its `media` edge (`data` +
//! `paging.{cursors.after, next}`, `timestamp` as `+0000`, `like_count`,
//! `comments_count`), media `insights` (`data[{name, period,
//! values[{value}], title, description, id}]`), and Graph errors (HTTP 400
//! with `error.code`: 190 expired token, 10 not enough viewers).

use std::sync::Arc;

use serde_json::{Value, json};
use socialpipe_schemas::{Source, SourceBatch, SourceMode};

use super::{InstagramConfig, InstagramSource};
use crate::http::fixture::{FixtureServer, Reply};
use crate::http::{ManualClock, RetryPolicy};
use socialpipe_schemas::Secret;

const USER: &str = "/v21.0/17841400000000001";
const MEDIA: &str = "/v21.0/17841400000000001/media";
const EXCHANGE: &str = "/v21.0/oauth/access_token";

fn config(base_url: &str, refresh: bool) -> InstagramConfig {
    InstagramConfig {
        ig_user_id: "17841400000000001".into(),
        access_token: Secret::new("EAAG-old-token"),
        app_id: refresh.then(|| "555".into()),
        app_secret: refresh.then(|| Secret::new("app-secret-value")),
        base_url: base_url.into(),
        api_version: "v21.0".into(),
        limit: 50,
        insights: vec!["reach".into(), "saved".into(), "views".into()],
        poll_interval_secs: 600,
        retry: RetryPolicy { max_attempts: 3, ..Default::default() },
    }
}

fn account() -> Reply {
    Reply::json(json!({
        "id": "17841400000000001", "username": "beancafe", "name": "Bean Cafe",
        "followers_count": 48200, "follows_count": 310, "media_count": 822
    }))
}

/// Media `ids` posted at the given unix seconds, newest first; `after` when more follow.
fn media(items: &[(u64, i64)], after: Option<&str>) -> Reply {
    let data: Vec<Value> = items
        .iter()
        .map(|&(id, at)| {
            let time = chrono::DateTime::from_timestamp(at, 0).unwrap().format("%Y-%m-%dT%H:%M:%S+0000").to_string();
            json!({
                "id": format!("1790000000000{id:04}"), "caption": format!("latte art #{id} #coffee"),
                "media_type": "IMAGE", "media_product_type": "FEED",
                "permalink": format!("https://www.instagram.com/p/Cx{id}/"), "timestamp": time,
                "username": "beancafe", "like_count": 120 + id, "comments_count": 8
            })
        })
        .collect();
    let mut paging = json!({"cursors": {"before": "QVFIUb4", "after": after.unwrap_or("QVFIUend")}});
    if let Some(after) = after {
        paging["next"] = json!(format!("https://graph.facebook.com/v21.0/17841400000000001/media?after={after}"));
    }
    Reply::json(json!({"data": data, "paging": paging}))
}

fn insights_path(id: u64) -> String {
    format!("/v21.0/1790000000000{id:04}/insights")
}

fn insights(id: u64, reach: u64) -> Reply {
    let metric = |name: &str, title: &str, value: u64| {
        json!({"name": name, "period": "lifetime", "values": [{"value": value}], "title": title,
               "description": format!("{title} of the media"), "id": format!("1790000000000{id:04}/insights/{name}/lifetime")})
    };
    Reply::json(
        json!({"data": [metric("reach", "Accounts reached", reach), metric("saved", "Saved", 7), metric("views", "Views", reach * 2)]}),
    )
}

fn graph_error(code: i64, message: &str) -> Reply {
    Reply::status(
        400,
        &json!({"error": {"message": message, "type": "OAuthException", "code": code, "fbtrace_id": "AbC"}})
            .to_string(),
    )
}

async fn open(server: &FixtureServer, refresh: bool, checkpoint: Option<Value>) -> InstagramSource {
    let clock = Arc::new(ManualClock::at(10_000));
    let mut source = InstagramSource::with_clock("ig", config(&server.base_url, refresh), clock).unwrap();
    source.open(checkpoint, SourceMode::Once).await.unwrap();
    source
}

fn ids(batch: &SourceBatch) -> Vec<String> {
    batch.records.iter().map(|r| r.id.clone()).collect()
}

fn payload(batch: &SourceBatch, index: usize) -> Value {
    serde_json::from_str(batch.records[index].payload.get()).unwrap()
}

#[tokio::test]
async fn media_pages_by_cursor_with_counts_and_insights_and_the_next_sweep_skips_what_it_read() {
    let server = FixtureServer::start().await;
    server.reply(USER, [account(), account()]);
    server.reply(
        MEDIA,
        [media(&[(9, 900), (8, 800)], Some("A1")), media(&[(7, 700)], Some("A2")), media(&[(6, 600)], None)],
    );
    for id in 6..=9 {
        server.reply(&insights_path(id), [insights(id, 1000 + id)]);
    }
    let mut source = open(&server, false, None).await;
    let first = source.next_batch(100).await.unwrap();
    let second = source.next_batch(100).await.unwrap();
    let third = source.next_batch(100).await.unwrap();
    assert_eq!(ids(&first), ["instagram:17900000000000009", "instagram:17900000000000008"]);
    assert_eq!(ids(&second), ["instagram:17900000000000007"]);
    assert_eq!(ids(&third), ["instagram:17900000000000006"]);
    assert!(third.caught_up);
    let post = payload(&first, 0);
    assert_eq!(post["created_at"], "1970-01-01T00:15:00Z");
    assert_eq!(
        post["author"],
        json!({"id": "17841400000000001", "handle": "beancafe", "name": "Bean Cafe", "followers": 48200, "following": 310})
    );
    assert_eq!(post["metrics"], json!({"likes": 129, "comments": 8, "views": 2018, "reach": 1009, "saved": 7}));
    assert_eq!(post["media_product_type"], "FEED");
    let asked: Vec<_> = server.seen().into_iter().filter(|s| s.path == MEDIA).collect();
    assert_eq!(asked[1].query["after"], "A1");
    assert_eq!(server.seen().iter().find(|s| s.path == insights_path(9)).unwrap().query["metric"], "reach,saved,views");

    // A restart from the first page's checkpoint asks for the page after A1.
    server.reply(USER, [account()]);
    server.reply(MEDIA, [media(&[(7, 700)], Some("A2"))]);
    server.reply(&insights_path(7), [insights(7, 1007)]);
    let resumed = open(&server, false, first.checkpoint).await.next_batch(100).await.unwrap();
    assert_eq!(ids(&resumed), ["instagram:17900000000000007"]);
    assert_eq!(server.seen().into_iter().filter(|s| s.path == MEDIA).last().unwrap().query["after"], "A1");

    // The next sweep starts at the newest second read and reads insights only for the new item.
    server.reply(USER, [account()]);
    server.reply(MEDIA, [media(&[(10, 950), (9, 900)], None)]);
    server.reply(&insights_path(10), [insights(10, 1010)]);
    let before = server.seen().len();
    let next = open(&server, false, third.checkpoint).await.next_batch(100).await.unwrap();
    assert_eq!(ids(&next), ["instagram:17900000000000010"]);
    let asked: Vec<String> = server.seen()[before..].iter().map(|s| s.path.clone()).collect();
    assert_eq!(asked, [USER.to_owned(), MEDIA.to_owned(), insights_path(10)]);
    assert_eq!(server.seen().into_iter().filter(|s| s.path == MEDIA).last().unwrap().query["since"], "900");
}

#[tokio::test]
async fn media_without_insights_keeps_its_counts_and_an_expired_token_is_exchanged() {
    let server = FixtureServer::start().await;
    server.reply(USER, [graph_error(190, "Error validating access token: Session has expired."), account()]);
    server.reply(
        EXCHANGE,
        [Reply::json(json!({"access_token": "EAAG-new-token", "token_type": "bearer", "expires_in": 5183944}))],
    );
    server.reply(MEDIA, [media(&[(2, 200), (1, 100)], None)]);
    server.reply(&insights_path(2), [graph_error(10, "(#10) Not enough viewers for the media to show insights")]);
    server.reply(&insights_path(1), [insights(1, 50)]);
    let batch = open(&server, true, None).await.next_batch(100).await.unwrap();
    assert_eq!(ids(&batch), ["instagram:17900000000000002", "instagram:17900000000000001"]);
    assert_eq!(payload(&batch, 0)["metrics"], json!({"likes": 122, "comments": 8}));
    assert_eq!(payload(&batch, 1)["metrics"]["reach"], 50);
    assert_eq!(server.seen().last().unwrap().authorization.as_deref(), Some("Bearer EAAG-new-token"));
}

#[tokio::test]
async fn media_that_does_not_map_goes_to_the_dlq_with_its_json() {
    let server = FixtureServer::start().await;
    server.reply(USER, [account()]);
    let broken = json!({"data": [{"id": "17900000000000005", "caption": "no time"}], "paging": {"cursors": {"before": "a", "after": "b"}}});
    server.reply(MEDIA, [Reply::json(broken)]);
    let batch = open(&server, false, None).await.next_batch(100).await.unwrap();
    assert!(batch.records.is_empty());
    assert_eq!(batch.rejected[0].reason, "timestamp: missing");
    assert_eq!(serde_json::from_slice::<Value>(&batch.rejected[0].prefix).unwrap()["id"], "17900000000000005");
    assert!(batch.caught_up);
}
