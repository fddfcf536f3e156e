//! Graph rows, the batch transaction, and error classification.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use neo4rs::{BoltType, ConfigBuilder, Graph, Neo4jErrorKind, Query, Txn, query};
use socialpipe_schemas::enrichment::{Emotion, Entities, Sentiment};
use socialpipe_schemas::{ComponentError, ErrorDomain, PostPayload};

use super::Neo4jConfig;
use crate::batch::{DecodedBatch, Record, rfc3339};
use crate::bisect::{Bisecting, PartError, PartWriter, size_bounded};
use crate::fit::{Counts, as_i64, counts_fit_i64};
use crate::migrations::{Migration, MigrationTarget, migrate, prepare, statements};
use crate::store::StoreSink;

/// In order. Append only: never edit a released one.
pub const MIGRATIONS: &[Migration] =
    &[Migration { version: 1, name: "constraints", script: include_str!("migrations/001_constraints.cypher") }];

// One row per author key (rows of one statement do not see each other's
// writes on ArcadeDB). `updated_at_ms` is the author's version: the event
// time of the post its profile comes from; an older post changes nothing.
const AUTHORS: &str = "UNWIND $rows AS r
MERGE (a:Author {handle_key: r.handle_key})
WITH a, r WHERE coalesce(a.updated_at_ms, -1) <= r.updated_at_ms
SET a.id = r.id, a.platform = r.platform, a.handle = coalesce(r.handle, a.handle), a.name = coalesce(r.name, a.name),
    a.followers = coalesce(r.followers, a.followers), a.following = coalesce(r.following, a.following),
    a.verified = coalesce(r.verified, a.verified), a.updated_at_ms = r.updated_at_ms";

// Every row links its post to its author and returns (the FOREACH skips an
// older version without filtering the row out), so `written` counts them all.
const POSTS: &str = "UNWIND $rows AS r
MERGE (a:Author {handle_key: r.author_key})
MERGE (p:Post {id: r.id})
MERGE (a)-[:POSTED]->(p)
WITH p, r, coalesce(p.version, -1) <= r.version AS newer
FOREACH (_ IN CASE WHEN newer THEN [1] ELSE [] END |
  SET p.platform = r.platform, p.native_id = r.native_id, p.text = r.text, p.created_at = r.created_at,
    p.created_at_ms = r.created_at_ms, p.likes = r.likes, p.comments = r.comments, p.shares = r.shares,
    p.views = r.views, p.lang = r.lang, p.url = r.url, p.sentiment = r.sentiment, p.emotion = r.emotion,
    p.enrichments = r.enrichments, p.version = r.version)
RETURN count(p) AS written";

// A post's edges are its stored version's: an older version arriving late
// adds none, and the PRUNE statements drop those a newer version no longer has.
const TAGS: &str = "UNWIND $rows AS r
MATCH (p:Post {id: r.post}) WHERE p.version = r.version
MERGE (h:Hashtag {name: r.name})
MERGE (p)-[:TAGGED]->(h)";

const BRANDS: &str = "UNWIND $rows AS r
MATCH (p:Post {id: r.post}) WHERE p.version = r.version
MERGE (b:Brand {name: r.name})
MERGE (p)-[:ABOUT]->(b)";

const MENTIONS: &str = "UNWIND $rows AS r
MATCH (p:Post {id: r.post}) WHERE p.version = r.version
MERGE (u:Author {handle_key: r.handle_key})
ON CREATE SET u.platform = r.platform, u.handle = r.handle
MERGE (p)-[:MENTIONS]->(u)";

const PRUNE_TAGS: &str = "UNWIND $rows AS r
MATCH (p:Post {id: r.id})-[e:TAGGED]->(h:Hashtag) WHERE p.version = r.version AND NOT h.name IN r.hashtags
DELETE e";

