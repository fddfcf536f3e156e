//! Encoding records into rows, writing a batch in one transaction, and
//! reading the latest KOL scores back.

use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{Connection, ErrorCode, OpenFlags, Transaction, params};
use socialpipe_schemas::enrichment::Topics;
use socialpipe_schemas::{AuthorRef, ComponentError, ErrorDomain, KolScoreRecord};

use super::schema::{MIGRATIONS, Target};
use super::SqliteConfig;
use crate::analyst::KolFields;
use crate::batch::{AuthorUpdate, DecodedBatch, Record, embedding, enrichments_json_except_embedding, rfc3339};
use crate::fit::counts_fit_i64;
use crate::migrations::migrate;
use crate::store::{StoreSink, StoreWriter};

pub type SqliteSink = StoreSink<SqliteWriter>;

pub struct SqliteWriter {
    conn: Connection,
}

fn classify(e: &rusqlite::Error) -> ErrorDomain {
    match e.sqlite_error_code() {
        Some(ErrorCode::ConstraintViolation | ErrorCode::TooBig | ErrorCode::TypeMismatch) => ErrorDomain::Invalid,
        Some(
            ErrorCode::DatabaseBusy
            | ErrorCode::DatabaseLocked
            | ErrorCode::DiskFull
            | ErrorCode::SystemIoFailure
            | ErrorCode::OutOfMemory,
        ) => ErrorDomain::Transient,
        _ => ErrorDomain::Fatal,
    }
}

pub(super) fn sink_error(e: &rusqlite::Error) -> ComponentError {
    crate::store_error(classify(e), format!("sqlite: {e}"))
}

fn create_parent(config: &SqliteConfig) -> Result<(), ComponentError> {
    if let Some(dir) = config.path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| ComponentError::fatal(format!("sqlite: cannot create {}: {e}", dir.display())))?;
    }
    Ok(())
}

/// Runs blocking database work in place of an async worker thread (the
/// multi-threaded runtime moves its other tasks meanwhile), or inline on a
/// single-threaded runtime. A panic in it stops the sink (fatal) rather
/// than unwinding through the runner's task; the open transaction rolls back.
fn blocking<T>(work: impl FnOnce() -> Result<T, ComponentError>) -> Result<T, ComponentError> {
    use tokio::runtime::{Handle, RuntimeFlavor};
    let guarded = || {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(work)).unwrap_or_else(|panic| {
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            Err(ComponentError::fatal(format!("sqlite writer panicked: {message}")))
        })
    };
    match Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(RuntimeFlavor::MultiThread) => tokio::task::block_in_place(guarded),
        _ => guarded(),
    }
}

impl SqliteSink {
    /// Applies pending migrations (as `open` does); returns their versions.
    pub async fn migrate_store(config: &SqliteConfig) -> Result<Vec<i64>, ComponentError> {
        create_parent(config)?;
        let mut conn = Connection::open(&config.path).map_err(|e| sink_error(&e))?;
        conn.busy_timeout(Duration::from_millis(config.busy_timeout_ms)).map_err(|e| sink_error(&e))?;
        migrate(&mut Target(&mut conn), MIGRATIONS).await
    }

    pub async fn open(config: &SqliteConfig) -> Result<Self, ComponentError> {
        create_parent(config)?;
        let connect = || -> rusqlite::Result<Connection> {
            let conn = Connection::open(&config.path)?;
            conn.busy_timeout(Duration::from_millis(config.busy_timeout_ms))?;
            conn.pragma_update(None, "journal_mode", "WAL")?;
            conn.pragma_update(None, "synchronous", config.synchronous.pragma())?;
            conn.pragma_update(None, "cache_size", -1024 * i64::from(config.cache_mib))?;
            Ok(conn)
        };
        // A busy or locked database may free up: the runner retries those.
        let unusable = |e: &rusqlite::Error| ComponentError {
            domain: sink_error(e).domain,
            reason: format!("sqlite: cannot open {}: {e}", config.path.display()),
        };
        let mut conn = connect().map_err(|e| unusable(&e))?;
        migrate(&mut Target(&mut conn), MIGRATIONS).await?;
        // No write deadline: a write blocks its thread, which a timer cannot
        // interrupt; `busy_timeout_ms` bounds its waits for other writers.
        Ok(StoreSink::new(SqliteWriter { conn }, None))
    }
}

