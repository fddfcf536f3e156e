//! The enrichment contract end to end: the quick start's real stages (models
//! included) enrich the bundled sample, every enrichment decodes through its
//! typed view, and written through every store sink, each typed column
//! equals the enrichment value it comes from. A stage that renamed a field
//! without its readers (a sink's column, the SQLite generated columns'
//! paths, the documentation) fails here.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::root;
use futures_util::TryStreamExt;
use serde::de::DeserializeOwned;
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
            post.id = format!("{run}-{}", post.id);
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

fn approx(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-6 * a.abs().max(1.0)
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

    let batch: Vec<Envelope> = records.clone();
    sqlite_columns(&batch, &posts).await;
    postgres_columns(&run, &batch, &posts).await;
    clickhouse_columns(&run, &batch, &posts).await;
    mongodb_documents(&run, &batch, &posts).await;
    neo4j_properties(&batch, &posts).await;
}

async fn write(config: &dyn SinkConfig, batch: &[Envelope]) {
    let mut sink = config.build().await.unwrap();
    let report = sink.write(batch).await.unwrap();
    assert!(report.rejected.is_empty(), "{:?}", report.rejected);
}

async fn sqlite_columns(batch: &[Envelope], posts: &[&Envelope]) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("contract.db");
    write(&socialpipe_sinks::sqlite::SqliteConfig::new(&path), batch).await;
    let db = rusqlite::Connection::open(&path).unwrap();
    for post in posts {
        let (language, sentiment, emotion, intent, safety) = (
            typed::<Language>(post),
            typed::<Sentiment>(post),
            typed::<Emotion>(post),
            typed::<Intent>(post),
            typed::<BrandSafety>(post),
        );
        let row = db
            .query_row(
                "SELECT language, sentiment_label, sentiment_compound, sentiment_reliable, sentiment_model_label,
                        sentiment_label_source, emotion, intent, intent_confidence, brand_safety_score, brand_safe,
                        emotion_anger, emotion_anticipation, emotion_disgust, emotion_fear, emotion_joy,
                        emotion_sadness, emotion_surprise, emotion_trust, embedding
                 FROM posts WHERE id = ?1",
                [&post.id],
                |r| {
                    let scores: Vec<f64> = (11..19).map(|i| r.get(i)).collect::<Result<_, _>>()?;
                    Ok((
                        r.get::<_, Option<String>>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, f64>(2)?,
                        r.get::<_, bool>(3)?,
                        r.get::<_, Option<String>>(4)?,
                        r.get::<_, String>(5)?,
                        r.get::<_, String>(6)?,
                        r.get::<_, String>(7)?,
                        r.get::<_, f64>(8)?,
                        r.get::<_, f64>(9)?,
                        r.get::<_, bool>(10)?,
                        scores,
                        r.get::<_, Vec<u8>>(19)?,
                    ))
                },
            )
            .unwrap();
        let id = &post.id;
        assert_eq!(row.0, language.code, "{id}: language");
        assert_eq!(row.1, sentiment.label.as_str(), "{id}: sentiment_label");
        assert!(approx(row.2, sentiment.vader.compound), "{id}: sentiment_compound");
        assert_eq!(row.3, sentiment.reliable, "{id}: sentiment_reliable");
        assert_eq!(row.4.as_deref(), sentiment.model.as_ref().map(|m| m.label.as_str()), "{id}: sentiment_model_label");
        assert_eq!(row.5, sentiment.label_source.as_str(), "{id}: sentiment_label_source");
        assert_eq!(row.6, emotion.dominant.as_str(), "{id}: emotion");
        assert_eq!(row.7, intent.label.as_str(), "{id}: intent");
        assert!(approx(row.8, intent.confidence), "{id}: intent_confidence");
        assert!(approx(row.9, safety.score), "{id}: brand_safety_score");
        assert_eq!(row.10, safety.safe, "{id}: brand_safe");
        let scores: Vec<f64> = emotion.scores.all().iter().map(|(_, s)| *s).collect();
        assert!(
            row.11.iter().zip(&scores).all(|(a, b)| approx(*a, *b)),
            "{id}: emotion_<each>: {:?} {scores:?}",
            row.11
        );
        let vector: Vec<f32> = row.12.chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect();
        assert_eq!(vector, typed::<Embedding>(post).0, "{id}: embedding");
    }
}

