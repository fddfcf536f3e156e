//! Documents, the batched upsert command, and error classification.

use std::time::Duration;

use async_trait::async_trait;
use mongodb::bson::{self, Bson, DateTime as BsonDateTime, Document, doc};
use mongodb::error::ErrorKind;
use mongodb::options::ClientOptions;
use mongodb::{Client, Database, IndexModel};
use socialpipe_schemas::{ComponentError, Envelope, ErrorDomain, PostPayload, Sink, SinkReport};

use super::MongodbConfig;
use crate::rows::{Decoded, Row};

/// (collection, index keys), created idempotently.
pub const INDEXES: &[(&str, &[(&str, i32)])] = &[
    ("posts", &[("author_id", 1), ("created_at", -1)]),
    ("posts", &[("platform", 1), ("created_at", -1)]),
    ("posts", &[("created_at", -1)]),
    ("authors", &[("platform", 1), ("handle", 1)]),
    ("kol_scores", &[("author_id", 1), ("as_of", -1)]),
    ("sheet_rows", &[("file_id", 1), ("sheet", 1), ("row_number", 1)]),
];

pub struct MongodbSink {
    db: Database,
    max_command_bytes: usize,
}

/// Server error codes that mean "try again": shutdown, step-down, not
/// primary, network, timeouts, write conflicts.
const TRANSIENT_CODES: &[i32] = &[6, 7, 50, 89, 91, 112, 189, 262, 9001, 10107, 11600, 11602, 13435, 13436];

fn classify(e: &mongodb::error::Error) -> ErrorDomain {
    if e.contains_label("RetryableWriteError") {
        return ErrorDomain::Transient;
    }
    match e.kind.as_ref() {
        ErrorKind::Io(_) | ErrorKind::ConnectionPoolCleared { .. } | ErrorKind::ServerSelection { .. } => {
            ErrorDomain::Transient
        }
        ErrorKind::Command(c) if TRANSIENT_CODES.contains(&c.code) => ErrorDomain::Transient,
        _ => ErrorDomain::Fatal,
    }
}

fn mongo_error(doing: &str, e: &mongodb::error::Error) -> ComponentError {
    ComponentError { domain: classify(e), reason: format!("mongodb: {doing}: {e}") }
}

fn time(t: &chrono::DateTime<chrono::Utc>) -> Bson {
    Bson::DateTime(BsonDateTime::from_millis(t.timestamp_millis()))
}

fn json_to_bson(value: impl serde::Serialize) -> Bson {
    bson::to_bson(&value).expect("JSON always converts to BSON")
}

/// The post as stored: its fields at the top (the native id as `native_id`),
/// times as BSON dates, and the enrichments.
fn post_document(post: &PostPayload, envelope: &Envelope) -> Document {
    let mut document = match json_to_bson(post) {
        Bson::Document(d) => d,
        _ => unreachable!("a post is an object"),
    };
    if let Some(id) = document.remove("id") {
        document.insert("native_id", id);
    }
    document.insert("author_id", post.author_id());
    document.insert("created_at", time(&post.created_at));
    document.insert("enrichments", json_to_bson(&envelope.enrichments));
    document.insert("version", envelope.version);
    document.insert("source", envelope.source.as_str());
    document.insert("ingest_time", time(&envelope.ingest_time));
    document
}

/// One upsert statement: write `set` to `_id` unless a newer `newer` is stored.
struct Upsert {
    /// The batch index the statement answers for.
    index: usize,
    id: String,
    newer: &'static str,
    value: Bson,
    set: Document,
    count_delivery: bool,
}

impl Upsert {
    fn statement(&self) -> Document {
        let mut update = doc! { "$set": &self.set };
        if self.count_delivery {
            update.insert("$inc", doc! { "deliveries": 1 });
        }
        doc! {
            "q": { "_id": &self.id, self.newer: { "$lte": &self.value } },
            "u": update,
            "upsert": true,
        }
    }
}

