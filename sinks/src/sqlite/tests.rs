use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension};
use socialpipe_schemas::{
    AuthorSnapshot, Envelope, Profile, RecordKind, SheetRowRecord, Sink, SinkConfig, parse_raw_post,
};

use super::{SqliteConfig, SqliteSink};
use crate::compliance::{Store, sink_compliance_suite};

/// A database file of its own.
struct Db {
    _dir: tempfile::TempDir,
    config: SqliteConfig,
}

impl Db {
    fn query<T: rusqlite::types::FromSql>(&self, sql: &str, id: &str) -> Vec<T> {
        let db = Connection::open(&self.config.path).unwrap();
        let mut statement = db.prepare(sql).unwrap();
        statement.query_map([id], |r| r.get(0)).unwrap().collect::<Result<_, _>>().unwrap()
    }
}

sink_compliance_suite!(Db, i64_counts);

#[async_trait]
impl Store for Db {
    fn on_machine() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let config = SqliteConfig::new(dir.path().join("sp.db"));
        Db { _dir: dir, config }
    }

    fn config(&self) -> Box<dyn SinkConfig> {
        Box::new(self.config.clone())
    }

    async fn visible_post_ids(&self, platform: &str) -> Vec<String> {
        self.query("SELECT id FROM posts WHERE platform = ?1", platform)
    }

    async fn likes(&self, id: &str) -> Option<i64> {
        let db = Connection::open(&self.config.path).unwrap();
        db.query_row("SELECT likes FROM posts WHERE id = ?1", [id], |r| r.get(0)).optional().unwrap().flatten()
    }

    async fn stored(&self, kind: RecordKind, id: &str) -> u64 {
        let table = if kind == RecordKind::KolScore { "kol_scores" } else { "sheet_rows" };
        self.query::<i64>(&format!("SELECT count(*) FROM {table} WHERE id = ?1"), id)[0] as u64
    }
}

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

async fn open(dir: &tempfile::TempDir) -> (SqliteSink, Connection) {
    let path = dir.path().join("sub/out.db");
    let sink = SqliteSink::open(&SqliteConfig::new(&path)).await.unwrap();
    (sink, Connection::open(path).unwrap())
}

