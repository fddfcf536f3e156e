use async_trait::async_trait;
use clickhouse::Client;
use socialpipe_schemas::{Envelope, ErrorDomain, RecordKind, SinkConfig};

use super::{ClickhouseConfig, ClickhouseSink, Dialect, MIGRATIONS, statements};
use crate::compliance::{MigratingStore, PoisonStore, ServerStore, Store, sink_compliance_suite};
use crate::testing::{clean_up, post_with, unique};

fn url(port: u16) -> String {
    format!("http://127.0.0.1:{port}")
}

fn machine_url() -> String {
    std::env::var("CLICKHOUSE_URL").unwrap_or_else(|_| url(8123))
}

/// A database of its own on a server.
struct Ch {
    config: ClickhouseConfig,
}

impl Ch {
    fn new(url: String) -> Self {
        Ch { config: ClickhouseConfig::new(url, unique("sp")) }
    }

    fn client(&self) -> Client {
        Client::default().with_url(&self.config.url).with_database(&self.config.database).with_validation(false)
    }
}

sink_compliance_suite!(Ch, poison, outage, migrations);

#[async_trait]
impl Store for Ch {
    fn on_machine() -> Self {
        Ch::new(machine_url())
    }

    fn config(&self) -> Box<dyn SinkConfig> {
        Box::new(self.config.clone())
    }

    /// As an analyst must query a ReplacingMergeTree: with FINAL.
    async fn visible_post_ids(&self, platform: &str) -> Vec<String> {
        self.client().query("SELECT id FROM posts FINAL WHERE platform = ?").bind(platform).fetch_all().await.unwrap()
    }

    async fn likes(&self, id: &str) -> Option<i64> {
        let likes: Option<Option<u64>> =
            self.client().query("SELECT likes FROM posts FINAL WHERE id = ?").bind(id).fetch_optional().await.unwrap();
        likes.flatten().map(|l| l as i64)
    }

    async fn stored(&self, kind: RecordKind, id: &str) -> u64 {
        let table = if kind == RecordKind::KolScore { "kol_scores" } else { "sheet_rows" };
        self.client()
            .query(&format!("SELECT count() FROM {table} FINAL WHERE id = ?"))
            .bind(id)
            .fetch_one()
            .await
            .unwrap()
    }

}

#[async_trait]
impl PoisonStore for Ch {
    /// DateTime cannot hold times before 1970.
    async fn poison(&self, platform: &str) -> Envelope {
        post_with(platform, 999, "created_at", "1969-07-20T20:17:00Z".into())
    }
}

impl ServerStore for Ch {
    const SERVER: &'static str = "clickhouse";
    const COMPANION_PORTS: &'static [i32] = &[877, 886];

    fn on_port(port: u16) -> Self {
        Ch::new(url(port))
    }
}

impl MigratingStore for Ch {
    const MIGRATIONS: &'static [crate::migrations::Migration] = super::schema::MIGRATIONS;

    fn config_without_migrations(&self) -> Box<dyn SinkConfig> {
        Box::new(ClickhouseConfig { migrate_on_start: false, ..self.config.clone() })
    }
}

impl Drop for Ch {
    fn drop(&mut self) {
        let (client, db) = (Client::default().with_url(&self.config.url), self.config.database.clone());
        clean_up(async move {
            let _ = client.query(&format!("DROP DATABASE IF EXISTS {db}")).execute().await;
        });
    }
}

#[tokio::test]
async fn views_aggregate_sentiment_per_hour_and_hashtag_without_duplicates() {
    let ch = Ch::new(machine_url());
    let mut sink = ch.sink().await.unwrap();
    let batch = crate::testing::posts("tiktok", 0..30, 10);
    sink.write(&batch).await.unwrap();
    sink.write(&batch).await.unwrap();
    let (posts, positive): (u64, u64) = ch
        .client()
        .query("SELECT sum(posts), sum(positive) FROM sentiment_by_hashtag_hour WHERE platform = 'tiktok' AND hashtag = 'coffee'")
        .fetch_one()
        .await
        .unwrap();
    assert_eq!((posts, positive), (30, 30));
    let brands: u64 = ch
        .client()
        .query("SELECT sum(posts) FROM sentiment_by_brand_hour WHERE brand = 'acme'")
        .fetch_one()
        .await
        .unwrap();
    assert_eq!(brands, 30);
    let authors: u64 = ch.client().query("SELECT count() FROM authors FINAL").fetch_one().await.unwrap();
    assert_eq!(authors, 7);
    let embedding: Vec<f32> =
        ch.client().query("SELECT embedding FROM posts FINAL WHERE id = 'tiktok:3'").fetch_one().await.unwrap();
    assert_eq!(embedding, vec![0.25, -0.5, 0.125, 1.0]);
}

