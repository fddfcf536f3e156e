//! Connecting, classifying errors, and writing a batch in one transaction.

use std::time::Duration;

use async_trait::async_trait;
use futures_util::pin_mut;
use socialpipe_schemas::enrichment::Entities;
use socialpipe_schemas::{ComponentError, Envelope, ErrorDomain, PostPayload};
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{Json, ToSql, Type};
use tokio_postgres::{Client, NoTls, Transaction};

use super::PostgresConfig;
use super::schema::{MIGRATIONS, Target};
use crate::batch::{AuthorUpdate, DecodedBatch, Record, embedding, enrichments_json_except_embedding};
use crate::fit::{as_i64, counts_fit_i64};
use crate::migrations::{migrate, prepare};
use crate::store::{StoreSink, StoreWriter};

pub type PostgresSink = StoreSink<PostgresWriter>;

pub struct PostgresWriter {
    config: PostgresConfig,
    /// None after a connection error: the next write reconnects.
    client: Option<Client>,
}

/// How an error from the server or the connection is handled.
fn classify(e: &tokio_postgres::Error) -> ErrorDomain {
    let Some(code) = e.code() else {
        // No SQLSTATE: the connection broke, timed out or was refused.
        return ErrorDomain::Transient;
    };
    let class = &code.code()[..2];
    match class {
        // Data exceptions, integrity constraints, program limits (row too big):
        // about this record, not the store.
        "22" | "23" | "54" => ErrorDomain::Invalid,
        // Connection, resources, operator intervention, serialization/deadlock.
        "08" | "53" | "57" | "40" | "58" => ErrorDomain::Transient,
        _ => ErrorDomain::Fatal,
    }
}

/// The server's full message (`Display` of the error alone says only "db error").
fn describe(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => {
            let mut text = format!("{}: {} (SQLSTATE {})", db.severity(), db.message(), db.code().code());
            if let Some(detail) = db.detail() {
                text.push_str(&format!("; {detail}"));
            }
            text
        }
        None => e.to_string(),
    }
}

pub(super) fn pg_error(doing: &str, e: &tokio_postgres::Error) -> ComponentError {
    crate::store_error(classify(e), format!("postgres: {doing}: {}", describe(e)))
}

async fn connect(config: &PostgresConfig) -> Result<Client, ComponentError> {
    use socialpipe_schemas::SinkConfig;
    config.check().map_err(|e| ComponentError::fatal(format!("postgres: {e}")))?;
    let mut pg: tokio_postgres::Config =
        config.url.expose().parse().map_err(|e| ComponentError::fatal(format!("postgres: url: {e}")))?;
    pg.connect_timeout(Duration::from_millis(config.connect_timeout_ms));
    pg.application_name("socialpipe");
    let (client, connection) = pg.connect(NoTls).await.map_err(|e| pg_error("connecting", &e))?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::warn!(error = %e, "postgres connection closed");
        }
    });
    let schema = &config.schema;
    client
        .batch_execute(&format!(
            "SET search_path TO \"{schema}\";
             SET statement_timeout = {};",
            config.statement_timeout_ms
        ))
        .await
        .map_err(|e| pg_error("setting up the session", &e))?;
    Ok(client)
}

impl PostgresSink {
    /// Applies pending migrations; returns their versions.
    pub async fn migrate_store(config: &PostgresConfig) -> Result<Vec<i64>, ComponentError> {
        let mut client = connect(config).await?;
        migrate(&mut Target { client: &mut client, schema: &config.schema }, MIGRATIONS).await
    }

    /// Connects, applies or checks the migrations, and prepares staging.
    pub async fn open(config: &PostgresConfig) -> Result<Self, ComponentError> {
        let mut client = connect(config).await?;
        let store = format!("postgres: schema {}", config.schema);
        let mut target = Target { client: &mut client, schema: &config.schema };
        prepare(&mut target, MIGRATIONS, config.migrate_on_start, &store).await?;
        create_staging(&client).await?;
        let write_timeout = Some(Duration::from_millis(config.write_timeout_ms));
        Ok(StoreSink::new(PostgresWriter { config: config.clone(), client: Some(client) }, write_timeout))
    }
}

impl PostgresWriter {
    async fn client(&mut self) -> Result<&mut Client, ComponentError> {
        if self.client.as_ref().is_none_or(Client::is_closed) {
            let client = connect(&self.config).await?;
            create_staging(&client).await?;
            self.client = Some(client);
        }
        Ok(self.client.as_mut().expect("connected"))
    }
}