/// What an author's row learns: a record newer than the row replaces each
/// field it knows, an older one changes nothing (as in PostgreSQL); rate and
/// category only rosters give, and the last one written wins.
fn write_author(tx: &Transaction<'_>, author: &AuthorUpdate) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO authors (id, platform, handle, name, followers, following, verified, rate, category, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
         ON CONFLICT (id) DO UPDATE SET
           handle = CASE WHEN excluded.updated_at >= authors.updated_at THEN coalesce(excluded.handle, authors.handle) ELSE authors.handle END,
           name = CASE WHEN excluded.updated_at >= authors.updated_at THEN coalesce(excluded.name, authors.name) ELSE authors.name END,
           followers = CASE WHEN excluded.updated_at >= authors.updated_at THEN coalesce(excluded.followers, authors.followers) ELSE authors.followers END,
           following = CASE WHEN excluded.updated_at >= authors.updated_at THEN coalesce(excluded.following, authors.following) ELSE authors.following END,
           verified = CASE WHEN excluded.updated_at >= authors.updated_at THEN coalesce(excluded.verified, authors.verified) ELSE authors.verified END,
           rate = coalesce(excluded.rate, authors.rate), category = coalesce(excluded.category, authors.category),
           updated_at = max(excluded.updated_at, authors.updated_at)
         WHERE excluded.updated_at >= authors.updated_at OR excluded.rate IS NOT NULL OR excluded.category IS NOT NULL",
    )?
    .execute(params![
        author.id,
        author.platform,
        author.profile.handle,
        author.profile.name,
        author.profile.followers,
        author.profile.following,
        author.verified,
        author.rate,
        author.category,
        rfc3339(&author.at),
    ])?;
    Ok(())
}

