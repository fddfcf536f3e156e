//! The enrichment contract end to end, and the same facts in every store:
//! the quick start's real stages (models included) enrich the bundled
//! sample, every enrichment decodes through its typed view, and written
//! with roster rows through every store sink, every field docs/stores.md
//! lists for posts, authors and KOL scores equals, in every store, what the
//! stages wrote. A stage that renamed a field without its readers (a sink's
//! column, the generated columns' paths, the documentation) fails here.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::root;
use futures_util::TryStreamExt;
use socialpipe::config::Config;
use socialpipe::runtime::chain;
use socialpipe_schemas::enrichment::{
    self, BrandSafety, Embedding, Emotion, Entities, Intent, KolNote, Language, Sentiment, Topics,
};
use socialpipe_schemas::{Enrichment, Envelope, KeyedState, RecordKind, SinkConfig, parse_raw_post};
use socialpipe_sinks::testing::unique;

/// The quick start's stages, as examples/quickstart.toml configures them.
fn quick_start_stages() -> Vec<chain::Stage> {
    let text = std::fs::read_to_string(root().join("examples/quickstart.toml")).unwrap();
    let start = text.find("[[stages]]").expect("the quick start has stages");
    let end = text.find("[sinks.").unwrap_or(text.len());
    let models = root().join("models").display().to_string();
    let config = Config::parse("quickstart.toml", &text[start..end], |name| {
        (name == "SOCIALPIPE_MODELS").then(|| models.clone())
    })
    .unwrap_or_else(|e| panic!("{e} (run scripts/fetch-models.sh)"));
    assert_eq!(config.stages.len(), 9, "every stage of the quick start");
    chain::build(&config.stages).unwrap_or_else(|(stage, e)| panic!("{stage}: {}", e.reason))
}

/// The bundled sample's valid posts, under ids of this run.
fn sample(run: &str, count: usize) -> Vec<Envelope> {
    let bytes = std::fs::read(root().join("examples/data/posts.jsonl")).unwrap();
    bytes
        .split(|b| *b == b'\n')
        .filter_map(|line| parse_raw_post(line).ok())
        .take(count)
        .map(|mut post| {
            // Ids and handles of this run: the graph is shared, and its
            // authors (roster rates included) must not meet the sample's.
            post.id = format!("{run}-{}", post.id);
            post.author.id = format!("{run}-{}", post.author.id);
            if let Some(handle) = &mut post.author.profile.handle {
                *handle = format!("{run}_{handle}");
            }
            post.into_envelope("sample")
        })
        .collect()
}

/// The sample through every stage, in batches as the runner sends them.
async fn enriched(run: &str) -> Vec<Envelope> {
    let mut stages = quick_start_stages();
    let mut states: Vec<KeyedState> = stages.iter().map(|_| KeyedState::default()).collect();
    let mut out = Vec::new();
    for batch in sample(run, 400).chunks(100) {
        let mut records = batch.to_vec();
        for (stage, state) in stages.iter_mut().zip(&mut states) {
            let outcomes = stage.process(records, Some(state)).await;
            records =
                outcomes.into_iter().map(|o| o.unwrap_or_else(|f| panic!("{}: {}", stage.name, f.error))).collect();
            out.extend(stage.processor.take_emitted());
        }
        out.extend(records);
    }
    for (stage, state) in stages.iter_mut().zip(&mut states) {
        stage.processor.finish(state);
        out.extend(stage.processor.take_emitted());
    }
    out
}

fn posts(records: &[Envelope]) -> Vec<&Envelope> {
    records.iter().filter(|r| r.kind() == Some(RecordKind::Post)).collect()
}