/// Staging tables live as long as the session; ON COMMIT DELETE ROWS keeps
/// them empty between batches.
async fn create_staging(client: &Client) -> Result<(), ComponentError> {
    client
        .batch_execute(
            "CREATE TEMP TABLE IF NOT EXISTS staging_posts (LIKE posts INCLUDING DEFAULTS) ON COMMIT DELETE ROWS;
             CREATE TEMP TABLE IF NOT EXISTS staging_authors (LIKE authors) ON COMMIT DELETE ROWS;
             CREATE TEMP TABLE IF NOT EXISTS staging_sheet_rows (LIKE sheet_rows) ON COMMIT DELETE ROWS;
             CREATE TEMP TABLE IF NOT EXISTS staging_kol_scores (LIKE kol_scores) ON COMMIT DELETE ROWS;",
        )
        .await
        .map_err(|e| pg_error("creating staging tables", &e))
}

const POST_COLUMNS: &str = "id, platform, author_id, text, created_at, likes, comments, shares, views, lang, url, hashtags, mentions, embedding, payload, enrichments, version, ingest_time";
const POST_TYPES: &[Type] = &[
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TIMESTAMPTZ,
    Type::INT8,
    Type::INT8,
    Type::INT8,
    Type::INT8,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT_ARRAY,
    Type::TEXT_ARRAY,
    Type::FLOAT4_ARRAY,
    Type::JSONB,
    Type::JSONB,
    Type::INT8,
    Type::TIMESTAMPTZ,
];
const AUTHOR_COLUMNS: &str = "id, platform, handle, name, followers, following, verified, rate, category, updated_at";
const AUTHOR_TYPES: &[Type] = &[
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::INT8,
    Type::INT8,
    Type::BOOL,
    Type::FLOAT8,
    Type::TEXT,
    Type::TIMESTAMPTZ,
];
const SHEET_COLUMNS: &str =
    "id, file_id, file_name, sheet, row_key, row_number, cells, content_hash, version, ingest_time, author_id";
const SHEET_TYPES: &[Type] = &[
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::INT8,
    Type::JSONB,
    Type::TEXT,
    Type::INT8,
    Type::TIMESTAMPTZ,
    Type::TEXT,
];
const KOL_COLUMNS: &str =
    "id, author_id, platform, handle, score, tier, followers, posts, factors, computed_at, emitted_at, version";
const KOL_TYPES: &[Type] = &[
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::FLOAT8,
    Type::TEXT,
    Type::INT8,
    Type::INT4,
    Type::JSONB,
    Type::TIMESTAMPTZ,
    Type::TIMESTAMPTZ,
    Type::INT8,
];

/// Moves the staged rows into `table`: one row per id (the highest version),
/// upserted where it is at least as new as the stored one.
fn upsert_from_staging(table: &str, columns: &str, newer: &str, extra_update: &str) -> String {
    let updates: Vec<String> =
        columns.split(", ").filter(|c| *c != "id").map(|c| format!("{c} = excluded.{c}")).collect();
    format!(
        "WITH moved AS (DELETE FROM staging_{table} RETURNING *)
         INSERT INTO {table} ({columns})
         SELECT DISTINCT ON (id) {columns} FROM moved ORDER BY id, {newer} DESC
         ON CONFLICT (id) DO UPDATE SET {}{extra_update}
         WHERE excluded.{newer} >= {table}.{newer}",
        updates.join(", ")
    )
}

/// COPYs `rows` (each a list of values in `types` order) into a staging table
/// and upserts them; nothing is sent for an empty list.
async fn copy_upsert(
    tx: &Transaction<'_>,
    table: &str,
    columns: &str,
    types: &[Type],
    rows: Vec<Vec<Box<dyn ToSql + Sync + Send + '_>>>,
    upsert: &str,
) -> Result<(), tokio_postgres::Error> {
    if rows.is_empty() {
        return Ok(());
    }
    let sink = tx.copy_in(&format!("COPY staging_{table} ({columns}) FROM STDIN BINARY")).await?;
    let writer = BinaryCopyInWriter::new(sink, types);
    pin_mut!(writer);
    for row in &rows {
        let values: Vec<&(dyn ToSql + Sync)> = row.iter().map(|v| v.as_ref() as &(dyn ToSql + Sync)).collect();
        writer.as_mut().write(&values).await?;
    }
    writer.finish().await?;
    tx.execute(upsert, &[]).await?;
    Ok(())
}

