//! Graph rows, the batch transaction, and error classification.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use neo4rs::{BoltType, ConfigBuilder, Graph, Neo4jErrorKind, Query, Txn, query};
use socialpipe_schemas::{ComponentError, ErrorDomain, PostPayload};

use super::Neo4jConfig;
use crate::analyst::PostFields;
use crate::batch::{DecodedBatch, Record, embedding, rfc3339};
use crate::bisect::{Bisecting, PartError, PartWriter, size_bounded};
use crate::fit::{as_i64, counts_fit_i64};
use crate::migrations::{Migration, MigrationTarget, migrate, prepare, statements};
use crate::store::StoreSink;

/// In order. Append only: never edit a released one.
pub const MIGRATIONS: &[Migration] = &[
    Migration { version: 1, name: "constraints", script: include_str!("migrations/001_constraints.cypher") },
    Migration { version: 2, name: "analyst_fields", script: include_str!("migrations/002_analyst_fields.cypher") },
];

// One row per author key (rows of one statement do not see each other's
// writes on ArcadeDB). `updated_at_ms` is the author's version: the event
// time of the post or roster row its profile comes from; an older one
// changes nothing but a roster's rate and category (the last one wins).
// A row without a handle (a roster that names only the id) goes to the
// node already known by that id, if any.
const AUTHORS: &str = "UNWIND $rows AS r
OPTIONAL MATCH (known:Author {id: r.id}) WHERE r.handle IS NULL
WITH r, coalesce(head(collect(known.handle_key)), r.handle_key) AS key
MERGE (a:Author {handle_key: key})
SET a.rate = coalesce(r.rate, a.rate), a.category = coalesce(r.category, a.category)
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
    p.views = r.views, p.lang = r.lang, p.url = r.url, p.enrichments = r.enrichments, p.version = r.version,
    p.language = r.language, p.language_reliable = r.language_reliable, p.cashtags = r.cashtags, p.urls = r.urls,
    p.emoji = r.emoji, p.brands = r.brands, p.hashtags = r.hashtags, p.mentions = r.mentions, p.sentiment_label =
    r.sentiment_label, p.sentiment_label_source = r.sentiment_label_source, p.sentiment_reliable =
    r.sentiment_reliable, p.sentiment_neg = r.sentiment_neg, p.sentiment_neu = r.sentiment_neu, p.sentiment_pos =
    r.sentiment_pos, p.sentiment_compound = r.sentiment_compound, p.sentiment_model_label =
    r.sentiment_model_label, p.sentiment_model_negative = r.sentiment_model_negative, p.sentiment_model_neutral =
    r.sentiment_model_neutral, p.sentiment_model_positive = r.sentiment_model_positive, p.emotion = r.emotion,
    p.emotion_anger = r.emotion_anger, p.emotion_anticipation = r.emotion_anticipation, p.emotion_disgust =
    r.emotion_disgust, p.emotion_fear = r.emotion_fear, p.emotion_joy = r.emotion_joy, p.emotion_sadness =
    r.emotion_sadness, p.emotion_surprise = r.emotion_surprise, p.emotion_trust = r.emotion_trust, p.emotion_ekman
    = r.emotion_ekman, p.intent = r.intent, p.intent_confidence = r.intent_confidence, p.keyphrases =
    r.keyphrases, p.topics = r.topics, p.brand_safety_score = r.brand_safety_score, p.brand_safe = r.brand_safe,
    p.brand_safety_categories = r.brand_safety_categories, p.embedding = r.embedding)
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
WITH a, r WHERE coalesce(a.kol_computed_at_ms, -1) <= r.computed_at_ms
SET a.kol_score = r.score, a.kol_tier = r.tier, a.kol_factors = r.factors, a.kol_computed_at = r.computed_at,
    a.kol_computed_at_ms = r.computed_at_ms";

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

/// How the graph knows an author: by handle where there is one.
fn key_of(platform: &str, handle: Option<&str>, id: &str) -> String {
    match handle {
        Some(handle) if !handle.is_empty() => handle_key(platform, handle),
        _ => id.to_owned(),
    }
}

/// How the graph knows the author of a post.
fn author_key(post: &PostPayload) -> String {
    key_of(&post.platform, post.author.profile.handle.as_deref(), &post.author_id())
}

type Props = HashMap<String, BoltType>;

