//! Encoding rows, classifying server answers, and inserting a batch.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use clickhouse::{Client, Compression, Row as ChRow};
use serde::{Deserialize, Serialize};
use socialpipe_schemas::{ComponentError, Envelope, ErrorDomain};

use super::{ClickhouseConfig, Dialect, MIGRATIONS, statements};
use crate::analyst::{KolFields, PostFields};
use crate::batch::{DecodedBatch, Record, embedding, enrichments_json_except_embedding, rfc3339};
use crate::bisect::{Bisecting, PartError, PartWriter};
use crate::migrations::{Migration, MigrationTarget, migrate, prepare};
use crate::store::StoreSink;

pub type ClickhouseSink = StoreSink<Bisecting<ClickhouseWriter>>;

pub struct ClickhouseWriter {
    client: Client,
    timeout: Duration,
}

#[derive(ChRow, Serialize)]
struct PostRow<'a> {
    id: &'a str,
    platform: &'a str,
    author_id: String,
    author_handle: &'a str,
    author_followers: Option<u64>,
    text: &'a str,
    lang: &'a str,
    created_at: u32,
    created_at_ms: u64,
    likes: Option<u64>,
    comments: Option<u64>,
    shares: Option<u64>,
    views: Option<u64>,
    hashtags: Vec<String>,
    mentions: Vec<String>,
    brands: Vec<String>,
    sentiment_label: &'static str,
    sentiment_compound: Option<f32>,
    emotion: &'static str,
    embedding: Vec<f32>,
    payload: &'a str,
    enrichments: String,
    version: u64,
    ingest_time: u32,
    language: Option<String>,
    language_reliable: Option<u8>,
    cashtags: Vec<String>,
    urls: Vec<String>,
    emoji: Vec<String>,
    sentiment_label_source: Option<&'static str>,
    sentiment_reliable: Option<u8>,
    sentiment_neg: Option<f64>,
    sentiment_neu: Option<f64>,
    sentiment_pos: Option<f64>,
    sentiment_model_label: Option<&'static str>,
    sentiment_model_negative: Option<f64>,
    sentiment_model_neutral: Option<f64>,
    sentiment_model_positive: Option<f64>,
    emotion_anger: Option<f64>,
    emotion_anticipation: Option<f64>,
    emotion_disgust: Option<f64>,
    emotion_fear: Option<f64>,
    emotion_joy: Option<f64>,
    emotion_sadness: Option<f64>,
    emotion_surprise: Option<f64>,
    emotion_trust: Option<f64>,
    emotion_ekman: Option<&'static str>,
    intent: Option<&'static str>,
    intent_confidence: Option<f64>,
    keyphrases: Vec<String>,
    topics: Vec<String>,
    brand_safety_score: Option<f64>,
    brand_safe: Option<u8>,
    brand_safety_categories: Vec<String>,
}

#[derive(ChRow, Serialize)]
struct AuthorRow<'a> {
    id: String,
    platform: &'a str,
    handle: &'a str,
    name: &'a str,
    followers: Option<u64>,
    following: Option<u64>,
    verified: Option<u8>,
    updated_at: u32,
    updated_at_ms: u64,
}

#[derive(ChRow, Serialize)]
struct KolRow<'a> {
    id: &'a str,
    author_id: &'a str,
    platform: &'a str,
    handle: Option<&'a str>,
    score: f64,
    tier: &'a str,
    followers: Option<u64>,
    posts: Option<u32>,
    factors: String,
    engagement_value: Option<f64>,
    engagement_weight: Option<f64>,
    engagement_effective_weight: Option<f64>,
    engagement_explanation: Option<String>,
    follower_quality_value: Option<f64>,
    follower_quality_weight: Option<f64>,
    follower_quality_effective_weight: Option<f64>,
    follower_quality_explanation: Option<String>,
    content_relevance_value: Option<f64>,
    content_relevance_weight: Option<f64>,
    content_relevance_effective_weight: Option<f64>,
    content_relevance_explanation: Option<String>,
    brand_safety_value: Option<f64>,
    brand_safety_weight: Option<f64>,
    brand_safety_effective_weight: Option<f64>,
    brand_safety_explanation: Option<String>,
    posting_consistency_value: Option<f64>,
    posting_consistency_weight: Option<f64>,
    posting_consistency_effective_weight: Option<f64>,
    posting_consistency_explanation: Option<String>,
    best_brief: Option<String>,
    brief_names: Vec<String>,
    brief_relevance: Vec<f64>,
    computed_at: u32,
    computed_at_ms: u64,
    emitted_at: Option<u32>,
    emitted_at_ms: Option<u64>,
    version: u64,
}