#[tokio::test]
async fn redelivered_batch_creates_no_duplicate_rows_and_counts_deliveries() {
    let dir = tempfile::tempdir().unwrap();
    let (mut sink, db) = open(&dir).await;
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
    let (mut sink, db) = open(&dir).await;
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
    let (mut sink, db) = open(&dir).await;
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

/// A roster row for twitter:7 as of `at`.
fn roster_row(handle: &str, followers: u64, rate: f64, at: &str) -> Envelope {
    let row = SheetRowRecord {
        file_id: format!("roster_{at}"),
        file_name: "kols.xlsx".into(),
        sheet: "Sheet1".into(),
        row_key: handle.into(),
        row_number: 2,
        cells: serde_json::Map::new(),
        content_hash: at.into(),
        author: Some(AuthorSnapshot {
            platform: "twitter".into(),
            id: "7".into(),
            profile: Profile { handle: Some(handle.into()), followers: Some(followers), ..Profile::default() },
            rate: Some(rate),
            category: Some("tech".into()),
        }),
    };
    let at = at.parse().unwrap();
    Envelope::new(RecordKind::SheetRow, row.record_id(), "twitter:7".into(), "s", at, Envelope::encode_payload(&row))
}

// Rosters used to overwrite the handle and name whatever their age, unlike
// every other field and the doc comment: now the newest record wins there too.
#[tokio::test]
async fn a_roster_older_than_the_newest_post_gives_rate_and_category_but_not_the_profile() {
    let dir = tempfile::tempdir().unwrap();
    let (mut sink, db) = open(&dir).await;
    let author = |db: &Connection| -> (String, i64, f64, String) {
        db.query_row("SELECT handle, followers, rate, category FROM authors WHERE id = 'twitter:7'", [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })
        .unwrap()
    };
    sink.write(&[post(1, 100, "2026-11-21T00:00:00Z", "post")]).await.unwrap();
    sink.write(&[roster_row("ann_old", 90, 500.0, "2026-11-20T00:00:00Z")]).await.unwrap();
    assert_eq!(author(&db), ("ann".into(), 100, 500.0, "tech".into()));
    sink.write(&[roster_row("ann_new", 120, 650.0, "2026-11-22T00:00:00Z")]).await.unwrap();
    assert_eq!(author(&db), ("ann_new".into(), 120, 650.0, "tech".into()));
}

#[tokio::test]
async fn records_it_cannot_store_are_rejected_one_by_one_and_the_rest_commits() {
    let dir = tempfile::tempdir().unwrap();
    let (mut sink, db) = open(&dir).await;
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

/// Beyond the suite's like count: every other count SQLite keeps as an
/// integer (a post's author followers, a roster's followers, a score's
/// followers) is refused alone, not fatal to the batch.
#[tokio::test]
async fn every_count_beyond_i64_is_refused_alone_and_the_rest_commits() {
    let dir = tempfile::tempdir().unwrap();
    let (mut sink, db) = open(&dir).await;
    let (mut score, mut score_envelope) = crate::testing::kol_score("twitter", "2026-11-20T00:00:00Z", 50.0);
    score.followers = Some(u64::MAX);
    score_envelope.payload = Envelope::encode_payload(&score);
    let batch = [
        post(1, u64::MAX, "2026-11-20T10:00:00Z", "huge author"),
        roster_row("ann", u64::MAX, 500.0, "2026-11-20T00:00:00Z"),
        score_envelope,
        post(2, 10, "2026-11-20T11:00:00Z", "fine"),
    ];
    let report = sink.write(&batch).await.unwrap();
    let refused: Vec<(usize, String)> = report.rejected.iter().map(|(i, e)| (*i, e.reason.clone())).collect();
    let beyond = |field: &str| format!("{field} = {} exceeds a signed 64-bit integer", u64::MAX);
    assert_eq!(
        refused,
        vec![(0, beyond("author.followers")), (1, beyond("author.followers")), (2, beyond("followers"))]
    );
    let ids: Vec<String> =
        db.prepare("SELECT id FROM posts").unwrap().query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect();
    assert_eq!(ids, ["twitter:2"]);
    let followers: i64 = db.query_row("SELECT followers FROM authors WHERE id = 'twitter:7'", [], |r| r.get(0)).unwrap();
    assert_eq!(followers, 10);
}

#[tokio::test]
async fn migrations_apply_once() {
    let dir = tempfile::tempdir().unwrap();
    drop(open(&dir).await);
    let (_, db) = open(&dir).await;
    let versions: i64 = db.query_row("SELECT count(*) FROM schema_migrations", [], |r| r.get(0)).unwrap();
    assert_eq!(versions, super::MIGRATIONS.len() as i64);
}

fn enriched(id: u32) -> Envelope {
    let mut p = post(id, 10, "2026-11-20T10:00:00Z", "great");
    p.enrichments = serde_json::from_value(serde_json::json!({
        "language": {"code": "en", "confidence": 0.97, "reliable": true},
        "sentiment": {"vader": {"neg": 0.0, "neu": 0.2, "pos": 0.8, "compound": 0.6249, "label": "positive"},
                      "label": "positive", "reliable": true},
        "emotion": {"scores": {"anger": 0.0, "anticipation": 0.2, "disgust": 0.01, "fear": 0.0, "joy": 0.71,
                               "sadness": 0.0, "surprise": 0.1, "trust": 0.3}, "dominant": "joy"},
        "intent": {"label": "recommendation", "confidence": 0.9},
        "brand_safety": {"score": 1.0, "safe": true, "flags": []}
    }))
    .unwrap();
    p
}

#[tokio::test]
async fn the_text_stages_scores_are_typed_columns() {
    let dir = tempfile::tempdir().unwrap();
    let (mut sink, db) = open(&dir).await;
    sink.write(&[enriched(1), post(2, 10, "2026-11-20T10:00:00Z", "not enriched")]).await.unwrap();
    let row: (String, String, f64, i64, String, f64, String, f64, i64, String) = db
        .query_row(
            "SELECT language, sentiment_label, sentiment_compound, sentiment_reliable, emotion, emotion_joy, intent,
                    brand_safety_score, brand_safe, typeof(emotion_joy) FROM posts WHERE id = 'twitter:1'",
            [],
            |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                    r.get(7)?,
                    r.get(8)?,
                    r.get(9)?,
                ))
            },
        )
        .unwrap();
    assert_eq!(
        row,
        ("en".into(), "positive".into(), 0.6249, 1, "joy".into(), 0.71, "recommendation".into(), 1.0, 1, "real".into())
    );
    let missing: Option<String> =
        db.query_row("SELECT sentiment_label FROM posts WHERE id = 'twitter:2'", [], |r| r.get(0)).unwrap();
    assert_eq!(missing, None, "no stage, no score");
}

