//! Encoding envelopes into rows, then writing a batch in one transaction.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, ErrorCode, Transaction, params};
use socialpipe_schemas::{AuthorSnapshot, ComponentError, Envelope, ErrorDomain, PostPayload, Sink, SinkReport};

use super::{SqliteConfig, migrate};
use crate::rows::{Decoded, Row, embedding, enrichments_json_except_embedding, rfc3339};

pub struct SqliteSink {
    conn: Arc<Mutex<Connection>>,
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

fn sink_error(e: &rusqlite::Error) -> ComponentError {
    crate::store_error(classify(e), format!("sqlite: {e}"))
}

fn create_parent(config: &SqliteConfig) -> Result<(), ComponentError> {
    if let Some(dir) = config.path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| ComponentError::fatal(format!("sqlite: cannot create {}: {e}", dir.display())))?;
    }
    Ok(())
}

impl SqliteSink {
    /// Applies pending migrations (as `open` does); returns their versions.
    pub fn migrate_store(config: &SqliteConfig) -> Result<Vec<i64>, ComponentError> {
        create_parent(config)?;
        let mut conn = Connection::open(&config.path).map_err(|e| sink_error(&e))?;
        conn.busy_timeout(Duration::from_millis(config.busy_timeout_ms)).map_err(|e| sink_error(&e))?;
        migrate(&mut conn).map_err(|e| sink_error(&e))
    }

    pub fn open(config: &SqliteConfig) -> Result<Self, ComponentError> {
        create_parent(config)?;
        let open = || -> rusqlite::Result<Connection> {
            let mut conn = Connection::open(&config.path)?;
            conn.busy_timeout(Duration::from_millis(config.busy_timeout_ms))?;
            conn.pragma_update(None, "journal_mode", "WAL")?;
            conn.pragma_update(None, "synchronous", config.synchronous.pragma())?;
            conn.pragma_update(None, "cache_size", -1024 * i64::from(config.cache_mib))?;
            migrate(&mut conn)?;
            Ok(conn)
        };
        // A busy or locked database may free up: the runner retries those.
        let conn = open().map_err(|e| ComponentError {
            domain: sink_error(&e).domain,
            reason: format!("sqlite: cannot open {}: {e}", config.path.display()),
        })?;
        Ok(SqliteSink { conn: Arc::new(Mutex::new(conn)) })
    }
}

/// The author snapshot of the newest post (by event time); written once per
/// author and batch, not once per post.
fn write_author(tx: &Transaction<'_>, post: &PostPayload) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO authors (id, platform, handle, name, followers, following, verified, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
         ON CONFLICT (id) DO UPDATE SET
           handle = coalesce(excluded.handle, authors.handle), name = coalesce(excluded.name, authors.name),
           followers = coalesce(excluded.followers, authors.followers), following = coalesce(excluded.following, authors.following),
           verified = coalesce(excluded.verified, authors.verified), updated_at = excluded.updated_at
         WHERE excluded.updated_at >= authors.updated_at",
    )?
    .execute(params![
        post.author_id(),
        post.platform,
        post.author.handle,
        post.author.name,
        post.author.followers,
        post.author.following,
        post.author.verified,
        rfc3339(&post.created_at),
    ])?;
    Ok(())
}

/// A roster's author snapshot, as of the roster file's time: what it says
/// replaces what older posts said; rate and category only rosters give.
fn write_roster_author(tx: &Transaction<'_>, author: &AuthorSnapshot, at: &DateTime<Utc>) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO authors (id, platform, handle, name, followers, following, rate, category, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
         ON CONFLICT (id) DO UPDATE SET
           handle = coalesce(excluded.handle, authors.handle), name = coalesce(excluded.name, authors.name),
           followers = CASE WHEN excluded.updated_at >= authors.updated_at THEN coalesce(excluded.followers, authors.followers) ELSE authors.followers END,
           following = CASE WHEN excluded.updated_at >= authors.updated_at THEN coalesce(excluded.following, authors.following) ELSE authors.following END,
           rate = coalesce(excluded.rate, authors.rate), category = coalesce(excluded.category, authors.category),
           updated_at = max(excluded.updated_at, authors.updated_at)",
    )?
    .execute(params![
        author.author_id(),
        author.platform,
        author.handle,
        author.name,
        author.followers,
        author.following,
        author.rate,
        author.category,
        rfc3339(at),
    ])?;
    Ok(())
}