#[tokio::test]
async fn bad_credentials_are_fatal_and_an_unreachable_server_transient() {
    let mut bad = ClickhouseConfig::new(machine_url(), unique("sp"));
    bad.user = "nobody_here".into();
    let error = ClickhouseSink::open(&bad).await.err().unwrap();
    assert_eq!(error.domain, ErrorDomain::Fatal, "{}", error.reason);
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let error = ClickhouseSink::open(&ClickhouseConfig::new(url(port), "x")).await.err().unwrap();
    assert_eq!(error.domain, ErrorDomain::Transient, "{}", error.reason);
    assert!(ClickhouseConfig::new("https://x", "x").check().is_err());
    assert!(ClickhouseConfig::new(machine_url(), "a-b").check().is_err());
}

#[test]
fn dialect_follows_the_server_version() {
    assert_eq!(Dialect::of_version("18.16.1"), Dialect::Legacy);
    assert_eq!(Dialect::of_version("25.3.2.39"), Dialect::Current);
    let text = |dialect| {
        MIGRATIONS.iter().flat_map(|m| statements(m.script, dialect)).map(|s| s.sql).collect::<Vec<_>>().join("\n")
    };
    let legacy = text(Dialect::Legacy);
    assert!(!legacy.contains("LowCardinality") && !legacy.contains("{lc}"));
    assert!(text(Dialect::Current).contains("LowCardinality(String)"));
}

#[test]
fn guarded_statements_name_their_column_and_state() {
    let statements = statements(MIGRATIONS[1].script, Dialect::Legacy);
    let guard = |prefix: &str| statements.iter().find(|s| s.sql.starts_with(prefix)).unwrap().guard.clone();
    let missing = guard("ALTER TABLE posts").unwrap();
    assert_eq!((missing.table.as_str(), missing.column.as_str(), missing.exists), ("posts", "language", false));
    assert!(guard("RENAME TABLE kol_scores").unwrap().exists);
    assert_eq!(guard("DROP TABLE IF EXISTS kol_scores_001"), None);
}

/// A migration's statements as chdb_exec.py reads them (guards as queries).
fn chdb_statements(migrations: &[crate::migrations::Migration]) -> Vec<serde_json::Value> {
    migrations
        .iter()
        .flat_map(|m| statements(m.script, Dialect::Current))
        .map(|s| match s.guard {
            Some(guard) => serde_json::json!({"sql": s.sql, "guard": guard.query()}),
            None => serde_json::json!(s.sql),
        })
        .collect()
}

