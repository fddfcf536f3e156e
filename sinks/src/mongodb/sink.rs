//! Documents, the batched upsert command, and error classification.

use std::time::Duration;

use async_trait::async_trait;
use mongodb::bson::{self, Bson, DateTime as BsonDateTime, Document, RawArrayBuf, RawDocumentBuf, doc};
use mongodb::error::{ErrorKind, WriteFailure};
use mongodb::options::ClientOptions;
use mongodb::{Client, Database};
use socialpipe_schemas::{ComponentError, Envelope, ErrorDomain, PostPayload};

use super::MongodbConfig;
use crate::batch::{DecodedBatch, Record};
use crate::bisect::size_bounded;
use crate::fit::{as_i64, counts_fit_i64};
use crate::migrations::{Migration, MigrationTarget, migrate, prepare};
use crate::store::{StoreSink, StoreWriter};

/// In order. Append only: never edit a released one. Each line of a script
/// is a database command (Extended JSON); indexes are created idempotently.
pub const MIGRATIONS: &[Migration] = &[
    Migration { version: 1, name: "indexes", script: include_str!("migrations/001_indexes.jsonl") },
    Migration { version: 2, name: "analyst_fields", script: include_str!("migrations/002_analyst_fields.jsonl") },
];

pub type MongodbSink = StoreSink<MongodbWriter>;

pub struct MongodbWriter {
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

/// A record as a BSON document; refused when BSON cannot hold it (e.g. an
/// integer beyond i64).
fn to_document(value: &impl serde::Serialize, envelope: &Envelope) -> Result<Document, ComponentError> {
    bson::to_document(value)
        .map_err(|e| ComponentError::invalid(format!("mongodb: {} cannot be stored as BSON: {e}", envelope.id)))
}

/// The post as stored: its fields at the top (the native id as `native_id`),
/// times as BSON dates, and the enrichments.
fn post_document(post: &PostPayload, envelope: &Envelope) -> Result<Document, ComponentError> {
    let mut document = to_document(post, envelope)?;
    if let Some(id) = document.remove("id") {
        document.insert("native_id", id);
    }
    document.insert("author_id", post.author_id());
    document.insert("created_at", time(&post.created_at));
    document.insert("enrichments", to_document(&envelope.enrichments, envelope)?);
    document.insert("version", envelope.version);
    document.insert("source", envelope.source.as_str());
    document.insert("ingest_time", time(&envelope.ingest_time));
    Ok(document)
}

/// A KOL score or sheet row as stored: its fields, `dates` as BSON dates, and the version.
fn record_document(
    value: &impl serde::Serialize,
    envelope: &Envelope,
    dates: &[(&str, &chrono::DateTime<chrono::Utc>)],
) -> Result<Document, ComponentError> {
    let mut document = to_document(value, envelope)?;
    for (field, t) in dates {
        document.insert(*field, time(t));
    }
    document.insert("version", envelope.version);
    Ok(document)
}

/// One upsert statement: write `set` to `_id` unless a newer `newer` is stored.
struct Upsert {
    /// The batch index the statement answers for.
    index: usize,
    id: String,
    newer: &'static str,
    value: Bson,
    /// Serialised once; the insert and the update both copy its bytes.
    set: RawDocumentBuf,
    count_delivery: bool,
}

impl Upsert {
    fn new(
        index: usize,
        id: String,
        newer: &'static str,
        value: Bson,
        set: &Document,
        count_delivery: bool,
    ) -> Result<Self, (usize, ComponentError)> {
        let set = RawDocumentBuf::from_document(set)
            .map_err(|e| (index, ComponentError::invalid(format!("mongodb: {id} cannot be stored as BSON: {e}"))))?;
        Ok(Upsert { index, id, newer, value, set, count_delivery })
    }

    /// The document as a first write inserts it.
    fn document(&self) -> RawDocumentBuf {
        let mut document = RawDocumentBuf::new();
        document.append("_id", self.id.as_str());
        for element in self.set.iter().flatten() {
            document.append_ref(element.0, element.1);
        }
        if self.count_delivery {
            document.append("deliveries", 1);
        }
        document
    }