async fn postgres_columns(run: &str, batch: &[Envelope], posts: &[&Envelope]) {
    let url = std::env::var("POSTGRES_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    write(&socialpipe_sinks::postgres::PostgresConfig::new(&url, run), batch).await;
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    let rows = client
        .query(&format!("SELECT id, hashtags, mentions, embedding, enrichments FROM {run}.posts"), &[])
        .await
        .unwrap();
    let by_id: BTreeMap<String, &tokio_postgres::Row> = rows.iter().map(|r| (r.get(0), r)).collect();
    for post in posts {
        let row = by_id[&post.id];
        let entities: Entities = typed(post);
        assert_eq!(row.get::<_, Vec<String>>(1), entities.hashtags, "{}: hashtags", post.id);
        assert_eq!(row.get::<_, Vec<String>>(2), entities.mentions, "{}: mentions", post.id);
        assert_eq!(row.get::<_, Vec<f32>>(3), typed::<Embedding>(post).0, "{}: embedding", post.id);
        same_enrichments(post, row.get::<_, serde_json::Value>(4), "postgres");
    }
    client.batch_execute(&format!("DROP SCHEMA {run} CASCADE")).await.unwrap();
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

#[derive(clickhouse::Row, serde::Deserialize)]
struct ChPost {
    id: String,
    hashtags: Vec<String>,
    mentions: Vec<String>,
    brands: Vec<String>,
    sentiment_label: String,
    sentiment_compound: Option<f32>,
    emotion: String,
    embedding: Vec<f32>,
    enrichments: String,
}

async fn clickhouse_columns(run: &str, batch: &[Envelope], posts: &[&Envelope]) {
    let url = std::env::var("CLICKHOUSE_URL").unwrap_or_else(|_| "http://127.0.0.1:8123".into());
    write(&socialpipe_sinks::clickhouse::ClickhouseConfig::new(&url, run), batch).await;
    let client = clickhouse::Client::default().with_url(&url).with_database(run).with_validation(false);
    let rows: Vec<ChPost> = client
        .query(
            "SELECT id, hashtags, mentions, brands, sentiment_label, sentiment_compound, emotion, embedding, enrichments
             FROM posts FINAL",
        )
        .fetch_all()
        .await
        .unwrap();
    let by_id: BTreeMap<&str, &ChPost> = rows.iter().map(|r| (r.id.as_str(), r)).collect();
    for post in posts {
        let row = by_id[post.id.as_str()];
        let (entities, sentiment) = (typed::<Entities>(post), typed::<Sentiment>(post));
        assert_eq!(
            (&row.hashtags, &row.mentions, &row.brands),
            (&entities.hashtags, &entities.mentions, &entities.brands)
        );
        assert_eq!(row.sentiment_label, sentiment.label.as_str(), "{}: sentiment_label", post.id);
        assert_eq!(row.sentiment_compound, Some(sentiment.vader.compound as f32), "{}: sentiment_compound", post.id);
        assert_eq!(row.emotion, typed::<Emotion>(post).dominant.as_str(), "{}: emotion", post.id);
        assert_eq!(row.embedding, typed::<Embedding>(post).0, "{}: embedding", post.id);
        same_enrichments(post, serde_json::from_str(&row.enrichments).unwrap(), "clickhouse");
    }
    client.query(&format!("DROP DATABASE {run}")).execute().await.unwrap();
}

async fn mongodb_documents(run: &str, batch: &[Envelope], posts: &[&Envelope]) {
    let uri = format!("mongodb://127.0.0.1:27017/{run}?directConnection=true");
    write(&socialpipe_sinks::mongodb::MongodbConfig::new(&uri), batch).await;
    let client = mongodb::Client::with_uri_str(&uri).await.unwrap();
    let database = client.database(run);
    let documents: Vec<mongodb::bson::Document> = database
        .collection::<mongodb::bson::Document>("posts")
        .find(mongodb::bson::doc! {})
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    let by_id: BTreeMap<&str, &mongodb::bson::Document> =
        documents.iter().map(|d| (d.get_str("_id").unwrap(), d)).collect();
    for post in posts {
        let stored = by_id[post.id.as_str()].get_document("enrichments").unwrap();
        let json = mongodb::bson::Bson::Document(stored.clone()).into_relaxed_extjson();
        same_enrichments(post, json.clone(), "mongodb");
        assert_eq!(from_json::<Embedding>(&json["embedding"]).0, typed::<Embedding>(post).0, "{}: embedding", post.id);
    }
    database.drop().await.unwrap();
}

fn from_json<T: DeserializeOwned>(value: &serde_json::Value) -> T {
    serde_json::from_value(value.clone()).unwrap()
}

async fn neo4j_properties(batch: &[Envelope], posts: &[&Envelope]) {
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
                  OPTIONAL MATCH (p)-[:ABOUT]->(b:Brand)
                  RETURN p.id AS id, p.sentiment_label AS sentiment, p.emotion AS emotion, tags, collect(b.name) AS brands";
    let mut rows = graph.execute(neo4rs::query(cypher).param("ids", ids)).await.unwrap();
    let mut seen = 0;
    let by_id: BTreeMap<&str, &&Envelope> = posts.iter().map(|p| (p.id.as_str(), p)).collect();
    while let Some(row) = rows.next().await.unwrap() {
        let post = by_id[row.get::<String>("id").unwrap().as_str()];
        let entities: Entities = typed(post);
        assert_eq!(row.get::<String>("sentiment").unwrap(), typed::<Sentiment>(post).label.as_str(), "{}", post.id);
        assert_eq!(row.get::<String>("emotion").unwrap(), typed::<Emotion>(post).dominant.as_str(), "{}", post.id);
        let set = |v: Vec<String>| v.into_iter().collect::<BTreeSet<String>>();
        assert_eq!(set(row.get("tags").unwrap()), set(entities.hashtags), "{}: TAGGED", post.id);
        assert_eq!(set(row.get("brands").unwrap()), set(entities.brands), "{}: ABOUT", post.id);
        seen += 1;
    }
    assert_eq!(seen, posts.len());
}
