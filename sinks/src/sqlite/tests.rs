use rusqlite::Connection;
use socialpipe_schemas::{Envelope, RecordKind, Sink, parse_raw_post};

use super::{SqliteConfig, SqliteSink};

fn post(id: u32, author_followers: u64, created_at: &str, text: &str) -> Envelope {
    parse_raw_post(
        format!(
            r#"{{"platform":"twitter","id":"{id}","author":{{"id":"7","handle":"ann","followers":{author_followers}}},"text":"{text}","created_at":"{created_at}","metrics":{{"likes":3}}}}"#
        )
        .as_bytes(),
    )
    .unwrap()
    .into_envelope("posts")
}

fn open(dir: &tempfile::TempDir) -> (SqliteSink, Connection) {
    let path = dir.path().join("sub/out.db");
    let sink = SqliteSink::open(&SqliteConfig::new(&path)).unwrap();
    (sink, Connection::open(path).unwrap())
}

#[tokio::test]
async fn redelivered_batch_creates_no_duplicate_rows_and_counts_deliveries() {
    let dir = tempfile::tempdir().unwrap();
    let (mut sink, db) = open(&dir);
    let batch = vec![post(1, 10, "2026-11-20T10:00:00Z", "a"), post(2, 10, "2026-11-20T11:00:00Z", "b")];
    sink.write(&batch).await.unwrap();
    sink.write(&batch).await.unwrap();
    let (rows, deliveries): (i64, i64) =
        db.query_row("SELECT count(*), sum(deliveries) FROM posts", [], |r| Ok((r.get(0)?, r.get(1)?))).unwrap();
    assert_eq!((rows, deliveries), (2, 4));
    let authors: i64 = db.query_row("SELECT count(*) FROM authors", [], |r| r.get(0)).unwrap();
    assert_eq!(authors, 1);
}

#[tokio::test]
async fn an_older_version_never_overwrites_a_newer_one() {
    let dir = tempfile::tempdir().unwrap();
    let (mut sink, db) = open(&dir);
    let old = post(1, 10, "2026-11-20T10:00:00Z", "old text");
    let mut new = post(1, 10, "2026-11-20T10:00:00Z", "new text");
    new.version = old.version + 1;
    sink.write(std::slice::from_ref(&new)).await.unwrap();
    sink.write(std::slice::from_ref(&old)).await.unwrap();
    let text: String = db.query_row("SELECT text FROM posts WHERE id = 'twitter:1'", [], |r| r.get(0)).unwrap();
    assert_eq!(text, "new text");
}

#[tokio::test]
async fn the_author_row_follows_the_newest_post_by_event_time() {
    let dir = tempfile::tempdir().unwrap();
    let (mut sink, db) = open(&dir);
    sink.write(&[post(2, 200, "2026-11-21T00:00:00Z", "later"), post(1, 100, "2026-11-20T00:00:00Z", "earlier")])
        .await
        .unwrap();
    let (followers, updated): (i64, String) = db
        .query_row("SELECT followers, updated_at FROM authors WHERE id = 'twitter:7'", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert_eq!((followers, updated.as_str()), (200, "2026-11-21T00:00:00.000Z"));
}

#[tokio::test]
async fn records_it_cannot_store_are_rejected_one_by_one_and_the_rest_commits() {
    let dir = tempfile::tempdir().unwrap();
    let (mut sink, db) = open(&dir);
    let mut broken = post(3, 1, "2026-11-20T10:00:00Z", "x");
    broken.payload = Envelope::encode_payload(&serde_json::json!({"platform": "twitter"}));
    let dead = Envelope::new(
        RecordKind::DeadLetter,
        "d".into(),
        "d".into(),
        "s",
        broken.event_time,
        Envelope::encode_payload(&serde_json::json!({})),
    );
    let report = sink.write(&[post(1, 1, "2026-11-20T10:00:00Z", "ok"), broken, dead]).await.unwrap();
    let rejected: Vec<_> = report.rejected.iter().map(|(i, e)| (*i, e.reason.clone())).collect();
    assert_eq!(rejected.len(), 2);
    assert_eq!(rejected[0].0, 1);
    assert!(rejected[0].1.starts_with("payload does not match post/v1"), "{rejected:?}");
    assert_eq!(rejected[1], (2, "the sqlite sink does not store dead_letter/v1 records".to_owned()));
    let rows: i64 = db.query_row("SELECT count(*) FROM posts", [], |r| r.get(0)).unwrap();
    assert_eq!(rows, 1);
}

#[tokio::test]
async fn migrations_apply_once() {
    let dir = tempfile::tempdir().unwrap();
    drop(open(&dir));
    let (_, db) = open(&dir);
    let versions: i64 = db.query_row("SELECT count(*) FROM schema_migrations", [], |r| r.get(0)).unwrap();
    assert_eq!(versions, super::MIGRATIONS.len() as i64);
}