fn write_record(tx: &Transaction<'_>, record: &Record) -> rusqlite::Result<()> {
    match record {
        Record::Post { post, envelope } => {
            let enrichments = enrichments_json_except_embedding(envelope);
            // Little-endian f32, as docs/record-schema.md documents.
            let vector: Option<Vec<u8>> = embedding(envelope).map(|v| v.iter().flat_map(|x| x.to_le_bytes()).collect());
            let payload = envelope.payload.get();
            let author_id = post.author_id();
            let keyphrases = envelope
                .enrichment::<Topics>()
                .map(|t| serde_json::to_string(&t.keywords.iter().map(|k| &k.phrase).collect::<Vec<_>>()).expect("json"));
            tx.prepare_cached(
                "INSERT INTO posts (id, platform, author_id, text, created_at, likes, comments, shares, views, lang, url, payload, enrichments, version, ingest_time, embedding, keyphrases)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)
                 ON CONFLICT (id) DO UPDATE SET
                   platform = excluded.platform, author_id = excluded.author_id, text = excluded.text, created_at = excluded.created_at,
                   likes = excluded.likes, comments = excluded.comments, shares = excluded.shares, views = excluded.views,
                   lang = excluded.lang, url = excluded.url, payload = excluded.payload, enrichments = excluded.enrichments,
                   version = excluded.version, ingest_time = excluded.ingest_time, embedding = excluded.embedding,
                   keyphrases = excluded.keyphrases, deliveries = posts.deliveries + 1
                 WHERE excluded.version >= posts.version",
            )?
            .execute(params![
                envelope.id,
                post.platform,
                author_id,
                post.text,
                rfc3339(&post.created_at),
                post.metrics.likes,
                post.metrics.comments,
                post.metrics.shares,
                post.metrics.views,
                post.lang,
                post.url,
                payload,
                enrichments,
                envelope.version,
                rfc3339(&envelope.ingest_time),
                vector,
                keyphrases,
            ])?;
        }
        Record::Sheet { row, envelope } => {
            tx.prepare_cached(
                "INSERT INTO sheet_rows (id, file_id, file_name, sheet, row_key, row_number, cells, content_hash, version, ingest_time, author_id)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
                 ON CONFLICT (id) DO UPDATE SET
                   file_id = excluded.file_id, file_name = excluded.file_name, sheet = excluded.sheet, row_key = excluded.row_key,
                   row_number = excluded.row_number, cells = excluded.cells, content_hash = excluded.content_hash,
                   version = excluded.version, ingest_time = excluded.ingest_time, author_id = excluded.author_id
                 WHERE excluded.version >= sheet_rows.version",
            )?
            .execute(params![
                envelope.id,
                row.file_id,
                row.file_name,
                row.sheet,
                row.row_key,
                row.row_number,
                serde_json::to_string(&row.cells).expect("json"),
                row.content_hash,
                envelope.version,
                rfc3339(&envelope.ingest_time),
                row.author.as_ref().map(|a| a.author_id()),
            ])?;
        }
        Record::Kol { score, envelope } => {
            let kol = KolFields::of(score);
            let mut factors: Vec<&dyn rusqlite::ToSql> = Vec::new();
            for f in &kol.factors {
                factors.extend([&f.value as &dyn rusqlite::ToSql, &f.weight, &f.effective_weight, &f.explanation]);
            }
            let brief_relevance = (!kol.brief_relevance.is_empty()).then(|| {
                let map: serde_json::Map<String, serde_json::Value> =
                    kol.brief_relevance.iter().map(|(name, v)| (name.clone(), (*v).into())).collect();
                serde_json::Value::Object(map).to_string()
            });
            factors.extend([&kol.best_brief as &dyn rusqlite::ToSql, &brief_relevance]);
            tx.prepare_cached(
                "INSERT INTO kol_scores (id, author_id, platform, handle, score, tier, followers, posts, factors,
                   computed_at, emitted_at, version, engagement_value, engagement_weight, engagement_effective_weight, engagement_explanation, follower_quality_value, follower_quality_weight, follower_quality_effective_weight, follower_quality_explanation, content_relevance_value, content_relevance_weight, content_relevance_effective_weight, content_relevance_explanation, brand_safety_value, brand_safety_weight, brand_safety_effective_weight, brand_safety_explanation, posting_consistency_value, posting_consistency_weight, posting_consistency_effective_weight, posting_consistency_explanation, best_brief, brief_relevance)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28, ?29, ?30, ?31, ?32, ?33, ?34)
                 ON CONFLICT (id) DO UPDATE SET
                   author_id = excluded.author_id, platform = excluded.platform, handle = excluded.handle,
                   score = excluded.score, tier = excluded.tier, followers = excluded.followers, posts = excluded.posts,
                   factors = excluded.factors, computed_at = excluded.computed_at, emitted_at = excluded.emitted_at,
                   version = excluded.version, engagement_value = excluded.engagement_value, engagement_weight = excluded.engagement_weight, engagement_effective_weight = excluded.engagement_effective_weight, engagement_explanation = excluded.engagement_explanation, follower_quality_value = excluded.follower_quality_value, follower_quality_weight = excluded.follower_quality_weight, follower_quality_effective_weight = excluded.follower_quality_effective_weight, follower_quality_explanation = excluded.follower_quality_explanation, content_relevance_value = excluded.content_relevance_value, content_relevance_weight = excluded.content_relevance_weight, content_relevance_effective_weight = excluded.content_relevance_effective_weight, content_relevance_explanation = excluded.content_relevance_explanation, brand_safety_value = excluded.brand_safety_value, brand_safety_weight = excluded.brand_safety_weight, brand_safety_effective_weight = excluded.brand_safety_effective_weight, brand_safety_explanation = excluded.brand_safety_explanation, posting_consistency_value = excluded.posting_consistency_value, posting_consistency_weight = excluded.posting_consistency_weight, posting_consistency_effective_weight = excluded.posting_consistency_effective_weight, posting_consistency_explanation = excluded.posting_consistency_explanation,
                   best_brief = excluded.best_brief, brief_relevance = excluded.brief_relevance
                 WHERE excluded.version >= kol_scores.version",
            )?
            .execute(rusqlite::params_from_iter(
                params![
                envelope.id,
                score.author_id,
                score.platform,
                score.handle,
                score.score,
                score.tier,
                score.followers,
                score.posts,
                serde_json::to_string(&score.factors).expect("json"),
                rfc3339(&score.computed_at),
                rfc3339(&score.emitted_at),
                envelope.version,
                ]
                .iter()
                .copied()
                .chain(factors),
            ))?;
        }
    }
    Ok(())
}