/// Runs `sql` on chdb in one session; each statement's JSONEachRow output.
fn on_chdb(sql: &[serde_json::Value]) -> Vec<String> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let python = std::process::Command::new("bash")
        .arg(root.join("../scripts/services.sh"))
        .args(["which", "chdb"])
        .output()
        .unwrap();
    assert!(python.status.success(), "{}", String::from_utf8_lossy(&python.stderr));
    let python = String::from_utf8(python.stdout).unwrap().trim().to_owned();
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), serde_json::to_vec(sql).unwrap()).unwrap();
    let out = std::process::Command::new(python)
        .arg(root.join("../scripts/chdb_exec.py"))
        .arg(file.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

const OLD_SCORES: &str = "INSERT INTO kol_scores (id, author_id, platform, score, tier, factors, as_of, as_of_ms, version)
     VALUES ('twitter:7@2026-11-01T00:00:00.000Z', 'twitter:7', 'twitter', 55.5, 'nano', '[]', '2026-11-01 00:00:00', 1761955200000, 3),
            ('twitter:7@2026-11-02T00:00:00.000Z', 'twitter:7', 'twitter', 60.5, 'micro', '[]', '2026-11-02 00:00:00', 1762041600000, 4)";
const MIGRATED_SCORES: &str =
    "SELECT id, score, tier, toString(computed_at) AS computed_at, computed_at_ms FROM kol_scores FINAL ORDER BY id";

#[derive(clickhouse::Row, serde::Serialize, serde::Deserialize)]
struct MigratedScore {
    id: String,
    score: f64,
    tier: String,
    computed_at: String,
    computed_at_ms: u64,
}

fn migrated_scores() -> Vec<serde_json::Value> {
    use serde_json::json;
    vec![
        json!({"id": "twitter:7@2026-11-01T00:00:00.000Z", "score": 55.5, "tier": "nano", "computed_at": "2026-11-01 00:00:00", "computed_at_ms": 1761955200000_u64}),
        json!({"id": "twitter:7@2026-11-02T00:00:00.000Z", "score": 60.5, "tier": "micro", "computed_at": "2026-11-02 00:00:00", "computed_at_ms": 1762041600000_u64}),
    ]
}

/// Migration 2 renames `as_of` by copy on a populated 18.16 table: every
/// score is kept under `computed_at`, and a second run changes nothing.
#[tokio::test]
async fn the_as_of_rename_keeps_every_score_on_the_legacy_server() {
    let ch = Ch::on_machine();
    let setup = Client::default().with_url(&ch.config.url).with_validation(false);
    setup.query(&format!("CREATE DATABASE {}", ch.config.database)).execute().await.unwrap();
    for statement in statements(MIGRATIONS[0].script, Dialect::Legacy) {
        ch.client().query(&statement.sql).execute().await.unwrap();
    }
    ch.client()
        .query("CREATE TABLE schema_migrations (version Int64, name String, applied_at DateTime) ENGINE = MergeTree ORDER BY version")
        .execute()
        .await
        .unwrap();
    ch.client().query("INSERT INTO schema_migrations VALUES (1, 'initial', now())").execute().await.unwrap();
    ch.client().query(OLD_SCORES).execute().await.unwrap();
    assert_eq!(ClickhouseSink::migrate_store(&ch.config).await.unwrap(), vec![2, 3]);
    let rows: Vec<MigratedScore> = ch.client().query(MIGRATED_SCORES).fetch_all().await.unwrap();
    let rows: Vec<serde_json::Value> = rows.into_iter().map(|r| serde_json::to_value(r).unwrap()).collect();
    assert_eq!(rows, migrated_scores());
    // The guarded statements run again without harm (a migration cut short).
    use crate::migrations::MigrationTarget;
    super::sink::target(&ch.config, true).await.unwrap().apply(&MIGRATIONS[1]).await.unwrap();
    let count: u64 = ch.client().query("SELECT count() FROM kol_scores FINAL").fetch_one().await.unwrap();
    assert_eq!(count, 2);
}

/// The same on the current release (chdb).
#[test]
fn the_as_of_rename_keeps_every_score_on_the_current_release() {
    let mut sql = vec![serde_json::json!("CREATE DATABASE sp"), serde_json::json!("USE sp")];
    sql.extend(chdb_statements(&MIGRATIONS[..1]));
    sql.push(OLD_SCORES.into());
    sql.extend(chdb_statements(&MIGRATIONS[1..]));
    // Again, as a migration cut short and run anew would.
    sql.extend(chdb_statements(&MIGRATIONS[1..]));
    sql.push(MIGRATED_SCORES.into());
    let outputs = on_chdb(&sql);
    let rows: Vec<serde_json::Value> = outputs.last().unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(rows, migrated_scores());
}

/// Each rollup view and the same question asked of `posts FINAL` (the
/// answer the rollup must give), with the order both are read in.
const ROLLUPS: &[(&str, &str, &str)] = &[
    (
        "sentiment_by_brand_hour",
        "SELECT toStartOfHour(created_at, 'UTC') AS hour, platform, brand, count() AS posts,
                avg(sentiment_compound) AS avg_compound, countIf(sentiment_label = 'positive') AS positive,
                countIf(sentiment_label = 'neutral') AS neutral, countIf(sentiment_label = 'negative') AS negative
         FROM posts FINAL ARRAY JOIN brands AS brand GROUP BY hour, platform, brand",
        "hour, platform, brand",
    ),
    (
        "sentiment_by_hashtag_hour",
        "SELECT toStartOfHour(created_at, 'UTC') AS hour, platform, hashtag, count() AS posts,
                avg(sentiment_compound) AS avg_compound, countIf(sentiment_label = 'positive') AS positive,
                countIf(sentiment_label = 'neutral') AS neutral, countIf(sentiment_label = 'negative') AS negative
         FROM posts FINAL ARRAY JOIN hashtags AS hashtag GROUP BY hour, platform, hashtag",
        "hour, platform, hashtag",
    ),
    (
        "emotion_by_brand_hour",
        "SELECT toStartOfHour(created_at, 'UTC') AS hour, platform, brand, emotion, count() AS posts
         FROM posts FINAL ARRAY JOIN brands AS brand WHERE emotion != '' GROUP BY hour, platform, brand, emotion",
        "hour, platform, brand, emotion",
    ),
    (
        "emotion_by_hashtag_hour",
        "SELECT toStartOfHour(created_at, 'UTC') AS hour, platform, hashtag, emotion, count() AS posts
         FROM posts FINAL ARRAY JOIN hashtags AS hashtag WHERE emotion != '' GROUP BY hour, platform, hashtag, emotion",
        "hour, platform, hashtag, emotion",
    ),
    (
        "intent_by_brand_day",
        "SELECT toDate(created_at, 'UTC') AS day, platform, brand, intent, count() AS posts
         FROM posts FINAL ARRAY JOIN brands AS brand WHERE ifNull(intent, '') != '' GROUP BY day, platform, brand, intent",
        "day, platform, brand, intent",
    ),
    (
        "share_of_voice_day",
        "SELECT day, platform, brand, posts, posts / total AS share
         FROM (SELECT toDate(created_at, 'UTC') AS day, platform, brand, count() AS posts
               FROM posts FINAL ARRAY JOIN brands AS brand GROUP BY day, platform, brand) AS brands
         ANY INNER JOIN (SELECT toDate(created_at, 'UTC') AS day, platform, count() AS total
                         FROM posts FINAL ARRAY JOIN brands AS brand GROUP BY day, platform) AS totals
         USING day, platform",
        "day, platform, brand",
    ),
];

/// Rows read as JSONEachRow agree: the same columns, numbers within 1e-9.
fn same_rows(view: &str, rollup: &str, reference: &str) {
    let parse = |text: &str| -> Vec<serde_json::Value> { text.lines().map(|l| serde_json::from_str(l).unwrap()).collect() };
    let (rollup, reference) = (parse(rollup), parse(reference));
    let close = |a: &serde_json::Value, b: &serde_json::Value| match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => (x - y).abs() <= 1e-9,
        _ => a == b,
    };
    let same = rollup.len() == reference.len()
        && rollup.iter().zip(&reference).all(|(a, b)| {
            let (a, b) = (a.as_object().unwrap(), b.as_object().unwrap());
            a.len() == b.len() && a.iter().all(|(k, v)| b.get(k).is_some_and(|w| close(v, w)))
        });
    assert!(same, "{view}: the rollup answers\n{rollup:#?}\nposts FINAL answers\n{reference:#?}");
    assert!(!reference.is_empty(), "{view}: the test data reach it");
}