    fn statement(&self) -> RawDocumentBuf {
        let mut update = RawDocumentBuf::new();
        update.append("$set", self.set.clone());
        if self.count_delivery {
            update.append("$inc", RawDocumentBuf::from_document(&doc! { "deliveries": 1 }).expect("valid BSON"));
        }
        // `$not $gt` also matches a document without the field (an author
        // first written by another kind of update).
        let query = doc! { "_id": &self.id, self.newer: { "$not": { "$gt": &self.value } } };
        let mut statement = RawDocumentBuf::new();
        statement.append("q", RawDocumentBuf::from_document(&query).expect("ids and versions are valid BSON"));
        statement.append("u", update);
        statement.append("upsert", true);
        statement
    }
}

/// A duplicate key on `_id` (not on another unique index, which is a refusal).
fn is_duplicate_id(code: i32, message: &str) -> bool {
    code == 11000 && (message.contains("_id_") || message.contains("_id:") || message.contains("{ _id"))
}

/// Migrations are recorded in the collection `schema_migrations`.
struct Target<'a>(&'a Database);

#[async_trait]
impl MigrationTarget for Target<'_> {
    async fn applied(&mut self) -> Result<Vec<i64>, ComponentError> {
        let mut cursor = self
            .0
            .collection::<Document>("schema_migrations")
            .find(doc! {})
            .await
            .map_err(|e| mongo_error("reading migrations", &e))?;
        let mut versions = Vec::new();
        while cursor.advance().await.map_err(|e| mongo_error("reading migrations", &e))? {
            let document = cursor.deserialize_current().map_err(|e| mongo_error("reading migrations", &e))?;
            versions.extend(document.get_i64("_id").ok());
        }
        Ok(versions)
    }

    async fn apply(&mut self, migration: &Migration) -> Result<bool, ComponentError> {
        let version = migration.version;
        for line in migration.script.lines().filter(|l| !l.trim().is_empty()) {
            let bad = |e: &dyn std::fmt::Display| ComponentError::fatal(format!("mongodb: migration {version}: {e}"));
            let json: serde_json::Value = serde_json::from_str(line).map_err(|e| bad(&e))?;
            let Bson::Document(command) = Bson::try_from(json).map_err(|e| bad(&e))? else {
                return Err(bad(&"a line is not a command document"));
            };
            self.0.run_command(command).await.map_err(|e| mongo_error(&format!("migration {version}"), &e))?;
        }
        let record = doc! { "_id": version, "name": migration.name, "applied_at": BsonDateTime::now() };
        match self.0.collection::<Document>("schema_migrations").insert_one(record).await {
            Ok(_) => Ok(true),
            // Another worker recorded it meanwhile (its commands are idempotent).
            Err(e) if matches!(e.kind.as_ref(), ErrorKind::Write(WriteFailure::WriteError(w)) if w.code == 11000) => {
                Ok(false)
            }
            Err(e) => Err(mongo_error("recording a migration", &e)),
        }
    }
}

impl MongodbSink {
    async fn database(config: &MongodbConfig) -> Result<Database, ComponentError> {
        use socialpipe_schemas::SinkConfig;
        config.check().map_err(|e| ComponentError::fatal(format!("mongodb: {e}")))?;
        let mut options =
            ClientOptions::parse(config.uri.expose()).await.map_err(|e| ComponentError::fatal(format!("mongodb: uri: {e}")))?;
        options.server_selection_timeout = Some(Duration::from_millis(config.server_selection_timeout_ms));
        options.app_name = Some("socialpipe".into());
        let name = options.default_database.clone().unwrap_or_else(|| "socialpipe".into());
        let client = Client::with_options(options).map_err(|e| mongo_error("configuring the client", &e))?;
        let db = client.database(&name);
        // Reaches the server and authenticates now, not at the first batch.
        db.run_command(doc! { "ping": 1 }).await.map_err(|e| mongo_error("connecting", &e))?;
        Ok(db)
    }

    /// Applies pending migrations; returns their versions.
    pub async fn migrate_store(config: &MongodbConfig) -> Result<Vec<i64>, ComponentError> {
        let db = Self::database(config).await?;
        migrate(&mut Target(&db), MIGRATIONS).await
    }