#[derive(ChRow, Serialize)]
struct SheetRow<'a> {
    id: &'a str,
    file_id: &'a str,
    file_name: &'a str,
    sheet: &'a str,
    row_key: &'a str,
    row_number: u64,
    cells: String,
    content_hash: &'a str,
    version: u64,
    ingest_time: u32,
    author_id: Option<String>,
    rate: Option<f64>,
    category: Option<&'a str>,
}

/// Seconds and milliseconds of a time, if ClickHouse `DateTime` can hold it.
fn datetime(t: &chrono::DateTime<chrono::Utc>, field: &str) -> Result<(u32, u64), ComponentError> {
    let ms = u64::try_from(t.timestamp_millis()).ok();
    match (u32::try_from(t.timestamp()), ms) {
        (Ok(seconds), Some(ms)) => Ok((seconds, ms)),
        _ => Err(ComponentError::invalid(format!(
            "clickhouse: {field} {} is outside DateTime (1970-01-01 to 2106-02-07)",
            rfc3339(t)
        ))),
    }
}

fn version(envelope: &Envelope) -> Result<u64, ComponentError> {
    u64::try_from(envelope.version)
        .map_err(|_| ComponentError::invalid(format!("clickhouse: version {} is negative", envelope.version)))
}

/// What the server said, by its `Code: N` (HTTP answers carry it in the text).
fn classify(e: &clickhouse::error::Error) -> ErrorDomain {
    use clickhouse::error::Error;
    match e {
        Error::Network(_) | Error::TimedOut => ErrorDomain::Transient,
        Error::BadResponse(text) => {
            let code = text
                .split("Code: ")
                .nth(1)
                .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
                .and_then(|digits| digits.parse::<u32>().ok());
            match code {
                // Bad values in the data: about the records, not the store.
                Some(6 | 27 | 32 | 33 | 38 | 41 | 53 | 69 | 70 | 72 | 117 | 131 | 321) => ErrorDomain::Invalid,
                // Timeouts, network, memory, too many parts/queries, read-only, unknown insert status, keeper.
                Some(159 | 164 | 202 | 203 | 209 | 210 | 241 | 242 | 252 | 319 | 425 | 999) => ErrorDomain::Transient,
                Some(_) => ErrorDomain::Fatal,
                // No code: a proxy or an overloaded server answering 5xx.
                None => ErrorDomain::Transient,
            }
        }
        _ => ErrorDomain::Fatal,
    }
}

fn ch_error(doing: &str, e: &clickhouse::error::Error) -> ComponentError {
    crate::store_error(classify(e), format!("clickhouse: {doing}: {}", e.to_string().trim()))
}

fn client(config: &ClickhouseConfig) -> Client {
    Client::default()
        .with_url(&config.url)
        .with_user(&config.user)
        .with_password(config.password.expose())
        .with_compression(if config.compression { Compression::Lz4 } else { Compression::None })
        // Row metadata checks need `system` queries 18.x lacks.
        .with_validation(false)
}

/// A database being migrated, in the server's dialect.
pub(super) struct Target {
    client: Client,
    dialect: Dialect,
}

#[async_trait]
impl MigrationTarget for Target {
    async fn applied(&mut self) -> Result<Vec<i64>, ComponentError> {
        applied_versions(&self.client).await
    }