type Values<'a> = Vec<Box<dyn ToSql + Sync + Send + 'a>>;

fn post_values<'a>(post: &'a PostPayload, envelope: &'a Envelope) -> Values<'a> {
    let count = |v: Option<u64>| v.map(as_i64);
    let m = &post.metrics;
    let entities = envelope.enrichment::<Entities>().unwrap_or_default();
    vec![
        Box::new(envelope.id.as_str()),
        Box::new(post.platform.as_str()),
        Box::new(post.author_id()),
        Box::new(post.text.as_str()),
        Box::new(post.created_at),
        Box::new(count(m.likes)),
        Box::new(count(m.comments)),
        Box::new(count(m.shares)),
        Box::new(count(m.views)),
        Box::new(post.lang.as_deref()),
        Box::new(post.url.as_deref()),
        Box::new(entities.hashtags),
        Box::new(entities.mentions),
        Box::new(embedding(envelope)),
        Box::new(Json(envelope.payload.as_ref())),
        Box::new(Json(
            serde_json::value::RawValue::from_string(enrichments_json_except_embedding(envelope)).expect("JSON text"),
        )),
        Box::new(envelope.version),
        Box::new(envelope.ingest_time),
    ]
}

fn author_values<'a>(author: &AuthorUpdate<'a>) -> Values<'a> {
    let count = |v: Option<u64>| v.map(as_i64);
    let a = author.profile;
    vec![
        Box::new(author.id.clone()),
        Box::new(author.platform),
        Box::new(a.handle.as_deref()),
        Box::new(a.name.as_deref()),
        Box::new(count(a.followers)),
        Box::new(count(a.following)),
        Box::new(author.verified),
        Box::new(author.rate),
        Box::new(author.category),
        Box::new(author.at),
    ]
}

/// Writes `decoded` in `tx`: every table's rows staged and upserted.
async fn write_records(tx: &Transaction<'_>, decoded: &DecodedBatch<'_>) -> Result<(), tokio_postgres::Error> {
    let posts: Vec<Values> = decoded.posts().map(|(post, envelope)| post_values(post, envelope)).collect();
    let post_upsert = upsert_from_staging("posts", POST_COLUMNS, "version", ", deliveries = posts.deliveries + 1");
    copy_upsert(tx, "posts", POST_COLUMNS, POST_TYPES, posts, &post_upsert).await?;

    let updates = decoded.authors_by(|a| a.id.clone());
    let authors: Vec<Values> = updates.iter().map(author_values).collect();
    // As in SQLite: a newer update replaces each field it knows, an older one
    // changes none of them; rate and category only rosters give, and the
    // last one written wins.
    let author_upsert = format!(
        "WITH moved AS (DELETE FROM staging_authors RETURNING *)
         INSERT INTO authors ({AUTHOR_COLUMNS}) SELECT {AUTHOR_COLUMNS} FROM moved
         ON CONFLICT (id) DO UPDATE SET
           handle = CASE WHEN excluded.updated_at >= authors.updated_at THEN coalesce(excluded.handle, authors.handle) ELSE authors.handle END,
           name = CASE WHEN excluded.updated_at >= authors.updated_at THEN coalesce(excluded.name, authors.name) ELSE authors.name END,
           followers = CASE WHEN excluded.updated_at >= authors.updated_at THEN coalesce(excluded.followers, authors.followers) ELSE authors.followers END,
           following = CASE WHEN excluded.updated_at >= authors.updated_at THEN coalesce(excluded.following, authors.following) ELSE authors.following END,
           verified = CASE WHEN excluded.updated_at >= authors.updated_at THEN coalesce(excluded.verified, authors.verified) ELSE authors.verified END,
           rate = coalesce(excluded.rate, authors.rate), category = coalesce(excluded.category, authors.category),
           updated_at = greatest(excluded.updated_at, authors.updated_at)
         WHERE excluded.updated_at >= authors.updated_at OR excluded.rate IS NOT NULL OR excluded.category IS NOT NULL"
    );
    copy_upsert(tx, "authors", AUTHOR_COLUMNS, AUTHOR_TYPES, authors, &author_upsert).await?;

    let sheets: Vec<Values> = decoded
        .sheets()
        .map(|(row, envelope)| -> Values {
            vec![
                Box::new(envelope.id.as_str()),
                Box::new(row.file_id.as_str()),
                Box::new(row.file_name.as_str()),
                Box::new(row.sheet.as_str()),
                Box::new(row.row_key.as_str()),
                Box::new(as_i64(row.row_number)),
                Box::new(Json(&row.cells)),
                Box::new(row.content_hash.as_str()),
                Box::new(envelope.version),
                Box::new(envelope.ingest_time),
                Box::new(row.author.as_ref().map(|a| a.author_id())),
            ]
        })
        .collect();
    let sheet_upsert = upsert_from_staging("sheet_rows", SHEET_COLUMNS, "version", "");
    copy_upsert(tx, "sheet_rows", SHEET_COLUMNS, SHEET_TYPES, sheets, &sheet_upsert).await?;

    let scores: Vec<Values> = decoded
        .scores()
        .map(|(score, envelope)| -> Values {
            vec![
                Box::new(envelope.id.as_str()),
                Box::new(score.author_id.as_str()),
                Box::new(score.platform.as_str()),
                Box::new(score.handle.as_deref()),
                Box::new(score.score),
                Box::new(score.tier.as_str()),
                Box::new(score.followers.map(as_i64)),
                Box::new(i32::try_from(score.posts).unwrap_or(i32::MAX)),
                Box::new(Json(&score.factors)),
                Box::new(score.computed_at),
                Box::new(score.emitted_at),
                Box::new(envelope.version),
            ]
        })
        .collect();
    let kol_upsert = upsert_from_staging("kol_scores", KOL_COLUMNS, "version", "");
    copy_upsert(tx, "kol_scores", KOL_COLUMNS, KOL_TYPES, scores, &kol_upsert).await
}