/// A duplicate `_id` from an upsert whose filter did not match: the stored
/// document is newer, so this statement has nothing to do.
fn is_stale(code: i32, message: &str) -> bool {
    code == 11000 && (message.contains("_id_") || message.contains("_id:") || message.contains("{ _id"))
}

impl MongodbSink {
    async fn database(config: &MongodbConfig) -> Result<Database, ComponentError> {
        config.check().map_err(|e| ComponentError::fatal(format!("mongodb: {e}")))?;
        let mut options =
            ClientOptions::parse(&config.uri).await.map_err(|e| ComponentError::fatal(format!("mongodb: uri: {e}")))?;
        options.server_selection_timeout = Some(Duration::from_millis(config.server_selection_timeout_ms));
        options.app_name = Some("socialpipe".into());
        let name = options.default_database.clone().unwrap_or_else(|| "socialpipe".into());
        let client = Client::with_options(options).map_err(|e| mongo_error("configuring the client", &e))?;
        let db = client.database(&name);
        // Reaches the server and authenticates now, not at the first batch.
        db.run_command(doc! { "ping": 1 }).await.map_err(|e| mongo_error("connecting", &e))?;
        Ok(db)
    }

    /// Creates the indexes; returns what it did.
    pub async fn migrate_store(config: &MongodbConfig) -> Result<String, ComponentError> {
        let db = Self::database(config).await?;
        create_indexes(&db).await?;
        Ok(format!("{} indexes in database {} are in place", INDEXES.len(), db.name()))
    }

    pub async fn open(config: &MongodbConfig) -> Result<Self, ComponentError> {
        let db = Self::database(config).await?;
        if config.migrate_on_start {
            create_indexes(&db).await?;
        }
        Ok(MongodbSink { db, max_command_bytes: config.max_command_bytes })
    }

    /// Sends `upserts` to `collection` in as few `update` commands as the
    /// size bound allows; returns the statements the server refused.
    async fn upsert(
        &self,
        collection: &str,
        upserts: &[Upsert],
    ) -> Result<Vec<(usize, ComponentError)>, ComponentError> {
        let mut refused = Vec::new();
        let mut start = 0;
        while start < upserts.len() {
            let mut statements = Vec::new();
            let mut bytes = 0;
            let mut end = start;
            // The server takes at most 100,000 statements per command.
            while end < upserts.len() && statements.len() < 100_000 {
                let statement = upserts[end].statement();
                let size = bson::to_vec(&statement).map(|v| v.len()).unwrap_or(0);
                if !statements.is_empty() && bytes + size > self.max_command_bytes {
                    break;
                }
                bytes += size;
                statements.push(statement);
                end += 1;
            }
            let answer = self
                .db
                .run_command(doc! { "update": collection, "updates": statements, "ordered": false })
                .await
                .map_err(|e| mongo_error(&format!("upserting into {collection}"), &e))?;
            if let Ok(concern) = answer.get_document("writeConcernError") {
                return Err(ComponentError::transient(format!("mongodb: write concern not met: {concern}")));
            }
            for error in answer.get_array("writeErrors").map(|a| a.as_slice()).unwrap_or_default() {
                let Some(error) = error.as_document() else { continue };
                let position = error.get_i32("index").unwrap_or(-1);
                let code = error.get_i32("code").unwrap_or(0);
                let message = error.get_str("errmsg").unwrap_or("(no message)");
                let Some(upsert) = usize::try_from(position).ok().and_then(|p| upserts.get(start + p)) else {
                    return Err(ComponentError::fatal(format!(
                        "mongodb: write error at unknown index {position}: {message}"
                    )));
                };
                if !is_stale(code, message) {
                    let reason = format!("mongodb: {collection} {}: {message} (code {code})", upsert.id);
                    refused.push((upsert.index, ComponentError::invalid(reason)));
                }
            }
            start = end;
        }
        Ok(refused)
    }
}