fn typed<E: Enrichment>(post: &Envelope) -> E {
    post.enrichment::<E>().unwrap_or_else(|| {
        panic!(
            "{}: enrichments.{} does not decode as the contract says: {:?}",
            post.id,
            E::KEY,
            post.enrichments.get(E::KEY)
        )
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_real_stages_write_the_contract_and_every_store_sink_keeps_it() {
    let run = unique("contract");
    let records = enriched(&run).await;
    let posts = posts(&records);
    assert_eq!(posts.len(), 400);
    assert!(records.iter().any(|r| r.kind() == Some(RecordKind::KolScore)), "the kol stage emitted scores");

    // Every enrichment of every post decodes through its typed view.
    let keys: BTreeSet<&str> = [
        Language::KEY,
        Entities::KEY,
        Embedding::KEY,
        Sentiment::KEY,
        Emotion::KEY,
        Intent::KEY,
        Topics::KEY,
        BrandSafety::KEY,
        KolNote::KEY,
    ]
    .into();
    for post in &posts {
        let written: BTreeSet<&str> = post.enrichments.keys().map(String::as_str).collect();
        assert_eq!(written, keys, "{}", post.id);
        typed::<Language>(post);
        typed::<Entities>(post);
        assert_eq!(typed::<Embedding>(post).0.len(), 384);
        let sentiment: Sentiment = typed(post);
        assert!(sentiment.model.is_some(), "the head scored the embedded post");
        typed::<Emotion>(post);
        typed::<Intent>(post);
        typed::<Topics>(post);
        typed::<BrandSafety>(post);
        assert_eq!(typed::<KolNote>(post).author_id, post.key);
    }
    assert!(posts.iter().any(|p| !typed::<Entities>(p).brands.is_empty()), "the sample names brands");
    assert!(posts.iter().any(|p| !typed::<Topics>(p).categories.is_empty()), "the sample has taxonomy topics");

    // Written with a roster row for three of the authors into every store,
    // every documented field of every post, author and KOL score equals
    // what the stages wrote (so the stores agree with each other).
    let mut batch: Vec<Envelope> = records.clone();
    let rostered: Vec<String> =
        posts.iter().map(|p| p.key.clone()).collect::<BTreeSet<_>>().into_iter().take(3).collect();
    batch.extend(rostered.iter().enumerate().map(|(i, author)| roster_row(author, i)));
    let expected = Expected::of(&batch);
    let stores = [
        ("sqlite", 4, sqlite(&batch).await),
        ("postgres", 3, postgres(&run, &batch).await),
        ("clickhouse", 2, clickhouse(&run, &batch).await),
        ("mongodb", 5, mongodb(&run, &batch).await),
        ("neo4j", 6, neo4j(&batch, &posts).await),
    ];
    // The same questions answer the same in every SQL store.
    let (sqlite_views, others) = (&stores[0].2.views, [&stores[1], &stores[2]]);
    for view in VIEWS {
        let reference = comparable(&sqlite_views[view]);
        assert!(!reference.is_empty(), "{view}: the sample reaches it");
        for (store, _, stored) in others {
            let rows = comparable(&stored.views[view]);
            assert_eq!(rows.len(), reference.len(), "{view}: {store} has as many rows as SQLite");
            for (row, wanted) in rows.iter().zip(&reference) {
                assert!(agrees(wanted, row), "{view}: {store} answers {row}, SQLite {wanted}");
            }
        }
    }
    for (store, column, stored) in &stores {
        for post in &posts {
            same_enrichments(post, stored.enrichments[&post.id].clone(), store);
        }
        for (table, written, rows) in [
            ("Posts", &expected.posts, &stored.posts),
            ("Authors", &expected.authors, &stored.authors),
            ("KOL scores", if *store == "neo4j" { &expected.newest_scores } else { &expected.scores }, &stored.scores),
        ] {
            assert_eq!(rows.keys().collect::<Vec<_>>(), written.keys().collect::<Vec<_>>(), "{store}: {table}");
            for cells in documented(table) {
                let (field, cell) = (&cells[0], &cells[*column]);
                for (id, fields) in written {
                    let Some(stored) = read_cell(&rows[id], cell) else { continue };
                    let wanted = &fields[field.as_str()];
                    assert!(
                        agrees(wanted, &stored),
                        "{store}: {table} {id}: {field} ({cell}): stored {stored}, written {wanted}"
                    );
                }
            }
        }
    }
}

/// A roster row naming `author` with a rate and a category, dated before
/// every sample post (so the profile stays the posts').
fn roster_row(author: &str, n: usize) -> Envelope {
    let (platform, id) = author.split_once(':').unwrap();
    let row = socialpipe_schemas::SheetRowRecord {
        file_id: "roster".into(),
        file_name: "kols.xlsx".into(),
        sheet: "Sheet1".into(),
        row_key: author.into(),
        row_number: n as u64 + 2,
        cells: serde_json::Map::new(),
        content_hash: format!("h{n}"),
        author: Some(socialpipe_schemas::AuthorSnapshot {
            platform: platform.into(),
            id: id.into(),
            profile: Default::default(),
            rate: Some(250.0 * (n + 1) as f64),
            category: Some(["beauty", "tech", "food"][n % 3].into()),
        }),
    };
    let at = "2020-01-01T00:00:00Z".parse().unwrap();
    let payload = Envelope::encode_payload(&row);
    Envelope::new(RecordKind::SheetRow, row.record_id(), author.into(), "rosters", at, payload)
}

/// docs/stores.md's table under `## {title}`: per row the field, its
/// meaning, then a cell per store (ClickHouse, PostgreSQL, SQLite, MongoDB,
/// Neo4j), backticks gone.
fn documented(title: &str) -> Vec<Vec<String>> {
    let doc = std::fs::read_to_string(root().join("docs/stores.md")).unwrap();
    let section = doc.split(&format!("## {title}\n")).nth(1).unwrap().split("\n## ").next().unwrap();
    let rows: Vec<Vec<String>> = section
        .lines()
        .filter(|l| l.starts_with("| `"))
        .map(|l| l.trim_matches('|').split('|').map(|c| c.trim().trim_matches('`').to_owned()).collect())
        .collect();
    assert!(rows.len() > 8, "docs/stores.md lists the fields of {title}");
    rows
}

/// A store's value for a documented cell: `table.column` or `Label.property`
/// (the row holds its columns; of two columns, the row holds the pair under
/// the field's name), a dotted MongoDB path (`[]` maps over a list,
/// `[name=x]` picks the item named x), or the author link of a Neo4j post
/// (read as `author_id`). None where the store does not keep it (—).
fn read_cell(row: &serde_json::Value, cell: &str) -> Option<serde_json::Value> {
    use serde_json::Value;
    if cell == "—" {
        return None;
    }
    if cell.starts_with("(Author)") {
        return Some(row["author_id"].clone());
    }
    let cell = cell.rsplit(", ").next().unwrap();
    let tables = ["posts", "Post", "author_profiles", "Author", "kol_scores", "sheet_rows", "SheetRow"];
    let path = match cell.split_once('.') {
        Some((table, rest)) if tables.contains(&table) => rest,
        _ => cell,
    };
    fn walk(value: &Value, path: &[&str]) -> Value {
        let Some((step, rest)) = path.split_first() else { return value.clone() };
        if let Some(list) = step.strip_suffix("[]") {
            let items = value[list].as_array().map(|items| items.iter().map(|i| walk(i, rest)).collect());
            return Value::Array(items.unwrap_or_default());
        }
        if let Some((list, name)) = step.strip_suffix(']').and_then(|s| s.split_once("[name=")) {
            let items = value[list].as_array().cloned().unwrap_or_default();
            return items.iter().find(|i| i["name"] == name).map_or(Value::Null, |i| walk(i, rest));
        }
        walk(&value[*step], rest)
    }
    Some(walk(row, &path.split('.').collect::<Vec<_>>()))
}

/// Whether a stored value is the written one, in the store's types: floats
/// within 1e-6, booleans as 0/1, lists and maps as such or as JSON text
/// (none as an empty list), times as epoch milliseconds, RFC 3339 text or
/// BSON dates, absent text as NULL or ''.
fn agrees(written: &serde_json::Value, stored: &serde_json::Value) -> bool {
    use serde_json::Value;
    match (written, stored) {
        (Value::Null, Value::Null) => true,
        (Value::Null, Value::String(s)) => s.is_empty(),
        (Value::Bool(b), Value::Number(n)) => n.as_i64() == Some(i64::from(*b)),
        (Value::Array(_) | Value::Object(_), Value::String(text)) if written.get("epoch_ms").is_none() => {
            serde_json::from_str::<Value>(text).is_ok_and(|parsed| agrees(written, &parsed))
        }
        (Value::Array(items), Value::Null) => items.is_empty(),
        (Value::Array(items), Value::Array(stored)) => {
            items.len() == stored.len() && items.iter().zip(stored).all(|(a, b)| agrees(a, b))
        }
        (Value::Object(time), stored) if time.contains_key("epoch_ms") => epoch_ms(stored) == time["epoch_ms"].as_i64(),
        (Value::Object(a), Value::Object(b)) => {
            a.len() == b.len() && a.iter().all(|(k, v)| b.get(k).is_some_and(|w| agrees(v, w)))
        }
        (Value::Number(a), Value::Number(b)) => (a.as_f64().unwrap() - b.as_f64().unwrap()).abs() <= 1e-6,
        _ => written == stored,
    }
}

/// A stored time in epoch milliseconds.
fn epoch_ms(stored: &serde_json::Value) -> Option<i64> {
    use serde_json::Value;
    match stored {
        Value::Number(n) => n.as_i64(),
        Value::String(text) => chrono::DateTime::parse_from_rfc3339(text).ok().map(|t| t.timestamp_millis()),
        Value::Object(date) => match &date.get("$date")? {
            Value::Object(long) => long.get("$numberLong")?.as_str()?.parse().ok(),
            other => epoch_ms(other),
        },
        _ => None,
    }
}

fn time(t: &chrono::DateTime<chrono::Utc>) -> serde_json::Value {
    serde_json::json!({"epoch_ms": t.timestamp_millis()})
}

/// Rows (JSON objects) by record id.
type Rows = BTreeMap<String, serde_json::Value>;

/// What every store should hold, field by field, read from the records
/// through the typed views (not through the sinks' projection). Times are
/// `{"epoch_ms": n}`.
struct Expected {
    posts: Rows,
    authors: Rows,
    scores: Rows,
    /// Each author's newest score, by author id (what Neo4j keeps).
    newest_scores: Rows,
}

impl Expected {
    fn of(batch: &[Envelope]) -> Self {
        let mut posts = Rows::new();
        let mut newest_post: BTreeMap<String, socialpipe_schemas::PostPayload> = BTreeMap::new();
        let mut scores = Rows::new();
        let mut newest_score: BTreeMap<String, (socialpipe_schemas::KolScoreRecord, String)> = BTreeMap::new();
        let mut rosters = BTreeMap::new();
        for record in batch {
            match record.kind() {
                Some(RecordKind::Post) => {
                    let post = socialpipe_schemas::PostPayload::from_envelope(record).unwrap();
                    posts.insert(record.id.clone(), post_fields(record, &post));
                    let slot = newest_post.entry(post.author_id()).or_insert_with(|| post.clone());
                    if post.created_at >= slot.created_at {
                        *slot = post;
                    }
                }
                Some(RecordKind::KolScore) => {
                    let score: socialpipe_schemas::KolScoreRecord = record.payload_as().unwrap();
                    scores.insert(record.id.clone(), score_fields(&record.id, &score));
                    let slot =
                        newest_score.entry(score.author_id.clone()).or_insert((score.clone(), record.id.clone()));
                    if score.computed_at >= slot.0.computed_at {
                        *slot = (score, record.id.clone());
                    }
                }
                Some(RecordKind::SheetRow) => {
                    let row: socialpipe_schemas::SheetRowRecord = record.payload_as().unwrap();
                    let author = row.author.unwrap();
                    rosters.insert(author.author_id(), author);
                }
                _ => {}
            }
        }
        let authors = newest_post
            .iter()
            .map(|(id, post)| {
                let (profile, roster, score) = (&post.author.profile, rosters.get(id), newest_score.get(id));
                let fields = serde_json::json!({
                    "id": id, "platform": post.platform, "handle": profile.handle, "name": profile.name,
                    "followers": profile.followers, "following": profile.following, "verified": post.author.verified,
                    "rate": roster.and_then(|r| r.rate), "category": roster.and_then(|r| r.category.clone()),
                    "kol_score": score.map(|s| s.0.score), "kol_tier": score.map(|s| s.0.tier.clone()),
                });
                (id.clone(), fields)
            })
            .collect();
        let newest_scores =
            newest_score.iter().map(|(author, (score, id))| (author.clone(), score_fields(id, score))).collect();
        Expected { posts, authors, scores, newest_scores }
    }
}

fn post_fields(record: &Envelope, p: &socialpipe_schemas::PostPayload) -> serde_json::Value {
    let (language, entities, sentiment) =
        (typed::<Language>(record), typed::<Entities>(record), typed::<Sentiment>(record));
    let (emotion, intent, topics, safety) =
        (typed::<Emotion>(record), typed::<Intent>(record), typed::<Topics>(record), typed::<BrandSafety>(record));
    let model = sentiment.model.as_ref();
    let e = &emotion.scores;
    let mut fields = serde_json::json!({
        "id": record.id, "platform": p.platform, "author_id": p.author_id(), "text": p.text,
        "created_at": time(&p.created_at),
        "likes": p.metrics.likes, "comments": p.metrics.comments, "shares": p.metrics.shares, "views": p.metrics.views,
        "lang": p.lang, "language": language.code, "language_reliable": language.reliable,
        "hashtags": entities.hashtags, "mentions": entities.mentions, "cashtags": entities.cashtags,
        "urls": entities.urls, "emoji": entities.emoji, "brands": entities.brands,
        "embedding": typed::<Embedding>(record).0, "version": record.version,
    });
    // (Two literals: one would pass json!'s recursion limit.)
    let enrichments = serde_json::json!({
        "sentiment_label": sentiment.label.as_str(), "sentiment_label_source": sentiment.label_source.as_str(),
        "sentiment_reliable": sentiment.reliable, "sentiment_neg": sentiment.vader.neg,
        "sentiment_neu": sentiment.vader.neu, "sentiment_pos": sentiment.vader.pos,
        "sentiment_compound": sentiment.vader.compound,
        "sentiment_model_label": model.map(|m| m.label.as_str()),
        "sentiment_model_negative": model.map(|m| m.probabilities.negative),
        "sentiment_model_neutral": model.map(|m| m.probabilities.neutral),
        "sentiment_model_positive": model.map(|m| m.probabilities.positive),
        "emotion": emotion.dominant.as_str(), "emotion_anger": e.anger, "emotion_anticipation": e.anticipation,
        "emotion_disgust": e.disgust, "emotion_fear": e.fear, "emotion_joy": e.joy, "emotion_sadness": e.sadness,
        "emotion_surprise": e.surprise, "emotion_trust": e.trust, "emotion_ekman": emotion.ekman.dominant.as_str(),
        "intent": intent.label.as_str(), "intent_confidence": intent.confidence,
        "keyphrases": topics.keywords.iter().map(|k| k.phrase.as_str()).collect::<Vec<_>>(),
        "topics": topics.categories,
        "brand_safety_score": safety.score, "brand_safe": safety.safe,
        "brand_safety_categories": safety.flags.iter().map(|f| f.as_str()).collect::<Vec<_>>(),
    });
    fields.as_object_mut().unwrap().extend(enrichments.as_object().unwrap().clone());
    fields
}

fn score_fields(id: &str, score: &socialpipe_schemas::KolScoreRecord) -> serde_json::Value {
    let mut fields = serde_json::json!({
        "id": id, "author_id": score.author_id, "platform": score.platform, "handle": score.handle,
        "score": score.score, "tier": score.tier, "followers": score.followers, "posts": score.posts,
        "factors": score.factors, "computed_at": time(&score.computed_at), "emitted_at": time(&score.emitted_at),
    });
    let object = fields.as_object_mut().unwrap();
    for f in &score.factors {
        object.insert(format!("{}_value", f.name), f.value.into());
        object.insert(format!("{}_weight", f.name), f.weight.into());
        object.insert(format!("{}_effective_weight", f.name), f.effective_weight.into());
        object.insert(format!("{}_explanation", f.name), f.explanation.clone().into());
        if f.name == "content_relevance" {
            object.insert("best_brief".into(), f.inputs["brief"].clone());
            object.insert("brief_relevance".into(), f.inputs["briefs"].clone());
        }
    }
    fields
}

/// What a store holds: posts, authors (with roster and newest score) and
/// KOL scores as rows by id, and each post's `enrichments` as JSON.
struct Stored {
    posts: Rows,
    authors: Rows,
    scores: Rows,
    enrichments: Rows,
    /// The SQL stores' analyst views, rows as JSON objects.
    views: BTreeMap<&'static str, Vec<serde_json::Value>>,
}

/// The analyst views every SQL store has, with the same columns.
const VIEWS: [&str; 7] = [
    "sentiment_by_brand_hour",
    "sentiment_by_hashtag_hour",
    "emotion_by_brand_hour",
    "emotion_by_hashtag_hour",
    "intent_by_brand_day",
    "share_of_voice_day",
    "kols_by_category",
];

/// A view's rows in one form for every store: hours as RFC 3339 text,
/// sorted by their text values.
fn comparable(rows: &[serde_json::Value]) -> Vec<serde_json::Value> {
    let mut rows: Vec<serde_json::Value> = rows
        .iter()
        .map(|row| {
            let mut row = row.clone();
            if let Some(hour) = row.get("hour").and_then(|h| h.as_str()).map(str::to_owned) {
                let hour = hour.trim_end_matches('Z').replace(' ', "T");
                row["hour"] = format!("{hour}Z").into();
            }
            row
        })
        .collect();
    let key = |row: &serde_json::Value| -> Vec<(String, String)> {
        let text = row.as_object().unwrap().iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())));
        text.collect::<BTreeMap<_, _>>().into_iter().collect()
    };
    rows.sort_by_key(key);
    rows
}