const PRUNE_BRANDS: &str = "UNWIND $rows AS r
MATCH (p:Post {id: r.id})-[e:ABOUT]->(b:Brand) WHERE p.version = r.version AND NOT b.name IN r.brands
DELETE e";

const PRUNE_MENTIONS: &str = "UNWIND $rows AS r
MATCH (p:Post {id: r.id})-[e:MENTIONS]->(u:Author) WHERE p.version = r.version AND NOT u.handle_key IN r.mentions
DELETE e";

// A score names its author by id: the node of that id if there is one.
const SCORES: &str = "UNWIND $rows AS r
OPTIONAL MATCH (known:Author {id: r.author_id})
WITH r, coalesce(known.handle_key, r.author_id) AS key
MERGE (a:Author {handle_key: key})
ON CREATE SET a.id = r.author_id, a.platform = r.platform
WITH a, r WHERE coalesce(a.kol_as_of_ms, -1) <= r.as_of_ms
SET a.kol_score = r.score, a.kol_tier = r.tier, a.kol_factors = r.factors, a.kol_as_of = r.as_of,
    a.kol_as_of_ms = r.as_of_ms";

const SHEETS: &str = "UNWIND $rows AS r
MERGE (s:SheetRow {id: r.id})
WITH s, r WHERE coalesce(s.version, -1) <= r.version
SET s.file_id = r.file_id, s.file_name = r.file_name, s.sheet = r.sheet, s.row_key = r.row_key,
    s.row_number = r.row_number, s.cells = r.cells, s.content_hash = r.content_hash, s.version = r.version";

pub type Neo4jSink = StoreSink<Bisecting<Neo4jWriter>>;

pub struct Neo4jWriter {
    config: Neo4jConfig,
    /// None after a write was abandoned: the next write connects again.
    graph: Option<Graph>,
}

/// A server status code's domain (`Neo.TransientError.*` and the like).
fn classify_code(code: &str) -> ErrorDomain {
    if code.contains("Neo.TransientError") {
        ErrorDomain::Transient
    } else if ["ConstraintValidationFailed", "Statement.TypeError", "Statement.ArgumentError"]
        .iter()
        .any(|c| code.contains(c))
    {
        ErrorDomain::Invalid
    } else {
        ErrorDomain::Fatal
    }
}

fn classify(e: &neo4rs::Error) -> ErrorDomain {
    use neo4rs::Error;
    match e {
        Error::IOError { .. } | Error::ConnectionError => ErrorDomain::Transient,
        Error::Neo4j(e) if e.kind() == Neo4jErrorKind::Transient => ErrorDomain::Transient,
        Error::Neo4j(e) => classify_code(e.code()),
        // neo4rs 0.8 reports a failed COMMIT (e.g. ArcadeDB's concurrent
        // modification, `Neo.TransientError.Transaction.DeadlockDetected`)
        // as an unexpected message carrying the server's failure.
        Error::UnexpectedMessage(text) => classify_code(text),
        _ => ErrorDomain::Fatal,
    }
}

fn bolt_error(doing: &str, e: &neo4rs::Error) -> ComponentError {
    crate::store_error(classify(e), format!("neo4j: {doing}: {e}"))
}

fn handle_key(platform: &str, handle: &str) -> String {
    format!("{platform}:{}", handle.trim_start_matches('@').to_lowercase())
}

/// How the graph knows the author of a post.
fn author_key(post: &PostPayload) -> String {
    match &post.author.profile.handle {
        Some(handle) if !handle.is_empty() => handle_key(&post.platform, handle),
        _ => post.author_id(),
    }
}

type Props = HashMap<String, BoltType>;

