//! The analyst fields of a post and of a KOL score, read once from the
//! typed enrichment contract, for the stores that write them as columns or
//! properties of their own (ClickHouse, Neo4j, SQLite's KOL factors).
//! PostgreSQL and SQLite derive the post fields from `enrichments` with
//! generated columns instead. docs/stores.md lists every field per store.

use socialpipe_schemas::enrichment::{BrandSafety, Emotion, Entities, Intent, Language, Sentiment, Topics};
use socialpipe_schemas::{Envelope, KolFactor, KolScoreRecord};

/// The kol stage's factors, in the order of their columns.
pub const KOL_FACTORS: [&str; 5] =
    ["engagement", "follower_quality", "content_relevance", "brand_safety", "posting_consistency"];

/// A post's enrichments as typed fields; `None` (or empty lists) where the
/// stage did not run.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct PostFields {
    pub language: Option<String>,
    pub language_reliable: Option<bool>,
    pub hashtags: Vec<String>,
    pub mentions: Vec<String>,
    pub cashtags: Vec<String>,
    pub urls: Vec<String>,
    pub emoji: Vec<String>,
    pub brands: Vec<String>,
    pub sentiment_label: Option<&'static str>,
    pub sentiment_label_source: Option<&'static str>,
    pub sentiment_reliable: Option<bool>,
    pub sentiment_neg: Option<f64>,
    pub sentiment_neu: Option<f64>,
    pub sentiment_pos: Option<f64>,
    pub sentiment_compound: Option<f64>,
    pub sentiment_model_label: Option<&'static str>,
    /// negative, neutral, positive.
    pub sentiment_model: Option<[f64; 3]>,
    pub emotion: Option<&'static str>,
    /// anger, anticipation, disgust, fear, joy, sadness, surprise, trust.
    pub emotion_scores: Option<[f64; 8]>,
    pub emotion_ekman: Option<&'static str>,
    pub intent: Option<&'static str>,
    pub intent_confidence: Option<f64>,
    pub keyphrases: Vec<String>,
    pub topics: Vec<String>,
    pub brand_safety_score: Option<f64>,
    pub brand_safe: Option<bool>,
    pub brand_safety_categories: Vec<String>,
}

impl PostFields {
    pub fn of(envelope: &Envelope) -> Self {
        let language = envelope.enrichment::<Language>();
        let entities = envelope.enrichment::<Entities>().unwrap_or_default();
        let sentiment = envelope.enrichment::<Sentiment>();
        let emotion = envelope.enrichment::<Emotion>();
        let intent = envelope.enrichment::<Intent>();
        let topics = envelope.enrichment::<Topics>();
        let safety = envelope.enrichment::<BrandSafety>();
        PostFields {
            language: language.as_ref().and_then(|l| l.code.clone()),
            language_reliable: language.as_ref().map(|l| l.reliable),
            hashtags: entities.hashtags,
            mentions: entities.mentions,
            cashtags: entities.cashtags,
            urls: entities.urls,
            emoji: entities.emoji,
            brands: entities.brands,
            sentiment_label: sentiment.as_ref().map(|s| s.label.as_str()),
            sentiment_label_source: sentiment.as_ref().map(|s| s.label_source.as_str()),
            sentiment_reliable: sentiment.as_ref().map(|s| s.reliable),
            sentiment_neg: sentiment.as_ref().map(|s| s.vader.neg),
            sentiment_neu: sentiment.as_ref().map(|s| s.vader.neu),
            sentiment_pos: sentiment.as_ref().map(|s| s.vader.pos),
            sentiment_compound: sentiment.as_ref().map(|s| s.vader.compound),
            sentiment_model_label: sentiment.as_ref().and_then(|s| s.model.as_ref()).map(|m| m.label.as_str()),
            sentiment_model: sentiment.as_ref().and_then(|s| s.model.as_ref()).map(|m| {
                let p = &m.probabilities;
                [p.negative, p.neutral, p.positive]
            }),
            emotion: emotion.as_ref().map(|e| e.dominant.as_str()),
            emotion_scores: emotion.as_ref().map(|e| e.scores.all().map(|(_, score)| score)),
            emotion_ekman: emotion.as_ref().map(|e| e.ekman.dominant.as_str()),
            intent: intent.as_ref().map(|i| i.label.as_str()),
            intent_confidence: intent.as_ref().map(|i| i.confidence),
            keyphrases: topics
                .as_ref()
                .map(|t| t.keywords.iter().map(|k| k.phrase.clone()).collect())
                .unwrap_or_default(),
            topics: topics.map(|t| t.categories).unwrap_or_default(),
            brand_safety_score: safety.as_ref().map(|s| s.score),
            brand_safe: safety.as_ref().map(|s| s.safe),
            brand_safety_categories: safety
                .map(|s| s.flags.iter().map(|f| f.as_str().to_owned()).collect())
                .unwrap_or_default(),
        }
    }
}

/// One factor of a KOL score, as columns (`<factor>_value`, `_weight`,
/// `_effective_weight`, `_explanation`).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct FactorFields {
    pub value: Option<f64>,
    pub weight: Option<f64>,
    pub effective_weight: Option<f64>,
    pub explanation: Option<String>,
}

impl From<&KolFactor> for FactorFields {
    fn from(f: &KolFactor) -> Self {
        FactorFields {
            value: f.value,
            weight: Some(f.weight),
            effective_weight: Some(f.effective_weight),
            explanation: Some(f.explanation.clone()),
        }
    }
}