async fn create_indexes(db: &Database) -> Result<(), ComponentError> {
    for (collection, keys) in INDEXES {
        let mut key = Document::new();
        for (field, order) in *keys {
            key.insert(*field, *order);
        }
        db.collection::<Document>(collection)
            .create_index(IndexModel::builder().keys(key).build())
            .await
            .map_err(|e| mongo_error(&format!("creating an index on {collection}"), &e))?;
    }
    Ok(())
}

#[async_trait]
impl Sink for MongodbSink {
    async fn write(&mut self, batch: &[Envelope]) -> Result<SinkReport, ComponentError> {
        let mut decoded = Decoded::batch(batch, "mongodb");
        let (mut posts, mut scores, mut sheets) = (Vec::new(), Vec::new(), Vec::new());
        for (index, row) in &decoded.rows {
            let envelope = row.envelope();
            let (list, set, count_delivery) = match row {
                Row::Post { post, envelope } => (&mut posts, post_document(post, envelope), true),
                Row::Kol { score, envelope } => {
                    let mut d = match json_to_bson(score) {
                        Bson::Document(d) => d,
                        _ => unreachable!("a score is an object"),
                    };
                    d.insert("as_of", time(&score.as_of));
                    d.insert("version", envelope.version);
                    (&mut scores, d, false)
                }
                Row::Sheet { row, envelope } => {
                    let mut d = match json_to_bson(row) {
                        Bson::Document(d) => d,
                        _ => unreachable!("a sheet row is an object"),
                    };
                    d.insert("version", envelope.version);
                    d.insert("ingest_time", time(&envelope.ingest_time));
                    (&mut sheets, d, false)
                }
            };
            list.push(Upsert {
                index: *index,
                id: envelope.id.clone(),
                newer: "version",
                value: Bson::Int64(envelope.version),
                set,
                count_delivery,
            });
        }
        // Authors from the newest post of each; a refused author refuses that post.
        let newest_post_of: Vec<(usize, &PostPayload)> = decoded
            .newest_authors()
            .into_iter()
            .filter_map(|author| {
                decoded.rows.iter().find_map(|(i, row)| match row {
                    Row::Post { post, .. } if std::ptr::eq(post.as_ref(), author) => Some((*i, author)),
                    _ => None,
                })
            })
            .collect();
        let authors: Vec<Upsert> = newest_post_of
            .iter()
            .map(|(index, post)| {
                let a = &post.author;
                let mut set =
                    doc! { "platform": &post.platform, "native_id": &a.id, "updated_at": time(&post.created_at) };
                // Unknown fields keep their stored value.
                let fields: [(&str, Option<Bson>); 5] = [
                    ("handle", a.handle.as_deref().map(Bson::from)),
                    ("name", a.name.as_deref().map(Bson::from)),
                    ("followers", a.followers.map(|v| Bson::Int64(v.min(i64::MAX as u64) as i64))),
                    ("following", a.following.map(|v| Bson::Int64(v.min(i64::MAX as u64) as i64))),
                    ("verified", a.verified.map(Bson::Boolean)),
                ];
                for (field, value) in fields {
                    if let Some(value) = value {
                        set.insert(field, value);
                    }
                }
                Upsert {
                    index: *index,
                    id: post.author_id(),
                    newer: "updated_at",
                    value: time(&post.created_at),
                    set,
                    count_delivery: false,
                }
            })
            .collect();
        let mut refused = self.upsert("posts", &posts).await?;
        refused.extend(self.upsert("authors", &authors).await?);
        refused.extend(self.upsert("kol_scores", &scores).await?);
        refused.extend(self.upsert("sheet_rows", &sheets).await?);
        refused.sort_by_key(|(i, _)| *i);
        refused.dedup_by_key(|(i, _)| *i);
        for (index, error) in refused {
            decoded.reject(index, error);
        }
        let mut rejected = decoded.rejected;
        rejected.sort_by_key(|(i, _)| *i);
        Ok(SinkReport { rejected })
    }
}