fn props<const N: usize>(entries: [(&str, BoltType); N]) -> Props {
    entries.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

fn count(v: Option<u64>) -> BoltType {
    v.map(as_i64).into()
}

fn label(value: Option<&str>) -> BoltType {
    value.map(str::to_owned).into()
}

/// About the bytes a row takes in a Bolt message.
fn encoded_size(row: &Props) -> usize {
    row.iter()
        .map(|(key, value)| {
            key.len()
                + 2
                + match value {
                    BoltType::String(s) => s.value.len() + 5,
                    _ => 9,
                }
        })
        .sum()
}

/// A statement of a batch: its query and, for one that must write each of
/// its rows (and says how many it wrote as `written`), how many it has.
struct Statement {
    query: Query,
    must_write: Option<usize>,
}

/// The statements of one part of a batch, with their rows; a statement's
/// rows stay under `max_bytes` (servers refuse larger Bolt messages:
/// ArcadeDB's limit is 16 MiB).
fn queries(part: &DecodedBatch<'_>, max_bytes: usize) -> Vec<Statement> {
    let mut authors = Vec::new();
    for (_, post) in part.newest_authors_by(author_key) {
        let a = &post.author.profile;
        authors.push(props([
            ("handle_key", author_key(post).into()),
            ("id", post.author_id().into()),
            ("platform", post.platform.clone().into()),
            ("handle", a.handle.clone().into()),
            ("name", a.name.clone().into()),
            ("followers", count(a.followers)),
            ("following", count(a.following)),
            ("verified", post.author.verified.into()),
            ("updated_at_ms", post.created_at.timestamp_millis().into()),
        ]));
    }
    let (mut posts, mut tags, mut brands, mut mentions) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut edges = Vec::new();
    for (post, envelope) in part.posts() {
        let m = &post.metrics;
        let entities = envelope.enrichment::<Entities>().unwrap_or_default();
        let sentiment = envelope.enrichment::<Sentiment>().map(|s| s.label.as_str());
        let emotion = envelope.enrichment::<Emotion>().map(|e| e.dominant.as_str());
        posts.push(props([
            ("id", envelope.id.clone().into()),
            ("author_key", author_key(post).into()),
            ("platform", post.platform.clone().into()),
            ("native_id", post.id.clone().into()),
            ("text", post.text.clone().into()),
            ("created_at", rfc3339(&post.created_at).into()),
            ("created_at_ms", post.created_at.timestamp_millis().into()),
            ("likes", count(m.likes)),
            ("comments", count(m.comments)),
            ("shares", count(m.shares)),
            ("views", count(m.views)),
            ("lang", post.lang.clone().into()),
            ("url", post.url.clone().into()),
            ("sentiment", label(sentiment)),
            ("emotion", label(emotion)),
            ("enrichments", crate::batch::enrichments_json_except_embedding(envelope).into()),
            ("version", envelope.version.into()),
        ]));
        let version: BoltType = envelope.version.into();
        let edge = |name: &str| {
            props([("post", envelope.id.clone().into()), ("version", version.clone()), ("name", name.to_owned().into())])
        };
        tags.extend(entities.hashtags.iter().map(|h| edge(h)));
        brands.extend(entities.brands.iter().map(|b| edge(b)));
        let mentioned: Vec<String> = entities.mentions.iter().map(|handle| handle_key(&post.platform, handle)).collect();
        mentions.extend(entities.mentions.iter().zip(&mentioned).map(|(handle, key)| {
            props([
                ("post", envelope.id.clone().into()),
                ("version", version.clone()),
                ("handle_key", key.clone().into()),
                ("platform", post.platform.clone().into()),
                ("handle", handle.clone().into()),
            ])
        }));
        edges.push(props([
            ("id", envelope.id.clone().into()),
            ("version", version.clone()),
            ("hashtags", entities.hashtags.clone().into()),
            ("brands", entities.brands.clone().into()),
            ("mentions", mentioned.into()),
        ]));
    }
    let scores: Vec<Props> = part
        .scores()
        .map(|(score, _)| {
            props([
                ("author_id", score.author_id.clone().into()),
                ("platform", score.platform.clone().into()),
                ("score", score.score.into()),
                ("tier", score.tier.clone().into()),
                ("factors", serde_json::to_string(&score.factors).expect("factors serialise").into()),
                ("as_of", rfc3339(&score.computed_at).into()),
                ("as_of_ms", score.computed_at.timestamp_millis().into()),
            ])
        })
        .collect();
    let sheets: Vec<Props> = part
        .sheets()
        .map(|(row, envelope)| {
            props([
                ("id", envelope.id.clone().into()),
                ("file_id", row.file_id.clone().into()),
                ("file_name", row.file_name.clone().into()),
                ("sheet", row.sheet.clone().into()),
                ("row_key", row.row_key.clone().into()),
                ("row_number", as_i64(row.row_number).into()),
                ("cells", serde_json::to_string(&row.cells).expect("cells serialise").into()),
                ("content_hash", row.content_hash.clone().into()),
                ("version", envelope.version.into()),
            ])
        })
        .collect();
    // Authors before posts (which find them by key), posts before their edges.
    [
        (AUTHORS, authors),
        (POSTS, posts),
        (TAGS, tags),
        (BRANDS, brands),
        (MENTIONS, mentions),
        (PRUNE_TAGS, edges.clone()),
        (PRUNE_BRANDS, edges.clone()),
        (PRUNE_MENTIONS, edges),
        (SCORES, scores),
        (SHEETS, sheets),
    ]
    .into_iter()
    .flat_map(|(cypher, rows)| {
        let sizes: Vec<usize> = rows.iter().map(encoded_size).collect();
        let mut rows = rows.into_iter();
        size_bounded(&sizes, max_bytes, usize::MAX)
            .into_iter()
            .map(|range| Statement {
                query: query(cypher).param("rows", rows.by_ref().take(range.len()).collect::<Vec<Props>>()),
                must_write: (cypher == POSTS).then_some(range.len()),
            })
            .collect::<Vec<_>>()
    })
    .collect()
}

/// Migrations are recorded as (:SchemaMigration {version}) nodes.
struct Target<'a>(&'a Graph);