/// A KOL score's factors in [`KOL_FACTORS`] order, and its briefs.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct KolFields {
    pub factors: [FactorFields; 5],
    /// The brief the content relevance factor took (the best one).
    pub best_brief: Option<String>,
    /// Every brief with a relevance, by name (in name order).
    pub brief_relevance: Vec<(String, f64)>,
}

impl KolFields {
    pub fn of(score: &KolScoreRecord) -> Self {
        let factor = |name: &str| score.factors.iter().find(|f| f.name == name);
        let relevance = factor("content_relevance").map(|f| &f.inputs);
        KolFields {
            factors: KOL_FACTORS.map(|name| factor(name).map(FactorFields::from).unwrap_or_default()),
            best_brief: relevance.and_then(|i| i.get("brief")).and_then(|b| b.as_str()).map(str::to_owned),
            brief_relevance: relevance
                .and_then(|i| i.get("briefs"))
                .and_then(|b| b.as_object())
                .map(|briefs| briefs.iter().filter_map(|(name, v)| Some((name.clone(), v.as_f64()?))).collect())
                .unwrap_or_default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use crate::testing::unique;

    /// docs/stores.md's cells in `column` (0 = field) of every table row.
    fn documented(column: usize) -> Vec<(String, String)> {
        let doc = include_str!("../../docs/stores.md");
        let mut cells = Vec::new();
        for line in doc.lines().filter(|l| l.starts_with("| `")) {
            let row: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
            for cell in row[column].split(", ") {
                if let Some((table, name)) = cell.trim_matches('`').split_once('.') {
                    cells.push((table.to_owned(), name.to_owned()));
                }
            }
        }
        assert!(cells.len() > 60, "docs/stores.md has its tables");
        cells
    }

    /// The documented columns the migrations did not create.
    fn missing(documented: Vec<(String, String)>, created: &BTreeSet<(String, String)>) -> Vec<String> {
        documented.into_iter().filter(|c| !created.contains(c)).map(|(t, c)| format!("{t}.{c}")).collect()
    }

    #[tokio::test]
    async fn every_sql_column_docs_stores_md_names_is_created_by_the_migrations() {
        // SQLite.
        let dir = tempfile::tempdir().unwrap();
        let sqlite = crate::sqlite::SqliteConfig::new(dir.path().join("sp.db"));
        crate::sqlite::SqliteSink::migrate_store(&sqlite).await.unwrap();
        let conn = rusqlite::Connection::open(dir.path().join("sp.db")).unwrap();
        let mut created = BTreeSet::new();
        for table in ["posts", "authors", "author_profiles", "kol_scores", "kol_latest", "sheet_rows"] {
            let mut statement = conn.prepare("SELECT name FROM pragma_table_xinfo(?1)").unwrap();
            let names = statement.query_map([table], |row| row.get::<_, String>(0)).unwrap();
            created.extend(names.map(|n| (table.to_owned(), n.unwrap())));
        }
        assert_eq!(missing(documented(4), &created), Vec::<String>::new(), "SQLite");

        // PostgreSQL.
        let url = std::env::var("POSTGRES_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
        let pg = crate::postgres::PostgresConfig::new(url.clone(), unique("sp"));
        crate::postgres::PostgresSink::migrate_store(&pg).await.unwrap();
        let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap();
        tokio::spawn(connection);
        let rows = client
            .query(
                "SELECT table_name::text, column_name::text FROM information_schema.columns WHERE table_schema = $1",
                &[&pg.schema],
            )
            .await
            .unwrap();
        let created: BTreeSet<(String, String)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
        client.batch_execute(&format!("DROP SCHEMA {} CASCADE", pg.schema)).await.unwrap();
        assert_eq!(missing(documented(3), &created), Vec::<String>::new(), "PostgreSQL");

        // ClickHouse.
        let url = std::env::var("CLICKHOUSE_URL").unwrap_or_else(|_| "http://127.0.0.1:8123".into());
        let ch = crate::clickhouse::ClickhouseConfig::new(url.clone(), unique("sp"));
        crate::clickhouse::ClickhouseSink::migrate_store(&ch).await.unwrap();
        let client = clickhouse::Client::default().with_url(&url).with_validation(false);
        let created: Vec<(String, String)> = client
            .query("SELECT table, name FROM system.columns WHERE database = ?")
            .bind(&ch.database)
            .fetch_all()
            .await
            .unwrap();
        client.query(&format!("DROP DATABASE {}", ch.database)).execute().await.unwrap();
        assert_eq!(missing(documented(2), &created.into_iter().collect()), Vec::<String>::new(), "ClickHouse");
    }

    /// Every Neo4j property the table names is one the sink writes.
    #[test]
    fn every_neo4j_property_docs_stores_md_names_is_written_by_the_sink() {
        let cypher = include_str!("neo4j/sink.rs").split_whitespace().collect::<Vec<_>>().join(" ");
        let unwritten: Vec<String> = documented(6)
            .into_iter()
            .filter(|(label, property)| {
                let variable = match label.as_str() {
                    "Post" => "p",
                    "Author" => "a",
                    "SheetRow" => "s",
                    other => panic!("no Neo4j label {other}"),
                };
                let set = format!("{variable}.{property} = ");
                let constrained = format!("{{{property}: r.");
                !cypher.contains(&set) && !cypher.contains(&constrained)
            })
            .map(|(label, property)| format!("{label}.{property}"))
            .collect();
        assert_eq!(unwritten, Vec::<String>::new());
    }
}