async fn write(config: &dyn SinkConfig, batch: &[Envelope]) {
    let mut sink = config.build().await.unwrap();
    let report = sink.write(batch).await.unwrap();
    assert!(report.rejected.is_empty(), "{:?}", report.rejected);
}

async fn sqlite(batch: &[Envelope]) -> Stored {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("contract.db");
    write(&socialpipe_sinks::sqlite::SqliteConfig::new(&path), batch).await;
    let db = rusqlite::Connection::open(&path).unwrap();
    // Rows by their column `key` (the view's row number, without it).
    let rows = |sql: &str, key: &str| -> Rows {
        let mut statement = db.prepare(sql).unwrap();
        let names: Vec<String> = statement.column_names().into_iter().map(str::to_owned).collect();
        let rows = statement
            .query_map([], |r| {
                use rusqlite::types::ValueRef;
                let mut columns = serde_json::Map::new();
                for (i, name) in names.iter().enumerate() {
                    let value = match r.get_ref(i)? {
                        ValueRef::Null => serde_json::Value::Null,
                        ValueRef::Integer(n) => n.into(),
                        ValueRef::Real(x) => x.into(),
                        ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned().into(),
                        // The embedding: little-endian f32.
                        ValueRef::Blob(b) => b
                            .chunks_exact(4)
                            .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
                            .collect::<Vec<_>>()
                            .into(),
                    };
                    columns.insert(name.clone(), value);
                }
                let id = match columns[key].clone() {
                    serde_json::Value::String(id) => id,
                    n => format!("{n:0>9}"),
                };
                if key == "n" {
                    columns.remove("n");
                }
                Ok((id, serde_json::Value::Object(columns)))
            })
            .unwrap();
        rows.collect::<Result<_, _>>().unwrap()
    };
    let posts = rows("SELECT * FROM posts", "id");
    let enrichments = posts
        .iter()
        .map(|(id, p)| (id.clone(), serde_json::from_str(p["enrichments"].as_str().unwrap()).unwrap()))
        .collect();
    let views = VIEWS
        .iter()
        .map(|v| (*v, rows(&format!("SELECT row_number() OVER () AS n, * FROM {v}"), "n").into_values().collect()))
        .collect();
    Stored {
        posts,
        authors: rows("SELECT * FROM author_profiles", "id"),
        scores: rows("SELECT * FROM kol_scores", "id"),
        enrichments,
        views,
    }
}