fn write_row(tx: &Transaction<'_>, row: &Row) -> rusqlite::Result<()> {
    match row {
        Row::Post { post, envelope } => {
            let enrichments = enrichments_json_except_embedding(envelope);
            // Little-endian f32, as docs/record-schema.md documents.
            let vector: Option<Vec<u8>> = embedding(envelope).map(|v| v.iter().flat_map(|x| x.to_le_bytes()).collect());
            let payload = envelope.payload.get();
            let author_id = post.author_id();
            tx.prepare_cached(
                "INSERT INTO posts (id, platform, author_id, text, created_at, likes, comments, shares, views, lang, url, payload, enrichments, version, ingest_time, embedding)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)
                 ON CONFLICT (id) DO UPDATE SET
                   platform = excluded.platform, author_id = excluded.author_id, text = excluded.text, created_at = excluded.created_at,
                   likes = excluded.likes, comments = excluded.comments, shares = excluded.shares, views = excluded.views,
                   lang = excluded.lang, url = excluded.url, payload = excluded.payload, enrichments = excluded.enrichments,
                   version = excluded.version, ingest_time = excluded.ingest_time, embedding = excluded.embedding,
                   deliveries = posts.deliveries + 1
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
            ])?;
        }
        Row::Sheet { row, envelope } => {
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
                row.author.as_ref().map(AuthorSnapshot::author_id),
            ])?;
            if let Some(author) = &row.author {
                write_roster_author(tx, author, &envelope.event_time)?;
            }
        }
        Row::Kol { score, envelope } => {
            tx.prepare_cached(
                "INSERT INTO kol_scores (id, author_id, platform, handle, score, tier, followers, posts, factors,
                   computed_at, emitted_at, version)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
                 ON CONFLICT (id) DO UPDATE SET
                   author_id = excluded.author_id, platform = excluded.platform, handle = excluded.handle,
                   score = excluded.score, tier = excluded.tier, followers = excluded.followers, posts = excluded.posts,
                   factors = excluded.factors, computed_at = excluded.computed_at, emitted_at = excluded.emitted_at,
                   version = excluded.version
                 WHERE excluded.version >= kol_scores.version",
            )?
            .execute(params![
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
            ])?;
        }
    }
    Ok(())
}

#[async_trait]
impl Sink for SqliteSink {
    async fn write(&mut self, batch: &[Envelope]) -> Result<SinkReport, ComponentError> {
        let batch = batch.to_vec();
        let conn = Arc::clone(&self.conn);
        tokio::task::spawn_blocking(move || -> Result<SinkReport, ComponentError> {
            let mut decoded = Decoded::batch(&batch, "sqlite");
            // In id order the upserts touch neighbouring index pages (a stable
            // sort keeps repeated ids in batch order).
            decoded.rows.sort_by(|(_, a), (_, b)| a.envelope().id.cmp(&b.envelope().id));
            let mut conn = conn.lock().expect("sqlite connection lock");
            let tx =
                conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).map_err(|e| sink_error(&e))?;
            let mut refused = Vec::new();
            for (index, row) in &decoded.rows {
                match write_row(&tx, row) {
                    Ok(()) => {}
                    // A row the database refuses for good goes to the DLQ; the rest commits.
                    Err(e) if classify(&e) == ErrorDomain::Invalid => {
                        refused.push((*index, ComponentError::invalid(format!("sqlite: {e}"))))
                    }
                    Err(e) => return Err(sink_error(&e)),
                }
            }
            for (index, error) in refused {
                decoded.reject(index, error);
            }
            for (_, post) in decoded.newest_authors() {
                write_author(&tx, post).map_err(|e| sink_error(&e))?;
            }
            tx.commit().map_err(|e| sink_error(&e))?;
            Ok(decoded.into_report())
        })
        .await
        .map_err(|e| ComponentError::fatal(format!("sqlite writer panicked: {e}")))?
    }
}