    pub async fn open(config: &MongodbConfig) -> Result<Self, ComponentError> {
        let db = Self::database(config).await?;
        let store = format!("mongodb: database {}", db.name());
        prepare(&mut Target(&db), MIGRATIONS, config.migrate_on_start, &store).await?;
        // A command dropped at the deadline closes its connection (the
        // driver never pools one mid-command): the writer needs no `abandon`.
        let writer = MongodbWriter { db, max_command_bytes: config.max_command_bytes };
        Ok(StoreSink::new(writer, Some(Duration::from_millis(config.write_timeout_ms))))
    }
}

impl MongodbWriter {
    /// Writes `upserts` to `collection`. New ids (the common case) go in as
    /// plain inserts; ids already stored come back as duplicate keys and are
    /// sent again as version-guarded upserts. Returns what the server refused.
    async fn upsert(
        &self,
        collection: &str,
        upserts: &[Upsert],
    ) -> Result<Vec<(usize, ComponentError)>, ComponentError> {
        let mut refused = Vec::new();
        let inserts: Vec<RawDocumentBuf> = upserts.iter().map(Upsert::document).collect();
        let mut existing = Vec::new();
        for (position, code, message) in self.command(collection, "insert", "documents", &inserts).await? {
            if is_duplicate_id(code, &message) {
                existing.push(&upserts[position]);
            } else {
                refused.push(refusal(collection, &upserts[position], code, &message));
            }
        }
        let updates: Vec<RawDocumentBuf> = existing.iter().map(|u| u.statement()).collect();
        for (position, code, message) in self.command(collection, "update", "updates", &updates).await? {
            // A duplicate id from an upsert whose filter did not match: the
            // stored document is newer, so there is nothing to do.
            if !is_duplicate_id(code, &message) {
                refused.push(refusal(collection, existing[position], code, &message));
            }
        }
        Ok(refused)
    }

    /// Sends `items` as `{command: collection, field: [...], ordered: false}`
    /// in as few commands as the size bound allows (each item serialised
    /// once); returns the write errors as (position in `items`, code, message).
    async fn command(
        &self,
        collection: &str,
        command_name: &str,
        field: &str,
        items: &[RawDocumentBuf],
    ) -> Result<Vec<(usize, i32, String)>, ComponentError> {
        let mut errors = Vec::new();
        let sizes: Vec<usize> = items.iter().map(|item| item.as_bytes().len()).collect();
        // The server takes at most 100,000 writes per command.
        for range in size_bounded(&sizes, self.max_command_bytes, 100_000) {
            let (start, end) = (range.start, range.end);
            let mut list = RawArrayBuf::new();
            for item in &items[range] {
                list.push(item.clone());
            }
            let mut command = RawDocumentBuf::new();
            command.append(command_name, collection);
            command.append(field, list);
            command.append("ordered", false);
            let answer = self
                .db
                .run_raw_command(command)
                .await
                .map_err(|e| mongo_error(&format!("{command_name} into {collection}"), &e))?;
            if let Ok(concern) = answer.get_document("writeConcernError") {
                return Err(ComponentError::transient(format!("mongodb: write concern not met: {concern}")));
            }
            for error in answer.get_array("writeErrors").map(|a| a.as_slice()).unwrap_or_default() {
                let Some(error) = error.as_document() else { continue };
                let position = error.get_i32("index").ok().and_then(|p| usize::try_from(p).ok()).map(|p| start + p);
                let message = error.get_str("errmsg").unwrap_or("(no message)").to_owned();
                match position.filter(|p| *p < end) {
                    Some(position) => errors.push((position, error.get_i32("code").unwrap_or(0), message)),
                    None => {
                        return Err(ComponentError::fatal(format!(
                            "mongodb: write error at no known index: {message}"
                        )));
                    }
                }
            }
        }
        Ok(errors)
    }
}

fn refusal(collection: &str, upsert: &Upsert, code: i32, message: &str) -> (usize, ComponentError) {
    (upsert.index, ComponentError::invalid(format!("mongodb: {collection} {}: {message} (code {code})", upsert.id)))
}