#[async_trait]
impl StoreWriter for PostgresWriter {
    const NAME: &'static str = "postgres";

    /// Its integers are signed 64-bit.
    fn storable(&self, record: &Record) -> Result<(), ComponentError> {
        counts_fit_i64(record)
    }

    async fn write(&mut self, decoded: &mut DecodedBatch<'_>) -> Result<(), ComponentError> {
        let client = self.client().await?;
        let outcome = async {
            let tx = client.transaction().await?;
            write_records(&tx, decoded).await?;
            tx.commit().await
        }
        .await;
        match outcome {
            Ok(()) => Ok(()),
            // One record the server refuses: find it (and any other) record by
            // record, each in a savepoint, and commit the rest.
            Err(e) if classify(&e) == ErrorDomain::Invalid => {
                tracing::info!(error = %describe(&e), "postgres refused a batch; writing it record by record");
                let result = async {
                    let mut tx = client.transaction().await?;
                    let mut refused = Vec::new();
                    for (index, record) in std::mem::take(&mut decoded.records) {
                        let single = DecodedBatch { records: vec![(index, record)], rejected: Vec::new() };
                        let savepoint = tx.savepoint("record").await?;
                        match write_records(&savepoint, &single).await {
                            Ok(()) => {
                                savepoint.commit().await?;
                                decoded.records.extend(single.records);
                            }
                            Err(e) if classify(&e) == ErrorDomain::Invalid => {
                                savepoint.rollback().await?;
                                refused.push((index, ComponentError::invalid(format!("postgres: {}", describe(&e)))));
                            }
                            Err(e) => return Err(e),
                        }
                    }
                    tx.commit().await?;
                    Ok(refused)
                }
                .await;
                match result {
                    Ok(refused) => {
                        decoded.rejected.extend(refused);
                        Ok(())
                    }
                    Err(e) => Err(self.failed("writing a batch record by record", &e)),
                }
            }
            Err(e) => Err(self.failed("writing a batch", &e)),
        }
    }

    /// The session may be mid-COPY or mid-transaction: the retry connects again.
    fn abandon(&mut self) {
        self.client = None;
    }
}

impl PostgresWriter {
    /// A failed write: a broken connection is dropped so the retry reconnects.
    fn failed(&mut self, doing: &str, e: &tokio_postgres::Error) -> ComponentError {
        let error = pg_error(doing, e);
        if error.domain == ErrorDomain::Transient {
            self.client = None;
        }
        error
    }
}