#[async_trait]
impl MigrationTarget for Target<'_> {
    async fn applied(&mut self) -> Result<Vec<i64>, ComponentError> {
        let read = async {
            let mut txn = self.0.start_txn().await?;
            let mut stream = txn.execute(query("MATCH (m:SchemaMigration) RETURN DISTINCT m.version AS version")).await?;
            let mut versions = Vec::new();
            while let Some(row) = stream.next(txn.handle()).await? {
                versions.extend(row.get::<i64>("version").ok());
            }
            txn.commit().await?;
            Ok(versions)
        };
        read.await.map_err(|e| bolt_error("reading migrations", &e))
    }

    /// Every statement is idempotent (`IF NOT EXISTS`): workers migrating
    /// at once do no harm.
    async fn apply(&mut self, migration: &Migration) -> Result<bool, ComponentError> {
        let version = migration.version;
        for statement in statements(migration.script) {
            run_alone(self.0, query(&statement)).await.map_err(|e| bolt_error(&format!("migration {version}"), &e))?;
        }
        let record = query("CREATE (:SchemaMigration {version: $version, name: $name, applied_at: $at})")
            .param("version", version)
            .param("name", migration.name)
            .param("at", rfc3339(&chrono::Utc::now()));
        run_alone(self.0, record).await.map_err(|e| bolt_error("recording a migration", &e))?;
        Ok(true)
    }
}

impl Neo4jSink {
    async fn graph(config: &Neo4jConfig) -> Result<Graph, ComponentError> {
        use socialpipe_schemas::SinkConfig;
        config.check().map_err(|e| ComponentError::fatal(format!("neo4j: {e}")))?;
        let mut builder = ConfigBuilder::default()
            .uri(&config.uri)
            .user(&config.user)
            .password(config.password.expose())
            .max_connections(config.max_connections);
        if !config.database.is_empty() {
            builder = builder.db(config.database.as_str());
        }
        let built = builder.build().map_err(|e| ComponentError::fatal(format!("neo4j: {e}")))?;
        let graph = Graph::connect(built).await.map_err(|e| bolt_error("connecting", &e))?;
        // Authenticates now (the pool connects lazily).
        run_alone(&graph, query("RETURN 1")).await.map_err(|e| bolt_error("connecting", &e))?;
        Ok(graph)
    }