/// Post `n` with one brand, hashtag, sentiment, emotion and intent.
fn rollup_post(n: u32, version: i64, brand: &str, hashtag: &str, compound: f64, emotion: &str, intent: &str) -> Envelope {
    use socialpipe_schemas::enrichment::{Emotion, Entities, Intent, Sentiment, SentimentLabel};
    let mut post = crate::testing::post("tiktok", n, 1, version);
    post.set_enrichment(&Entities { hashtags: vec![hashtag.into()], brands: vec![brand.into()], ..Entities::default() });
    let mut sentiment: Sentiment = post.enrichment().unwrap();
    sentiment.vader.compound = compound;
    sentiment.label = SentimentLabel::of_compound(compound);
    post.set_enrichment(&sentiment);
    let mut feeling: Emotion = post.enrichment().unwrap();
    feeling.dominant = serde_json::from_value(emotion.into()).unwrap();
    post.set_enrichment(&feeling);
    let intent = serde_json::json!({"label": intent, "confidence": 0.9,
        "scores": {"complaint": 0.1, "purchase": 0.1, "question": 0.1, "recommendation": 0.1}, "signals": []});
    post.set_enrichment::<Intent>(&serde_json::from_value(intent).unwrap());
    post
}

/// On 18.16, through the sink: a post written twice (a redelivery), then a
/// newer version that changes its brand, hashtag, sentiment, emotion and
/// intent, and an older version of another arriving late: every rollup
/// answers what posts FINAL answers.
#[tokio::test]
async fn the_rollups_answer_as_posts_final_after_duplicated_and_updated_posts_on_the_legacy_server() {
    let ch = Ch::new(machine_url());
    let mut sink = ch.sink().await.unwrap();
    let first: Vec<Envelope> = (0..12)
        .map(|n| rollup_post(n, 10, ["acme", "globex"][n as usize % 2], "coffee", 0.5, "joy", "purchase"))
        .collect();
    sink.write(&first).await.unwrap();
    sink.write(&first[..3]).await.unwrap();
    let updates = [
        rollup_post(0, 11, "initech", "tea", -0.6, "sadness", "complaint"),
        rollup_post(1, 9, "initech", "tea", -0.6, "sadness", "complaint"),
    ];
    sink.write(&updates).await.unwrap();
    sink.write(&updates).await.unwrap();
    let client = ch.client();
    for (view, reference, order) in ROLLUPS {
        let read = async |sql: String| {
            let bytes = client
                .query(&sql)
                .with_setting("output_format_json_quote_64bit_integers", "0")
                .fetch_bytes("JSONEachRow")
                .unwrap()
                .collect()
                .await
                .unwrap();
            String::from_utf8(bytes.to_vec()).unwrap()
        };
        let rollup = read(format!("SELECT * FROM {view} ORDER BY {order}")).await;
        let expected = read(format!("SELECT * FROM ({reference}) ORDER BY {order}")).await;
        same_rows(view, &rollup, &expected);
    }
    let initech: i64 =
        ch.client().query("SELECT sum(posts) FROM sentiment_by_brand_hour WHERE brand = 'initech'").fetch_one().await.unwrap();
    assert_eq!(initech, 1, "the newer version counts, the older one does not");
}