    /// ClickHouse has no transactions: every statement is idempotent (`IF
    /// NOT EXISTS`), so two workers migrating at once do no harm.
    async fn apply(&mut self, migration: &Migration) -> Result<bool, ComponentError> {
        let version = migration.version;
        let failed = |e: clickhouse::error::Error| ch_error(&format!("migration {version}"), &e);
        for statement in statements(migration.script, self.dialect) {
            if let Some(guard) = &statement.guard {
                let runs: u8 = self.client.query(&guard.query()).fetch_one().await.map_err(failed)?;
                if runs == 0 {
                    continue;
                }
            }
            self.client.query(&statement.sql).execute().await.map_err(failed)?;
        }
        self.client
            .query("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, now())")
            .bind(version)
            .bind(migration.name)
            .execute()
            .await
            .map_err(|e| ch_error("recording a migration", &e))?;
        Ok(true)
    }
}

/// The database in the server's dialect; with `create`, the database and
/// `schema_migrations` are created (a sink that may not migrate only reads).
pub(super) async fn target(config: &ClickhouseConfig, create: bool) -> Result<Target, ComponentError> {
    use socialpipe_schemas::SinkConfig;
    config.check().map_err(|e| ComponentError::fatal(format!("clickhouse: {e}")))?;
    let client = client(config);
    let dialect = dialect(&client).await?;
    let db = &config.database;
    if !create {
        return Ok(Target { client: client.with_database(db), dialect });
    }
    client
        .query(&format!("CREATE DATABASE IF NOT EXISTS {db}"))
        .execute()
        .await
        .map_err(|e| ch_error("creating the database", &e))?;
    let client = client.with_database(db);
    client
        .query(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version Int64, name String, applied_at DateTime)
             ENGINE = MergeTree ORDER BY version",
        )
        .execute()
        .await
        .map_err(|e| ch_error("creating schema_migrations", &e))?;
    Ok(Target { client, dialect })
}

impl ClickhouseSink {
    /// Applies pending migrations; returns their versions.
    pub async fn migrate_store(config: &ClickhouseConfig) -> Result<Vec<i64>, ComponentError> {
        migrate(&mut target(config, true).await?, MIGRATIONS).await
    }

    /// Checks the server and the credentials, then migrates or checks the tables.
    pub async fn open(config: &ClickhouseConfig) -> Result<Self, ComponentError> {
        let mut target = target(config, config.migrate_on_start).await?;
        let store = format!("clickhouse: database {}", config.database);
        prepare(&mut target, MIGRATIONS, config.migrate_on_start, &store).await?;
        let timeout = Duration::from_millis(config.request_timeout_ms);
        // An insert dropped at the deadline closes its HTTP connection: the
        // writer needs no `abandon`.
        let write_timeout = Some(Duration::from_millis(config.write_timeout_ms));
        Ok(StoreSink::new(Bisecting(ClickhouseWriter { client: target.client, timeout }), write_timeout))
    }
}