    /// Applies pending migrations; returns their versions.
    pub async fn migrate_store(config: &Neo4jConfig) -> Result<Vec<i64>, ComponentError> {
        let graph = Self::graph(config).await?;
        migrate(&mut Target(&graph), MIGRATIONS).await
    }

    pub async fn open(config: &Neo4jConfig) -> Result<Self, ComponentError> {
        let graph = Self::graph(config).await?;
        let store = format!("neo4j: {}", if config.database.is_empty() { "the default database" } else { &config.database });
        prepare(&mut Target(&graph), MIGRATIONS, config.migrate_on_start, &store).await?;
        let writer = Neo4jWriter { config: config.clone(), graph: Some(graph) };
        Ok(StoreSink::new(Bisecting(writer), Some(Duration::from_millis(config.write_timeout_ms))))
    }
}

/// Runs one statement in its own transaction. (`Graph::run` would retry
/// failures for up to a minute on its own; the runner's backoff decides.)
async fn run_alone(graph: &Graph, statement: Query) -> Result<(), neo4rs::Error> {
    let mut txn = graph.start_txn().await?;
    txn.run(statement).await?;
    txn.commit().await
}

/// Runs a statement of a batch, reading its result to the end (so the
/// pooled connection is free again when the transaction ends). A statement
/// that wrote fewer rows than it must would lose records silently: that
/// stops the sink (fatal, the batch uncommitted) rather than commit.
async fn run_checked(txn: &mut Txn, statement: Statement) -> Result<(), PartError> {
    let Some(rows) = statement.must_write else {
        return txn.run(statement.query).await.map_err(part_error);
    };
    let mut stream = txn.execute(statement.query).await.map_err(part_error)?;
    let mut written = 0;
    while let Some(row) = stream.next(txn.handle()).await.map_err(part_error)? {
        written += row.get::<i64>("written").unwrap_or(0);
    }
    if written != rows as i64 {
        return Err(PartError::Failed(ComponentError::fatal(format!(
            "neo4j: a statement wrote {written} of its {rows} posts; the batch is rolled back"
        ))));
    }
    Ok(())
}

/// A failed write: refused for good (the part is halved), or the batch's failure.
fn part_error(e: neo4rs::Error) -> PartError {
    match classify(&e) {
        ErrorDomain::Invalid => PartError::Refused(format!("neo4j: {e}")),
        _ => PartError::Failed(bolt_error("writing a batch", &e)),
    }
}

#[async_trait]
impl PartWriter for Neo4jWriter {
    const NAME: &'static str = "neo4j";

    /// Bolt's integers are signed 64-bit; the graph keeps no follower
    /// counts of rosters or KOL scores.
    fn storable(&self, record: &Record) -> Result<(), ComponentError> {
        counts_fit_i64(record, Counts::Typed)
    }

    async fn write_part(&mut self, part: &DecodedBatch<'_>) -> Result<(), PartError> {
        let graph = match &mut self.graph {
            Some(graph) => graph,
            graph => graph.insert(Neo4jSink::graph(&self.config).await.map_err(PartError::Failed)?),
        };
        let mut txn = graph.start_txn().await.map_err(part_error)?;
        for statement in queries(part, self.config.max_message_bytes) {
            if let Err(e) = run_checked(&mut txn, statement).await {
                let _ = txn.rollback().await;
                return Err(e);
            }
        }
        txn.commit().await.map_err(part_error)
    }

    /// The pool would recycle the abandoned connection with its answer
    /// unread; a new pool starts clean (the old one closes with its last use).
    fn abandon(&mut self) {
        self.graph = None;
    }
}