#[async_trait]
impl StoreWriter for SqliteWriter {
    const NAME: &'static str = "sqlite";

    /// SQLite's integers are signed 64-bit.
    fn storable(&self, record: &Record) -> Result<(), ComponentError> {
        counts_fit_i64(record)
    }

    async fn write(&mut self, batch: &mut DecodedBatch<'_>) -> Result<(), ComponentError> {
        blocking(|| {
            // In id order the upserts touch neighbouring index pages (a stable
            // sort keeps repeated ids in batch order).
            batch.records.sort_by(|(_, a), (_, b)| a.envelope().id.cmp(&b.envelope().id));
            let tx = self
                .conn
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map_err(|e| sink_error(&e))?;
            let mut refused = Vec::new();
            for (index, record) in &batch.records {
                match write_record(&tx, record) {
                    Ok(()) => {}
                    // A record the database refuses for good goes to the DLQ; the rest commits.
                    Err(e) if classify(&e) == ErrorDomain::Invalid => {
                        refused.push((*index, ComponentError::invalid(format!("sqlite: {e}"))))
                    }
                    Err(e) => return Err(sink_error(&e)),
                }
            }
            for (index, error) in refused {
                batch.reject(index, error);
            }
            for author in batch.author_updates() {
                write_author(&tx, &author).map_err(|e| sink_error(&e))?;
            }
            tx.commit().map_err(|e| sink_error(&e))
        })
    }
}

/// The author's newest score from `kol_latest`.
pub(super) fn latest_kol_score(path: &Path, author: &AuthorRef) -> Result<Option<KolScoreRecord>, ComponentError> {
    let unreadable = |e: &dyn std::fmt::Display| ComponentError::fatal(format!("sqlite: {}: {e}", path.display()));
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(|e| unreadable(&e))?;
    let (filter, a, b) = match author {
        AuthorRef::Id(id) => ("author_id = ?1 AND ?2 = ''", id.clone(), String::new()),
        AuthorRef::Handle { platform, handle } => {
            ("platform = ?1 AND lower(handle) = lower(?2)", platform.clone(), handle.clone())
        }
    };
    let sql = format!(
        "SELECT author_id, platform, handle, score, tier, followers, posts, factors, computed_at, emitted_at
         FROM kol_latest WHERE {filter} ORDER BY computed_at DESC LIMIT 1"
    );
    let row = conn.query_row(&sql, [a, b], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, Option<String>>(2)?,
            r.get::<_, f64>(3)?,
            r.get::<_, String>(4)?,
            r.get::<_, Option<u64>>(5)?,
            r.get::<_, Option<u32>>(6)?,
            r.get::<_, String>(7)?,
            r.get::<_, String>(8)?,
            r.get::<_, Option<String>>(9)?,
        ))
    });
    let row = match row {
        Ok(row) => row,
        Err(rusqlite::Error::QueryReturnedNoRows) => return Ok(None),
        Err(e) => return Err(unreadable(&e)),
    };
    let (author_id, platform, handle, score, tier, followers, posts, factors, computed_at, emitted_at) = row;
    let time = |t: &str| chrono::DateTime::parse_from_rfc3339(t).map(|t| t.to_utc());
    let bad = |e: &dyn std::fmt::Display| unreadable(&format!("kol_latest of {author_id}: {e}"));
    Ok(Some(KolScoreRecord {
        author_id: author_id.clone(),
        platform,
        handle,
        score,
        tier,
        followers,
        posts: posts.unwrap_or(0),
        factors: serde_json::from_str(&factors).map_err(|e| bad(&e))?,
        computed_at: time(&computed_at).map_err(|e| bad(&e))?,
        emitted_at: time(emitted_at.as_deref().unwrap_or(&computed_at)).map_err(|e| bad(&e))?,
    }))
}