#[async_trait]
impl StoreWriter for MongodbWriter {
    const NAME: &'static str = "mongodb";

    /// BSON's integers are signed 64-bit.
    fn storable(&self, record: &Record) -> Result<(), ComponentError> {
        counts_fit_i64(record)
    }

    async fn write(&mut self, decoded: &mut DecodedBatch<'_>) -> Result<(), ComponentError> {
        let (mut posts, mut scores, mut sheets) = (Vec::new(), Vec::new(), Vec::new());
        let mut refused = Vec::new();
        for (index, record) in &decoded.records {
            let envelope = record.envelope();
            let (list, set, count_delivery) = match record {
                Record::Post { post, envelope } => (&mut posts, post_document(post, envelope), true),
                Record::Kol { score, envelope } => {
                    let dates = [("computed_at", &score.computed_at), ("emitted_at", &score.emitted_at)];
                    (&mut scores, record_document(score, envelope, &dates), false)
                }
                Record::Sheet { row, envelope } => {
                    (&mut sheets, record_document(row, envelope, &[("ingest_time", &envelope.ingest_time)]), false)
                }
            };
            let set = match set {
                Ok(set) => set,
                Err(e) => {
                    refused.push((*index, e));
                    continue;
                }
            };
            match Upsert::new(
                *index,
                envelope.id.clone(),
                "version",
                Bson::Int64(envelope.version),
                &set,
                count_delivery,
            ) {
                Ok(upsert) => list.push(upsert),
                Err(refusal) => refused.push(refusal),
            }
        }
        // Authors from the newest post or roster row of each, roster rates
        // and categories, and newest KOL scores, each under its own version
        // field; a refused author update refuses the record it came from.
        let mut authors = Vec::new();
        for author in decoded.authors_by(|a| a.id.clone()) {
            let profile = author.profile;
            let at = time(&author.at);
            let mut set = doc! { "platform": author.platform, "updated_at": at.clone() };
            if let Some((_, native)) = author.id.split_once(':') {
                set.insert("native_id", native);
            }
            // Unknown fields keep their stored value.
            let fields: [(&str, Option<Bson>); 5] = [
                ("handle", profile.handle.as_deref().map(Bson::from)),
                ("name", profile.name.as_deref().map(Bson::from)),
                ("followers", profile.followers.map(|v| Bson::Int64(as_i64(v)))),
                ("following", profile.following.map(|v| Bson::Int64(as_i64(v)))),
                ("verified", author.verified.map(Bson::Boolean)),
            ];
            for (field, value) in fields {
                if let Some(value) = value {
                    set.insert(field, value);
                }
            }
            authors.push(Upsert::new(author.index, author.id.clone(), "updated_at", at.clone(), &set, false));
            if author.rate.is_some() || author.category.is_some() {
                let mut roster = doc! { "platform": author.platform, "roster_at": at.clone() };
                if let Some(rate) = author.rate {
                    roster.insert("rate", rate);
                }
                if let Some(category) = author.category {
                    roster.insert("category", category);
                }
                authors.push(Upsert::new(author.index, author.id.clone(), "roster_at", at, &roster, false));
            }
        }
        for (index, record) in &decoded.records {
            let Record::Kol { score, .. } = record else { continue };
            let at = time(&score.computed_at);
            let set = doc! {
                "platform": &score.platform, "kol_score": score.score, "kol_tier": &score.tier, "kol_computed_at": at.clone(),
            };
            authors.push(Upsert::new(*index, score.author_id.clone(), "kol_computed_at", at, &set, false));
        }
        let authors: Vec<Upsert> = authors
            .into_iter()
            .filter_map(|upsert| upsert.map_err(|refusal| refused.push(refusal)).ok())
            .collect();
        refused.extend(self.upsert("posts", &posts).await?);
        refused.extend(self.upsert("authors", &authors).await?);
        refused.extend(self.upsert("kol_scores", &scores).await?);
        refused.extend(self.upsert("sheet_rows", &sheets).await?);
        refused.sort_by_key(|(i, _)| *i);
        refused.dedup_by_key(|(i, _)| *i);
        for (index, error) in refused {
            decoded.reject(index, error);
        }
        Ok(())
    }
}