#[tokio::test]
async fn the_embedding_is_a_blob_of_little_endian_f32_and_stays_out_of_the_json() {
    let dir = tempfile::tempdir().unwrap();
    let (mut sink, db) = open(&dir).await;
    let vector: Vec<f32> = (0..384).map(|i| (i as f32 - 192.0) / 1000.0).collect();
    let mut with = enriched(1);
    with.enrichments.insert("embedding".into(), serde_json::json!(vector));
    with.enrichments.insert(
        "sentiment".into(),
        serde_json::json!({"vader": {"neg": 0.0, "neu": 0.2, "pos": 0.8, "compound": 0.6249, "label": "positive"},
                           "model": {"label": "neutral", "probabilities": {"negative": 0.1, "neutral": 0.6, "positive": 0.3}},
                           "label": "neutral", "label_source": "model", "reliable": true}),
    );
    sink.write(&[with, post(2, 10, "2026-11-20T10:00:00Z", "no embedding")]).await.unwrap();
    let (blob, json, model, source): (Vec<u8>, String, String, String) = db
        .query_row(
            "SELECT embedding, enrichments, sentiment_model_label, sentiment_label_source FROM posts WHERE id = 'twitter:1'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .unwrap();
    let read: Vec<f32> = blob.chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect();
    assert_eq!(read, vector);
    assert!(!json.contains("embedding") && json.contains("sentiment"), "{json}");
    assert_eq!((model.as_str(), source.as_str()), ("neutral", "model"));
    let missing: Option<Vec<u8>> =
        db.query_row("SELECT embedding FROM posts WHERE id = 'twitter:2'", [], |r| r.get(0)).unwrap();
    assert_eq!(missing, None);
}

#[tokio::test]
async fn rows_written_before_the_scores_migration_get_the_columns() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    {
        // A database as the first release left it, with a row in it.
        let mut db = Connection::open(&path).unwrap();
        let tx = db.transaction().unwrap();
        tx.execute_batch(include_str!("migrations/001_initial.sql")).unwrap();
        tx.execute_batch(
            "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL);
             INSERT INTO schema_migrations VALUES (1, 'initial', '2026-11-01T00:00:00Z');
             INSERT INTO posts (id, platform, author_id, text, created_at, payload, enrichments, version, ingest_time)
             VALUES ('twitter:9', 'twitter', 'twitter:7', 'x', '2026-11-01T00:00:00.000Z', '{}',
                     '{\"emotion\": {\"dominant\": \"fear\"}}', 1, '2026-11-01T00:00:00.000Z');
             INSERT INTO kol_scores (id, author_id, platform, score, tier, factors, as_of, version)
             VALUES ('kol:twitter:7:1761955200000', 'twitter:7', 'twitter', 55.5, 'nano', '[]', '2026-11-01T00:00:00.000Z', 1);",
        )
        .unwrap();
        tx.commit().unwrap();
    }
    let mut sink = SqliteSink::open(&SqliteConfig::new(&path)).await.unwrap();
    let db = Connection::open(&path).unwrap();
    let before: Vec<i64> = db
        .prepare("SELECT version FROM schema_migrations ORDER BY version")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(before, [1, 2, 3, 4, 5, 6, 7]);
    let score: (f64, String) = db
        .query_row("SELECT score, computed_at FROM kol_latest WHERE author_id = 'twitter:7'", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert_eq!(score, (55.5, "2026-11-01T00:00:00.000Z".to_owned()), "an old score, its as_of now computed_at");
    let old: String = db.query_row("SELECT emotion FROM posts WHERE id = 'twitter:9'", [], |r| r.get(0)).unwrap();
    assert_eq!(old, "fear");
    sink.write(&[enriched(3)]).await.unwrap();
    let label: String = db.query_row("SELECT emotion FROM posts WHERE id = 'twitter:3'", [], |r| r.get(0)).unwrap();
    assert_eq!(label, "joy");
}