/// A ledger row: id, version, sign, brand, hashtag, label, compound, emotion, intent.
type LedgerValues<'a> = (&'a str, u32, i8, &'a str, &'a str, &'a str, f64, &'a str, &'a str);

/// The same DDL on the current release (chdb), fed the ledger rows the sink
/// writes: +1 for a new version, -1 and +1 for an update, nothing for a
/// redelivery.
#[test]
fn the_rollups_answer_as_posts_final_after_duplicated_and_updated_posts_on_the_current_release() {
    let mut sql = vec![serde_json::json!("CREATE DATABASE sp"), serde_json::json!("USE sp")];
    sql.extend(chdb_statements(MIGRATIONS));
    let post = |id: &str, version: u32, brand: &str, tag: &str, label: &str, compound: f64, emotion: &str, intent: &str| {
        format!(
            "INSERT INTO posts (id, platform, author_id, created_at, created_at_ms, hashtags, brands, sentiment_label,
                                sentiment_compound, emotion, intent, version)
             VALUES ('{id}', 'x', 'x:a', '2026-11-20 10:15:00', 1795170900000, ['{tag}'], ['{brand}'], '{label}',
                     {compound}, '{emotion}', '{intent}', {version})"
        )
    };
    let ledger = |rows: &[LedgerValues]| {
        let values: Vec<String> = rows
            .iter()
            .map(|(id, version, sign, brand, tag, label, compound, emotion, intent)| {
                format!("('{id}', {version}, {sign}, '2026-11-20 10:15:00', 'x', ['{tag}'], ['{brand}'], '{label}', {compound}, '{emotion}', '{intent}')")
            })
            .collect();
        format!("INSERT INTO post_rollup_log VALUES {}", values.join(", "))
    };
    let v10 = ("x:1", 10, 1, "acme", "coffee", "positive", 0.5, "joy", "purchase");
    let other = ("x:2", 10, 1, "acme", "coffee", "negative", -0.25, "anger", "complaint");
    let v11 = ("x:1", 11, 1, "globex", "tea", "neutral", 0.0, "trust", "question");
    sql.push(post("x:1", 10, "acme", "coffee", "positive", 0.5, "joy", "purchase").into());
    sql.push(post("x:2", 10, "acme", "coffee", "negative", -0.25, "anger", "complaint").into());
    sql.push(ledger(&[v10, other]).into());
    // A redelivery: the row again, the ledger unchanged.
    sql.push(post("x:1", 10, "acme", "coffee", "positive", 0.5, "joy", "purchase").into());
    // An update: -1 for what was counted, +1 for the new version.
    sql.push(post("x:1", 11, "globex", "tea", "neutral", 0.0, "trust", "question").into());
    sql.push(ledger(&[("x:1", 10, -1, "acme", "coffee", "positive", 0.5, "joy", "purchase"), v11]).into());
    let first = sql.len();
    for (view, reference, order) in ROLLUPS {
        sql.push(format!("SELECT * FROM {view} ORDER BY {order}").into());
        sql.push(format!("SELECT * FROM ({reference}) ORDER BY {order}").into());
    }
    let outputs = on_chdb(&sql);
    for (i, (view, _, _)) in ROLLUPS.iter().enumerate() {
        same_rows(view, &outputs[first + 2 * i], &outputs[first + 2 * i + 1]);
    }
}