impl ClickhouseWriter {
    async fn insert<T>(&self, table: &str, rows: &[T::Value<'_>]) -> Result<(), clickhouse::error::Error>
    where
        T: clickhouse::RowWrite,
    {
        if rows.is_empty() {
            return Ok(());
        }
        let mut insert = self.client.insert::<T>(table).await?.with_timeouts(Some(self.timeout), Some(self.timeout));
        for row in rows {
            insert.write(row).await?;
        }
        insert.end().await
    }

    /// One INSERT per table.
    async fn insert_all(&self, encoded: &Encoded<'_>) -> Result<(), clickhouse::error::Error> {
        self.insert::<PostRow>("posts", &encoded.posts).await?;
        self.insert::<AuthorRow>("authors", &encoded.authors).await?;
        self.insert::<KolRow>("kol_scores", &encoded.scores).await?;
        self.insert::<SheetRow>("sheet_rows", &encoded.sheets).await?;
        let ledger = self.ledger_rows(&encoded.posts).await?;
        self.insert::<LedgerRow>("post_rollup_log", &ledger).await
    }

    /// The rollups' ledger rows for `posts` (migration 3): for each post
    /// whose version is newer than the one the ledger counts, +1 for it and
    /// the cancelling rows of what was counted. In one INSERT, so the
    /// ledger, and the rollups fed from it, never count a post twice.
    async fn ledger_rows(&self, posts: &[PostRow<'_>]) -> Result<Vec<LedgerRow>, clickhouse::error::Error> {
        let mut newest: HashMap<&str, &PostRow> = HashMap::new();
        for post in posts {
            let slot = newest.entry(post.id).or_insert(post);
            if post.version > slot.version {
                *slot = post;
            }
        }
        if newest.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<&str> = newest.keys().copied().collect();
        let counted: Vec<CountedRow> = self
            .client
            .query(
                "SELECT id, version, toInt8(-sum(sign)) AS cancel, any(created_at) AS created_at, any(platform) AS platform,
                        any(hashtags) AS hashtags, any(brands) AS brands, any(sentiment_label) AS sentiment_label,
                        any(sentiment_compound) AS sentiment_compound, any(emotion) AS emotion, any(intent) AS intent
                 FROM post_rollup_log WHERE id IN (SELECT arrayJoin(?)) GROUP BY id, version HAVING sum(sign) > 0",
            )
            .bind(ids)
            .with_setting("max_execution_time", self.timeout.as_secs().max(1).to_string())
            .fetch_all()
            .await?;
        let mut rows = Vec::new();
        let mut cancels: HashMap<String, Vec<CountedRow>> = HashMap::new();
        for row in counted {
            cancels.entry(row.id.clone()).or_default().push(row);
        }
        for (id, post) in newest {
            let before = cancels.remove(id).unwrap_or_default();
            if before.iter().any(|c| c.version >= post.version) {
                continue;
            }
            rows.extend(before.into_iter().map(LedgerRow::from));
            rows.push(LedgerRow {
                id: post.id.to_owned(),
                version: post.version,
                sign: 1,
                created_at: post.created_at,
                platform: post.platform.to_owned(),
                hashtags: post.hashtags.clone(),
                brands: post.brands.clone(),
                sentiment_label: post.sentiment_label.to_owned(),
                sentiment_compound: post.sentiment_compound.map(f64::from),
                emotion: post.emotion.to_owned(),
                intent: post.intent.unwrap_or("").to_owned(),
            });
        }
        Ok(rows)
    }
}

/// A row of the rollups' ledger, `post_rollup_log`.
#[derive(ChRow, Serialize)]
struct LedgerRow {
    id: String,
    version: u64,
    sign: i8,
    created_at: u32,
    platform: String,
    hashtags: Vec<String>,
    brands: Vec<String>,
    sentiment_label: String,
    sentiment_compound: Option<f64>,
    emotion: String,
    intent: String,
}

/// A version the ledger counts, with the sign that cancels it.
#[derive(ChRow, Deserialize)]
struct CountedRow {
    id: String,
    version: u64,
    cancel: i8,
    created_at: u32,
    platform: String,
    hashtags: Vec<String>,
    brands: Vec<String>,
    sentiment_label: String,
    sentiment_compound: Option<f64>,
    emotion: String,
    intent: String,
}

impl From<CountedRow> for LedgerRow {
    fn from(c: CountedRow) -> Self {
        LedgerRow {
            id: c.id,
            version: c.version,
            sign: c.cancel,
            created_at: c.created_at,
            platform: c.platform,
            hashtags: c.hashtags,
            brands: c.brands,
            sentiment_label: c.sentiment_label,
            sentiment_compound: c.sentiment_compound,
            emotion: c.emotion,
            intent: c.intent,
        }
    }
}

async fn dialect(client: &Client) -> Result<Dialect, ComponentError> {
    let version: String =
        client.query("SELECT version()").fetch_one().await.map_err(|e| ch_error("asking the server's version", &e))?;
    Ok(Dialect::of_version(&version))
}

async fn applied_versions(client: &Client) -> Result<Vec<i64>, ComponentError> {
    client
        .query("SELECT DISTINCT version FROM schema_migrations")
        .fetch_all::<i64>()
        .await
        .or_else(|e| match &e {
            // No database or table yet: nothing applied.
            clickhouse::error::Error::BadResponse(text) if text.contains("Code: 60") || text.contains("Code: 81") => {
                Ok(Vec::new())
            }
            _ => Err(e),
        })
        .map_err(|e| ch_error("reading schema_migrations", &e))
}

/// A batch's rows in RowBinary form, borrowing from the decoded records.
#[derive(Default)]
struct Encoded<'a> {
    posts: Vec<PostRow<'a>>,
    authors: Vec<AuthorRow<'a>>,
    scores: Vec<KolRow<'a>>,
    sheets: Vec<SheetRow<'a>>,
}

fn encode<'a>(record: &'a Record<'a>, out: &mut Encoded<'a>) -> Result<(), ComponentError> {
    match record {
        Record::Post { post, envelope } => {
            let (created_at, created_at_ms) = datetime(&post.created_at, "created_at")?;
            let f = PostFields::of(envelope);
            let model = f.sentiment_model.map(|m| m.map(Some)).unwrap_or_default();
            let emotions = f.emotion_scores.map(|e| e.map(Some)).unwrap_or_default();
            out.posts.push(PostRow {
                id: &envelope.id,
                platform: &post.platform,
                author_id: post.author_id(),
                author_handle: post.author.profile.handle.as_deref().unwrap_or(""),
                author_followers: post.author.profile.followers,
                text: &post.text,
                lang: post.lang.as_deref().unwrap_or(""),
                created_at,
                created_at_ms,
                likes: post.metrics.likes,
                comments: post.metrics.comments,
                shares: post.metrics.shares,
                views: post.metrics.views,
                sentiment_label: f.sentiment_label.unwrap_or(""),
                sentiment_compound: f.sentiment_compound.map(|c| c as f32),
                emotion: f.emotion.unwrap_or(""),
                embedding: embedding(envelope).unwrap_or_default(),
                payload: envelope.payload.get(),
                enrichments: enrichments_json_except_embedding(envelope),
                version: version(envelope)?,
                ingest_time: datetime(&envelope.ingest_time, "ingest_time")?.0,
                language: f.language,
                language_reliable: f.language_reliable.map(u8::from),
                hashtags: f.hashtags,
                mentions: f.mentions,
                brands: f.brands,
                cashtags: f.cashtags,
                urls: f.urls,
                emoji: f.emoji,
                sentiment_label_source: f.sentiment_label_source,
                sentiment_reliable: f.sentiment_reliable.map(u8::from),
                sentiment_neg: f.sentiment_neg,
                sentiment_neu: f.sentiment_neu,
                sentiment_pos: f.sentiment_pos,
                sentiment_model_label: f.sentiment_model_label,
                sentiment_model_negative: model[0],
                sentiment_model_neutral: model[1],
                sentiment_model_positive: model[2],
                emotion_anger: emotions[0],
                emotion_anticipation: emotions[1],
                emotion_disgust: emotions[2],
                emotion_fear: emotions[3],
                emotion_joy: emotions[4],
                emotion_sadness: emotions[5],
                emotion_surprise: emotions[6],
                emotion_trust: emotions[7],
                emotion_ekman: f.emotion_ekman,
                intent: f.intent,
                intent_confidence: f.intent_confidence,
                keyphrases: f.keyphrases,
                topics: f.topics,
                brand_safety_score: f.brand_safety_score,
                brand_safe: f.brand_safe.map(u8::from),
                brand_safety_categories: f.brand_safety_categories,
            });
        }
        Record::Kol { score, envelope } => {
            let (computed_at, computed_at_ms) = datetime(&score.computed_at, "computed_at")?;
            let emitted = datetime(&score.emitted_at, "emitted_at").ok();
            let kol = KolFields::of(score);
            let [engagement, follower_quality, content_relevance, brand_safety, posting_consistency] = kol.factors;
            let (brief_names, brief_relevance) = kol.brief_relevance.into_iter().unzip();
            out.scores.push(KolRow {
                id: &envelope.id,
                author_id: &score.author_id,
                platform: &score.platform,
                handle: score.handle.as_deref(),
                score: score.score,
                tier: &score.tier,
                followers: score.followers,
                posts: Some(score.posts),
                factors: serde_json::to_string(&score.factors).expect("factors always serialise"),
                engagement_value: engagement.value,
                engagement_weight: engagement.weight,
                engagement_effective_weight: engagement.effective_weight,
                engagement_explanation: engagement.explanation,
                follower_quality_value: follower_quality.value,
                follower_quality_weight: follower_quality.weight,
                follower_quality_effective_weight: follower_quality.effective_weight,
                follower_quality_explanation: follower_quality.explanation,
                content_relevance_value: content_relevance.value,
                content_relevance_weight: content_relevance.weight,
                content_relevance_effective_weight: content_relevance.effective_weight,
                content_relevance_explanation: content_relevance.explanation,
                brand_safety_value: brand_safety.value,
                brand_safety_weight: brand_safety.weight,
                brand_safety_effective_weight: brand_safety.effective_weight,
                brand_safety_explanation: brand_safety.explanation,
                posting_consistency_value: posting_consistency.value,
                posting_consistency_weight: posting_consistency.weight,
                posting_consistency_effective_weight: posting_consistency.effective_weight,
                posting_consistency_explanation: posting_consistency.explanation,
                best_brief: kol.best_brief,
                brief_names,
                brief_relevance,
                computed_at,
                computed_at_ms,
                emitted_at: emitted.map(|(seconds, _)| seconds),
                emitted_at_ms: emitted.map(|(_, ms)| ms),
                version: version(envelope)?,
            });
        }
        Record::Sheet { row, envelope } => out.sheets.push(SheetRow {
            id: &envelope.id,
            file_id: &row.file_id,
            file_name: &row.file_name,
            sheet: &row.sheet,
            row_key: &row.row_key,
            row_number: row.row_number,
            cells: serde_json::to_string(&row.cells).expect("cells always serialise"),
            content_hash: &row.content_hash,
            version: version(envelope)?,
            ingest_time: datetime(&envelope.ingest_time, "ingest_time")?.0,
            author_id: row.author.as_ref().map(|a| a.author_id()),
            rate: row.author.as_ref().and_then(|a| a.rate),
            category: row.author.as_ref().and_then(|a| a.category.as_deref()),
        }),
    }
    Ok(())
}

/// Every record of `decoded` must be `storable` (they are refused before).
fn encode_all<'a>(decoded: &'a DecodedBatch<'a>) -> Encoded<'a> {
    let mut encoded = Encoded::default();
    for (_, record) in &decoded.records {
        encode(record, &mut encoded).expect("records that are not storable were refused");
    }
    for (_, post) in decoded.newest_authors() {
        let a = &post.author.profile;
        // Posts with times DateTime cannot hold were refused above.
        let Ok((updated_at, updated_at_ms)) = datetime(&post.created_at, "created_at") else { continue };
        encoded.authors.push(AuthorRow {
            id: post.author_id(),
            platform: &post.platform,
            handle: a.handle.as_deref().unwrap_or(""),
            name: a.name.as_deref().unwrap_or(""),
            followers: a.followers,
            following: a.following,
            verified: post.author.verified.map(u8::from),
            updated_at,
            updated_at_ms,
        });
    }
    encoded
}

#[async_trait]
impl PartWriter for ClickhouseWriter {
    const NAME: &'static str = "clickhouse";

    /// Times DateTime can hold, a non-negative version.
    fn storable(&self, record: &Record) -> Result<(), ComponentError> {
        let envelope = record.envelope();
        version(envelope)?;
        datetime(&envelope.ingest_time, "ingest_time")?;
        match record {
            Record::Post { post, .. } => datetime(&post.created_at, "created_at").map(drop),
            Record::Kol { score, .. } => datetime(&score.computed_at, "computed_at").map(drop),
            Record::Sheet { .. } => Ok(()),
        }
    }

    /// Rows inserted twice while a refused record is looked for fold away (ReplacingMergeTree).
    async fn write_part(&mut self, part: &DecodedBatch<'_>) -> Result<(), PartError> {
        let encoded = encode_all(part);
        match self.insert_all(&encoded).await {
            Ok(()) => Ok(()),
            Err(e) if classify(&e) == ErrorDomain::Invalid => {
                Err(PartError::Refused(format!("clickhouse: {}", e.to_string().trim())))
            }
            Err(e) => Err(PartError::Failed(ch_error("inserting a batch", &e))),
        }
    }
}