fn props<const N: usize>(entries: [(&str, BoltType); N]) -> Props {
    entries.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

/// The post properties of the Plutchik scores, in `PostFields::emotion_scores` order.
const EMOTION_PROPERTIES: [&str; 8] = [
    "emotion_anger",
    "emotion_anticipation",
    "emotion_disgust",
    "emotion_fear",
    "emotion_joy",
    "emotion_sadness",
    "emotion_surprise",
    "emotion_trust",
];

fn count(v: Option<u64>) -> BoltType {
    v.map(as_i64).into()
}

fn label(value: Option<&str>) -> BoltType {
    value.map(str::to_owned).into()
}

/// About the bytes a row takes in a Bolt message.
fn encoded_size(row: &Props) -> usize {
    row.iter().map(|(key, value)| key.len() + 2 + value_size(value)).sum()
}

fn value_size(value: &BoltType) -> usize {
    match value {
        BoltType::String(s) => s.value.len() + 5,
        BoltType::List(list) => list.value.iter().map(value_size).sum::<usize>() + 5,
        _ => 9,
    }
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
    // A roster row without a handle is about the author of the batch's
    // posts with that id, when there are some (a post without one is linked
    // to a node of its own id, as it names no other).
    let handles: HashMap<String, &str> =
        part.posts().filter_map(|(post, _)| Some((post.author_id(), post.author.profile.handle.as_deref()?))).collect();
    let key = |a: &crate::batch::AuthorUpdate| {
        let known = || if a.roster { handles.get(&a.id).copied() } else { None };
        let handle = a.profile.handle.as_deref().or_else(known);
        key_of(a.platform, handle, &a.id)
    };
    let mut authors = Vec::new();
    for author in part.authors_by(key) {
        let a = author.profile;
        authors.push(props([
            ("handle_key", key(&author).into()),
            ("id", author.id.clone().into()),
            ("platform", author.platform.to_owned().into()),
            ("handle", a.handle.clone().into()),
            ("name", a.name.clone().into()),
            ("followers", count(a.followers)),
            ("following", count(a.following)),
            ("verified", author.verified.into()),
            ("rate", author.rate.into()),
            ("category", label(author.category)),
            ("updated_at_ms", author.at.timestamp_millis().into()),
        ]));
    }
    let (mut posts, mut tags, mut brands, mut mentions) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut edges = Vec::new();
    for (post, envelope) in part.posts() {
        let m = &post.metrics;
        let f = PostFields::of(envelope);
        let model = f.sentiment_model.map(|m| m.map(Some)).unwrap_or_default();
        let emotions = f.emotion_scores.map(|e| e.map(Some)).unwrap_or_default();
        let embedding: Option<Vec<f64>> = embedding(envelope).map(|v| v.into_iter().map(f64::from).collect());
        let texts = |list: &[String]| BoltType::from(list.to_vec());
        let mut row = props([
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
            ("enrichments", crate::batch::enrichments_json_except_embedding(envelope).into()),
            ("version", envelope.version.into()),
            ("language", f.language.clone().into()),
            ("language_reliable", f.language_reliable.into()),
            ("hashtags", texts(&f.hashtags)),
            ("mentions", texts(&f.mentions)),
            ("cashtags", texts(&f.cashtags)),
            ("urls", texts(&f.urls)),
            ("emoji", texts(&f.emoji)),
            ("brands", texts(&f.brands)),
            ("sentiment_label", label(f.sentiment_label)),
            ("sentiment_label_source", label(f.sentiment_label_source)),
            ("sentiment_reliable", f.sentiment_reliable.into()),
            ("sentiment_neg", f.sentiment_neg.into()),
            ("sentiment_neu", f.sentiment_neu.into()),
            ("sentiment_pos", f.sentiment_pos.into()),
            ("sentiment_compound", f.sentiment_compound.into()),
            ("sentiment_model_label", label(f.sentiment_model_label)),
            ("sentiment_model_negative", model[0].into()),
            ("sentiment_model_neutral", model[1].into()),
            ("sentiment_model_positive", model[2].into()),
            ("emotion", label(f.emotion)),
            ("emotion_ekman", label(f.emotion_ekman)),
            ("intent", label(f.intent)),
            ("intent_confidence", f.intent_confidence.into()),
            ("keyphrases", texts(&f.keyphrases)),
            ("topics", texts(&f.topics)),
            ("brand_safety_score", f.brand_safety_score.into()),
            ("brand_safe", f.brand_safe.into()),
            ("brand_safety_categories", texts(&f.brand_safety_categories)),
            ("embedding", embedding.into()),
        ]);
        for (name, score) in EMOTION_PROPERTIES.iter().zip(emotions) {
            row.insert((*name).to_owned(), score.into());
        }
        posts.push(row);
        let version: BoltType = envelope.version.into();
        let edge = |name: &str| {
            props([("post", envelope.id.clone().into()), ("version", version.clone()), ("name", name.to_owned().into())])
        };
        tags.extend(f.hashtags.iter().map(|h| edge(h)));
        brands.extend(f.brands.iter().map(|b| edge(b)));
        let mentioned: Vec<String> = f.mentions.iter().map(|handle| handle_key(&post.platform, handle)).collect();
        mentions.extend(f.mentions.iter().zip(&mentioned).map(|(handle, key)| {
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
            ("hashtags", f.hashtags.clone().into()),
            ("brands", f.brands.clone().into()),
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
                ("computed_at", rfc3339(&score.computed_at).into()),
                ("computed_at_ms", score.computed_at.timestamp_millis().into()),
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

    /// Bolt's integers are signed 64-bit.
    fn storable(&self, record: &Record) -> Result<(), ComponentError> {
        counts_fit_i64(record)
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