async fn postgres(run: &str, batch: &[Envelope]) -> Stored {
    let url = std::env::var("POSTGRES_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    write(&socialpipe_sinks::postgres::PostgresConfig::new(&url, run), batch).await;
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    let rows = async |table: &str| -> Rows {
        let sql = format!("SELECT id, to_jsonb(t) - 'payload' FROM {run}.{table} t");
        client.query(&sql, &[]).await.unwrap().iter().map(|r| (r.get(0), r.get(1))).collect()
    };
    let posts = rows("posts").await;
    let enrichments = posts.iter().map(|(id, p)| (id.clone(), p["enrichments"].clone())).collect();
    let mut views = BTreeMap::new();
    for view in VIEWS {
        let sql = format!("SELECT to_jsonb(t) FROM {run}.{view} t");
        views.insert(view, client.query(&sql, &[]).await.unwrap().iter().map(|r| r.get(0)).collect());
    }
    let stored =
        Stored { posts, authors: rows("author_profiles").await, scores: rows("kol_scores").await, enrichments, views };
    client.batch_execute(&format!("DROP SCHEMA {run} CASCADE")).await.unwrap();
    stored
}

async fn clickhouse(run: &str, batch: &[Envelope]) -> Stored {
    let url = std::env::var("CLICKHOUSE_URL").unwrap_or_else(|_| "http://127.0.0.1:8123".into());
    write(&socialpipe_sinks::clickhouse::ClickhouseConfig::new(&url, run), batch).await;
    let client = clickhouse::Client::default().with_url(&url).with_database(run).with_validation(false);
    let json = async |sql: &str| -> Vec<serde_json::Value> {
        let text = client
            .query(sql)
            .with_setting("output_format_json_quote_64bit_integers", "0")
            .fetch_bytes("JSONEachRow")
            .unwrap()
            .collect()
            .await
            .unwrap();
        let text = String::from_utf8(text.to_vec()).unwrap();
        text.lines().map(|line| serde_json::from_str(line).unwrap()).collect()
    };
    let rows = async |sql: &str| -> Rows {
        json(sql)
            .await
            .into_iter()
            .map(|mut row| {
                // DateTime holds seconds: a time is its `_ms` column.
                for field in ["created_at", "computed_at", "emitted_at"] {
                    if let Some(ms) = row.get(format!("{field}_ms")).cloned() {
                        row[field] = ms;
                    }
                }
                // Each brief's relevance: two arrays, paired.
                if let (Some(names), Some(values)) = (row["brief_names"].as_array(), row["brief_relevance"].as_array())
                {
                    let pairs = names.iter().zip(values).map(|(n, v)| (n.as_str().unwrap().to_owned(), v.clone()));
                    row["brief_relevance"] = serde_json::Value::Object(pairs.collect());
                }
                (row["id"].as_str().unwrap().to_owned(), row)
            })
            .collect()
    };
    let posts = rows("SELECT * FROM posts FINAL").await;
    let enrichments = posts
        .iter()
        .map(|(id, p)| (id.clone(), serde_json::from_str(p["enrichments"].as_str().unwrap()).unwrap()))
        .collect();
    let mut views = BTreeMap::new();
    for view in VIEWS {
        views.insert(view, json(&format!("SELECT * FROM {view}")).await);
    }
    let stored = Stored {
        posts,
        authors: rows("SELECT * FROM author_profiles").await,
        scores: rows("SELECT * FROM kol_scores FINAL").await,
        enrichments,
        views,
    };
    client.query(&format!("DROP DATABASE {run}")).execute().await.unwrap();
    stored
}

async fn mongodb(run: &str, batch: &[Envelope]) -> Stored {
    let uri = format!("mongodb://127.0.0.1:27017/{run}?directConnection=true");
    write(&socialpipe_sinks::mongodb::MongodbConfig::new(&uri), batch).await;
    let client = mongodb::Client::with_uri_str(&uri).await.unwrap();
    let database = client.database(run);
    let rows = async |collection: &str| -> Rows {
        let documents: Vec<mongodb::bson::Document> = database
            .collection::<mongodb::bson::Document>(collection)
            .find(mongodb::bson::doc! {})
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap();
        documents
            .into_iter()
            .map(|d| (d.get_str("_id").unwrap().to_owned(), mongodb::bson::Bson::Document(d).into_relaxed_extjson()))
            .collect()
    };
    let posts = rows("posts").await;
    let enrichments = posts.iter().map(|(id, p)| (id.clone(), p["enrichments"].clone())).collect();
    let (authors, scores) = (rows("authors").await, rows("kol_scores").await);
    let stored = Stored { posts, authors, scores, enrichments, views: BTreeMap::new() };
    database.drop().await.unwrap();
    stored
}

/// The graph's posts (with their author link), authors by id (the newest
/// score is theirs, so the scores are the authors' nodes), and the edges.
async fn neo4j(batch: &[Envelope], posts: &[&Envelope]) -> Stored {
    let password = std::env::var("NEO4J_PASSWORD").unwrap_or_else(|_| "playwithdata".into());
    let config = socialpipe_sinks::neo4j::Neo4jConfig::new("bolt://127.0.0.1:7687", "root", &password, "kol");
    write(&config, batch).await;
    let graph = neo4rs::Graph::connect(
        neo4rs::ConfigBuilder::default()
            .uri(&config.uri)
            .user(&config.user)
            .password(config.password.expose())
            .db("kol")
            .build()
            .unwrap(),
    )
    .await
    .unwrap();
    let ids: Vec<String> = posts.iter().map(|p| p.id.clone()).collect();
    let cypher = "MATCH (p:Post) WHERE p.id IN $ids
                  OPTIONAL MATCH (p)-[:TAGGED]->(h:Hashtag) WITH p, collect(h.name) AS tags
                  OPTIONAL MATCH (p)-[:ABOUT]->(b:Brand) WITH p, tags, collect(b.name) AS brands
                  MATCH (a:Author)-[:POSTED]->(p)
                  RETURN properties(p) AS post, a.id AS author, properties(a) AS profile, tags, brands";
    let mut rows = graph.execute(neo4rs::query(cypher).param("ids", ids)).await.unwrap();
    let by_id: BTreeMap<&str, &&Envelope> = posts.iter().map(|p| (p.id.as_str(), p)).collect();
    let (mut stored_posts, mut authors, mut enrichments) = (Rows::new(), Rows::new(), Rows::new());
    while let Some(row) = rows.next().await.unwrap() {
        let mut post: serde_json::Value = row.get("post").unwrap();
        let id = post["id"].as_str().unwrap().to_owned();
        let entities: Entities = typed(by_id[id.as_str()]);
        let set = |v: Vec<String>| v.into_iter().collect::<BTreeSet<String>>();
        assert_eq!(set(row.get("tags").unwrap()), set(entities.hashtags), "{id}: TAGGED");
        assert_eq!(set(row.get("brands").unwrap()), set(entities.brands), "{id}: ABOUT");
        let author: String = row.get("author").unwrap();
        post["author_id"] = author.clone().into();
        enrichments.insert(id.clone(), serde_json::from_str(post["enrichments"].as_str().unwrap()).unwrap());
        authors.insert(author, row.get("profile").unwrap());
        assert!(stored_posts.insert(id.clone(), post).is_none(), "neo4j: {id} has one author");
    }
    // An author's newest score, as the rows of the KOL table read it.
    let scores =
        authors.iter().filter(|(_, a)| a.get("kol_score").is_some()).map(|(id, a)| (id.clone(), a.clone())).collect();
    Stored { posts: stored_posts, authors, scores, enrichments, views: BTreeMap::new() }
}

/// A store's `enrichments` (without the embedding) decode to what the
/// stages wrote. (Numbers compare to 1e-12: serde_json's default float
/// parsing may read a stored f64 back one unit in the last place off.)
fn same_enrichments(post: &Envelope, stored: serde_json::Value, store: &str) {
    let stored = stored.as_object().cloned().unwrap_or_default();
    fn same(a: &serde_json::Value, b: &serde_json::Value) -> bool {
        use serde_json::Value::*;
        match (a, b) {
            (Number(x), Number(y)) => (x.as_f64().unwrap() - y.as_f64().unwrap()).abs() <= 1e-12,
            (Array(x), Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same(x, y)),
            (Object(x), Object(y)) => x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w))),
            _ => a == b,
        }
    }
    fn check<E: Enrichment>(post: &Envelope, stored: &serde_json::Map<String, serde_json::Value>, store: &str) {
        let read =
            enrichment::read::<E>(stored).unwrap_or_else(|| panic!("{store}: {}: {} unreadable", post.id, E::KEY));
        let (read, written) = (serde_json::to_value(read).unwrap(), serde_json::to_value(typed::<E>(post)).unwrap());
        assert!(same(&read, &written), "{store}: {}: {}: {read} != {written}", post.id, E::KEY);
    }
    check::<Language>(post, &stored, store);
    check::<Entities>(post, &stored, store);
    check::<Sentiment>(post, &stored, store);
    check::<Emotion>(post, &stored, store);
    check::<Intent>(post, &stored, store);
    check::<Topics>(post, &stored, store);
    check::<BrandSafety>(post, &stored, store);
    check::<KolNote>(post, &stored, store);
}
